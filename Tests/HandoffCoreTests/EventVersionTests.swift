import Foundation
import HandoffCore
import Testing

/// One stored event as some build of Handoff wrote it.
struct StoredEvent: Sendable {
    var type: String
    var schemaVersion: Int
    var data: String

    init(_ type: String, _ schemaVersion: Int, _ data: String) {
        self.type = type
        self.schemaVersion = schemaVersion
        self.data = data
    }
}

@Suite("Event schema versions and upcasters")
struct EventVersionTests {
    /// Every version of every event type ever written, as it was stored. Never change an entry: add one when a
    /// type's version is bumped (with its upcaster), and this suite checks that every old form still reads.
    static let written: [StoredEvent] = [
        StoredEvent("OnboardingStarted", 1, #"{"contentHash":"x","inputs":{},"onboardingId":"ob-t1","workflowId":"ob-t1","workflowVersion":1}"#),
        StoredEvent("StepEntered", 1, #"{"kind":"x","path":"x","step":"x"}"#),
        StoredEvent("StepSkipped", 1, #"{"path":"x","step":"x"}"#),
        StoredEvent("StepCompleted", 1, #"{"outputs":{},"path":"x","step":"x"}"#),
        StoredEvent("DecisionMade", 1, #"{"branch":1,"next":"x","path":"x","step":"x"}"#),
        StoredEvent("BlockStarted", 1, #"{"block":"x","params":{},"path":"x","step":"x"}"#),
        StoredEvent("BranchCompleted", 1, #"{"branch":"x","path":"x","step":"x"}"#),
        StoredEvent("TaskOpened", 1, #"{"checklist":[{"id":"c","text":"C"}],"createdAt":"2026-09-21T14:13:20.500Z","dueAt":"2026-09-23T14:13:20.500Z","instructions":"","outputs":[{"name":"n","required":true,"type":"upn"}],"path":"a","role":"admin","step":"a","taskId":"ob-t1","title":"A"}"#),
        StoredEvent("TaskClaimed", 1, #"{"assignee":"x","taskId":"ob-t1"}"#),
        StoredEvent("TaskReleased", 1, #"{"assignee":"x","reason":"x","releasedBy":"x","taskId":"ob-t1"}"#),
        StoredEvent("TaskCompleted", 1, #"{"checklist":[],"outputs":{},"taskId":"ob-t1","user":"x"}"#),
        StoredEvent("TaskCancelled", 1, #"{"reason":"x","taskId":"ob-t1"}"#),
        StoredEvent("TaskOverdue", 1, #"{"dueAt":"2026-09-21T14:13:20.500Z","taskId":"ob-t1"}"#),
        StoredEvent("TaskReminded", 1, #"{"assignee":"x","role":"x","taskId":"ob-t1","when":"x"}"#),
        StoredEvent("TaskEscalated", 1, #"{"from":"x","mode":"x","role":"x","taskId":"ob-t1"}"#),
        StoredEvent("VariablesSet", 1, #"{"path":"global-admin-consent/record","variables":{"Mail_Send_Mode":"Client"}}"#),
        StoredEvent("VariablesSet", 2, #"{"path":"global-admin-consent/record","step":"record","variables":{"Mail_Send_Mode":"Client"}}"#),
        StoredEvent("SignalReceived", 1, #"{"data":{"a":1},"path":"x","signal":"x"}"#),
        StoredEvent("RoleNotified", 1, #"{"message":"x","path":"x","role":"x","step":"x"}"#),
        StoredEvent("CallRequested", 1, #"{"arguments":{},"callId":"ob-t1","endpoint":"x","path":"x","step":"x"}"#),
        StoredEvent("CallAnswered", 1, #"{"attempts":1,"callId":"ob-t1","outputs":{},"path":"x"}"#),
        StoredEvent("CallFailed", 1, #"{"attempts":1,"callId":"ob-t1","path":"x","reason":"x"}"#),
        StoredEvent("TimerScheduled", 1, #"{"dueAt":"2026-09-21T14:13:20.500Z","path":"x","purpose":"x","timerId":"ob-t1"}"#),
        StoredEvent("TimerFired", 1, #"{"path":"x","timerId":"ob-timer1"}"#),
        StoredEvent("TimerCancelled", 1, #"{"path":"x","timerId":"ob-timer1"}"#),
        StoredEvent("OnboardingCompleted", 1, #"{"path":"x"}"#),
        StoredEvent("OnboardingCancelled", 1, #"{"reason":"x","user":"x"}"#),
        StoredEvent("OnboardingFailed", 1, #"{"path":"x","reason":"x"}"#),
        StoredEvent("OnboardingUpgraded", 1, #"{"contentHash":"x","fromContentHash":"x","fromVersion":1,"workflowVersion":1}"#),
    ]

    @Test func theFixtureHoldsEveryVersionOfEveryTypeAndEachReads() throws {
        for type in OnboardingEvent.typeNames {
            let current = try #require(OnboardingEvent.schemaVersions[type])
            let versions = Set(Self.written.filter { $0.type == type }.map(\.schemaVersion))
            #expect(versions == Set(1...current), "\(type): the fixture has versions \(versions.sorted()) of 1...\(current)")
        }
        for stored in Self.written {
            let event = try OnboardingEvent.decode(type: stored.type, schemaVersion: stored.schemaVersion, json: stored.data)
            #expect(event.type == stored.type)
            // Read in the current shape, and written in it.
            #expect(event.schemaVersion == OnboardingEvent.schemaVersions[stored.type])
            let (_, data) = try event.encoded()
            #expect(try OnboardingEvent.decode(type: stored.type, schemaVersion: event.schemaVersion, data: data) == event)
        }
    }

    @Test func aVersionOneVariablesSetReadsAsVersionTwo() throws {
        let v1 = try OnboardingEvent.decode(
            type: "VariablesSet", schemaVersion: 1,
            json: #"{"path":"global-admin-consent/record","variables":{"Mail_Send_Mode":"Client"}}"#)
        #expect(v1 == .variablesSet(VariablesSet(
            path: "global-admin-consent/record", step: "record", variables: ["Mail_Send_Mode": "Client"])))
        #expect(String(decoding: try v1.encoded().data, as: UTF8.self)
            == #"{"path":"global-admin-consent/record","step":"record","variables":{"Mail_Send_Mode":"Client"}}"#)
        // Showing an old event shows it as it reads today.
        let shown = OnboardingEvent.upcast(
            type: "VariablesSet", schemaVersion: 1, data: .object(["path": "top", "variables": .object([:])]))
        #expect(shown == .object(["path": "top", "step": "top", "variables": .object([:])]))
        #expect(throws: EventCodingError(type: "VariablesSet", reason: "has schema version 3; this build reads versions 1 to 2")) {
            try OnboardingEvent.decode(type: "VariablesSet", schemaVersion: 3, json: "{}")
        }
        #expect(throws: EventCodingError(type: "VariablesSet", reason: "has data that does not fit: missing field 'path'")) {
            try OnboardingEvent.decode(type: "VariablesSet", schemaVersion: 1, json: #"{"variables":{}}"#)
        }
    }

    @Test func aStreamMixingVersionsFoldsToTheSameState() throws {
        let definition = try loadWorkflow("mail-send")
        var harness = Harness(definition)
        try harness.run(.start(onboardingId: "ob", inputs: ["company": "Contoso", "path": "mail_send_only"]))
        try harness.completeEveryTask()
        // Store every VariablesSet as version 1 wrote it (without `step`), the rest as today.
        var mixed: [OnboardingEvent] = []
        var old = 0
        for event in harness.events {
            let (type, data) = try event.encoded()
            guard case .variablesSet = event, case .object(var members) = try Value(parsing: data) else {
                mixed.append(try OnboardingEvent.decode(type: type, schemaVersion: event.schemaVersion, data: data))
                continue
            }
            members["step"] = nil
            old += 1
            mixed.append(try OnboardingEvent.decode(type: type, schemaVersion: 1, json: Value.object(members).jsonText))
        }
        #expect(old > 0)
        #expect(mixed == harness.events)
        #expect(harness.interpreter.replay(mixed) == harness.state)
    }
}
