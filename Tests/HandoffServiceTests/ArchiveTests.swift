import Foundation
import HandoffCore
import HandoffService
import HandoffStore
import HandoffTestSupport
import Postgres
import Testing

/// Every event wherever it is kept, the projections and the command log, as one comparable text.
private func everything(_ database: TestDatabase) async throws -> String {
    try await database.column(
        """
        SELECT concat_ws(' | ',
            (SELECT count(*) || ' events ' || md5(string_agg(e::text, ',' ORDER BY position)) FROM all_events e),
            (SELECT count(*) || ' archived' FROM archived_events),
            (SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM onboardings o),
            (SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM tasks t),
            (SELECT count(*) || ' commands' FROM commands))
        """
    ).first.flatMap { $0 } ?? ""
}

private func count(_ database: TestDatabase, _ sql: String) async throws -> Int {
    try await database.column(sql).first.flatMap { $0.flatMap(Int.init) } ?? -1
}

/// Two finished onboardings (one completed, one cancelled) and one in flight.
private func finishedAndActive(_ engine: Engine) async throws {
    _ = try await engine.start(
        workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "done", actor: "olivia")
    try await drive(engine, "done")
    _ = try await engine.start(
        workflow: "mail-send", inputs: ["company": "Tailspin", "path": "standard"], id: "gone", actor: "olivia")
    _ = try await engine.cancel(onboardingId: "gone", user: "olivia", reason: "duplicate request")
    try await startPastTheGlobalAdminConsent(engine, id: "busy")
}

@Suite("Archiving finished onboardings")
struct ArchiveTests {
    @Test func archivedOnboardingsReadReplayExportVerifyAndRebuildAsBefore() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        try await finishedAndActive(engine)
        try await followToTheEnd(engine)
        let log = try await fixture.database.store.readAll(after: .start, limit: 10_000)
        var before: [String: (history: [EventView], replays: [ReplayView], export: OnboardingExport)] = [:]
        for id in ["done", "gone"] {
            let history = try await engine.history(id)
            var replays: [ReplayView] = []
            for version in 1...Int64(history.count) { replays.append(try await engine.replay(id, at: .version(version))) }
            before[id] = (history, replays, try await engine.export(id))
        }
        let asyncBefore = try await asyncContents(fixture.database)
        let rowsBefore = try await fixture.database.column(
            "SELECT md5(string_agg(o::text, ',' ORDER BY id)) || md5((SELECT string_agg(t::text, ',' ORDER BY id) FROM tasks t)) FROM onboardings o")
        let busyEvents = try await count(fixture.database, "SELECT count(*) FROM events WHERE stream_id = 'busy'")

        let report = try await engine.archive(before: Date().addingTimeInterval(60))
        #expect(report.onboardings == 2)
        #expect(report.events == Int64(log.count - busyEvents))
        #expect(report.archivedOnboardings == 2 && report.archivedEvents == report.events)
        // Only the active onboarding's events are left in the table writes work on.
        #expect(try await count(fixture.database, "SELECT count(*) FROM events") == busyEvents)
        #expect(try await count(fixture.database, "SELECT count(DISTINCT stream_id) FROM archived_events") == 2)

        // The global log reads the same events in the same order; each stream reads as before.
        #expect(try await fixture.database.store.readAll(after: .start, limit: 10_000) == log)
        for id in ["done", "gone"] {
            let history = try await engine.history(id)
            #expect(history == before[id]?.history)
            for version in 1...Int64(history.count) {
                #expect(try await engine.replay(id, at: .version(version)) == before[id]?.replays[Int(version) - 1])
            }
            var export = try await engine.export(id)
            export.exportedAt = before[id]!.export.exportedAt
            #expect(export == before[id]?.export)
        }
        #expect(try await engine.onboarding("done").state == "completed")
        try await fixture.expectInvariants()

        // Rebuilds read the archive: the same rows.
        _ = try await engine.rebuildProjections()
        #expect(try await fixture.database.column(
            "SELECT md5(string_agg(o::text, ',' ORDER BY id)) || md5((SELECT string_agg(t::text, ',' ORDER BY id) FROM tasks t)) FROM onboardings o")
            == rowsBefore)
        for name in Engine.asyncProjectionNames {
            _ = try await engine.rebuildAsyncProjection(name, owner: "test-rebuild", leaseSeconds: 30, limit: 7)
        }
        #expect(try await asyncContents(fixture.database) == asyncBefore)

        // Archiving again moves nothing; the onboarding in flight goes on as ever and is archived once finished.
        let again = try await engine.archive(before: Date().addingTimeInterval(60))
        #expect(again.onboardings == 0 && again.events == 0 && again.archivedEvents == report.events)
        try await drive(engine, "busy")
        let last = try await engine.archive(before: Date().addingTimeInterval(60))
        #expect(last.onboardings == 1)
        #expect(try await count(fixture.database, "SELECT count(*) FROM events") == 0)
        try await fixture.expectInvariants()
    }

    @Test func aProjectionBehindTheArchiveReadsTheArchivedEvents() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        try await finishedAndActive(engine)
        _ = try await engine.archive(before: Date().addingTimeInterval(60))
        // The runner had applied nothing yet: it follows the log through both tables.
        try await followToTheEnd(engine)
        let activity = try await count(fixture.database, "SELECT count(*) FROM activity")
        #expect(activity == (try await count(fixture.database, "SELECT count(*) FROM all_events")))
        let followed = try await asyncContents(fixture.database)
        for name in Engine.asyncProjectionNames {
            _ = try await engine.rebuildAsyncProjection(name, owner: "test-rebuild", leaseSeconds: 30)
        }
        #expect(try await asyncContents(fixture.database) == followed)
    }

    @Test func onlyFinishedOnboardingsOlderThanTheCutoffMove() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        try await finishedAndActive(engine)
        let before = try await everything(fixture.database)
        // Finished a moment ago: not older than an hour.
        let none = try await engine.archive(before: Date().addingTimeInterval(-3600))
        #expect(none.onboardings == 0)
        #expect(try await everything(fixture.database) == before)
        // Asked by id, the active one stays where it is.
        let moved = try await fixture.database.column(
            "SELECT onboardings || ',' || events FROM archive_onboardings(ARRAY['busy', 'nobody'], 1212239428)")
        #expect(moved == ["0,0"])
        #expect(try await everything(fixture.database) == before)
        // A limit stops after that many.
        let one = try await engine.archive(before: Date().addingTimeInterval(60), limit: 1)
        #expect(one.onboardings == 1)
        await #expect(throws: EngineError.self) { try await engine.archive(before: Date(), batch: 0) }
        await #expect(throws: EngineError.self) { try await engine.archive(before: Date(), limit: -1) }
    }

    @Test func anArchivedOnboardingRefusesCommandsAndItsStreamRefusesAppends() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        try await finishedAndActive(engine)
        func refusal(_ body: () async throws -> Void) async -> String {
            do {
                try await body()
                return "accepted"
            } catch let error as EngineError {
                return "\(error.code): \(error.message)"
            } catch {
                return "\(error)"
            }
        }
        let cancel = { _ = try await engine.cancel(onboardingId: "done", user: "olivia", reason: "late") }
        let restart = {
            _ = try await engine.start(
                workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "done", actor: "olivia")
        }
        let refusedBefore = [await refusal(cancel), await refusal(restart)]
        #expect(!refusedBefore.contains("accepted"))
        _ = try await engine.archive(before: Date().addingTimeInterval(60))
        let archived = try await everything(fixture.database)

        // The same refusals as before the move, and nothing written.
        #expect([await refusal(cancel), await refusal(restart)] == refusedBefore)
        // Raw appends see the archived versions: expecting a new stream or an older version is a conflict.
        let version = Int64(try await engine.history("done").count)
        func noted() -> NewEvent { NewEvent(type: "Noted", data: Data("{}".utf8)) }
        for expected in [ExpectedVersion.noStream, .exact(1), .exact(version - 1)] {
            do {
                _ = try await fixture.database.store.append(to: "done", expected: expected, events: [noted()])
                Issue.record("an append expecting \(expected) to an archived stream was accepted")
            } catch let error as StoreError {
                #expect(error.code == .versionConflict, "\(expected): \(error)")
            }
        }
        #expect(try await everything(fixture.database) == archived)
        // Expecting its last version, or any, continues the stream after it.
        let next = try await fixture.database.store.append(to: "done", expected: .exact(version), events: [noted()])
        #expect(next.events.map(\.version) == [version + 1])
        let after = try await fixture.database.store.append(to: "done", expected: .any, events: [noted()])
        #expect(after.events.map(\.version) == [version + 2])
        #expect(try await fixture.database.store.read(stream: "done").map(\.version) == Array(1...(version + 2)))
    }

    @Test func theRuntimeRoleArchivesButCannotChangeOrForgeArchivedEvents() async throws {
        let fixture = try await Fixture.make()
        try await finishedAndActive(fixture.engine)
        let login = try await runtimeLogin(for: fixture.database)
        let pool = ConnectionPool(login, maximumConnections: 2)
        defer { pool.close() }
        let engine = Engine(pool: pool, workflows: WorkflowLibrary(folder: Repository.workflows))
        #expect(try await engine.archive(before: Date().addingTimeInterval(60)).onboardings == 2)
        let archived = try await everything(fixture.database)

        let connection = try Connection(login)
        for statement in [
            "UPDATE archived_events SET type = 'Forged'",
            "DELETE FROM archived_events",
            "TRUNCATE archived_events",
            "INSERT INTO archived_events SELECT *, now() FROM events",
            "DELETE FROM events",
            "ALTER TABLE archived_events DISABLE TRIGGER ALL",
        ] {
            let error = #expect(throws: PostgresError.self, "\(statement)") { try connection.execute(statement) }
            #expect(error?.sqlState == "42501", "\(statement): \(String(describing: error))")
        }
        // Even the owner deletes an event only when the archive holds it unchanged, and never changes one there.
        let owner = try fixture.database.connect()
        for statement in [
            "SELECT set_config('handoff.archiving', 'on', false); DELETE FROM events",
            "UPDATE archived_events SET type = 'Forged'",
            "DELETE FROM archived_events",
            "TRUNCATE archived_events",
        ] {
            let error = #expect(throws: PostgresError.self, "\(statement)") { try owner.execute(statement) }
            #expect(error?.sqlState == "HO003", "\(statement): \(String(describing: error))")
        }
        #expect(try await everything(fixture.database) == archived)
    }

    @Test func twoArchiversRacingMoveEachEventOnce() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        for index in 0..<12 {
            let id = "c\(index)"
            _ = try await engine.start(
                workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: id, actor: "olivia")
            _ = try await engine.cancel(onboardingId: id, user: "olivia", reason: "test")
        }
        let total = try await count(fixture.database, "SELECT count(*) FROM events")
        let other = fixture.database.engine()
        async let first = engine.archive(before: Date().addingTimeInterval(60), batch: 2)
        async let second = other.archive(before: Date().addingTimeInterval(60), batch: 3)
        let reports = try await [first, second]
        #expect(reports.map(\.onboardings).reduce(0, +) == 12)
        #expect(reports.map(\.events).reduce(0, +) == Int64(total))
        #expect(try await count(fixture.database, "SELECT count(*) FROM archived_events") == total)
        #expect(try await count(fixture.database, "SELECT count(*) FROM events") == 0)
        try await fixture.expectInvariants()
    }

    @Test func theArchiveCommandReportsAndRefusesABadDuration() async throws {
        let fixture = try await Fixture.make()
        try await finishedAndActive(fixture.engine)
        let cli = EngineCommandLine(database: fixture.database)
        let before = try await everything(fixture.database)
        for (arguments, message) in [
            (["archive", "--older-than", "soon"], "error: invalid_input: --older-than takes a duration such as 30d or 12h, not 'soon'"),
            (["archive", "--older-than", "0s", "--limit", "0"], "error: invalid_input: a limit must be between 1 and"),
        ] {
            let refused = try await cli.run(arguments)
            #expect(refused.status != 0)
            #expect(refused.stderr.hasPrefix(message), "\(refused.stderr)")
        }
        #expect(try await everything(fixture.database) == before)
        // Finished just now: the default (30 days) moves nothing.
        let none = try await cli.run(["archive"])
        #expect(none.status == 0, "\(none.stderr)")
        #expect(none.stdout.hasPrefix("Archived 0 onboardings (0 events)"), "\(none.stdout)")
        let done = try await cli.run(["archive", "--older-than", "0s", "--json"])
        #expect(done.status == 0, "\(done.stderr)")
        let report = try JSONDecoder().decode(ArchiveReport.self, from: Data(done.stdout.utf8))
        #expect(report.onboardings == 2 && report.archivedOnboardings == 2 && report.events > 0)
        let history = try await cli.run(["history", "done", "--json"])
        #expect(history.status == 0 && history.stdout.contains("OnboardingCompleted"), "\(history.stderr)")
    }

    @Test func aWorkerWithArchiveAfterMovesFinishedOnboardingsOnItsOwn() async throws {
        let fixture = try await Fixture.make()
        try await finishedAndActive(fixture.engine)
        let busy = try await count(fixture.database, "SELECT count(*) FROM events WHERE stream_id = 'busy'")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("archiver-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let pid = try HandoffProcess.startWorker(
            fixture.database, folder: folder, name: "archiver", extra: ["HANDOFF_ARCHIVE_AFTER": "1s"])
        let moved = try await eventually(within: 30) {
            try await count(fixture.database, "SELECT count(DISTINCT stream_id) FROM archived_events") == 2
        }
        kill(pid, SIGTERM)
        let status = try await offload { try ChildProcess.waitForExit(pid) }
        #expect(moved, "the worker did not archive the finished onboardings")
        #expect(status == 0, "the worker did not stop cleanly")
        #expect(try await count(fixture.database, "SELECT count(*) FROM events") == busy)
        try await fixture.expectInvariants()
    }

    @Test func aBadArchiveAfterStopsTheWorkerBeforeItStartsWithTheReason() async throws {
        let fixture = try await Fixture.make()
        try await finishedAndActive(fixture.engine)
        let before = try await everything(fixture.database)
        let refused = try await HandoffProcess.run(
            ["worker"],
            environment: [
                "DATABASE_URL": fixture.database.connectionString, "HANDOFF_MIGRATIONS": Repository.migrations.path,
                "HANDOFF_WORKFLOWS": Repository.workflows.path, "HANDOFF_ARCHIVE_AFTER": "monthly",
            ])
        #expect(refused.status != 0)
        #expect(
            refused.stderr.contains("error: invalid_input: HANDOFF_ARCHIVE_AFTER takes a duration such as 30d or 12h, not 'monthly'"),
            "\(refused.stderr)")
        #expect(try await everything(fixture.database) == before)
    }
}
