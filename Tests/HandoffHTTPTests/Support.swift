import Foundation
import HTTPTypes
import HandoffCore
import HandoffHTTP
import HandoffService
import HandoffStore
import HandoffTestSupport
import Hummingbird
import HummingbirdTesting
import NIOCore
import Postgres
import Testing

/// A fresh database, an engine on it, the demo's four tokens, and the real application on a free loopback port.
struct HTTPFixture {
    let database: TestDatabase
    let engine: Engine
    /// Token by person: olivia (admin), alice (customer_admin), pat (partner_integration_manager),
    /// sam (solutions_engineer).
    let tokens: [String: String]

    static let people: [(name: String, role: String)] = [
        ("olivia", "admin"), ("alice", "customer_admin"), ("pat", "partner_integration_manager"),
        ("sam", "solutions_engineer"),
    ]

    static func make() async throws -> HTTPFixture {
        let database = try await TestDatabase.make()
        let engine = Engine(pool: database.pool, workflows: WorkflowLibrary(folder: Repository.workflows))
        var tokens: [String: String] = [:]
        for person in people {
            tokens[person.name] = try await engine.createToken(name: person.name, roles: [person.role]).token
        }
        return HTTPFixture(database: database, engine: engine, tokens: tokens)
    }

    var settings: ServerSettings {
        ServerSettings(
            engine: EngineSettings(
                database: DatabaseSettings(
                    databaseURL: database.connectionString, home: URL(fileURLWithPath: "/nonexistent"),
                    migrations: Repository.migrations),
                workflows: Repository.workflows),
            host: "127.0.0.1", port: 0, logLevel: .error)
    }

    /// Runs `body` against the real server listening on a free loopback port.
    func withServer<T: Sendable>(
        livePollInterval: Duration = .seconds(2), _ body: @Sendable (API) async throws -> T
    ) async throws -> T {
        var settings = settings
        settings.livePollInterval = livePollInterval
        let application = try buildApplication(engine: engine, settings: settings)
        return try await application.test(.live) { client in
            try await body(API(client: client, tokens: tokens))
        }
    }

    /// Everything the database holds that a request could change, as one comparable value.
    func contents() async throws -> [String?] {
        try await database.column(
            """
            SELECT (SELECT count(*) FROM events)::text
            UNION ALL SELECT (SELECT count(*) FROM commands)::text
            UNION ALL SELECT (SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL)::text
            UNION ALL SELECT (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM tasks t)
            UNION ALL SELECT (SELECT md5(coalesce(string_agg(o::text, '|' ORDER BY o.id), '')) FROM onboardings o)
            UNION ALL SELECT (SELECT count(*) FROM webhook_subscriptions)::text
            UNION ALL SELECT (SELECT md5(coalesce(string_agg(n::text, '|' ORDER BY n.seq), '')) FROM notifications n)
            """)
    }

    /// Starts a Mail.Send onboarding through the engine, as an operator.
    @discardableResult
    func start(_ id: String, path: String = "standard") async throws -> OnboardingView {
        try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": .string(path)], id: id, actor: "olivia")
    }

    /// Fails the test with every problem `verify` finds.
    func expectInvariants(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let report = try await engine.verify()
        #expect(report.problems == [], sourceLocation: sourceLocation)
    }
}

/// A response as the tests read it.
struct Reply: Sendable {
    let status: Int
    let headers: HTTPFields
    let text: String

    /// The body as JSON; `.null` when it is not JSON.
    var json: Value { (try? Value(parsing: text)) ?? .null }

    subscript(key: String) -> Value? {
        guard case .object(let members) = json else { return nil }
        return members[key]
    }

    var code: String? { self["code"]?.stringValue }
}

/// Requests to the live server as one of the fixture's people.
struct API: Sendable {
    let client: any TestClientProtocol
    let tokens: [String: String]

    func send(
        _ method: HTTPRequest.Method, _ path: String, as person: String? = nil, token: String? = nil,
        body: String? = nil, headers extra: [String: String] = [:]
    ) async throws -> Reply {
        var headers: HTTPFields = [:]
        if let bearer = token ?? person.flatMap({ tokens[$0] }) {
            headers[.authorization] = "Bearer \(bearer)"
        }
        if body != nil { headers[.contentType] = "application/json" }
        for (name, value) in extra {
            headers[HTTPField.Name(name)!] = value
        }
        let response = try await client.executeRequest(
            uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        return Reply(status: Int(response.status.code), headers: response.headers, text: String(buffer: response.body))
    }

    /// Sends a body of raw bytes (which need not be valid UTF-8).
    func send(_ method: HTTPRequest.Method, _ path: String, as person: String, bytes: [UInt8]) async throws -> Reply {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let bearer = tokens[person] { headers[.authorization] = "Bearer \(bearer)" }
        let response = try await client.executeRequest(
            uri: path, method: method, headers: headers, body: ByteBuffer(bytes: bytes))
        return Reply(status: Int(response.status.code), headers: response.headers, text: String(buffer: response.body))
    }

    func get(_ path: String, as person: String) async throws -> Reply {
        try await send(.get, path, as: person)
    }

    func post(_ path: String, as person: String, body: String? = nil, key: String? = nil) async throws -> Reply {
        try await send(.post, path, as: person, body: body, headers: key.map { ["Idempotency-Key": $0] } ?? [:])
    }
}

extension Value {
    subscript(key: String) -> Value? {
        guard case .object(let members) = self else { return nil }
        return members[key]
    }

    var items: [Value] {
        if case .list(let items) = self { return items }
        return []
    }
}

/// What completing each Mail.Send task takes: every checklist item ticked, outputs by step, as a JSON body.
func completionBody(for task: Value, upn: String = "mailer@contoso.com", clientId: String = "C-42") -> String {
    let checklist = task["checklist"]?.items.compactMap { $0["id"]?.stringValue } ?? []
    var outputs: [String] = []
    switch task["step"]?.stringValue {
    case "client-synced": outputs.append("\"client_id\":\"\(clientId)\"")
    case "read-upn": outputs.append("\"upn\":\"\(upn)\"")
    default: break
    }
    let items = checklist.map { "\"\($0)\"" }.joined(separator: ",")
    return "{\"outputs\":{\(outputs.joined(separator: ","))},\"checklist\":[\(items)]}"
}
