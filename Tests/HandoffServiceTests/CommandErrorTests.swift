import Foundation
import HandoffCore
import HandoffService
import HandoffStore
import HandoffTestSupport
import Testing

/// Each refused command returns its contract code and appends nothing.
@Suite("Refused commands")
struct CommandErrorTests {
    /// Runs `body`, expects it to fail with `code`, and checks that the stream did not move.
    func expectRefusal(
        _ code: EngineError.Code, _ fixture: Fixture, stream: String, sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () async throws -> Void
    ) async throws {
        let before = try await fixture.version(stream)
        let commandsBefore = try await fixture.database.column("SELECT count(*) FROM commands")
        do {
            try await body()
            Issue.record("expected \(code), but the command succeeded", sourceLocation: sourceLocation)
        } catch let error as EngineError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
        }
        #expect(try await fixture.version(stream) == before, sourceLocation: sourceLocation)
        #expect(try await fixture.database.column("SELECT count(*) FROM commands") == commandsBefore)
    }

    @Test func everyRefusalHasItsCodeAndWritesNothing() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        _ = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "e1", actor: "olivia")

        try await expectRefusal(.forbiddenRole, fixture, stream: "e1") {
            _ = try await engine.claim(taskId: "e1-t1", user: "sam", roles: ["solutions_engineer"], commandId: "x1")
        }
        try await expectRefusal(.notFound, fixture, stream: "e1") {
            _ = try await engine.claim(taskId: "e1-t9", user: "alice", roles: ["customer_admin"])
        }
        try await expectRefusal(.notFound, fixture, stream: "nope") {
            _ = try await engine.claim(taskId: "nope-t1", user: "alice", roles: ["customer_admin"])
        }
        try await expectRefusal(.notFound, fixture, stream: "nope") {
            _ = try await engine.cancel(onboardingId: "nope", user: "alice", reason: "test")
        }
        try await expectRefusal(.notFound, fixture, stream: "nope") {
            _ = try await engine.onboarding("nope")
        }
        // Regression: the tasks of an onboarding that does not exist were an empty list ("No tasks.").
        try await expectRefusal(.notFound, fixture, stream: "nope") {
            _ = try await engine.tasks(TaskQuery(onboardingId: "nope"))
        }
        try await expectRefusal(.notFound, fixture, stream: "e1") {
            _ = try await engine.start(workflow: "no-such-workflow", inputs: [:], actor: "olivia")
        }
        try await expectRefusal(.invalidInput, fixture, stream: "e2") {
            _ = try await engine.start(workflow: "mail-send", inputs: ["company": "Contoso"], id: "e2", actor: "olivia")
        }
        try await expectRefusal(.alreadyExists, fixture, stream: "e1") {
            _ = try await engine.start(
                workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "e1", actor: "olivia")
        }
        try await expectRefusal(.taskNotClaimedByYou, fixture, stream: "e1") {
            _ = try await engine.complete(
                taskId: "e1-t1", user: "alice", outputs: ["client_id": "C-1"], checklist: ["client-synced", "client-listed"])
        }

        _ = try await engine.claim(taskId: "e1-t1", user: "alice", roles: ["customer_admin"])
        try await expectRefusal(.taskAlreadyClaimed, fixture, stream: "e1") {
            _ = try await engine.claim(taskId: "e1-t1", user: "bob", roles: ["customer_admin"])
        }
        try await expectRefusal(.taskNotClaimedByYou, fixture, stream: "e1") {
            _ = try await engine.complete(
                taskId: "e1-t1", user: "bob", outputs: ["client_id": "C-1"], checklist: ["client-synced", "client-listed"])
        }
        try await expectRefusal(.taskNotClaimedByYou, fixture, stream: "e1") {
            _ = try await engine.release(taskId: "e1-t1", user: "bob")
        }
        try await expectRefusal(.invalidOutputs, fixture, stream: "e1") {
            _ = try await engine.complete(
                taskId: "e1-t1", user: "alice", outputs: ["client_id": "two\nlines", "colour": "red"],
                checklist: ["client-synced", "client-listed"])
        }
        try await expectRefusal(.invalidOutputs, fixture, stream: "e1") {
            _ = try await engine.complete(
                taskId: "e1-t1", user: "alice", outputs: [:], checklist: ["client-synced", "client-listed"])
        }
        try await expectRefusal(.checklistIncomplete, fixture, stream: "e1") {
            _ = try await engine.complete(
                taskId: "e1-t1", user: "alice", outputs: ["client_id": "C-1"], checklist: ["client-synced"])
        }
        let completed = try await engine.complete(
            taskId: "e1-t1", user: "alice", outputs: ["client_id": "C-1"], checklist: ["client-synced", "client-listed"])
        #expect(completed.state == "completed")
        try await expectRefusal(.taskNotOpen, fixture, stream: "e1") {
            _ = try await engine.complete(
                taskId: "e1-t1", user: "alice", outputs: ["client_id": "C-1"], checklist: ["client-synced", "client-listed"])
        }
        try await expectRefusal(.taskNotOpen, fixture, stream: "e1") {
            _ = try await engine.claim(taskId: "e1-t1", user: "alice", roles: ["customer_admin"])
        }
        try await expectRefusal(.signalNotAwaited, fixture, stream: "e1") {
            _ = try await engine.signal(onboardingId: "e1", name: "nobody-waits", actor: "olivia")
        }
        try await expectRefusal(.invalidInput, fixture, stream: "e1") {
            _ = try await engine.cancel(onboardingId: "e1", user: "olivia", reason: "  ")
        }
        // The next task opened at once, in the queue.
        #expect(try await engine.tasks(TaskQuery(onboardingId: "e1")).items.map(\.id) == ["e1-t2"])
        try await fixture.expectInvariants()
    }

    /// Regression: a newline in `--as` forged a line of `handoff history`; invisible and direction-changing
    /// characters made one name look like another.
    @Test func actorNamesThatCouldForgeOrConfuseAHistoryAreRefusedAndWriteNothing() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        _ = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "a1", actor: "olivia")
        for name in ["", "alice\n12  OnboardingCancelled  mallory", "ali\u{202E}ecila", "al\u{200B}ice", " alice",
                     "alice ", "\u{00A0}alice", "alice\u{3000}", "alice\u{0}", String(repeating: "a", count: 201)] {
            try await expectRefusal(.invalidInput, fixture, stream: "a1") {
                _ = try await engine.claim(taskId: "a1-t1", user: name, roles: ["customer_admin"])
            }
            try await expectRefusal(.invalidInput, fixture, stream: "a1") {
                _ = try await engine.cancel(onboardingId: "a1", user: name, reason: "no")
            }
            try await expectRefusal(.invalidInput, fixture, stream: "a1") {
                _ = try await engine.signal(onboardingId: "a1", name: "go", actor: name)
            }
            try await expectRefusal(.invalidInput, fixture, stream: "a2") {
                _ = try await engine.start(
                    workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "a2", actor: name)
            }
        }
        // Names people really have still work.
        #expect(try await engine.claim(taskId: "a1-t1", user: "Zoë O'Brien-Łukasz", roles: ["customer_admin"]).assignee
            == "Zoë O'Brien-Łukasz")
    }

    @Test func aCancelledOnboardingWithdrawsItsTasks() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        _ = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "c1", actor: "olivia")
        _ = try await engine.claim(taskId: "c1-t1", user: "alice", roles: ["customer_admin"])
        let cancelled = try await engine.cancel(onboardingId: "c1", user: "olivia", reason: "the customer left")
        #expect(cancelled.state == "cancelled")
        #expect(cancelled.reason == "the customer left")
        #expect(try await engine.task("c1-t1").state == "cancelled")
        #expect(try await engine.tasks().items.isEmpty)
        try await expectRefusal(.taskNotOpen, fixture, stream: "c1") {
            _ = try await engine.complete(
                taskId: "c1-t1", user: "alice", outputs: ["client_id": "C-1"], checklist: ["client-synced", "client-listed"])
        }
        try await expectRefusal(.onboardingNotActive, fixture, stream: "c1") {
            _ = try await engine.cancel(onboardingId: "c1", user: "olivia", reason: "again")
        }
        try await fixture.expectInvariants()
    }

    @Test func aRunKeepsItsDefinitionWhenTheFileChanges() async throws {
        let fixture = try await Fixture.make()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("mail-send.yaml")
        let original = try String(contentsOf: Repository.workflows.appendingPathComponent("mail-send.yaml"), encoding: .utf8)
        try original.write(to: file, atomically: true, encoding: .utf8)
        let engine = Engine(pool: fixture.database.pool, workflows: WorkflowLibrary(folder: folder))
        let old = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "v1", actor: "olivia")

        let edited = original.replacingOccurrences(
            of: "title: Make sure ${inputs.company}'s own Client is synced into the Pia Portal",
            with: "title: Sync ${inputs.company}'s Client first")
        #expect(edited != original)
        try edited.write(to: file, atomically: true, encoding: .utf8)
        let new = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "v2", actor: "olivia")
        #expect(new.contentHash != old.contentHash)
        #expect(try await engine.task("v2-t1").title == "Sync Contoso's Client first")

        // The old run goes on with its own definition, also in a fresh engine that never saw the old file.
        try FileManager.default.removeItem(at: file)
        let fresh = Engine(pool: fixture.database.pool, workflows: WorkflowLibrary(folder: folder))
        try await drive(fresh, "v1")
        #expect(try await fresh.onboarding("v1").state == "completed")
        #expect(try await fresh.onboarding("v1").contentHash == old.contentHash)
        #expect(try await fresh.replay("v1").tasks.first?.title == "Make sure Contoso's own Client is synced into the Pia Portal")
        try await fixture.expectInvariants()
    }
}
