import Foundation
import Postgres

/// The plainest possible queue, for benchmarks to compare the engine with: one `SELECT … FOR UPDATE SKIP LOCKED`
/// and one `UPDATE` per task, on a table shaped like `tasks` (same columns and indexes).
public enum BaselineQueue {
    /// Creates (or empties) `baseline_tasks` and fills it with `count` open tasks spread over `roles`.
    public static func prepare(on connection: Connection, count: Int, roles: [String]) throws {
        try connection.execute("CREATE TABLE IF NOT EXISTS baseline_tasks (LIKE tasks INCLUDING ALL)")
        try connection.execute("TRUNCATE baseline_tasks")
        try connection.query(
            """
            INSERT INTO baseline_tasks (id, onboarding_id, path, step, role, title, instructions, state, checklist,
                                        outputs, created_at)
            SELECT 'b' || n || '-t1', 'b' || n, 'step', 'step', r.roles ->> (n % jsonb_array_length(r.roles)),
                   'A task', '', 'open', '[]', '[]', now() + n * interval '1 microsecond'
              FROM generate_series(1, $1) AS n, (SELECT $2::jsonb AS roles) AS r
            """,
            [count, "[" + roles.map { JSONText.quote($0) }.joined(separator: ",") + "]"])
        try connection.execute("ANALYZE baseline_tasks")
    }

    /// Claims the oldest open task of the roles and completes it, in one transaction; false when none is open.
    public static func claimAndComplete(on connection: Connection, roles: [String], user: String) throws -> Bool {
        try connection.transaction { connection in
            let row = try connection.query(
                """
                SELECT id FROM baseline_tasks
                 WHERE state = 'open' AND role IN (SELECT jsonb_array_elements_text($1::jsonb))
                 ORDER BY created_at, due_at, id
                 LIMIT 1
                 FOR UPDATE SKIP LOCKED
                """,
                [JSONText.array(roles)]
            ).rows.first
            guard let row else { return false }
            try connection.query(
                "UPDATE baseline_tasks SET state = 'completed', assignee = $2, completed_by = $2 WHERE id = $1",
                [try row.string(0), user])
            return true
        }
    }

    /// Refreshes the planner's statistics of the engine's tables, as autovacuum would in a database in use, so
    /// plans cached while the tables were empty (sequential scans) are made again.
    public static func analyze(on connection: Connection) throws {
        try connection.execute("ANALYZE events, tasks, onboardings, commands")
    }

    /// Creates an empty database for a benchmark run, from a connection to another database of the server.
    public static func createDatabase(on connection: Connection, _ name: String) throws {
        try connection.execute("DROP DATABASE IF EXISTS \(try connection.quoteIdentifier(name))")
        try connection.execute("CREATE DATABASE \(try connection.quoteIdentifier(name))")
    }

    public static func dropDatabase(on connection: Connection, _ name: String) throws {
        try connection.execute("DROP DATABASE IF EXISTS \(try connection.quoteIdentifier(name)) WITH (FORCE)")
    }
}
