import Foundation
import HandoffCore
import HandoffService
import HandoffTestSupport
import Testing

@Suite("Upgrading a run over HTTP")
struct UpgradeOverHTTPTests {
    static func source(version: Int) -> String {
        """
        id: hop
        title: Hop
        version: \(version)
        roles: [solutions_engineer]
        start: first
        steps:
          - id: first
            title: First
            task:
              role: solutions_engineer
              title: The first task\(version == 1 ? "" : ", reworded")
          - id: done
            end: completed

        """
    }

    @Test func anAdminMovesARunToTheNewerVersionAndOthersAndBadRequestsAreRefused() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("hop.yaml")
        try Self.source(version: 1).write(to: file, atomically: true, encoding: .utf8)

        let base = try await HTTPFixture.make()
        let engine = Engine(pool: base.database.pool, workflows: WorkflowLibrary(folder: folder))
        let fixture = HTTPFixture(database: base.database, engine: engine, tokens: base.tokens)
        _ = try await engine.start(workflow: "hop", inputs: [:], id: "hop1", actor: "olivia")
        try Self.source(version: 2).write(to: file, atomically: true, encoding: .utf8)

        try await fixture.withServer { api in
            let before = try await fixture.contents()
            let refusals: [(String, String?, Int, String)] = [
                ("sam", #"{"version":2}"#, 403, "forbidden_role"),
                ("olivia", #"{"version":7}"#, 404, "not_found"),
                ("olivia", #"{"version":1}"#, 422, "invalid_input"),
                ("olivia", #"{"version":"two"}"#, 422, "invalid_input"),
                ("olivia", nil, 422, "invalid_input"),
            ]
            for (person, body, status, code) in refusals {
                let refused = try await api.post("/onboardings/hop1/upgrade", as: person, body: body)
                #expect(refused.status == status && refused.json["code"] == .string(code), "\(person) \(body ?? "-"): \(refused.text)")
            }
            let unknown = try await api.post("/onboardings/nope/upgrade", as: "olivia", body: #"{"version":2}"#)
            #expect(unknown.status == 404)
            #expect(try await fixture.contents() == before)

            let moved = try await api.post("/onboardings/hop1/upgrade", as: "olivia", body: #"{"version":2}"#, key: "up-1")
            #expect(moved.status == 200, "\(moved.text)")
            #expect(moved.json["version"] == .integer(2) || moved.json["workflowVersion"] == .integer(2), "\(moved.text)")
            // The same key again answers the same and writes nothing.
            let events = try await fixture.database.column("SELECT count(*) FROM events")
            let again = try await api.post("/onboardings/hop1/upgrade", as: "olivia", body: #"{"version":2}"#, key: "up-1")
            #expect(again.status == 200 && again.json == moved.json)
            #expect(try await fixture.database.column("SELECT count(*) FROM events") == events)
            let history = try await api.get("/onboardings/hop1/events?type=OnboardingUpgraded", as: "sam")
            let upgraded = history.json["events"]?.items ?? []
            #expect(upgraded.count == 1 && upgraded.first?["actor"] == "olivia", "\(history.text)")
            // The run goes on under the newer version.
            #expect(try await api.post("/tasks/hop1-t1/claim", as: "sam").status == 200)
            let done = try await api.post("/tasks/hop1-t1/complete", as: "sam", body: "{}")
            #expect(done.status == 200, "\(done.text)")
            #expect(try await api.get("/onboardings/hop1", as: "sam").json["state"] == "completed")
        }
        try await fixture.expectInvariants()
    }
}
