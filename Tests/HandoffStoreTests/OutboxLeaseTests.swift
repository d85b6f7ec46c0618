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
            try connection.query("EXPLAIN " + Outbox.leaseSQL, [64, 15.0, Outbox.lineLockSpace]).rows
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
}
