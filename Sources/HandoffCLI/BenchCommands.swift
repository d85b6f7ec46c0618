import ArgumentParser
import Foundation
import HandoffCore
import HandoffService
import HandoffStore
import Postgres
import Synchronization

/// `handoff bench [claim-complete] [--duration SECONDS] [--clients N,...] [--rounds N]`
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure claims+completions per second against a plain SKIP LOCKED queue, in a scratch database.",
        discussion: """
            Each round drains the engine's queue (claim the next task, complete it) with N workers for the duration, \
            then a table shaped like `tasks` with one SELECT … FOR UPDATE SKIP LOCKED and one UPDATE per task, and \
            reports both rates and their ratio. The scratch database is dropped afterwards.
            """
    )

    @OptionGroup var output: OutputOptions

    @Argument(help: "The scenario (only claim-complete for now).")
    var scenario = "claim-complete"

    @Option(help: "Seconds each side of a round runs.")
    var duration = 5.0

    @Option(help: "Worker counts, comma separated.")
    var clients = "1,8"

    @Option(help: "Rounds per worker count.")
    var rounds = 1

    @Option(help: "Onboardings started before each engine round (six tasks each).")
    var onboardings = 1_500

    struct Stats: Encodable {
        var median: Double
        var min: Double
        var max: Double

        init(_ values: [Double]) {
            let sorted = values.sorted()
            median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
            min = sorted.first ?? 0
            max = sorted.last ?? 0
        }
    }

    struct Scenario: Encodable {
        var name: String
        var clients: Int
        var unit: String
        var engine: Stats
        var baseline: Stats
        var ratios: [Double]
        var peakRSSBytes: Int
    }

    func run() async throws {
        try await Output.run(output) {
            guard scenario == "claim-complete" else {
                throw CommandFailure(code: "invalid_input", message: "unknown scenario '\(scenario)'; try claim-complete")
            }
            let counts = clients.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !counts.isEmpty, counts.allSatisfy({ $0 >= 1 && $0 <= 64 }), rounds >= 1, duration > 0 else {
                throw CommandFailure(code: "invalid_input", message: "--clients takes counts from 1 to 64, like 1,8")
            }
            let settings = DatabaseSettings.fromEnvironment()
            let server = try HandoffStore.Database.connectionString(settings)
            let name = "handoff_bench_\(getpid())"
            let admin = try Connection(ConnectionConfiguration(server))
            try BaselineQueue.createDatabase(on: admin, name)
            defer { _ = try? BaselineQueue.dropDatabase(on: admin, name) }
            let pool = ConnectionPool(
                ConnectionConfiguration(server, database: name), maximumConnections: (counts.max() ?? 1) + 2)
            defer { pool.close() }
            try await Migrator(directory: settings.migrations).migrate(pool)
            let engine = Engine(pool: pool, workflows: WorkflowLibrary.fromEnvironment())
            let roles = ["customer_admin", "partner_integration_manager", "solutions_engineer"]

            var results: [Scenario] = []
            for count in counts {
                var engineRates: [Double] = []
                var baselineRates: [Double] = []
                for round in 0..<rounds {
                    let prefix = "bench-\(count)-\(round)"
                    try await Self.startOnboardings(engine, prefix: prefix, count: onboardings, clients: 8)
                    try await pool.withConnection { connection in try BaselineQueue.analyze(on: connection) }
                    engineRates.append(try await Self.measure(workers: count, duration: duration) { worker in
                        guard let task = try await engine.nextTask(roles: Set(roles), user: "worker\(worker)") else {
                            return false
                        }
                        let (outputs, checklist) = Self.answers(task)
                        _ = try await engine.complete(
                            taskId: task.id, user: "worker\(worker)", outputs: outputs, checklist: checklist)
                        return true
                    })
                    try await pool.withConnection { connection in
                        try BaselineQueue.prepare(on: connection, count: onboardings * 6, roles: roles)
                    }
                    baselineRates.append(try await Self.measure(workers: count, duration: duration) { worker in
                        try await pool.withConnection { connection in
                            try BaselineQueue.claimAndComplete(on: connection, roles: roles, user: "worker\(worker)")
                        }
                    })
                }
                results.append(
                    Scenario(
                        name: scenario, clients: count, unit: "claims+completions/s", engine: Stats(engineRates),
                        baseline: Stats(baselineRates),
                        ratios: zip(engineRates, baselineRates).map { $1 > 0 ? $0 / $1 : 0 },
                        peakRSSBytes: Self.peakRSS()))
            }
            if output.json {
                try Output.printJSON(["scenarios": results])
                return
            }
            Output.printTable(
                ["SCENARIO", "WORKERS", "ENGINE/S", "BASELINE/S", "RATIO"],
                results.map {
                    [
                        $0.name, String($0.clients), String(format: "%.0f", $0.engine.median),
                        String(format: "%.0f", $0.baseline.median),
                        String(format: "%.2f", $0.baseline.median > 0 ? $0.engine.median / $0.baseline.median : 0),
                    ]
                })
        }
    }

    static func startOnboardings(_ engine: Engine, prefix: String, count: Int, clients: Int) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<clients {
                group.addTask {
                    for index in stride(from: client, to: count, by: clients) {
                        _ = try await engine.start(
                            workflow: "mail-send", inputs: ["company": .string("Company \(index)"), "path": "standard"],
                            id: "\(prefix)-\(index)", actor: "bench")
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Runs `unit` in `workers` loops until the duration passes (or the work runs out); units per second.
    static func measure(
        workers: Int, duration: Double, _ unit: @escaping @Sendable (Int) async throws -> Bool
    ) async throws -> Double {
        let started = ContinuousClock.now
        let deadline = started + .milliseconds(Int(duration * 1000))
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var done = 0
                    while ContinuousClock.now < deadline {
                        guard try await unit(worker) else { break }
                        done += 1
                    }
                    return done
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Double(total) / max(seconds, 0.001)
    }

    /// What a worker enters for each Mail.Send task: every item ticked, the outputs without defaults.
    static func answers(_ task: TaskView) -> ([String: Value], Set<String>) {
        var outputs: [String: Value] = [:]
        for output in task.outputs where output.default == nil && output.required {
            outputs[output.name] = .string(output.type == "upn" ? "mailer@contoso.com" : "C-1001")
        }
        return (outputs, Set(task.checklist.map(\.id)))
    }

    static func peakRSS() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }
}
