import Foundation
import HandoffBench
import HandoffStore
import HandoffTestSupport
import Testing

/// The benchmarks run in a tiny configuration so they cannot rot. These check that results are produced and
/// sane, never how fast anything is.
@Suite struct BenchTests {
    func run(_ scenarios: [String], clients: [Int]? = [2], scale: Double = 0.01) async throws -> BenchReport {
        let server = try await TestServer.shared.server()
        return try await Bench.run(
            scenarios: scenarios,
            settings: BenchSettings(duration: .milliseconds(150), rounds: 3, clients: clients, scale: scale),
            connectionString: server.configuration.connectionString,
            migrations: Repository.migrations,
            workflows: Repository.workflows
        )
    }

    /// Both sides ran every round and gave figures that can be compared.
    func expectSane(_ result: ScenarioResult, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.engine.median > 0 && result.engine.min > 0, sourceLocation: sourceLocation)
        #expect(result.engine.min <= result.engine.median && result.engine.median <= result.engine.max,
                sourceLocation: sourceLocation)
        #expect(result.baseline.median > 0 && result.baseline.min > 0, sourceLocation: sourceLocation)
        #expect(result.baseline.min <= result.baseline.max, sourceLocation: sourceLocation)
        #expect(result.ratios.count == 3, sourceLocation: sourceLocation)
        #expect(result.ratios.allSatisfy { $0 > 0 && $0.isFinite }, sourceLocation: sourceLocation)
        #expect(result.peakRSSBytes > 0, sourceLocation: sourceLocation)
    }

    /// pgbench ran every round beside the engine, and both sides' CPU time per unit was counted.
    func expectPgBenchFigures(_ result: ScenarioResult, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let pgbench = result.pgbench else {
            Issue.record("\(result.name) has no pgbench figures", sourceLocation: sourceLocation)
            return
        }
        #expect(pgbench.rate.min > 0 && pgbench.rate.min <= pgbench.rate.max, sourceLocation: sourceLocation)
        #expect(pgbench.ratios.count == 3, sourceLocation: sourceLocation)
        #expect(pgbench.ratios.allSatisfy { $0 > 0 && $0.isFinite }, sourceLocation: sourceLocation)
        #expect(pgbench.engineCPUMicroseconds.min > 0, sourceLocation: sourceLocation)
        #expect(pgbench.pgbenchCPUMicroseconds.min > 0, sourceLocation: sourceLocation)
    }

    @Test func timersFireEveryDueTimerEachRoundAgainstTheClaimRate() async throws {
        let report = try await run(["timers"], clients: [1, 2])
        #expect(report.scenarios.map(\.name) == [
            "timers", "timers-delay-p50", "timers-delay-p99", "timers", "timers-delay-p50", "timers-delay-p99",
        ])
        #expect(report.scenarios.map(\.clients) == [1, 1, 1, 2, 2, 2])
        for result in report.scenarios where result.name == "timers" {
            #expect(result.unit == "timers/s")
            expectSane(result)
        }
        for result in report.scenarios where result.name != "timers" {
            #expect(result.unit == "ms")
            #expect(result.engine.min > 0, "a round fired no timer, or none after the due instant")
        }
    }

    @Test func outboxDeliversEveryNotificationOfEachRoundAgainstTheWritersWithoutSubscribers() async throws {
        let report = try await run(["outbox"], clients: [2])
        #expect(report.scenarios.map(\.name) == ["outbox", "outbox-delivered", "outbox-delay-p50", "outbox-delay-p99"])
        let writers = try #require(report.scenarios.first)
        #expect(writers.unit == "tasks/s")
        expectSane(writers)
        let delivered = report.scenarios[1]
        #expect(delivered.unit == "notifications/s" && delivered.engine.min > 0, "a round delivered nothing")
        for delay in report.scenarios.dropFirst(2) {
            #expect(delay.unit == "ms")
            #expect(delay.engine.min > 0, "a round's notifications never arrived")
        }
    }

    @Test func scaleMeasuresTheReadsAtTwoSizesTheAsyncRebuildAndTheLagUnderWriters() async throws {
        let report = try await run(["scale"], clients: [2])
        #expect(report.scenarios.map(\.name).enumerated().map { $0 == 2 ? String($1.prefix(14)) : $1 } == [
            "scale-stats-1k-vs-100", "scale-tasks-by-role-1k-vs-100", "scale-rebuild-", "scale-lag-p50", "scale-lag-p99",
        ])
        for result in report.scenarios.prefix(2) {
            #expect(result.unit == "ms")
            expectSane(result)
        }
        let rebuild = report.scenarios[2]
        #expect(rebuild.unit == "events/s")
        expectSane(rebuild)
        for lag in report.scenarios.suffix(2) {
            #expect(lag.unit == "ms" && lag.clients == 2)
            #expect(lag.baseline.min > 0, "the writers completed nothing")
            #expect(lag.engine.min >= 0 && lag.engine.max.isFinite)
        }
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
            expectPgBenchFigures(result)
        }
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? [String: Any]
        let first = (json?["scenarios"] as? [[String: Any]])?.first
        #expect(Set(first?.keys.map { $0 } ?? []) == [
            "name", "clients", "unit", "engine", "baseline", "ratios", "peakRSSBytes", "pgbench",
        ])
        let pgbench = first?["pgbench"] as? [String: Any]
        #expect(Set(pgbench?.keys.map { $0 } ?? []) == [
            "rate", "ratios", "engineCPUMicroseconds", "pgbenchCPUMicroseconds",
        ])
    }

    @Test func claimCompletesTasksThroughTheEngineAndClaimsRawRowsInTheBaseline() async throws {
        let report = try await run(["claim"], clients: [1, 2])
        #expect(report.scenarios.map(\.name) == ["claim", "claim"])
        #expect(report.scenarios.map(\.clients) == [1, 2])
        for result in report.scenarios {
            #expect(result.unit == "tasks/s")
            expectSane(result)
            expectPgBenchFigures(result)
        }
    }

    @Test func advanceReportsLatencyPercentilesInMilliseconds() async throws {
        let report = try await run(["advance"])
        #expect(report.scenarios.map(\.name) == ["advance-p50", "advance-p90", "advance-p99"])
        for result in report.scenarios {
            #expect(result.unit == "ms")
            #expect(result.clients == 1)
            expectSane(result)
        }
        // Percentiles of one sample never decrease.
        let engine = report.scenarios.map(\.engine.median)
        #expect(engine == engine.sorted())
    }

    @Test func replayTimesTheShortAndTheLongHistory() async throws {
        let report = try await run(["replay"], scale: 0.02)
        #expect(report.scenarios.map(\.name) == ["replay-100", "replay-200"])
        for result in report.scenarios {
            #expect(result.unit == "ms")
            expectSane(result)
        }
    }

    @Test func rebuildReadsTheWholeLogAtTwoSizes() async throws {
        let report = try await run(["rebuild"], clients: nil, scale: 0.001)
        #expect(report.scenarios.map(\.name) == ["rebuild-1k", "rebuild-10k"])
        for result in report.scenarios {
            #expect(result.unit == "events/s")
            expectSane(result)
        }
    }

    @Test func aScaleOutsideZeroToOneIsRefused() async throws {
        for scale in [0, -1, 1.5] {
            let error = await #expect(throws: StoreError.self) { try await run(["replay"], scale: scale) }
            #expect(error?.code == .invalidInput)
        }
    }

    @Test func aClientCountBelowOneIsRefused() async throws {
        let error = await #expect(throws: StoreError.self) { try await run(["claim"], clients: [0]) }
        #expect(error?.code == .invalidInput)
    }

    @Test func aWorkflowsFolderWithoutMailSendIsRefusedBeforeAnythingRuns() async throws {
        let server = try await TestServer.shared.server()
        let error = await #expect(throws: StoreError.self) {
            try await Bench.run(
                scenarios: ["claim"], settings: BenchSettings(duration: .milliseconds(10), rounds: 1, clients: [1]),
                connectionString: server.configuration.connectionString, migrations: Repository.migrations,
                workflows: URL(fileURLWithPath: "/nonexistent-handoff-workflows")
            )
        }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.contains("mail-send") == true)
    }

    @Test func anUnknownScenarioIsRefused() async throws {
        let error = await #expect(throws: StoreError.self) { try await run(["warp-speed"]) }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.contains("unknown scenario warp-speed") == true)
    }
}
