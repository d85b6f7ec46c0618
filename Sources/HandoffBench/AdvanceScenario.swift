import Foundation
import HandoffService
import HandoffStore
import Postgres

/// `advance`: how long after a completion commits the task it opened can be claimed by someone else, under light
/// load (one person completing, one claiming, one after the other).
///
/// One connection pool completes a task (through the engine: the next task is opened in the same transaction);
/// as soon as that call returns, a second pool (other connections) claims the task it opened, by id. The latency
/// is from the completion's return (its commit acknowledged) to the claim's return (the claim committed):
/// everything a second worker waits for before holding the next task. Baseline: the same two steps as raw SQL on
/// `baseline_tasks` (`UPDATE` + `INSERT` of the next row in one transaction; then another connection's
/// `SELECT … FOR UPDATE SKIP LOCKED` + `UPDATE` of it). Reported as p50, p90 and p99 in milliseconds (lower is
/// better; a ratio above 1 means the engine takes longer), over at least 2,000 completions at full scale.
struct AdvanceScenario {
    let pool: ConnectionPool
    let engine: Engine
    let configuration: ConnectionConfiguration
    let settings: BenchSettings

    /// Completions per onboarding of the standard path with a next task to claim (t1→t2 … t4→t5).
    static let advancesPerOnboarding = 4

    func run() async throws -> [ScenarioResult] {
        let rounds = max(1, settings.rounds)
        let perRound = max(5, (settings.size(2_000, minimum: 5) + rounds - 1) / rounds)
        let onboardingsPerRound = (perRound + Self.advancesPerOnboarding - 1) / Self.advancesPerOnboarding
        let source = try await MailSend.start(engine, tag: "advance")
        try await MailSend.clone(pool, source: source.id, tag: "a", count: onboardingsPerRound * rounds)
        try await pool.withConnection { connection in
            try Baselines.resetTaskTable(on: connection, role: MailSend.admin, count: 0)
        }

        let claimers = ConnectionPool(configuration, maximumConnections: 1)
        defer { claimers.close() }
        let claimingEngine = Engine(pool: claimers, workflows: engine.workflows)
        let engine = engine
        let pool = pool
        var round = 0
        var baselineRound = 0
        return try await interleave(
            names: ["advance-p50", "advance-p90", "advance-p99"], clients: 1, unit: "ms", rounds: rounds,
            engine: {
                round += 1
                var latencies: [Double] = []
                var onboarding = 0
                while latencies.count < perRound {
                    onboarding += 1
                    let id = "\(source.id)-a\(String(format: "%07d", (round - 1) * onboardingsPerRound + onboarding))"
                    let user = "bench-person"
                    var task = try await claimingEngine.claim(taskId: "\(id)-t1", user: user, roles: MailSend.roles)
                    for next in 2...(Self.advancesPerOnboarding + 1) where latencies.count < perRound {
                        let (outputs, checklist) = MailSend.answers(task)
                        _ = try await engine.complete(
                            taskId: task.id, user: user, outputs: outputs, checklist: checklist)
                        let committed = ContinuousClock.now
                        task = try await claimingEngine.claim(taskId: "\(id)-t\(next)", user: user, roles: MailSend.roles)
                        latencies.append(seconds(ContinuousClock.now - committed) * 1000)
                    }
                }
                return [percentile(latencies, 0.5), percentile(latencies, 0.9), percentile(latencies, 0.99)]
            },
            baseline: {
                baselineRound += 1
                var latencies: [Double] = []
                let prefix = "b\(baselineRound)"
                try await pool.withConnection { connection in
                    try Baselines.completeTask(on: connection, id: "none", opening: "\(prefix)-0", role: MailSend.admin)
                }
                _ = try await claimers.withConnection { connection in
                    try Baselines.claimTask(on: connection, id: "\(prefix)-0", user: "bench-person")
                }
                for index in 0..<perRound {
                    try await pool.withConnection { connection in
                        try Baselines.completeTask(
                            on: connection, id: "\(prefix)-\(index)", opening: "\(prefix)-\(index + 1)",
                            role: MailSend.admin)
                    }
                    let committed = ContinuousClock.now
                    let claimed = try await claimers.withConnection { connection in
                        try Baselines.claimTask(on: connection, id: "\(prefix)-\(index + 1)", user: "bench-person")
                    }
                    guard claimed else {
                        throw StoreError(.databaseError, "the baseline's next task \(prefix)-\(index + 1) was not claimable")
                    }
                    latencies.append(seconds(ContinuousClock.now - committed) * 1000)
                }
                return [percentile(latencies, 0.5), percentile(latencies, 0.9), percentile(latencies, 0.99)]
            }
        )
    }
}
