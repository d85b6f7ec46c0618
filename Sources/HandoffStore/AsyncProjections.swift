import Foundation
import HandoffJSON
import Postgres
import Timestamps

/// A task's row in the `timings` projection, as the events of one batch leave it.
public struct TaskTimingRow: Sendable, Equatable {
    public var taskId: String
    /// What `TaskOpened` gave; nil when the task was opened in an earlier batch (the row is there already).
    public var opened: Opened?
    public var claimedAt: Date?
    public var completedAt: Date?
    public var completedBy: String?
    /// `open`, `claimed`, `completed` or `cancelled`.
    public var state: String

    public struct Opened: Sendable, Equatable {
        public var onboardingId: String
        public var step: String
        public var role: String
        public var openedAt: Date
        public var dueAt: Date?

        public init(onboardingId: String, step: String, role: String, openedAt: Date, dueAt: Date?) {
            self.onboardingId = onboardingId
            self.step = step
            self.role = role
            self.openedAt = openedAt
            self.dueAt = dueAt
        }
    }

    public init(taskId: String, opened: Opened?, state: String) {
        self.taskId = taskId
        self.opened = opened
        self.state = state
    }
}

/// A variable an onboarding recorded (the latest value of one name in one batch).
public struct RecordedVariableRow: Sendable, Equatable {
    public var onboardingId: String
    public var name: String
    /// The value as JSON text.
    public var value: String
    public var path: String
    public var setBy: String?
    public var setAt: Date
    public var position: Int64

    public init(
        onboardingId: String, name: String, value: String, path: String, setBy: String?, setAt: Date, position: Int64
    ) {
        self.onboardingId = onboardingId
        self.name = name
        self.value = value
        self.path = path
        self.setBy = setBy
        self.setAt = setAt
        self.position = position
    }
}

/// One event as a line of the activity feed.
public struct ActivityRow: Sendable, Equatable {
    public var position: Int64
    public var onboardingId: String
    public var version: Int64
    public var type: String
    public var summary: String
    public var actor: String?
    public var recordedAt: Date

    public init(
        position: Int64, onboardingId: String, version: Int64, type: String, summary: String, actor: String?,
        recordedAt: Date
    ) {
        self.position = position
        self.onboardingId = onboardingId
        self.version = version
        self.type = type
        self.summary = summary
        self.actor = actor
        self.recordedAt = recordedAt
    }
}

/// A row of `recorded_variables`.
public struct RecordedVariable: Sendable, Equatable {
    public var company: String?
    public var onboardingId: String
    public var workflowId: String
    public var name: String
    /// The value as JSON text.
    public var value: String
    public var path: String
    public var setBy: String?
    public var setAt: Date
}

/// A row of `activity`.
public struct ActivityEntry: Sendable, Equatable {
    public var position: Int64
    public var onboardingId: String
    public var workflowId: String
    public var version: Int64
    public var type: String
    public var summary: String
    public var actor: String?
    public var recordedAt: Date
}

/// What one batch writes into one async projection.
public enum AsyncProjectionRows: Sendable, Equatable {
    case timings([TaskTimingRow])
    case variables([RecordedVariableRow])
    case activity([ActivityRow])
    /// The onboardings and tasks the batch's events touched: each is counted again where its row is now.
    case counts(onboardings: [String], tasks: [String])
}

/// Where one generation of an async projection is in the log, leased to the caller's process.
public struct ProjectionCheckpoint: Sendable, Equatable {
    public var name: String
    public var generation: Int
    public var position: LogPosition
    public var events: Int64
}

/// One generation of an async projection as `projections status` shows it.
public struct AsyncProjectionState: Sendable, Equatable {
    public var name: String
    public var generation: Int
    /// True for the generation readers see; false for a rebuild's next generation.
    public var live: Bool
    public var position: Int64
    public var events: Int64
    /// Committed events after the checkpoint (counted up to `AsyncProjections.lagCountLimit`), including those the
    /// gap-safe read holds back while an older transaction is still open.
    public var lagEvents: Int64
    /// The age of the oldest committed event not applied yet; 0 when none is waiting.
    public var lagSeconds: Double
    public var owner: String?
    public var leaseUntil: Date?
    public var appliedAt: Date?
    public var rebuiltAt: Date?
}

/// The async projections (migrations 0014 and 0016): `timings` (tasks' waiting and working times), `variables`
/// (what each onboarding recorded, by company), `activity` (the feed) and `counts` (the dashboard's figures).
///
/// Each generation is applied batch by batch: `lease` locks its checkpoint row for the caller's transaction and
/// checks that no other process holds the lease, `apply` writes the rows, and `advance` moves the checkpoint and
/// renews the lease, all in one transaction. The row lock serialises batches of one generation across processes
/// and the lease keeps one process on it at a time, so every event is applied once.
public enum AsyncProjections {
    public static let names = ["timings", "variables", "activity", "counts"]
    /// Lag is counted up to this many events (the count stays cheap however far behind a projection is).
    public static let lagCountLimit = 1_000_000

    /// The live generation's checkpoint, or a rebuild's (`live: false`), locked for the caller's transaction and
    /// leased to `owner`: nil when another process holds the lease or is applying a batch to it right now.
    ///
    /// The transaction's commit does not wait for the WAL flush (`synchronous_commit = off`): a crash can lose its
    /// last batches, but only with the checkpoint move they were committed with, so they are applied again.
    public static func lease(
        on connection: Connection, name: String, live: Bool = true, owner: String
    ) throws -> ProjectionCheckpoint? {
        let rows = try connection.query(
            """
            WITH unflushed AS (SELECT set_config('synchronous_commit', 'off', true))
            SELECT c.generation, c.transaction_id, c.position, c.events,
                   c.owner IS NOT NULL AND c.owner <> $2 AND c.lease_until > now()
              FROM projection_checkpoints c JOIN async_projections p USING (name) CROSS JOIN unflushed
             WHERE c.name = $1 AND (CASE WHEN $3 THEN c.generation = p.live_generation
                                        ELSE c.generation > p.live_generation END)
               FOR UPDATE OF c SKIP LOCKED
            """,
            [name, owner, live]
        ).rows
        guard let row = rows.first, !(try row.bool(4)) else { return nil }
        return ProjectionCheckpoint(
            name: name, generation: try row.int(0),
            position: LogPosition(transactionId: try row.uint64(1), position: try row.int64(2)),
            events: try row.int64(3))
    }

    /// Moves a checkpoint past `events` more events ending at `position` (unchanged when `events` is 0), and
    /// renews the caller's lease for `leaseSeconds`.
    public static func advance(
        on connection: Connection, _ checkpoint: ProjectionCheckpoint, to position: LogPosition, events: Int,
        lastRecordedAt: Date?, owner: String, leaseSeconds: Double
    ) throws {
        try connection.query(
            """
            UPDATE projection_checkpoints
               SET transaction_id = $3::xid8, position = $4, events = events + $5,
                   applied_at = CASE WHEN $5 > 0 THEN now() ELSE applied_at END,
                   last_recorded_at = coalesce($6, last_recorded_at),
                   owner = $7, lease_until = now() + make_interval(secs => $8)
             WHERE name = $1 AND generation = $2
            """,
            [
                checkpoint.name, checkpoint.generation, position.transactionId, position.position, events,
                lastRecordedAt, owner, leaseSeconds,
            ])
    }

    /// Gives up the caller's leases (a runner that stops lets another take over at once).
    public static func release(on connection: Connection, owner: String) throws {
        try connection.query(
            "UPDATE projection_checkpoints SET owner = NULL, lease_until = NULL WHERE owner = $1", [owner])
    }

    /// Writes one batch's rows into a generation.
    public static func apply(on connection: Connection, _ rows: AsyncProjectionRows, generation: Int) throws {
        for statement in statements(rows, generation: generation) {
            try connection.query(statement.sql, statement.parameters)
        }
    }

    /// The statements that write one batch's rows into a generation (none for an empty batch), for a caller that
    /// encodes them ahead of the transaction that runs them.
    public static func statements(_ rows: AsyncProjectionRows, generation: Int) -> [Statement] {
        var statements: [Statement] = []
        func add(_ sql: String, _ parameters: [(any PostgresEncodable)?]) { statements.append((sql, [generation] + parameters)) }
        switch rows {
        case .timings(let rows):
            let opened = rows.filter { $0.opened != nil }
            let changed = rows.filter { $0.opened == nil }
            if !opened.isEmpty { add(insertTimings, [encodeOpened(opened)]) }
            if !changed.isEmpty { add(updateTimings, [encodeChanged(changed)]) }
        case .variables(let rows):
            if !rows.isEmpty { add(upsertVariables, [encode(rows)]) }
        case .activity(let rows):
            if !rows.isEmpty { add(insertActivity, arrays(rows)) }
        case .counts(let onboardings, let tasks):
            if !onboardings.isEmpty { add(countOnboardings, [JSONText.array(onboardings)]) }
            if !tasks.isEmpty { add(countTasks, [JSONText.array(tasks)]) }
        }
        return statements
    }

    /// Moves each touched onboarding from the groups it was counted in to those its row is in now. Every CTE sees
    /// the rows as they were before the statement, so `counted` reads the old places while `placed` writes the
    /// new ones.
    static let countOnboardings = """
        WITH touched AS (SELECT DISTINCT jsonb_array_elements_text($2::jsonb) AS id),
        current AS (
            SELECT o.id, o.workflow_id, o.state, o.current_steps AS steps FROM onboardings o JOIN touched t ON t.id = o.id
        ),
        counted AS (
            SELECT c.onboarding_id AS id, c.workflow_id, c.state, c.steps
              FROM counted_onboardings c JOIN touched t ON c.generation = $1 AND c.onboarding_id = t.id
        ),
        deltas AS (
            SELECT workflow_id, state, step, sum(delta)::bigint AS delta FROM (
                SELECT r.workflow_id, r.state, s.step, -1 AS delta FROM counted r
                 CROSS JOIN LATERAL jsonb_array_elements_text(
                     CASE WHEN jsonb_array_length(r.steps) = 0 THEN '[""]'::jsonb ELSE r.steps END) AS s(step)
                UNION ALL
                SELECT r.workflow_id, r.state, s.step, 1 FROM current r
                 CROSS JOIN LATERAL jsonb_array_elements_text(
                     CASE WHEN jsonb_array_length(r.steps) = 0 THEN '[""]'::jsonb ELSE r.steps END) AS s(step)
            ) moves
             GROUP BY 1, 2, 3 HAVING sum(delta) <> 0
        ),
        moved AS (
            INSERT INTO onboarding_count_rows (generation, workflow_id, state, step, count)
            SELECT $1, workflow_id, state, step, delta FROM deltas
            ON CONFLICT (generation, workflow_id, state, step) DO UPDATE
               SET count = onboarding_count_rows.count + EXCLUDED.count
        ),
        placed AS (
            INSERT INTO counted_onboardings (generation, onboarding_id, workflow_id, state, steps)
            SELECT $1, id, workflow_id, state, steps FROM current
            ON CONFLICT (generation, onboarding_id) DO UPDATE
               SET workflow_id = EXCLUDED.workflow_id, state = EXCLUDED.state, steps = EXCLUDED.steps
        )
        SELECT 1
        """

    /// The same for tasks, by workflow, role, step and state.
    static let countTasks = """
        WITH touched AS (SELECT DISTINCT jsonb_array_elements_text($2::jsonb) AS id),
        current AS (
            SELECT t.id, coalesce(o.workflow_id, '') AS workflow_id, t.role, t.step, t.state
              FROM tasks t JOIN touched x ON x.id = t.id LEFT JOIN onboardings o ON o.id = t.onboarding_id
        ),
        counted AS (
            SELECT c.task_id AS id, c.workflow_id, c.role, c.step, c.state
              FROM counted_tasks c JOIN touched t ON c.generation = $1 AND c.task_id = t.id
        ),
        deltas AS (
            SELECT workflow_id, role, step, state, sum(delta)::bigint AS delta FROM (
                SELECT workflow_id, role, step, state, -1 AS delta FROM counted
                UNION ALL
                SELECT workflow_id, role, step, state, 1 FROM current
            ) moves
             GROUP BY 1, 2, 3, 4 HAVING sum(delta) <> 0
        ),
        moved AS (
            INSERT INTO task_count_rows (generation, workflow_id, role, step, state, count)
            SELECT $1, workflow_id, role, step, state, delta FROM deltas
            ON CONFLICT (generation, workflow_id, role, step, state) DO UPDATE
               SET count = task_count_rows.count + EXCLUDED.count
        ),
        placed AS (
            INSERT INTO counted_tasks (generation, task_id, workflow_id, role, step, state)
            SELECT $1, id, workflow_id, role, step, state FROM current
            ON CONFLICT (generation, task_id) DO UPDATE
               SET workflow_id = EXCLUDED.workflow_id, role = EXCLUDED.role, step = EXCLUDED.step,
                   state = EXCLUDED.state
        )
        SELECT 1
        """

    static let insertTimings = """
        INSERT INTO task_timing_rows (generation, task_id, onboarding_id, workflow_id, step, role, opened_at, due_at,
                                      claimed_at, completed_at, completed_by, state)
        SELECT $1, x.task_id, x.onboarding_id, coalesce(o.workflow_id, ''), x.step, x.role, x.opened_at, x.due_at,
               x.claimed_at, x.completed_at, x.completed_by, x.state
          FROM jsonb_to_recordset($2::jsonb) AS x(task_id text, onboarding_id text, step text, role text,
               opened_at timestamptz, due_at timestamptz, claimed_at timestamptz, completed_at timestamptz,
               completed_by text, state text)
          LEFT JOIN onboardings o ON o.id = x.onboarding_id
        """

    static let updateTimings = """
        UPDATE task_timing_rows t
           SET claimed_at = coalesce(t.claimed_at, x.claimed_at), completed_at = coalesce(x.completed_at, t.completed_at),
               completed_by = coalesce(x.completed_by, t.completed_by), state = x.state
          FROM jsonb_to_recordset($2::jsonb) AS x(task_id text, claimed_at timestamptz, completed_at timestamptz,
               completed_by text, state text)
         WHERE t.generation = $1 AND t.task_id = x.task_id
        """

    static let upsertVariables = """
        INSERT INTO recorded_variable_rows (generation, onboarding_id, name, workflow_id, company, value, path, set_by,
                                            set_at, position)
        SELECT $1, x.onboarding_id, x.name, coalesce(o.workflow_id, ''), o.inputs ->> 'company', x.value, x.path,
               x.set_by, x.set_at, x.position
          FROM jsonb_to_recordset($2::jsonb) AS x(onboarding_id text, name text, value jsonb, path text, set_by text,
               set_at timestamptz, position bigint)
          LEFT JOIN onboardings o ON o.id = x.onboarding_id
        ON CONFLICT (generation, onboarding_id, name) DO UPDATE
           SET value = EXCLUDED.value, path = EXCLUDED.path, set_by = EXCLUDED.set_by, set_at = EXCLUDED.set_at,
               position = EXCLUDED.position
        """

    /// The rows come as parallel arrays (cheaper for the server to read than a JSON document of objects), the
    /// times as milliseconds since 1970 (cheaper to read than their text: exact through `to_timestamp`, whose
    /// microseconds round to the very millisecond), and each onboarding's workflow is looked up once per batch,
    /// not once per event.
    static let insertActivity = """
        INSERT INTO activity_rows (generation, position, onboarding_id, workflow_id, version, type, summary, actor,
                                   recorded_at)
        WITH x AS (
            SELECT * FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[],
                                 $8::bigint[]) AS x(position, onboarding_id, version, type, summary, actor, recorded_ms)
        ),
        w AS (SELECT o.id, o.workflow_id FROM onboardings o WHERE o.id IN (SELECT DISTINCT onboarding_id FROM x))
        SELECT $1, x.position, x.onboarding_id, coalesce(w.workflow_id, ''), x.version, x.type, x.summary, x.actor,
               to_timestamp(x.recorded_ms::float8 / 1000)
          FROM x LEFT JOIN w ON w.id = x.onboarding_id
        """

    // MARK: Rebuilding

    /// Starts a rebuild of `name` into the next generation from position zero, or finds the one already under way
    /// (a rebuild that was stopped resumes from its checkpoint). Generation numbers are never used twice, so rows
    /// an older generation left (until `deleteStaleRows` takes them) are in nobody's way.
    public static func beginRebuild(on connection: Connection, name: String) throws {
        try connection.query(
            """
            INSERT INTO projection_checkpoints (name, generation)
            SELECT name, live_generation + 1 FROM async_projections p
             WHERE name = $1
               AND NOT EXISTS (SELECT 1 FROM projection_checkpoints c
                                WHERE c.name = p.name AND c.generation > p.live_generation)
            """,
            [name])
    }

    /// Locks the live generation's checkpoint for the caller's transaction whoever holds its lease, waiting for
    /// a batch being applied to it: a rebuild's swap holds it while it catches up and swaps.
    public static func lockLive(on connection: Connection, name: String) throws {
        try connection.query(
            "SELECT 1 FROM projection_checkpoints c JOIN async_projections p USING (name) "
                + "WHERE c.name = $1 AND c.generation = p.live_generation FOR UPDATE OF c",
            [name])
    }

    /// Makes the rebuilt generation live and drops the old one's checkpoint, in the caller's transaction (which
    /// holds both checkpoints' locks: `lease` of the rebuild's, `lockLive`).
    public static func swap(on connection: Connection, name: String, to generation: Int) throws {
        try connection.query(
            "DELETE FROM projection_checkpoints c USING async_projections p "
                + "WHERE c.name = $1 AND p.name = $1 AND c.generation = p.live_generation",
            [name])
        try connection.query(
            "UPDATE async_projections SET live_generation = $2, rebuilt_at = now() WHERE name = $1", [name, generation])
        try connection.query(
            "UPDATE projection_checkpoints SET owner = NULL, lease_until = NULL WHERE name = $1 AND generation = $2",
            [name, generation])
    }

    /// Deletes up to `limit` rows of each of `name`'s tables that belong to a generation older than the live one
    /// (the old generation after a swap: no reader sees them), and returns how many went. Generations only grow,
    /// so the rows go through the primary key's range below the live generation.
    public static func deleteStaleRows(on connection: Connection, name: String, limit: Int) throws -> Int {
        var deleted = 0
        for table in try rowTables(name) {
            deleted += try connection.query(
                """
                WITH stale AS (
                    SELECT r.ctid FROM \(table) r
                     WHERE r.generation < (SELECT live_generation FROM async_projections WHERE name = $1)
                     LIMIT $2
                ), gone AS (DELETE FROM \(table) r USING stale WHERE r.ctid = stale.ctid RETURNING 1)
                SELECT count(*) FROM gone
                """,
                [name, limit]
            ).rows[0].int(0)
        }
        return deleted
    }

    /// The tables holding a projection's rows, the one readers compare first.
    static func rowTables(_ name: String) throws -> [String] {
        switch name {
        case "timings": ["task_timing_rows"]
        case "variables": ["recorded_variable_rows"]
        case "activity": ["activity_rows"]
        case "counts": ["onboarding_count_rows", "task_count_rows", "counted_onboardings", "counted_tasks"]
        default: throw StoreError(.invalidInput, "no async projection '\(name)'")
        }
    }

    // MARK: Status

    static let statusSQL = """
        SELECT c.name, c.generation, c.generation = p.live_generation, c.position, c.events, lag.events,
               coalesce(extract(epoch FROM now() - oldest.recorded_at), 0)::float8, c.owner, c.lease_until,
               c.applied_at, p.rebuilt_at
          FROM projection_checkpoints c
          JOIN async_projections p USING (name)
         CROSS JOIN LATERAL (
               SELECT count(*) AS events FROM (
                   SELECT 1 FROM all_events e
                    WHERE (e.transaction_id, e.position) > (c.transaction_id, c.position)
                    LIMIT \(lagCountLimit)) waiting) lag
          LEFT JOIN LATERAL (
               SELECT e.recorded_at FROM all_events e
                WHERE (e.transaction_id, e.position) > (c.transaction_id, c.position)
                ORDER BY e.transaction_id, e.position LIMIT 1) oldest ON true
         ORDER BY array_position(ARRAY['timings', 'variables', 'activity', 'counts'], c.name), c.generation
        """

    /// Every generation's checkpoint and lag: one index probe and one bounded index range per generation (the lag
    /// count costs what the lag is, never a scan of the log).
    public static func status(on connection: Connection) throws -> [AsyncProjectionState] {
        try connection.query(statusSQL).rows.map { row in
            AsyncProjectionState(
                name: try row.string(0), generation: try row.int(1), live: try row.bool(2), position: try row.int64(3),
                events: try row.int64(4), lagEvents: try row.int64(5), lagSeconds: max(0, try row.double(6)),
                owner: row.optionalString(7), leaseUntil: try row.optionalDate(8), appliedAt: try row.optionalDate(9),
                rebuiltAt: try row.optionalDate(10))
        }
    }

    // MARK: Reading

    /// Recorded variables, by company then onboarding then name; `company` and `name` narrow them.
    public static func variables(
        on connection: Connection, company: String?, name: String?, limit: Int
    ) throws -> [RecordedVariable] {
        try connection.query(variablesSQL, [company, name, limit]).rows.map { row in
            RecordedVariable(
                company: row.optionalString(0), onboardingId: try row.string(1), workflowId: try row.string(2),
                name: try row.string(3), value: try row.string(4), path: try row.string(5),
                setBy: row.optionalString(6), setAt: try row.date(7))
        }
    }

    static let variablesSQL = """
        SELECT company, onboarding_id, workflow_id, name, value, path, set_by, set_at
          FROM recorded_variables
         WHERE ($1::text IS NULL OR company = $1) AND ($2::text IS NULL OR name = $2)
         ORDER BY company NULLS LAST, onboarding_id, name
         LIMIT $3
        """

    static let activitySQL = """
        SELECT position, onboarding_id, workflow_id, version, type, summary, actor, recorded_at
          FROM activity ORDER BY position DESC LIMIT $1
        """

    /// The activity feed, newest first.
    public static func activity(on connection: Connection, limit: Int) throws -> [ActivityEntry] {
        try connection.query(activitySQL, [limit]).rows.map { row in
            ActivityEntry(
                position: try row.int64(0), onboardingId: try row.string(1), workflowId: try row.string(2),
                version: try row.int64(3), type: try row.string(4), summary: try row.string(5),
                actor: row.optionalString(6), recordedAt: try row.date(7))
        }
    }

    /// A generation's rows in a stable order and one text form, to compare a projection with a rebuild.
    public static func contents(on connection: Connection, name: String, generation: Int? = nil) throws -> [String] {
        let generationSQL = generation.map(String.init)
            ?? "(SELECT live_generation FROM async_projections WHERE name = '\(name)')"
        var contents: [String] = []
        for table in try rowTables(name) {
            // Counts of 0 are where a group was and is no more: a rebuild never writes them.
            let filter = table.hasSuffix("count_rows") ? " AND count <> 0" : ""
            contents += try connection.query(
                "SELECT (to_jsonb(r) - 'generation')::text AS row FROM \(table) r WHERE generation = \(generationSQL)"
                    + filter + " ORDER BY 1"
            ).rows.map { try $0.string(0) }
        }
        return contents
    }

    // MARK: Coding

    static func encodeOpened(_ rows: [TaskTimingRow]) -> String {
        var writer = JSONWriter(capacity: 256 * rows.count)
        writer.beginArray()
        for row in rows {
            guard let opened = row.opened else { continue }
            writer.beginObject()
            writer.key("task_id"); writer.string(row.taskId)
            writer.key("onboarding_id"); writer.string(opened.onboardingId)
            writer.key("step"); writer.string(opened.step)
            writer.key("role"); writer.string(opened.role)
            writer.key("opened_at"); writer.string(Timestamp.format(opened.openedAt))
            writer.key("due_at"); writer.string(opened.dueAt.map(Timestamp.format))
            writeChange(row, to: &writer)
            writer.endObject()
        }
        writer.endArray()
        return writer.text
    }

    static func encodeChanged(_ rows: [TaskTimingRow]) -> String {
        var writer = JSONWriter(capacity: 128 * rows.count)
        writer.beginArray()
        for row in rows {
            writer.beginObject()
            writer.key("task_id"); writer.string(row.taskId)
            writeChange(row, to: &writer)
            writer.endObject()
        }
        writer.endArray()
        return writer.text
    }

    private static func writeChange(_ row: TaskTimingRow, to writer: inout JSONWriter) {
        writer.key("claimed_at"); writer.string(row.claimedAt.map(Timestamp.format))
        writer.key("completed_at"); writer.string(row.completedAt.map(Timestamp.format))
        writer.key("completed_by"); writer.string(row.completedBy)
        writer.key("state"); writer.string(row.state)
    }

    static func encode(_ rows: [RecordedVariableRow]) -> String {
        var writer = JSONWriter(capacity: 192 * rows.count)
        writer.beginArray()
        for row in rows {
            writer.beginObject()
            writer.key("onboarding_id"); writer.string(row.onboardingId)
            writer.key("name"); writer.string(row.name)
            writer.key("value"); writer.raw(row.value)
            writer.key("path"); writer.string(row.path)
            writer.key("set_by"); writer.string(row.setBy)
            writer.key("set_at"); writer.string(Timestamp.format(row.setAt))
            writer.key("position"); writer.integer(row.position)
            writer.endObject()
        }
        writer.endArray()
        return writer.text
    }

    /// The rows as one array literal per column, in `insertActivity`'s parameter order.
    static func arrays(_ rows: [ActivityRow]) -> [(any PostgresEncodable)?] {
        var positions = "{", onboardings = "{", versions = "{", types = "{", summaries = "{", actors = "{", times = "{"
        summaries.reserveCapacity(rows.reduce(2) { $0 + $1.summary.utf8.count + 4 })
        for (index, row) in rows.enumerated() {
            if index > 0 {
                positions += ","; onboardings += ","; versions += ","; types += ","; summaries += ","; actors += ","
                times += ","
            }
            positions += String(row.position)
            EventStore.appendArrayElement(row.onboardingId, to: &onboardings)
            versions += String(row.version)
            EventStore.appendArrayElement(row.type, to: &types)
            EventStore.appendArrayElement(row.summary, to: &summaries)
            if let actor = row.actor { EventStore.appendArrayElement(actor, to: &actors) } else { actors += "NULL" }
            times += String(Timestamp.milliseconds(row.recordedAt))
        }
        return [positions + "}", onboardings + "}", versions + "}", types + "}", summaries + "}", actors + "}", times + "}"]
    }
}
