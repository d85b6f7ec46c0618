import Dispatch
import Synchronization

/// A bounded set of connections shared by concurrent tasks.
///
/// `withConnection` and `withTransaction` lend one connection to a synchronous body and run that body on a
/// Dispatch thread, so libpq's blocking calls never occupy Swift's cooperative thread pool. `withAsyncConnection`
/// and `withAsyncTransaction` lend one to an async body that runs on the socket poller's thread and sends its
/// statements without blocking (the engine's writes). When every connection is lent, callers wait in line. A connection that broke is dropped and replaced on demand, so the pool recovers by
/// itself once the server is back after a restart.
public final class ConnectionPool: Sendable {
    public let configuration: ConnectionConfiguration
    public let maximumConnections: Int
    private let state: Mutex<State>
    private let queue = DispatchQueue(label: "handoff.postgres.pool", attributes: .concurrent)

    private struct State: ~Copyable {
        var idle: [Connection] = []
        var open = 0
        var waiters: [CheckedContinuation<Connection?, Never>] = []
        var closed = false
    }

    public init(_ configuration: ConnectionConfiguration, maximumConnections: Int = 16) {
        self.configuration = configuration
        self.maximumConnections = max(1, maximumConnections)
        self.state = Mutex(State())
    }

    /// Lends a connection to `body`, run on a thread outside the cooperative pool; the connection returns to the
    /// pool afterwards (or is dropped if it broke).
    ///
    /// When a connection that sat idle fails on its very first statement because the server went away meanwhile,
    /// the pool drops every idle connection and runs `body` once more on a new connection: nothing had been sent
    /// that could have taken effect.
    @discardableResult
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await lend { connection in
            await withCheckedContinuation { continuation in
                queue.async {
                    continuation.resume(returning: Result { try body(connection) })
                }
            }
        }
    }

    /// Lends a connection to an async `body` that runs in the caller's task, on the socket poller's thread (see
    /// `SocketPoller`), and sends its statements with the connection's async calls (`query(_:_:) async`,
    /// `pipeline(_:) async`): no thread is borrowed or blocked, the task waits for each answer in the poller. The
    /// hot paths use it. `body` must not call the blocking calls (they would stall every connection's answers for
    /// a round trip) and should keep its CPU work short (it shares the poller's one thread).
    ///
    /// The same retry as `withConnection` when a connection that sat idle turns out stale on its first statement.
    @discardableResult
    public func withAsyncConnection<T>(_ body: (Connection) async throws -> T) async throws -> T {
        try await lend { connection in
            // On the poller's thread: the body's statements follow one another without a thread switch.
            await withTaskExecutorPreference(SocketPoller.shared) {
                do {
                    return .success(try await body(connection))
                } catch {
                    return .failure(error)
                }
            }
        }
    }

    /// The socket poller's thread, as a task executor. A caller that runs many commands in a row (a loop of
    /// commands, as the bench's clients are) can run on it, `withTaskExecutorPreference(pool.executor) { … }`, so
    /// that each lent body starts and ends without a thread switch, as pgbench drives all its clients from one
    /// thread. Only for code that never blocks: everything else that runs there waits while it does.
    public var executor: any TaskExecutor { SocketPoller.shared }

    /// `withTransaction(pipelinedWith:_:)` without blocking a thread (see `withAsyncConnection`).
    @discardableResult
    public func withAsyncTransaction<T>(
        pipelinedWith first: [Statement],
        _ body: (Connection, [QueryResult]) async throws -> (value: T, last: [Statement])
    ) async throws -> T {
        try await withAsyncConnection { connection in
            try await connection.transaction(pipelinedWith: first, body)
        }
    }

    /// Lends a connection to `run`, returns it (or drops it when it broke), and runs `run` once more on a new
    /// connection when a reused one failed on its very first statement.
    private func lend<T>(_ run: (Connection) async -> Result<T, any Error>) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            let (connection, reused) = try await acquire()
            connection.statementsInLease = 0
            let outcome = await run(connection)
            let healthy = connection.isHealthy && !connection.isInTransaction
            let staleOnFirstStatement = !connection.isHealthy && reused && connection.statementsInLease <= 1
            release(connection, healthy: healthy)
            switch outcome {
            case .success(let value):
                return value
            case .failure(let error):
                if staleOnFirstStatement, attempt == 1 {
                    dropIdleConnections()
                    continue
                }
                throw error
            }
        }
    }

    /// Lends a connection and runs `body` inside a transaction on it (see `Connection.transaction`).
    @discardableResult
    public func withTransaction<T: Sendable>(
        isolation: IsolationLevel = .readCommitted,
        _ body: @escaping @Sendable (Connection) throws -> T
    ) async throws -> T {
        try await withConnection { connection in
            try connection.transaction(isolation: isolation, body)
        }
    }

    /// Lends a connection and runs `body` in a transaction whose `BEGIN` is pipelined with `first` and whose
    /// last statements are pipelined with `COMMIT` (see `Connection.transaction(pipelinedWith:_:)`).
    @discardableResult
    public func withTransaction<T: Sendable>(
        pipelinedWith first: [Statement],
        _ body: @escaping @Sendable (Connection, [QueryResult]) throws -> (value: T, last: [Statement])
    ) async throws -> T {
        try await withConnection { connection in
            try connection.transaction(pipelinedWith: first, body)
        }
    }

    /// Closes idle connections and refuses new borrowers; lent connections close when they come back.
    public func close() {
        let (idle, waiters) = state.withLock { state in
            state.closed = true
            let idle = state.idle
            let waiters = state.waiters
            state.open -= idle.count
            state.idle = []
            state.waiters = []
            return (idle, waiters)
        }
        _ = idle
        waiters.forEach { $0.resume(returning: nil) }
    }

    /// Connections open now, lent or idle.
    public var openConnections: Int { state.withLock { $0.open } }

    // MARK: Lending

    private enum Grant {
        case reuse(Connection)
        case create
        case wait
        case closed
    }

    private func acquire() async throws -> (Connection, reused: Bool) {
        let grant: Grant = state.withLock { state in
            if state.closed { return .closed }
            if let connection = state.idle.popLast() { return .reuse(connection) }
            if state.open < maximumConnections {
                state.open += 1
                return .create
            }
            return .wait
        }
        switch grant {
        case .reuse(let connection):
            return (connection, true)
        case .create:
            return (try await connect(), false)
        case .closed:
            throw PostgresError(.connectionFailed, message: "the connection pool is closed")
        case .wait:
            let handedOver: Connection? = await withCheckedContinuation { continuation in
                let closed = state.withLock { state in
                    if state.closed { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if closed { continuation.resume(returning: nil) }
            }
            guard let connection = handedOver else {
                // Either the pool closed, or a slot freed up for a new connection (see `release`).
                if state.withLock({ $0.closed }) {
                    throw PostgresError(.connectionFailed, message: "the connection pool is closed")
                }
                return (try await connect(), false)
            }
            return (connection, true)
        }
    }

    /// Opens a connection for a slot already counted in `open`; gives the slot back if connecting fails.
    private func connect() async throws -> Connection {
        let configuration = configuration
        let result: Result<Connection, any Error> = await withCheckedContinuation { continuation in
            queue.async {
                continuation.resume(returning: Result { try Connection(configuration) })
            }
        }
        if case .failure = result {
            freeSlot()
        }
        return try result.get()
    }

    private func release(_ connection: Connection, healthy: Bool) {
        if !healthy {
            freeSlot()
            return
        }
        let waiter: CheckedContinuation<Connection?, Never>? = state.withLock { state in
            if state.closed {
                state.open -= 1
                return nil
            }
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.idle.append(connection)
            return nil
        }
        waiter?.resume(returning: connection)
    }

    /// A connection went away: either a waiter may open a new one in its place, or the slot is free.
    private func freeSlot() {
        let waiter: CheckedContinuation<Connection?, Never>? = state.withLock { state in
            if !state.closed, !state.waiters.isEmpty {
                return state.waiters.removeFirst()  // keeps the slot, and will connect
            }
            state.open -= 1
            return nil
        }
        waiter?.resume(returning: nil)
    }

    private func dropIdleConnections() {
        let dropped = state.withLock { state in
            let idle = state.idle
            state.idle = []
            state.open -= idle.count
            return idle
        }
        _ = dropped
    }
}
