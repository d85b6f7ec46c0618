import Foundation
import HandoffService
import HandoffStore
import Postgres

/// `handoff bench`: runs scenarios in a database of their own on the configured server, then drops it.
public enum Bench {
    /// The scenarios, in the order they run when none is named.
    public static let scenarios = ["append", "claim", "advance", "timers", "outbox", "replay", "rebuild", "scale"]

    /// Runs the named scenarios (all when empty). `connectionString` is the server's; each scenario runs in a new
    /// database `handoff_bench_<pid>_<random>` created there (its user needs CREATEDB), migrated, and dropped afterwards,
    /// so no scenario sees another's rows. `workflows` is the folder of workflow files the engine starts
    /// onboardings from (the scenarios drive the `mail-send` workflow).
    public static func run(
        scenarios names: [String], settings: BenchSettings, connectionString: String, migrations: URL,
        workflows: URL = URL(fileURLWithPath: "workflows"),
        progress: @escaping @Sendable (ScenarioResult) -> Void = { _ in }
    ) async throws -> BenchReport {
        let unknown = names.filter { !scenarios.contains($0) }
        guard unknown.isEmpty else {
            throw StoreError(
                .invalidInput,
                "unknown scenario \(unknown.joined(separator: ", ")); known: \(scenarios.joined(separator: ", "))"
            )
        }
        guard settings.scale > 0, settings.scale <= 1 else {
            throw StoreError(.invalidInput, "the scale must be above 0 and at most 1, not \(settings.scale)")
        }
        if let clients = settings.clients, clients.isEmpty || clients.contains(where: { $0 < 1 }) {
            throw StoreError(.invalidInput, "client counts must be at least 1")
        }
        let library = WorkflowLibrary(folder: workflows)
        if names.isEmpty || names.contains(where: { $0 != "append" }) {
            do {
                _ = try library.definition(MailSend.workflow)
            } catch {
                throw StoreError(.invalidInput, "the bench drives the \(MailSend.workflow) workflow: \(error.message)")
            }
        }

        var report = BenchReport(scenarios: [])
        for name in names.isEmpty ? scenarios : names {
            let results = try await inFreshDatabase(
                connectionString: connectionString, migrations: migrations, settings: settings
            ) { pool, configuration in
                let engine = Engine(pool: pool, workflows: library)
                switch name {
                case "append":
                    return try await AppendScenario(pool: pool, configuration: configuration, settings: settings).run()
                case "claim":
                    return try await ClaimScenario(
                        pool: pool, engine: engine, configuration: configuration, settings: settings).run()
                case "advance":
                    return try await AdvanceScenario(
                        pool: pool, engine: engine, configuration: configuration, settings: settings
                    ).run()
                case "timers":
                    return try await TimersScenario(
                        pool: pool, engine: engine, configuration: configuration, settings: settings
                    ).run()
                case "outbox":
                    return try await OutboxScenario(
                        pool: pool, engine: engine, configuration: configuration, settings: settings
                    ).run()
                case "replay":
                    return try await ReplayScenario(pool: pool, engine: engine, settings: settings).run()
                case "rebuild":
                    return try await RebuildScenario(pool: pool, engine: engine, settings: settings).run()
                case "scale":
                    return try await ScaleScenario(
                        pool: pool, engine: engine, configuration: configuration, settings: settings
                    ).run()
                default:
                    return []
                }
            }
            results.forEach(progress)
            report.scenarios += results
        }
        return report
    }

    /// Creates `handoff_bench_<pid>_<random>`, migrates it, runs `body` with a pool on it, and drops it again.
    static func inFreshDatabase(
        connectionString: String, migrations: URL, settings: BenchSettings,
        _ body: (ConnectionPool, ConnectionConfiguration) async throws -> [ScenarioResult]
    ) async throws -> [ScenarioResult] {
        // The pid names whose database it is; the suffix keeps runs in one process (tests) apart.
        let suffix = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(8)
        let database = "handoff_bench_\(getpid())_\(suffix)"
        let administration = try Connection(ConnectionConfiguration(connectionString, database: "postgres"))
        let quoted = try administration.quoteIdentifier(database)
        try administration.execute("DROP DATABASE IF EXISTS \(quoted) WITH (FORCE)")
        try administration.execute("CREATE DATABASE \(quoted)")
        defer { _ = try? administration.execute("DROP DATABASE IF EXISTS \(quoted) WITH (FORCE)") }

        let maximumClients = (settings.clients ?? [16]).max() ?? 16
        let configuration = ConnectionConfiguration(connectionString, database: database, applicationName: "handoff-bench")
        let pool = ConnectionPool(configuration, maximumConnections: maximumClients + 2)
        defer { pool.close() }
        try await Migrator(directory: migrations).migrate(pool)
        return try await body(pool, configuration)
    }
}
