import Foundation
import Postgres

/// Where Handoff's database is, from the environment the contract names.
///
/// `DATABASE_URL` set: that server. Unset: the private cluster under `HANDOFF_HOME` (default `./.handoff`),
/// started on first use.
public struct DatabaseSettings: Sendable {
    public var databaseURL: String?
    public var home: URL
    /// The folder of numbered SQL migrations.
    public var migrations: URL
    /// How long a command waits for a lock another session holds before it fails with `timeout`
    /// (`HANDOFF_LOCK_TIMEOUT_MS`, default 5000).
    public var lockTimeoutMilliseconds: Int
    /// The owner's connection, which migrations run on (`HANDOFF_MIGRATION_URL`); nil: `databaseURL` does both.
    public var migrationURL: String?

    public init(
        databaseURL: String?, home: URL, migrations: URL, lockTimeoutMilliseconds: Int = 5_000,
        migrationURL: String? = nil
    ) {
        self.migrationURL = migrationURL
        self.databaseURL = databaseURL
        self.home = home
        self.migrations = migrations
        self.lockTimeoutMilliseconds = lockTimeoutMilliseconds
    }

    /// Reads `DATABASE_URL`, `HANDOFF_HOME` and `HANDOFF_MIGRATIONS` (default `./db/migrations`, else the
    /// migrations of the source tree this program was built from).
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment)
        -> DatabaseSettings
    {
        let url = environment["DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        let home = URL(fileURLWithPath: environment["HANDOFF_HOME"] ?? ".handoff", isDirectory: true)
        let migrations: URL
        if let configured = environment["HANDOFF_MIGRATIONS"] {
            migrations = URL(fileURLWithPath: configured, isDirectory: true)
        } else if FileManager.default.fileExists(atPath: "db/migrations") {
            migrations = URL(fileURLWithPath: "db/migrations", isDirectory: true)
        } else {
            migrations = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("db/migrations", isDirectory: true)
        }
        // A value that is not a whole number of milliseconds from 1 to 10 minutes keeps the default.
        let lockTimeout = environment["HANDOFF_LOCK_TIMEOUT_MS"].flatMap(Int.init).flatMap {
            (1...600_000).contains($0) ? $0 : nil
        }
        return DatabaseSettings(
            databaseURL: url, home: home.standardizedFileURL, migrations: migrations,
            lockTimeoutMilliseconds: lockTimeout ?? 5_000,
            migrationURL: environment["HANDOFF_MIGRATION_URL"].flatMap { $0.isEmpty ? nil : $0 })
    }

    /// The private cluster these settings use when `databaseURL` is nil.
    public var localCluster: LocalCluster { LocalCluster(home: home) }
}

/// Opening the database: the connection strings, a pool, migrations applied.
public enum Database {
    /// Who connects: the runtime login every command and server uses, and the owner that runs migrations (and
    /// the benchmarks, which make tables of their own). One string for both when a single role does both.
    public struct Logins: Sendable, Equatable {
        public var runtime: String
        public var owner: String
    }

    /// The logins to use, starting the private cluster first when there is no `DATABASE_URL`: there, the
    /// cluster's superuser owns and migrates and `handoff_app` runs. Throws `database_unavailable` when the
    /// cluster cannot start.
    public static func logins(_ settings: DatabaseSettings) throws -> Logins {
        if let url = settings.databaseURL {
            return Logins(runtime: url, owner: settings.migrationURL ?? url)
        }
        do {
            let owner = try settings.localCluster.start()
            return Logins(runtime: try settings.localCluster.runtimeConnectionString(), owner: owner)
        } catch let error as PostgresError {
            throw StoreError(.databaseUnavailable, "the local PostgreSQL cluster did not start: \(error.message)", cause: error)
        }
    }

    /// The runtime's connection string (see `logins`).
    public static func connectionString(_ settings: DatabaseSettings) throws -> String {
        try logins(settings).runtime
    }

    /// A pool of runtime connections on the database with every migration applied (by the owner, when the
    /// schema is behind).
    public static func open(_ settings: DatabaseSettings, maximumConnections: Int = 16) async throws -> ConnectionPool {
        let logins = try logins(settings)
        let configuration = ConnectionConfiguration(logins.runtime, lockTimeoutMilliseconds: settings.lockTimeoutMilliseconds)
        let pool = ConnectionPool(configuration, maximumConnections: maximumConnections)
        do {
            let migrator = try Migrator(directory: settings.migrations)
            if try await !migrator.isCurrent(pool) {
                if logins.owner == logins.runtime {
                    try await migrator.migrate(pool)
                } else {
                    let owner = ConnectionPool(ConnectionConfiguration(logins.owner), maximumConnections: 1)
                    defer { owner.close() }
                    try await migrator.migrate(owner)
                }
            }
        } catch {
            pool.close()
            throw error
        }
        return pool
    }
}

extension Database {
    /// Whether the server answers a trivial query on `connection`.
    public static func ping(on connection: Connection) throws -> Bool {
        try connection.query("SELECT 1").rows.count == 1
    }

    // MARK: Replicas

    /// The primary's write-ahead log position now: every transaction committed before this call is at or below
    /// it. The insert position, not the write position: with `synchronous_commit = off` a commit returns before
    /// its record is written out.
    public static func currentLogPosition(on connection: Connection) throws -> UInt64 {
        try parseLogPosition(connection.query("SELECT pg_current_wal_insert_lsn()::text").rows[0].string(0))
    }

    /// How far a streaming replica has replayed the primary's log, and the age of the last transaction it
    /// replayed (nil when it has replayed none yet). Throws on a server that is not in recovery.
    public static func replayedLogPosition(on connection: Connection) throws -> (position: UInt64, seconds: Double?) {
        let row = try connection.query(
            """
            SELECT pg_is_in_recovery(), coalesce(pg_last_wal_replay_lsn(), '0/0')::text,
                   extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8
            """
        ).rows[0]
        guard try row.bool(0) else {
            throw StoreError(.invalidInput, "DATABASE_READ_URL names a server that is not a replica (not in recovery)")
        }
        return (try parseLogPosition(row.string(1)), row.isNull(2) ? nil : max(0, try row.double(2)))
    }

    /// `16/B374D848` as a number.
    static func parseLogPosition(_ text: String) throws -> UInt64 {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let high = UInt64(parts[0], radix: 16), let low = UInt64(parts[1], radix: 16) else {
            throw StoreError(.invalidInput, "'\(text)' is not a log position")
        }
        return high << 32 | low
    }
}
