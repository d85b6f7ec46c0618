import Foundation
import HandoffCore
import HandoffService
import HandoffStore
import HandoffTestSupport
import Postgres
import Synchronization
import Testing

/// Claims racing on real connections, and many onboardings driven by concurrent clients and workers.
@Suite("Task queue under concurrency")
struct TaskQueueTests {
    @Test func thirtyTwoClaimsOfOneTaskFromThirtyTwoConnections() async throws {
        let fixture = try await Fixture.make(maximumConnections: 32)
        let engine = fixture.engine
        _ = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "race", actor: "olivia")
        // Open all 32 connections first, so the claims really race on 32 sessions.
        try await withThrowingTaskGroup(of: Int32.self) { group in
            for _ in 0..<32 {
                group.addTask {
                    try await fixture.database.pool.withConnection { connection in
                        try connection.query("SELECT pg_sleep(0.05)")
                        return connection.backendProcessID
                    }
                }
            }
            var sessions = Set<Int32>()
            for try await session in group { sessions.insert(session) }
            #expect(sessions.count == 32)
        }
        let outcomes = try await withThrowingTaskGroup(of: Result<TaskView, EngineError>.self) { group in
            for index in 0..<32 {
                group.addTask {
                    do {
                        return .success(
                            try await engine.claim(taskId: "race-t1", user: "user\(index)", roles: ["customer_admin"]))
                    } catch {
                        return .failure(error as? EngineError ?? EngineError(.internal, "\(error)"))
                    }
                }
            }
            var outcomes: [Result<TaskView, EngineError>] = []
            for try await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        let winners = outcomes.compactMap { try? $0.get() }
        #expect(winners.count == 1)
        let codes = outcomes.compactMap { outcome -> String? in
            if case .failure(let error) = outcome { return error.code.rawValue }
            return nil
        }
        #expect(codes == Array(repeating: "task_already_claimed", count: 31))
        #expect(try await fixture.count("TaskClaimed", in: "race") == 1)
        let task = try await engine.task("race-t1")
        #expect(task.state == "claimed")
        #expect(task.assignee == winners.first?.assignee)
        try await fixture.expectInvariants()
    }

    @Test func aThousandOnboardingsStartedAndWorkedConcurrently() async throws {
        let fixture = try await Fixture.make(maximumConnections: 16)
        let engine = fixture.engine
        let total = 1_000
        let startsDone = Box(0)
        let completed = Box<[String]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<8 {
                group.addTask {
                    for index in stride(from: client, to: total, by: 8) {
                        _ = try await engine.start(
                            workflow: "mail-send",
                            inputs: [
                                "company": .string("Company \(index)"),
                                "path": .string(index % 3 == 0 ? "mail_send_only" : "standard"),
                            ],
                            id: "ob\(index)", actor: "client\(client)")
                    }
                    startsDone.update { $0 += 1 }
                }
            }
            for worker in 0..<8 {
                group.addTask {
                    let roles: Set<String> = ["customer_admin", "partner_integration_manager", "solutions_engineer"]
                    let user = "worker\(worker)"
                    while true {
                        if let task = try await engine.nextTask(roles: roles, user: user) {
                            let (outputs, checklist) = answers(for: task)
                            let done = try await engine.complete(
                                taskId: task.id, user: user, outputs: outputs, checklist: checklist)
                            completed.update { $0.append(done.id) }
                            continue
                        }
                        let busy = try await engine.tasks(TaskQuery(states: ["open", "claimed"]), limit: 1)
                        if startsDone.value == 8, busy.items.isEmpty { return }
                        try await Task.sleep(for: .milliseconds(5))
                    }
                }
            }
            try await group.waitForAll()
        }
        let ids = completed.value
        #expect(Set(ids).count == ids.count, "no task is completed twice")
        let states = try await fixture.database.column("SELECT state FROM onboardings GROUP BY state")
        #expect(states == ["completed"])
        #expect(try await fixture.database.column("SELECT count(*) FROM onboardings") == ["\(total)"])
        let twice = try await fixture.database.column(
            """
            SELECT data ->> 'taskId' FROM events WHERE type = 'TaskCompleted'
             GROUP BY data ->> 'taskId' HAVING count(*) > 1
            """)
        #expect(twice.isEmpty)
        #expect(try await fixture.database.column("SELECT count(*) FROM events WHERE type = 'TaskCompleted'") == ["\(ids.count)"])

        // The projections equal a rebuild from the log.
        let (onboardingsBefore, tasksBefore) = try await projectionRows(fixture.database)
        let report = try await engine.rebuildProjections()
        #expect(report.problems.isEmpty)
        #expect(report.onboardings == total)
        let (onboardingsAfter, tasksAfter) = try await projectionRows(fixture.database)
        #expect(onboardingsAfter == onboardingsBefore)
        #expect(tasksAfter == tasksBefore)
        try await fixture.expectInvariants()
    }

    @Test func nextTaskTakesTheOldestOpenTaskOfTheRoleAndSkipsOnesBeingChanged() async throws {
        let fixture = try await Fixture.make()
        var now = Date(timeIntervalSince1970: 1_790_000_000)
        let clock = Box(now)
        let engine = fixture.database.engine(clock: { clock.value })
        for index in 1...3 {
            _ = try await engine.start(
                workflow: "mail-send", inputs: ["company": .string("C\(index)"), "path": "standard"], id: "q\(index)",
                actor: "olivia")
            now += 60
            clock.update { $0 = now }
        }
        // Hold q1's stream lock from another session, as a writer in the middle of a command would.
        let blocker = try fixture.database.connect()
        try blocker.execute("BEGIN")
        try TaskQueue.lockStream(on: blocker, "q1")
        let first = try await engine.nextTask(roles: ["customer_admin"], user: "alice")
        #expect(first?.id == "q2-t1")
        try blocker.execute("ROLLBACK")
        let second = try await engine.nextTask(roles: ["customer_admin"], user: "alice")
        #expect(second?.id == "q1-t1")
        #expect(try await engine.nextTask(roles: ["solutions_engineer"], user: "sam") == nil)
        let open = try await engine.tasks(TaskQuery(roles: ["customer_admin"], states: ["open"]))
        #expect(open.items.map(\.id) == ["q3-t1"])
        try await fixture.expectInvariants()
    }
}

@Suite("Stream locks")
struct StreamLockTests {
    /// Regression: a stray session holding an onboarding's lock blocked claims on it indefinitely.
    @Test func aLockHeldByAStraySessionIsACodedRetryableTimeoutNotAHang() async throws {
        let fixture = try await Fixture.make()
        _ = try await fixture.engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "held", actor: "olivia")
        var configuration = fixture.database.configuration
        configuration.lockTimeoutMilliseconds = 300
        let pool = ConnectionPool(configuration, maximumConnections: 2)
        defer { pool.close() }
        let engine = Engine(pool: pool, workflows: WorkflowLibrary(folder: Repository.workflows))
        let blocker = try fixture.database.connect()
        try blocker.execute("BEGIN")
        try TaskQueue.lockStream(on: blocker, "held")
        let before = try await fixture.version("held")
        let started = ContinuousClock.now
        do {
            _ = try await engine.claim(taskId: "held-t1", user: "alice", roles: ["customer_admin"])
            Issue.record("the claim went through a held lock")
        } catch {
            #expect(error.code == .timeout, "\(error)")
            #expect(error.code.status == 503)
        }
        #expect(ContinuousClock.now - started < .seconds(10), "refused after the lock timeout, not left waiting")
        try blocker.execute("ROLLBACK")
        #expect(try await fixture.version("held") == before, "nothing was written")
        // Once the lock is free, the same request succeeds.
        #expect(try await engine.claim(taskId: "held-t1", user: "alice", roles: ["customer_admin"]).assignee == "alice")
    }

    /// Regression: stream locks were keyed by the 32-bit `hashtext`, so two onboardings whose ids collide shared a
    /// lock: one's writers waited on the other's, and `claim --next` skipped a task it could have had.
    @Test func onboardingsWhoseIdsCollideInHashtextDoNotShareALock() async throws {
        let fixture = try await Fixture.make()
        // Two ids with one 32-bit hashtext: about 77,000 candidates give a collision by the birthday bound.
        let pair = try await fixture.database.column(
            """
            SELECT min(id) || ' ' || max(id) FROM (SELECT 'ob' || g AS id FROM generate_series(1, 400000) g) ids
             GROUP BY hashtext(id) HAVING count(*) > 1 ORDER BY 1 LIMIT 1
            """)
        let ids = try #require(pair.first??.split(separator: " ").map(String.init))
        try #require(ids.count == 2)
        let collide = try await fixture.database.column("SELECT (hashtext($1) = hashtext($2))::text", [ids[0], ids[1]])
        #expect(collide == ["true"], "the pair collides in hashtext")
        let engine = fixture.engine
        for id in ids {
            _ = try await engine.start(
                workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: id, actor: "olivia")
        }
        // A writer in the middle of a command on the first onboarding holds its stream lock.
        let blocker = try fixture.database.connect()
        try blocker.execute("BEGIN")
        try TaskQueue.lockStream(on: blocker, ids[0])
        // The second onboarding's next task is free to claim, and a write to it does not wait.
        let next = try await engine.nextTask(roles: ["customer_admin"], user: "alice")
        #expect(next?.id == "\(ids[1])-t1")
        let taskId = "\(ids[1])-t1"
        let state = try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask { try await engine.release(taskId: taskId, user: "alice").state }
            group.addTask {
                try await Task.sleep(for: .seconds(20))
                return nil  // still waiting: the lock is shared after all
            }
            let first = try await group.next() ?? nil
            try blocker.execute("ROLLBACK")  // lets a waiting release finish, so the group can end
            group.cancelAll()
            return first
        }
        #expect(state == "open", "the release did not wait on the other onboarding's lock")
        try await fixture.expectInvariants()
    }
}

/// Every row of both projections, as stored.
func projectionRows(_ database: TestDatabase) async throws -> ([OnboardingRecord], [TaskRecord]) {
    try await database.pool.withConnection { connection in
        (try Projections.allOnboardings(on: connection), try Projections.allTasks(on: connection))
    }
}

/// Two engines (as two server processes would) on one database: each keeps snapshots of the onboardings it
/// changed, and must still see what the other appended since.
@Suite struct SnapshotTests {
    @Test func anEngineSeesWhatAnotherEngineAppendedAfterItsSnapshot() async throws {
        let fixture = try await Fixture.make()
        let first = fixture.engine
        let second = fixture.database.engine()
        _ = try await first.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "shared", actor: "olivia")
        // The first engine's snapshot is now at the start; the second engine claims and completes the task.
        let claimed = try await second.claim(taskId: "shared-t1", user: "alice", roles: ["customer_admin"])
        let (outputs, checklist) = answers(for: claimed)
        _ = try await second.complete(taskId: "shared-t1", user: "alice", outputs: outputs, checklist: checklist)

        // The first engine acts on the task the second engine's completion opened.
        let next = try await first.claim(taskId: "shared-t2", user: "alice", roles: ["customer_admin"])
        #expect(next.state == "claimed")
        // And on the one it already knew, now completed by the other engine: refused as such.
        let stale = await #expect(throws: EngineError.self) {
            _ = try await first.release(taskId: "shared-t1", user: "alice")
        }
        #expect(stale?.code == .taskNotOpen || stale?.code == .taskNotClaimedByYou)
        #expect(try await fixture.version("shared") == Int64(try await first.onboarding("shared").version))
        try await fixture.expectInvariants()
    }
}
