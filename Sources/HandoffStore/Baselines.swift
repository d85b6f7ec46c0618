import Foundation
import Postgres

/// Raw-SQL versions of the store's work, for `handoff bench` to measure the engine against on the same database,
/// through the same libpq layer: what PostgreSQL can do when nothing but the statement itself runs.
public enum Baselines {
    /// Creates `baseline_events`, shaped like `events` (same columns, defaults, constraints and indexes, no
    /// triggers, no append function).
    public static func createEventTable(_ pool: ConnectionPool) async throws {
        try await pool.run { connection in
            try connection.execute(
                """
                DROP TABLE IF EXISTS baseline_events;
                CREATE TABLE baseline_events (LIKE events INCLUDING ALL);
                """
            )
        }
    }

    /// Inserts rows into `baseline_events` with plain multi-row `INSERT`s, one statement (and transaction).
    public static func insertEvents(on connection: Connection, streamId: String, firstVersion: Int64, events: [NewEvent])
        throws
    {
        let statement = insertEventsStatement(streamId: streamId, firstVersion: firstVersion, events: events)
        try connection.query(statement.sql, statement.parameters)
    }

    /// `insertEvents` without blocking a thread, as the engine's appends run.
    public static func insertEvents(on connection: Connection, streamId: String, firstVersion: Int64, events: [NewEvent])
        async throws
    {
        let statement = insertEventsStatement(streamId: streamId, firstVersion: firstVersion, events: events)
        try await connection.query(statement.sql, statement.parameters)
    }

    private static func insertEventsStatement(streamId: String, firstVersion: Int64, events: [NewEvent]) -> Statement {
        var parameters: [(any PostgresEncodable)?] = []
        var rows: [String] = []
        for (offset, event) in events.enumerated() {
            let base = parameters.count
            rows.append("($\(base + 1)::uuid, $\(base + 2), $\(base + 3)::bigint, $\(base + 4), $\(base + 5)::int, "
                + "$\(base + 6)::jsonb, $\(base + 7)::jsonb)")
            parameters += [
                event.id, streamId, firstVersion + Int64(offset), event.type, event.schemaVersion,
                String(decoding: event.data, as: UTF8.self),
                event.metadata.jsonText,
            ]
        }
        return (
            "INSERT INTO baseline_events (event_id, stream_id, version, type, schema_version, data, metadata) VALUES "
                + rows.joined(separator: ", "),
            parameters
        )
    }
}

// MARK: - Seeding the engine's tables for the benchmarks

extension Baselines {
    /// Copies an onboarding's stream `count` times, with new stream ids (`<source>-<tag><n>`, n from 1), new event
    /// ids, and the id replaced wherever the events, the `onboardings` row and the `tasks` rows name it: the very
    /// events and rows the engine wrote, for other onboardings. One statement per table.
    ///
    /// For benchmarks only, on a throwaway database: the engine never writes events this way.
    /// When each timer of the streams whose id starts with `prefix` fired (its `TimerFired`'s transaction time).
    public static func firedTimerTimes(on connection: Connection, streamPrefix prefix: String) throws -> [Date] {
        try connection.query(
            "SELECT recorded_at FROM events WHERE type = 'TimerFired' AND starts_with(stream_id, $1)", [prefix]
        ).rows.map { try $0.date(0) }
    }

    /// Each notification of a subscription: its id and when it was written (its transaction's time).
    public static func notificationTimes(on connection: Connection, subscription: String) throws -> [(String, Date)] {
        try connection.query(
            "SELECT id, created_at FROM notifications WHERE subscription_id = $1", [subscription]
        ).rows.map { (try $0.string(0), try $0.date(1)) }
    }

    /// How many notifications still wait for delivery.
    public static func pendingNotifications(on connection: Connection) throws -> Int {
        try connection.query("SELECT count(*) FROM notifications WHERE state = 'pending'").rows[0].int(0)
    }

    public static func cloneOnboarding(on connection: Connection, source: String, tag: String, first: Int, count: Int)
        throws
    {
        guard count > 0 else { return }
        let last = first + count - 1
        let newId = "($1 || '-' || $2 || lpad(g::text, 7, '0'))"
        try connection.transaction { connection in
            try connection.query(
                """
                INSERT INTO events (event_id, stream_id, version, type, schema_version, data, metadata, recorded_at)
                SELECT gen_random_uuid(), \(newId), e.version, e.type, e.schema_version,
                       replace(e.data::text, $1, \(newId))::jsonb, replace(e.metadata::text, $1, \(newId))::jsonb,
                       e.recorded_at
                  FROM generate_series($3::int, $4::int) g CROSS JOIN events e
                 WHERE e.stream_id = $1
                 ORDER BY g, e.version
                """,
                [source, tag, first, last])
            try connection.query(
                """
                INSERT INTO onboardings (id, workflow_id, workflow_version, content_hash, state, reason, current_steps,
                                         open_tasks, variables, inputs, timers, signals, started_at, updated_at, version,
                                         next_timer_at)
                SELECT \(newId), o.workflow_id, o.workflow_version, o.content_hash, o.state, o.reason,
                       o.current_steps, replace(o.open_tasks::text, $1, \(newId))::jsonb,
                       o.variables, o.inputs, replace(o.timers::text, $1, \(newId))::jsonb, o.signals, o.started_at,
                       o.updated_at, o.version, o.next_timer_at
                  FROM generate_series($3::int, $4::int) g CROSS JOIN onboardings o
                 WHERE o.id = $1
                """,
                [source, tag, first, last])
            try connection.query(
                """
                INSERT INTO tasks
                SELECT replace(t.id, $1, \(newId)), \(newId), t.path, t.step, t.role, t.title, t.instructions, t.state,
                       t.assignee, t.checklist, t.outputs, t.due_at, t.created_at, t.completed_by, t.result, t.checked,
                       t.escalated_roles
                  FROM generate_series($3::int, $4::int) g CROSS JOIN tasks t
                 WHERE t.onboarding_id = $1
                """,
                [source, tag, first, last])
        }
    }

    /// Lengthens a stream whose last two events are a claim and a release of one task by `count` more events,
    /// copies of those two in turn (claim, release, claim, …), and moves its `onboardings` row to the new version.
    ///
    /// For benchmarks only: a long, valid history made in one statement instead of `count` commands.
    public static func repeatClaimAndRelease(on connection: Connection, stream: String, count: Int) throws {
        guard count > 0 else { return }
        try connection.transaction { connection in
            let version = try connection.query(
                "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1", [stream]
            ).rows[0].int64(0)
            try connection.query(
                """
                INSERT INTO events (event_id, stream_id, version, type, schema_version, data, metadata, recorded_at)
                SELECT gen_random_uuid(), e.stream_id, $2::bigint + g, e.type, e.schema_version, e.data, e.metadata,
                       e.recorded_at
                  FROM generate_series(1, $3::int) g
                  JOIN events e ON e.stream_id = $1 AND e.version = $2::bigint - 1 + ((g - 1) % 2)
                 ORDER BY g
                """,
                [stream, version, count])
            try connection.query(
                "UPDATE onboardings SET version = $2 WHERE id = $1", [stream, version + Int64(count)])
        }
    }

    /// Refreshes the planner's statistics after bulk seeding.
    public static func analyze(on connection: Connection) throws {
        try connection.execute("ANALYZE events; ANALYZE onboardings; ANALYZE tasks")
    }

    /// How many events the log holds.
    public static func eventCount(on connection: Connection) throws -> Int64 {
        try connection.query("SELECT count(*) FROM events").rows[0].int64(0)
    }
}

// MARK: - The task queue's baseline

extension Baselines {
    /// Creates (or empties) `baseline_tasks`, shaped like `tasks` (same columns, constraints and indexes), and
    /// fills it with `count` open tasks of `role`, oldest first by id.
    public static func resetTaskTable(on connection: Connection, role: String, count: Int) throws {
        try connection.execute(
            """
            CREATE TABLE IF NOT EXISTS baseline_tasks (LIKE tasks INCLUDING ALL);
            TRUNCATE baseline_tasks;
            """
        )
        try connection.query(
            """
            INSERT INTO baseline_tasks (id, onboarding_id, path, step, role, title, instructions, state, checklist,
                                        outputs, created_at)
            SELECT 'q' || lpad(g::text, 8, '0') || '-t1', 'q' || lpad(g::text, 8, '0'), 'client-synced',
                   'client-synced', $1, 'A baseline task', '', 'open', '[]', '[]',
                   now() - interval '1 day' + g * interval '1 microsecond'
              FROM generate_series(1, $2::int) g
            """,
            [role, count])
        try connection.execute("ANALYZE baseline_tasks")
    }

    /// Claims the oldest open task of `role` in `baseline_tasks`, as a queue without an engine would: one
    /// transaction of `SELECT … FOR UPDATE SKIP LOCKED` and `UPDATE`. Returns the task's id, nil when none is open.
    public static func claimNextTask(on connection: Connection, role: String, user: String) throws -> String? {
        try connection.transaction { connection in
            guard let id = try connection.query(nextTaskSQL, [role]).rows.first?.string(0) else { return nil }
            try connection.query(claimTaskSQL, [id, user])
            return id
        }
    }

    /// `claimNextTask` without blocking a thread, as the engine's commands run: the same four round trips.
    public static func claimNextTask(on connection: Connection, role: String, user: String) async throws -> String? {
        try await connection.query("BEGIN")
        do {
            let id = try await connection.query(nextTaskSQL, [role]).rows.first?.string(0)
            if let id { try await connection.query(claimTaskSQL, [id, user]) }
            try await connection.query("COMMIT")
            return id
        } catch {
            if connection.isHealthy { _ = try? await connection.query("ROLLBACK") }
            throw error
        }
    }

    private static let nextTaskSQL = """
        SELECT id FROM baseline_tasks WHERE state = 'open' AND role = $1
         ORDER BY created_at, due_at, id LIMIT 1 FOR UPDATE SKIP LOCKED
        """

    private static let claimTaskSQL = "UPDATE baseline_tasks SET state = 'claimed', assignee = $2 WHERE id = $1"

    /// Claims one task of `baseline_tasks` by id if it is open and unlocked: `SELECT … FOR UPDATE SKIP LOCKED`
    /// and `UPDATE` in one transaction. Returns whether it was claimed.
    public static func claimTask(on connection: Connection, id: String, user: String) throws -> Bool {
        try connection.transaction { connection in
            guard try connection.query(
                "SELECT id FROM baseline_tasks WHERE id = $1 AND state = 'open' FOR UPDATE SKIP LOCKED", [id]
            ).rows.first != nil else { return false }
            try connection.query(claimTaskSQL, [id, user])
            return true
        }
    }

    /// Completes a claimed task of `baseline_tasks` and opens the next one (`next`) in one transaction: what a
    /// completion must at least write.
    public static func completeTask(on connection: Connection, id: String, opening next: String, role: String)
        throws
    {
        try connection.transaction { connection in
            try connection.query("UPDATE baseline_tasks SET state = 'completed' WHERE id = $1", [id])
            try connection.query(
                """
                INSERT INTO baseline_tasks (id, onboarding_id, path, step, role, title, instructions, state,
                                            checklist, outputs, created_at)
                VALUES ($1, $1, 'next', 'next', $2, 'A baseline task', '', 'open', '[]', '[]', now())
                """,
                [next, role])
        }
    }
}

// MARK: - Reading the log raw

extension Baselines {
    /// The raw read of one stream (the columns the engine reads, in version order), rows left undecoded.
    /// Returns how many rows came back.
    public static func readStream(on connection: Connection, stream: String) throws -> Int {
        try connection.query(
            "SELECT \(EventStore.columns) FROM events WHERE stream_id = $1 ORDER BY version", [stream]
        ).rows.count
    }

    /// A plain scan of the whole events table in pages of `pageSize`, in (stream, version) order (the order a
    /// rebuild needs), rows left undecoded; in one transaction. Returns how many rows were read.
    /// Reads every event in the global log's order, as a follower of the log from position zero reads them (the
    /// same gap-safe statement, in pages), rows left undecoded: an async rebuild's baseline.
    public static func scanLog(on connection: Connection, pageSize: Int = 5_000) throws -> Int64 {
        var after = LogPosition.start
        var total: Int64 = 0
        while true {
            let rows = try connection.query(
                EventStore.readAllSQL, [after.transactionId, after.position, pageSize]).rows
            total += Int64(rows.count)
            guard let last = rows.last, rows.count == pageSize else { return total }
            after = LogPosition(transactionId: try last.uint64(1), position: try last.int64(0))
        }
    }

    public static func scanEvents(on connection: Connection, pageSize: Int = 5_000) throws -> Int64 {
        try connection.transaction { connection in
            var after = ("", Int64(0))
            var total: Int64 = 0
            while true {
                let rows = try connection.query(
                    "SELECT \(EventStore.columns) FROM events WHERE (stream_id, version) > ($1, $2) "
                        + "ORDER BY stream_id, version LIMIT $3",
                    [after.0, after.1, pageSize]
                ).rows
                total += Int64(rows.count)
                guard let last = rows.last, rows.count == pageSize else { return total }
                after = (try last.string(3), try last.int64(4))
            }
        }
    }
}

// MARK: - pgbench scripts: the baselines' statements, for PostgreSQL's own client

extension Baselines {
    /// A pgbench script that appends `batch` rows to `baseline_events` per transaction, one multi-row `INSERT`
    /// like `insertEvents`, each client on streams of its own of 20 rows (`:run` names the measurement, `:n`
    /// counts the client's transactions from 0, `:type`, `:data` and `:metadata` are the rows' contents). The
    /// event id is made by the server (`gen_random_uuid()`): pgbench has no way to make one.
    public static func pgbenchAppendScript(batch: Int) -> String {
        let appendsPerStream = 20 / batch
        let rows = (1...batch).map { offset in
            "(gen_random_uuid(), 'pgbench-' || :run || '-' || :client_id || '-' || :s, :v::bigint + \(offset), "
                + ":type, 1, :data::jsonb, :metadata::jsonb)"
        }
        return """
            \\set s :n / \(appendsPerStream)
            \\set v (:n % \(appendsPerStream)) * \(batch)
            \\set n :n + 1
            INSERT INTO baseline_events (event_id, stream_id, version, type, schema_version, data, metadata) VALUES \
            \(rows.joined(separator: ", "));

            """
    }

    /// A pgbench script that claims the oldest open task of `:role` in `baseline_tasks` (the transaction of
    /// `claimNextTask`), then completes it and opens the next one (the transaction of `completeTask`): a claim and
    /// a completion in plain SQL, two transactions, as the engine's `nextTask` and `complete` are.
    public static let pgbenchClaimAndCompleteScript = """
        BEGIN;
        SELECT id FROM baseline_tasks WHERE state = 'open' AND role = :role ORDER BY created_at, due_at, id LIMIT 1 FOR UPDATE SKIP LOCKED \\gset
        UPDATE baseline_tasks SET state = 'claimed', assignee = 'pgbench-' || :client_id WHERE id = :id;
        COMMIT;
        BEGIN;
        UPDATE baseline_tasks SET state = 'completed' WHERE id = :id;
        INSERT INTO baseline_tasks (id, onboarding_id, path, step, role, title, instructions, state, checklist, outputs, created_at) VALUES (:id || '-n', :id, 'next', 'next', :role, 'A baseline task', '', 'open', '[]', '[]', now());
        COMMIT;

        """
}
