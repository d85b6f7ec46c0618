import Foundation
import HandoffCore
import HandoffService
import Logging
import ServiceLifecycle

/// Archives finished onboardings in the background (`handoff archive`, on a schedule): with
/// `HANDOFF_ARCHIVE_AFTER` set, every `serve` and `worker` moves the events of onboardings finished and unchanged
/// for that long into the archive, looking every tenth of that span (at least every second, at most every hour).
/// Several processes doing it at once are safe: each onboarding moves once, under its stream lock.
public final class Archiver: Service, Sendable {
    let engine: Engine
    let after: TimeSpan
    let interval: Duration
    let logger: Logger

    public init(engine: Engine, after: TimeSpan, logger: Logger) {
        self.engine = engine
        self.after = after
        self.interval = .seconds(min(3_600, max(1, after.seconds / 10)))
        self.logger = logger
    }

    /// `HANDOFF_ARCHIVE_AFTER`: a duration such as `30d` (nil when unset or empty: nothing is archived on its own).
    public static func after(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(EngineError) -> TimeSpan?
    {
        guard let text = environment["HANDOFF_ARCHIVE_AFTER"], !text.isEmpty else { return nil }
        guard let span = TimeSpan(text) else {
            throw EngineError(.invalidInput, "HANDOFF_ARCHIVE_AFTER takes a duration such as 30d or 12h, not '\(text)'")
        }
        return span
    }

    public func run() async throws {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                let report = try await engine.archive(
                    before: Date().addingTimeInterval(-Double(after.seconds)), countingTheArchive: false)
                if report.onboardings > 0 {
                    logger.info(
                        "archived finished onboardings",
                        metadata: ["onboardings": "\(report.onboardings)", "events": "\(report.events)"])
                }
            } catch {
                logger.warning("finished onboardings could not be archived; trying again", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
        }
    }
}
