import AsyncHTTPClient
import Foundation
import HandoffCore
import HandoffService
import HandoffStore
import HandoffTestSupport
import NIOHTTP1
import Postgres
import Synchronization
import Testing

/// `handoff serve` as a process: stopping it with requests in flight, and riding out a database restart.
@Suite("handoff serve, the process", .serialized)
struct ServeProcessTests {
    @Test func sigtermDuringFiftyWritesFinishesOrRefusesEachAndHalfAppliesNone() async throws {
        let fixture = try await HTTPFixture.make()
        for index in 0..<60 { try await fixture.start("t\(index)") }
        // Claims wait on the held locks for as long as the test needs, however loaded the machine is.
        let server = try await ServerProcess.start(
            databaseURL: fixture.database.connectionString, extra: ["HANDOFF_LOCK_TIMEOUT_MS": "120000"])
        let client = HTTPClient.forTests()
        let token = fixture.tokens["alice"]!
        // Hold the stream locks of t0…t9 from another session, as a slow writer would: their claims are provably
        // in flight, waiting inside their transactions, when SIGTERM arrives (fewer than the server's 16
        // connections, so the other claims are not starved of one).
        let blocker = try fixture.database.connect()
        try blocker.execute("BEGIN")
        for index in 0..<10 { try TaskQueue.lockStream(on: blocker, "t\(index)") }
        let outcomes = Outcomes()
        func claim(_ index: Int) async {
            // No answer (-1): the server had stopped accepting connections.
            let exchange = try? await client.send(.POST, "\(server.baseURL)/tasks/t\(index)-t1/claim", token: token)
            outcomes.record(index, exchange?.status ?? -1)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<50 { group.addTask { await claim(index) } }
            // The 40 unblocked claims finish; then SIGTERM with the other 10 waiting on their locks.
            #expect(try await eventually(within: 60) { outcomes.all.count == 40 })
            // The other 10 reach their lock waits in their own time (a request can still be on its way in when the
            // 40th answer goes out); SIGTERM goes only once all 10 wait.
            let waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            #expect(try await eventually(within: 60) { try await fixture.database.column(waiting) == ["10"] })
            kill(server.pid, SIGTERM)
            try await Task.sleep(for: .milliseconds(300))
            // Arriving after SIGTERM: refused at the door.
            for index in 50..<60 { group.addTask { await claim(index) } }
            try await Task.sleep(for: .milliseconds(300))
            try blocker.execute("COMMIT")
            try await group.waitForAll()
        }
        let pid = server.pid
        let status = try await offload { try ChildProcess.waitForExit(pid) }
        #expect(status == 0, "serve exits cleanly on SIGTERM: \(server.stderr)")
        try await client.shutdown()
        let results = outcomes.all
        #expect(results.count == 60)
        for index in 0..<60 {
            let history = try await fixture.engine.history("t\(index)")
            let claims = history.filter { $0.type == "TaskClaimed" }
            if index < 50 {
                // In flight at SIGTERM or before it: finished, answered, and in history once.
                #expect(results[index] == 200, "t\(index): \(results[index] ?? 0)")
                #expect(claims.count == 1 && claims.first?.actor == "alice", "t\(index) is claimed once, by alice")
            } else if results[index] == 200 {
                // Sent after SIGTERM on a connection the server still had open: finished, and in history once.
                #expect(claims.count == 1, "t\(index) answered 200 and is in history once")
            } else {
                // Sent after SIGTERM and refused (no connection, or an error): nothing written.
                #expect(claims.isEmpty, "t\(index) was refused, yet written")
            }
        }
        try await fixture.expectInvariants()
    }

    /// An open event stream never holds a stopping server: SIGTERM ends the stream, and the process exits.
    @Test func sigtermEndsOpenEventStreamsAndTheServerExits() async throws {
        let fixture = try await HTTPFixture.make()
        let server = try await ServerProcess.start(databaseURL: fixture.database.connectionString)
        let client = HTTPClient.forTests()
        var request = HTTPClientRequest(url: "\(server.baseURL)/events/stream")
        request.headers.add(name: "Authorization", value: "Bearer \(fixture.tokens["alice"]!)")
        let response = try await client.execute(request, timeout: .seconds(30))
        #expect(response.status.code == 200)
        var body = response.body.makeAsyncIterator()
        let first = try await body.next()
        #expect(first.map { String(buffer: $0) }?.contains(": connected") == true)
        let started = ContinuousClock.now
        let status = try await server.terminate()
        #expect(status == 0, "\(server.stderr)")
        #expect(ContinuousClock.now - started < .seconds(20), "the open stream held the server")
        // The stream ended with the server.
        while let _ = try? await body.next() {}
        try await client.shutdown()
    }

    @Test func readinessFollowsTheDatabaseAndRequestsSucceedAgainWithoutARestart() async throws {
        let (cluster, connectionString) = try TestServer.privateCluster()
        let pool = ConnectionPool(ConnectionConfiguration(connectionString), maximumConnections: 2)
        let engine = try await Engine.open(
            EngineSettings(
                database: DatabaseSettings(
                    databaseURL: connectionString, home: URL(fileURLWithPath: "/nonexistent"),
                    migrations: Repository.migrations),
                workflows: Repository.workflows))
        let token = try await engine.createToken(name: "olivia", roles: ["admin"]).token
        engine.pool.close()
        pool.close()
        let server = try await ServerProcess.start(databaseURL: connectionString + " connect_timeout=2")
        let client = HTTPClient.forTests()
        defer { _ = try? cluster.stop() }
        let start = #"{"workflow":"mail-send","inputs":{"company":"Contoso","path":"standard"}}"#

        #expect(try await client.send(.GET, "\(server.baseURL)/readyz").status == 200)
        #expect(try await client.send(.POST, "\(server.baseURL)/onboardings", token: token, body: start).status == 201)

        try offloadStop(cluster)
        #expect(try await eventually(within: 30) {
            try await client.send(.GET, "\(server.baseURL)/readyz").status == 503
        })
        let during = try await client.send(.POST, "\(server.baseURL)/onboardings", token: token, body: start)
        #expect(during.status == 503, "\(during.body)")
        #expect(try await client.send(.GET, "\(server.baseURL)/healthz").status == 200, "liveness does not need the database")

        _ = try cluster.start()
        #expect(try await eventually(within: 30) {
            try await client.send(.GET, "\(server.baseURL)/readyz").status == 200
        })
        // Requests under load succeed again, on the same process.
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<20 {
                group.addTask { try await client.send(.POST, "\(server.baseURL)/onboardings", token: token, body: start).status }
            }
            for try await status in group { #expect(status == 201) }
        }
        #expect(try await server.terminate() == 0)
        try await client.shutdown()
    }

    private func offloadStop(_ cluster: LocalCluster) throws {
        try cluster.stop()
    }
}

/// Statuses by request index, shared by concurrent tasks.
final class Outcomes: Sendable {
    private let statuses = Mutex<[Int: Int]>([:])

    func record(_ index: Int, _ status: Int) {
        statuses.withLock { $0[index] = status }
    }

    var all: [Int: Int] { statuses.withLock { $0 } }
}
