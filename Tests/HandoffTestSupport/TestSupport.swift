import Foundation
import HandoffStore
import Postgres

/// A fresh database for one test: migrated, empty, its own name; with a pool and an event store on it.
public struct TestDatabase: Sendable {
    public let name: String
    public let configuration: ConnectionConfiguration
    public let pool: ConnectionPool

    public var store: EventStore { EventStore(pool: pool) }

    /// Creates a new database from the migrated template of this test run's server.
    ///
    /// The server is `DATABASE_URL` when set (its user needs CREATEDB), else a throwaway local cluster that this
    /// process starts once and that is stopped and deleted when the process exits.
    /// With `migrated: false` the database is empty (no tables), for tests of migrations themselves.
    public static func make(maximumConnections: Int = 16, migrated: Bool = true) async throws -> TestDatabase {
        let server = try await TestServer.shared.server()
        let name = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        try await TestServer.shared.createDatabase(String(name), template: migrated ? server.template : "template0",
                                                   server: server)
        var configuration = server.configuration
        configuration.database = String(name)
        return TestDatabase(
            name: String(name), configuration: configuration,
            pool: ConnectionPool(configuration, maximumConnections: maximumConnections)
        )
    }

    /// A connection string for this database alone, for child processes (`DATABASE_URL`).
    public var connectionString: String {
        let base = configuration.connectionString
        if base.contains("://"), var components = URLComponents(string: base) {
            components.path = "/" + name
            return components.string ?? base
        }
        return base + " dbname=" + name
    }

    /// Opens one connection of its own (outside the pool), for tests that hold transactions open by hand.
    public func connect() throws -> Connection {
        try Connection(configuration)
    }

    /// Runs a statement on a fresh connection and returns the first column of every row as text.
    public func column(_ sql: String, _ parameters: [(any PostgresEncodable)?] = []) async throws -> [String?] {
        try await pool.withConnection { connection in
            try connection.query(sql, parameters).rows.map { $0.values[0] }
        }
    }
}

/// Runs the built `handoff` executable (it sits beside the test bundle) and captures what it prints.
public enum HandoffProcess {
    public struct Outcome: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
    }

    /// `.build/<triple>/debug/handoff`: `swift build --build-tests` builds it beside the test bundle.
    public static var executable: URL {
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if folder.lastPathComponent == "MacOS" || folder.lastPathComponent.hasSuffix(".xctest") {
            folder = folder.deletingLastPathComponent()
        }
        return folder.appendingPathComponent("handoff")
    }

    /// Starts `handoff worker` on the database with the repository's migrations and workflows (and `extra`
    /// settings), its output in `folder`/`name`.out and .err; returns its pid for `ChildProcess.waitForExit`.
    public static func startWorker(
        _ database: TestDatabase, folder: URL, name: String, extra: [String: String] = [:]
    ) throws -> Int32 {
        let environment = [
            "DATABASE_URL": database.connectionString, "HANDOFF_MIGRATIONS": Repository.migrations.path,
            "HANDOFF_WORKFLOWS": Repository.workflows.path, "LOG_LEVEL": "warning",
        ].merging(extra) { $1 }
        let assignments = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return try ChildProcess.start(
            "/usr/bin/env", assignments + [executable.path, "worker"],
            stdout: folder.appendingPathComponent("\(name).out").path,
            stderr: folder.appendingPathComponent("\(name).err").path)
    }

    /// Runs `handoff` with `arguments` in `directory` (default: the repository), with environment variables
    /// set (a value of "" removes one). Uses `posix_spawn` through `env`, safe to call from concurrent tests.
    public static func run(_ arguments: [String], environment: [String: String] = [:], directory: URL? = nil)
        async throws -> Outcome
    {
        var command = ["-C", (directory ?? Repository.root).path]
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) {
            command += value.isEmpty ? ["-u", key] : ["\(key)=\(value)"]
        }
        command += [executable.path] + arguments
        let finalCommand = command
        let result = try await offload { try ChildProcess.runSeparately("/usr/bin/env", finalCommand) }
        return Outcome(status: result.status, stdout: result.stdout, stderr: result.stderr)
    }
}

/// The folder of the repository, found from this file's place in it.
public enum Repository {
    public static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    public static let migrations = root.appendingPathComponent("db/migrations", isDirectory: true)
    public static let workflows = root.appendingPathComponent("workflows", isDirectory: true)
}

/// Starts (once per process) the server tests use, and the migrated template databases are copied from.
public actor TestServer {
    public static let shared = TestServer()

    public struct Server: Sendable {
        public let configuration: ConnectionConfiguration
        public let template: String
    }

    private var started: Task<Server, any Error>?

    public func server() async throws -> Server {
        if let started { return try await started.value }
        let task = Task { try await Self.start() }
        started = task
        return try await task.value
    }

    func createDatabase(_ name: String, template: String, server: Server) async throws {
        // One CREATE DATABASE at a time: copying a template needs it to have no other users.
        let admin = ConnectionConfiguration(server.configuration.connectionString, database: "postgres")
        let connection = try Connection(admin)
        try connection.execute(
            "CREATE DATABASE \(try connection.quoteIdentifier(name)) TEMPLATE \(try connection.quoteIdentifier(template))"
        )
    }

    /// A separate throwaway cluster for tests that stop and start the server; deleted when the process exits.
    public static func privateCluster() throws -> (LocalCluster, connectionString: String) {
        let home = try temporaryHome()
        let cluster = LocalCluster(home: home, durable: false)
        let connectionString = try cluster.start()
        try cluster.removeWhenProcessExits(getpid(), home: home)
        return (cluster, connectionString)
    }

    private static func start() async throws -> Server {
        let connectionString: String
        if let url = ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty {
            connectionString = url
        } else {
            connectionString = try privateCluster().connectionString
        }
        let template = "handoff_template_\(getpid())"
        let admin = try Connection(ConnectionConfiguration(connectionString, database: "postgres"))
        let quoted = try admin.quoteIdentifier(template)
        try admin.execute("DROP DATABASE IF EXISTS \(quoted)")
        try admin.execute("CREATE DATABASE \(quoted)")
        let pool = ConnectionPool(ConnectionConfiguration(connectionString, database: template), maximumConnections: 1)
        try await Migrator(directory: Repository.migrations).migrate(pool)
        pool.close()
        return Server(configuration: ConnectionConfiguration(connectionString), template: template)
    }

    private static func temporaryHome() throws -> URL {
        var template = Array((NSTemporaryDirectory() + "handoff-test-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw PostgresError(.connectionFailed, message: "cannot create a temporary folder")
        }
        let path = String(cString: made)
        chmod(path, 0o755)
        return URL(fileURLWithPath: path, isDirectory: true)
    }
}

/// Runs blocking work (a raw `Connection` held by a test) on a Dispatch thread, off the cooperative pool.
public func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try body() })
        }
    }
}

/// A small deterministic random generator (SplitMix64), so a failing randomised test can be replayed.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Polls `condition` every 20 ms until it holds or `seconds` pass; returns whether it held.
///
/// For facts that become true after other sessions finish (the global log's horizon moves when every older
/// transaction has ended), never for timing assertions.
public func eventually(within seconds: Double = 10, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}
