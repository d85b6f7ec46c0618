import Foundation
import HandoffTestSupport
import Postgres
import Testing

/// The async calls: statements sent without blocking a thread, answers awaited in the socket poller.
@Suite struct NonBlockingTests {
    @Test func queriesAndPipelinesWithoutBlockingGiveTheSameAnswersAsTheBlockingCalls() async throws {
        let database = try await TestDatabase.make()
        let (single, piped, blocking) = try await database.pool.withAsyncConnection { connection in
            let single = try await connection.query("SELECT $1::int + 1, $2::text", [41, "naïve"]).rows[0]
            try await connection.query("CREATE TABLE polled (n int)")
            let piped = try await connection.pipeline([
                ("BEGIN", []),
                ("INSERT INTO polled VALUES ($1), ($2)", [1, 2]),
                ("SELECT sum(n) FROM polled", []),
                ("COMMIT", []),
            ])
            // The blocking calls still work on a connection that was used without blocking (and the other way).
            let blocking = try await database.pool.withConnection { other in
                try other.query("SELECT count(*) FROM polled").rows[0].int(0)
            }
            return (single, piped, blocking)
        }
        #expect(try single.int(0) == 42 && single.optionalString(1) == "naïve")
        #expect(piped.count == 4)
        #expect(try piped[2].rows[0].int(0) == 3)
        #expect(blocking == 2)
    }

    @Test func aFailingStatementInAPipelineThrowsItsErrorSkipsTheRestAndLeavesTheConnectionUsable() async throws {
        let database = try await TestDatabase.make(maximumConnections: 1)
        let error = await #expect(throws: PostgresError.self) {
            try await database.pool.withAsyncConnection { connection in
                try await connection.pipeline([("BEGIN", []), ("SELECT 1 / $1::int", [0]), ("SELECT 2", [])])
            }
        }
        #expect(error?.sqlState == "22012")
        let refused = await #expect(throws: PostgresError.self) {
            try await database.pool.withAsyncConnection { connection in
                try await connection.query("SELECT $1::text", ["before\u{0}after"])
            }
        }
        #expect(refused?.kind == .invalidArgument)
        // The one connection of the pool answers both ways afterwards.
        let after = try await database.pool.withAsyncConnection { connection in
            try await connection.query("SELECT $1::int + 1", [41]).rows[0].int(0)
        }
        #expect(after == 42)
        #expect(try await database.column("SELECT 'blocking'") == ["blocking"])
    }

    @Test func aTransactionWithoutBlockingCommitsWithItsLastStatementsAndRollsBackWhenTheyFail() async throws {
        let database = try await TestDatabase.make()
        try await database.pool.withConnection { try $0.execute("CREATE TABLE ledger (n int)") }
        let counted = try await database.pool.withAsyncTransaction(
            pipelinedWith: [("SELECT count(*) FROM ledger", [])]
        ) { connection, results in
            let count = try results[0].rows[0].int(0)
            try await connection.query("INSERT INTO ledger VALUES ($1)", [10])
            return (count, [("INSERT INTO ledger VALUES ($1)", [11])])
        }
        #expect(counted == 0)
        #expect(try await database.column("SELECT n FROM ledger ORDER BY n") == ["10", "11"])
        await #expect(throws: PostgresError.self) {
            try await database.pool.withAsyncTransaction(pipelinedWith: [("INSERT INTO ledger VALUES ($1)", [12])]) {
                _, _ in (0, [("INSERT INTO ledger VALUES ($1::int / 0)", [1])])
            }
        }
        #expect(try await database.column("SELECT n FROM ledger ORDER BY n") == ["10", "11"])
    }

    @Test func aParameterLargerThanTheSocketBufferGoesOutWhole() async throws {
        // 32 MiB: more than a loopback socket buffers, so libpq's output waits in the poller for room.
        let database = try await TestDatabase.make()
        let large = String(repeating: "abcdefgh", count: 4 * 1_048_576)
        let length = try await database.pool.withAsyncConnection { connection in
            try await connection.query("SELECT length($1::text), md5($1::text) = md5($2::text)", [large, large]).rows[0]
        }
        #expect(try length.int(0) == large.utf8.count)
        #expect(try length.bool(1) == true)
    }

    @Test func manyTasksRacingForFewConnectionsEachGetTheirOwnAnswers() async throws {
        let database = try await TestDatabase.make(maximumConnections: 4)
        let pool = database.pool
        let wrong = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<64 {
                group.addTask {
                    var wrong = 0
                    for step in 0..<25 {
                        let value = task * 1_000 + step
                        let answer = try await pool.withAsyncConnection { connection in
                            // Two statements per borrow, one of them a pipeline, with a sleep so answers interleave.
                            let slept = try await connection.query("SELECT $1::int, pg_sleep(0.001)", [value])
                            let piped = try await connection.pipeline([("SELECT $1::int * 2", [value])])
                            return (try slept.rows[0].int(0), try piped[0].rows[0].int(0))
                        }
                        if answer != (value, value * 2) { wrong += 1 }
                    }
                    return wrong
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(wrong == 0)
        #expect(pool.openConnections <= 4)
    }

    @Test func aSessionEndedByTheServerWhileAwaitingIsAConnectionProblemAndThePoolRecovers() async throws {
        let database = try await TestDatabase.make(maximumConnections: 2)
        let pool = database.pool
        let ended = Task {
            try await pool.withAsyncConnection { connection in
                _ = try await connection.query("SELECT pg_sleep(30), 'to be ended'")
            }
        }
        // Ends that session while its statement is awaited in the poller (found by its statement's text).
        var terminated = 0
        for _ in 0..<100 where terminated == 0 {
            try await Task.sleep(for: .milliseconds(50))
            terminated = try await pool.withConnection { connection in
                try connection.query(
                    """
                    SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                     WHERE datname = current_database() AND query LIKE '%to be ended%' AND pid <> pg_backend_pid()
                    """
                ).rows[0].int(0)
            }
        }
        #expect(terminated == 1)
        let error = await #expect(throws: PostgresError.self) { try await ended.value }
        #expect(error?.isConnectionProblem == true, "\(String(describing: error))")
        let after = try await pool.withAsyncConnection { connection in
            try await connection.query("SELECT 7").rows[0].int(0)
        }
        #expect(after == 7)
    }

    /// A caller that runs on the pool's executor (a loop of commands, as the bench's clients are) goes into and out
    /// of every lent body without a thread switch: its own code, the body and what follows all run on the poller's
    /// thread. A caller elsewhere comes back to its own threads after each body.
    @Test func aCallerOnThePoolsExecutorStaysOnThePollersThreadAcrossBorrows() async throws {
        let database = try await TestDatabase.make()
        let pool = database.pool
        let onExecutor = try await withTaskExecutorPreference(pool.executor) {
            try await withThrowingTaskGroup(of: [String].self) { group in
                for client in 0..<4 {
                    group.addTask {
                        var threads = [Self.threadName()]
                        for round in 0..<3 {
                            let answer = try await pool.withAsyncConnection { connection in
                                threads.append(Self.threadName())
                                let rows = try await connection.query("SELECT $1::int", [client * 10 + round]).rows
                                return try rows[0].int(0)
                            }
                            #expect(answer == client * 10 + round)
                            threads.append(Self.threadName())
                        }
                        return threads
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
        }
        #expect(onExecutor.count == 4 * 7)
        #expect(Set(onExecutor) == ["handoff-poller"], "\(Set(onExecutor))")

        var elsewhere: [String] = []
        for _ in 0..<3 {
            try await pool.withAsyncConnection { connection in
                elsewhere.append(Self.threadName())
                try await connection.query("SELECT 1")
            }
            elsewhere.append(Self.threadName())
        }
        // Inside the bodies: the poller. After each: back on Swift's own threads.
        let onThePoller = elsewhere.map { $0 == "handoff-poller" }
        #expect(onThePoller == [true, false, true, false, true, false], "\(elsewhere)")
    }

    /// The name Linux keeps for the calling thread.
    private static func threadName() -> String {
        ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
