import Foundation
import HandoffStore
import Postgres
import Synchronization

/// Reads served by a streaming replica (`DATABASE_READ_URL`) that never show this process less than it wrote.
///
/// After a write commits (`wrote()`), the next read asks the primary for its log position (one cheap query, only
/// for the first read after writes) and waits on the replica until it has replayed that far: whatever this process
/// wrote before the read began is there. A replica that stays behind for longer than `maximumWait` (or fails) is
/// passed over for that read, which the primary serves.
final class ReplicaReads: Sendable {
    let pool: ConnectionPool
    let maximumWait: Duration

    private struct State {
        /// A write committed since the primary's position was last asked.
        var wrote = false
        /// The primary's position after this process's last write, as last asked.
        var required: UInt64 = 0
        /// How far the replica was seen to have replayed.
        var seen: UInt64 = 0
    }

    private let state = Mutex(State())

    init(pool: ConnectionPool, maximumWait: Duration = .seconds(2)) {
        self.pool = pool
        self.maximumWait = maximumWait
    }

    /// A write of this process committed.
    func wrote() {
        state.withLock { $0.wrote = true }
    }

    /// Runs `body` on the replica once it has replayed this process's writes; nil when it did not within
    /// `maximumWait` or could not be reached (the caller reads from the primary then).
    func read<T: Sendable>(
        primary: ConnectionPool, _ body: @escaping @Sendable (Connection) throws -> T
    ) async throws -> T? {
        let ask = state.withLock { state -> Bool in
            defer { state.wrote = false }
            return state.wrote
        }
        if ask {
            let position = try await primary.withConnection { connection in try Database.currentLogPosition(on: connection) }
            state.withLock { $0.required = max($0.required, position) }
        }
        let (required, seen) = state.withLock { ($0.required, $0.seen) }
        let deadline = ContinuousClock.now + maximumWait
        do {
            return try await pool.withConnection { [self] connection -> T? in
                var replayed = seen
                while replayed < required {
                    replayed = try Database.replayedLogPosition(on: connection).position
                    if replayed >= required { break }
                    guard ContinuousClock.now < deadline else { return nil }
                    Thread.sleep(forTimeInterval: 0.002)
                }
                if replayed > seen { state.withLock { $0.seen = max($0.seen, replayed) } }
                return try body(connection)
            }
        } catch let error as PostgresError where error.kind == .connectionFailed || error.kind == .connectionLost {
            return nil
        }
    }
}

/// How far the read replica is behind the primary.
public struct ReplicaStatus: Codable, Sendable, Equatable {
    /// Bytes of the primary's log not replayed yet.
    public var lagBytes: Int64
    /// The age of the last transaction the replica replayed; null before the first.
    @Nullable public var lagSeconds: Double?
}

extension Engine {
    /// The read replica's lag behind the primary, or nil when there is no `DATABASE_READ_URL`.
    public func replicaStatus() async throws(EngineError) -> ReplicaStatus? {
        guard let replica else { return nil }
        do {
            let primary = try await pool.withConnection { connection in try Database.currentLogPosition(on: connection) }
            let replayed = try await replica.pool.withConnection { connection in
                try Database.replayedLogPosition(on: connection)
            }
            let behind = primary > replayed.position ? Int64(primary - replayed.position) : 0
            // A replica that replayed everything is not behind, however old the last transaction it replayed.
            return ReplicaStatus(lagBytes: behind, lagSeconds: behind == 0 ? 0 : replayed.seconds)
        } catch {
            throw EngineError.from(error)
        }
    }

    /// A read for a view (a `GET`): from the replica when there is one (never older than this process's own
    /// writes), else from the primary.
    func viewRead<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws(EngineError) -> T {
        do {
            if let replica, let value = try await replica.read(primary: pool, body) { return value }
            return try await pool.withConnection(body)
        } catch {
            throw EngineError.from(error)
        }
    }
}
