import Foundation
import HandoffCore
import HandoffService
import HandoffStore
import HandoffTestSupport
import Testing

/// Both Mail.Send paths driven through the engine as the roles would, against a real PostgreSQL.
@Suite("Mail.Send through the engine")
struct MailSendServiceTests {
    @Test func standardPathRecordsTheThreeVariablesAndCompletes() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        let started = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "contoso", actor: "olivia")
        #expect(started.state == "active")
        #expect(started.openTasks.map(\.id) == ["contoso-t1"])
        #expect(started.currentSteps == ["client-synced"])

        let queue = try await engine.tasks(TaskQuery(roles: ["customer_admin"]))
        #expect(queue.items.map(\.id) == ["contoso-t1"])
        #expect(queue.items.first?.outputs.map(\.name) == ["client_id"])

        let done = try await drive(engine, "contoso")
        #expect(
            done.map(\.step) == [
                "client-synced", "sign-in", "read-upn", "back-end-configuration",
                "configure-variables",
            ])
        #expect(done.allSatisfy { $0.state == "completed" })
        let finished = try await engine.onboarding("contoso")
        #expect(finished.state == "completed")
        #expect(finished.openTasks.isEmpty)
        #expect(
            finished.variables == [
                "Mail_Send_Mode": "Client", "Mail_Send_UPN": "mailer@contoso.com", "Mail_Send_ID": "C-42",
            ])

        let history = try await engine.history("contoso")
        #expect(history.map(\.version) == Array(1...Int64(history.count)))
        #expect(history.first?.type == "OnboardingStarted")
        #expect(history.first?.actor == "olivia")
        #expect(history.last?.type == "OnboardingCompleted")
        let completions = history.filter { $0.type == "TaskCompleted" }
        #expect(completions.map(\.actor) == ["alice", "alice", "alice", "pat", "sam"])
        let claims = history.filter { $0.type == "TaskClaimed" }
        #expect(claims.map(\.actor) == ["alice", "alice", "alice", "pat", "sam"])
        #expect(history.allSatisfy { $0.actor != nil })
        #expect(finished.version == Int64(history.count))
        try await fixture.expectInvariants()
    }

    @Test func mailSendOnlyPathRunsTheConsentTwiceAndDeletesTheAdminConsent() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        _ = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Fabrikam", "path": "mail_send_only"], id: "fabrikam",
            actor: "olivia")
        let done = try await drive(engine, "fabrikam") { task in
            task.path.hasPrefix("global-admin-consent") ? "admin@fabrikam.onmicrosoft.com" : "pia-mailer@fabrikam.com"
        }
        #expect(
            done.map(\.path) == [
                "client-synced", "global-admin-consent/sign-in", "global-admin-consent/organisation-consent",
                "global-admin-consent/read-upn", "service-account-consent/sign-in", "service-account-consent/read-upn",
                "remove-global-admin-consent", "back-end-configuration",
                "configure-variables",
            ])
        let finished = try await engine.onboarding("fabrikam")
        #expect(finished.state == "completed")
        #expect(
            finished.variables == [
                "Mail_Send_Mode": "Client", "Mail_Send_UPN": "pia-mailer@fabrikam.com", "Mail_Send_ID": "C-42",
            ])
        let history = try await engine.history("fabrikam")
        #expect(history.contains { $0.type == "StepSkipped" })
        #expect(history.filter { $0.type == "TaskCompleted" }.compactMap(\.actor).count == 9)
        try await fixture.expectInvariants()
    }
}
