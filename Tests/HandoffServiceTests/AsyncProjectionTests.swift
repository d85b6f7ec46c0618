import Foundation
import HandoffCore
import HandoffStore
import HandoffTestSupport
import Postgres
import Synchronization
import Testing

@testable import HandoffService

/// Follows the log until every async projection has applied every committed event. (The gap-safe read holds
/// back events while an older transaction is open anywhere on the server, so a short batch alone does not mean
/// caught up while other tests run.)
func followToTheEnd(
    _ engine: Engine, owner: String = "test-runner", leaseSeconds: Double = 30, limit: Int = 100,
    within seconds: Double = 60
) async throws {
    let caughtUp = try await eventually(within: seconds) {
        _ = try await engine.followProjections(owner: owner, limit: limit, leaseSeconds: leaseSeconds)
        return try await engine.projectionsStatus().filter { $0.kind == "async" && $0.state != "rebuilding" }
            .allSatisfy { $0.lagEvents == 0 }
    }
    #expect(caughtUp, "the async projections did not catch up with the log")
}

/// Starts a standard Mail.Send onboarding for each id and drives each to its end.
func startAndDrive(_ engine: Engine, _ ids: [String]) async throws {
    for id in ids {
        _ = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: id, actor: "olivia")
        try await drive(engine, id)
    }
}

/// Ends a process's projection leases now, as if it had stopped renewing them that long ago.
func expireLeases(_ database: TestDatabase, of owner: String) async throws {
    _ = try await database.column(
        "UPDATE projection_checkpoints SET lease_until = now() - interval '1 second' WHERE owner = $1 RETURNING 1",
        [owner])
}

/// Every async projection's live rows, as text, by name.
func asyncContents(_ database: TestDatabase) async throws -> [String: [String]] {
    try await offload {
        let connection = try database.connect()
        var contents: [String: [String]] = [:]
        for name in AsyncProjections.names {
            contents[name] = try AsyncProjections.contents(on: connection, name: name)
        }
        return contents
    }
}

@Suite("Async projections")
struct AsyncProjectionTests {
    @Test func followingTheLogGivesTimingsVariablesAndActivityThatEqualARebuildFromZero() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        for index in 0..<4 {
            _ = try await engine.start(
                workflow: "mail-send",
                inputs: ["company": index < 2 ? "Contoso" : "Fabrikam", "path": "standard"], id: "a\(index)",
                actor: "olivia")
        }
        try await drive(engine, "a0", upn: { _ in "mailer@contoso.com" })
        try await drive(engine, "a2", upn: { _ in "mailer@fabrikam.com" })
        _ = try await engine.claim(taskId: "a1-t1", user: "alice", roles: ["customer_admin"])
        _ = try await engine.cancel(onboardingId: "a3", user: "olivia", reason: "duplicate")

        let before = try await engine.projectionsStatus().filter { $0.kind == "async" }
        #expect(before.map(\.name) == ["timings", "variables", "activity", "counts"])
        #expect(before.allSatisfy { $0.state == "idle" && $0.lagEvents > 0 && $0.position == 0 }, "\(before)")
        try await followToTheEnd(engine)
        let events = try await fixture.database.column("SELECT count(*) FROM events").first.flatMap { $0 }
        let after = try await engine.projectionsStatus().filter { $0.kind == "async" }
        #expect(after.allSatisfy { $0.lagEvents == 0 && $0.lagSeconds == 0 && $0.state == "live" }, "\(after)")
        #expect(after.allSatisfy { $0.events.map(String.init) == events && $0.holder == "test-runner" })

        // timings: every task, its wait and working time per role and step.
        let stats = try await engine.stats()
        let synced = try #require(stats.steps.first { $0.step == "client-synced" })
        #expect(synced.workflow == "mail-send" && synced.role == "customer_admin")
        #expect(synced.open == 1 && synced.completed == 2, "\(synced)")
        #expect((synced.waitMedianSeconds ?? -1) >= 0 && (synced.completeP90Seconds ?? -1) >= 0)
        #expect(try await fixture.database.column("SELECT count(*) FROM task_timings")
            == fixture.database.column("SELECT count(DISTINCT data ->> 'taskId') FROM events WHERE type = 'TaskOpened'"))
        #expect(try await fixture.database.column("SELECT state FROM task_timings WHERE task_id = 'a1-t1'") == ["claimed"])

        // counts: the dashboard's figures equal counting the inline projections' rows.
        let counted = stats.onboardings.map { "\($0.workflow)|\($0.state)|\($0.step ?? "-")|\($0.count)" }
        #expect(try await fixture.database.column(
            """
            SELECT o.workflow_id || '|' || o.state || '|' || coalesce(s.step, '-') || '|' || count(*)
              FROM onboardings o LEFT JOIN LATERAL jsonb_array_elements_text(o.current_steps) AS s(step) ON true
             GROUP BY o.workflow_id, o.state, s.step ORDER BY o.workflow_id, o.state, s.step NULLS FIRST
            """) == counted)
        #expect(stats.onboardings.contains { $0.state == "completed" && $0.step == nil && $0.count == 2 })
        let roles = stats.tasks.map { "\($0.role)|\($0.open)|\($0.claimed)" }
        #expect(try await fixture.database.column(
            """
            SELECT role || '|' || count(*) FILTER (WHERE state = 'open') || '|' || count(*) FILTER (WHERE state = 'claimed')
              FROM tasks WHERE state IN ('open', 'claimed') GROUP BY role ORDER BY role
            """) == roles)

        // variables: the three Mail_Send values per company, with who set them.
        let fabrikam = try await engine.recordedVariables(company: "Fabrikam")
        #expect(fabrikam.map(\.name) == ["Mail_Send_ID", "Mail_Send_Mode", "Mail_Send_UPN"])
        #expect(fabrikam.allSatisfy { $0.onboarding == "a2" && $0.workflow == "mail-send" && $0.setBy == "sam" })
        #expect(fabrikam.first { $0.name == "Mail_Send_UPN" }?.value == .string("mailer@fabrikam.com"))
        #expect(try await engine.recordedVariables(name: "Mail_Send_UPN").map(\.company) == ["Contoso", "Fabrikam"])

        // activity: one line per event, newest first.
        let activity = try await engine.activity(limit: 1000)
        #expect(activity.count.description == events)
        #expect(activity.first?.type == "OnboardingCancelled" && activity.first?.actor == "olivia")
        #expect(activity.map(\.position) == activity.map(\.position).sorted(by: >))
        // Each line keeps its event's time to the millisecond (the rows send times as milliseconds since 1970).
        let sameTimes = """
            SELECT count(*) FILTER (WHERE a.recorded_at = e.recorded_at) || '/' || count(*)
              FROM activity_rows a JOIN events e ON e.position = a.position
            """
        #expect(try await fixture.database.column(sameTimes) == ["\(events ?? "")/\(events ?? "")"])

        // A rebuild from zero writes the next generation and swaps it in: the same rows.
        let followed = try await asyncContents(fixture.database)
        for name in AsyncProjections.names {
            let report = try await engine.rebuildAsyncProjection(name, owner: "rebuilder", leaseSeconds: 30)
            #expect(report.generation == 2 && report.events > 0, "\(report)")
        }
        try await followToTheEnd(engine)
        #expect(try await asyncContents(fixture.database) == followed)
        _ = try await engine.deleteStaleProjectionRows()
        #expect(try await fixture.database.column("SELECT DISTINCT generation FROM activity_rows") == ["2"])
        let rebuilt = try await engine.projectionsStatus().filter { $0.kind == "async" }
        #expect(rebuilt.allSatisfy { $0.generation == 2 && $0.rebuiltAt != nil && $0.events?.description == events }, "\(rebuilt)")
        // The runner goes on following the new generation.
        _ = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "a4", actor: "olivia")
        try await followToTheEnd(engine)
        #expect(try await engine.activity(limit: 1).first?.onboarding == "a4")
    }

    @Test func anUnknownProjectionIsRefusedAndChangesNothing() async throws {
        let fixture = try await Fixture.make()
        let statusBefore = try await fixture.database.column("SELECT count(*) FROM projection_checkpoints")
        await #expect {
            _ = try await fixture.engine.rebuildAsyncProjection("nope", owner: "x", leaseSeconds: 5)
        } throws: { error in
            let error = error as? EngineError
            return error?.code == .invalidInput && error?.message.contains("timings") == true
        }
        #expect(try await fixture.database.column("SELECT count(*) FROM projection_checkpoints") == statusBefore)
        await #expect(throws: EngineError.self) { _ = try await fixture.engine.recordedVariables(limit: 0) }
    }

    @Test func aWriterHoldingItsTransactionOpenIsNeitherSkippedNorAppliedTwice() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        // The held transaction takes its position first and commits last.
        let held = try fixture.database.connect()
        try held.execute("BEGIN")
        _ = try EventStore.append(
            on: held, to: "held-stream", expected: .noStream,
            events: [NewEvent(type: "Note", data: Data(#"{"text":"held"}"#.utf8))])
        for index in 0..<3 {
            _ = try await engine.start(
                workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "w\(index)",
                actor: "olivia")
        }
        let committed = try await fixture.database.column("SELECT count(*) FROM events").first.flatMap { $0 }
        // While the older transaction is open, the later commits wait: applying them now would skip it.
        for _ in 0..<3 { _ = try await engine.followProjections(owner: "test-runner", leaseSeconds: 30) }
        #expect(try await engine.activity(limit: 1000).isEmpty)
        let waiting = try await engine.projectionsStatus().first { $0.name == "activity" }
        #expect(waiting?.lagEvents.description == committed, "committed events waiting are lag: \(String(describing: waiting))")

        try held.execute("COMMIT")
        try await followToTheEnd(engine)
        let all = try await engine.activity(limit: 1000)
        #expect(Set(all.map(\.onboarding)) == ["held-stream", "w0", "w1", "w2"])
        #expect(all.filter { $0.onboarding == "held-stream" }.map(\.summary) == [#"{"text": "held"}"#])
        #expect(Set(all.map(\.position)).count == all.count)
        #expect(all.count.description == (try await fixture.database.column("SELECT count(*) FROM events").first.flatMap { $0 }))
    }

    @Test func oneProcessHoldsAProjectionAtATimeAndAnotherTakesOverWhenItsLeaseRunsOut() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        _ = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "l0", actor: "olivia")
        try await followToTheEnd(engine, owner: "first", leaseSeconds: 30)
        _ = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "l1", actor: "olivia")
        // The holder's lease stands: the second process applies nothing.
        #expect(try await engine.followProjections(owner: "second", leaseSeconds: 30).isEmpty)
        #expect(try await engine.projectionsStatus().filter { $0.kind == "async" }.allSatisfy { $0.holder == "first" })
        // The first stops answering; once its lease ran out the second goes on from its checkpoint.
        try await expireLeases(fixture.database, of: "first")
        try await followToTheEnd(engine, owner: "second", leaseSeconds: 30)
        #expect(try await engine.projectionsStatus().filter { $0.kind == "async" }.allSatisfy { $0.holder == "second" })
        #expect(try await engine.followProjections(owner: "first", leaseSeconds: 30).isEmpty)
        // A runner that stops gives its leases up: another takes over at once.
        try await engine.releaseProjections(owner: "second")
        #expect(try await engine.followProjections(owner: "first", leaseSeconds: 30).count == AsyncProjections.names.count)
        let activity = try await engine.activity(limit: 1000)
        #expect(Set(activity.map(\.position)).count == activity.count)
        #expect(activity.count.description == (try await fixture.database.column("SELECT count(*) FROM events").first.flatMap { $0 }))
    }

    @Test func aRebuildStoppedMidwayResumesAndReadersSeeTheLiveGenerationWholeMeanwhile() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        try await startAndDrive(engine, (0..<6).map { "r\($0)" })
        try await followToTheEnd(engine)
        let live = try await asyncContents(fixture.database)
        let clean = try await engine.rebuildAsyncProjection("timings", owner: "clean", leaseSeconds: 30)
        try await followToTheEnd(engine)
        #expect(try await asyncContents(fixture.database) == live)

        // A rebuild that commits three batches and dies.
        try await offload {
            let connection = try fixture.database.connect()
            try AsyncProjections.beginRebuild(on: connection, name: "timings")
            for _ in 0..<3 {
                try connection.transaction { connection in
                    _ = try Engine.applyBatch(
                        on: connection, name: "timings", live: false, owner: "killed", limit: 5, leaseSeconds: 30)
                }
            }
        }
        let midway = try await engine.projectionsStatus().filter { $0.name == "timings" }
        #expect(midway.map(\.state) == ["live", "rebuilding"], "\(midway)")
        #expect((1...15).contains(midway.last?.events ?? 0) && midway.last?.holder == "killed", "\(midway)")
        // Readers see the live generation, whole.
        #expect(try await asyncContents(fixture.database) == live)
        #expect(try await engine.stats().steps.reduce(0) { $0 + $1.completed } > 0)
        // While its lease stands, another rebuild is refused; then it resumes from the dead one's checkpoint.
        await #expect {
            _ = try await engine.rebuildAsyncProjection("timings", owner: "resumer", leaseSeconds: 30)
        } throws: { error in
            (error as? EngineError)?.code == .alreadyExists
        }
        try await expireLeases(fixture.database, of: "killed")
        let resumed = try await engine.rebuildAsyncProjection("timings", owner: "resumer", leaseSeconds: 30)
        #expect(resumed.generation == clean.generation + 1)
        try await followToTheEnd(engine)
        #expect(try await asyncContents(fixture.database) == live)
        let events = try await engine.projectionsStatus().first { $0.name == "timings" }?.events
        #expect(events == clean.events || events ?? 0 > clean.events, "\(String(describing: events))")
        // The replaced generations' rows stay (unseen) until they are cleared.
        #expect(try await fixture.database.column("SELECT count(DISTINCT generation) FROM task_timing_rows") == ["3"])
        #expect(try await engine.deleteStaleProjectionRows() > 0)
        #expect(try await engine.deleteStaleProjectionRows() == 0)
        #expect(try await fixture.database.column("SELECT DISTINCT generation FROM task_timing_rows")
            == ["\(resumed.generation)"])
    }

    @Test func theRebuildCommandSwapsInTheNextGenerationAndClearsTheOneItReplaced() async throws {
        let fixture = try await Fixture.make()
        try await startAndDrive(fixture.engine, ["cli"])
        try await followToTheEnd(fixture.engine)
        let live = try await asyncContents(fixture.database)
        let command = try await EngineCommandLine(database: fixture.database).run(["projections", "rebuild", "activity"])
        #expect(command.status == 0, "\(command.stderr)")
        #expect(command.stdout.hasPrefix("Rebuilt activity from "), "\(command.stdout)")
        #expect(try await fixture.database.column("SELECT DISTINCT generation FROM activity_rows") == ["2"])
        #expect(try await asyncContents(fixture.database) == live)
    }

    @Test func aRebuildReadingAheadStopsWhenAnotherProcessTakesItOverAndTheTakerFinishesIt() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        try await startAndDrive(engine, (0..<4).map { "p\($0)" })
        try await followToTheEnd(engine)
        let live = try await asyncContents(fixture.database)
        // Batches of 3: every batch after the first is read and encoded while the one before it is written.
        let clean = try await engine.rebuildAsyncProjection("activity", owner: "clean", leaseSeconds: 30, limit: 3)
        #expect(clean.events > 30)
        try await followToTheEnd(engine)
        #expect(try await asyncContents(fixture.database) == live)

        // After its second batch, its lease runs out and another process applies a batch: the next write of the
        // first rebuild (read ahead already) is refused, and nothing is applied twice.
        let database = fixture.database
        let batches = Mutex(0)
        await #expect {
            _ = try await engine.rebuildAsyncProjection(
                "activity", owner: "slow", leaseSeconds: 30, limit: 3,
                progress: { _ in
                    guard batches.withLock({ count in
                        count += 1
                        return count
                    }) == 2 else { return }
                    do {
                        let connection = try database.connect()
                        try connection.execute(
                            "UPDATE projection_checkpoints SET lease_until = now() - interval '1 second' WHERE owner = 'slow'")
                        try connection.transaction { connection in
                            _ = try Engine.applyBatch(
                                on: connection, name: "activity", live: false, owner: "taker", limit: 3, leaseSeconds: 30)
                        }
                    } catch {
                        Issue.record("the takeover failed: \(error)")
                    }
                })
        } throws: { error in
            (error as? EngineError)?.code == .alreadyExists
        }
        let taken = try await engine.projectionsStatus().first { $0.name == "activity" && $0.state == "rebuilding" }
        #expect(taken?.holder == "taker" && taken?.events == 9, "\(String(describing: taken))")
        let finished = try await engine.rebuildAsyncProjection("activity", owner: "taker", leaseSeconds: 30, limit: 3)
        #expect(finished.events == clean.events)
        try await followToTheEnd(engine)
        #expect(try await asyncContents(fixture.database) == live)
    }
}

@Suite("Projection runners in several processes", .serialized)
struct ProjectionRunnerProcessTests {
    static func worker(_ database: TestDatabase, folder: URL, name: String) throws -> Int32 {
        try HandoffProcess.startWorker(database, folder: folder, name: name, extra: ["HANDOFF_PROJECTION_LEASE_SECONDS": "2"])
    }

    /// The pid in a runner's owner name (`host:pid:random`).
    static func pid(_ holder: String?) -> Int32? {
        guard let parts = holder?.split(separator: ":"), parts.count == 3 else { return nil }
        return Int32(parts[1])
    }

    @Test func twoRunnersFollowOnceAndTheOtherTakesOverWhenTheActiveOneIsKilled() async throws {
        let database = try await TestDatabase.make()
        let engine = database.engine()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("runners-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let pids = try (0..<2).map { try Self.worker(database, folder: folder, name: "worker\($0)") }
        var running = Set(pids)
        defer { for pid in running { kill(pid, SIGKILL) } }

        // Writers keep appending while the runners follow.
        let writing = Task {
            for index in 0..<120 {
                _ = try await engine.start(
                    workflow: "mail-send", inputs: ["company": index % 2 == 0 ? "Contoso" : "Fabrikam", "path": "standard"],
                    id: "p\(index)", actor: "olivia")
                if index % 3 == 0 { try await drive(engine, "p\(index)") }
            }
        }
        // Each projection is held by one of them (both may hold some); kill the holder of the first while it
        // follows.
        var holder: Int32?
        let held = try await eventually(within: 60) {
            let status = try await engine.projectionsStatus().filter { $0.kind == "async" }
            holder = Self.pid(status.first?.holder)
            return (status.first?.events ?? 0) > 0 && holder != nil
                && status.allSatisfy { Self.pid($0.holder).map(running.contains) == true }
        }
        #expect(held, "the runners did not take the projections")
        let killed = try #require(holder)
        kill(killed, SIGKILL)
        _ = try await offload { try ChildProcess.waitForExit(killed) }
        running.remove(killed)
        try await writing.value

        let survivor = try #require(running.first)
        let tookOver = try await eventually(within: 60) {
            try await engine.projectionsStatus().filter { $0.kind == "async" }
                .allSatisfy { $0.lagEvents == 0 && Self.pid($0.holder) == survivor }
        }
        let final = try await engine.projectionsStatus()
        #expect(tookOver, "\(final)")
        // A rebuild meanwhile: the runner clears the generation it replaced on its own.
        let rebuilt = try await engine.rebuildAsyncProjection("activity", owner: "rebuilder", leaseSeconds: 30)
        let cleared = try await eventually(within: 30) {
            try await database.column("SELECT DISTINCT generation FROM activity_rows") == ["\(rebuilt.generation)"]
        }
        #expect(cleared, "the runner left the replaced generation's rows")
        kill(survivor, SIGTERM)
        #expect(try await offload { try ChildProcess.waitForExit(survivor) } == 0, "the runner did not stop cleanly")
        running.remove(survivor)
        // It gave its leases up on the way out.
        #expect(try await engine.projectionsStatus().filter { $0.kind == "async" }.allSatisfy { $0.holder == nil })

        // What the runners wrote equals a rebuild from zero.
        let followed = try await asyncContents(database)
        #expect(followed["activity"]?.count.description
            == (try await database.column("SELECT count(*) FROM events").first.flatMap { $0 }))
        for name in AsyncProjections.names {
            _ = try await engine.rebuildAsyncProjection(name, owner: "rebuilder", leaseSeconds: 30)
        }
        try await followToTheEnd(engine)
        #expect(try await asyncContents(database) == followed)
    }
}
