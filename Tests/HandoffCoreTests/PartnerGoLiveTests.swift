import Foundation
import HandoffCore
import Testing

/// The second workflow: parallel branches and their join, a signal with a timeout, a timer.
@Suite("Partner go-live workflow: parallel, signals and timers")
struct PartnerGoLiveTests {
    let definition: WorkflowDefinition

    init() throws {
        definition = try loadWorkflow("partner-go-live")
    }

    func started() throws -> Harness {
        var harness = Harness(definition)
        try harness.run(
            .start(onboardingId: "gl", inputs: ["company": "Northwind", "contact_email": "ceo@northwind.example"]))
        return harness
    }

    func complete(_ harness: inout Harness, step: String, as user: String = "u", outputs: [String: Value] = [:]) throws
    {
        let task = try #require(harness.state?.openTasks.first { $0.path == step })
        try harness.run(.claimTask(taskId: task.id, user: user, roles: [task.role]))
        try harness.run(
            .completeTask(taskId: task.id, user: user, outputs: outputs, checklist: Set(task.checklist.map(\.id))))
    }

    @Test func bothBranchesOpenAtOnce() throws {
        let harness = try started()
        #expect(
            harness.openTasks == ["send-contract@partner_integration_manager", "configure-tenant@solutions_engineer"])
        #expect(harness.state?.activeSteps.map(\.path) == ["preparation", "send-contract", "configure-tenant"])
        #expect(harness.state?.activeSteps.first?.pendingBranches == ["contract", "technical"])
    }

    @Test func theJoinWaitsForEveryBranchThenTheTimerRuns() throws {
        var harness = try started()
        try complete(&harness, step: "send-contract")
        #expect(harness.state?.awaitedSignals.map(\.signal) == ["contract-signed"])
        // gl-timer1 is configure-tenant's due time (three days); the wait's timeout is the next.
        #expect(harness.state?.timers.first?.purpose == "overdue")
        let timeout = try #require(harness.state?.timers.first { $0.purpose == "timeout" })
        #expect(
            timeout
                == PendingTimer(
                    id: "gl-timer2", path: "contract-signed", dueAt: t0.addingTimeInterval(7 * 86_400),
                    purpose: "timeout"))

        let signalled = try harness.run(.deliverSignal(name: "contract-signed", data: ["by": "ceo"]))
        #expect(
            signalled == [
                .signalReceived(
                    SignalReceived(path: "contract-signed", signal: "contract-signed", data: ["by": "ceo"])),
                .timerCancelled(TimerCancelled(timerId: "gl-timer2", path: "contract-signed")),
                .stepCompleted(
                    StepCompleted(
                        path: "contract-signed", step: "contract-signed",
                        outputs: ["received": true, "data": ["by": "ceo"]])),
                .stepEntered(StepEntered(path: "contract-filed", step: "contract-filed", kind: "set")),
                .variablesSet(VariablesSet(path: "contract-filed", step: "contract-filed", variables: ["Contract_Signed": true])),
                .stepCompleted(StepCompleted(path: "contract-filed", step: "contract-filed", outputs: [:])),
                .branchCompleted(BranchCompleted(path: "preparation", step: "preparation", branch: "contract")),
            ])
        #expect(harness.openTasks == ["configure-tenant@solutions_engineer"])

        try complete(&harness, step: "configure-tenant", outputs: ["tenant_id": "8C2F9E4A-1B3D-4E5F-8A7B-9C0D1E2F3A4B"])
        harness.now = t0.addingTimeInterval(3_600)
        let joined = try {
            let task = try #require(harness.state?.openTasks.first)
            try harness.run(.claimTask(taskId: task.id, user: "c", roles: ["customer_admin"]))
            return try harness.run(
                .completeTask(taskId: task.id, user: "c", outputs: ["received": true], checklist: []))
        }()
        #expect(
            joined.map(\.type) == [
                "TaskCompleted", "StepCompleted", "BranchCompleted", "StepCompleted", "StepEntered", "DecisionMade",
                "StepCompleted", "StepEntered", "TimerScheduled",
            ])
        let soak = try #require(harness.state?.timers.first)
        #expect(soak.id == "gl-timer3")
        #expect(soak.dueAt == t0.addingTimeInterval(3_600 + 2 * 86_400))
        #expect(harness.state?.currentSteps == ["soak"])

        // Never early.
        #expect(throws: DecisionError.self) { try harness.run(.fireTimer(timerId: "gl-timer3")) }
        harness.now = soak.dueAt
        try harness.run(.fireTimer(timerId: "gl-timer3"))
        #expect(harness.openTasks == ["go-live@solutions_engineer"])
        #expect(
            harness.onlyOpenTask()?.checklist.first?.text
                == "Northwind is live on tenant 8C2F9E4A-1B3D-4E5F-8A7B-9C0D1E2F3A4B")
        // Fires once.
        #expect(throws: DecisionError.self) { try harness.run(.fireTimer(timerId: "gl-timer3")) }

        try complete(&harness, step: "go-live")
        #expect(harness.state?.status == .completed)
        #expect(
            harness.state?.variables == [
                "Contract_Signed": true, "Live_Tenant": "8C2F9E4A-1B3D-4E5F-8A7B-9C0D1E2F3A4B", "Live_Seats": 5,
            ])
        #expect(harness.interpreter.replay(harness.events) == harness.state)
    }

    @Test func aTimeoutTakesTheTimeoutPathAndCanLoopBackToTheWait() throws {
        var harness = try started()
        try complete(&harness, step: "send-contract")
        harness.now = t0.addingTimeInterval(7 * 86_400)
        try harness.run(.fireTimer(timerId: "gl-timer2"))
        #expect(
            harness.openTasks == ["configure-tenant@solutions_engineer", "chase-signature@partner_integration_manager"])
        #expect(harness.state?.stepOutputs["contract-signed"] == ["received": false, "data": .null])

        try complete(&harness, step: "chase-signature")
        #expect(harness.state?.awaitedSignals.map(\.timeoutTimerId) == ["gl-timer3"])

        harness.now = harness.now.addingTimeInterval(7 * 86_400)
        try harness.run(.fireTimer(timerId: "gl-timer3"))
        try complete(&harness, step: "chase-signature", outputs: ["still_interested": false])
        #expect(harness.state?.status == .failed)
        #expect(harness.state?.reason == "Northwind did not sign the contract")
        #expect(harness.openTasks == [])
        #expect(harness.state?.tasks.first { $0.path == "configure-tenant" }?.state == .cancelled)
        #expect(harness.state?.timers == [])
    }

    @Test func aFailedTestEndsTheOnboardingAsFailed() throws {
        var harness = try started()
        try complete(&harness, step: "send-contract")
        try harness.run(.deliverSignal(name: "contract-signed", data: .null))
        try complete(&harness, step: "configure-tenant", outputs: ["tenant_id": "8C2F9E4A-1B3D-4E5F-8A7B-9C0D1E2F3A4B"])
        try complete(&harness, step: "test-notifications", outputs: ["received": false])
        #expect(harness.state?.status == .failed)
        #expect(harness.state?.reason == "Test notifications did not reach Northwind")
        #expect(
            harness.events.last
                == .failed(
                    OnboardingFailed(path: "notifications-broken", reason: "Test notifications did not reach Northwind")
                ))
    }
}
