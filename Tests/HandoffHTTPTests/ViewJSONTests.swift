import Foundation
import HandoffCore
@testable import HandoffHTTP
@testable import HandoffService
import HandoffStore
import HandoffTestSupport
import Testing

/// The views' hand-written JSON against `JSONEncoder`'s, byte for byte, on every view of whole runs.
@Suite("Views written by hand")
struct ViewJSONTests {
    func expectSame(_ view: some JSONWritable, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let encoded = String(decoding: try JSONBody.encoder.encode(view), as: UTF8.self)
        let written = view.jsonText
        guard written != encoded else { return }
        let same = zip(written, encoded).prefix { $0 == $1 }.count
        let mine = String(written.dropFirst(max(0, same - 40)).prefix(80))
        let theirs = String(encoded.dropFirst(max(0, same - 40)).prefix(80))
        Issue.record(
            "the written JSON differs from JSONEncoder's at character \(same): …\(mine)… against …\(theirs)…",
            sourceLocation: sourceLocation)
    }

    @Test func everyTaskAndOnboardingOfBothMailSendPathsIsWrittenAsJSONEncoderWritesIt() async throws {
        let fixture = try await HTTPFixture.make()
        let engine = fixture.engine
        try await fixture.start("std")
        try await fixture.start("only", path: "mail_send_only")
        for id in ["std", "only"] {
            while let summary = try await engine.onboarding(id).openTasks.first {
                try expectSame(try await engine.onboarding(id))
                let person = WorkflowOverHTTPTests.people[summary.role] ?? "alice"
                let claimed = try await engine.claim(taskId: summary.id, user: person, roles: [summary.role])
                try expectSame(claimed)
                try expectSame(CommandResult.task(claimed))
                var outputs: [String: Value] = [:]
                if claimed.step == "client-synced" { outputs["client_id"] = "C-\"/\\\té" }
                if claimed.step == "read-upn" { outputs["upn"] = "mailer@contoso.com" }
                try expectSame(
                    try await engine.complete(
                        taskId: summary.id, user: person, outputs: outputs, checklist: Set(claimed.checklist.map(\.id))))
            }
            try expectSame(try await engine.onboarding(id))
        }
        let all = try await engine.tasks(TaskQuery(states: ["open", "claimed", "completed", "cancelled"]), limit: 1_000)
        #expect(all.items.count > 10)
        try expectSame(all.listing("tasks"))
        for task in all.items { try expectSame(task) }
        try expectSame(try await engine.onboardings().listing("onboardings"))
        try expectSame(Page<TaskView>(items: [], next: nil).listing("tasks"))
        try expectSame(Page<TaskView>(items: [], next: "x").listing("alpha"))
    }

    @Test func timersReasonsAndAwkwardTextAreWrittenAsJSONEncoderWritesThem() throws {
        let now = Date(timeIntervalSince1970: 1_790_000_000.123)
        let view = OnboardingView(
            id: "a/b \u{2028}", workflow: "w", workflowVersion: 3, contentHash: "abc", state: "failed",
            reason: "line\nbreak \"quoted\" \\ 🎉", currentSteps: ["x/y"],
            openTasks: [.init(id: "t", step: "s", path: "p/s", role: "r", title: "T\t", state: "open", assignee: nil)],
            variables: ["b": 1, "a": .list([.null, true, 1.5, "x"]), "Z": .object(["k": "v"])], inputs: [:],
            timers: [.init(id: "tm", path: "wait", dueAt: now, purpose: "timeout")], awaitedSignals: ["go"],
            startedAt: now, updatedAt: now.addingTimeInterval(1), version: 12)
        try expectSame(view)
    }
}
