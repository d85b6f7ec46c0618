import Dispatch
import Foundation
import HandoffStore
import Postgres

/// pgbench, PostgreSQL's own benchmark client, as a second baseline: the same statements on the same tables from a
/// client that costs next to nothing (one thread driving every connection through libpq's asynchronous API,
/// prepared statements). What the engine reaches against it is what the server allows, not only what Handoff's
/// own layer allows.
struct PgBench {
    /// One pgbench run.
    struct Run {
        /// Transactions per second, without the time spent connecting.
        var transactionsPerSecond: Double
        var transactions: Int
        /// pgbench's own CPU time (user and system), from the kernel's account of the finished child.
        var cpuSeconds: Double
    }

    let executable: String
    let environment: [String: String]

    /// Finds pgbench (`HANDOFF_PG_BIN`, Debian's PostgreSQL folders, `PATH`) and points it at `configuration`'s
    /// database through libpq's environment variables.
    init(configuration: ConnectionConfiguration) throws {
        guard let executable = PostgresPrograms.locate("pgbench") else {
            throw StoreError(
                .invalidInput,
                "pgbench is not installed; it ships with PostgreSQL (Debian: apt-get install postgresql-client)")
        }
        self.executable = executable
        self.environment = try configuration.libpqEnvironment()
    }

    /// Runs `script` with `clients` connections for `duration` (whole seconds, at least one: pgbench's `-T`),
    /// with `variables` set for every client (`-D`). Throws with pgbench's own words when it fails or when a
    /// transaction failed.
    func run(script: String, clients: Int, duration: Duration, variables: [String: String]) async throws -> Run {
        let file = NSTemporaryDirectory() + "handoff-pgbench-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).sql"
        try script.write(toFile: file, atomically: true, encoding: .utf8)
        defer { unlink(file) }
        let seconds = max(1, Int(HandoffBench.seconds(duration).rounded(.up)))
        let arguments = [
            "--no-vacuum", "--protocol=prepared", "--client=\(clients)", "--jobs=1", "--time=\(seconds)",
            "--file=\(file)",
        ] + variables.sorted { $0.key < $1.key }.map { "--define=\($0.key)=\($0.value)" }
        let (executable, environment) = (executable, environment)
        // waitpid blocks: off the cooperative pool.
        let (result, cpu) = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result {
                    let before = childrenCPUSeconds()
                    let result = try ChildProcess.runSeparately(executable, arguments, environment: environment)
                    return (result, childrenCPUSeconds() - before)
                })
            }
        }
        let failed = Self.figure(result.stdout, after: "number of failed transactions:") ?? 0
        guard result.status == 0, failed == 0,
              let transactions = Self.figure(result.stdout, after: "number of transactions actually processed:"),
              let rate = Self.figure(result.stdout, after: "tps =")
        else {
            throw StoreError(
                .databaseError,
                "pgbench failed (status \(result.status)): \((result.stderr + result.stdout).suffix(600))")
        }
        return Run(transactionsPerSecond: rate, transactions: Int(transactions), cpuSeconds: cpu)
    }

    /// The number after `label` on pgbench's report line that starts with it.
    static func figure(_ report: String, after label: String) -> Double? {
        for line in report.split(separator: "\n") where line.hasPrefix(label) {
            let rest = line.dropFirst(label.count).drop { $0 == " " }
            return Double(rest.prefix { $0.isNumber || $0 == "." })
        }
        return nil
    }
}

/// CPU time (user and system) of this process's children that have ended and been waited for.
func childrenCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_CHILDREN.rawValue, &usage)
    return cpuSeconds(usage)
}

/// This process's CPU time so far (user and system, every thread).
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return cpuSeconds(usage)
}

private func cpuSeconds(_ usage: rusage) -> Double {
    Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}
