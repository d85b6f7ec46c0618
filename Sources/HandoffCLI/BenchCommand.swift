import ArgumentParser
import Foundation
import HandoffBench
import HandoffService
import HandoffStore

/// `handoff bench [SCENARIO] [--duration SECONDS] [--clients N,...]`
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the engine against raw SQL doing the same work, on the same database, interleaved.",
        discussion: """
            Each scenario runs the engine's real code path and a raw-SQL baseline alternately (A B A B …) and
            reports median, min and max of both and the ratio engine/baseline per round; append and claim also run \
            pgbench with the baseline's statements each round and report the engine's ratio to it and the CPU time \
            per unit of this process (engine) and of pgbench. Absolute figures swing
            with the machine; the ratios are what to compare. Runs in a temporary database on the configured
            server (DATABASE_URL, or the private cluster), dropped afterwards. Scenarios: \
            \(Bench.scenarios.joined(separator: ", ")). Units ending in /s are rates (a ratio above 1: the engine is \
            faster); ms are times (a ratio above 1: the engine is slower). The scenarios other than append drive \
            the mail-send workflow from HANDOFF_WORKFLOWS (default ./workflows).
            """
    )

    @Argument(help: "The scenario to run (default: all).")
    var scenario: String?

    @Option(help: "Seconds each engine or baseline measurement runs.")
    var duration: Double = 3

    @Option(help: "Rounds of engine-then-baseline (at least 3 for a median worth reading).")
    var rounds: Int = 3

    @Option(help: "Concurrent clients, comma-separated (e.g. 1,4,16); each scenario has its own default.")
    var clients: String?

    @Option(help: """
        Fraction of the full seeded sizes (20,000 queued tasks, 2,000 advances, 10,000 due timers, a \
        10,000-event onboarding, a 1,000,000-event log), above 0 and at most 1; 0.01 makes a quick smoke run.
        """)
    var scale: Double = 1

    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await Output.run(output) {
            guard duration > 0, duration <= 3600 else {
                throw CommandFailure(code: "invalid_input", message: "--duration must be between 0 and 3600 seconds")
            }
            guard (1...100).contains(rounds) else {
                throw CommandFailure(code: "invalid_input", message: "--rounds must be between 1 and 100")
            }
            guard scale > 0, scale <= 1 else {
                throw CommandFailure(code: "invalid_input", message: "--scale must be above 0 and at most 1")
            }
            let clientCounts = try clients.map { text in
                try text.split(separator: ",").map { part in
                    guard let count = Int(part.trimmingCharacters(in: .whitespaces)), (1...256).contains(count) else {
                        throw CommandFailure(
                            code: "invalid_input", message: "--clients takes counts from 1 to 256, like 1,4,16; not '\(part)'"
                        )
                    }
                    return count
                }
            }
            let settings = DatabaseSettings.fromEnvironment()
            let json = output.json
            let columns = [12, 8, 10, 12, 12, 7, 10]
            @Sendable func line(_ cells: [String]) -> String {
                zip(cells, columns + [0]).enumerated().map { index, pair in
                    let (cell, width) = pair
                    let padding = String(repeating: " ", count: max(0, width - cell.count))
                    return index == 0 || index == 2 ? cell + padding : padding + cell
                }.joined(separator: "  ")
            }
            // Each row as soon as it is measured (unbuffered), also when stdout is a file or a pipe.
            @Sendable func show(_ text: String) {
                FileHandle.standardOutput.write(Data((text + "\n").utf8))
            }
            if !json {
                show(line(["SCENARIO", "CLIENTS", "UNIT", "ENGINE", "BASELINE", "RATIO", "PEAK RSS", "RATIOS PER ROUND"]))
            }
            let report = try await Bench.run(
                scenarios: scenario.map { [$0] } ?? [],
                settings: BenchSettings(
                    duration: .milliseconds(Int(duration * 1000)), rounds: rounds, clients: clientCounts, scale: scale),
                // The owner's login: the benchmarks make databases and tables of their own.
                connectionString: try HandoffStore.Database.logins(settings).owner,
                migrations: settings.migrations,
                workflows: WorkflowLibrary.fromEnvironment().folder,
                progress: { result in
                    guard !json else { return }
                    // The median of the per-round ratios: each round's pair ran back to back, so this follows the
                    // disk's swings better than the ratio of the two medians.
                    let ratio = ScenarioResult.Summary(result.ratios).median
                    // Times are small numbers; rates are large ones.
                    let figure = result.unit.hasPrefix("ms") ? "%.3f" : "%.1f"
                    show(line([
                        result.name, String(result.clients), result.unit, String(format: figure, result.engine.median),
                        String(format: figure, result.baseline.median), String(format: "%.2f", ratio),
                        "\(result.peakRSSBytes / 1_048_576) MiB",
                        result.ratios.map { String(format: "%.2f", $0) }.joined(separator: " "),
                    ]))
                    if let pgbench = result.pgbench {
                        let engineCPU = pgbench.engineCPUMicroseconds.median
                        let pgbenchCPU = pgbench.pgbenchCPUMicroseconds.median
                        show(line([
                            "  vs pgbench", "", result.unit, "", String(format: figure, pgbench.rate.median),
                            String(format: "%.2f", ScenarioResult.Summary(pgbench.ratios).median), "",
                            pgbench.ratios.map { String(format: "%.2f", $0) }.joined(separator: " "),
                        ]))
                        show(line([
                            "  cpu/unit", "", "µs", String(format: "%.1f", engineCPU),
                            String(format: "%.1f", pgbenchCPU),
                            String(format: "%.2f", pgbenchCPU > 0 ? engineCPU / pgbenchCPU : 0), "",
                            "engine: this process; baseline column: pgbench",
                        ]))
                    }
                }
            )
            if json {
                try Output.printJSON(report)
            }
        }
    }
}
