import ArgumentParser
import Foundation
import HandoffStore
import Postgres
import Timestamps

/// `handoff db migrate | status`
struct Database: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Apply and inspect the database's migrations.",
        subcommands: [Migrate.self, Status.self]
    )

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply every pending migration (safe to run twice).")
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await Output.run(output) {
                let (migrator, pool) = try Database.migrator()
                defer { pool.close() }
                let applied = try await migrator.migrate(pool)
                let states = try await migrator.status(pool)
                try output.show(MigrationReport(applied: applied, migrations: states.map(MigrationReport.Item.init))) {
                    print(applied.isEmpty ? "Nothing to apply: every migration is applied." :
                        "Applied \(applied.count) migration(s): \(applied.map(String.init).joined(separator: ", ")).")
                }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the migrations and when each was applied.")
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await Output.run(output) {
                let (migrator, pool) = try Database.migrator()
                defer { pool.close() }
                let states = try await migrator.status(pool)
                let applied = states.filter { $0.appliedAt != nil }.map(\.version)
                try output.show(MigrationReport(applied: applied, migrations: states.map(MigrationReport.Item.init))) {
                    Output.printTable(["VERSION", "NAME", "APPLIED"], states.map {
                        [String($0.version), $0.name, $0.appliedAt.map { Timestamp.format($0) } ?? "pending"]
                    })
                }
            }
        }
    }

    /// The migrations on disk and a pool on the configured database (not migrated: these commands do that).
    static func migrator() throws -> (Migrator, ConnectionPool) {
        let settings = DatabaseSettings.fromEnvironment()
        let migrator = try Migrator(directory: settings.migrations)
        // The owner's login: migrations create and alter tables the runtime may not.
        let connectionString = try HandoffStore.Database.logins(settings).owner
        return (migrator, ConnectionPool(ConnectionConfiguration(connectionString), maximumConnections: 1))
    }

    struct MigrationReport: Encodable {
        struct Item: Encodable {
            let version: Int
            let name: String
            let appliedAt: Date?
            init(_ state: Migrator.State) {
                version = state.version
                name = state.name
                appliedAt = state.appliedAt
            }
        }
        let applied: [Int]
        let migrations: [Item]
    }
}

/// `handoff dev status | stop`: the private PostgreSQL cluster used when `DATABASE_URL` is not set.
struct Dev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect or stop the private PostgreSQL cluster under HANDOFF_HOME.",
        subcommands: [Status.self, Stop.self]
    )

    struct Report: Encodable {
        let state: String
        let port: Int?
        let directory: String
        let databaseURL: Bool
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Say whether the private cluster runs, and where.")
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await Output.run(output) {
                let settings = DatabaseSettings.fromEnvironment()
                let cluster = settings.localCluster
                let report: Report
                switch try cluster.status() {
                case .notInitialised:
                    report = Report(state: "not_initialised", port: nil, directory: cluster.directory.path,
                                    databaseURL: settings.databaseURL != nil)
                case .stopped:
                    report = Report(state: "stopped", port: nil, directory: cluster.directory.path,
                                    databaseURL: settings.databaseURL != nil)
                case .running(let port):
                    report = Report(state: "running", port: port, directory: cluster.directory.path,
                                    databaseURL: settings.databaseURL != nil)
                }
                try output.show(report) {
                    print("local cluster: \(report.state.replacingOccurrences(of: "_", with: " "))"
                        + (report.port.map { " on 127.0.0.1:\($0)" } ?? "") + " (\(report.directory))")
                    if report.databaseURL {
                        print("DATABASE_URL is set: commands use that server, not the local cluster.")
                    }
                }
            }
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the private cluster (its data is kept).")
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await Output.run(output) {
                let cluster = DatabaseSettings.fromEnvironment().localCluster
                do {
                    try cluster.stop()
                } catch let error as PostgresError {
                    throw StoreError(.databaseUnavailable, error.message, cause: error)
                }
                if output.json {
                    try Output.printJSON(Report(state: "stopped", port: nil, directory: cluster.directory.path,
                                                databaseURL: false))
                } else {
                    print("local cluster: stopped (\(cluster.directory.path))")
                }
            }
        }
    }
}
