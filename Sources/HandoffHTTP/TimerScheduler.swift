import Foundation
import HandoffService
import Logging
import ServiceLifecycle

/// The scheduler: fires due timers (timer steps, wait timeouts) through the engine, in every `handoff serve` and
/// `handoff worker`. Any number may run on one database; each timer fires exactly once (see
/// `Engine.fireDueTimers`). It looks every `interval` (at once again while it finds a full batch), so a timer
/// fires within about `interval` of its due time, and after downtime every timer that fell due fires, earliest
/// first.
public final class TimerScheduler: Service, Sendable {
    let engine: Engine
    let interval: Duration
    let batch: Int
    /// How long an onboarding stays leased to this scheduler while it fires its timers: the delay before another
    /// scheduler takes over the timers of one that died holding them.
    let leaseSeconds: Double
    let logger: Logger

    public init(
        engine: Engine, interval: Duration = .milliseconds(250), batch: Int = 100, leaseSeconds: Double = 30,
        logger: Logger
    ) {
        self.engine = engine
        self.interval = interval
        self.batch = batch
        self.leaseSeconds = leaseSeconds
        self.logger = logger
    }

    /// `HANDOFF_TIMER_LEASE_SECONDS` (1 to 3600, default 30).
    public static func leaseSeconds(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Double {
        guard let text = environment["HANDOFF_TIMER_LEASE_SECONDS"], let seconds = Double(text), (1...3600).contains(seconds)
        else { return 30 }
        return seconds
    }

    public func run() async throws {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                if try await engine.fireDueTimers(limit: batch, leaseSeconds: leaseSeconds) >= batch { continue }
            } catch {
                logger.warning("timers could not be fired; trying again", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
        }
    }
}
