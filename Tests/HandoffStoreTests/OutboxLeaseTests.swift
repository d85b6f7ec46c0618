import Foundation
import HandoffTestSupport
import Postgres
import Testing

@testable import HandoffStore

@Suite("The outbox's lease")
struct OutboxLeaseTests {
    /// Regression: planned from the statistics of a table analyzed while empty, the check for a line's earlier
    /// pending rows became an anti-join that scanned every pending row for each one, and the dispatcher stalled
    /// until autovacuum analyzed the table again.
    @Test func aLeasePlannedFromAnEmptyTablesStatisticsLooksUpEachCandidatesLine() async throws {
        let database = try await TestDatabase.make()
        _ = try await database.column("ANALYZE notifications")
        _ = try await database.column(
            """
            INSERT INTO notifications (id, subscription_id, onboarding_id, kind, body, state)
            SELECT 'msg_d' || g, 'wh_1', 'o' || (g % 5000), 'task.opened', '{}', 'delivered'
              FROM generate_series(1, 30000) g
            """)
        _ = try await database.column(
            """
            INSERT INTO notifications (id, subscription_id, onboarding_id, kind, body)
            SELECT 'msg_p' || g, 'wh_1', 'q' || (g % 3000), 'task.opened', '{}' FROM generate_series(1, 6000) g
            """)
        let plan = try await database.pool.withConnection { connection in
            try connection.query("EXPLAIN " + Outbox.leaseSQL, [64, 15.0, Outbox.lineLockSpace, 128]).rows
                .compactMap { $0.values[0] }.joined(separator: "\n")
        }
        #expect(!plan.contains("Anti Join"), "\(plan)")
        #expect(plan.contains("Index Cond: ((COALESCE(subscription_id, endpoint) = COALESCE(n_1.subscription_id, n_1.endpoint))"),
                "a line's earlier rows are not looked up by line: \(plan)")
        // And on that table the lease takes the oldest row of the first 64 lines, each once.
        let leased = try await database.pool.withConnection { connection in
            try Outbox.lease(on: connection, limit: 64, lease: 15)
        }
        #expect(leased.map(\.id) == (1...64).map { "msg_p\($0)" })
    }

    /// Regression: with no statistics on the outbox (a fresh database, before autovacuum's first analyze of it),
    /// or statistics from when it was nearly empty, the planner counts a few pending rows where there are
    /// thousands. The lease then read every pending row (with a bitmap scan, which reads the entries of delivered
    /// rows again every time) and took each one's line lock before sorting them (every line held from the other
    /// dispatchers until it committed), and a settle of a few deliveries joined them
    /// with the whole table: with thousands of notifications a second the dispatcher fell further behind with
    /// every row delivered, until the table was analyzed.
    @Test func theLeaseAndTheSettleTouchOnlyTheirRowsWhenStatisticsUndercountThePending() async throws {
        let database = try await TestDatabase.make()
        // No analyze may come while the test runs: the statistics must stay those of the empty table.
        _ = try await database.column("ALTER TABLE notifications SET (autovacuum_enabled = false)")
        _ = try await database.column(
            """
            INSERT INTO notifications (id, subscription_id, onboarding_id, kind, body)
            SELECT 'msg_p' || g, 'wh_1', 'q' || g, 'task.opened', '{}' FROM generate_series(1, 20000) g
            """)
        let connection = try database.connect()
        // The candidates come in order from the index of pending rows: a bitmap scan would read every entry of
        // it again on every lease, the delivered rows' too.
        let plan = try connection.transaction { connection in
            let statements = Outbox.leaseStatements(limit: 4, lease: 15)
            try connection.query(statements[0].sql, statements[0].parameters)
            return try connection.query("EXPLAIN " + statements[1].sql, statements[1].parameters).rows
                .compactMap { $0.values[0] }.joined(separator: "\n")
        }
        #expect(plan.contains("Index Scan using notifications_pending"), "\(plan)")
        #expect(!plan.contains("Bitmap"), "\(plan)")
        var leased: [LeasedNotification] = []
        let locks = try connection.transaction { connection in
            leased = try Outbox.lease(on: connection, limit: 4, lease: 15)
            return try connection.query(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            ).rows[0].int(0)
        }
        #expect(leased.map(\.id) == ["msg_p1", "msg_p2", "msg_p3", "msg_p4"])
        #expect(locks <= 8, "a lease of 4 took \(locks) line locks")
        // The rows the settle read, from its transaction's own counters (no waiting for the statistics), on a
        // connection of its own: a backend's counters not yet reported include its earlier transactions'.
        let settling = try database.connect()
        let read = try settling.transaction { connection in
            try Outbox.settle(
                on: connection, delivered: [(id: "msg_p1", status: 200), (id: "msg_p2", status: 204)],
                untried: ["msg_p3", "msg_p4"])
            return try connection.query(
                """
                SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)
                  FROM pg_stat_xact_user_tables WHERE relname = 'notifications'
                """
            ).rows[0].int(0)
        }
        #expect(read < 20, "a settle of 4 read \(read) of 20,000 rows")
        let states = try await connection.query(
            "SELECT id, state, attempts FROM notifications WHERE seq <= 4 ORDER BY id"
        ).rows.map { "\(try $0.string(0)) \(try $0.string(1)) \(try $0.int(2))" }
        #expect(states == ["msg_p1 delivered 1", "msg_p2 delivered 1", "msg_p3 pending 0", "msg_p4 pending 0"])
    }

    /// Regression: a lease skipped a line's earlier row it could not take and leased the later ones, which were
    /// then delivered before it. The earlier row was locked by another transaction (`SKIP LOCKED` passes over it),
    /// or leased by a dispatcher that committed after the lease's snapshot: the line's lock was free again, the
    /// candidates came from the snapshot, and only the earlier row, locked and checked again, was left out.
    @Test func aLeaseNeverTakesALinesLaterRowsWithoutItsEarlierOnes() async throws {
        let database = try await TestDatabase.make()
        _ = try await database.column(
            """
            INSERT INTO notifications (id, subscription_id, onboarding_id, kind, body)
            VALUES ('msg_a1', 'wh_1', 'a', 'task.opened', '{}'), ('msg_a2', 'wh_1', 'a', 'task.claimed', '{}'),
                   ('msg_b1', 'wh_1', 'b', 'task.opened', '{}'), ('msg_a3', 'wh_1', 'a', 'task.completed', '{}')
            """)
        let holder = try database.connect()
        let dispatcher = try database.connect()
        try await holder.query("BEGIN")
        try await holder.query("SELECT 1 FROM notifications WHERE id = 'msg_a1' FOR UPDATE")
        let whileHeld = try Outbox.lease(on: dispatcher, limit: 10, lease: 15)
        #expect(whileHeld.map(\.id) == ["msg_b1"], "line a's later rows leased without its first")
        let attempts = try await dispatcher.query(
            "SELECT id, attempts, leased_until IS NOT NULL FROM notifications ORDER BY seq"
        ).rows.map { "\(try $0.string(0)) \(try $0.int(1)) \(try $0.bool(2))" }
        #expect(attempts == ["msg_a1 0 false", "msg_a2 0 false", "msg_b1 1 true", "msg_a3 0 false"])
        try await holder.query("ROLLBACK")
        let after = try Outbox.lease(on: dispatcher, limit: 10, lease: 15)
        #expect(after.map(\.id) == ["msg_a1", "msg_a2", "msg_a3"])
    }
}
