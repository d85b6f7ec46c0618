import Foundation
import HandoffService
import HandoffStore
import Postgres
import Synchronization

/// `timers`: 10,000 timers falling due at the same instant, fired by 1 and by 3 schedulers (each on a pool of its
/// own, as separate processes would be), through the engine's real path (`Engine.fireDueTimers`: lease, fire each
/// through the stream lock and the append, release). The timers are the Mail.Send first task's due times, two days
/// out; the schedulers' clock is moved past them, so all fall due when a round starts. Each round fires 1,000 due
/// timers for the delay figures, then 10,000 for the rate.
///
/// Against the engine's claim rate in the same run (`nextTask` + `complete`, as `claim` measures it, with as many
/// workers): timers/s over tasks/s. The delay from the due instant to each timer's `TimerFired` (p50 and p99, ms)
/// is reported against the p50 and p99 of one claim-and-complete command of the baseline's run.
struct TimersScenario {
    let pool: ConnectionPool
    let engine: Engine
    let configuration: ConnectionConfiguration
    let settings: BenchSettings

    func run() async throws -> [ScenarioResult] {
        let count = settings.size(10_000, minimum: 20)
        let delayCount = settings.size(1_000, minimum: 20)
        let queue = try await MailSend.start(engine, tag: "timer-claims")
        try await MailSend.clone(pool, source: queue.id, tag: "q", count: settings.size(20_000, minimum: 50))
        let later: @Sendable () -> Date = { Date().addingTimeInterval(2 * 86_400 + 60) }
        // The queue's tasks fall due by the schedulers' clock too: their overdue timers fire before the rounds, so
        // that each round fires its own timers only.
        let drain = Engine(pool: pool, workflows: engine.workflows, clock: later)
        while try await drain.fireDueTimers(limit: 500) > 0 {}
        var results: [ScenarioResult] = []
        var batch = 0
        for schedulers in settings.clients ?? [1, 3] {
            // As many connections as a scheduler fires onboardings at once, and one for its lease.
            let pools = (0..<schedulers).map { _ in ConnectionPool(configuration, maximumConnections: 5) }
            defer { pools.forEach { $0.close() } }
            let engines = pools.map { Engine(pool: $0, workflows: engine.workflows, clock: later) }
            var claimLatencies: [Double] = []
            var delays: [[Double]] = []
            let rates = try await interleave(
                name: "timers", clients: schedulers, unit: "timers/s", rounds: settings.rounds,
                engine: {
                    // The delay at 1,000 due timers, then the rate at 10,000: a fresh onboarding and its copies for
                    // each, whose first task's due time is a pending timer.
                    let (_, fired) = try await fireAll(count: delayCount, engines: engines, batch: &batch)
                    delays.append(fired)
                    let (rate, _) = try await fireAll(count: count, engines: engines, batch: &batch)
                    return rate
                },
                baseline: {
                    let samples = LatencySamples()
                    let rate = try await measureRate(clients: schedulers, duration: settings.duration) { client, _ in
                        let user = "bench-timer-worker-\(client)"
                        let began = ContinuousClock.now
                        guard let task = try await engine.nextTask(roles: [MailSend.admin], user: user) else { return 0 }
                        let (outputs, checklist) = MailSend.answers(task)
                        _ = try await engine.complete(taskId: task.id, user: user, outputs: outputs, checklist: checklist)
                        samples.add(seconds(ContinuousClock.now - began) * 1000)
                        return 1
                    }
                    claimLatencies = samples.all
                    return rate
                })
            results.append(rates)
            for (name, fraction) in [("timers-delay-p50", 0.5), ("timers-delay-p99", 0.99)] {
                let engineFigures = delays.map { percentile($0, fraction) }
                let baseline = percentile(claimLatencies, fraction)
                results.append(
                    ScenarioResult(
                        name: name, clients: schedulers, unit: "ms", engine: .init(engineFigures),
                        baseline: .init([baseline]), ratios: engineFigures.map { baseline == 0 ? 0 : $0 / baseline },
                        peakRSSBytes: rates.peakRSSBytes))
            }
        }
        return results
    }

    /// Clones `count` onboardings whose timers are all due, fires them with `engines` at once, and returns the
    /// rate (timers/s) and each timer's delay from the start (ms).
    private func fireAll(count: Int, engines: [Engine], batch: inout Int) async throws -> (Double, [Double]) {
        batch += 1
        let source = try await MailSend.start(engine, tag: "timers-\(batch)")
        try await MailSend.clone(pool, source: source.id, tag: "b", count: count - 1)
        let start = Date()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for scheduler in engines {
                group.addTask { while try await scheduler.fireDueTimers(limit: 100) > 0 {} }
            }
            try await group.waitForAll()
        }
        let elapsed = Date().timeIntervalSince(start)
        let fired = try await pool.withConnection { connection in
            try Baselines.firedTimerTimes(on: connection, streamPrefix: source.id)
        }
        return (Double(fired.count) / max(elapsed, 1e-9), fired.map { max(0, $0.timeIntervalSince(start)) * 1000 })
    }
}

/// Latencies gathered by concurrent clients.
final class LatencySamples: Sendable {
    private let samples = Mutex<[Double]>([])

    func add(_ milliseconds: Double) {
        samples.withLock { $0.append(milliseconds) }
    }

    var all: [Double] { samples.withLock { $0 } }
}
