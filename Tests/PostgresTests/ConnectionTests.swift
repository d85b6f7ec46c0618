import Foundation
import HandoffTestSupport
import Postgres
import Testing
import Timestamps

@Suite struct ConnectionTests {
    @Test func parametersTravelApartFromTheSQLText() async throws {
        let database = try await TestDatabase.make()
        let hostile = "'); DROP TABLE events; --"
        let echoed = try await database.pool.withConnection { connection in
            try connection.query("SELECT $1::text, $2::bigint, $3::boolean, $4::text IS NULL", [hostile, Int64(42), true, nil])
                .rows[0]
        }
        #expect(try echoed.string(0) == hostile)
        #expect(try echoed.int64(1) == 42)
        #expect(try echoed.bool(2) == true)
        #expect(try echoed.bool(3) == true)
        #expect(try await database.column("SELECT to_regclass('events') IS NOT NULL") == ["t"])
    }

    @Test func serverErrorsCarrySQLStateAndMessage() async throws {
        let database = try await TestDatabase.make()
        let error = await #expect(throws: PostgresError.self) {
            try await database.pool.withConnection { connection in
                try connection.query("SELECT 1 / $1::int", [0])
            }
        }
        #expect(error?.kind == .server)
        #expect(error?.sqlState == "22012")
        #expect(error?.message == "division by zero")

        let syntax = await #expect(throws: PostgresError.self) {
            try await database.pool.withConnection { try $0.execute("SELEKT 1") }
        }
        #expect(syntax?.sqlState == "42601")
    }

    @Test func uuidsAndTimesReadByHandMatchFoundation() async throws {
        let database = try await TestDatabase.make()
        let rows = try await database.pool.withConnection { connection in
            try connection.query(
                """
                SELECT gen_random_uuid(), upper(gen_random_uuid()::text), t, round(extract(epoch FROM t) * 1000)::bigint
                  FROM generate_series(1, 300) g, LATERAL (SELECT now() - g * interval '1 day 1 hour 1.234567 second') x(t)
                """
            ).rows
        }
        for row in rows {
            #expect(try row.uuid(0) == UUID(uuidString: try row.string(0)))
            #expect(try row.uuid(1) == UUID(uuidString: try row.string(1)))
            let date = try row.date(2)
            // Microseconds from the server, read as the millisecond PostgreSQL itself rounds them to.
            #expect(Timestamp.milliseconds(date) == (try row.int64(3)))
            #expect(Timestamp.parse(Timestamp.format(date)) == date)
        }
        let refused = try await database.pool.withConnection { connection in
            try connection.query(
                "SELECT 'not a uuid', '0123456789ab-cdef-0123-456789abcdef0', '0123456g-89ab-cdef-0123-456789abcdef'"
            ).rows[0]
        }
        for column in 0..<3 {
            #expect(throws: PostgresError.self) { try refused.uuid(column) }
        }
    }

    @Test func copyLoadsRowsWithAwkwardTextAndNulls() async throws {
        let database = try await TestDatabase.make()
        let awkward = "tab\there\nnew line\r back\\slash \\N é ☃ {\"json\": [1]}"
        let stored = try await database.pool.withConnection { connection in
            try connection.execute("CREATE TABLE loaded (id int PRIMARY KEY, note text, data jsonb, at timestamptz)")
            var rows = CopyText()
            rows.field(1)
            rows.field(awkward)
            rows.field(#"{"a": "x\ty"}"#)
            rows.field(Date(timeIntervalSince1970: 1_790_000_000.25))
            rows.endRow()
            rows.field(2)
            rows.field(nil as String?)
            rows.field(nil as String?)
            rows.field(nil as Date?)
            rows.endRow()
            let count = try connection.copy(into: "loaded", columns: ["id", "note", "data", "at"], rows: rows.text)
            #expect(count == 2)
            return try connection.query("SELECT note, data->>'a', at, note IS NULL FROM loaded ORDER BY id").rows
        }
        #expect(try stored[0].string(0) == awkward)
        #expect(try stored[0].string(1) == "x\ty")
        #expect(try stored[0].date(2) == Date(timeIntervalSince1970: 1_790_000_000.25))
        #expect(try stored[1].bool(3) == true)
    }

    @Test func aRefusedCopyRowStoresNothingAndTheConnectionStaysUsable() async throws {
        let database = try await TestDatabase.make()
        let error = await #expect(throws: PostgresError.self) {
            try await database.pool.withConnection { connection in
                try connection.execute("CREATE TABLE loaded (id int PRIMARY KEY, data jsonb)")
                var rows = CopyText()
                rows.field(1)
                rows.field("{}")
                rows.endRow()
                rows.field(2)
                rows.field("{not json")
                rows.endRow()
                try connection.copy(into: "loaded", columns: ["id", "data"], rows: rows.text)
            }
        }
        #expect(error?.sqlState == "22P02")
        #expect(try await database.column("SELECT count(*) FROM loaded") == ["0"])
        #expect(try await database.column("SELECT 1") == ["1"])
    }

    @Test func aTransactionThatThrowsRollsBack() async throws {
        let database = try await TestDatabase.make()
        try await database.pool.withConnection { try $0.execute("CREATE TABLE notes (text text)") }
        struct Abandon: Error {}
        await #expect(throws: Abandon.self) {
            try await database.pool.withTransaction { connection in
                try connection.query("INSERT INTO notes VALUES ($1)", ["kept?"])
                throw Abandon()
            }
        }
        #expect(try await database.column("SELECT count(*) FROM notes") == ["0"])
        try await database.pool.withTransaction { connection in
            try connection.query("INSERT INTO notes VALUES ($1)", ["kept"])
        }
        #expect(try await database.column("SELECT text FROM notes") == ["kept"])
    }

    @Test func aPipelineRunsStatementsInOrderInOneRoundTrip() async throws {
        let database = try await TestDatabase.make()
        let values = try await database.pool.withConnection { connection in
            try connection.execute("CREATE TABLE piped (n int)")
            let results = try connection.pipeline([
                ("BEGIN", []),
                ("INSERT INTO piped VALUES ($1), ($2)", [1, 2]),
                ("SELECT sum(n) FROM piped", []),
            ])
            try connection.execute("COMMIT")
            return try results.last?.rows[0].int(0)
        }
        #expect(values == 3)

        // A failing statement: its error is thrown, the ones after it are skipped, the connection stays usable.
        let error = await #expect(throws: PostgresError.self) {
            try await database.pool.withConnection { connection in
                try connection.pipeline([("BEGIN", []), ("SELECT 1 / $1::int", [0]), ("SELECT 2", [])])
            }
        }
        #expect(error?.sqlState == "22012")
        let after = try await database.pool.withConnection { connection in
            try connection.pipeline([("SELECT $1::int + 1", [41])]).first?.rows[0].int(0)
        }
        #expect(after == 42)

        // A transaction whose BEGIN and COMMIT each travel with other statements.
        let before = try await database.pool.withTransaction(pipelinedWith: [("SELECT count(*) FROM piped", [])]) {
            _, results in
            let count = try results[0].rows[0].int(0)
            return (count, [("INSERT INTO piped VALUES ($1)", [count])])
        }
        #expect(before == 2)
        #expect(try await database.column("SELECT count(*) FROM piped") == ["3"])
        // A last statement that fails rolls the whole transaction back.
        await #expect(throws: PostgresError.self) {
            try await database.pool.withTransaction(pipelinedWith: [("INSERT INTO piped VALUES ($1)", [7])]) { _, _ in
                (0, [("INSERT INTO piped VALUES ($1::int / 0)", [1])])
            }
        }
        #expect(try await database.column("SELECT count(*) FROM piped") == ["3"])
    }

    @Test func aConnectionStringThatPointsNowhereIsAConnectionFailure() async throws {
        let port = try LocalCluster.freeLoopbackPort()
        let pool = ConnectionPool(ConnectionConfiguration("host=127.0.0.1 port=\(port) dbname=x connect_timeout=2"))
        let error = await #expect(throws: PostgresError.self) {
            try await pool.withConnection { try $0.execute("SELECT 1") }
        }
        #expect(error?.kind == .connectionFailed)
        #expect(error?.isConnectionProblem == true)
        #expect(error?.message.contains("\(port)") == true)
        #expect(pool.openConnections == 0)

        let malformed = #expect(throws: PostgresError.self) {
            try Connection(ConnectionConfiguration("postgres://[::1"))
        }
        #expect(malformed?.kind == .connectionFailed)
    }

    @Test func thePoolNeverOpensMoreThanItsLimit() async throws {
        let database = try await TestDatabase.make()
        let pool = ConnectionPool(database.configuration, maximumConnections: 3)
        let backends = try await withThrowingTaskGroup(of: Int32.self) { group in
            for _ in 0..<40 {
                group.addTask {
                    try await pool.withConnection { connection in
                        try connection.execute("SELECT pg_sleep(0.005)")
                        return connection.backendProcessID
                    }
                }
            }
            return try await group.reduce(into: Set<Int32>()) { $0.insert($1) }
        }
        #expect(backends.count <= 3)
        #expect(pool.openConnections <= 3)
        pool.close()
    }

    @Test func timestampsRoundTripToTheMillisecond() async throws {
        let database = try await TestDatabase.make()
        let date = Date(timeIntervalSince1970: 1_795_000_000.123456)
        let back = try await database.pool.withConnection { connection in
            try connection.query("SELECT $1::timestamptz", [date]).rows[0].date(0)
        }
        #expect(back == Timestamp.normalized(date))
        #expect(Timestamp.format(Date(timeIntervalSince1970: -1.5)) == "1969-12-31T23:59:58.500Z")
        #expect(Timestamp.parse("1969-12-31 23:59:58.5005+00") == Date(timeIntervalSince1970: -1.5))
        #expect(Timestamp.parse("2026-11-27 11:07:10.0005+00") == Date(timeIntervalSince1970: 1_795_777_630.001))
        #expect(Timestamp.parse("2026-11-27 11:07:10.5+01") == Date(timeIntervalSince1970: 1_795_774_030.5))
    }

    @Test func notificationsReachAListener() async throws {
        let database = try await TestDatabase.make()
        let listener = NotificationListener(database.configuration, channels: ["handoff_test"])
        defer { listener.stop() }
        var iterator = listener.notifications.makeAsyncIterator()
        // The listener subscribes on its own thread; notify until one arrives.
        let sender = Task {
            for attempt in 0..<200 {
                try await database.pool.withConnection { connection in
                    try connection.query("SELECT pg_notify($1, $2)", ["handoff_test", "hello \(attempt)"])
                }
                try await Task.sleep(for: .milliseconds(25))
            }
        }
        let received = await iterator.next()
        sender.cancel()
        #expect(received?.channel == "handoff_test")
        #expect(received?.payload.hasPrefix("hello ") == true)
    }
}

@Suite struct ServerRestartTests {
    @Test func thePoolRecoversAfterTheServerRestarts() async throws {
        let (cluster, connectionString) = try TestServer.privateCluster()
        let pool = ConnectionPool(ConnectionConfiguration(connectionString), maximumConnections: 4)
        let before = try await pool.withConnection { try $0.query("SELECT 1").rows[0].int(0) }
        #expect(before == 1)

        try cluster.stop()
        let whileDown = await #expect(throws: PostgresError.self) {
            try await pool.withConnection { try $0.query("SELECT 2") }
        }
        #expect(whileDown?.isConnectionProblem == true)

        _ = try cluster.start()
        let after = try await pool.withConnection { try $0.query("SELECT 3").rows[0].int(0) }
        #expect(after == 3)
        pool.close()
        try cluster.stop()
    }
}

@Suite("Times read by hand, against PostgreSQL")
struct TimestampParsingTests {
    /// Regression: `CivilTime` (now behind `Timestamp`) read `2026-02-31` as 3 March. Every date PostgreSQL refuses is refused, and every one
    /// it accepts reads as the same instant.
    @Test func civilTimeRefusesInvalidCalendarDatesAsPostgreSQLDoes() async throws {
        let database = try await TestDatabase.make(maximumConnections: 1)
        let texts = [
            "2026-02-31 10:00:00+00", "2026-02-29 00:00:00+00", "2024-02-29 00:00:00+00", "2100-02-29 00:00:00+00",
            "2000-02-29 12:00:00+00", "2026-04-31 00:00:00+00", "2026-06-30 23:59:59+00", "2026-09-31 08:00:00+00",
            "2026-11-31 00:00:00+00", "2026-12-31 23:59:59.999999+00", "2026-13-01 00:00:00+00", "2026-00-10 00:00:00+00",
            "2026-01-00 00:00:00+00", "2026-01-32 00:00:00+00", "2026-01-01 25:00:00+00", "2026-01-01 10:60:00+00",
        ]
        for text in texts {
            // PostgreSQL's answer: the instant, or nil when it refuses the text (22008, 22007).
            let postgres: String?
            do {
                postgres = try await database.column("SELECT extract(epoch FROM $1::text::timestamptz)::text", [text])
                    .first ?? nil
            } catch let error as PostgresError where error.sqlState?.hasPrefix("22") == true {
                postgres = nil
            }
            let mine = Timestamp.parse(text)
            if let postgres {
                let expected = try #require(Double(postgres), "\(text)")
                #expect(mine.map { abs($0.timeIntervalSince1970 - expected) <= 0.000_5 } == true, "\(text): \(String(describing: mine))")
            } else {
                #expect(mine == nil, "\(text) is refused by PostgreSQL but read as \(String(describing: mine))")
            }
        }
        #expect(Timestamp.parse("2026-02-31 10:00:00+00") == nil)
        #expect(Timestamp.parse("2026-02-28T10:00:00Z") != nil)
    }
}
