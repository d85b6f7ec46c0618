import Foundation
import HandoffCore
import Testing
import Timestamps

@Suite("Events as stored: type, schema version, JSON data")
struct EventCodingTests {
    @Test func everyEventOfASeedRunSurvivesTheStore() throws {
        let definition = try loadWorkflow("mail-send")
        var harness = Harness(definition)
        harness.now = Date(timeIntervalSince1970: 1_790_000_000.123_456)
        try harness.run(.start(onboardingId: "ob", inputs: ["company": "Contoso", "path": "mail_send_only"]))
        try harness.completeEveryTask()
        var decoded: [OnboardingEvent] = []
        for event in harness.events {
            let (type, data) = try event.encoded()
            #expect(type == event.type)
            #expect(OnboardingEvent.typeNames.contains(type))
            #expect(try JSONSerialization.jsonObject(with: data) is [String: Any])
            decoded.append(
                try OnboardingEvent.decode(type: type, schemaVersion: event.schemaVersion, data: data))
        }
        #expect(decoded == harness.events)
        #expect(harness.interpreter.replay(decoded) == harness.state)
    }

    @Test func storedFormIsPlainJSON() throws {
        let event = OnboardingEvent.taskOpened(
            TaskOpened(
                taskId: "ob-t1", path: "a", step: "a", role: "admin", title: "A", instructions: "", checklist: [],
                outputs: [OutputField(name: "n", type: .upn, required: true)], dueAt: nil,
                createdAt: Date(timeIntervalSince1970: 1_790_000_000.5)))
        let (type, data) = try event.encoded()
        #expect(type == "TaskOpened")
        #expect(
            String(decoding: data, as: UTF8.self)
                == #"{"checklist":[],"createdAt":"2026-09-21T14:13:20.500Z","instructions":"","outputs":[{"name":"n","required":true,"type":"upn"}],"path":"a","role":"admin","step":"a","taskId":"ob-t1","title":"A"}"#
        )
    }

    @Test func unknownTypesAndBadDataAreTypedErrors() {
        #expect(throws: EventCodingError(type: "TaskExploded", reason: "is not a known event type")) {
            try OnboardingEvent.decode(type: "TaskExploded", schemaVersion: 1, data: Data("{}".utf8))
        }
        #expect(
            throws: EventCodingError(
                type: "TaskClaimed", reason: "has data that does not fit: missing field 'assignee'")
        ) {
            try OnboardingEvent.decode(type: "TaskClaimed", schemaVersion: 1, data: Data(#"{"taskId":"t"}"#.utf8))
        }
        #expect(
            throws: EventCodingError(type: "TaskClaimed", reason: "has schema version 9; this build reads versions 1 to 1")
        ) {
            try OnboardingEvent.decode(type: "TaskClaimed", schemaVersion: 9, data: Data("{}".utf8))
        }
    }

    @Test func valuesAreJSON() throws {
        let value: Value = ["a": [1, 2.5, "x", true, nil], "b": ["c": "d"]]
        let data = try JSONEncoder().encode(value)
        #expect(try JSONDecoder().decode(Value.self, from: data) == value)
        #expect(value.jsonText == #"{"a":[1,2.5,"x",true,null],"b":{"c":"d"}}"#)
    }

    @Test func timestampsKeepMilliseconds() {
        let date = Date(timeIntervalSince1970: 1_790_000_000.123_456)
        #expect(Timestamp.format(date) == "2026-09-21T14:13:20.123Z")
        #expect(Timestamp.parse("2026-09-21T14:13:20.123Z") == Timestamp.normalized(date))
        #expect(Timestamp.parse("2026-09-21T14:13:20Z") == Date(timeIntervalSince1970: 1_790_000_000))
        #expect(Timestamp.parse("next tuesday") == nil)
    }
}
