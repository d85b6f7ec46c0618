import Foundation
import HandoffJSON
import Identifiers
import Postgres

/// Which version a stream must be at for an append to go through.
public enum ExpectedVersion: Sendable, Equatable, CustomStringConvertible {
    /// Append whatever the stream's version is.
    case any
    /// The stream must not exist yet.
    case noStream
    /// The stream must be at exactly this version (its last event's version).
    case exact(Int64)

    var parameter: Int64? {
        switch self {
        case .any: nil
        case .noStream: 0
        case .exact(let version): version
        }
    }

    public var description: String {
        switch self {
        case .any: "any"
        case .noStream: "no stream"
        case .exact(let version): String(version)
        }
    }
}

/// Who caused an event and in answer to what; stored beside the event's data.
public struct EventMetadata: Codable, Sendable, Equatable {
    public var actor: String?
    public var correlationId: String?
    public var causationId: String?
    public var requestId: String?
    public var commandId: String?
    /// For an event brought from another database (`handoff import`): the transaction that appended it there.
    /// Events that share it were appended by one command, as events that share a transaction here are.
    public var sourceTransaction: String?

    public init(
        actor: String? = nil, correlationId: String? = nil, causationId: String? = nil,
        requestId: String? = nil, commandId: String? = nil, sourceTransaction: String? = nil
    ) {
        self.actor = actor
        self.correlationId = correlationId
        self.causationId = causationId
        self.requestId = requestId
        self.commandId = commandId
        self.sourceTransaction = sourceTransaction
    }
}

extension EventMetadata {
    /// The metadata as a JSON object, keys sorted, written directly (this runs on every append).
    public var jsonText: String {
        var writer = JSONWriter(capacity: 128)
        writer.beginObject()
        func member(_ key: String, _ value: String?) {
            guard let value else { return }
            writer.key(key)
            writer.string(value)
        }
        member("actor", actor)
        member("causationId", causationId)
        member("commandId", commandId)
        member("correlationId", correlationId)
        member("requestId", requestId)
        member("sourceTransaction", sourceTransaction)
        writer.endObject()
        return writer.text
    }
}

/// An event to append. `id` makes the append idempotent: the same id again is recognised as a duplicate.
public struct NewEvent: Sendable, Equatable {
    public var id: UUID
    public var type: String
    public var schemaVersion: Int
    /// The event's data as JSON text.
    public var data: Data
    public var metadata: EventMetadata

    public init(id: UUID = RandomUUID.make(), type: String, schemaVersion: Int = 1, data: Data, metadata: EventMetadata = .init()) {
        self.id = id
        self.type = type
        self.schemaVersion = schemaVersion
        self.data = data
        self.metadata = metadata
    }
}

/// A place in the global log: the committing transaction's id, then the position it took.
///
/// Readers order and checkpoint by this pair. Positions alone are not an order of commits.
public struct LogPosition: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var transactionId: UInt64
    public var position: Int64

    public init(transactionId: UInt64, position: Int64) {
        self.transactionId = transactionId
        self.position = position
    }

    /// Before every event.
    public static let start = LogPosition(transactionId: 0, position: 0)

    public static func < (lhs: LogPosition, rhs: LogPosition) -> Bool {
        (lhs.transactionId, lhs.position) < (rhs.transactionId, rhs.position)
    }

    public var description: String { "\(transactionId)/\(position)" }
}

/// An event as stored.
public struct RecordedEvent: Sendable, Equatable {
    public let position: Int64
    public let transactionId: UInt64
    public let id: UUID
    public let streamId: String
    public let version: Int64
    public let type: String
    public let schemaVersion: Int
    /// The event's data as PostgreSQL returns it (JSON text); `data` has the same as bytes.
    public let dataText: String
    /// The metadata as stored (JSON); `metadata` decodes it. Folding never needs it, so it is not decoded eagerly.
    public let metadataJSON: Data
    public let recordedAt: Date

    /// The event's data as JSON bytes.
    public var data: Data { Data(dataText.utf8) }

    /// Who caused the event and in answer to what (decoded on each access).
    public var metadata: EventMetadata {
        (try? JSONDecoder().decode(EventMetadata.self, from: metadataJSON)) ?? EventMetadata()
    }

    public var logPosition: LogPosition { LogPosition(transactionId: transactionId, position: position) }

    /// What the events one command appended share: the transaction that appended them, or for an imported event
    /// the transaction that appended it in the database it came from (its metadata's `sourceTransaction`).
    public var commandGroup: String {
        if metadataJSON.range(of: Self.sourceTransactionKey) != nil, let source = metadata.sourceTransaction {
            return "source " + source
        }
        return String(transactionId)
    }

    private static let sourceTransactionKey = Data("\"sourceTransaction\"".utf8)
}

/// An event as the async projections read it from the log (`EventStore.readForProjections`).
public struct ProjectedEvent: Sendable, Equatable {
    public let position: Int64
    public let transactionId: UInt64
    public let streamId: String
    public let version: Int64
    public let type: String
    public let schemaVersion: Int
    /// The event's data as PostgreSQL returns it (JSON text).
    public let dataText: String
    /// Who caused it: the metadata's `actor` when that is a string.
    public let actor: String?
    public let recordedAt: Date

    public var logPosition: LogPosition { LogPosition(transactionId: transactionId, position: position) }
}

/// An event as a fold needs it: what happened, to which stream, when; no ids, log positions or metadata.
public protocol FoldableEvent: Sendable {
    var streamId: String { get }
    var version: Int64 { get }
    var type: String { get }
    var schemaVersion: Int { get }
    /// The event's data as JSON text.
    var dataText: String { get }
    var recordedAt: Date { get }
}

extension RecordedEvent: FoldableEvent {}

/// The columns of an event a fold reads, and nothing else (a rebuild's input: a third less to send and read).
public struct StreamEvent: FoldableEvent, Equatable {
    public let streamId: String
    public let version: Int64
    public let type: String
    public let schemaVersion: Int
    public let dataText: String
    public let recordedAt: Date
}

/// What an append did.
public struct AppendResult: Sendable, Hashable {
    public struct Appended: Sendable, Hashable {
        public let id: UUID
        public let position: Int64
        public let version: Int64
        public let transactionId: UInt64
        public let recordedAt: Date
    }

    /// The events in version order, as stored now.
    public let events: [Appended]
    /// True when every event id was stored already: nothing was written, `events` are the stored ones.
    public let duplicate: Bool

    /// The stream's version after this append's last event.
    public var lastVersion: Int64 { events.last?.version ?? 0 }
}

/// How far a reader of the global log is behind.
public struct LogLag: Sendable, Equatable {
    /// Committed events after the reader's position.
    public let events: Int64
    /// Age of the oldest of those events, in seconds (0 when there are none).
    public let seconds: Double

    public init(events: Int64, seconds: Double) {
        self.events = events
        self.seconds = seconds
    }
}

/// The event store: streams of events with expected-version appends, and the global log.
///
/// See `db/migrations/0001_event_store.sql` for the guarantees. Every method is safe to call concurrently.
public struct EventStore: Sendable {
    /// Largest `data` of one event, in bytes of JSON text.
    public static let maximumEventSize = 1_048_576
    /// Most events in one append.
    public static let maximumBatchSize = 1_000
    public static let maximumIdentifierLength = 200

    public let pool: ConnectionPool

    public init(pool: ConnectionPool) {
        self.pool = pool
    }

    // MARK: Appending

    /// Appends events to a stream atomically if it is at the expected version.
    ///
    /// Throws `version_conflict` when it is not (nothing written), `invalid_input` for bad events (nothing
    /// written). Appending event ids that are all stored already returns them with `duplicate == true`. With
    /// `.any`, a race with another appender is retried here.
    public func append(to streamId: String, expected: ExpectedVersion, events: [NewEvent]) async throws -> AppendResult {
        let payload = try Self.encode(streamId: streamId, events: events)
        var attempts = 0
        while true {
            attempts += 1
            do {
                return try await pool.runWithoutBlocking { connection in
                    do {
                        let fast = Self.fastStatement(streamId: streamId, expected: expected, payload: payload)
                        return try await Self.run(fast, on: connection, payload: payload)
                    } catch let error as PostgresError where error.sqlState == "23505" || error.sqlState == "HO001" {
                        // The fast path wrote nothing. The function tells a retried append (a duplicate) from a
                        // conflict, and names the conflict.
                        let full = Self.statement(streamId: streamId, expected: expected, payload: payload)
                        return try await Self.run(full, on: connection, payload: payload)
                    }
                }
            } catch let error as StoreError where attempts < 5 && error.cause?.sqlState == "23505" {
                // Lost a race on a unique index and waited for the winner to commit. Trying again settles it:
                // the same event ids are now stored (a duplicate), or the stream moved on (a version conflict,
                // or with `.any` simply the next version).
                continue
            }
        }
    }

    /// Appends inside the caller's transaction on `connection`, through `append_events` (a duplicate is answered
    /// here too, without aborting the transaction). Throws `StoreError`; on `version_conflict` the caller's
    /// transaction must roll back.
    public static func append(
        on connection: Connection, to streamId: String, expected: ExpectedVersion, events: [NewEvent]
    ) throws -> AppendResult {
        let payload = try encode(streamId: streamId, events: events)
        do {
            return try run(
                statement(streamId: streamId, expected: expected, payload: payload), on: connection, payload: payload)
        } catch let error as PostgresError where error.sqlState == "23505" {
            throw StoreError(
                .versionConflict, "stream \(streamId) was appended to concurrently; expected version \(expected)",
                cause: error
            )
        } catch let error as PostgresError {
            throw StoreError.from(error)
        }
    }

    /// The append as a statement, for a caller that pipelines it with others in a transaction (its result: one
    /// row per event). It is the fast path: a version mismatch or an event id stored already fails it (SQLSTATE
    /// HO001 or 23505, both a `version_conflict` after `StoreError.classify`) and aborts the transaction. Callers
    /// that hold the stream's lock and read its version under it, as the engine does, meet that only in a race
    /// with a writer that does not take the lock. Throws `invalid_input` for bad events.
    public static func appendStatement(to streamId: String, expected: ExpectedVersion, events: [NewEvent]) throws
        -> Statement
    {
        fastStatement(streamId: streamId, expected: expected, payload: try encode(streamId: streamId, events: events))
    }

    /// The fast path (see `0003_append_fast_path.sql`): one plain `INSERT … SELECT FROM unnest(…)`, its first
    /// version chosen by the expected version. Fails, writing nothing, on any mismatch or stored id.
    static func fastStatement(streamId: String, expected: ExpectedVersion, payload: EncodedEvents) -> Statement {
        let base = switch expected {
        case .noStream:
            // A stream whose events were all archived is not new (0018_archived_events.sql).
            """
            CASE WHEN EXISTS (SELECT FROM archived_events x WHERE x.stream_id = $1)
                 THEN append_version_mismatch($1, $2::bigint) ELSE $2::bigint END
            """
        case .exact:
            """
            CASE WHEN EXISTS (SELECT FROM events x WHERE x.stream_id = $1 AND x.version = $2::bigint) THEN $2::bigint
                 ELSE append_version_mismatch($1, $2::bigint) END
            """
        case .any:
            "(SELECT coalesce(max(x.version), 0) FROM all_events x WHERE x.stream_id = $1) + coalesce($2::bigint, 0)"
        }
        if payload.events.count == 1, let event = payload.events.first {
            // One event (the usual append): scalar parameters, no arrays for the server to parse and unnest.
            return (
                """
                INSERT INTO events AS e (event_id, stream_id, version, type, schema_version, data, metadata)
                VALUES ($3::uuid, $1, \(base) + 1, $4::text, $5::integer, $6::jsonb, $7::jsonb)
                RETURNING e.event_id, e.position, e.version, e.transaction_id, e.recorded_at, false
                """,
                [streamId, expected.parameter, event.id, event.type, event.schemaVersion, payload.data[0],
                 payload.metadata[0]]
            )
        }
        if payload.events.count <= maximumScalarBatch {
            // A few events: a row of scalar parameters each (one statement per batch size, prepared once).
            var rows: [String] = []
            var parameters: [(any PostgresEncodable)?] = [streamId, expected.parameter]
            for (index, event) in payload.events.enumerated() {
                let first = parameters.count + 1
                rows.append(
                    "($\(first)::uuid, $\(first + 1)::text, $\(first + 2)::integer, $\(first + 3)::jsonb, "
                        + "$\(first + 4)::jsonb, \(index + 1))")
                parameters += [event.id, event.type, event.schemaVersion, payload.data[index], payload.metadata[index]]
            }
            return (
                """
                INSERT INTO events AS e (event_id, stream_id, version, type, schema_version, data, metadata)
                SELECT v.id, $1, \(base) + v.n, v.type, v.schema_version, v.data, v.metadata
                  FROM (VALUES \(rows.joined(separator: ", "))) AS v (id, type, schema_version, data, metadata, n)
                 ORDER BY v.n
                RETURNING e.event_id, e.position, e.version, e.transaction_id, e.recorded_at, false
                """,
                parameters
            )
        }
        return (
            """
            INSERT INTO events AS e (event_id, stream_id, version, type, schema_version, data, metadata)
            SELECT u.id, $1, \(base) + u.n, u.type, u.schema_version, u.data, u.metadata
              FROM unnest($3::uuid[], $4::text[], $5::integer[], $6::jsonb[], $7::jsonb[]) WITH ORDINALITY
                   AS u (id, type, schema_version, data, metadata, n)
             ORDER BY u.n
            RETURNING e.event_id, e.position, e.version, e.transaction_id, e.recorded_at, false
            """,
            [streamId, expected.parameter] + payload.arrays()
        )
    }

    /// Up to this many events an append binds a row of scalar parameters per event; more go as arrays (one
    /// prepared statement whatever their number).
    static let maximumScalarBatch = 16

    private static func statement(streamId: String, expected: ExpectedVersion, payload: EncodedEvents) -> Statement {
        (
            """
            SELECT event_id, position, version, transaction_id, recorded_at, duplicate
              FROM append_events($1, $2, $3::uuid[], $4::text[], $5::integer[], $6::jsonb[], $7::jsonb[])
            """,
            [streamId, expected.parameter] + payload.arrays()
        )
    }

    /// Runs an append statement (the fast path or the function) and reads what it returned.
    private static func run(_ statement: Statement, on connection: Connection, payload: EncodedEvents) throws
        -> AppendResult
    {
        do {
            return try appendResult(connection.query(statement.sql, statement.parameters))
        } catch let error as PostgresError where error.sqlState == "22P02" || error.sqlState == "22P05" {
            throw refusedData(error, payload)
        }
    }

    /// `run` without blocking a thread.
    private static func run(_ statement: Statement, on connection: Connection, payload: EncodedEvents) async throws
        -> AppendResult
    {
        do {
            return try appendResult(await connection.query(statement.sql, statement.parameters))
        } catch let error as PostgresError where error.sqlState == "22P02" || error.sqlState == "22P05" {
            throw refusedData(error, payload)
        }
    }

    /// The server refused some event's JSON: the error names which one.
    private static func refusedData(_ error: PostgresError, _ payload: EncodedEvents) -> any Error {
        payload.invalidData() ?? StoreError(.invalidInput, error.message, cause: error)
    }

    private static func appendResult(_ result: QueryResult) throws -> AppendResult {
        let appended = try result.rows.map { row in
            AppendResult.Appended(
                id: try row.uuid(0), position: try row.int64(1), version: try row.int64(2),
                transactionId: try row.uint64(3), recordedAt: try row.date(4)
            )
        }
        return AppendResult(events: appended, duplicate: try result.first?.bool(5) ?? false)
    }

    /// Checked events with their data and metadata as JSON text, ready to bind.
    struct EncodedEvents: Sendable {
        var events: [NewEvent]
        /// Each event's data as text.
        var data: [String]
        /// Each event's metadata as JSON text.
        var metadata: [String]

        /// The parallel array parameters (`uuid[]`, `text[]`, `integer[]`, `jsonb[]`, `jsonb[]`) that the
        /// multi-event fast path and `append_events` take, in PostgreSQL's array text format.
        func arrays() -> [(any PostgresEncodable)?] {
            var ids = "{", types = "{", schemaVersions = "{", data = "{", metadata = "{"
            data.reserveCapacity(self.data.reduce(2) { $0 + $1.utf8.count + 8 })
            for (index, event) in events.enumerated() {
                let separator = index > 0 ? "," : ""
                ids += separator + event.id.lowercaseText
                types += separator
                EventStore.appendArrayElement(event.type, to: &types)
                schemaVersions += separator + String(event.schemaVersion)
                data += separator
                EventStore.appendArrayElement(self.data[index], to: &data)
                metadata += separator
                EventStore.appendArrayElement(self.metadata[index], to: &metadata)
            }
            return [ids + "}", types + "}", schemaVersions + "}", data + "}", metadata + "}"]
        }

        /// The first event whose data is not JSON, as an `invalid_input` error.
        func invalidData() -> StoreError? {
            for (index, event) in events.enumerated()
            where (try? JSONSerialization.jsonObject(with: event.data, options: [.fragmentsAllowed])) == nil {
                return StoreError(.invalidInput, "\(EventStore.label(index, event)): data is not valid JSON")
            }
            return nil
        }
    }

    static func label(_ index: Int, _ event: NewEvent) -> String {
        "event \(index + 1) (\(event.type.isEmpty ? "no type" : event.type))"
    }

    /// An array element in double quotes, for PostgreSQL's array text format: quotes and backslashes escaped.
    /// Event data is JSON, so it always holds quotes: the escaping works on the UTF-8 bytes in one pass.
    static func appendArrayElement(_ text: String, to array: inout String) {
        var text = text
        let element = text.withUTF8 { bytes -> String? in
            var specials = 0
            for byte in bytes where byte == 0x22 || byte == 0x5C { specials += 1 }
            // Nothing to escape (ids, names, times): appended as it is, with no string in between.
            guard specials > 0 else { return nil }
            return String(unsafeUninitializedCapacity: bytes.count + specials + 2) { buffer in
                var count = 0
                buffer[count] = 0x22
                count += 1
                for byte in bytes {
                    if byte == 0x22 || byte == 0x5C {
                        buffer[count] = 0x5C
                        count += 1
                    }
                    buffer[count] = byte
                    count += 1
                }
                buffer[count] = 0x22
                return count + 1
            }
        }
        guard let element else {
            array.append("\"")
            array.append(text)
            array.append("\"")
            return
        }
        array.append(element)
    }

    /// Checks the events and renders their data and metadata as text. Whether each event's data is JSON is left
    /// to the server, which parses every event's on its own.
    static func encode(streamId: String, events: [NewEvent]) throws -> EncodedEvents {
        guard !streamId.isEmpty else { throw StoreError(.invalidInput, "the stream id is empty") }
        guard streamId.count <= maximumIdentifierLength else {
            throw StoreError(.invalidInput, "the stream id is longer than \(maximumIdentifierLength) characters")
        }
        guard !events.isEmpty else { throw StoreError(.invalidInput, "an append needs at least one event") }
        guard events.count <= maximumBatchSize else {
            throw StoreError(.invalidInput, "an append holds at most \(maximumBatchSize) events, not \(events.count)")
        }
        guard Set(events.map(\.id)).count == events.count else {
            throw StoreError(.invalidInput, "the same event id appears twice in one append")
        }
        var data: [String] = []
        data.reserveCapacity(events.count)
        for (index, event) in events.enumerated() {
            guard !event.type.isEmpty, event.type.count <= maximumIdentifierLength else {
                throw StoreError(
                    .invalidInput,
                    "\(label(index, event)): the type must have 1 to \(maximumIdentifierLength) characters"
                )
            }
            guard event.data.count <= maximumEventSize else {
                throw StoreError(
                    .invalidInput,
                    "\(label(index, event)): data is \(event.data.count) bytes, more than the limit of \(maximumEventSize)"
                )
            }
            // Checked on the bytes at once (`Data`'s own iteration goes byte by byte through an iterator).
            let text = event.data.withUnsafeBytes { bytes -> String? in
                guard let base = bytes.baseAddress, memchr(base, 0, bytes.count) == nil else { return nil }
                return String(validating: bytes.bindMemory(to: UInt8.self), as: UTF8.self)
            }
            guard let text else {
                throw StoreError(.invalidInput, "\(label(index, event)): data is not valid JSON")
            }
            data.append(text)
        }
        return EncodedEvents(events: events, data: data, metadata: events.map(\.metadata.jsonText))
    }

    // MARK: Reading

    /// The channel writers notify after they commit events; a notification is only a hint to read the log again.
    public static let notificationChannel = "handoff_events"

    /// `NOTIFY handoff_events`, in a statement of its own (so not in an appending transaction).
    public static func notifyListeners(on connection: Connection) throws {
        try connection.query("SELECT pg_notify($1, '')", [notificationChannel])
    }

    static let columns =
        "position, transaction_id, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at"

    static let readSQL =
        "SELECT \(columns) FROM all_events WHERE stream_id = $1 AND version >= $2 ORDER BY version LIMIT $3"

    /// A stream's events from `version` on (1 is the first), in version order; empty for an unknown stream.
    public func read(stream streamId: String, from version: Int64 = 1, limit: Int = Int(Int32.max)) async throws
        -> [RecordedEvent]
    {
        try await pool.run { connection in
            try Self.read(on: connection, stream: streamId, from: version, limit: limit)
        }
    }

    public static func read(on connection: Connection, stream streamId: String, from version: Int64 = 1,
                            limit: Int = Int(Int32.max)) throws -> [RecordedEvent] {
        try connection.query(readSQL, [streamId, version, limit]).rows.map(decode)
    }

    /// `read(on:stream:from:limit:)` without blocking a thread (inside a write's transaction).
    public static func read(on connection: Connection, stream streamId: String, from version: Int64 = 1,
                            limit: Int = Int(Int32.max)) async throws -> [RecordedEvent] {
        try await connection.query(readSQL, [streamId, version, limit]).rows.map(decode)
    }

    /// The stream's current version (0 when it does not exist).
    public func version(of streamId: String) async throws -> Int64 {
        try await pool.run { connection in
            try connection.query(
                "SELECT coalesce(max(version), 0) FROM all_events WHERE stream_id = $1", [streamId]
            ).rows[0].int64(0)
        }
    }

    /// The next events of the global log after `position`, oldest first, at most `limit`.
    ///
    /// Only events of transactions older than every transaction still running are returned, so a later call never
    /// returns an event that sorts before one already returned: checkpointing the last event's `logPosition` and
    /// reading on from it sees every committed event exactly once. An open transaction delays readers; it never
    /// makes them skip.
    public func readAll(after position: LogPosition, limit: Int = 1_000) async throws -> [RecordedEvent] {
        try await pool.run { connection in
            try Self.readAll(on: connection, after: position, limit: limit)
        }
    }

    public static func readAll(on connection: Connection, after position: LogPosition, limit: Int) throws
        -> [RecordedEvent]
    {
        try connection.query(readAllSQL, [position.transactionId, position.position, limit]).rows.map(decode)
    }

    /// The log after `position` as the async projections read it (`readAll`'s gap-safe read, in the same order):
    /// without the event ids and with only the caller's name from the metadata, which is all the projections
    /// use, so the server and the client each do less per event.
    public static func readForProjections(on connection: Connection, after position: LogPosition, limit: Int) throws
        -> [ProjectedEvent]
    {
        try connection.query(readForProjectionsSQL, [position.transactionId, position.position, limit]).rows.map { row in
            ProjectedEvent(
                position: try row.int64(0), transactionId: try row.uint64(1), streamId: try row.string(2),
                version: try row.int64(3), type: try row.string(4), schemaVersion: try row.int(5),
                dataText: try row.string(6), actor: row.optionalString(7), recordedAt: try row.date(8))
        }
    }

    static let readForProjectionsSQL = """
        SELECT position, transaction_id, stream_id, version, type, schema_version, data,
               CASE WHEN jsonb_typeof(metadata -> 'actor') = 'string' THEN metadata ->> 'actor' END, recorded_at
        \(logAfterSQL)
        """

    static let readAllSQL = "SELECT \(columns) \(logAfterSQL)"

    /// The gap-safe read's rows ($1, $2: the position read after; $3: how many), whatever columns are selected.
    private static let logAfterSQL = """
        FROM all_events
         WHERE (transaction_id, position) > ($1::xid8, $2::bigint)
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
         ORDER BY transaction_id, position
         LIMIT $3
        """

    /// The last `limit` events of the global log, newest first: what happened lately, across onboardings.
    public static func latest(on connection: Connection, limit: Int) throws -> [RecordedEvent] {
        try connection.query(latestSQL, [limit]).rows.map(decode)
    }

    static let latestSQL = "SELECT \(columns) FROM all_events ORDER BY position DESC LIMIT $1"

    /// Where a reader that wants only what comes next starts: after the last event `readAll` can return now.
    public static func end(on connection: Connection) throws -> LogPosition {
        let rows = try connection.query(
            """
            SELECT transaction_id, position FROM all_events
             WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
             ORDER BY transaction_id DESC, position DESC
             LIMIT 1
            """
        ).rows
        guard let row = rows.first else { return .start }
        return LogPosition(transactionId: try row.uint64(0), position: try row.int64(1))
    }

    /// How many events the log holds (a count of the whole table: for a rebuild's progress, not for hot paths).
    public static func committedCount(on connection: Connection) throws -> Int64 {
        try connection.query("SELECT count(*) FROM all_events").rows[0].int64(0)
    }

    /// How far a reader at `position` is behind: committed events after it, and the oldest one's age.
    public func lag(after position: LogPosition) async throws -> LogLag {
        try await pool.run { connection in
            let row = try connection.query(
                """
                SELECT count(*), coalesce(extract(epoch FROM now() - min(recorded_at)), 0)::float8 FROM all_events
                 WHERE (transaction_id, position) > ($1::xid8, $2::bigint)
                """,
                [position.transactionId, position.position]
            ).rows[0]
            return LogLag(events: try row.int64(0), seconds: max(0, try row.double(1)))
        }
    }

    static func decode(_ row: Row) throws -> RecordedEvent {
        RecordedEvent(
            position: try row.int64(0), transactionId: try row.uint64(1), id: try row.uuid(2),
            streamId: try row.string(3), version: try row.int64(4), type: try row.string(5),
            schemaVersion: try row.int(6), dataText: try row.string(7), metadataJSON: try row.data(8),
            recordedAt: try row.date(9)
        )
    }
}
