import AsyncHTTPClient
import Foundation
import HandoffCore
import HandoffService
import HandoffStore
import HandoffTestSupport
import Testing

@Suite("Async projections over HTTP")
struct ProjectionsOverHTTPTests {
    /// Follows the log in the test's process until every async projection applied every committed event.
    static func follow(_ engine: Engine) async throws {
        let caughtUp = try await eventually(within: 60) {
            _ = try await engine.followProjections(owner: "http-test", leaseSeconds: 30)
            return try await engine.projectionsStatus().filter { $0.kind == "async" }.allSatisfy { $0.lagEvents == 0 }
        }
        #expect(caughtUp)
    }

    @Test func statsVariablesActivityAndProjectionsReadTheAsyncProjections() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.start("h1")
        try await fixture.start("h2")
        try await fixture.withServer { api in
            // Before any runner followed the log: the figures are empty, and the lag says why.
            let idle = try await api.get("/projections", as: "alice")
            #expect(idle.status == 200)
            let states = idle.json["projections"]?.items ?? []
            #expect(states.compactMap { $0["name"]?.stringValue } == ["onboardings", "tasks", "timings", "variables", "activity", "counts"])
            #expect(states.filter { $0["kind"] == "async" }.allSatisfy { $0["state"] == "idle" && $0["lagEvents"] != .integer(0) })
            #expect(try await api.get("/stats", as: "alice").json["steps"] == .list([]))

            let claimed = try await api.post("/tasks/h1-t1/claim", as: "alice")
            #expect(claimed.status == 200)
            let completed = try await api.post("/tasks/h1-t1/complete", as: "alice", body: completionBody(for: claimed.json))
            #expect(completed.status == 200)
            try await Self.follow(fixture.engine)

            let steps = try await api.get("/stats", as: "alice").json["steps"]?.items ?? []
            let synced = try #require(steps.first { $0["step"] == "client-synced" })
            #expect(synced["open"] == .integer(1) && synced["completed"] == .integer(1), "\(synced)")
            #expect(synced["waitMedianSeconds"]?.isNull == false && synced["completeP90Seconds"]?.isNull == false)
            let waiting = try #require(steps.first { $0["step"] != "client-synced" })
            #expect(waiting["completeMedianSeconds"] == .null)

            let activity = try await api.get("/activity?limit=10", as: "pat")
            #expect(activity.status == 200)
            let lines = activity.json["activity"]?.items ?? []
            #expect(lines.count == 10 && lines.first?["onboarding"] == "h1" && lines.first?["workflow"] == "mail-send")
            #expect(lines.contains { $0["type"] == "TaskCompleted" && $0["actor"] == "alice" })

            #expect(try await api.get("/variables?company=Contoso", as: "sam").json == .object(["variables": .list([])]))

            let followed = try await api.get("/projections", as: "alice").json["projections"]?.items ?? []
            #expect(followed.filter { $0["kind"] == "async" }.allSatisfy { $0["holder"] == "http-test" && $0["lagEvents"] == .integer(0) })
            let metrics = try await api.get("/metrics", as: "olivia")
            #expect(metrics.text.contains(#"handoff_projection_lag_events{projection="timings"} 0"#), "\(metrics.text.prefix(2000))")
            #expect(metrics.text.contains(#"handoff_projection_lag_seconds{projection="activity"}"#))

            // The overview shows the timings.
            let overview = try await api.get("/dashboard", as: "olivia")
            #expect(overview.text.contains(#"id="overview-steps""#) && overview.text.contains("<td>client-synced</td>"))

            // Bad limits are refused with the reason and change nothing.
            let before = try await fixture.contents()
            for path in ["/variables?limit=0", "/activity?limit=5000", "/activity?limit=many"] {
                let refused = try await api.get(path, as: "alice")
                #expect(refused.status == 422, "\(path)")
                #expect(refused.json["code"] == "invalid_input" && refused.text.contains("limit"), "\(path): \(refused.text)")
            }
            #expect(try await fixture.contents() == before)
            for path in ["/variables", "/activity", "/projections"] {
                #expect(try await api.send(.get, path).status == 401, "\(path)")
            }
        }
    }

    @Test func variablesShowWhatEachCompanyRecordedAndWhoSetIt() async throws {
        let fixture = try await HTTPFixture.make()
        _ = try await fixture.engine.start(
            workflow: "mail-send", inputs: ["company": "Fabrikam", "path": "standard"], id: "f1", actor: "olivia")
        try await fixture.withServer { api in
            // Walk the onboarding through the API, each task by its role.
            while let task = try await api.get("/tasks?onboarding=f1", as: "olivia").json["tasks"]?.items.first {
                let id = try #require(task["id"]?.stringValue)
                let role = try #require(task["role"]?.stringValue)
                let person = try #require(HTTPFixture.people.first { $0.role == role }?.name)
                let claimed = try await api.post("/tasks/\(id)/claim", as: person)
                #expect(claimed.status == 200, "\(claimed.text)")
                let done = try await api.post(
                    "/tasks/\(id)/complete", as: person,
                    body: completionBody(for: claimed.json, upn: "mailer@fabrikam.com", clientId: "C-7"))
                #expect(done.status == 200, "\(done.text)")
            }
            try await Self.follow(fixture.engine)
            let variables = try await api.get("/variables?company=Fabrikam", as: "sam").json["variables"]?.items ?? []
            #expect(variables.compactMap { $0["name"]?.stringValue } == ["Mail_Send_ID", "Mail_Send_Mode", "Mail_Send_UPN"])
            #expect(variables.allSatisfy { $0["onboarding"] == "f1" && $0["company"] == "Fabrikam" && $0["setBy"] == "sam" })
            #expect(variables.first { $0["name"] == "Mail_Send_UPN" }?["value"] == "mailer@fabrikam.com")
            let one = try await api.get("/variables?name=Mail_Send_ID", as: "sam").json["variables"]?.items ?? []
            #expect(one.map { $0["value"] } == ["C-7"])
        }
    }

    @Test func aServeProcessRunsTheProjectionRunner() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.start("s1")
        let server = try await ServerProcess.start(databaseURL: fixture.database.connectionString)
        let client = HTTPClient.forTests()
        let token = try #require(fixture.tokens["alice"])
        let followed = try await eventually(within: 30) {
            let reply = try await client.send(.GET, "\(server.baseURL)/projections", token: token)
            let states = (try? Value(parsing: reply.body))?["projections"]?.items ?? []
            return states.filter { $0["kind"] == "async" }.allSatisfy {
                $0["state"] == "live" && $0["lagEvents"] == .integer(0) && $0["holder"]?.isNull == false
            }
        }
        #expect(followed, "the server's runner did not follow the log")
        let activity = try await client.send(.GET, "\(server.baseURL)/activity", token: token)
        #expect(activity.body.contains(#""onboarding":"s1""#), "\(activity.body)")
        try await client.shutdown()
        #expect(try await server.terminate() == 0, "\(server.stderr)")
        // It gave its leases up on the way out.
        #expect(try await fixture.engine.projectionsStatus().filter { $0.kind == "async" }.allSatisfy { $0.holder == nil })
    }
}
