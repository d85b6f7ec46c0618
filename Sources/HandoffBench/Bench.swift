import Foundation
import HandoffStore
import Postgres

/// `handoff bench`: runs scenarios in a database of their own on the configured server, then drops it.
public enum Bench {
    public static let scenarios = ["append"]

    /// Runs the named scenarios (all when empty). `connectionString` is the server's; the scenarios run in a new
    /// database `handoff_bench_<pid>` created there (its user needs CREATEDB), migrated, and dropped afterwards.
    public static func run(
        scenarios names: [String], settings: BenchSettings, connectionString: String, migrations: URL,
        progress: @escaping @Sendable (ScenarioResult) -> Void = { _ in }
    ) async throws -> BenchReport {
        let unknown = names.filter { !scenarios.contains($0) }
        guard unknown.isEmpty else {
            throw StoreError(
                .invalidInput,
                "unknown scenario \(unknown.joined(separator: ", ")); known: \(scenarios.joined(separator: ", "))"
            )
        }
        let database = "handoff_bench_\(getpid())"
        let administration = try Connection(ConnectionConfiguration(connectionString, database: "postgres"))
        let quoted = try administration.quoteIdentifier(database)
        try administration.execute("DROP DATABASE IF EXISTS \(quoted)")
        try administration.execute("CREATE DATABASE \(quoted)")
        defer { _ = try? administration.execute("DROP DATABASE IF EXISTS \(quoted) WITH (FORCE)") }

        let maximumClients = (settings.clients ?? [16]).max() ?? 16
        let pool = ConnectionPool(
            ConnectionConfiguration(connectionString, database: database, applicationName: "handoff-bench"),
            maximumConnections: maximumClients + 2
        )
        defer { pool.close() }
        try await Migrator(directory: migrations).migrate(pool)

        var report = BenchReport(scenarios: [])
        for name in names.isEmpty ? scenarios : names {
            let results: [ScenarioResult]
            switch name {
            case "append":
                results = try await AppendScenario(pool: pool, settings: settings).run()
            default:
                results = []
            }
            results.forEach(progress)
            report.scenarios += results
        }
        return report
    }
}
