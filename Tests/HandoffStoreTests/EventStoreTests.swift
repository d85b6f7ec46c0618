import Foundation
import HandoffStore
import HandoffTestSupport
import Postgres
import Testing

func event(_ type: String = "Noted", _ json: String = #"{"n":1}"#, id: UUID = UUID(), actor: String? = "tester")
    -> NewEvent
{
    NewEvent(id: id, type: type, data: Data(json.utf8), metadata: EventMetadata(actor: actor))
}

/// What the events table holds, to assert that a refused request changed nothing.
func fingerprint(_ database: TestDatabase) async throws -> [String?] {
    try await database.column(
        "SELECT count(*)::text || '/' || coalesce(max(position), 0)::text || '/' || coalesce(sum(version), 0)::text FROM events"
    )
}

@Suite struct EventStoreTests {
    @Test func appendsAndReadsAStreamInVersionOrder() async throws {
        let database = try await TestDatabase.make()
        let store = database.store
        let first = try await store.append(to: "onboarding-1", expected: .noStream, events: [
            event("Started", #"{"company":"Contoso"}"#), event("StepEntered", #"{"step":"sync"}"#),
        ])
        #expect(first.events.map(\.version) == [1, 2])
        #expect(first.duplicate == false)
        let second = try await store.append(to: "onboarding-1", expected: .exact(2), events: [event("TaskOpened")])
        #expect(second.lastVersion == 3)
        _ = try await store.append(to: "onboarding-1", expected: .any, events: [event("TaskClaimed")])

        let events = try await store.read(stream: "onboarding-1")
        #expect(events.map(\.type) == ["Started", "StepEntered", "TaskOpened", "TaskClaimed"])
        #expect(events.map(\.version) == [1, 2, 3, 4])
        #expect(events[0].metadata.actor == "tester")
        #expect(String(decoding: events[0].data, as: UTF8.self) == #"{"company": "Contoso"}"#)
        #expect(try await store.read(stream: "onboarding-1", from: 3).map(\.version) == [3, 4])
        #expect(try await store.read(stream: "nobody").isEmpty)
        #expect(try await store.version(of: "onboarding-1") == 4)
        #expect(try await store.version(of: "nobody") == 0)

        // Batches bind a row of parameters per event up to a size, arrays beyond it: both number the same way.
        for (expected, count) in [(ExpectedVersion.any, 3), (.exact(7), 16), (.exact(23), 17), (.any, 40)] {
            let batch = (0..<count).map { event("Batch", #"{"n":\#($0)}"#) }
            let result = try await store.append(to: "onboarding-1", expected: expected, events: batch)
            #expect(result.events.map(\.id) == batch.map(\.id))
            #expect(result.events.map(\.version) == Array((result.lastVersion - Int64(count) + 1)...result.lastVersion))
        }
        let all = try await store.read(stream: "onboarding-1")
        #expect(all.map(\.version) == Array(1...80))
        #expect(all.dropFirst(4).prefix(3).map(\.dataText) == [#"{"n": 0}"#, #"{"n": 1}"#, #"{"n": 2}"#])
    }

    @Test func metadataAndTypesWithAwkwardCharactersRoundTrip() async throws {
        let database = try await TestDatabase.make()
        let metadata = EventMetadata(
            actor: "Zoë \"the admin\" \\ O'Brien\n\t\u{1}", correlationId: "c/1", causationId: "☃",
            requestId: "r-1", commandId: "cmd 1"
        )
        _ = try await database.store.append(to: "awkward", expected: .noStream, events: [
            NewEvent(type: "Type \"quoted\" ☃", data: Data(#"{"a":"b"}"#.utf8), metadata: metadata),
        ])
        let stored = try await database.store.read(stream: "awkward")
        #expect(stored.first?.metadata == metadata)
        #expect(stored.first?.type == "Type \"quoted\" ☃")
    }

    @Test func ofSixteenRacingAppendsWithOneExpectedVersionExactlyOneWins() async throws {
        let database = try await TestDatabase.make(maximumConnections: 16)
        let store = database.store
        _ = try await store.append(to: "raced", expected: .noStream, events: [event()])
        let outcomes = await withTaskGroup(of: Result<AppendResult, any Error>.self) { group in
            for writer in 0..<16 {
                group.addTask {
                    do {
                        return .success(try await store.append(to: "raced", expected: .exact(1), events: [
                            event("Written", #"{"writer":\#(writer)}"#), event("Written", #"{"writer":\#(writer)}"#),
                        ]))
                    } catch {
                        return .failure(error)
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let winners = outcomes.compactMap { try? $0.get() }
        #expect(winners.count == 1)
        for case .failure(let error) in outcomes {
            #expect((error as? StoreError)?.code == .versionConflict, "\(error)")
        }
        let stored = try await store.read(stream: "raced")
        #expect(stored.map(\.version) == [1, 2, 3])
        let writers = Set(stored.dropFirst().map { String(decoding: $0.data, as: UTF8.self) })
        #expect(writers.count == 1, "the stream holds exactly one batch")
    }

    @Test func aMismatchedExpectedVersionIsAConflictNamingTheVersionsAndWritesNothing() async throws {
        let database = try await TestDatabase.make()
        let store = database.store
        _ = try await store.append(to: "s", expected: .noStream, events: [event(), event()])
        let before = try await fingerprint(database)
        for (expected, current) in [(ExpectedVersion.noStream, 0), (.exact(5), 5), (.exact(1), 1)] {
            let error = await #expect(throws: StoreError.self) {
                try await store.append(to: "s", expected: expected, events: [event(), event()])
            }
            #expect(error?.code == .versionConflict)
            #expect(error?.message == "stream s is at version 2, not the expected \(current)")
        }
        let missing = await #expect(throws: StoreError.self) {
            try await store.append(to: "nobody", expected: .exact(3), events: [event()])
        }
        #expect(missing?.message == "stream nobody is at version 0, not the expected 3")
        #expect(try await fingerprint(database) == before)

        // The statement the engine pipelines fails the same way and takes its transaction's writes with it.
        let statement = try EventStore.appendStatement(to: "s", expected: .exact(1), events: [event()])
        let pipelined = await #expect(throws: (any Error).self) {
            try await database.pool.withConnection { connection in
                try connection.transaction(pipelinedWith: []) { _, _ in
                    ((), [("INSERT INTO events (event_id, stream_id, version, type, data) "
                        + "VALUES (gen_random_uuid(), 'other', 1, 'Noted', '{}')", []), statement])
                }
            }
        }
        #expect((pipelined.map(StoreError.classify) as? StoreError)?.code == .versionConflict)
        #expect(try await fingerprint(database) == before)
    }

    @Test func anEventIdAppendedTwiceIsStoredOnce() async throws {
        let database = try await TestDatabase.make()
        let store = database.store
        let id = UUID()
        let first = try await store.append(to: "s", expected: .noStream, events: [event(id: id)])
        let again = try await store.append(to: "s", expected: .noStream, events: [event(id: id)])
        #expect(again.duplicate)
        #expect(again.events == first.events)
        #expect(try await store.read(stream: "s").count == 1)

        // Racing retries of one append: every caller gets the stored event, and it is stored once.
        let racedId = UUID()
        let results = try await withThrowingTaskGroup(of: AppendResult.self) { group in
            for _ in 0..<8 {
                group.addTask { try await store.append(to: "r", expected: .any, events: [event(id: racedId)]) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(results.map(\.events)).count == 1)
        #expect(results.filter { !$0.duplicate }.count == 1)
        #expect(try await store.read(stream: "r").count == 1)
    }

    @Test func storedEventsCannotBeUpdatedOrDeleted() async throws {
        let database = try await TestDatabase.make()
        _ = try await database.store.append(to: "kept", expected: .noStream, events: [event()])
        for statement in ["UPDATE events SET type = 'Forged'", "DELETE FROM events", "TRUNCATE events"] {
            let error = await #expect(throws: PostgresError.self, "\(statement)") {
                try await database.pool.withConnection { try $0.execute(statement) }
            }
            #expect(error?.sqlState == "HO003")
            #expect(error?.message.hasPrefix("stored events are immutable") == true)
        }
        let events = try await database.store.read(stream: "kept")
        #expect(events.map(\.type) == ["Noted"])
    }

    @Test func badInputGetsAClearErrorAndWritesNothing() async throws {
        let database = try await TestDatabase.make()
        let store = database.store
        let stored = UUID()
        _ = try await store.append(to: "existing", expected: .noStream, events: [event(id: stored)])
        let before = try await fingerprint(database)

        let cases: [(String, StoreError.Code, String, () async throws -> Void)] = [
            ("invalid JSON", .invalidInput, "data is not valid JSON", {
                _ = try await store.append(to: "x", expected: .any, events: [event("Noted", "{not json")])
            }),
            ("empty stream id", .invalidInput, "the stream id is empty", {
                _ = try await store.append(to: "", expected: .any, events: [event()])
            }),
            ("oversized event", .invalidInput, "more than the limit of 1048576", {
                let big = "{\"blob\":\"" + String(repeating: "a", count: EventStore.maximumEventSize) + "\"}"
                _ = try await store.append(to: "x", expected: .any, events: [event("Big", big)])
            }),
            ("wrong expected version", .versionConflict, "stream existing is at version 1, not the expected 5", {
                _ = try await store.append(to: "existing", expected: .exact(5), events: [event()])
            }),
            ("stream that already exists", .versionConflict, "at version 1, not the expected 0", {
                _ = try await store.append(to: "existing", expected: .noStream, events: [event()])
            }),
            ("no events", .invalidInput, "at least one event", {
                _ = try await store.append(to: "x", expected: .any, events: [])
            }),
            ("empty type", .invalidInput, "the type must have 1 to 200 characters", {
                _ = try await store.append(to: "x", expected: .any, events: [event("")])
            }),
            ("an event id stored in another stream", .invalidInput, "already stored", {
                _ = try await store.append(to: "other", expected: .any, events: [event(id: stored), event()])
            }),
        ]
        for (name, code, message, body) in cases {
            let error = await #expect(throws: StoreError.self, "\(name)") { try await body() }
            #expect(error?.code == code, "\(name)")
            #expect(error?.message.contains(message) == true, "\(name): \(error?.message ?? "")")
        }
        #expect(try await fingerprint(database) == before)
    }

    @Test func aServerThatIsNotThereIsDatabaseUnavailable() async throws {
        let port = try LocalCluster.freeLoopbackPort()
        let store = EventStore(pool: ConnectionPool(ConnectionConfiguration(
            "host=127.0.0.1 port=\(port) dbname=handoff connect_timeout=2"
        )))
        let error = await #expect(throws: StoreError.self) {
            _ = try await store.append(to: "s", expected: .any, events: [event()])
        }
        #expect(error?.code == .databaseUnavailable)
        #expect(error?.message.contains("the database is unavailable") == true)
    }
}

@Suite struct MigrationTests {
    @Test func migratingTwiceAndFromTwoSessionsAtOnceAppliesEachMigrationOnce() async throws {
        let database = try await TestDatabase.make(migrated: false)
        let migrator = try Migrator(directory: Repository.migrations)
        let other = ConnectionPool(database.configuration, maximumConnections: 1)
        async let first = migrator.migrate(database.pool)
        async let second = migrator.migrate(other)
        let applied = try await [first, second]
        let all = migrator.migrations.map(\.version)
        #expect(applied.contains(all))
        #expect(applied.contains([]))
        #expect(try await migrator.migrate(database.pool) == [])
        #expect(try await database.column("SELECT count(*) FROM schema_migrations") == [String(all.count)])
        let states = try await migrator.status(database.pool)
        #expect(states.allSatisfy { $0.appliedAt != nil })
        other.close()
    }

    @Test func aMigrationChangedAfterItWasAppliedIsRefused() async throws {
        let database = try await TestDatabase.make()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for file in try FileManager.default.contentsOfDirectory(atPath: Repository.migrations.path) {
            var sql = try String(contentsOf: Repository.migrations.appendingPathComponent(file), encoding: .utf8)
            if file.hasPrefix("0001") { sql += "\n-- edited\n" }
            try sql.write(to: folder.appendingPathComponent(file), atomically: true, encoding: .utf8)
        }
        let error = await #expect(throws: StoreError.self) {
            try await Migrator(directory: folder).migrate(database.pool)
        }
        #expect(error?.code == .migrationFailed)
        #expect(error?.message.contains("was changed after it was applied") == true)
    }

    @Test func aMigrationThatFailsLeavesNothingBehind() async throws {
        let database = try await TestDatabase.make()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for file in try FileManager.default.contentsOfDirectory(atPath: Repository.migrations.path) {
            try FileManager.default.copyItem(
                at: Repository.migrations.appendingPathComponent(file), to: folder.appendingPathComponent(file)
            )
        }
        try "CREATE TABLE half_done (id int);\nSELECT 1/0;\n"
            .write(to: folder.appendingPathComponent("9999_broken.sql"), atomically: true, encoding: .utf8)
        let error = await #expect(throws: StoreError.self) {
            try await Migrator(directory: folder).migrate(database.pool)
        }
        #expect(error?.code == .migrationFailed)
        #expect(error?.message.contains("9999_broken failed: division by zero") == true)
        #expect(try await database.column("SELECT to_regclass('half_done')::text") == [nil])
        #expect(try await database.column("SELECT count(*) FROM schema_migrations WHERE version = 9999") == ["0"])
    }
}
