import Foundation
import HandoffService
import HandoffStore
import Postgres

/// `replay`: load and fold one onboarding of 100 events, and one of 10,000, through `Engine.replay` (read, decode,
/// fold through its pinned definition, render); against the raw `SELECT` of the same rows through the same libpq
/// layer. In milliseconds per replay (lower is better; a ratio above 1 means the engine takes longer).
///
/// The long history is a real onboarding (started, its first task claimed and released through the engine) whose
/// last claim and release are repeated in SQL: the same events the engine writes for a task claimed and released
/// again and again.
struct ReplayScenario {
    let pool: ConnectionPool
    let engine: Engine
    let settings: BenchSettings

    func run() async throws -> [ScenarioResult] {
        var results: [ScenarioResult] = []
        for events in [100, settings.size(10_000, minimum: 100)] {
            let onboarding = try await MailSend.start(engine, tag: "replay-\(events)")
            let task = "\(onboarding.id)-t1"
            _ = try await engine.claim(taskId: task, user: "bench-person", roles: [MailSend.admin])
            let released = try await engine.release(taskId: task, user: "bench-person")
            let version = try await engine.onboarding(released.onboardingId).version
            guard version <= events else {
                throw StoreError(.databaseError, "a claimed and released onboarding has \(version) events, not ≤ \(events)")
            }
            try await pool.withConnection { connection in
                try Baselines.repeatClaimAndRelease(on: connection, stream: onboarding.id, count: events - Int(version))
            }
            let engine = engine
            let pool = pool
            results.append(try await interleave(
                name: "replay-\(countLabel(events))", clients: 1, unit: "ms", rounds: settings.rounds, warmUp: true,
                engine: {
                    try await measureMilliseconds(duration: settings.duration) {
                        let replayed = try await engine.replay(onboarding.id)
                        guard replayed.version == events else {
                            throw StoreError(.databaseError, "replayed \(replayed.version) events, not \(events)")
                        }
                    }
                },
                baseline: {
                    try await measureMilliseconds(duration: settings.duration) {
                        let rows = try await pool.withConnection { connection in
                            try Baselines.readStream(on: connection, stream: onboarding.id)
                        }
                        guard rows == events else {
                            throw StoreError(.databaseError, "read \(rows) events, not \(events)")
                        }
                    }
                }
            ))
        }
        return results
    }
}
