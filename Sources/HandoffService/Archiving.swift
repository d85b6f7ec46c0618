import Foundation
import HandoffStore
import Postgres

/// What `archive` moved.
public struct ArchiveReport: Codable, Sendable, Equatable {
    /// Onboardings whose events moved by this call, and how many events.
    public var onboardings: Int
    public var events: Int64
    /// What the archive holds now, this call's included (0 when not counted).
    public var archivedOnboardings: Int64
    public var archivedEvents: Int64
    public var seconds: Double
}

extension Engine {
    /// Moves the events of finished onboardings (completed, cancelled or failed) last changed before `cutoff` into
    /// the archive, `batch` onboardings per transaction, at most `limit` in all (every one when nil). Their history,
    /// replay, export, `verify` and projection rebuilds read them from there as before; the tables every write and
    /// every follower of the log touch shrink. With `countingTheArchive`, the report also says what the archive
    /// holds (a count of the whole table: for people, not for a background loop). Throws `invalid_input` for a
    /// batch or limit out of range.
    public func archive(before cutoff: Date, batch: Int = 100, limit: Int? = nil, countingTheArchive: Bool = true)
        async throws(EngineError) -> ArchiveReport
    {
        let batch = try Self.check(limit: batch)
        if let limit { _ = try Self.check(limit: limit) }
        let started = ContinuousClock.now
        var report = ArchiveReport(onboardings: 0, events: 0, archivedOnboardings: 0, archivedEvents: 0, seconds: 0)
        while limit.map({ report.onboardings < $0 }) ?? true {
            let size = min(batch, (limit ?? Int.max) - report.onboardings)
            let moved: (onboardings: Int, events: Int64, candidates: Int)
            do {
                moved = try await pool.withTransaction { connection in
                    let ids = try Archive.candidates(on: connection, before: cutoff, limit: size)
                    let moved = try Archive.archive(on: connection, ids: ids)
                    return (moved.onboardings, moved.events, ids.count)
                }
            } catch {
                throw EngineError.from(error)
            }
            report.onboardings += moved.onboardings
            report.events += moved.events
            // Fewer candidates than asked: none are left. None moved: another process archived them meanwhile.
            if moved.candidates < size || moved.onboardings == 0 { break }
        }
        if countingTheArchive {
            let size = try await read { connection in try Archive.size(on: connection) }
            report.archivedOnboardings = size.onboardings
            report.archivedEvents = size.events
        }
        report.seconds = (ContinuousClock.now - started).totalSeconds
        return report
    }
}

extension Duration {
    /// The span in seconds, as a `Double`.
    var totalSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
