import AsyncHTTPClient
import Foundation
import NIOHTTP1
import HandoffTestSupport
import NIOCore
import Postgres

/// The built `handoff serve`, run as a child process on a free loopback port, and a client to talk to it.
final class ServerProcess: Sendable {
    let pid: Int32
    let port: Int
    let output: URL
    let errors: URL

    var baseURL: String { "http://127.0.0.1:\(port)" }

    private init(pid: Int32, port: Int, output: URL, errors: URL) {
        self.pid = pid
        self.port = port
        self.output = output
        self.errors = errors
    }

    /// Starts `handoff serve` on `databaseURL` and waits until it says it is listening (at most 60 s).
    static func start(databaseURL: String, extra: [String: String] = [:]) async throws -> ServerProcess {
        let port = try LocalCluster.freeLoopbackPort()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("handoff-serve-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let output = folder.appendingPathComponent("stdout")
        let errors = folder.appendingPathComponent("stderr")
        var environment = [
            "DATABASE_URL": databaseURL, "HANDOFF_PORT": String(port), "HANDOFF_HOST": "127.0.0.1",
            "HANDOFF_WORKFLOWS": Repository.workflows.path, "HANDOFF_MIGRATIONS": Repository.migrations.path,
            "LOG_LEVEL": "warning",
        ]
        environment.merge(extra) { $1 }
        let assignments = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let pid = try ChildProcess.start(
            "/usr/bin/env", assignments + [HandoffProcess.executable.path, "serve"], stdout: output.path,
            stderr: errors.path)
        let server = ServerProcess(pid: pid, port: port, output: output, errors: errors)
        let listening = try await eventually(within: 60) {
            ((try? String(contentsOf: output, encoding: .utf8)) ?? "").contains("Handoff is listening on")
        }
        guard listening else {
            kill(pid, SIGKILL)
            _ = try? ChildProcess.waitForExit(pid)
            throw ServerProcessError(message: "handoff serve did not start: \(server.stderr)")
        }
        return server
    }

    var stderr: String { (try? String(contentsOf: errors, encoding: .utf8)) ?? "" }

    /// Sends SIGTERM and waits for the process to end; returns its exit status.
    func terminate() async throws -> Int32 {
        kill(pid, SIGTERM)
        let pid = pid
        return try await offload { try ChildProcess.waitForExit(pid) }
    }
}

struct ServerProcessError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// One HTTP exchange with a live server process.
struct Exchange: Sendable {
    let status: Int
    let body: String
}

extension HTTPClient {
    /// A client that opens as many connections to one server as a test sends requests at once (the default is 8).
    static func forTests() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 128)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func send(
        _ method: HTTPMethod, _ url: String, token: String? = nil, body: String? = nil, key: String? = nil,
        timeout: TimeAmount = .seconds(30)
    ) async throws -> Exchange {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let key { request.headers.add(name: "Idempotency-Key", value: key) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await execute(request, timeout: timeout)
        let buffer = try await response.body.collect(upTo: 16 << 20)
        return Exchange(status: Int(response.status.code), body: String(buffer: buffer))
    }
}
