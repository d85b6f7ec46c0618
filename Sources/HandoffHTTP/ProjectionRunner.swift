import Foundation
import HandoffService
import HandoffStore
import Logging
import Postgres
import ServiceLifecycle
import Synchronization

/// The projection runner: follows the global log into the async projections (`timings`, `variables`,
/// `activity`), in every `handoff serve` and `handoff worker`. Any number may run on one database; each
/// projection is applied by the one holding its lease, and another takes over once a holder that died lets it run
/// out (`HANDOFF_PROJECTION_LEASE_SECONDS`). It wakes on the `NOTIFY` writers send after they commit, looks
/// every `interval` in case one was lost, and goes on at once while batches come back full. On shutdown it gives
/// its leases up, so another process takes over without waiting.
public final class ProjectionRunner: Service, Sendable {
    let engine: Engine
    let interval: Duration
    let batch: Int
    let leaseSeconds: Double
    /// This process among the runners sharing the database: host, pid and a random part.
    public let owner: String
    let logger: Logger

    public init(
        engine: Engine, interval: Duration = .seconds(1), batch: Int = 500, leaseSeconds: Double = 10,
        logger: Logger
    ) {
        self.engine = engine
        self.interval = interval
        self.batch = batch
        self.leaseSeconds = leaseSeconds
        self.owner = "\(ProcessInfo.processInfo.hostName):\(getpid()):\(UUID().uuidString.prefix(8).lowercased())"
        self.logger = logger
    }

    /// `HANDOFF_PROJECTION_LEASE_SECONDS` (1 to 3600, default 10): how long a runner that stopped answering keeps
    /// its projections before another process takes them over.
    public static func leaseSeconds(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Double {
        guard let text = environment["HANDOFF_PROJECTION_LEASE_SECONDS"], let seconds = Double(text),
            (1...3600).contains(seconds)
        else { return 10 }
        return seconds
    }

    public func run() async throws {
        let listener = NotificationListener(engine.pool.configuration, channels: [EventStore.notificationChannel])
        let wakeup = Wakeup()
        defer { listener.stop() }
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await _ in listener.notifications { wakeup.wake() }
            }
            await withGracefulShutdownHandler {
                await follow(wakeup)
            } onGracefulShutdown: {
                wakeup.wake()
            }
            listener.stop()
            group.cancelAll()
        }
        do {
            try await engine.releaseProjections(owner: owner)
        } catch {
            logger.warning("projection leases could not be given up", metadata: ["error": "\(error)"])
        }
    }

    private func follow(_ wakeup: Wakeup) async {
        // Half the lease: a holder renews well before it runs out, and a standby looks often enough to take over.
        let idle = min(interval, .milliseconds(Int(leaseSeconds * 500)))
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                let batches = try await engine.followProjections(owner: owner, limit: batch, leaseSeconds: leaseSeconds)
                if batches.contains(where: { $0.applied >= batch }) { continue }
                // Nothing more to follow: clear away what rebuilds replaced, a slice at a time.
                if try await engine.deleteStaleProjectionRows() > 0 { continue }
            } catch {
                logger.warning("projections could not follow the log; trying again", metadata: ["error": "\(error)"])
            }
            await wakeup.wait(atMost: idle)
        }
    }
}

/// A wake-up that is not lost when it comes before the wait: `wait` returns at once after a `wake` it has not
/// seen, or when `atMost` has passed.
final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func wake() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    func wait(atMost timeout: Duration) async {
        let timer = Task { [self] in
            try await Task.sleep(for: timeout)
            wake()
        }
        defer { timer.cancel() }
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.pending {
                    state.pending = false
                    return true
                }
                state.waiter = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }
}
