import Foundation
import HandoffService
import HandoffStore
import Postgres

/// `rebuild`: rebuild the inline projections (tasks, onboarding status) from a log of 100,000 events and then of
/// 1,000,000, through `Engine.rebuildProjections`; against a plain scan of the events table (every column, in
/// the (stream, version) order a rebuild reads, in pages of 5,000, rows left undecoded). In events/s (higher is
/// better). Peak memory is reported for each size: a rebuild that streams needs the same at both.
///
/// The log is real onboardings copied in SQL: one driven to its end through the engine and one left halfway
/// (three tasks done), each copied to half the events.
struct RebuildScenario {
    let pool: ConnectionPool
    let engine: Engine
    let settings: BenchSettings

    func run() async throws -> [ScenarioResult] {
        let (finished, halfway) = try await MailSend.finishedAndHalfway(engine, tag: "rebuild")
        let finishedEvents = Int(try await engine.onboarding(finished).version)
        let halfwayEvents = Int(try await engine.onboarding(halfway).version)

        var results: [ScenarioResult] = []
        var copies = 0
        for target in [settings.size(100_000, minimum: 1_000), settings.size(1_000_000, minimum: 10_000)] {
            // Copies of each source so that the log holds about `target` events, half from each.
            let wanted = max(1, target / (finishedEvents + halfwayEvents))
            if wanted > copies {
                try await MailSend.clone(pool, source: finished, tag: "f", first: copies + 1, count: wanted - copies)
                try await MailSend.clone(pool, source: halfway, tag: "h", first: copies + 1, count: wanted - copies)
                copies = wanted
            }
            let stored = try await pool.withConnection { connection in try Baselines.eventCount(on: connection) }
            let engine = engine
            let pool = pool
            results.append(try await interleave(
                name: "rebuild-\(countLabel(target))", clients: 1, unit: "events/s", rounds: settings.rounds,
                engine: {
                    try await perSecond {
                        let report = try await engine.rebuildProjections()
                        guard report.events == stored, report.problems.isEmpty else {
                            throw StoreError(
                                .databaseError,
                                "the rebuild read \(report.events) of \(stored) events; problems: "
                                    + report.problems.prefix(3).joined(separator: "; "))
                        }
                        return report.events
                    }
                },
                baseline: {
                    try await perSecond {
                        let read = try await pool.withConnection { connection in try Baselines.scanEvents(on: connection) }
                        guard read == stored else {
                            throw StoreError(.databaseError, "the scan read \(read) of \(stored) events")
                        }
                        return read
                    }
                }
            ))
        }
        return results
    }
}
