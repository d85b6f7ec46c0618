import Foundation
import HandoffService
import HandoffStore
import Postgres

/// `scale`: the store as it grows to 100,000 onboardings and more than 1,000,000 events.
///
/// - `scale-stats` and `scale-tasks-by-role` (ms, p99): what `GET /stats` and `GET /tasks?role=…` do
///   (`Engine.stats()`, `Engine.tasks(roles:)`, without HTTP, the async projections caught up with the log first),
///   200 calls a round, at 100,000 onboardings (the
///   engine figure) against the same calls at 10,000 in the same run (the baseline): the ratio is how much slower
///   the reads got with ten times the rows.
/// - `scale-rebuild` (events/s): rebuilding the async `activity` projection from position zero (a new generation,
///   swapped in; the old generation's rows are cleared afterwards, outside the figure, as the runner does)
///   against a plain scan of the same events in the same (log) order, in pages of 5,000, rows left undecoded; with
///   peak memory.
/// - `scale-lag-p50`, `scale-lag-p99` (ms): the async projections' lag (the age of the oldest committed event not
///   applied yet, sampled every 50 ms) while 16 writers claim and complete tasks and a runner follows the log,
///   against the writers' own command latency at that percentile.
///
/// The log is real onboardings copied in SQL: one driven to its end through the engine and one left halfway (three
/// tasks done), half the onboardings each.
struct ScaleScenario {
    let pool: ConnectionPool
    let engine: Engine
    let configuration: ConnectionConfiguration
    let settings: BenchSettings

    func run() async throws -> [ScenarioResult] {
        let (finished, halfway) = try await MailSend.finishedAndHalfway(engine, tag: "scale")
        let small = settings.size(10_000, minimum: 100)
        let large = settings.size(100_000, minimum: 1_000)
        let calls = settings.size(200, minimum: 20)

        // The reads at the small size, then at the large one.
        try await grow(finished: finished, halfway: halfway, from: 0, to: small / 2)
        var smallFigures: [[Double]] = []
        for _ in 0..<max(1, settings.rounds) { smallFigures.append(try await readLatencies(calls: calls)) }
        try await grow(finished: finished, halfway: halfway, from: small / 2, to: large / 2)
        var largeFigures: [[Double]] = []
        for _ in 0..<max(1, settings.rounds) { largeFigures.append(try await readLatencies(calls: calls)) }
        let peak = ResidentMemory.peakBytes()
        let events = try await pool.withConnection { connection in try Baselines.eventCount(on: connection) }
        var results = ["scale-stats", "scale-tasks-by-role"].enumerated().map { index, name in
            let engine = largeFigures.map { $0[index] }
            let baseline = smallFigures.map { $0[index] }
            return ScenarioResult(
                name: "\(name)-\(countLabel(large))-vs-\(countLabel(small))", clients: 1, unit: "ms",
                engine: .init(engine), baseline: .init(baseline),
                ratios: zip(engine, baseline).map { $1 == 0 ? 0 : $0 / $1 }, peakRSSBytes: peak)
        }

        let engine = engine
        let pool = pool
        results.append(try await interleave(
            name: "scale-rebuild-\(countLabel(Int(events)))", clients: 1, unit: "events/s", rounds: settings.rounds,
            engine: {
                let rate = try await perSecond {
                    let report = try await engine.rebuildAsyncProjection(
                        "activity", owner: "bench-rebuild", leaseSeconds: 60, limit: 5_000)
                    guard report.events == events else {
                        throw StoreError(.databaseError, "the rebuild applied \(report.events) of \(events) events")
                    }
                    return report.events
                }
                // The replaced generation's rows, cleared afterwards as the runner would (not part of the rebuild).
                try await engine.clearStaleProjectionRows()
                return rate
            },
            baseline: {
                try await perSecond {
                    let read = try await pool.withConnection { connection in try Baselines.scanLog(on: connection) }
                    guard read == events else { throw StoreError(.databaseError, "the scan read \(read) of \(events) events") }
                    return read
                }
            }))
        results += try await lagUnderWriters(large: large)
        return results
    }

    /// Copies the two sources until each has `count` copies (from `copies` now), and follows the log into the
    /// async projections the dashboard reads.
    private func grow(finished: String, halfway: String, from copies: Int, to count: Int) async throws {
        guard count > copies else { return }
        try await MailSend.clone(pool, source: finished, tag: "f", first: copies + 1, count: count - copies)
        try await MailSend.clone(pool, source: halfway, tag: "h", first: copies + 1, count: count - copies)
        while try await engine.projectionsStatus().contains(where: { $0.kind == "async" && $0.lagEvents > 0 }) {
            _ = try await engine.followProjections(owner: "bench-runner", limit: 5_000, leaseSeconds: 60)
        }
        try await pool.withConnection { connection in try Baselines.analyze(on: connection) }
    }

    /// p99 of `calls` calls each of the dashboard's two reads, in milliseconds.
    private func readLatencies(calls: Int) async throws -> [Double] {
        var stats: [Double] = []
        var tasks: [Double] = []
        let clock = ContinuousClock()
        for index in 0..<calls {
            let start = clock.now
            _ = try await engine.stats()
            stats.append(seconds(clock.now - start) * 1000)
            let role = ["customer_admin", "partner_integration_manager", "solutions_engineer"][index % 3]
            let began = clock.now
            _ = try await engine.tasks(TaskQuery(roles: [role]), limit: 100, after: nil)
            tasks.append(seconds(clock.now - began) * 1000)
        }
        return [percentile(stats, 0.99), percentile(tasks, 0.99)]
    }

    /// Lag samples while 16 writers complete tasks and a runner (on a pool of its own, as another process would
    /// be) follows the log; against the writers' command latencies.
    private func lagUnderWriters(large: Int) async throws -> [ScenarioResult] {
        let runnerPool = ConnectionPool(configuration, maximumConnections: 2)
        defer { runnerPool.close() }
        let runner = Engine(pool: runnerPool, workflows: engine.workflows)
        // Work for the writers: onboardings at their first task. Then caught up: the lag measured is the
        // writers', not the backlog of the copies.
        let queue = try await MailSend.start(engine, tag: "scale-queue")
        try await MailSend.clone(pool, source: queue.id, tag: "q", count: settings.size(20_000, minimum: 200))
        while try await runner.projectionsStatus().contains(where: { $0.kind == "async" && $0.lagEvents > 0 }) {
            _ = try await runner.followProjections(owner: "bench-runner", limit: 5_000, leaseSeconds: 60)
        }

        let following = Task {
            while !Task.isCancelled {
                let batches = try await runner.followProjections(owner: "bench-runner", limit: 500, leaseSeconds: 60)
                if !batches.contains(where: { $0.applied >= 500 }) { try await Task.sleep(for: .milliseconds(20)) }
            }
        }
        defer { following.cancel() }
        let lags = LatencySamples()
        let sampling = Task {
            while !Task.isCancelled {
                let states = try await runner.projectionsStatus().filter { $0.kind == "async" }
                lags.add((states.map(\.lagSeconds).max() ?? 0) * 1000)
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        defer { sampling.cancel() }
        let latencies = LatencySamples()
        let engine = engine
        let clients = (settings.clients ?? [16]).max() ?? 16
        _ = try await measureRate(clients: clients, duration: settings.duration) { client, _ in
            let user = "bench-scale-\(client)"
            let began = ContinuousClock.now
            guard let task = try await engine.nextTask(roles: [MailSend.admin], user: user) else { return 0 }
            let (outputs, checklist) = MailSend.answers(task)
            _ = try await engine.complete(taskId: task.id, user: user, outputs: outputs, checklist: checklist)
            latencies.add(seconds(ContinuousClock.now - began) * 1000)
            return 1
        }
        sampling.cancel()
        following.cancel()
        _ = await following.result
        let peak = ResidentMemory.peakBytes()
        return [("scale-lag-p50", 0.5), ("scale-lag-p99", 0.99)].map { name, fraction in
            let lag = percentile(lags.all, fraction)
            let command = percentile(latencies.all, fraction)
            return ScenarioResult(
                name: name, clients: clients, unit: "ms", engine: .init([lag]), baseline: .init([command]),
                ratios: [command == 0 ? 0 : lag / command], peakRSSBytes: peak)
        }
    }
}
