import Foundation
import HandoffCore
import HandoffService
import HandoffStore
import HandoffTestSupport
import Testing

@Suite("Replay and idempotent commands")
struct ReplayAndIdempotencyTests {
    /// The onboarding and its tasks as the projections show them now.
    func snapshot(_ engine: Engine, _ id: String) async throws -> ReplayView {
        let onboarding = try await engine.onboarding(id)
        let tasks = try await engine.tasks(
            TaskQuery(states: ["open", "claimed", "completed", "cancelled"], onboardingId: id))
        return ReplayView(onboarding: onboarding, tasks: tasks.items, version: onboarding.version)
    }

    func byId(_ tasks: [TaskView]) -> [String: TaskView] {
        Dictionary(tasks.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    @Test func replayAtAVersionOrTimeGivesTheStateOfThen() async throws {
        let fixture = try await Fixture.make()
        let clock = Box(Date(timeIntervalSince1970: 1_790_000_000))
        let engine = fixture.database.engine(clock: { clock.value })
        _ = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "r1", actor: "olivia")
        var snapshots = [try await snapshot(engine, "r1")]
        while let next = try await engine.onboarding("r1").openTasks.first {
            clock.update { $0 += 3_600 }
            let user = Person.user(for: next.role)
            let claimed = try await engine.claim(taskId: next.id, user: user, roles: [next.role])
            snapshots.append(try await snapshot(engine, "r1"))
            let (outputs, checklist) = answers(for: claimed)
            _ = try await engine.complete(taskId: next.id, user: user, outputs: outputs, checklist: checklist)
            snapshots.append(try await snapshot(engine, "r1"))
        }
        #expect(snapshots.count == 11)
        for then in snapshots {
            let replayed = try await engine.replay("r1", at: .version(then.version))
            #expect(replayed.version == then.version)
            #expect(replayed.onboarding == then.onboarding)
            #expect(byId(replayed.tasks) == byId(then.tasks))
            let atTime = try await engine.replay("r1", at: .time(then.onboarding.updatedAt))
            #expect(atTime == replayed)
        }
        #expect(try await engine.replay("r1").onboarding == engine.onboarding("r1"))
        await #expect(throws: EngineError.self) { try await engine.replay("r1", at: .version(999)) }
        await #expect(throws: EngineError.self) {
            try await engine.replay("r1", at: .time(Date(timeIntervalSince1970: 0)))
        }
        try await fixture.expectInvariants()
    }

    @Test func oneCompletionSentTwiceConcurrentlyAndAfterARestartCompletesOnce() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        _ = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "i1", actor: "olivia",
            commandId: "start-i1")
        let again = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "i1", actor: "olivia",
            commandId: "start-i1")
        #expect(again.id == "i1")
        let claim = try await engine.claim(taskId: "i1-t1", user: "alice", roles: ["customer_admin"], commandId: "claim-1")
        #expect(try await engine.claim(taskId: "i1-t1", user: "alice", roles: ["customer_admin"], commandId: "claim-1") == claim)

        let answers = try await withThrowingTaskGroup(of: TaskView.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await engine.complete(
                        taskId: "i1-t1", user: "alice", outputs: ["client_id": "C-1"],
                        checklist: ["client-synced", "client-listed"], commandId: "complete-1")
                }
            }
            var answers: [TaskView] = []
            for try await answer in group { answers.append(answer) }
            return answers
        }
        #expect(answers.count == 8)
        #expect(Set(answers.map { $0.state }) == ["completed"])
        #expect(answers.allSatisfy { $0 == answers[0] })
        #expect(try await fixture.count("TaskCompleted", in: "i1") == 1)
        let version = try await fixture.version("i1")

        // A restart: a new engine with nothing in memory, on the same database.
        let restarted = fixture.database.engine()
        let late = try await restarted.complete(
            taskId: "i1-t1", user: "alice", outputs: ["client_id": "C-1"], checklist: ["client-synced", "client-listed"],
            commandId: "complete-1")
        #expect(late == answers[0])
        #expect(try await fixture.version("i1") == version)
        #expect(try await fixture.count("TaskCompleted", in: "i1") == 1)

        // The same id with another request is refused.
        await #expect {
            try await restarted.complete(
                taskId: "i1-t1", user: "alice", outputs: ["client_id": "C-2"],
                checklist: ["client-synced", "client-listed"], commandId: "complete-1")
        } throws: { error in
            (error as? EngineError)?.code == .invalidInput
        }
        #expect(try await fixture.version("i1") == version)
        // Every event carries its command's caller and id.
        let history = try await engine.history("i1")
        #expect(history.filter { $0.commandId == "complete-1" }.allSatisfy { $0.actor == "alice" })
        #expect(history.contains { $0.commandId == "complete-1" })
        try await fixture.expectInvariants()
    }

    @Test func projectionsCanBeDroppedAndRebuiltFromTheLog() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        for index in 0..<5 {
            _ = try await engine.start(
                workflow: "mail-send", inputs: ["company": "Contoso", "path": index % 2 == 0 ? "standard" : "mail_send_only"],
                id: "p\(index)", actor: "olivia")
        }
        try await drive(engine, "p0")
        _ = try await engine.claim(taskId: "p1-t1", user: "alice", roles: ["customer_admin"])
        _ = try await engine.cancel(onboardingId: "p2", user: "olivia", reason: "duplicate")
        let before = try await projectionRows(fixture.database)
        _ = try await fixture.database.column("DELETE FROM tasks WHERE onboarding_id = 'p1'")
        _ = try await fixture.database.column("UPDATE onboardings SET state = 'failed' WHERE id = 'p3'")
        // verify is what finds rows that differ from the log; status stays cheap (no scan of the log).
        #expect(try await engine.verify().problems.count >= 2)
        let status = try await engine.projectionsStatus()
        #expect(status.filter { $0.kind == "inline" }.map(\.name) == ["onboardings", "tasks"])

        let report = try await engine.rebuildProjections("tasks")
        #expect(report.tasks == before.1.count)
        _ = try await engine.rebuildProjections()
        let after = try await projectionRows(fixture.database)
        #expect(after.0 == before.0)
        #expect(after.1 == before.1)
        let rebuilt = try await engine.projectionsStatus().filter { $0.kind == "inline" }
        #expect(rebuilt.allSatisfy { $0.lagEvents == 0 && $0.state == "live" && $0.rebuiltAt != nil })
        #expect(rebuilt.first?.position ?? 0 > 0)
        await #expect(throws: EngineError.self) { try await engine.rebuildProjections("nope") }
        try await fixture.expectInvariants()
    }

    @Test func aRebuildReportsStreamsThatDoNotFoldAndRebuildsTheRest() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        _ = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "good", actor: "olivia")
        let started = """
            {"contentHash": "%@", "inputs": {}, "onboardingId": "%@", "workflowId": "w", "workflowVersion": 1}
            """
        // A stored definition that no longer loads, and streams that can't fold: one pinned to it, one pinned to
        // a definition that is not stored, one that does not begin with OnboardingStarted.
        _ = try await fixture.database.column(
            """
            INSERT INTO workflow_definitions (content_hash, workflow_id, version, file, source)
            VALUES ('rotten', 'w', 1, 'w.yaml', 'id: [unclosed')
            """)
        for (stream, type, data) in [
            ("pinned-to-rotten", "OnboardingStarted", String(format: started, "rotten", "pinned-to-rotten")),
            ("pinned-to-missing", "OnboardingStarted", String(format: started, "missing", "pinned-to-missing")),
            ("headless", "TaskClaimed", #"{"taskId": "headless-t1", "assignee": "alice"}"#),
        ] {
            _ = try await fixture.database.column(
                "INSERT INTO events (event_id, stream_id, version, type, data) VALUES (gen_random_uuid(), $1, 1, $2, $3::jsonb)",
                [stream, type, data])
        }
        let report = try await engine.rebuildProjections()
        #expect(report.streams == 4)
        #expect(report.onboardings == 1)
        #expect(report.problems.count == 3)
        #expect(report.problems.contains("headless: stream 'headless' does not begin with OnboardingStarted"))
        #expect(report.problems.contains(
            "pinned-to-missing: the definition with content hash missing is not stored"))
        #expect(report.problems.contains { $0.hasPrefix("pinned-to-rotten: the stored definition rotten no longer loads") })
        #expect(try await fixture.database.column("SELECT id FROM onboardings") == ["good"])

        // Regression: `handoff projections rebuild` printed the problems and exited 0, the streams dropped.
        let command = try await EngineCommandLine(database: fixture.database).run(["projections", "rebuild"])
        #expect(command.status == 1)
        #expect(command.stdout.contains("problem: headless:"))
        #expect(command.stderr.hasPrefix("error: internal: 3 streams could not be folded and are missing from the projections: "))
        #expect(command.stderr.contains("pinned-to-missing"), "\(command.stderr)")
    }
}
