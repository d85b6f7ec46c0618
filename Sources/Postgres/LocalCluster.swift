import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private PostgreSQL cluster in a folder of its own, run from the installed server binaries.
///
/// Handoff uses it when no `DATABASE_URL` is set, so a first command on a fresh machine just works. PostgreSQL
/// refuses to run as root, so when the caller is root the cluster's folder belongs to the `postgres` account and
/// every server command runs as that account (through `runuser`). The server listens on a free loopback port
/// only, with password authentication; the password and the port live beside the data folder.
public struct LocalCluster: Sendable {
    /// `<home>/postgres`: the data folder, the server log, the port and the password.
    public let directory: URL
    /// Durable clusters sync every commit to disk; throwaway test clusters skip that for speed.
    public let durable: Bool
    /// The cluster's superuser, which owns the database and runs the migrations.
    public static let user = "handoff"
    /// The login Handoff's processes use: a member of `handoff_runtime`, owning nothing (see migration 0006).
    public static let runtimeUser = "handoff_app"
    public static let database = "handoff"

    public enum Status: Sendable, Equatable {
        case notInitialised
        case stopped
        case running(port: Int)
    }

    public init(home: URL, durable: Bool = true) {
        self.directory = home.appendingPathComponent("postgres", isDirectory: true)
        self.durable = durable
    }

    private var dataDirectory: URL { directory.appendingPathComponent("data", isDirectory: true) }
    private var logFile: URL { directory.appendingPathComponent("server.log") }
    private var portFile: URL { directory.appendingPathComponent("port") }
    private var passwordFile: URL { directory.appendingPathComponent("password") }
    private var runtimePasswordFile: URL { directory.appendingPathComponent("runtime-password") }
    private var lockFile: URL { directory.deletingLastPathComponent().appendingPathComponent("postgres.lock") }

    public func status() throws -> Status {
        guard FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path) else {
            return .notInitialised
        }
        let binaries = try ServerBinaries.locate()
        let result = try runServerCommand(binaries.pgCtl, ["-D", dataDirectory.path, "status"])
        guard result.status == 0, let port = try? readPort() else { return .stopped }
        return .running(port: port)
    }

    /// The connection string for the cluster's database (which must be running).
    public func connectionString(port: Int) throws -> String {
        let password = try String(contentsOf: passwordFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return "host=127.0.0.1 port=\(port) user=\(Self.user) password=\(password) dbname=\(Self.database)"
    }

    /// The connection string of the runtime login (`runtimeUser`) on the cluster's database; call after
    /// `start()`, which makes the login.
    public func runtimeConnectionString() throws -> String {
        let port = try readPort()
        let password = try String(contentsOf: runtimePasswordFile, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return "host=127.0.0.1 port=\(port) user=\(Self.runtimeUser) password=\(password) dbname=\(Self.database)"
    }

    /// Initialises the cluster if needed, starts it if it is not running, makes sure its database exists, and
    /// returns the connection string. Safe to call from several processes at once (a file lock serialises them).
    public func start() throws -> String {
        try FileManager.default.createDirectory(
            at: directory.deletingLastPathComponent(), withIntermediateDirectories: true
        )
        return try withFileLock {
            let binaries = try ServerBinaries.locate()
            if case .notInitialised = try status() {
                try initialise(binaries)
            }
            if case .running(let port) = try status() {
                if !FileManager.default.fileExists(atPath: runtimePasswordFile.path) {
                    try createRuntimeLogin(port: port)
                }
                return try connectionString(port: port)
            }
            var lastError: (any Error)?
            // The port it had before first, so connection strings handed out earlier stay valid across restarts.
            let previousPort = try? readPort()
            for attempt in 0..<3 {
                let port = try (attempt == 0 ? previousPort : nil) ?? Self.freeLoopbackPort()
                try? FileManager.default.removeItem(at: portFile)
                let result = try runServerCommand(binaries.pgCtl, [
                    "-D", dataDirectory.path, "-l", logFile.path, "-w", "-t", "60", "-o", "-p \(port)", "start",
                ])
                if result.status == 0 {
                    try String(port).write(to: portFile, atomically: true, encoding: .utf8)
                    let connectionString = try connectionString(port: port)
                    try createDatabase(port: port)
                    if !FileManager.default.fileExists(atPath: runtimePasswordFile.path) {
                        try createRuntimeLogin(port: port)
                    }
                    return connectionString
                }
                lastError = PostgresError(
                    .connectionFailed,
                    message: "pg_ctl start failed: \(result.output.suffix(400)) (see \(logFile.path))"
                )
            }
            throw lastError ?? PostgresError(.connectionFailed, message: "the local cluster did not start")
        }
    }

    /// Makes this cluster a streaming replica of `primary` (which must be running) with `pg_basebackup -R`, starts
    /// it, and returns its connection string. The replica has the primary's logins (and their passwords): its
    /// `connectionString` and `runtimeConnectionString` work as the primary's do, read-only.
    public func startStandby(of primary: LocalCluster) throws -> String {
        guard case .running(let primaryPort) = try primary.status() else {
            throw PostgresError(.connectionFailed, message: "the primary cluster is not running")
        }
        let files = FileManager.default
        try? files.removeItem(at: directory)
        // The home is the caller's; the server's account must be able to reach the cluster's folder inside it.
        try files.createDirectory(
            at: directory.deletingLastPathComponent(), withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o755])
        try files.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for (from, to) in [(primary.passwordFile, passwordFile), (primary.runtimePasswordFile, runtimePasswordFile)] {
            try files.copyItem(at: from, to: to)
        }
        try handOverToServerAccount(directory)
        let binaries = try ServerBinaries.locate()
        let basebackup = URL(fileURLWithPath: binaries.pgCtl).deletingLastPathComponent()
            .appendingPathComponent("pg_basebackup").path
        let source = try primary.connectionString(port: primaryPort)
        let result = try runServerCommand(basebackup, [
            "-D", dataDirectory.path, "-d", source, "-R", "-X", "stream", "-c", "fast",
        ])
        guard result.status == 0 else {
            throw PostgresError(.connectionFailed, message: "pg_basebackup failed: \(result.output.suffix(600))")
        }
        return try start()
    }

    /// Stops the server if it runs (fast shutdown: open sessions are ended, committed work is kept).
    public func stop() throws {
        try withFileLock {
            guard case .running = try status() else { return }
            let binaries = try ServerBinaries.locate()
            let result = try runServerCommand(binaries.pgCtl, ["-D", dataDirectory.path, "-m", "fast", "-w", "stop"])
            guard result.status == 0 else {
                throw PostgresError(.connectionFailed, message: "pg_ctl stop failed: \(result.output.suffix(400))")
            }
        }
    }

    /// Stops the server (immediate shutdown) and deletes the cluster's folder once process `pid` has exited.
    ///
    /// For throwaway clusters, such as the one a test run starts: a detached watchdog does it even when the
    /// process is killed. Returns the watchdog's process id.
    @discardableResult
    public func removeWhenProcessExits(_ pid: Int32, home: URL) throws -> Int32 {
        let binaries = try ServerBinaries.locate()
        let stop = (Self.isRoot ? "runuser -u postgres -- " : "")
            + "\(shellQuoted(binaries.pgCtl)) -D \(shellQuoted(dataDirectory.path)) -m immediate -w stop"
        let script = "while kill -0 \(pid) 2>/dev/null; do sleep 1; done; \(stop); rm -rf \(shellQuoted(home.path))"
        return try ChildProcess.detach("/bin/sh", ["-c", script])
    }

    private func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    // MARK: Setting up

    private func initialise(_ binaries: ServerBinaries) throws {
        let files = FileManager.default
        try? files.removeItem(at: directory)
        try files.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let password = Self.makePassword()
        try password.write(to: passwordFile, atomically: true, encoding: .utf8)
        chmod(passwordFile.path, 0o600)
        try handOverToServerAccount(directory)
        try ensureServerAccountCanWrite(directory)
        let result = try runServerCommand(binaries.initdb, [
            "-D", dataDirectory.path, "-U", Self.user, "--pwfile", passwordFile.path,
            "--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C",
        ])
        guard result.status == 0 else {
            throw PostgresError(.connectionFailed, message: "initdb failed: \(result.output.suffix(600))")
        }
        var settings = """

            # Written by Handoff for its private cluster.
            listen_addresses = '127.0.0.1'
            unix_socket_directories = ''
            max_connections = 400
            shared_buffers = 128MB
            log_min_messages = warning
            idle_in_transaction_session_timeout = '10min'

            """
        if !durable {
            settings += "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        }
        let configuration = dataDirectory.appendingPathComponent("postgresql.conf")
        let handle = try FileHandle(forWritingTo: configuration)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(settings.utf8))
        try handle.close()
    }

    private static func makePassword() -> String {
        var bytes = [UInt8](repeating: 0, count: 24)
        for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255) }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// Makes (or gives a new password to) the runtime login, a member of `handoff_runtime`, which the
    /// migrations grant what Handoff's processes need. Clusters made before the login existed get it here.
    private func createRuntimeLogin(port: Int) throws {
        let connection = try Connection(ConnectionConfiguration(try connectionString(port: port), applicationName: "handoff-setup"))
        let password = Self.makePassword()  // hex digits: nothing to quote
        try connection.execute(
            """
            DO $$
            BEGIN
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'handoff_runtime') THEN
                    CREATE ROLE handoff_runtime NOLOGIN;
                END IF;
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '\(Self.runtimeUser)') THEN
                    CREATE ROLE \(Self.runtimeUser) LOGIN IN ROLE handoff_runtime;
                END IF;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- roles belong to the whole server: another process made them meanwhile
            END
            $$;
            ALTER ROLE \(Self.runtimeUser) PASSWORD '\(password)'
            """)
        try password.write(to: runtimePasswordFile, atomically: true, encoding: .utf8)
        chmod(runtimePasswordFile.path, 0o600)
    }

    private func createDatabase(port: Int) throws {
        let administration = try connectionString(port: port).replacingOccurrences(
            of: "dbname=\(Self.database)", with: "dbname=postgres"
        )
        let connection = try Connection(ConnectionConfiguration(administration, applicationName: "handoff-setup"))
        let exists = try connection.query("SELECT 1 FROM pg_database WHERE datname = $1", [Self.database])
        if exists.rows.isEmpty {
            do {
                try connection.execute("CREATE DATABASE \(try connection.quoteIdentifier(Self.database))")
            } catch let error as PostgresError where error.sqlState == "42P04" {
                // Created meanwhile by another process: fine.
            }
        }
    }

    // MARK: Running as the server's account

    private static var isRoot: Bool { geteuid() == 0 }
    private static var runuser: String {
        ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"].first { FileManager.default.isExecutableFile(atPath: $0) }
            ?? "/usr/sbin/runuser"
    }

    private func handOverToServerAccount(_ url: URL) throws {
        guard Self.isRoot else { return }
        guard let account = getpwnam("postgres") else {
            throw PostgresError(
                .connectionFailed,
                message: "running as root, and there is no 'postgres' account to run the server as "
                    + "(install the postgresql package, or set DATABASE_URL)"
            )
        }
        let (uid, gid) = (account.pointee.pw_uid, account.pointee.pw_gid)
        let items = [url.path] + (FileManager.default.subpaths(atPath: url.path) ?? []).map {
            url.appendingPathComponent($0).path
        }
        for path in items where chown(path, uid, gid) != 0 {
            throw PostgresError(.connectionFailed, message: "could not hand \(path) to the postgres account")
        }
    }

    private func ensureServerAccountCanWrite(_ url: URL) throws {
        guard Self.isRoot else { return }
        let result = try run(Self.runuser, ["-u", "postgres", "--", "test", "-w", url.path])
        guard result.status == 0 else {
            throw PostgresError(
                .connectionFailed,
                message: "the postgres account cannot reach \(url.path); set HANDOFF_HOME to a folder every account "
                    + "can traverse (for example under /tmp or /var/lib), or set DATABASE_URL"
            )
        }
    }

    private func runServerCommand(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        if Self.isRoot {
            return try run(Self.runuser, ["-u", "postgres", "--", executable] + arguments)
        }
        return try run(executable, arguments)
    }

    private func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        try ChildProcess.run(executable, arguments)
    }

    private func readPort() throws -> Int {
        let text = try String(contentsOf: portFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let port = Int(text) else {
            throw PostgresError(.connectionFailed, message: "the local cluster's port file holds '\(text)'")
        }
        return port
    }

    private func withFileLock<T>(_ body: () throws -> T) throws -> T {
        let descriptor = open(lockFile.path, O_CREAT | O_RDWR, 0o644)
        guard descriptor >= 0 else {
            throw PostgresError(.connectionFailed, message: "cannot open \(lockFile.path)")
        }
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_EX) == 0 else {
            throw PostgresError(.connectionFailed, message: "cannot lock \(lockFile.path)")
        }
        defer { flock(descriptor, LOCK_UN) }
        return try body()
    }

    /// Asks the kernel for a free port on 127.0.0.1 (bind to port 0), then lets it go for the server to take.
    public static func freeLoopbackPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw PostgresError(.connectionFailed, message: "cannot open a socket") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0 else { throw PostgresError(.connectionFailed, message: "cannot bind a loopback socket") }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else { throw PostgresError(.connectionFailed, message: "cannot read the socket's port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// The installed PostgreSQL server programs: `HANDOFF_PG_BIN` if set, else the newest `/usr/lib/postgresql/N/bin`,
/// else whatever `PATH` has.
struct ServerBinaries {
    let initdb: String
    let pgCtl: String

    static func locate() throws -> ServerBinaries {
        let files = FileManager.default
        for folder in PostgresPrograms.folders() {
            let initdb = folder + "/initdb"
            let pgCtl = folder + "/pg_ctl"
            if files.isExecutableFile(atPath: initdb), files.isExecutableFile(atPath: pgCtl) {
                return ServerBinaries(initdb: initdb, pgCtl: pgCtl)
            }
        }
        throw PostgresError(
            .connectionFailed,
            message: "no PostgreSQL server programs found (initdb, pg_ctl): install them "
                + "(Debian: apt-get install postgresql) or set DATABASE_URL"
        )
    }
}

/// Where PostgreSQL's programs are: `HANDOFF_PG_BIN`, then Debian's `/usr/lib/postgresql/<version>/bin` (newest
/// first), then `PATH`.
public enum PostgresPrograms {
    static func folders() -> [String] {
        var candidates: [String] = []
        if let configured = ProcessInfo.processInfo.environment["HANDOFF_PG_BIN"] {
            candidates.append(configured)
        }
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .compactMap(Int.init).sorted(by: >)
        candidates += versions.map { "/usr/lib/postgresql/\($0)/bin" }
        candidates += (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        return candidates
    }

    /// The path of the program `name` (e.g. `pgbench`), nil when none is installed.
    public static func locate(_ name: String) -> String? {
        folders().map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
