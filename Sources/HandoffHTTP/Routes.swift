import Foundation
import HTTPTypes
import HandoffCore
import HandoffService
import HandoffStore
import Hummingbird
import Timestamps

/// The JSON API of the contract's HTTP table. Each handler parses the request, calls the engine once, and
/// renders what it returns; every refusal is an `EngineError`, which `ProblemMiddleware` renders.
struct Routes {
    let engine: Engine
    let maximumBodySize: Int

    typealias Context = HandoffRequestContext

    func add(to group: RecordingRoutes<RouterGroup<Context>>) {
        group.post("/onboardings") { request, context in
            let body = try await JSONBody.decode(StartBody.self, from: request, limit: maximumBodySize)
            let command = Command.start(workflow: body.workflow, inputs: body.inputs ?? [:], id: body.id)
            return try await write(command, request, context, status: .created)
        }
        group.get("/onboardings") { request, _ in
            let query = Query(request)
            let values = try query.repeated("where").map { (pair) throws(EngineError) in
                try Engine.valueFilter(pair, option: "where")
            }
            let page = try await engine.onboardings(
                OnboardingQuery(
                    workflowId: query.single("workflow"), state: query.single("state"), step: query.single("step"),
                    values: values),
                limit: try query.limit(), after: query.single("after"))
            return try JSONBody.response(page.listing("onboardings"))
        }
        group.get("/onboardings/:id") { _, context in
            try JSONBody.response(try await engine.onboarding(try Self.parameter("id", context)))
        }
        group.get("/onboardings/:id/events") { request, context in
            let query = Query(request)
            let filter = HistoryFilter(
                types: Set(query.all("type")), actors: Set(query.repeated("actor")), since: try Self.time(query, "since"),
                until: try Self.time(query, "until"))
            return try JSONBody.response(
                ["events": try await engine.history(try Self.parameter("id", context), matching: filter)])
        }
        group.get("/onboardings/:id/state") { request, context in
            let point: Engine.ReplayPoint
            if let at = Query(request).single("at") {
                if let version = Int64(at) {
                    point = .version(version)
                } else if let time = Timestamp.parse(at) {
                    point = .time(time)
                } else {
                    throw EngineError(.invalidInput, "at is a version (1, 2, …) or an ISO 8601 time, not '\(at)'")
                }
            } else {
                point = .latest
            }
            return try JSONBody.response(try await engine.replay(try Self.parameter("id", context), at: point))
        }
        group.post("/onboardings/:id/signals/:name") { request, context in
            let body = try await JSONBody.decode(SignalBody.self, from: request, limit: maximumBodySize)
            let command = Command.signal(
                onboarding: try Self.parameter("id", context), name: try Self.parameter("name", context),
                data: body.data ?? .null)
            return try await write(command, request, context, status: .accepted)
        }
        group.post("/onboardings/:id/cancel") { request, context in
            let body = try await JSONBody.decode(CancelBody.self, from: request, limit: maximumBodySize)
            return try await write(.cancel(onboarding: try Self.parameter("id", context), reason: body.reason), request, context)
        }
        group.post("/onboardings/:id/upgrade") { request, context in
            let body = try await JSONBody.decode(UpgradeBody.self, from: request, limit: maximumBodySize)
            return try await write(.upgrade(onboarding: try Self.parameter("id", context), version: body.version), request, context)
        }
        group.get("/tasks") { request, _ in
            let query = Query(request)
            let taskQuery = TaskQuery(
                roles: query.all("role").filter { !$0.isEmpty }, states: query.all("state"), onboardingId: query.single("onboarding"),
                assignee: query.single("assignee"))
            var overdue = false
            if let text = query.single("overdue") {
                guard let flag = Bool(text) else { throw EngineError(.invalidInput, "overdue is true or false, not '\(text)'") }
                overdue = flag
            }
            let page = try await engine.tasks(taskQuery, limit: try query.limit(), after: query.single("after"), overdue: overdue)
            return try JSONBody.response(page.listing("tasks"))
        }
        group.get("/tasks/:id") { _, context in
            try JSONBody.response(try await engine.task(try Self.parameter("id", context)))
        }
        group.post("/tasks/:id/claim") { request, context in
            _ = try await JSONBody.decode(EmptyBody.self, from: request, limit: maximumBodySize)
            let caller = try context.requireCaller()
            return try await write(.claim(task: try Self.parameter("id", context), roles: caller.roles), request, context)
        }
        group.post("/tasks/:id/release") { request, context in
            _ = try await JSONBody.decode(EmptyBody.self, from: request, limit: maximumBodySize)
            return try await write(.release(task: try Self.parameter("id", context)), request, context)
        }
        group.post("/tasks/:id/complete") { request, context in
            let body = try await JSONBody.decode(CompleteBody.self, from: request, limit: maximumBodySize)
            let command = Command.complete(
                task: try Self.parameter("id", context), outputs: body.outputs ?? [:], checklist: Set(body.checklist ?? []))
            return try await write(command, request, context)
        }
        group.get("/workflows") { _, _ in
            let (definitions, _) = try engine.workflows.load()
            return try JSONBody.response(["workflows": definitions.map(WorkflowSummary.init)])
        }
        group.get("/workflows/:id") { _, context in
            try JSONBody.response(WorkflowDetail(try engine.workflows.definition(try Self.parameter("id", context))))
        }
        group.get("/stats") { _, _ in
            try JSONBody.response(try await engine.stats())
        }
        group.get("/variables") { request, _ in
            let query = Query(request)
            let variables = try await engine.recordedVariables(
                company: query.single("company"), name: query.single("name"), limit: try query.limit())
            return try JSONBody.response(["variables": variables])
        }
        group.get("/activity") { request, _ in
            try JSONBody.response(["activity": try await engine.activity(limit: try Query(request).limit())])
        }
        group.get("/projections") { _, _ in
            try JSONBody.response(["projections": try await engine.projectionsStatus()])
        }
        addOutbox(to: group)
    }

    /// Webhook subscriptions and notifications: the admin's.
    func addOutbox(to group: RecordingRoutes<RouterGroup<Context>>) {
        group.post("/webhooks") { request, context in
            try Self.requireAdmin(context)
            let body = try await JSONBody.decode(WebhookBody.self, from: request, limit: maximumBodySize)
            let added = try await engine.addWebhook(
                url: body.url, secret: body.secret, workflows: body.workflows ?? [], roles: body.roles ?? [],
                kinds: body.events ?? [])
            return try JSONBody.response(added, status: .created)
        }
        group.get("/webhooks") { _, context in
            try Self.requireAdmin(context)
            return try JSONBody.response(["webhooks": try await engine.webhooks()])
        }
        group.delete("/webhooks/:id") { _, context in
            try Self.requireAdmin(context)
            let id = try Self.parameter("id", context)
            try await engine.removeWebhook(id: id)
            return try JSONBody.response(["removed": id])
        }
        group.get("/notifications") { request, context in
            try Self.requireAdmin(context)
            let query = Query(request)
            var failed = false
            if let text = query.single("failed") {
                guard let flag = Bool(text) else { throw EngineError(.invalidInput, "failed is true or false, not '\(text)'") }
                failed = flag
            }
            let page = try await engine.notifications(
                failed: failed, onboardingId: query.single("onboarding"), limit: try query.limit(), after: query.single("after"))
            return try JSONBody.response(page.listing("notifications"))
        }
        group.post("/notifications/:id/resend") { request, context in
            try Self.requireAdmin(context)
            _ = try await JSONBody.decode(EmptyBody.self, from: request, limit: maximumBodySize)
            return try JSONBody.response(try await engine.resendNotification(try Self.parameter("id", context)))
        }
    }

    static func requireAdmin(_ context: Context) throws(EngineError) {
        guard try context.requireCaller().isAdmin else {
            throw EngineError(.forbiddenRole, "only the admin role manages webhooks and notifications")
        }
    }

    /// Runs a write for the authenticated caller; an `Idempotency-Key` makes it idempotent per caller (the same
    /// key and body again: the first answer, nothing written; the same key with another body: 422).
    func write(
        _ command: Command, _ request: Request, _ context: Context, status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        let caller = try context.requireCaller()
        var commandId: String?
        if let key = request.headers[.idempotencyKey] {
            guard !key.isEmpty, key.utf8.count <= 200 else {
                throw EngineError(.invalidInput, "an Idempotency-Key must have 1 to 200 characters")
            }
            commandId = caller.commandId(key: key, scope: "http")
        }
        return try JSONBody.response(try await engine.execute(command, by: caller, commandId: commandId), status: status)
    }

    /// A path parameter, percent-decoded. Throws `invalid_input` when it does not decode.
    static func parameter(_ name: String, _ context: Context) throws(EngineError) -> String {
        guard let raw = context.parameters.get(name), let decoded = raw.removingPercentEncoding, !decoded.isEmpty else {
            throw EngineError(.invalidInput, "the path's \(name) is not valid")
        }
        return decoded
    }

    /// A query parameter holding an ISO 8601 time, nil when absent. Throws `invalid_input` when it is not one.
    static func time(_ query: Query, _ name: String) throws(EngineError) -> Date? {
        guard let text = query.single(name) else { return nil }
        guard let time = Timestamp.parse(text) else {
            throw EngineError(.invalidInput, "\(name) is an ISO 8601 time, not '\(text)'")
        }
        return time
    }
}

extension HTTPField.Name {
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
}

/// A request's query parameters, read strictly.
struct Query {
    let parameters: [(key: Substring, value: Substring)]

    init(_ request: Request) {
        parameters = request.uri.queryParameters.map { ($0.key, $0.value) }
    }

    /// The parameter's last value, empty if given empty (`?state=`), which the engine refuses where it must not be.
    func single(_ name: String) -> String? {
        parameters.last { $0.key == name }.map { String($0.value) }
    }

    /// Every value of a repeated or comma-separated parameter, empty ones kept so the engine can refuse them.
    func all(_ name: String) -> [String] {
        parameters.filter { $0.key == name }.flatMap {
            $0.value.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
    }

    /// Every value of a repeated parameter, each whole (commas and all).
    func repeated(_ name: String) -> [String] {
        parameters.filter { $0.key == name }.map { String($0.value) }
    }

    /// `limit`, 100 when absent. Throws `invalid_input` for anything but a whole number (the engine checks its range).
    func limit() throws(EngineError) -> Int {
        guard let text = single("limit") else { return 100 }
        guard let limit = Int(text) else { throw EngineError(.invalidInput, "limit is a whole number, not '\(text)'") }
        return limit
    }
}

struct StartBody: Decodable {
    var workflow: String
    var inputs: [String: Value]?
    var id: String?
}

struct WebhookBody: Decodable {
    var url: String
    var secret: String?
    var workflows: [String]?
    var roles: [String]?
    var events: [String]?
}

struct SignalBody: Decodable {
    var data: Value?
}

struct CancelBody: Decodable {
    var reason: String
}

struct UpgradeBody: Decodable {
    var version: Int
}

struct CompleteBody: Decodable {
    var outputs: [String: Value]?
    var checklist: [String]?
}

/// Bodies of claim and release: nothing, or an object (whose members are ignored); an array or a string is refused.
struct EmptyBody: Decodable {
    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        _ = try decoder.container(keyedBy: AnyKey.self)
    }
}
