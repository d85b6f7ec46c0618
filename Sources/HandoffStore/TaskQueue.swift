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

    /// `lockNextOpenTask` without blocking a thread (inside a write's transaction).
    public static func lockNextOpenTask(
        on connection: Connection, roles: [String]
    ) async throws -> (taskId: String, onboardingId: String)? {
        let statement = nextOpenTaskStatement(roles: roles)
        return try candidate(await connection.query(statement.sql, statement.parameters))
    }

    static func nextOpenTaskStatement(roles: [String], window: Int = 64) -> Statement {
        // The inner LIMIT keeps the lock attempts to candidates in queue order: the outer filter runs on the
        // inner query's rows one by one, and the outer LIMIT stops at the first lock taken.
        // One role (the common case) walks the partial queue index in order; several roles merge in a sort.
        // Tasks escalated to these roles come from their own small index, merged in queue order.
        let roleFilter = roles.count == 1 ? "role = $1" : "role IN (SELECT jsonb_array_elements_text($1::jsonb))"
        let escalatedFilter =
            roles.count == 1
            ? "escalated_roles ? $1" : "escalated_roles ?| ARRAY(SELECT jsonb_array_elements_text($1::jsonb))"
        // Always one row: the transaction's time, then the candidate or NULLs.
        return (
            """
            SELECT now(), c.id, c.onboarding_id FROM (VALUES (1)) AS one (n) LEFT JOIN LATERAL (
                SELECT q.id, q.onboarding_id FROM (
                    (SELECT id, onboarding_id, created_at, due_at FROM tasks
                      WHERE state = 'open' AND \(roleFilter)
                      ORDER BY created_at, due_at, id
                      LIMIT $2)
                    UNION ALL
                    (SELECT id, onboarding_id, created_at, due_at FROM tasks
                      WHERE state = 'open' AND escalated_roles <> '[]'::jsonb AND \(escalatedFilter)
                      ORDER BY created_at, due_at, id
                      LIMIT $2)
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
