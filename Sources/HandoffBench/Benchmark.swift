import Foundation

/// One measured scenario: the engine's real code path against a raw-SQL baseline of the same work.
public struct ScenarioResult: Encodable, Sendable {
    public struct Summary: Encodable, Sendable {
        public let median: Double
        public let min: Double
        public let max: Double

        public init(_ values: [Double]) {
            let sorted = values.sorted()
            median = sorted.isEmpty ? 0
                : sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            min = sorted.first ?? 0
            max = sorted.last ?? 0
        }
    }

    public let name: String
    public let clients: Int
    /// What the figures count, e.g. `events/s`.
    public let unit: String
    public let engine: Summary
    public let baseline: Summary
    /// engine / baseline, per round (each round measures both, back to back).
    public let ratios: [Double]
    public let peakRSSBytes: Int
    /// pgbench running the baseline's statements, in the same rounds (`append` and `claim`).
    public var pgbench: PgBenchFigures? = nil
}

/// The engine against pgbench: rates, ratios and CPU time per unit of work, one figure per round.
public struct PgBenchFigures: Encodable, Sendable {
    /// pgbench's rate, in the scenario's unit.
    public let rate: ScenarioResult.Summary
    /// engine / pgbench, per round.
    public let ratios: [Double]
    /// The bench process's CPU time (every thread, user and system) per unit of work while the engine ran, in
    /// microseconds.
    public let engineCPUMicroseconds: ScenarioResult.Summary
    /// pgbench's CPU time per unit of work, in microseconds.
    public let pgbenchCPUMicroseconds: ScenarioResult.Summary
}

/// One pgbench measurement: its rate in the scenario's unit, and its CPU time per unit in microseconds.
typealias PgBenchMeasurement = (rate: Double, cpuMicroseconds: Double)

public struct BenchReport: Encodable, Sendable {
    public var scenarios: [ScenarioResult]
}

/// Settings every scenario gets.
public struct BenchSettings: Sendable {
    /// How long each engine or baseline measurement runs.
    public var duration: Duration
    /// Rounds of engine-then-baseline; figures are reported per round.
    public var rounds: Int
    public var clients: [Int]?
    /// How much of each scenario's seeded data to make, from 0 (exclusive) to 1 (the sizes the issue names:
    /// 20,000 open tasks, 2,000 advances, a 10,000-event onboarding, a 1,000,000-event log). Tests use a sliver.
    public var scale: Double

    public init(duration: Duration, rounds: Int, clients: [Int]?, scale: Double = 1) {
        self.duration = duration
        self.rounds = rounds
        self.clients = clients
        self.scale = scale
    }

    /// `full` scaled down by `scale`, never below `minimum`.
    func size(_ full: Int, minimum: Int) -> Int {
        max(minimum, Int((Double(full) * min(max(scale, 0), 1)).rounded()))
    }
}

/// A count as scenario names show it: 100, 10k, 1m.
func countLabel(_ count: Int) -> String {
    if count >= 1_000_000, count % 1_000_000 == 0 { return "\(count / 1_000_000)m" }
    if count >= 1_000, count % 1_000 == 0 { return "\(count / 1_000)k" }
    return String(count)
}

/// The seconds in a duration.
func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// The value at or below which `fraction` of `values` lie (nearest rank); 0 when empty.
func percentile(_ values: [Double], _ fraction: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((fraction * Double(sorted.count)).rounded(.up))
    return sorted[min(sorted.count, max(1, rank)) - 1]
}

/// The rate of one call that does `body` and returns how many units it did (events rebuilt or scanned): units
/// per second.
func perSecond(_ body: () async throws -> Int64) async throws -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    let units = try await body()
    return Double(units) / max(seconds(clock.now - start), 1e-9)
}

/// A rate measurement: `clients` tasks run `step` until the time is up; returns units per second.
///
/// `step` does one unit of work for one client and returns how many units it completed. With an `executor` (a
/// pool's socket poller, `ConnectionPool.executor`), the clients run on it: a client's loop goes from one command
/// to the next on the thread that waits for the answers, as pgbench drives its clients, instead of switching to
/// it and back for every statement. Only for steps that never block.
func measureRate(
    clients: Int, duration: Duration, on executor: (any TaskExecutor)? = nil,
    _ step: @escaping @Sendable (_ client: Int, _ iteration: Int) async throws -> Int
) async throws -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    let deadline = start + duration
    let total = try await withTaskExecutorPreference(executor) {
        try await withThrowingTaskGroup(of: Int.self) { group in
            for client in 0..<clients {
                group.addTask {
                    // Each client works until the time is up and it has done at least one unit (a client that
                    // starts late on a busy machine still counts), but gives up 10 seconds past the deadline.
                    var done = 0
                    var iteration = 0
                    while true {
                        let now = clock.now
                        if now >= deadline, done > 0 || now >= deadline + .seconds(10) { break }
                        done += try await step(client, iteration)
                        iteration += 1
                    }
                    return done
                }
            }
            return try await group.reduce(0, +)
        }
    }
    return Double(total) / max(seconds(clock.now - start), 1e-9)
}

/// The mean time of one `step` in milliseconds, calling it one after another until `duration` is up (at least
/// `minimumCalls` times).
func measureMilliseconds(duration: Duration, minimumCalls: Int = 3, _ step: () async throws -> Void) async throws
    -> Double
{
    let clock = ContinuousClock()
    let start = clock.now
    var calls = 0
    while calls < minimumCalls || clock.now - start < duration {
        try await step()
        calls += 1
    }
    return seconds(clock.now - start) * 1000 / Double(calls)
}

/// Runs engine and baseline alternately, `rounds` times, and summarises.
///
/// With `warmUp`, one more round runs first and is not reported: each client connection prepares its statements
/// and the caches fill, so the rounds compare steady states rather than a cold start (the first measurement in a
/// fresh process was up to half as fast as the next ones, on either side).
///
/// With `pgbench` (rates only), each round also runs pgbench after the baseline, and the engine's measurement
/// counts the bench process's CPU time per unit of work, so the result says how near the engine comes to what the
/// server allows and what its client side costs.
func interleave(
    name: String, clients: Int, unit: String, rounds: Int, warmUp: Bool = false,
    engine: () async throws -> Double, baseline: () async throws -> Double,
    pgbench: (() async throws -> PgBenchMeasurement)? = nil
) async throws -> ScenarioResult {
    guard let pgbench else {
        let results = try await interleave(
            names: [name], clients: clients, unit: unit, rounds: rounds, warmUp: warmUp,
            engine: { [try await engine()] }, baseline: { [try await baseline()] }
        )
        return results[0]
    }
    var engineRates: [Double] = []
    var engineCPU: [Double] = []
    var pgbenchRuns: [PgBenchMeasurement] = []
    var measuring = !warmUp
    let clock = ContinuousClock()
    let results = try await interleave(
        names: [name], clients: clients, unit: unit, rounds: rounds, warmUp: warmUp,
        engine: {
            let (startCPU, start) = (processCPUSeconds(), clock.now)
            let rate = try await engine()
            let units = rate * seconds(clock.now - start)
            if measuring {
                engineRates.append(rate)
                engineCPU.append(units > 0 ? (processCPUSeconds() - startCPU) * 1e6 / units : 0)
            }
            return [rate]
        },
        baseline: {
            let figure = try await baseline()
            if measuring { pgbenchRuns.append(try await pgbench()) }
            measuring = true  // after the warm-up round, when there is one
            return [figure]
        }
    )
    let result = results[0]
    return ScenarioResult(
        name: result.name, clients: result.clients, unit: result.unit, engine: result.engine,
        baseline: result.baseline, ratios: result.ratios, peakRSSBytes: result.peakRSSBytes,
        pgbench: PgBenchFigures(
            rate: .init(pgbenchRuns.map(\.rate)),
            ratios: zip(engineRates, pgbenchRuns).map { $1.rate == 0 ? 0 : $0 / $1.rate },
            engineCPUMicroseconds: .init(engineCPU), pgbenchCPUMicroseconds: .init(pgbenchRuns.map(\.cpuMicroseconds))
        )
    )
}

/// Runs engine and baseline alternately, `rounds` times, where each measurement gives one figure per name (the
/// percentiles of one latency sample, say); returns one result per name, in order.
func interleave(
    names: [String], clients: Int, unit: String, rounds: Int, warmUp: Bool = false,
    engine: () async throws -> [Double], baseline: () async throws -> [Double]
) async throws -> [ScenarioResult] {
    if warmUp {
        _ = try await engine()
        _ = try await baseline()
    }
    ResidentMemory.resetPeak()
    var engineFigures: [[Double]] = []
    var baselineFigures: [[Double]] = []
    for _ in 0..<max(1, rounds) {
        engineFigures.append(try await engine())
        baselineFigures.append(try await baseline())
    }
    let peak = ResidentMemory.peakBytes()
    return names.indices.map { index in
        let engine = engineFigures.map { $0.indices.contains(index) ? $0[index] : 0 }
        let baseline = baselineFigures.map { $0.indices.contains(index) ? $0[index] : 0 }
        return ScenarioResult(
            name: names[index], clients: clients, unit: unit, engine: .init(engine), baseline: .init(baseline),
            ratios: zip(engine, baseline).map { $1 == 0 ? 0 : $0 / $1 }, peakRSSBytes: peak, pgbench: nil
        )
    }
}

/// The process's peak resident memory, from `/proc/self/status` (Linux).
enum ResidentMemory {
    static func peakBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kilobytes = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
            return kilobytes * 1024
        }
        return 0
    }

    /// Resets the peak to the current size (writing 5 to `/proc/self/clear_refs`), so each scenario reports its own.
    static func resetPeak() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }
}
