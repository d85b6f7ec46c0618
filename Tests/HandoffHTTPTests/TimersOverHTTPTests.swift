import Foundation
import HandoffCore
@testable import HandoffHTTP
import HandoffService
import HandoffStore
import HandoffTestSupport
import HummingbirdTesting
import Logging
import Synchronization
import Testing

/// A clock the test moves, as the engine's only source of time.
final class MovableClock: Sendable {
    private let current = Mutex(Date())
    func now() -> Date { current.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

@Suite("Timers with the server running")
struct TimersOverHTTPTests {
    /// `partner-go-live` from start to live over HTTP, its two-day soak fired by the server's own scheduler once the
    /// clock moves on.
    @Test func partnerGoLiveRunsToItsEndWithTheSchedulerRunningAndTheClockMovedForward() async throws {
        let fixture = try await HTTPFixture.make()
        let clock = MovableClock()
        let engine = Engine(pool: fixture.database.pool, workflows: WorkflowLibrary(folder: Repository.workflows)) { clock.now() }
        let scheduler = TimerScheduler(engine: engine, interval: .milliseconds(50), logger: Logger(label: "test"))
        let application = try buildApplication(engine: engine, settings: fixture.settings, services: [scheduler])
        try await application.test(.live) { client in
            let api = API(client: client, tokens: fixture.tokens)
            let started = try await api.post(
                "/onboardings", as: "olivia",
                body: #"{"workflow":"partner-go-live","id":"pg1","inputs":{"company":"Contoso","contact_email":"ceo@contoso.com"}}"#)
            #expect(started.status == 201, "\(started.text)")

            func finish(_ step: String, as person: String, body: String) async throws {
                let tasks = try await api.get("/tasks?onboarding=pg1", as: person)
                guard case .list(let items)? = tasks["tasks"],
                    let task = items.first(where: { $0["step"]?.stringValue == step }), let id = task["id"]?.stringValue
                else {
                    Issue.record("no open task for step \(step): \(tasks.text)")
                    return
                }
                #expect(try await api.post("/tasks/\(id)/claim", as: person).status == 200)
                let done = try await api.post("/tasks/\(id)/complete", as: person, body: body)
                #expect(done.status == 200, "\(step): \(done.text)")
            }
            try await finish("send-contract", as: "pat", body: #"{"checklist":["sent"]}"#)
            try await finish(
                "configure-tenant", as: "sam",
                body: #"{"outputs":{"tenant_id":"6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"},"checklist":["tenant"]}"#)
            try await finish("test-notifications", as: "alice", body: #"{"outputs":{"received":true}}"#)
            let signalled = try await api.post("/onboardings/pg1/signals/contract-signed", as: "olivia", body: "{}")
            #expect(signalled.status == 202, "\(signalled.text)")

            // Both branches done: the soak timer waits two days by the engine's clock.
            let soaking = try await api.get("/onboardings/pg1", as: "olivia")
            #expect(soaking["currentSteps"] == .list(["soak"]), "\(soaking.text)")
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await api.get("/onboardings/pg1", as: "olivia")["currentSteps"] == .list(["soak"]), "fired early")

            clock.advance(2 * 86_400)
            let live = try await eventually(within: 10) {
                try await api.get("/onboardings/pg1", as: "olivia")["currentSteps"] == .list(["go-live"])
            }
            #expect(live, "the soak timer did not fire")
            try await finish("go-live", as: "sam", body: #"{"checklist":["live"]}"#)
            let ended = try await api.get("/onboardings/pg1", as: "olivia")
            #expect(ended["state"] == "completed", "\(ended.text)")
            let events = try await api.get("/onboardings/pg1/events", as: "olivia")
            #expect(events.text.contains(#""actor":"scheduler""#) && events.text.contains(#""type":"TimerFired""#))
        }
        #expect(try await engine.verify().problems == [])
    }
}
