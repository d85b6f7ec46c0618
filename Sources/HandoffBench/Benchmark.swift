import Foundation

/// One measured scenario: the engine's real code path against a raw-SQL baseline of the same work.
public struct ScenarioResult: Encodable, Sendable {
    public struct Summary: Encodable, Sendable {
        public let median: Double
        public let min: Double
        public let max: Double

        init(_ values: [Double]) {
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
}

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

    public init(duration: Duration, rounds: Int, clients: [Int]?) {
        self.duration = duration
        self.rounds = rounds
        self.clients = clients
    }
}

/// A rate measurement: `clients` tasks run `step` until the time is up; returns units per second.
///
/// `step` does one unit of work for one client and returns how many units it completed.
func measureRate(
    clients: Int, duration: Duration, _ step: @escaping @Sendable (_ client: Int, _ iteration: Int) async throws -> Int
) async throws -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    let deadline = start + duration
    let total = try await withThrowingTaskGroup(of: Int.self) { group in
        for client in 0..<clients {
            group.addTask {
                var done = 0
                var iteration = 0
                while clock.now < deadline {
                    done += try await step(client, iteration)
                    iteration += 1
                }
                return done
            }
        }
        return try await group.reduce(0, +)
    }
    let elapsed = clock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Double(total) / max(seconds, 1e-9)
}

/// Runs engine and baseline alternately, `rounds` times, and summarises.
func interleave(
    name: String, clients: Int, unit: String, rounds: Int,
    engine: () async throws -> Double, baseline: () async throws -> Double
) async throws -> ScenarioResult {
    ResidentMemory.resetPeak()
    var engineFigures: [Double] = []
    var baselineFigures: [Double] = []
    for _ in 0..<max(1, rounds) {
        engineFigures.append(try await engine())
        baselineFigures.append(try await baseline())
    }
    let ratios = zip(engineFigures, baselineFigures).map { $1 == 0 ? 0 : $0 / $1 }
    return ScenarioResult(
        name: name, clients: clients, unit: unit, engine: .init(engineFigures), baseline: .init(baselineFigures),
        ratios: ratios, peakRSSBytes: ResidentMemory.peakBytes()
    )
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
