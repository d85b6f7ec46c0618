import Crypto
import Foundation
import Postgres

/// Applies the numbered SQL files in `db/migrations` in order, each in its own transaction, once.
///
/// Applied migrations are recorded in `schema_migrations` with a checksum; a session-level advisory lock makes
/// processes that migrate at the same time take turns, so each file runs exactly once.
public struct Migrator: Sendable {
    public struct Migration: Sendable, Equatable {
        public let version: Int
        public let name: String
        public let sql: String
        public let checksum: String
    }

    public struct State: Sendable, Equatable {
        public let version: Int
        public let name: String
        public let appliedAt: Date?
    }

    public let migrations: [Migration]
    /// An arbitrary constant: the advisory lock key all Handoff processes use for migrations.
    static let lockKey: Int64 = 0x4841_4E44_4F46_4600

    /// Reads `NNNN_name.sql` files from a folder. Throws `migration_failed` for a malformed or duplicate number.
    public init(directory: URL) throws {
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }
        } catch {
            throw StoreError(.migrationFailed, "cannot read migrations in \(directory.path): \(error.localizedDescription)")
        }
        var migrations: [Migration] = []
        for file in files {
            let stem = String(file.dropLast(4))
            let parts = stem.split(separator: "_", maxSplits: 1)
            guard parts.count == 2, let version = Int(parts[0]) else {
                throw StoreError(.migrationFailed, "migration file \(file) is not named NNNN_name.sql")
            }
            let sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            let checksum = SHA256.hash(data: Data(sql.utf8)).map { String(format: "%02x", $0) }.joined()
            migrations.append(Migration(version: version, name: String(parts[1]), sql: sql, checksum: checksum))
        }
        migrations.sort { $0.version < $1.version }
        for (previous, next) in zip(migrations, migrations.dropFirst()) where previous.version == next.version {
            throw StoreError(.migrationFailed, "two migrations are numbered \(next.version)")
        }
        self.migrations = migrations
    }

    /// Applies what is pending; returns the versions applied by this call (empty when all were applied already).
    @discardableResult
    public func migrate(_ pool: ConnectionPool) async throws -> [Int] {
        let migrations = migrations
        return try await pool.run { connection in
            // Another process's migrations may take longer than the session's lock and statement timeouts: wait
            // for them, and let a long migration run, then restore the session's limits.
            try connection.execute("SET lock_timeout = 0; SET statement_timeout = 0")
            defer { _ = try? connection.execute("RESET lock_timeout; RESET statement_timeout") }
            try connection.query("SELECT pg_advisory_lock($1)", [Self.lockKey])
            defer { _ = try? connection.query("SELECT pg_advisory_unlock($1)", [Self.lockKey]) }
            try Self.createHistoryTable(connection)
            let applied = try Self.appliedChecksums(connection)
            var done: [Int] = []
            for migration in migrations {
                if let checksum = applied[migration.version] {
                    guard checksum == migration.checksum else {
                        throw StoreError(
                            .migrationFailed,
                            "migration \(migration.version)_\(migration.name) was changed after it was applied; "
                                + "add a new migration instead"
                        )
                    }
                    continue
                }
                do {
                    try connection.transaction { connection in
                        try connection.execute(migration.sql)
                        try connection.query(
                            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                            [migration.version, migration.name, migration.checksum]
                        )
                    }
                } catch let error as PostgresError {
                    throw StoreError(
                        error.isConnectionProblem ? .databaseUnavailable : .migrationFailed,
                        "migration \(migration.version)_\(migration.name) failed: \(error.message)", cause: error
                    )
                }
                done.append(migration.version)
            }
            return done
        }
    }

    /// Whether every migration is applied, as `pool`'s login can see (one read). A login that may not read the
    /// history yet (the runtime, before the migration that grants it) sees a schema that is behind.
    public func isCurrent(_ pool: ConnectionPool) async throws -> Bool {
        let migrations = migrations
        return try await pool.run { connection -> Bool in
            let exists = try connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL")
            guard try exists.first?.bool(0) == true else { return false }
            do {
                let applied = try Self.appliedChecksums(connection)
                return migrations.allSatisfy { applied[$0.version] == $0.checksum }
            } catch let error as PostgresError where error.sqlState == "42501" {
                return false
            }
        }
    }

    /// Every known migration with the time it was applied, or nil while pending.
    public func status(_ pool: ConnectionPool) async throws -> [State] {
        let migrations = migrations
        let applied: [Int: Date] = try await pool.run { connection in
            let exists = try connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL")
            guard try exists.first?.bool(0) == true else { return [:] }
            var applied: [Int: Date] = [:]
            for row in try connection.query("SELECT version, applied_at FROM schema_migrations").rows {
                applied[try row.int(0)] = try row.date(1)
            }
            return applied
        }
        return migrations.map { State(version: $0.version, name: $0.name, appliedAt: applied[$0.version]) }
    }

    private static func createHistoryTable(_ connection: Connection) throws {
        try connection.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
    }

    private static func appliedChecksums(_ connection: Connection) throws -> [Int: String] {
        var applied: [Int: String] = [:]
        for row in try connection.query("SELECT version, checksum FROM schema_migrations").rows {
            applied[try row.int(0)] = try row.string(1)
        }
        return applied
    }
}
