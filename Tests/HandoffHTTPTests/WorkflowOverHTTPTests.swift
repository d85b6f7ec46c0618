import Foundation
import HandoffCore
import HandoffService
import HandoffTestSupport
import Testing

/// Whole onboardings walked through the API, as the three roles would from their own tokens.
@Suite("Onboardings over HTTP")
struct WorkflowOverHTTPTests {
    static let people = ["customer_admin": "alice", "partner_integration_manager": "pat", "solutions_engineer": "sam"]

    @Test func theMailSendOnlyPathCompletedByThreeTokensRecordsEachTokenAsTheActor() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.withServer { api in
            let started = try await api.post(
                "/onboardings", as: "sam",
                body: #"{"workflow":"mail-send","id":"fabrikam","inputs":{"company":"Fabrikam","path":"mail_send_only"}}"#)
            #expect(started.status == 201, "\(started.text)")
            var paths: [String] = []
            var actorsByTask: [String: String] = [:]
            while let summary = try await api.get("/onboardings/fabrikam", as: "pat")["openTasks"]?.items.first {
                let taskId = try #require(summary["id"]?.stringValue)
                let role = try #require(summary["role"]?.stringValue)
                let person = try #require(Self.people[role])
                let claimed = try await api.post("/tasks/\(taskId)/claim", as: person)
                #expect(claimed.status == 200, "\(claimed.text)")
                let path = claimed["path"]?.stringValue ?? ""
                let upn = path.hasPrefix("global-admin-consent") ? "admin@fabrikam.onmicrosoft.com" : "pia-mailer@fabrikam.com"
                let completed = try await api.post(
                    "/tasks/\(taskId)/complete", as: person, body: completionBody(for: claimed.json, upn: upn))
                #expect(completed.status == 200, "\(completed.text)")
                paths.append(path)
                actorsByTask[taskId] = person
                if paths.count > 20 { break }
            }
            #expect(paths == [
                "client-synced", "global-admin-consent/sign-in", "global-admin-consent/organisation-consent",
                "global-admin-consent/read-upn", "service-account-consent/sign-in", "service-account-consent/read-upn",
                "remove-global-admin-consent", "back-end-configuration",
                "configure-variables",
            ])
            let finished = try await api.get("/onboardings/fabrikam", as: "olivia")
            #expect(finished["state"] == "completed")
            #expect(finished["variables"] == .object([
                "Mail_Send_Mode": "Client", "Mail_Send_UPN": "pia-mailer@fabrikam.com", "Mail_Send_ID": "C-42",
            ]))
            let events = try await api.get("/onboardings/fabrikam/events", as: "olivia")["events"]?.items ?? []
            #expect(events.first?["actor"] == "sam", "the start is the starting token's")
            for event in events {
                let type = event["type"]?.stringValue ?? ""
                guard ["TaskClaimed", "TaskCompleted"].contains(type) else { continue }
                let taskId = event["data"]?["taskId"]?.stringValue ?? ""
                #expect(event["actor"]?.stringValue == actorsByTask[taskId], "\(type) of \(taskId)")
            }
            // Every event a command appended carries that command's caller, and only the three tokens acted.
            let actors = Set(events.compactMap { $0["actor"]?.stringValue })
            #expect(actors == ["sam", "alice", "pat"])
        }
        try await fixture.expectInvariants()
    }

    @Test func oneCompletionSentTwiceWithOneKeyCompletesOnceAndAnswersTheSameTwice() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.start("i1")
        let body = #"{"outputs":{"client_id":"C-7"},"checklist":["client-synced","client-listed"]}"#
        let (first, second) = try await fixture.withServer { api in
            #expect(try await api.post("/tasks/i1-t1/claim", as: "alice").status == 200)
            let first = try await api.post("/tasks/i1-t1/complete", as: "alice", body: body, key: "complete-i1-t1")
            let second = try await api.post("/tasks/i1-t1/complete", as: "alice", body: body, key: "complete-i1-t1")
            return (first, second)
        }
        #expect(first.status == 200, "\(first.text)")
        #expect(second.status == 200, "\(second.text)")
        #expect(first.text == second.text, "the first answer, again")
        #expect(try await fixture.engine.history("i1").filter { $0.type == "TaskCompleted" }.count == 1)

        // A new server process on the same database (a restart): still the first answer, still nothing new.
        let before = try await fixture.contents()
        let (third, other, anotherCaller) = try await fixture.withServer { api in
            let third = try await api.post("/tasks/i1-t1/complete", as: "alice", body: body, key: "complete-i1-t1")
            let other = try await api.post(
                "/tasks/i1-t1/complete", as: "alice", body: #"{"outputs":{"client_id":"C-8"},"checklist":["client-synced","client-listed"]}"#,
                key: "complete-i1-t1")
            // Keys are per caller: another token's same key is another request (refused on its own merits).
            let anotherCaller = try await api.post("/tasks/i1-t1/complete", as: "pat", body: body, key: "complete-i1-t1")
            return (third, other, anotherCaller)
        }
        #expect(third.status == 200)
        #expect(third.text == first.text)
        #expect(other.status == 422, "\(other.text)")
        #expect(other.code == "invalid_input")
        #expect(anotherCaller.status == 403, "\(anotherCaller.text)")
        #expect(try await fixture.contents() == before)
    }

    @Test func startingTwiceWithOneKeyAnswers201TwiceWithOneOnboarding() async throws {
        let fixture = try await HTTPFixture.make()
        let body = #"{"workflow":"mail-send","inputs":{"company":"Contoso","path":"standard"}}"#
        try await fixture.withServer { api in
            let first = try await api.post("/onboardings", as: "olivia", body: body, key: "start-contoso")
            let second = try await api.post("/onboardings", as: "olivia", body: body, key: "start-contoso")
            #expect(first.status == 201)
            #expect(second.status == 201)
            #expect(first["id"] == second["id"])
            #expect(try await api.get("/onboardings", as: "olivia")["onboardings"]?.items.count == 1)
            let tooLong = String(repeating: "k", count: 201)
            let refused = try await api.post("/onboardings", as: "olivia", body: body, key: tooLong)
            #expect(refused.status == 422)
            #expect(try await api.get("/onboardings", as: "olivia")["onboardings"]?.items.count == 1)
        }
    }
}
