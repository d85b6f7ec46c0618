import Foundation
import HandoffService
import HandoffStore
import Postgres

/// `claim`: workers take the next open task of their role and complete it, each through the whole engine command
/// (stream lock, load and fold, validate, append, projections, the next task opened), on a queue of 20,000 open
/// tasks; against a queue without an engine: `SELECT … FOR UPDATE SKIP LOCKED` and `UPDATE` on a table shaped
/// like `tasks` holding as many open tasks; and against pgbench claiming and completing in plain SQL (two
/// transactions per task, as the engine's two commands are).
///
/// The unit is tasks/s: claims + completions for the engine, claims for the baseline. Completing a task opens the
/// onboarding's next one, so the engine's queue stays the same size while it runs; the baseline's is refilled
/// before each of its rounds.
struct ClaimScenario {
    let pool: ConnectionPool
    let engine: Engine
    let configuration: ConnectionConfiguration
    let settings: BenchSettings

    func run() async throws -> [ScenarioResult] {
        let queued = settings.size(20_000, minimum: 50)
        let first = try await MailSend.start(engine, tag: "claim")
        try await MailSend.clone(pool, source: first.id, tag: "q", count: queued - 1)
        let engine = engine
        let pool = pool
        let pgbench = try PgBench(configuration: configuration)
        var results: [ScenarioResult] = []
        for clients in settings.clients ?? [1, 4, 16] {
            results.append(try await interleave(
                name: "claim", clients: clients, unit: "tasks/s", rounds: settings.rounds, warmUp: true,
                engine: {
                    try await measureRate(
                        clients: clients, duration: settings.duration, on: pool.executor
                    ) { client, _ in
                        let user = "bench-worker-\(client)"
                        guard let task = try await engine.nextTask(roles: [MailSend.admin], user: user) else {
                            return 0
                        }
                        let (outputs, checklist) = MailSend.answers(task)
                        _ = try await engine.complete(taskId: task.id, user: user, outputs: outputs, checklist: checklist)
                        return 1
                    }
                },
                baseline: {
                    try await pool.withConnection { connection in
                        try Baselines.resetTaskTable(on: connection, role: MailSend.admin, count: queued)
                    }
                    return try await measureRate(
                        clients: clients, duration: settings.duration, on: pool.executor
                    ) { client, _ in
                        let claimed = try await pool.withAsyncConnection { connection in
                            try await Baselines.claimNextTask(
                                on: connection, role: MailSend.admin, user: "bench-worker-\(client)")
                        }
                        return claimed == nil ? 0 : 1
                    }
                },
                pgbench: {
                    try await pool.withConnection { connection in
                        try Baselines.resetTaskTable(on: connection, role: MailSend.admin, count: queued)
                    }
                    let run = try await pgbench.run(
                        script: Baselines.pgbenchClaimAndCompleteScript, clients: clients,
                        duration: settings.duration, variables: ["role": MailSend.admin])
                    let tasks = Double(run.transactions)
                    return (run.transactionsPerSecond, tasks > 0 ? run.cpuSeconds * 1e6 / tasks : 0)
                }
            ))
        }
        return results
    }
}
