import CLibPQ
import Foundation

/// Where and how to connect.
public struct ConnectionConfiguration: Sendable {
    /// A libpq connection string (`host=… port=…`) or a `postgres://` URL.
    public var connectionString: String
    /// A database name that replaces the one in `connectionString`, when set.
    public var database: String?
    public var applicationName: String
    /// Sessions that sit idle inside a transaction longer than this are ended by the server, so a stuck client
    /// cannot hold back readers of the global log for long.
    public var idleInTransactionTimeoutMilliseconds: Int
    /// How long a statement waits for a lock (a stream lock, a row another session holds) before it is refused with
    /// SQLSTATE 55P03, so one stuck session cannot block everyone else's commands indefinitely.
    public var lockTimeoutMilliseconds: Int
    /// How long one statement may run before the server cancels it (SQLSTATE 57014).
    public var statementTimeoutMilliseconds: Int
    public var connectTimeoutSeconds: Int

    public init(
        _ connectionString: String,
        database: String? = nil,
        applicationName: String = "handoff",
        idleInTransactionTimeoutMilliseconds: Int = 60_000,
        lockTimeoutMilliseconds: Int = 5_000,
        statementTimeoutMilliseconds: Int = 120_000,
        connectTimeoutSeconds: Int = 10
    ) {
        self.connectionString = connectionString
        self.database = database
        self.applicationName = applicationName
        self.idleInTransactionTimeoutMilliseconds = idleInTransactionTimeoutMilliseconds
        self.lockTimeoutMilliseconds = lockTimeoutMilliseconds
        self.statementTimeoutMilliseconds = statementTimeoutMilliseconds
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }
}

extension ConnectionConfiguration {
    /// The connection as libpq's environment variables (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`,
    /// `PGDATABASE`, …), for running libpq's own programs (pgbench, psql) against the same server without putting
    /// a password on their command line. Throws `.invalidArgument` when libpq cannot parse the connection string.
    public func libpqEnvironment() throws -> [String: String] {
        var failure: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(connectionString, &failure) else {
            let reason = failure.map { String(cString: $0).trimmingCharacters(in: .whitespacesAndNewlines) }
            failure.map { PQfreemem($0) }
            throw PostgresError(.invalidArgument, message: "cannot read the connection string: \(reason ?? "no reason given")")
        }
        defer { PQconninfoFree(options) }
        var environment: [String: String] = [:]
        var option = options
        while option.pointee.keyword != nil {
            if let value = option.pointee.val, let variable = option.pointee.envvar {
                environment[String(cString: variable)] = String(cString: value)
            }
            option += 1
        }
        if let database { environment["PGDATABASE"] = database }
        environment["PGAPPNAME"] = applicationName
        return environment
    }
}

/// A statement with its parameters, for `pipeline`.
public typealias Statement = (sql: String, parameters: [(any PostgresEncodable)?])

/// Transaction isolation levels.
public enum IsolationLevel: String, Sendable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}

/// One libpq connection. The synchronous calls block their thread until the server answers; the async ones
/// (`query(_:_:) async`, `pipeline(_:) async`, `transaction(pipelinedWith:_:) async`) send without blocking and wait
/// in the process's `SocketPoller`.
///
/// Use it through `ConnectionPool`, which runs the blocking calls on threads outside Swift's cooperative pool
/// (`withConnection`) or lends the connection to an async body on the poller's thread (`withAsyncConnection`), one
/// borrower at a time. Statements with parameters are prepared once per connection and reused, so repeated
/// statements skip parsing and planning.
///
/// Why the unchecked sendability is safe: a `Connection` holds a libpq handle that must not be used from two threads
/// at once. It is only ever touched by the one borrower that `ConnectionPool` lent it to (or by the single thread a
/// `NotificationListener` owns), and lending passes through the pool's mutex, which orders each borrower's accesses
/// after the previous one's. An async borrower is one task: its accesses follow one another across its suspension
/// points, each resumption ordered after the poller saw the socket ready. No method is called on it concurrently.
public final class Connection: @unchecked Sendable {
    private let handle: OpaquePointer
    private var preparedStatements: [String: String] = [:]
    /// Whether libpq's output is in non-blocking mode (the async calls) or blocking mode (the others).
    private var nonBlocking = false
    /// Whether the socket was ever handed to the poller (then it must forget it before the socket closes).
    private var polled = false
    /// Statements run since the pool lent this connection; the pool uses it to tell a stale idle connection
    /// (failed on its first statement) from a failure in the middle of work.
    var statementsInLease = 0

    /// Opens a connection; throws `.connectionFailed` with libpq's reason.
    public init(_ configuration: ConnectionConfiguration) throws {
        let options = "-c idle_in_transaction_session_timeout=\(configuration.idleInTransactionTimeoutMilliseconds)"
            + " -c lock_timeout=\(configuration.lockTimeoutMilliseconds)"
            + " -c statement_timeout=\(configuration.statementTimeoutMilliseconds)"
            + " -c TimeZone=UTC -c DateStyle=ISO,YMD -c client_min_messages=warning"
        // The first dbname is expanded as a whole connection string; a later one is a plain database name.
        var keywords = ["dbname", "application_name", "connect_timeout", "options"]
        var values = [
            configuration.connectionString, configuration.applicationName,
            String(configuration.connectTimeoutSeconds), options,
        ]
        if let database = configuration.database {
            keywords.append("dbname")
            values.append(database)
        }
        let connection = withCStringArray(keywords) { keywordPointers in
            withCStringArray(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let connection else {
            throw PostgresError(.connectionFailed, message: "libpq could not allocate a connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(connection)
            throw PostgresError(.connectionFailed, message: message)
        }
        // libpq's default prints every notice and warning the server sends (`WARNING: …`) straight to stderr, in
        // the middle of a command's output; Handoff reports what matters through its own errors instead.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        handle = connection
    }

    deinit {
        if polled { SocketPoller.shared.forget(PQsocket(handle)) }
        PQfinish(handle)
    }

    /// False once the server has gone away or the socket broke.
    public var isHealthy: Bool { PQstatus(handle) == CONNECTION_OK }

    /// True while a transaction is open on this connection (including a failed one awaiting ROLLBACK).
    public var isInTransaction: Bool {
        let status = PQtransactionStatus(handle)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE
    }

    /// The server's backend process id, useful in tests that need to tell sessions apart.
    public var backendProcessID: Int32 { PQbackendPID(handle) }

    /// Runs one statement with parameters (`$1`, `$2`, …) and returns its rows.
    ///
    /// The statement is prepared on first use on this connection. Throws `PostgresError`.
    @discardableResult
    public func query(_ sql: String, _ parameters: [(any PostgresEncodable)?] = []) throws -> QueryResult {
        try setNonBlocking(false)
        statementsInLease += 1
        let name = try preparedName(for: sql, parameterCount: parameters.count)
        let result = withCStrings(try parameterTexts(parameters)) { count, pointers in
            PQexecPrepared(handle, name, count, pointers, nil, nil, 0)
        }
        return try consume(result)
    }

    /// Sends several statements at once and waits for all their results: one network round trip instead of one
    /// per statement (libpq's pipeline mode). The server runs them in order, each seeing what the ones before it
    /// did; if one fails, the ones after it are skipped and its error is thrown.
    ///
    /// Use it for statements that don't depend on each other's results, e.g. `BEGIN`, a lock and a read. Each
    /// statement is prepared before any runs, so none may name a table an earlier one in the pipeline creates.
    @discardableResult
    public func pipeline(_ statements: [Statement]) throws -> [QueryResult] {
        try setNonBlocking(false)
        statementsInLease += statements.count
        let names = try statements.map { try preparedName(for: $0.sql, parameterCount: $0.parameters.count) }
        // A NUL byte refuses the whole pipeline before any statement of it is sent.
        let texts = try statements.map { try parameterTexts($0.parameters) }
        try sendPipeline(texts, names: names)
        defer { PQexitPipelineMode(handle) }
        var results: [QueryResult] = []
        var failure: (any Error)?
        for _ in statements {
            // Each statement's result, then a NULL that ends it.
            let result = PQgetResult(handle)
            while let extra = PQgetResult(handle) { PQclear(extra) }
            collect(result, into: &results, failure: &failure)
        }
        // The sync point's own result, and anything left (PQexitPipelineMode needs an idle connection).
        while let rest = PQgetResult(handle) { PQclear(rest) }
        if let failure { throw failure }
        return results
    }

    /// Runs SQL text without parameters; it may hold several statements (migrations, `LISTEN`, `BEGIN`).
    ///
    /// Never put values into `sql`: use `query(_:_:)` with parameters for anything that varies.
    @discardableResult
    public func execute(_ sql: String) throws -> QueryResult {
        statementsInLease += 1
        return try consume(PQexec(handle, sql))
    }

    /// Loads rows with `COPY table (columns) FROM STDIN`: the fastest way to write many rows, with no statement
    /// to plan or JSON to unpack per batch. `rows` are in COPY's text format (`CopyText` writes it). Returns
    /// the number of rows the server stored; a row the server refuses fails the whole copy (`PostgresError`).
    ///
    /// `table` and `columns` are written into the statement as they are: pass names, never input.
    @discardableResult
    public func copy(into table: String, columns: [String], rows: String) throws -> Int {
        try setNonBlocking(false)
        statementsInLease += 1
        let start = PQexec(handle, "COPY \(table) (\(columns.joined(separator: ", "))) FROM STDIN")
        guard let start, PQresultStatus(start) == PGRES_COPY_IN else {
            _ = try consume(start)
            throw PostgresError(.server, message: "COPY into \(table) did not start")
        }
        PQclear(start)
        var sent = rows
        let wrote = sent.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress, Int32($0.count)) }
        }
        guard wrote == 1, PQputCopyEnd(handle, nil) == 1 else {
            throw PostgresError(.connectionLost, message: lastErrorMessage())
        }
        // The copy's result, then a NULL that ends it.
        let result = PQgetResult(handle)
        while let extra = PQgetResult(handle) { PQclear(extra) }
        return try consume(result).affectedRows
    }

    /// Runs `body` in a transaction: COMMIT when it returns, ROLLBACK when it throws (then rethrows).
    public func transaction<T>(
        isolation: IsolationLevel = .readCommitted,
        _ body: (Connection) throws -> T
    ) throws -> T {
        try execute(isolation == .readCommitted ? "BEGIN" : "BEGIN ISOLATION LEVEL \(isolation.rawValue)")
        let value: T
        do {
            value = try body(self)
        } catch {
            if isHealthy {
                _ = try? execute("ROLLBACK")
            }
            throw error
        }
        try execute("COMMIT")
        return value
    }

    /// Runs `body` in a transaction whose `BEGIN` travels in one round trip with `first`, and whose last
    /// statements (what `body` returns as `last`) travel in one round trip with `COMMIT` (see `pipeline`). `body`
    /// gets the results of `first`. When anything throws, the transaction rolls back and the error is rethrown.
    public func transaction<T>(
        pipelinedWith first: [Statement],
        _ body: (Connection, [QueryResult]) throws -> (value: T, last: [Statement])
    ) throws -> T {
        do {
            let results = try pipeline([("BEGIN", [])] + first)
            let (value, last) = try body(self, Array(results.dropFirst()))
            try pipeline(last + [("COMMIT", [])])
            return value
        } catch {
            if isHealthy, isInTransaction {
                _ = try? execute("ROLLBACK")
            }
            throw error
        }
    }

    // MARK: Without blocking a thread

    /// `query(_:_:)` without blocking a thread: the statement is sent, and the task waits for the answer in the
    /// process's one socket poller, so nothing sits blocked per connection and the caller's own task goes on when
    /// the answer is there. Use it from async code (a body lent by `ConnectionPool.withAsyncConnection`).
    @discardableResult
    public func query(_ sql: String, _ parameters: [(any PostgresEncodable)?] = []) async throws -> QueryResult {
        statementsInLease += 1
        let name = try await preparedNameWithoutBlocking(for: sql, parameterCount: parameters.count)
        let sent = withCStrings(try parameterTexts(parameters)) { count, pointers in
            PQsendQueryPrepared(handle, name, count, pointers, nil, nil, 0)
        }
        guard sent == 1 else { throw PostgresError(.connectionLost, message: lastErrorMessage()) }
        try await flush()
        return try await singleResult()
    }

    /// `pipeline(_:)` without blocking a thread (see `query(_:_:) async`).
    @discardableResult
    public func pipeline(_ statements: [Statement]) async throws -> [QueryResult] {
        statementsInLease += statements.count
        // A NUL byte refuses the whole pipeline before any statement of it is sent.
        let texts = try statements.map { try parameterTexts($0.parameters) }
        var names: [String] = []
        for statement in statements {
            names.append(try await preparedNameWithoutBlocking(for: statement.sql, parameterCount: statement.parameters.count))
        }
        try sendPipeline(texts, names: names)
        defer { PQexitPipelineMode(handle) }
        try await flush()
        var results: [QueryResult] = []
        var failure: (any Error)?
        for _ in statements {
            // Each statement's result, then a NULL that ends it.
            let result = try await nextResult()
            while let extra = try await nextResult() { PQclear(extra) }
            collect(result, into: &results, failure: &failure)
        }
        // The sync point's own result, and anything left (PQexitPipelineMode needs an idle connection).
        while let rest = try await nextResult() { PQclear(rest) }
        if let failure { throw failure }
        return results
    }

    /// `transaction(pipelinedWith:_:)` without blocking a thread; `body` may await.
    public func transaction<T>(
        pipelinedWith first: [Statement],
        _ body: (Connection, [QueryResult]) async throws -> (value: T, last: [Statement])
    ) async throws -> T {
        do {
            let results = try await pipeline([("BEGIN", [])] + first)
            let (value, last) = try await body(self, Array(results.dropFirst()))
            try await pipeline(last + [("COMMIT", [])])
            return value
        } catch {
            if isHealthy, isInTransaction {
                _ = try? await pipeline([("ROLLBACK", [])])
            }
            throw error
        }
    }

    /// Enters pipeline mode and sends the prepared statements (their parameters' checked texts) and a sync point
    /// (the caller reads the results, then leaves pipeline mode).
    private func sendPipeline(_ texts: [[String?]], names: [String]) throws {
        guard PQenterPipelineMode(handle) == 1 else {
            throw PostgresError(isHealthy ? .server : .connectionLost, message: lastErrorMessage())
        }
        do {
            for (parameters, name) in zip(texts, names) {
                let sent = withCStrings(parameters) { count, pointers in
                    PQsendQueryPrepared(handle, name, count, pointers, nil, nil, 0)
                }
                guard sent == 1 else { throw PostgresError(.connectionLost, message: lastErrorMessage()) }
            }
            guard PQpipelineSync(handle) == 1 else { throw PostgresError(.connectionLost, message: lastErrorMessage()) }
        } catch {
            PQexitPipelineMode(handle)
            throw error
        }
    }

    /// One pipelined statement's result: its rows, or the first failure kept; a statement skipped after a failure
    /// (`PGRES_PIPELINE_ABORTED`) gives neither.
    private func collect(_ result: OpaquePointer?, into results: inout [QueryResult], failure: inout (any Error)?) {
        if let result, PQresultStatus(result) == PGRES_PIPELINE_ABORTED {
            PQclear(result)
            return
        }
        do {
            results.append(try consume(result))
        } catch {
            if failure == nil { failure = error }
        }
    }

    private func setNonBlocking(_ wanted: Bool) throws {
        guard nonBlocking != wanted else { return }
        guard PQsetnonblocking(handle, wanted ? 1 : 0) == 0 else {
            throw PostgresError(.connectionLost, message: lastErrorMessage())
        }
        nonBlocking = wanted
    }

    /// Sends what libpq holds back, waiting in the poller while the socket's buffer is full.
    private func flush() async throws {
        while true {
            switch PQflush(handle) {
            case 0:
                return
            case 1:
                try await waitForSocket(.readableOrWritable)
                // The server may be waiting for us to read before it reads more.
                guard PQconsumeInput(handle) == 1 else { throw PostgresError(.connectionLost, message: lastErrorMessage()) }
            default:
                throw PostgresError(.connectionLost, message: lastErrorMessage())
            }
        }
    }

    /// The next result, waiting in the poller while libpq has not received it whole; nil ends a statement's results.
    private func nextResult() async throws -> OpaquePointer? {
        while PQisBusy(handle) == 1 {
            try await waitForSocket(.readable)
            guard PQconsumeInput(handle) == 1 else { throw PostgresError(.connectionLost, message: lastErrorMessage()) }
        }
        return PQgetResult(handle)
    }

    /// The one result of a statement sent on its own (read to the NULL that ends it).
    private func singleResult() async throws -> QueryResult {
        let result = try await nextResult()
        while let extra = try await nextResult() { PQclear(extra) }
        return try consume(result)
    }

    private func waitForSocket(_ interest: SocketPoller.Interest) async throws {
        let socket = PQsocket(handle)
        guard socket >= 0 else { throw PostgresError(.connectionLost, message: "the connection has no socket") }
        polled = true
        try await SocketPoller.shared.wait(for: interest, on: socket)
    }

    private func preparedNameWithoutBlocking(for sql: String, parameterCount: Int) async throws -> String {
        try setNonBlocking(true)
        if let name = preparedStatements[sql] { return name }
        let name = "handoff_\(preparedStatements.count + 1)"
        guard PQsendPrepare(handle, name, sql, Int32(parameterCount), nil) == 1 else {
            throw PostgresError(.connectionLost, message: lastErrorMessage())
        }
        try await flush()
        _ = try await singleResult()
        preparedStatements[sql] = name
        return name
    }

    /// Quotes a name (a channel, a database) for the few statements that cannot take parameters.
    public func quoteIdentifier(_ name: String) throws -> String {
        guard let quoted = PQescapeIdentifier(handle, name, name.utf8.count) else {
            throw PostgresError(.invalidArgument, message: lastErrorMessage())
        }
        defer { PQfreemem(quoted) }
        return String(cString: quoted)
    }

    // MARK: LISTEN / NOTIFY

    /// Starts listening on a channel; notifications arrive through `waitForNotifications(timeoutMilliseconds:)`.
    public func listen(_ channel: String) throws {
        try execute("LISTEN \(try quoteIdentifier(channel))")
    }

    /// Blocks up to the timeout for notifications on the channels this connection listens to.
    /// Throws `.connectionLost` when the connection broke.
    public func waitForNotifications(timeoutMilliseconds: Int32) throws -> [Notification] {
        var received = drainNotifications()
        if !received.isEmpty { return received }
        let socket = PQsocket(handle)
        guard socket >= 0 else { throw PostgresError(.connectionLost, message: "the connection has no socket") }
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, timeoutMilliseconds)
        if ready > 0 {
            guard PQconsumeInput(handle) == 1 else {
                throw PostgresError(.connectionLost, message: lastErrorMessage())
            }
            received = drainNotifications()
        }
        if !isHealthy { throw PostgresError(.connectionLost, message: lastErrorMessage()) }
        return received
    }

    private func drainNotifications() -> [Notification] {
        var received: [Notification] = []
        while let notify = PQnotifies(handle) {
            let channel = String(cString: notify.pointee.relname)
            let payload = String(cString: notify.pointee.extra)
            received.append(Notification(channel: channel, payload: payload, processID: notify.pointee.be_pid))
            PQfreemem(notify)
        }
        return received
    }

    // MARK: Results

    private func preparedName(for sql: String, parameterCount: Int) throws -> String {
        try setNonBlocking(false)
        if let name = preparedStatements[sql] { return name }
        let name = "handoff_\(preparedStatements.count + 1)"
        let result = PQprepare(handle, name, sql, Int32(parameterCount), nil)
        _ = try consume(result)
        preparedStatements[sql] = name
        return name
    }

    private func consume(_ result: OpaquePointer?) throws -> QueryResult {
        guard let result else {
            throw PostgresError(isHealthy ? .server : .connectionLost, message: lastErrorMessage())
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return QueryResult(columns: [], rows: [], affectedRows: affectedRows(result))
        case PGRES_TUPLES_OK:
            return readRows(result)
        default:
            let sqlState = field(result, "C")
            let message = field(result, "M") ?? lastErrorMessage()
            let kind: PostgresError.Kind = (sqlState == nil && !isHealthy) ? .connectionLost : .server
            throw PostgresError(
                kind, message: message, sqlState: sqlState, detail: field(result, "D"), constraint: field(result, "n")
            )
        }
    }

    private func readRows(_ result: OpaquePointer) -> QueryResult {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        var rows: [Row] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                    values.append(nil)
                } else {
                    let length = Int(PQgetlength(result, Int32(row), Int32(column)))
                    let pointer = PQgetvalue(result, Int32(row), Int32(column))!
                    values.append(pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
                        String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
                    })
                }
            }
            rows.append(Row(values: values))
        }
        return QueryResult(columns: columns, rows: rows, affectedRows: affectedRows(result))
    }

    private func affectedRows(_ result: OpaquePointer) -> Int {
        Int(String(cString: PQcmdTuples(result))) ?? 0
    }

    private func field(_ result: OpaquePointer, _ code: Character) -> String? {
        guard let ascii = code.asciiValue, let value = PQresultErrorField(result, Int32(ascii)) else { return nil }
        return String(cString: value)
    }

    private func lastErrorMessage() -> String {
        String(cString: PQerrorMessage(handle)).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A message sent with `NOTIFY channel, 'payload'` (or `pg_notify`).
public struct Notification: Sendable, Equatable {
    public let channel: String
    public let payload: String
    public let processID: Int32
}

private func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    withOptionalCStringArray(strings.map(Optional.some), body)
}

private func withOptionalCStringArray<R>(
    _ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R
) -> R {
    // A trailing NULL: libpq's keyword arrays end with one, and the buffer is never empty.
    let pointers: [UnsafeMutablePointer<CChar>?] = strings.map { $0.flatMap { strdup($0) } } + [nil]
    defer { pointers.forEach { free($0) } }
    return pointers.map { UnsafePointer($0) }.withUnsafeBufferPointer { buffer in
        body(buffer.baseAddress!)
    }
}

/// The parameters' texts (nil for SQL NULL). Throws `.invalidArgument` when a text holds a NUL byte, which
/// PostgreSQL text cannot hold (and libpq would cut the value short at).
private func parameterTexts(_ parameters: [(any PostgresEncodable)?]) throws -> [String?] {
    var texts = parameters.map { $0?.postgresText }
    for index in texts.indices where texts[index] != nil {
        let clean = texts[index]!.withUTF8 { utf8 in
            utf8.baseAddress.map { memchr($0, 0, utf8.count) == nil } ?? true
        }
        guard clean else {
            throw PostgresError(
                .invalidArgument, message: "a parameter contains a NUL byte, which PostgreSQL text cannot hold")
        }
    }
    return texts
}

/// Texts from `parameterTexts` as NUL-terminated C strings (nil for SQL NULL), all in one buffer, for the duration
/// of `body`: one allocation per statement instead of one per parameter.
private func withCStrings<R>(_ texts: [String?], _ body: (Int32, UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    var texts = texts
    let size = texts.reduce(0) { $0 + ($1?.utf8.count ?? 0) + 1 }
    return withUnsafeTemporaryAllocation(of: CChar.self, capacity: max(1, size)) { bytes in
        withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: texts.count + 1) { pointers in
            var offset = 0
            for index in texts.indices {
                guard texts[index] != nil else {
                    pointers[index] = nil
                    continue
                }
                let start = offset
                texts[index]!.withUTF8 { utf8 in
                    if let base = utf8.baseAddress {
                        UnsafeMutableRawPointer(bytes.baseAddress! + offset).copyMemory(from: base, byteCount: utf8.count)
                    }
                    offset += utf8.count
                }
                bytes[offset] = 0
                offset += 1
                pointers[index] = UnsafePointer(bytes.baseAddress! + start)
            }
            pointers[texts.count] = nil
            return body(Int32(texts.count), UnsafePointer(pointers.baseAddress!))
        }
    }
}
