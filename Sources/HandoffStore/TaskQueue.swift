import Foundation
import Postgres

/// Locks that order writers of one onboarding, and the choice of the next task from the queue.
///
/// Every writer takes the onboarding's stream lock first, then appends with its expected version, then writes
/// projection rows (task rows among them). Claiming "the next task" never waits for a stream lock another
/// transaction holds: it skips that onboarding, so workers draining one role's queue do not queue up behind each
/// other, and never take a task row's lock before its stream's.
public enum TaskQueue {
    /// The seed of every stream lock's key, `hashtextextended(stream id, 1212239428)` ("HAND" in ASCII): one
    /// 64-bit key per onboarding, so unrelated onboardings collide once in 2^64, not once in 2^32 as with `hashtext`
    /// (whose collisions made one onboarding's writers wait on another's, and `claim --next` skip it).
    static let lockSpace: Int64 = 1_212_239_428

    /// Takes the onboarding's stream lock until the caller's transaction ends, waiting for its holder.
    public static func lockStream(on connection: Connection, _ streamId: String) throws {
        try connection.query(lockStreamSQL, [lockSpace, streamId])
    }

    static let lockStreamSQL = "SELECT pg_advisory_xact_lock(hashtextextended($2, $1::bigint))"

    /// What a write needs to know before it decides, asked with its `BEGIN` in one round trip.
    public enum Preamble: Sendable {
        /// A write to a known onboarding: its stream lock, then its events from `version` on.
        case stream(String, readingFrom: Int64)
        /// A claim of the next task of these roles: the first candidate whose stream lock could be taken.
        case queue(roles: [String])
        /// Neither (a start: the onboarding does not exist yet).
        case none
    }

    /// What `writePreamble`'s statements returned.
    public struct PreambleResults: Sendable {
        /// The transaction's start (`now()`): what `recorded_at` of its events will be.
        public var transactionTime: Date
        /// The command id's stored answer, when the write carried an id that was used before.
        public var command: CommandRecord?
        /// The stream's events from the version asked for (`.stream`).
        public var events: [RecordedEvent]?
        /// The first candidate task, its stream lock taken (`.queue`); nil when the queue has none.
        public var candidate: (taskId: String, onboardingId: String)?
    }

    /// The statements a write starts its transaction with, sent in one round trip with its `BEGIN`. For a known
    /// onboarding: its stream lock (with the transaction's time, what `recorded_at` of its events will be), the
    /// command id's stored answer (when there is one), then the stream's events; the read comes after the lock in
    /// the same pipeline, so it sees everything committed before the lock. For a claim of the next task: the
    /// command id's answer, then the queue's first candidate (with the time). Otherwise the time and the answer.
    public static func writePreamble(_ preamble: Preamble, commandId: String?) -> [Statement] {
        var statements: [Statement] = []
        let lookup: Statement? = commandId.map { (CommandLog.findSQL, [$0]) }
        switch preamble {
        case .stream(let streamId, let version):
            statements.append(
                ("SELECT now(), pg_advisory_xact_lock(hashtextextended($2, $1::bigint))", [lockSpace, streamId]))
            statements += [lookup].compactMap { $0 }
            statements.append((EventStore.readSQL, [streamId, version, Int(Int32.max)]))
        case .queue(let roles):
            statements += [lookup].compactMap { $0 }
            statements.append(nextOpenTaskStatement(roles: roles))
        case .none:
            statements.append(("SELECT now()", []))
            statements += [lookup].compactMap { $0 }
        }
        return statements
    }

    /// Reads the results of `writePreamble`'s statements.
    public static func preambleResults(_ results: [QueryResult], _ preamble: Preamble, commandId: String?)
        throws -> PreambleResults
    {
        switch preamble {
        case .stream:
            var read = PreambleResults(transactionTime: try results[0].rows[0].date(0))
            read.command = try commandId == nil ? nil : results[1].first.map(CommandLog.record)
            read.events = try results[results.count - 1].rows.map(EventStore.decode)
            return read
        case .queue:
            let queue = results[results.count - 1]
            var read = PreambleResults(transactionTime: try queue.rows[0].date(0))
            read.command = try commandId == nil ? nil : results[0].first.map(CommandLog.record)
            read.candidate = try candidate(queue)
            return read
        case .none:
            var read = PreambleResults(transactionTime: try results[0].rows[0].date(0))
            read.command = try commandId == nil ? nil : results[1].first.map(CommandLog.record)
            return read
        }
    }

    /// The next open task of a role (oldest first, then by due time) whose onboarding's stream lock this
    /// transaction could take without waiting, or nil when there is none.
    ///
    /// The lock is held until the caller's transaction ends. The row was read before the lock was taken, so
    /// the caller must re-read the onboarding's stream and check that the task is still open.
    public static func lockNextOpenTask(
        on connection: Connection, roles: [String]
    ) throws -> (taskId: String, onboardingId: String)? {
        let statement = nextOpenTaskStatement(roles: roles)
        return try candidate(connection.query(statement.sql, statement.parameters))
    }

    static func nextOpenTaskStatement(roles: [String], window: Int = 64) -> Statement {
        // The inner LIMIT keeps the lock attempts to candidates in queue order: the outer filter runs on the
        // inner query's rows one by one, and the outer LIMIT stops at the first lock taken.
        // One role (the common case) walks the partial queue index in order; several roles merge in a sort.
        let roleFilter = roles.count == 1 ? "role = $1" : "role IN (SELECT jsonb_array_elements_text($1::jsonb))"
        // Always one row: the transaction's time, then the candidate or NULLs.
        return (
            """
            SELECT now(), c.id, c.onboarding_id FROM (VALUES (1)) AS one (n) LEFT JOIN LATERAL (
                SELECT q.id, q.onboarding_id FROM (
                    SELECT id, onboarding_id FROM tasks
                     WHERE state = 'open' AND \(roleFilter)
                     ORDER BY created_at, due_at, id
                     LIMIT $2
                ) q
                WHERE pg_try_advisory_xact_lock(hashtextextended(q.onboarding_id, $3::bigint))
                LIMIT 1
            ) c ON true
            """,
            [roles.count == 1 ? roles[0] : JSONText.array(roles), window, lockSpace]
        )
    }

    private static func candidate(_ result: QueryResult) throws -> (taskId: String, onboardingId: String)? {
        guard let row = result.first, !row.isNull(1) else { return nil }
        return (try row.string(1), try row.string(2))
    }

    /// The onboarding a task belongs to, from the queue table.
    public static func onboardingId(on connection: Connection, ofTask taskId: String) throws -> String? {
        try connection.query("SELECT onboarding_id FROM tasks WHERE id = $1", [taskId]).rows.first?.string(0)
    }
}

/// The answer to a write that carried a command id, kept so the same id again returns it.
public struct CommandRecord: Sendable, Equatable {
    public var commandId: String
    public var onboardingId: String?
    /// The command's name: `start`, `claim`, `complete`, …
    public var kind: String
    /// A digest of the request; the same id with another request is refused.
    public var fingerprint: String
    /// The answer as JSON text.
    public var response: String

    public init(commandId: String, onboardingId: String?, kind: String, fingerprint: String, response: String) {
        self.commandId = commandId
        self.onboardingId = onboardingId
        self.kind = kind
        self.fingerprint = fingerprint
        self.response = response
    }
}

/// Recorded commands (the `commands` table). Records are written by `Projections.write` with the events.
public enum CommandLog {
    public static func find(on connection: Connection, _ commandId: String) throws -> CommandRecord? {
        try connection.query(findSQL, [commandId]).rows.first.map(record)
    }

    static let findSQL =
        "SELECT command_id, onboarding_id, kind, fingerprint, response::text FROM commands WHERE command_id = $1"

    static func record(_ row: Row) throws -> CommandRecord {
        CommandRecord(
            commandId: try row.string(0), onboardingId: row.optionalString(1), kind: try row.string(2),
            fingerprint: try row.string(3), response: try row.string(4))
    }
}

/// A workflow definition's source as stored once per content hash.
public struct DefinitionRecord: Sendable, Equatable {
    public var contentHash: String
    public var workflowId: String
    public var version: Int
    public var file: String
    public var source: String

    public init(contentHash: String, workflowId: String, version: Int, file: String, source: String) {
        self.contentHash = contentHash
        self.workflowId = workflowId
        self.version = version
        self.file = file
        self.source = source
    }
}

/// The `workflow_definitions` table: every definition an onboarding started with, by content hash.
public enum DefinitionStore {
    /// Stores a definition unless its hash is stored already (a definition never changes under its hash).
    public static func store(on connection: Connection, _ record: DefinitionRecord) throws {
        try connection.query(
            """
            INSERT INTO workflow_definitions (content_hash, workflow_id, version, file, source)
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (content_hash) DO NOTHING
            """,
            [record.contentHash, record.workflowId, record.version, record.file, record.source])
    }

    public static func load(on connection: Connection, contentHash: String) throws -> DefinitionRecord? {
        guard let row = try connection.query(
            "SELECT content_hash, workflow_id, version, file, source FROM workflow_definitions WHERE content_hash = $1",
            [contentHash]
        ).rows.first else { return nil }
        return DefinitionRecord(
            contentHash: try row.string(0), workflowId: try row.string(1), version: try row.int(2),
            file: try row.string(3), source: try row.string(4))
    }

    /// The content hash of every stored definition.
    public static func contentHashes(on connection: Connection) throws -> [String] {
        try connection.query("SELECT content_hash FROM workflow_definitions ORDER BY content_hash").rows.map {
            try $0.string(0)
        }
    }

    /// Whether a definition with this hash is stored.
    public static func contains(on connection: Connection, contentHash: String) throws -> Bool {
        !(try connection.query("SELECT 1 FROM workflow_definitions WHERE content_hash = $1", [contentHash]).rows
            .isEmpty)
    }
}
