import Foundation
import HandoffBench
import HandoffStore
import HandoffTestSupport
import Testing

/// The benchmarks run in a tiny configuration so they cannot rot. These check that results are produced and
/// sane, never how fast anything is.
@Suite struct BenchTests {
    func run(_ scenarios: [String], clients: [Int] = [2]) async throws -> BenchReport {
        let server = try await TestServer.shared.server()
        return try await Bench.run(
            scenarios: scenarios,
            settings: BenchSettings(duration: .milliseconds(150), rounds: 3, clients: clients),
            connectionString: server.configuration.connectionString,
            migrations: Repository.migrations
        )
    }

    @Test func appendMeasuresTheEngineAndTheBaselineEveryRound() async throws {
        let report = try await run(["append"])
        #expect(report.scenarios.map(\.name) == ["append", "append-10"])
        for result in report.scenarios {
            #expect(result.clients == 2)
            #expect(result.unit == "events/s")
            #expect(result.engine.median > 0 && result.engine.min > 0 && result.engine.min <= result.engine.max)
            #expect(result.baseline.median > 0 && result.baseline.min <= result.baseline.max)
            #expect(result.ratios.count == 3)
            #expect(result.ratios.allSatisfy { $0 > 0 && $0.isFinite })
            #expect(result.peakRSSBytes > 0)
        }
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? [String: Any]
        let first = (json?["scenarios"] as? [[String: Any]])?.first
        #expect(Set(first?.keys.map { $0 } ?? []) == ["name", "clients", "unit", "engine", "baseline", "ratios", "peakRSSBytes"])
    }

    @Test func anUnknownScenarioIsRefused() async throws {
        let error = await #expect(throws: StoreError.self) { try await run(["warp-speed"]) }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.contains("unknown scenario warp-speed") == true)
    }
}
