import Foundation
import HandoffStore
import Postgres

/// Everything an engine is opened from: where the database is and where the workflow files are.
///
/// The CLI, the server and the tests all open engines through `Engine.open(_:)`, from the environment
/// (`fromEnvironment`) or from settings of their own.
public struct EngineSettings: Sendable {
    public var database: DatabaseSettings
    /// The folder of workflow files (`HANDOFF_WORKFLOWS`, default `./workflows`).
    public var workflows: URL
    /// The most connections the engine's pool opens.
    public var maximumConnections: Int
    /// A streaming replica of the database for the reads that serve views (`DATABASE_READ_URL`); nil: the
    /// primary serves every read.
    public var readURL: String?

    public init(database: DatabaseSettings, workflows: URL, maximumConnections: Int = 16, readURL: String? = nil) {
        self.database = database
        self.workflows = workflows
        self.maximumConnections = maximumConnections
        self.readURL = readURL
    }

    /// `DATABASE_URL`, `DATABASE_READ_URL`, `HANDOFF_HOME`, `HANDOFF_MIGRATIONS` and `HANDOFF_WORKFLOWS`.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment, maximumConnections: Int = 16
    ) -> EngineSettings {
        EngineSettings(
            database: DatabaseSettings.fromEnvironment(environment),
            workflows: WorkflowLibrary.fromEnvironment(environment).folder, maximumConnections: maximumConnections,
            readURL: environment["DATABASE_READ_URL"].flatMap { $0.isEmpty ? nil : $0 })
    }
}

extension Engine {
    /// Opens the database these settings name (starting the private cluster when there is no `DATABASE_URL`),
    /// applies migrations when the schema is behind, and returns an engine on a pool of its own. Close it with
    /// `pool.close()`. Throws `database_unavailable`, `migration_failed`.
    public static func open(_ settings: EngineSettings, clock: @escaping @Sendable () -> Date = { Date() })
        async throws(EngineError) -> Engine
    {
        do {
            let pool = try await Database.open(settings.database, maximumConnections: settings.maximumConnections)
            let readPool = settings.readURL.map {
                ConnectionPool(ConnectionConfiguration($0), maximumConnections: settings.maximumConnections)
            }
            return Engine(
                pool: pool, readPool: readPool, workflows: WorkflowLibrary(folder: settings.workflows), clock: clock)
        } catch {
            throw EngineError.from(error)
        }
    }

    /// Whether the database answers a trivial query now; for readiness probes. A broken pooled connection is
    /// replaced on its next use, so this turns true again by itself once the database is back.
    public func isDatabaseReachable() async -> Bool {
        do {
            return try await pool.withConnection { connection in try Database.ping(on: connection) }
        } catch {
            return false
        }
    }
}
