import Foundation
import HandoffCore
import Testing

/// Both paths of the seed's Mail.Send process, walked from start to end through the interpreter.
@Suite("Mail.Send workflow")
struct MailSendWorkflowTests {
    let definition: WorkflowDefinition

    init() throws {
        definition = try loadWorkflow("mail-send")
    }

    @Test func startOpensTheClientSyncTaskForTheCustomerAdmin() throws {
        var harness = Harness(definition)
        let events = try harness.run(.start(onboardingId: "ob1", inputs: ["company": "Contoso", "path": "standard"]))
        #expect(
            events == [
                .started(
                    OnboardingStarted(
                        onboardingId: "ob1", workflowId: "mail-send", workflowVersion: 1,
                        contentHash: definition.contentHash, inputs: ["company": "Contoso", "path": "standard"])),
                .stepEntered(StepEntered(path: "client-synced", step: "client-synced", kind: "task")),
                .taskOpened(
                    TaskOpened(
                        taskId: "ob1-t1", path: "client-synced", step: "client-synced", role: "customer_admin",
                        title: "Make sure Contoso's own Client is synced into the Pia Portal",
                        instructions: """
                            The Mail.Send consent is applied on your internal company's own Client. If that Client has not
                            been synced from your ticketing system yet, sync it first, then come back to this task.

                            """,
                        checklist: [
                            ChecklistItem(
                                id: "client-synced", text: "Contoso's own Client is synced from the ticketing system"),
                            ChecklistItem(
                                id: "client-listed",
                                text: "The Client appears under \"Clients\" in the left-hand menu of the Pia Portal"),
                        ],
                        outputs: [
                            OutputField(
                                name: "client_id", type: .string, required: true,
                                title: "The Pia Client Id of the company's own Client", values: nil, pattern: nil,
                                default: nil)
                        ],
                        dueAt: t0.addingTimeInterval(2 * 86_400), createdAt: t0)),
                // Its due time is a timer too: passing it marks the task overdue.
                .timerScheduled(
                    TimerScheduled(
                        timerId: "ob1-timer1", path: "client-synced", dueAt: t0.addingTimeInterval(2 * 86_400),
                        purpose: "overdue")),
            ])
        #expect(harness.state?.status == .active)
        #expect(harness.state?.currentSteps == ["client-synced"])
        #expect(harness.state?.version == 4)
    }

    @Test func standardPath() throws {
        var harness = Harness(definition)
        try harness.run(.start(onboardingId: "ob1", inputs: ["company": "Contoso", "path": "standard"]))
        #expect(harness.openTasks == ["client-synced@customer_admin"])

        try harness.completeOnlyTask(outputs: ["client_id": "C-42"])
        #expect(harness.openTasks == ["standard-consent/sign-in@customer_admin"])
        let signIn = try #require(harness.onlyOpenTask())
        #expect(
            signIn.checklist.map(\.text) == [
                "Clicked \"Clients\" in the left-hand menu and chose Contoso's own Client",
                "Clicked the \"Delegate\" button on the Microsoft Graph API tile",
                "Clicked the \"New Consent\" button",
                "Turned on (set to \"Yes\") exactly these permissions: Mail.Send, then clicked \"Authorise\"",
                "Signed in on the Microsoft 365 sign-in page with the service account that will send the email notifications",
            ])
        #expect(
            harness.state?.blockParams["standard-consent"] == [
                "account": "the service account that will send the email notifications", "scopes": "Mail.Send",
                "organisation_wide": false, "reopen_list": false,
            ])

        try harness.completeOnlyTask()
        #expect(harness.openTasks == ["standard-consent/read-upn@customer_admin"])
        #expect(harness.onlyOpenTask()?.checklist.map(\.id) == ["upn-shown"])

        try harness.completeOnlyTask(outputs: ["upn": "mailer@contoso.com"])
        // The partner integration manager is told by a notification to their role, and their task opens.
        #expect(harness.openTasks == ["back-end-configuration@partner_integration_manager"])
        #expect(harness.state?.stepOutputs["standard-consent"] == ["upn": "mailer@contoso.com"])
        let told = harness.events.compactMap { event -> RoleNotified? in
            if case .roleNotified(let notified) = event { notified } else { nil }
        }
        #expect(told.map(\.role) == ["partner_integration_manager"])
        #expect(told.first?.message.contains("Contoso's Client") == true)

        try harness.completeOnlyTask(as: "pat")
        #expect(harness.openTasks == ["configure-variables@solutions_engineer"])
        let configure = try #require(harness.onlyOpenTask())
        #expect(configure.outputs.map(\.default) == ["mailer@contoso.com", "C-42"])

        let last = try harness.interpreter.decide(
            harness.state, .claimTask(taskId: configure.id, user: "sol", roles: ["solutions_engineer"]), now: t0)
        #expect(last == [.taskClaimed(TaskClaimed(taskId: configure.id, assignee: "sol"))])
        try harness.completeOnlyTask(as: "sol")
        #expect(harness.state?.status == .completed)
        #expect(harness.openTasks == [])
        #expect(
            harness.state?.variables == [
                "Mail_Send_Mode": "Client", "Mail_Send_UPN": "mailer@contoso.com", "Mail_Send_ID": "C-42",
            ])
        #expect(
            harness.state?.tasks.map(\.role) == [
                "customer_admin", "customer_admin", "customer_admin", "partner_integration_manager", "solutions_engineer",
            ])
        #expect(harness.interpreter.replay(harness.events) == harness.state)
    }

    @Test func decisionTakesTheStandardBranchAndEntersTheBlock() throws {
        var harness = Harness(definition)
        try harness.run(.start(onboardingId: "ob1", inputs: ["company": "Contoso", "path": "standard"]))
        try harness.run(.claimTask(taskId: "ob1-t1", user: "ann", roles: ["customer_admin"]))
        let events = try harness.run(
            .completeTask(
                taskId: "ob1-t1", user: "ann", outputs: ["client_id": "C-42"],
                checklist: ["client-synced", "client-listed"]))
        #expect(
            events.map(\.type) == [
                "TaskCompleted", "TimerCancelled", "StepCompleted", "StepEntered", "DecisionMade", "StepCompleted",
                "StepEntered", "BlockStarted", "StepEntered", "TaskOpened",
            ])
        #expect(
            events[0]
                == .taskCompleted(
                    TaskCompleted(
                        taskId: "ob1-t1", user: "ann", outputs: ["client_id": "C-42"],
                        checklist: ["client-listed", "client-synced"])))
        #expect(events[1] == .timerCancelled(TimerCancelled(timerId: "ob1-timer1", path: "client-synced")))
        #expect(
            events[4]
                == .decisionMade(
                    DecisionMade(path: "which-path", step: "which-path", branch: 0, next: "standard-consent")))
        #expect(events[8] == .stepEntered(StepEntered(path: "standard-consent/sign-in", step: "sign-in", kind: "task")))
    }

    @Test func mailSendOnlyPath() throws {
        var harness = Harness(definition)
        try harness.run(.start(onboardingId: "ob2", inputs: ["company": "Fabrikam", "path": "mail_send_only"]))
        try harness.completeOnlyTask(outputs: ["client_id": "C-7"])

        // The Global Administrator's run of the block: sign in, consent for the organisation, read back.
        #expect(harness.openTasks == ["global-admin-consent/sign-in@customer_admin"])
        #expect(
            harness.onlyOpenTask()?.checklist.map(\.text).last
                == "Signed in on the Microsoft 365 sign-in page with the Global Administrator account")
        #expect(
            harness.onlyOpenTask()?.checklist.map(\.text)[3]
                == "Turned on (set to \"Yes\") exactly these permissions: Group.ReadWrite.All, Mail.Send and "
                + "Directory.AccessAsUser.All, then clicked \"Authorise\"")
        try harness.completeOnlyTask()
        #expect(harness.openTasks == ["global-admin-consent/organisation-consent@customer_admin"])
        #expect(
            harness.onlyOpenTask()?.checklist.map(\.text) == [
                "When prompted, chose \"Consent on behalf of your organization\"", "Clicked \"Accept\"",
            ])
        try harness.completeOnlyTask()
        #expect(harness.openTasks == ["global-admin-consent/read-upn@customer_admin"])
        #expect(harness.onlyOpenTask()?.checklist.map(\.id) == ["closed-and-refreshed", "reopened", "upn-shown"])
        try harness.completeOnlyTask(outputs: ["upn": "admin@fabrikam.onmicrosoft.com"])

        // The service account's run: the organisation-wide consent is skipped.
        #expect(harness.openTasks == ["service-account-consent/sign-in@customer_admin"])
        #expect(
            harness.onlyOpenTask()?.checklist.last?.text
                == "Signed in on the Microsoft 365 sign-in page with the service account Pia will use to send emails")
        let skipped = try {
            var copy = harness
            try copy.completeOnlyTask()
            return Array(copy.events.suffix(from: harness.events.count))
        }()
        #expect(
            skipped.contains(
                .stepSkipped(
                    StepSkipped(path: "service-account-consent/organisation-consent", step: "organisation-consent"))))
        try harness.completeOnlyTask()
        #expect(harness.openTasks == ["service-account-consent/read-upn@customer_admin"])
        try harness.completeOnlyTask(outputs: ["upn": "pia-mailer@fabrikam.com"])

        #expect(harness.openTasks == ["remove-global-admin-consent@customer_admin"])
        #expect(
            harness.onlyOpenTask()?.checklist.map(\.id) == [
                "two-consents-listed", "global-admin-deleted", "window-closed",
            ])
        try harness.completeOnlyTask()
        #expect(harness.openTasks == ["back-end-configuration@partner_integration_manager"])
        try harness.completeOnlyTask()
        #expect(harness.openTasks == ["configure-variables@solutions_engineer"])
        // The defaults come from the service account's consent, not the Global Administrator's.
        #expect(harness.onlyOpenTask()?.outputs.map(\.default) == ["pia-mailer@fabrikam.com", "C-7"])
        try harness.completeOnlyTask()

        #expect(harness.state?.status == .completed)
        #expect(
            harness.state?.variables == [
                "Mail_Send_Mode": "Client", "Mail_Send_UPN": "pia-mailer@fabrikam.com", "Mail_Send_ID": "C-7",
            ])
        #expect(
            harness.state?.tasks.map(\.path) == [
                "client-synced",
                "global-admin-consent/sign-in", "global-admin-consent/organisation-consent",
                "global-admin-consent/read-upn",
                "service-account-consent/sign-in", "service-account-consent/read-upn",
                "remove-global-admin-consent", "back-end-configuration", "configure-variables",
            ])
        #expect(harness.state?.stepOutputs["global-admin-consent"] == ["upn": "admin@fabrikam.onmicrosoft.com"])
        #expect(harness.state?.stepOutputs["service-account-consent"] == ["upn": "pia-mailer@fabrikam.com"])
        #expect(harness.interpreter.replay(harness.events) == harness.state)
    }

    @Test func theSolutionsEngineerCanOverrideTheDefaults() throws {
        var harness = Harness(definition)
        try harness.run(.start(onboardingId: "ob3", inputs: ["company": "Contoso", "path": "standard"]))
        try harness.completeOnlyTask(outputs: ["client_id": "C-1"])
        try harness.completeOnlyTask()
        try harness.completeOnlyTask(outputs: ["upn": "svc@contoso.com"])
        try harness.completeOnlyTask()
        try harness.completeOnlyTask(outputs: ["upn": "other@contoso.com"])
        #expect(harness.state?.variables["Mail_Send_UPN"] == "other@contoso.com")
        #expect(harness.state?.variables["Mail_Send_ID"] == "C-1")
    }
}
