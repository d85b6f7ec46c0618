import Foundation
import HandoffJSON
import Postgres
import Timestamps

/// A row of the `onboardings` projection: one onboarding's status, as its stream folds to.
///
/// JSON columns travel as JSON text; the service that computes the rows also decodes them.
public struct OnboardingRecord: Sendable, Equatable {
    public var id: String
    public var workflowId: String
    public var workflowVersion: Int
    public var contentHash: String
    /// `active`, `completed`, `cancelled` or `failed`.
    public var state: String
    public var reason: String?
    public var currentSteps: String
    public var openTasks: String
    public var variables: String
    public var inputs: String
    public var timers: String
    public var signals: String
    public var startedAt: Date
    public var updatedAt: Date
    public var version: Int64
    /// The earliest `dueAt` of `timers`, nil when none is pending: what the timer scheduler's index orders by.
    public var nextTimerAt: Date?

    public init(
        id: String, workflowId: String, workflowVersion: Int, contentHash: String, state: String, reason: String?,
        currentSteps: String, openTasks: String, variables: String, inputs: String, timers: String, signals: String,
        startedAt: Date, updatedAt: Date, version: Int64, nextTimerAt: Date?
    ) {
        self.id = id
        self.workflowId = workflowId
        self.workflowVersion = workflowVersion
        self.contentHash = contentHash
        self.state = state
        self.reason = reason
        self.currentSteps = currentSteps
        self.openTasks = openTasks
        self.variables = variables
        self.inputs = inputs
        self.timers = timers
        self.signals = signals
        self.startedAt = startedAt
        self.updatedAt = updatedAt
        self.version = version
        self.nextTimerAt = nextTimerAt
    }
}

/// A row of the `tasks` projection (the task queue).
public struct TaskRecord: Sendable, Equatable {
    public var id: String
    public var onboardingId: String
    public var path: String
    public var step: String
    public var role: String
    public var title: String
    public var instructions: String
    /// `open`, `claimed`, `completed` or `cancelled`.
    public var state: String
    public var assignee: String?
    public var checklist: String
    public var outputs: String
    public var dueAt: Date?
    public var createdAt: Date
    public var completedBy: String?
    /// The outputs the task was completed with (JSON object), once completed.
    public var result: String?
    /// The ticked checklist item ids (JSON array), once completed.
    public var checked: String?
    /// Roles an escalation added (JSON array): they may claim the task too.
    public var escalatedRoles: String

    public init(
        id: String, onboardingId: String, path: String, step: String, role: String, title: String,
        instructions: String, state: String, assignee: String?, checklist: String, outputs: String, dueAt: Date?,
        createdAt: Date, completedBy: String?, result: String?, checked: String?, escalatedRoles: String = "[]"
    ) {
        self.id = id
        self.onboardingId = onboardingId
        self.path = path
        self.step = step
        self.role = role
        self.title = title
        self.instructions = instructions
        self.state = state
        self.assignee = assignee
        self.checklist = checklist
        self.outputs = outputs
        self.dueAt = dueAt
        self.createdAt = createdAt
        self.completedBy = completedBy
        self.result = result
        self.checked = checked
        self.escalatedRoles = escalatedRoles
    }
}

/// Which onboardings a listing returns; nil matches everything.
public struct OnboardingQuery: Sendable, Equatable {
    public var workflowId: String?
    public var state: String?
    /// A step path some branch waits in now.
    public var step: String?
    /// Inputs or variables with these values, every pair (`company` → `Fabrikam`): an input or a variable of that
    /// name holds the value, as text or as the number or boolean the text spells.
    public var values: [(name: String, value: String)]

    public init(
        workflowId: String? = nil, state: String? = nil, step: String? = nil,
        values: [(name: String, value: String)] = []
    ) {
        self.workflowId = workflowId
        self.state = state
        self.step = step
        self.values = values
    }

    public static func == (lhs: OnboardingQuery, rhs: OnboardingQuery) -> Bool {
        lhs.workflowId == rhs.workflowId && lhs.state == rhs.state && lhs.step == rhs.step
            && lhs.values.map(\.name) == rhs.values.map(\.name) && lhs.values.map(\.value) == rhs.values.map(\.value)
    }
}

/// Which tasks a listing returns; empty or nil matches everything.
public struct TaskQuery: Sendable, Equatable {
    public var roles: [String]
    public var states: [String]
    public var onboardingId: String?
    public var assignee: String?
    /// Only open or claimed tasks whose due time is before this (the engine's now): the overdue ones.
    public var dueBefore: Date?

    public init(
        roles: [String] = [], states: [String] = [], onboardingId: String? = nil, assignee: String? = nil,
        dueBefore: Date? = nil
    ) {
        self.roles = roles
        self.states = states
        self.onboardingId = onboardingId
        self.assignee = assignee
        self.dueBefore = dueBefore
    }
}

/// How far one projection is behind the log.
public struct ProjectionState: Sendable, Equatable {
    public var name: String
    /// The global log position of the newest event reflected.
    public var position: Int64
    public var lagEvents: Int64
    public var lagSeconds: Double
    /// `live` (updated inline with every append) or `rebuilding`.
    public var state: String
    public var rebuiltAt: Date?
}

/// The inline projections: the `onboardings` status table and the `tasks` queue.
///
/// Rows are computed by the service from each onboarding's folded stream and written here inside the transaction
/// that appends the events, so they commit together or not at all. Every function runs on the caller's
/// connection (and transaction); none opens its own.
public enum Projections {
    /// The projections' names, as `projections status` and `rebuild` use them.
    public static let names = ["onboardings", "tasks"]

    static let onboardingColumns = [
        ("id", "text"), ("workflow_id", "text"), ("workflow_version", "integer"), ("content_hash", "text"),
        ("state", "text"), ("reason", "text"), ("current_steps", "jsonb"), ("open_tasks", "jsonb"),
        ("variables", "jsonb"), ("inputs", "jsonb"), ("timers", "jsonb"), ("signals", "jsonb"),
        ("started_at", "timestamptz"), ("updated_at", "timestamptz"), ("version", "bigint"),
        ("next_timer_at", "timestamptz"),
    ]

    static let taskColumns = [
        ("id", "text"), ("onboarding_id", "text"), ("path", "text"), ("step", "text"), ("role", "text"),
        ("title", "text"), ("instructions", "text"), ("state", "text"), ("assignee", "text"),
        ("checklist", "jsonb"), ("outputs", "jsonb"), ("due_at", "timestamptz"), ("created_at", "timestamptz"),
        ("completed_by", "text"), ("result", "jsonb"), ("checked", "jsonb"), ("escalated_roles", "jsonb"),
    ]

    /// `INSERT … SELECT … FROM jsonb_to_recordset($n) … ON CONFLICT (id) DO UPDATE`: a set-based upsert of rows
    /// sent as one JSON array.
    static func upsert(_ table: String, _ columns: [(String, String)], parameter: Int) -> String {
        let names = columns.map(\.0).joined(separator: ", ")
        let definitions = columns.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
        let updates = columns.dropFirst().map { "\($0.0) = EXCLUDED.\($0.0)" }.joined(separator: ", ")
        return """
            INSERT INTO \(table) (\(names))
            SELECT \(names) FROM jsonb_to_recordset($\(parameter)::jsonb) AS x(\(definitions))
            ON CONFLICT (id) DO UPDATE SET \(updates)
            """
    }

    /// The projection write's common table expressions and final `SELECT`, its parameters numbered from
    /// `first` + 1.
    static func writeBody(first: Int) -> String {
        """
        onboarding AS (\(upsert("onboardings", onboardingColumns, parameter: first + 1))),
        task AS (\(upsert("tasks", taskColumns, parameter: first + 2))),
        command AS (
            INSERT INTO commands (command_id, onboarding_id, kind, fingerprint, response)
            SELECT $\(first + 3)::text, $\(first + 4)::text, $\(first + 5)::text, $\(first + 6)::text,
                   $\(first + 7)::jsonb
             WHERE $\(first + 3)::text IS NOT NULL
        ),
        notified AS (\(Outbox.insertBody(parameter: first + 8)))
        SELECT 1
        """
    }

    static let writeStatement = "WITH " + writeBody(first: 0)
    /// The body after an append's parameters, by their number (2 + 5 per event up to
    /// `EventStore.maximumScalarBatch` events; 7 for arrays).
    static let writeBodiesAfterAppend = (0...(2 + 5 * EventStore.maximumScalarBatch)).map { writeBody(first: $0) }

    /// Writes one onboarding's row, the task rows that changed, the command's answer and the notifications of
    /// what it appended (the outbox), in one statement.
    ///
    /// A command id that is already recorded fails with a unique violation (SQLSTATE 23505) after waiting for the
    /// transaction that recorded it: the caller rolls back and finds the recorded answer on its next try.
    public static func write(
        on connection: Connection, onboarding: OnboardingRecord?, tasks: [TaskRecord], command: CommandRecord?,
        notifications: [NewNotification] = []
    ) throws {
        let statement = write(onboarding: onboarding, tasks: tasks, command: command, notifications: notifications)
        try connection.query(statement.sql, statement.parameters)
    }

    /// The same write as a statement, for a caller that pipelines it with `COMMIT`.
    ///
    /// With `appending`, an append statement (`EventStore.appendStatement`) runs first in the same statement, as
    /// its first common table expression: the events and the rows they give are written by one statement, which
    /// fails as a whole. The statement returns no rows of its own then either.
    public static func write(
        onboarding: OnboardingRecord?, tasks: [TaskRecord], command: CommandRecord?,
        notifications: [NewNotification] = [], appending append: Statement? = nil
    ) -> Statement {
        let parameters: [(any PostgresEncodable)?] = [
            encode(onboarding.map { [$0] } ?? []), encode(tasks), command?.commandId,
            command?.onboardingId, command?.kind, command?.fingerprint, command?.response,
            Outbox.encode(notifications),
        ]
        guard let append else { return (writeStatement, parameters) }
        return (
            "WITH appended AS (\(append.sql)),\n"
                + (writeBodiesAfterAppend.indices.contains(append.parameters.count)
                    ? writeBodiesAfterAppend[append.parameters.count] : writeBody(first: append.parameters.count)),
            append.parameters + parameters
        )
    }

    /// Loads onboarding rows into the emptied table of a rebuild (`COPY`; a row whose id is there already fails
    /// the copy).
    public static func load(on connection: Connection, onboardings: [OnboardingRecord]) throws {
        guard !onboardings.isEmpty else { return }
        var rows = CopyText(capacity: 512 * onboardings.count)
        for record in onboardings {
            rows.field(record.id)
            rows.field(record.workflowId)
            rows.field(record.workflowVersion)
            rows.field(record.contentHash)
            rows.field(record.state)
            rows.field(record.reason)
            rows.field(record.currentSteps)
            rows.field(record.openTasks)
            rows.field(record.variables)
            rows.field(record.inputs)
            rows.field(record.timers)
            rows.field(record.signals)
            rows.field(record.startedAt)
            rows.field(record.updatedAt)
            rows.field(record.version)
            rows.field(record.nextTimerAt)
            rows.endRow()
        }
        try connection.copy(into: "onboardings", columns: onboardingColumns.map(\.0), rows: rows.text)
    }

    /// Loads task rows into the emptied table of a rebuild (`COPY`).
    public static func load(on connection: Connection, tasks: [TaskRecord]) throws {
        guard !tasks.isEmpty else { return }
        var rows = CopyText(capacity: 1024 * tasks.count)
        for record in tasks {
            rows.field(record.id)
            rows.field(record.onboardingId)
            rows.field(record.path)
            rows.field(record.step)
            rows.field(record.role)
            rows.field(record.title)
            rows.field(record.instructions)
            rows.field(record.state)
            rows.field(record.assignee)
            rows.field(record.checklist)
            rows.field(record.outputs)
            rows.field(record.dueAt)
            rows.field(record.createdAt)
            rows.field(record.completedBy)
            rows.field(record.result)
            rows.field(record.checked)
            rows.field(record.escalatedRoles)
            rows.endRow()
        }
        try connection.copy(into: "tasks", columns: taskColumns.map(\.0), rows: rows.text)
    }

    // MARK: Reading

    static let onboardingSelect =
        "SELECT " + onboardingColumns.map { $0.1 == "jsonb" ? "\($0.0)::text" : $0.0 }.joined(separator: ", ")
        + " FROM onboardings"
    static let taskSelect =
        "SELECT " + taskColumns.map { $0.1 == "jsonb" ? "\($0.0)::text" : $0.0 }.joined(separator: ", ")
        + " FROM tasks"

    public static func onboarding(on connection: Connection, id: String) throws -> OnboardingRecord? {
        try connection.query(onboardingSelect + " WHERE id = $1", [id]).rows.first.map(decodeOnboarding)
    }

    /// Onboardings by start time (then id), after the one with id `after`, at most `limit`.
    public static func onboardings(
        on connection: Connection, matching query: OnboardingQuery, limit: Int, after: String?
    ) throws -> [OnboardingRecord] {
        let statement = onboardingsStatement(matching: query, limit: limit, after: after)
        return try connection.query(statement.sql, statement.parameters).rows.map(decodeOnboarding)
    }

    /// The listing's statement. Each name and value pair is containment (`@>`) in `inputs` or `variables`, which
    /// their GIN indexes serve, with the value as text and, when the text spells one, as a number or boolean.
    public static func onboardingsStatement(matching query: OnboardingQuery, limit: Int, after: String?) -> Statement {
        var sql = onboardingSelect + """
             WHERE ($1::text IS NULL OR workflow_id = $1)
               AND ($2::text IS NULL OR state = $2)
               AND ($3::text IS NULL OR current_steps ? $3)
               AND ($4::text IS NULL OR (started_at, id) > (SELECT started_at, id FROM onboardings WHERE id = $4))
            """
        var parameters: [(any PostgresEncodable)?] = [query.workflowId, query.state, query.step, after, limit]
        for (name, value) in query.values {
            var alternatives: [String] = []
            for candidate in valueCandidates(value) {
                var writer = JSONWriter()
                writer.beginObject()
                writer.key(name)
                writer.raw(candidate)
                writer.endObject()
                parameters.append(writer.text)
                alternatives.append("inputs @> $\(parameters.count)::jsonb OR variables @> $\(parameters.count)::jsonb")
            }
            sql += "\n   AND (" + alternatives.joined(separator: " OR ") + ")"
        }
        return (sql + "\n ORDER BY started_at, id\n LIMIT $5", parameters)
    }

    /// The JSON a value given as text may be stored as: the string, and the integer or boolean it spells.
    static func valueCandidates(_ text: String) -> [String] {
        var string = JSONWriter()
        string.string(text)
        var candidates = [string.text]
        if let integer = Int(text), String(integer) == text { candidates.append(text) }
        if text == "true" || text == "false" { candidates.append(text) }
        return candidates
    }

    /// Every onboarding row, by id (for comparisons with a rebuild).
    public static func allOnboardings(on connection: Connection) throws -> [OnboardingRecord] {
        try connection.query(onboardingSelect + " ORDER BY id").rows.map(decodeOnboarding)
    }

    public static func task(on connection: Connection, id: String) throws -> TaskRecord? {
        try connection.query(taskSelect + " WHERE id = $1", [id]).rows.first.map(decodeTask)
    }

    /// Tasks oldest first, then by due time (then id), after the one with id `after`, at most `limit`.
    public static func tasks(
        on connection: Connection, matching query: TaskQuery, limit: Int, after: String?
    ) throws -> [TaskRecord] {
        let statement = tasksStatement(matching: query, limit: limit, after: after)
        let own = try connection.query(statement.sql, statement.parameters).rows.map(decodeTask)
        guard let escalated = escalatedTasksStatement(matching: query, limit: limit, after: after) else { return own }
        // Tasks escalated to one of the roles are few: merged into the role's own, in the listing's order.
        let added = try connection.query(escalated.sql, escalated.parameters).rows.map(decodeTask)
        guard !added.isEmpty else { return own }
        let order = { (task: TaskRecord) in (task.createdAt, task.dueAt ?? .distantFuture, task.id) }
        return Array((own + added).sorted { order($0) < order($1) }.prefix(limit))
    }

    /// The states a task can be in: listings name them in their SQL (checked against this list), so that the
    /// planner can use the indexes of open and claimed tasks.
    static let taskStates = ["open", "claimed", "completed", "cancelled"]

    /// The tasks listing's statement, the tasks of the roles asked for (for `EXPLAIN` in the tests too). One role
    /// (an inbox, `GET /tasks?role=…`) is read from `tasks_listed` in the listing's order, so a page costs its
    /// rows however many tasks the role has.
    static func tasksStatement(matching query: TaskQuery, limit: Int, after: String?) -> Statement {
        var conditions: [String] = []
        var parameters: [(any PostgresEncodable)?] = []
        func parameter(_ value: (any PostgresEncodable)?) -> String {
            parameters.append(value)
            return "$\(parameters.count)"
        }
        if query.roles.count == 1 {
            conditions.append("role = \(parameter(query.roles[0]))")
        } else if !query.roles.isEmpty {
            conditions.append("role IN (SELECT jsonb_array_elements_text(\(parameter(JSONText.array(query.roles)))::jsonb))")
        }
        return listing(query, conditions: conditions, parameters: parameters, limit: limit, after: after)
    }

    /// The tasks escalated to the roles asked for that are not theirs already; nil without roles.
    static func escalatedTasksStatement(matching query: TaskQuery, limit: Int, after: String?) -> Statement? {
        guard !query.roles.isEmpty else { return nil }
        let roles = JSONText.array(query.roles)
        return listing(
            query,
            conditions: [
                "escalated_roles <> '[]'::jsonb", "escalated_roles ?| ARRAY(SELECT jsonb_array_elements_text($1::jsonb))",
                "role NOT IN (SELECT jsonb_array_elements_text($1::jsonb))",
            ],
            parameters: [roles], limit: limit, after: after)
    }

    private static func listing(
        _ query: TaskQuery, conditions: [String], parameters: [(any PostgresEncodable)?], limit: Int, after: String?
    ) -> Statement {
        var conditions = conditions
        var parameters = parameters
        func parameter(_ value: (any PostgresEncodable)?) -> String {
            parameters.append(value)
            return "$\(parameters.count)"
        }
        let states = query.states.filter(taskStates.contains)
        if !states.isEmpty {
            conditions.append("state IN (" + states.map { "'\($0)'" }.joined(separator: ", ") + ")")
        }
        if let onboardingId = query.onboardingId { conditions.append("onboarding_id = \(parameter(onboardingId))") }
        if let assignee = query.assignee { conditions.append("assignee = \(parameter(assignee))") }
        if let after {
            let id = parameter(after)
            conditions.append(
                "(created_at, coalesce(due_at, 'infinity'::timestamptz), id) > "
                    + "(SELECT created_at, coalesce(due_at, 'infinity'::timestamptz), id FROM tasks WHERE id = \(id))")
        }
        if let dueBefore = query.dueBefore {
            conditions.append("due_at <= \(parameter(dueBefore)) AND state IN ('open', 'claimed')")
        }
        let limitParameter = parameter(limit)
        return (
            taskSelect + (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "))
                + " ORDER BY created_at, coalesce(due_at, 'infinity'::timestamptz), id LIMIT \(limitParameter)",
            parameters
        )
    }

    /// Every task row, by id (for comparisons with a rebuild).
    public static func allTasks(on connection: Connection) throws -> [TaskRecord] {
        try connection.query(taskSelect + " ORDER BY id").rows.map(decodeTask)
    }

    // MARK: Rebuilding

    /// Empties the named projections for a rebuild in the caller's transaction, marking them `rebuilding`.
    ///
    /// Takes the tables' locks: writers of those tables wait until the rebuild commits (or rolls back).
    public static func beginRebuild(on connection: Connection, names: [String]) throws {
        let tables = names.filter(Self.names.contains).sorted()
        guard !tables.isEmpty else { return }
        try connection.execute("TRUNCATE " + tables.joined(separator: ", "))
        try connection.query(
            "UPDATE projection_rebuilds SET state = 'rebuilding' WHERE name IN (SELECT jsonb_array_elements_text($1::jsonb))",
            [JSONText.array(tables)])
    }

    /// Marks the named projections `live` again, rebuilt now from `events` events.
    public static func finishRebuild(on connection: Connection, names: [String], events: Int64) throws {
        try connection.query(
            """
            UPDATE projection_rebuilds SET state = 'live', rebuilt_at = now(), events = $2
             WHERE name IN (SELECT jsonb_array_elements_text($1::jsonb))
            """,
            [JSONText.array(names), events])
    }

    /// Events in (stream, version) order after the given stream and version, at most `limit`.
    public static func events(
        on connection: Connection, after stream: String, version: Int64, limit: Int
    ) throws -> [RecordedEvent] {
        try connection.query(
            "SELECT \(EventStore.columns) FROM all_events WHERE (stream_id, version) > ($1, $2) "
                + "ORDER BY stream_id, version LIMIT $3",
            [stream, version, limit]
        ).rows.map(EventStore.decode)
    }

    /// The same events with only what a fold reads: a rebuild's input.
    public static func streamEvents(
        on connection: Connection, after stream: String, version: Int64, limit: Int
    ) throws -> [StreamEvent] {
        try connection.query(
            "SELECT stream_id, version, type, schema_version, data, recorded_at FROM all_events "
                + "WHERE (stream_id, version) > ($1, $2) ORDER BY stream_id, version LIMIT $3",
            [stream, version, limit]
        ).rows.map { row in
            StreamEvent(
                streamId: try row.string(0), version: try row.int64(1), type: try row.string(2),
                schemaVersion: try row.int(3), dataText: try row.string(4), recordedAt: try row.date(5))
        }
    }

    /// Each inline projection's position: the log's newest event. Both are written in the appending transaction,
    /// so neither lags (a rebuild runs in one transaction too); `verify` is what compares their rows with the log.
    /// One index probe, however long the log.
    public static func status(on connection: Connection) throws -> [ProjectionState] {
        let position = try connection.query(
            "SELECT greatest((SELECT max(position) FROM events), (SELECT max(position) FROM archived_events), 0)"
        ).rows[0].int64(0)
        var states: [String: (String, Date?)] = [:]
        for row in try connection.query("SELECT name, state, rebuilt_at FROM projection_rebuilds").rows {
            states[try row.string(0)] = (try row.string(1), try row.optionalDate(2))
        }
        return names.map { name in
            ProjectionState(
                name: name, position: position, lagEvents: 0, lagSeconds: 0, state: states[name]?.0 ?? "live",
                rebuiltAt: states[name]?.1)
        }
    }

    // MARK: Coding

    static func encode(_ records: [OnboardingRecord]) -> String {
        var writer = JSONWriter(capacity: 512 * records.count)
        writer.beginArray()
        for record in records {
            writer.beginObject()
            writer.key("id"); writer.string(record.id)
            writer.key("workflow_id"); writer.string(record.workflowId)
            writer.key("workflow_version"); writer.integer(record.workflowVersion)
            writer.key("content_hash"); writer.string(record.contentHash)
            writer.key("state"); writer.string(record.state)
            writer.key("reason"); writer.string(record.reason)
            writer.key("current_steps"); writer.raw(record.currentSteps)
            writer.key("open_tasks"); writer.raw(record.openTasks)
            writer.key("variables"); writer.raw(record.variables)
            writer.key("inputs"); writer.raw(record.inputs)
            writer.key("timers"); writer.raw(record.timers)
            writer.key("signals"); writer.raw(record.signals)
            writer.key("started_at"); writer.string(Timestamp.format(record.startedAt))
            writer.key("updated_at"); writer.string(Timestamp.format(record.updatedAt))
            writer.key("version"); writer.integer(record.version)
            writer.key("next_timer_at"); writer.string(record.nextTimerAt.map(Timestamp.format))
            writer.endObject()
        }
        writer.endArray()
        return writer.text
    }

    static func encode(_ records: [TaskRecord]) -> String {
        var writer = JSONWriter(capacity: 1024 * records.count)
        writer.beginArray()
        for record in records {
            writer.beginObject()
            writer.key("id"); writer.string(record.id)
            writer.key("onboarding_id"); writer.string(record.onboardingId)
            writer.key("path"); writer.string(record.path)
            writer.key("step"); writer.string(record.step)
            writer.key("role"); writer.string(record.role)
            writer.key("title"); writer.string(record.title)
            writer.key("instructions"); writer.string(record.instructions)
            writer.key("state"); writer.string(record.state)
            writer.key("assignee"); writer.string(record.assignee)
            writer.key("checklist"); writer.raw(record.checklist)
            writer.key("outputs"); writer.raw(record.outputs)
            writer.key("due_at"); writer.string(record.dueAt.map(Timestamp.format))
            writer.key("created_at"); writer.string(Timestamp.format(record.createdAt))
            writer.key("completed_by"); writer.string(record.completedBy)
            writer.key("result"); writer.raw(record.result ?? "null")
            writer.key("checked"); writer.raw(record.checked ?? "null")
            writer.key("escalated_roles"); writer.raw(record.escalatedRoles)
            writer.endObject()
        }
        writer.endArray()
        return writer.text
    }

    static func decodeOnboarding(_ row: Row) throws -> OnboardingRecord {
        OnboardingRecord(
            id: try row.string(0), workflowId: try row.string(1), workflowVersion: try row.int(2),
            contentHash: try row.string(3), state: try row.string(4), reason: row.optionalString(5),
            currentSteps: try row.string(6), openTasks: try row.string(7), variables: try row.string(8),
            inputs: try row.string(9), timers: try row.string(10), signals: try row.string(11),
            startedAt: try row.date(12), updatedAt: try row.date(13), version: try row.int64(14),
            nextTimerAt: try row.optionalDate(15))
    }

    static func decodeTask(_ row: Row) throws -> TaskRecord {
        TaskRecord(
            id: try row.string(0), onboardingId: try row.string(1), path: try row.string(2), step: try row.string(3),
            role: try row.string(4), title: try row.string(5), instructions: try row.string(6),
            state: try row.string(7), assignee: row.optionalString(8), checklist: try row.string(9),
            outputs: try row.string(10), dueAt: try row.optionalDate(11), createdAt: try row.date(12),
            completedBy: row.optionalString(13), result: row.optionalString(14), checked: row.optionalString(15),
            escalatedRoles: try row.string(16))
    }
}

/// Dashboard figures read from the projections.
public struct StatsRecord: Sendable, Equatable {
    public struct Onboardings: Sendable, Equatable {
        public var workflow: String
        public var state: String
        /// A current step; nil for onboardings that wait on no step (ended ones).
        public var step: String?
        public var count: Int
    }

    public struct Tasks: Sendable, Equatable {
        public var role: String
        public var open: Int
        public var claimed: Int
        /// Open or claimed past their due time.
        public var overdue: Int
    }

    /// Per workflow, role and step: open and completed tasks (`counts`), and seconds waited before the first claim
    /// and taken to complete over the step's latest 1,000 tasks (`timings`), median and 90th percentile (nil
    /// before any task got that far).
    public struct Steps: Sendable, Equatable {
        public var workflow: String
        public var role: String
        public var step: String
        public var open: Int
        public var completed: Int
        public var waitMedian: Double?
        public var waitP90: Double?
        public var completeMedian: Double?
        public var completeP90: Double?
    }

    public var onboardings: [Onboardings]
    public var tasks: [Tasks]
    public var steps: [Steps]
}

extension Projections {
    /// Onboardings by workflow, state and current step (one onboarding counts once per current step), open and
    /// claimed tasks per role, and each step's tasks, from the async `counts` projection (a few rows however many
    /// onboardings there are); overdue tasks as of `now`, counted from the `tasks` projection's index of due times
    /// (as many rows as are overdue); each step's waiting and working times over its latest 1,000 tasks (the
    /// `timings` projection).
    public static func stats(on connection: Connection, now: Date) throws -> StatsRecord {
        let onboardings = try connection.query(
            "SELECT workflow_id, state, step, count FROM onboarding_counts ORDER BY 1, 2, 3 NULLS FIRST"
        ).rows.map { row in
            StatsRecord.Onboardings(
                workflow: try row.string(0), state: try row.string(1), step: row.optionalString(2),
                count: try row.int(3))
        }
        var overdue: [String: Int] = [:]
        for row in try connection.query(
            "SELECT role, count(*) FROM tasks WHERE state IN ('open', 'claimed') AND due_at <= $1 GROUP BY role", [now]
        ).rows {
            overdue[try row.string(0)] = try row.int(1)
        }
        let tasks = try connection.query(
            """
            SELECT role, coalesce(sum(count) FILTER (WHERE state = 'open'), 0),
                   coalesce(sum(count) FILTER (WHERE state = 'claimed'), 0)
              FROM task_counts
             WHERE state IN ('open', 'claimed')
             GROUP BY role
             ORDER BY role
            """
        ).rows.map { row in
            StatsRecord.Tasks(
                role: try row.string(0), open: try row.int(1), claimed: try row.int(2),
                overdue: overdue[try row.string(0)] ?? 0)
        }
        let steps = try connection.query(
            """
            SELECT g.workflow_id, g.role, g.step, g.open, g.completed, latest.wait_median, latest.wait_p90,
                   latest.complete_median, latest.complete_p90
              FROM (SELECT workflow_id, role, step,
                           coalesce(sum(count) FILTER (WHERE state IN ('open', 'claimed')), 0) AS open,
                           coalesce(sum(count) FILTER (WHERE state = 'completed'), 0) AS completed
                      FROM task_counts GROUP BY 1, 2, 3) g
             CROSS JOIN LATERAL (
                   SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM claimed_at - opened_at))
                              AS wait_median,
                          percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM claimed_at - opened_at))
                              AS wait_p90,
                          percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - opened_at))
                              AS complete_median,
                          percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - opened_at))
                              AS complete_p90
                     FROM (SELECT t.opened_at, t.claimed_at, t.completed_at FROM task_timing_rows t
                            WHERE t.generation = (SELECT live_generation FROM async_projections WHERE name = 'timings')
                              AND t.workflow_id = g.workflow_id AND t.role = g.role AND t.step = g.step
                            ORDER BY t.opened_at DESC
                            LIMIT 1000) recent) latest
             ORDER BY 1, 2, 3
            """
        ).rows.map { row in
            func seconds(_ column: Int) throws -> Double? { row.isNull(column) ? nil : try row.double(column) }
            return StatsRecord.Steps(
                workflow: try row.string(0), role: try row.string(1), step: try row.string(2), open: try row.int(3),
                completed: try row.int(4), waitMedian: try seconds(5), waitP90: try seconds(6),
                completeMedian: try seconds(7), completeP90: try seconds(8))
        }
        return StatsRecord(onboardings: onboardings, tasks: tasks, steps: steps)
    }
}
