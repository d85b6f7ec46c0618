import Foundation
import HandoffCore
import HandoffService
import HandoffStore
import HandoffTestSupport
import Postgres
import Testing

/// A value nested `depth` levels deep (`depth` lists, the innermost holding a number).
private func nested(_ depth: Int) -> Value {
    var value: Value = .integer(1)
    for _ in 0..<depth { value = .list([value]) }
    return value
}

/// Starts a partner go-live and completes its first task, so that its `contract-signed` step waits for a signal.
private func waitingForTheContract(_ engine: Engine, id: String) async throws {
    _ = try await engine.start(
        workflow: "partner-go-live", inputs: ["company": "Contoso", "contact_email": "ceo@contoso.com"], id: id,
        actor: "pat")
    _ = try await engine.claim(taskId: "\(id)-t1", user: "pat", roles: ["partner_integration_manager"])
    _ = try await engine.complete(
        taskId: "\(id)-t1", user: "pat", outputs: ["envelope_url": "https://sign.example.com/1"],
        checklist: ["sent"])
}

@Suite("A write that is accepted can always be read back")
struct ReadBackTests {
    @Test func signalDataNestedJustUnderTheEdgeLimitIsReadByEveryReadPath() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        try await waitingForTheContract(engine, id: "deep")
        _ = try await engine.signal(
            onboardingId: "deep", name: "contract-signed", data: nested(Value.maximumInputDepth - 1), actor: "pat")

        let onboarding = try await engine.onboarding("deep")
        #expect(onboarding.state == "active")
        let history = try await engine.history("deep")
        #expect(history.contains { $0.type == "SignalReceived" })
        _ = try await engine.replay("deep", at: .version(Int64(history.count)))
        _ = try await engine.tasks(TaskQuery(onboardingId: "deep"))
        let rebuilt = try await engine.rebuildProjections()
        #expect(rebuilt.streams == 1)
        try await fixture.expectInvariants()
        // And the onboarding still takes commands.
        _ = try await engine.claim(taskId: "deep-t2", user: "sam", roles: ["solutions_engineer"])
    }

    @Test func signalDataDeeperThanTheEdgeLimitIsRefusedAndWritesNothing() async throws {
        let fixture = try await Fixture.make()
        try await waitingForTheContract(fixture.engine, id: "deeper")
        let before = try await fixture.version("deeper")
        let error = await #expect(throws: EngineError.self) {
            _ = try await fixture.engine.signal(
                onboardingId: "deeper", name: "contract-signed", data: nested(Value.maximumInputDepth + 1),
                actor: "pat")
        }
        #expect(error?.code == .invalidInput)
        #expect(error?.message == "the signal's data nests deeper than 64 levels")
        #expect(try await fixture.version("deeper") == before)
    }

    @Test func inputsAndOutputsDeeperThanTheEdgeLimitAreRefusedAndWriteNothing() async throws {
        let fixture = try await Fixture.make()
        let startError = await #expect(throws: EngineError.self) {
            _ = try await fixture.engine.start(
                workflow: "mail-send", inputs: ["company": nested(70), "path": "standard"], id: "x", actor: "sam")
        }
        #expect(startError?.message == "input 'company' nests deeper than 64 levels")
        #expect(try await fixture.version("x") == 0)
    }
}

@Suite("Bounded work per request")
struct BoundedWorkTests {
    /// A long output that does not fit its field is refused before the write takes the stream lock: here a
    /// stray session holds that lock, and the refusal is `invalid_outputs`, not a wait ending in `timeout`.
    @Test func aLongOutputThatDoesNotFitIsRefusedWithoutWaitingForTheStreamLock() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        _ = try await engine.start(
            workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: "long", actor: "olivia")
        _ = try await engine.claim(taskId: "long-t1", user: "alice", roles: ["customer_admin"])
        let blocker = try fixture.database.connect()
        try blocker.execute("BEGIN")
        try TaskQueue.lockStream(on: blocker, "long")
        defer { _ = try? blocker.execute("ROLLBACK") }
        let before = try await fixture.version("long")
        let error = await #expect(throws: EngineError.self) {
            _ = try await engine.complete(
                taskId: "long-t1", user: "alice", outputs: ["client_id": .string(String(repeating: "x\n", count: 300))],
                checklist: ["client-synced", "client-listed"])
        }
        #expect(error?.code == .invalidOutputs, "\(String(describing: error))")
        #expect(error?.message.contains("client_id: must be a single line") == true)
        #expect(try await fixture.version("long") == before)
    }
}

/// Random values: deep, wide, with extreme numbers and every awkward kind of text.
private enum RandomValue {
    static func make(depth: Int = 0, using generator: inout SeededGenerator) -> Value {
        let texts = [
            "plain", "", "  ", "tab\there", "line\nbreak", "\u{1B}[31mred", "\u{0}", "right\u{202E}left", "zero\u{200B}",
            "\u{FFFD}", "é日本😀", "quote\"back\\slash", "<script>alert(1)</script>", String(repeating: "x", count: 300),
        ]
        switch Int.random(in: 0..<(depth > 70 ? 4 : 7), using: &generator) {
        case 0: return .string(texts.randomElement(using: &generator) ?? "")
        case 1: return .integer([0, 1, -1, Int.max, Int.min].randomElement(using: &generator) ?? 0)
        case 2: return .number([0.1, -2.5, 1e300, Double.leastNonzeroMagnitude].randomElement(using: &generator) ?? 0.5)
        case 3: return [.boolean(true), .null].randomElement(using: &generator) ?? .null
        case 4, 5: return .list((0..<Int.random(in: 1...2, using: &generator)).map { _ in make(depth: depth + 1, using: &generator) })
        default:
            let key = texts.randomElement(using: &generator) ?? "k"
            return .object([key: make(depth: depth + 1, using: &generator)])
        }
    }
}

@Suite("Random values through every write command")
struct RandomWriteTests {
    /// Each write either is refused with a code and changes nothing, or is accepted and then read by every read
    /// path: the onboarding, its tasks, its history, a replay, a rebuild and verify.
    @Test func randomValuesAreRefusedWithACodeOrReadBackByEveryReadPath() async throws {
        let fixture = try await Fixture.make()
        let engine = fixture.engine
        var generator = SeededGenerator(seed: 0xC0FF_EE15)
        var accepted = 0
        var refused = 0
        for round in 0..<60 {
            let value = RandomValue.make(using: &generator)
            let id = "rand\(round)"
            let write: () async throws(EngineError) -> Void
            switch round % 3 {
            case 0:
                write = { () async throws(EngineError) -> Void in
                    _ = try await engine.start(
                        workflow: "mail-send", inputs: ["company": value, "path": "standard"], id: id, actor: "sam")
                }
            case 1:
                try await waitingForTheContract(engine, id: id)
                write = { () async throws(EngineError) -> Void in
                    _ = try await engine.signal(onboardingId: id, name: "contract-signed", data: value, actor: "pat")
                }
            default:
                _ = try await engine.start(
                    workflow: "mail-send", inputs: ["company": "Contoso", "path": "standard"], id: id, actor: "sam")
                _ = try await engine.claim(taskId: "\(id)-t1", user: "alice", roles: ["customer_admin"])
                write = { () async throws(EngineError) -> Void in
                    _ = try await engine.complete(
                        taskId: "\(id)-t1", user: "alice", outputs: ["client_id": value],
                        checklist: ["client-synced", "client-listed"])
                }
            }
            let before = try await fixture.version(id)
            do {
                try await write()
                accepted += 1
                _ = try await engine.onboarding(id)
                _ = try await engine.tasks(TaskQuery(onboardingId: id))
                let history = try await engine.history(id)
                _ = try await engine.replay(id, at: .version(Int64(history.count)))
            } catch {
                refused += 1
                #expect(["invalid_input", "invalid_outputs"].contains(error.code.rawValue), "\(error)")
                #expect(try await fixture.version(id) == before, "a refused write wrote something")
            }
        }
        #expect(accepted > 5 && refused > 5, "accepted \(accepted), refused \(refused)")
        #expect(try await engine.rebuildProjections().problems == [])
        try await fixture.expectInvariants()
    }
}
