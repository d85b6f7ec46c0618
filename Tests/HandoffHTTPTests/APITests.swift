import Foundation
import HTTPTypes
import HandoffCore
import HandoffService
import HandoffTestSupport
import Testing
import Timestamps

/// Every route of the JSON API against the real server: what it answers, and each documented refusal, which
/// leaves the database exactly as it was.
@Suite("The HTTP API")
struct APITests {
    /// Sends a request that must be refused with `status` and `code`, and checks nothing changed.
    func expectRefusal(
        _ status: Int, _ code: String, _ fixture: HTTPFixture, sourceLocation: SourceLocation = #_sourceLocation,
        _ request: () async throws -> Reply
    ) async throws {
        let before = try await fixture.contents()
        let reply = try await request()
        #expect(reply.status == status, "\(reply.text)", sourceLocation: sourceLocation)
        #expect(reply.code == code, "\(reply.text)", sourceLocation: sourceLocation)
        #expect(reply.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
        #expect(reply["status"] == .integer(status), sourceLocation: sourceLocation)
        #expect(reply["type"]?.stringValue == "urn:handoff:error:\(code)", sourceLocation: sourceLocation)
        #expect(reply["title"]?.stringValue?.isEmpty == false, sourceLocation: sourceLocation)
        #expect(reply["detail"]?.stringValue?.isEmpty == false, sourceLocation: sourceLocation)
        #expect(try await fixture.contents() == before, "the refused request changed the database",
                sourceLocation: sourceLocation)
    }

    @Test func healthAndReadinessNeedNoToken() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.withServer { api in
            let health = try await api.send(.get, "/healthz")
            #expect(health.status == 200)
            #expect(health["status"] == "ok")
            let ready = try await api.send(.get, "/readyz")
            #expect(ready.status == 200)
            #expect(ready["status"] == "ready")
        }
    }

    @Test func everyOtherRouteRefusesAMissingUnknownRevokedOrExpiredToken() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.start("a1")
        let revoked = try await fixture.engine.createToken(name: "gone", roles: ["admin"]).token
        try await fixture.engine.revokeToken(name: "gone")
        let past = Engine(
            pool: fixture.database.pool, workflows: fixture.engine.workflows,
            clock: { Date().addingTimeInterval(-7_200) })
        let expired = try await past.createToken(name: "late", roles: ["admin"], lifetime: 3_600).token
        let routes: [(HTTPRequestMethod, String)] = [
            (.get, "/openapi.json"), (.get, "/metrics"), (.post, "/onboardings"), (.get, "/onboardings"),
            (.get, "/onboardings/a1"), (.get, "/onboardings/a1/events"), (.get, "/onboardings/a1/state"),
            (.post, "/onboardings/a1/signals/go"), (.post, "/onboardings/a1/cancel"), (.get, "/tasks"),
            (.get, "/tasks/a1-t1"), (.post, "/tasks/a1-t1/claim"), (.post, "/tasks/a1-t1/release"),
            (.post, "/tasks/a1-t1/complete"), (.get, "/workflows"), (.get, "/workflows/mail-send"), (.get, "/stats"),
        ]
        try await fixture.withServer { api in
            for (method, path) in routes {
                for token in [nil, "hnd_not-a-real-token", "Basic b2xpdmlh", revoked, expired] {
                    try await expectRefusal(401, "unauthorized", fixture) {
                        try await api.send(method.http, path, token: token, body: method == .post ? "{}" : nil)
                    }
                }
            }
            let reply = try await api.send(.get, "/tasks")
            #expect(reply.headers[.wwwAuthenticate] == "Bearer realm=\"handoff\"")
        }
    }

    @Test func aTokenRevokedWhileTheServerRunsIsRefusedWithinASecond() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.withServer { api in
            #expect(try await api.get("/tasks", as: "pat").status == 200)
            try await fixture.engine.revokeToken(name: "pat")
            // The server caches a token's check for one second: a request sent once that has lapsed is refused,
            // however long the (shared, busy) machine then takes to answer it.
            try await Task.sleep(for: .milliseconds(1_100))
            #expect(try await api.get("/tasks", as: "pat").status == 401, "refused once the server's cache lapses")
            #expect(try await api.get("/tasks", as: "alice").status == 200, "other tokens go on working")
        }
    }

    @Test func aBodyWithAnInexactNumberInvalidUTF8OrDeepNestingIsRefusedAndWritesNothing() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.start("b2")
        let deep = String(repeating: "[", count: 70) + String(repeating: "]", count: 70)
        try await fixture.withServer { api in
            for body in [
                #"{"workflow":"mail-send","inputs":{"company":"A","path":"standard","n":12345678901234567890}}"#,
                #"{"workflow":"mail-send","inputs":{"company":"A","path":"standard"},"x":1e400}"#,
                #"{"workflow":"mail-send","inputs":{"company":"#  + deep + #","path":"standard"}}"#,
            ] {
                try await expectRefusal(422, "invalid_input", fixture) {
                    try await api.post("/onboardings", as: "olivia", body: body)
                }
            }
            try await expectRefusal(422, "invalid_input", fixture) {
                try await api.post("/onboardings/b2/signals/go", as: "olivia", body: #"{"data":"# + deep + "}")
            }
            try await expectRefusal(422, "invalid_input", fixture) {
                try await api.send(
                    .post, "/onboardings", as: "olivia",
                    bytes: Array(#"{"workflow":"mail-send","id":"a"#.utf8) + [0xFF] + Array(#"b","inputs":{}}"#.utf8))
            }
        }
    }

    @Test func everyWriteRefusesABodyOverOneMebibyteAndWritesNothing() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.start("b1")
        let large = "{\"reason\":\"" + String(repeating: "x", count: 1_100_000) + "\"}"
        try await fixture.withServer { api in
            for path in ["/onboardings", "/onboardings/b1/signals/go", "/onboardings/b1/cancel", "/tasks/b1-t1/claim",
                         "/tasks/b1-t1/release", "/tasks/b1-t1/complete"] {
                try await expectRefusal(413, "payload_too_large", fixture) {
                    try await api.post(path, as: "olivia", body: large)
                }
            }
        }
    }

    @Test func startingAnOnboarding() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.withServer { api in
            let body = #"{"workflow":"mail-send","id":"s1","inputs":{"company":"Fabrikam","path":"standard"}}"#
            let started = try await api.post("/onboardings", as: "sam", body: body)
            #expect(started.status == 201, "\(started.text)")
            #expect(started["id"] == "s1")
            #expect(started["state"] == "active")
            #expect(started["openTasks"]?.items.first?["id"] == "s1-t1")
            let events = try await fixture.engine.history("s1")
            #expect(events.allSatisfy { $0.actor == "sam" })

            try await expectRefusal(409, "already_exists", fixture) {
                try await api.post("/onboardings", as: "olivia", body: body)
            }
            try await expectRefusal(404, "not_found", fixture) {
                try await api.post("/onboardings", as: "olivia", body: #"{"workflow":"no-such-thing"}"#)
            }
            try await expectRefusal(422, "invalid_input", fixture) {
                try await api.post("/onboardings", as: "olivia", body: #"{"workflow":"mail-send","inputs":{"company":"X"}}"#)
            }
            try await expectRefusal(422, "invalid_input", fixture) {
                try await api.post("/onboardings", as: "olivia", body: #"{"workflow":"mail-send","#)
            }
            try await expectRefusal(422, "invalid_input", fixture) {
                try await api.post("/onboardings", as: "olivia", body: #"{"workflow":7}"#)
            }
            try await expectRefusal(422, "invalid_input", fixture) {
                try await api.post("/onboardings", as: "olivia", body: #"[]"#)
            }
            // JSON text may hold \u0000; PostgreSQL's jsonb may not: refused whole, nothing written.
            try await expectRefusal(422, "invalid_input", fixture) {
                try await api.post(
                    "/onboardings", as: "olivia",
                    body: #"{"workflow":"mail-send","id":"nul","inputs":{"company":"A\u0000B","path":"standard"}}"#)
            }
            // alice holds customer_admin, which mail-send's starters do not name.
            try await expectRefusal(403, "forbidden_role", fixture) {
                try await api.post(
                    "/onboardings", as: "alice", body: #"{"workflow":"mail-send","inputs":{"company":"X","path":"standard"}}"#)
            }
            let large = "{\"workflow\":\"mail-send\",\"inputs\":{\"company\":\"" + String(repeating: "x", count: 1_100_000) + "\"}}"
            try await expectRefusal(413, "payload_too_large", fixture) {
                try await api.post("/onboardings", as: "olivia", body: large)
            }
        }
    }

    @Test func listingAndReadingOnboardings() async throws {
        let fixture = try await HTTPFixture.make()
        for id in ["l1", "l2", "l3"] { try await fixture.start(id) }
        try await fixture.withServer { api in
            let first = try await api.get("/onboardings?limit=2", as: "alice")
            #expect(first.status == 200)
            #expect(first["onboardings"]?.items.compactMap { $0["id"]?.stringValue } == ["l1", "l2"])
            #expect(first["next"] == "l2")
            let second = try await api.get("/onboardings?limit=2&after=l2", as: "alice")
            #expect(second["onboardings"]?.items.compactMap { $0["id"]?.stringValue } == ["l3"])
            #expect(second["next"] == .null)
            let filtered = try await api.get("/onboardings?workflow=mail-send&state=active&step=client-synced", as: "pat")
            #expect(filtered["onboardings"]?.items.count == 3)
            #expect(try await api.get("/onboardings?state=completed", as: "pat")["onboardings"]?.items.isEmpty == true)
            let byValue = try await api.get("/onboardings?where=company=Contoso&where=path%3Dstandard", as: "pat")
            #expect(byValue["onboardings"]?.items.count == 3)
            #expect(try await api.get("/onboardings?where=company=Northwind", as: "pat")["onboardings"]?.items.isEmpty == true)

            let one = try await api.get("/onboardings/l1", as: "pat")
            #expect(one.status == 200)
            for key in ["id", "workflow", "workflowVersion", "state", "currentSteps", "openTasks", "variables",
                        "inputs", "startedAt", "updatedAt", "version"] {
                #expect(one[key] != nil, "onboarding has \(key)")
            }
            let events = try await api.get("/onboardings/l1/events", as: "pat")
            #expect(events.status == 200)
            let list = events["events"]?.items ?? []
            #expect(list.first?["type"] == "OnboardingStarted")
            #expect(list.first?["actor"] == "olivia")
            for key in ["position", "streamId", "version", "type", "recordedAt", "actor", "data"] {
                #expect(list.first?[key] != nil, "event has \(key)")
            }
            // Filters narrow the history: types and actors repeat, since and until bound its times.
            let opened = try await api.get("/onboardings/l1/events?type=TaskOpened&type=OnboardingStarted", as: "pat")
            #expect(opened["events"]?.items.compactMap { $0["type"]?.stringValue } == ["OnboardingStarted", "TaskOpened"])
            let byOlivia = try await api.get("/onboardings/l1/events?actor=olivia&actor=nobody", as: "pat")
            #expect(byOlivia["events"]?.items.count == list.count)
            #expect(try await api.get("/onboardings/l1/events?actor=nobody", as: "pat")["events"]?.items.isEmpty == true)
            let lastTime = list.last?["recordedAt"]?.stringValue ?? ""
            let since = try await api.get("/onboardings/l1/events?since=\(lastTime)&until=\(lastTime)", as: "pat")
            #expect(since["events"]?.items.count == list.filter { $0["recordedAt"]?.stringValue == lastTime }.count)
            #expect(try await api.get("/onboardings/l1/events?until=2001-01-01T00:00:00Z", as: "pat")["events"]?.items.isEmpty == true)
            let state = try await api.get("/onboardings/l1/state?at=1", as: "pat")
            #expect(state.status == 200)
            #expect(state["version"] == .integer(1))
            #expect(state["onboarding"]?["id"] == "l1")
            let now = try await api.get("/onboardings/l1/state", as: "pat")
            #expect(now["version"] == one["version"])
            let later = Timestamp.format(Date().addingTimeInterval(60))
            #expect(try await api.get("/onboardings/l1/state?at=\(later)", as: "pat").status == 200)

            for path in ["/onboardings/nope", "/onboardings/nope/events", "/onboardings/nope/state"] {
                try await expectRefusal(404, "not_found", fixture) { try await api.get(path, as: "pat") }
            }
            for path in ["/onboardings/l1/state?at=99", "/onboardings/l1/state?at=soon", "/onboardings/l1/state?at=0",
                         "/onboardings/l1/state?at=2001-01-01T00:00:00Z", "/onboardings?limit=0",
                         "/onboardings?limit=many", "/onboardings?limit=1001", "/onboardings?state=asleep",
                         "/onboardings?after=no-such-cursor", "/onboardings?workflow=mail%00send",
                         "/onboardings/l1%00/events", "/onboardings?state=", "/onboardings?limit=",
                         "/onboardings/l1/events?type=Nope", "/onboardings/l1/events?since=soon",
                         "/onboardings?where=company", "/onboardings?where=%3DContoso",
                         "/onboardings/l1/events?since=2030-01-01T00:00:00Z&until=2029-01-01T00:00:00Z"] {
                try await expectRefusal(422, "invalid_input", fixture) { try await api.get(path, as: "pat") }
            }
        }
    }

    @Test func signallingAndCancelling() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.start("c1")
        try await fixture.withServer { api in
            try await expectRefusal(409, "signal_not_awaited", fixture) {
                try await api.post("/onboardings/c1/signals/go", as: "olivia", body: #"{"data":{"ok":true}}"#)
            }
            try await expectRefusal(404, "not_found", fixture) {
                try await api.post("/onboardings/nope/signals/go", as: "olivia")
            }
            try await expectRefusal(403, "forbidden_role", fixture) {
                try await api.post("/onboardings/c1/signals/go", as: "alice")
            }
            try await expectRefusal(403, "forbidden_role", fixture) {
                try await api.post("/onboardings/c1/cancel", as: "pat", body: #"{"reason":"no"}"#)
            }
            try await expectRefusal(422, "invalid_input", fixture) {
                try await api.post("/onboardings/c1/cancel", as: "olivia", body: #"{}"#)
            }
            try await expectRefusal(422, "invalid_input", fixture) {
                try await api.post("/onboardings/c1/cancel", as: "olivia", body: #"{"reason":"   "}"#)
            }
            try await expectRefusal(404, "not_found", fixture) {
                try await api.post("/onboardings/nope/cancel", as: "olivia", body: #"{"reason":"gone"}"#)
            }
            let cancelled = try await api.post("/onboardings/c1/cancel", as: "sam", body: #"{"reason":"the customer left"}"#)
            #expect(cancelled.status == 200, "\(cancelled.text)")
            #expect(cancelled["state"] == "cancelled")
            #expect(try await fixture.engine.history("c1").last?.actor == "sam")
            try await expectRefusal(409, "onboarding_not_active", fixture) {
                try await api.post("/onboardings/c1/cancel", as: "olivia", body: #"{"reason":"again"}"#)
            }
            try await expectRefusal(409, "onboarding_not_active", fixture) {
                try await api.post("/onboardings/c1/signals/go", as: "olivia")
            }
        }
    }

    @Test func claimingReleasingAndCompletingFollowTheRoles() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.start("q1")
        try await fixture.withServer { api in
            let open = try await api.get("/tasks?role=customer_admin", as: "pat")
            #expect(open["tasks"]?.items.compactMap { $0["id"]?.stringValue } == ["q1-t1"])
            let task = try await api.get("/tasks/q1-t1", as: "pat")
            #expect(task.status == 200)
            for key in ["id", "onboardingId", "step", "role", "title", "instructions", "state", "assignee", "checklist",
                        "outputs", "dueAt", "createdAt"] {
                #expect(task[key] != nil, "task has \(key)")
            }
            let notYetOverdue = try await api.get("/tasks?overdue=true", as: "pat")
            #expect(notYetOverdue.status == 200)
            #expect(notYetOverdue["tasks"] == .list([]), "a task due in two days is overdue: \(notYetOverdue.text)")
            try await expectRefusal(404, "not_found", fixture) { try await api.get("/tasks/q1-t9", as: "pat") }
            try await expectRefusal(404, "not_found", fixture) { try await api.get("/tasks?onboarding=nope", as: "pat") }
            for path in ["/tasks?state=sleeping", "/tasks?state=&state=", "/tasks?after=no-such-cursor",
                         "/tasks?role=customer%00admin", "/tasks?limit=-1", "/tasks?overdue=maybe"] {
                try await expectRefusal(422, "invalid_input", fixture) { try await api.get(path, as: "pat") }
            }

            try await expectRefusal(403, "forbidden_role", fixture) { try await api.post("/tasks/q1-t1/claim", as: "pat") }
            try await expectRefusal(403, "forbidden_role", fixture) { try await api.post("/tasks/q1-t1/claim", as: "olivia") }
            try await expectRefusal(404, "not_found", fixture) { try await api.post("/tasks/q1-t9/claim", as: "alice") }
            try await expectRefusal(422, "invalid_input", fixture) {
                try await api.post("/tasks/q1-t1/claim", as: "alice", body: "[null, null]")
            }
            try await expectRefusal(409, "task_not_claimed_by_you", fixture) {
                try await api.post("/tasks/q1-t1/complete", as: "alice", body: completionBody(for: task.json))
            }

            let claimed = try await api.post("/tasks/q1-t1/claim", as: "alice")
            #expect(claimed.status == 200, "\(claimed.text)")
            #expect(claimed["assignee"] == "alice")
            #expect(try await api.get("/tasks?assignee=alice&state=claimed", as: "pat")["tasks"]?.items.count == 1)

            let bob = try await fixture.engine.createToken(name: "bob", roles: ["customer_admin"]).token
            try await expectRefusal(409, "task_already_claimed", fixture) {
                try await api.send(.post, "/tasks/q1-t1/claim", token: bob)
            }
            try await expectRefusal(409, "task_not_claimed_by_you", fixture) {
                try await api.send(.post, "/tasks/q1-t1/release", token: bob)
            }
            try await expectRefusal(409, "task_not_claimed_by_you", fixture) {
                try await api.send(.post, "/tasks/q1-t1/complete", token: bob, body: completionBody(for: task.json))
            }
            try await expectRefusal(403, "forbidden_role", fixture) {
                try await api.post("/tasks/q1-t1/complete", as: "sam", body: completionBody(for: task.json))
            }
            try await expectRefusal(422, "invalid_outputs", fixture) {
                try await api.post("/tasks/q1-t1/complete", as: "alice", body: #"{"outputs":{},"checklist":["client-synced","client-listed"]}"#)
            }
            try await expectRefusal(422, "checklist_incomplete", fixture) {
                try await api.post("/tasks/q1-t1/complete", as: "alice", body: #"{"outputs":{"client_id":"C-1"},"checklist":["client-synced"]}"#)
            }
            try await expectRefusal(422, "invalid_input", fixture) {
                try await api.post("/tasks/q1-t1/complete", as: "alice", body: #"{"outputs":[],"checklist":"all"}"#)
            }
            let refused = try await api.post("/tasks/q1-t1/complete", as: "alice", body: #"{"outputs":{"client_id":"C-1"}}"#)
            #expect(refused["problems"]?.items.compactMap { $0["field"]?.stringValue } == ["client-synced", "client-listed"])

            // An admin may take the claim away; the event records who did.
            let released = try await api.post("/tasks/q1-t1/release", as: "olivia")
            #expect(released.status == 200, "\(released.text)")
            #expect(released["state"] == "open")
            let event = try #require(try await fixture.engine.history("q1").last)
            #expect(event.type == "TaskReleased")
            #expect(event.actor == "olivia")
            #expect(event.data == .object(["taskId": "q1-t1", "assignee": "alice", "releasedBy": "olivia"]))

            _ = try await api.post("/tasks/q1-t1/claim", as: "alice")
            let completed = try await api.post("/tasks/q1-t1/complete", as: "alice", body: completionBody(for: task.json))
            #expect(completed.status == 200, "\(completed.text)")
            #expect(completed["state"] == "completed")
            #expect(completed["completedBy"] == "alice")
            try await expectRefusal(409, "task_not_open", fixture) { try await api.post("/tasks/q1-t1/claim", as: "alice") }
            try await expectRefusal(409, "task_not_open", fixture) {
                try await api.post("/tasks/q1-t1/complete", as: "alice", body: completionBody(for: task.json))
            }
        }
        try await fixture.expectInvariants()
    }

    @Test func workflowsStatsMetricsAndTheDocument() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.start("w1")
        try await fixture.withServer { api in
            let workflows = try await api.get("/workflows", as: "pat")
            #expect(workflows.status == 200)
            let ids = workflows["workflows"]?.items.compactMap { $0["id"]?.stringValue } ?? []
            #expect(ids.contains("mail-send"))
            let mailSend = try await api.get("/workflows/mail-send", as: "pat")
            #expect(mailSend["starters"] == .list(["solutions_engineer"]))
            #expect(mailSend["steps"]?.items.isEmpty == false)
            try await expectRefusal(404, "not_found", fixture) { try await api.get("/workflows/nope", as: "pat") }

            // The figures follow the log (the async `counts` projection, which `serve` runs).
            try await ProjectionsOverHTTPTests.follow(fixture.engine)
            let stats = try await api.get("/stats", as: "pat")
            #expect(stats["onboardings"] == .list([
                .object(["workflow": "mail-send", "state": "active", "step": "client-synced", "count": 1]),
            ]))
            #expect(stats["tasks"] == .list([
                .object(["role": "customer_admin", "open": 1, "claimed": 0, "overdue": 0]),
            ]))

            let metrics = try await api.get("/metrics", as: "pat")
            #expect(metrics.status == 200)
            #expect(metrics.text.contains(#"hb_requests{http_route="/stats",http_request_method="GET",http_response_status_code="200"}"#))
            #expect(metrics.text.contains(#"http_response_status_code="404""#), "refusals are counted with their status")

            let document = try await api.get("/openapi.json", as: "pat")
            #expect(document.status == 200)
            #expect(document["openapi"] == "3.1.0")
            let paths = document["paths"]?.objectKeys ?? []
            for path in ["/onboardings", "/onboardings/{id}", "/onboardings/{id}/events", "/onboardings/{id}/state",
                         "/onboardings/{id}/signals/{name}", "/onboardings/{id}/cancel", "/tasks", "/tasks/{id}",
                         "/tasks/{id}/claim", "/tasks/{id}/release", "/tasks/{id}/complete", "/workflows",
                         "/workflows/{id}", "/stats", "/metrics", "/healthz", "/readyz", "/openapi.json"] {
                #expect(paths.contains(path), "the document describes \(path)")
            }
            try await expectRefusal(404, "not_found", fixture) { try await api.get("/no/such/route", as: "pat") }
            for (method, path, allowed) in [
                (HTTPRequest.Method.delete, "/tasks", "GET"), (.put, "/onboardings/w1", "GET"),
                (.get, "/tasks/w1-t1/claim", "POST"), (.patch, "/onboardings", "GET, POST"),
            ] {
                let before = try await fixture.contents()
                let reply = try await api.send(method, path, as: "olivia")
                #expect(reply.status == 405, "\(method) \(path): \(reply.text)")
                #expect(reply.code == "method_not_allowed")
                #expect(reply.headers[.allow] == allowed, "\(method) \(path)")
                #expect(try await fixture.contents() == before)
            }
        }
    }
}

enum HTTPRequestMethod {
    case get, post

    var http: HTTPRequest.Method { self == .get ? .get : .post }
}

extension Value {
    var objectKeys: [String] {
        if case .object(let members) = self { return Array(members.keys) }
        return []
    }
}
