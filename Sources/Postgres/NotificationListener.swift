import Foundation
import Synchronization

/// Follows `NOTIFY` messages on a dedicated connection and thread, reconnecting when the connection breaks.
///
/// Use it to wake up work that would otherwise poll (a projection follower, a task inbox). Notifications are
/// hints: one may be lost while reconnecting, so a consumer must still read the truth from tables afterwards.
public final class NotificationListener: Sendable {
    private let configuration: ConnectionConfiguration
    private let channels: [String]
    private let stopped = Mutex(false)
    private let continuation: AsyncStream<Notification>.Continuation
    /// Every notification received, in order; ends when `stop()` is called.
    public let notifications: AsyncStream<Notification>

    public init(_ configuration: ConnectionConfiguration, channels: [String]) {
        self.configuration = configuration
        self.channels = channels
        (notifications, continuation) = AsyncStream.makeStream(of: Notification.self, bufferingPolicy: .bufferingNewest(10_000))
        let thread = Thread { [self] in run() }
        thread.name = "handoff.postgres.listener"
        thread.start()
    }

    public func stop() {
        stopped.withLock { $0 = true }
    }

    private var isStopped: Bool { stopped.withLock { $0 } }

    private func run() {
        var connection: Connection?
        while !isStopped {
            do {
                if connection == nil {
                    let fresh = try Connection(configuration)
                    for channel in channels {
                        try fresh.listen(channel)
                    }
                    connection = fresh
                }
                for notification in try connection?.waitForNotifications(timeoutMilliseconds: 100) ?? [] {
                    continuation.yield(notification)
                }
            } catch {
                connection = nil
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
        continuation.finish()
    }
}
