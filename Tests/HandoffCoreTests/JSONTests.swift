import Foundation
import HandoffCore
import HandoffJSON
import Testing
import Timestamps

/// The hand-written JSON paths, checked against Foundation's coders: the stored form of events must stay exactly
/// what `JSONEncoder` wrote for them, and reading must give what `JSONDecoder` gave.
@Suite("JSON written and read by hand")
struct JSONTests {
    static let foundationEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.format(date))
        }
        return encoder
    }()

    /// The event's payload as `JSONEncoder` writes it (the payload is the enum case's one associated value).
    static func foundationEncoded(_ event: OnboardingEvent) throws -> String {
        let payload = try #require(Mirror(reflecting: event).children.first?.value as? any Encodable)
        return String(decoding: try foundationEncoder.encode(payload), as: UTF8.self)
    }

    @Test(arguments: ["mail-send", "partner-go-live"])
    func eventsAreStoredExactlyAsJSONEncoderWroteThem(workflow: String) throws {
        let definition = try loadWorkflow(workflow)
        var checked = 0
        for seed in PropertyTests.seeds.prefix(40) {
            var random = SplitMix64(seed: seed)
            for event in try PropertyTests.randomEvents(definition, random: &random, seed: seed) {
                let (type, data) = try event.encoded()
                let foundation = try Self.foundationEncoded(event)
                #expect(String(decoding: data, as: UTF8.self) == foundation, "seed \(seed): \(type)")
                // What older builds stored reads back as the same event.
                #expect(
                    try OnboardingEvent.decode(type: type, schemaVersion: 1, data: Data(foundation.utf8)) == event)
                checked += 1
            }
        }
        #expect(checked > 1_000)
    }

    @Test func everyPayloadFieldIsWrittenAndRead() throws {
        let time = Date(timeIntervalSince1970: 1_790_000_000.25)
        let events: [OnboardingEvent] = [
            .decisionMade(DecisionMade(path: "p", step: "s", branch: 2, next: "n")),
            .decisionMade(DecisionMade(path: "p", step: "s", branch: nil, next: "n")),
            .signalReceived(SignalReceived(path: "w", signal: "go", data: ["k": [1, 2.5, nil, "x\"\\\n/é😀"]])),
            .signalReceived(SignalReceived(path: "w", signal: "go", data: nil)),
            .timerScheduled(TimerScheduled(timerId: "t1", path: "p", dueAt: time, purpose: "timeout")),
            .timerFired(TimerFired(timerId: "t1", path: "p")),
            .timerCancelled(TimerCancelled(timerId: "t1", path: "p")),
            .failed(OnboardingFailed(path: nil, reason: "r")),
            .failed(OnboardingFailed(path: "p", reason: "r")),
            .cancelled(OnboardingCancelled(user: "u", reason: "r")),
            .taskCancelled(TaskCancelled(taskId: "t", reason: "ended")),
            .taskOpened(
                TaskOpened(
                    taskId: "t", path: "p", step: "s", role: "r", title: "T", instructions: "**do** it\u{1}",
                    checklist: [ChecklistItem(id: "a", text: "A")],
                    outputs: [
                        OutputField(
                            name: "kind", type: .enum, required: false, title: "Kind", values: ["x", "y"],
                            pattern: "^[a-z]+$", default: "x"),
                        OutputField(name: "n", type: .integer, required: true, default: 3),
                    ],
                    dueAt: time, createdAt: time)),
        ]
        for event in events {
            let (type, data) = try event.encoded()
            #expect(String(decoding: data, as: UTF8.self) == (try Self.foundationEncoded(event)))
            #expect(try OnboardingEvent.decode(type: type, schemaVersion: 1, data: data) == event)
        }
    }

    @Test func badPayloadsNameTheField() {
        func reason(_ type: String, _ json: String) -> String? {
            do {
                _ = try OnboardingEvent.decode(type: type, schemaVersion: 1, data: Data(json.utf8))
                return nil
            } catch {
                return error.reason
            }
        }
        #expect(reason("TaskClaimed", #"{"taskId":"t","assignee":null}"#)
            == "has data that does not fit: missing field 'assignee'")
        #expect(reason("TaskClaimed", #"{"taskId":"t","assignee":7}"#)
            == "has data that does not fit: wrong type at 'assignee'")
        #expect(reason("TaskOpened", #"{"taskId":"t","path":"p","step":"s","role":"r","title":"T","instructions":"","checklist":[],"outputs":[{"name":"n","type":"upn"}],"createdAt":"2026-01-01T00:00:00.000Z"}"#)
            == "has data that does not fit: missing field 'outputs.0.required'")
        #expect(reason("TimerFired", "[1]") == "has data that does not fit: not a JSON object")
        #expect(reason("TimerFired", #"{"timerId":"#)?.hasPrefix("has data that is not JSON: ") == true)
        #expect(reason("TimerScheduled", #"{"timerId":"t","path":"p","purpose":"x","dueAt":"soon"}"#)
            == "has data that does not fit: 'soon' is not an ISO 8601 time")
    }

    // MARK: Values

    static let parseCases = [
        "0", "-0", "7", "-12", "3.0", "2.5", "-1.25e-3", "1e2", "1E+2", "9223372036854775807", "1e300",
        "-9223372036854775808", "0.1", "true", "false", "null", #""""#, #""a\"b\\c\/d\n\t\r\b\f""#,
        #""\u00e9\u0001\ud83d\ude00""#, #""é😀 plain""#, "[]", "{}", #" { "a" : [ 1 , { "b" : null } ] } "#,
        #"[[[["deep"]]]]"#,
    ]

    @Test(arguments: parseCases)
    func parsingGivesWhatJSONDecoderGives(json: String) throws {
        let foundation = try JSONDecoder().decode(Value.self, from: Data(json.utf8))
        #expect(try Value(parsing: json) == foundation)
        #expect(try Value(parsing: Data(json.utf8)) == foundation)
    }

    @Test func aRepeatedKeyKeepsTheLastValueAsJSONBDoes() throws {
        #expect(try Value(parsing: #"{"a":1,"a":2}"#) == ["a": 2])
    }

    static let badJSON = [
        "", " ", "tru", "nul", "01", "1.", ".5", "-", "1e", "+1", #""unterminated"#, #""bad \x escape""#,
        "\"raw \u{1} control\"", #""\ud83d alone""#, #""\ude00 alone""#, "[1,]", "[1 2]", #"{"a" 1}"#, #"{a:1}"#,
        #"{"a":1,}"#, "[1] [2]", String(repeating: "[", count: 600) + String(repeating: "]", count: 600),
    ]

    @Test(arguments: badJSON)
    func badJSONIsASyntaxError(json: String) {
        #expect(throws: JSONSyntaxError.self) { try Value(parsing: json) }
    }

    @Test func randomValuesSurviveWritingAndParsing() throws {
        var random = SplitMix64(seed: 7)
        for _ in 0..<500 {
            let value = Self.randomValue(depth: 0, &random)
            let text = value.jsonText
            #expect(try Value(parsing: text) == value, "\(text)")
            #expect(try JSONDecoder().decode(Value.self, from: Data(text.utf8)) == value, "\(text)")
        }
    }

    static func randomValue(depth: Int, _ random: inout SplitMix64) -> Value {
        let alphabet = Array("aé\"\\/\n\t\u{1}\u{7f} 😀z")
        switch Int.random(in: 0..<(depth < 3 ? 8 : 6), using: &random) {
        case 0: return .null
        case 1: return .boolean(Bool.random(using: &random))
        case 2: return .integer(Int.random(in: Int.min...Int.max, using: &random))
        case 3: return .number(Double(Int.random(in: -1_000_000...1_000_000, using: &random)) + 1.0 / 128)
        case 4, 5:
            let length = Int.random(in: 0..<8, using: &random)
            return .string(String((0..<length).map { _ in alphabet.randomElement(using: &random)! }))
        case 6: return .list((0..<Int.random(in: 0..<4, using: &random)).map { _ in randomValue(depth: depth + 1, &random) })
        default:
            return .object(
                Dictionary(
                    (0..<Int.random(in: 0..<4, using: &random)).map { index in
                        ("k\(index)\(alphabet.randomElement(using: &random)!)", randomValue(depth: depth + 1, &random))
                    }, uniquingKeysWith: { first, _ in first }))
        }
    }

    // MARK: The writer

    @Test func writerNestsAndEscapes() {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("a\"")
        writer.beginArray()
        writer.integer(1)
        writer.number(2.5)
        writer.number(3)
        writer.number(.nan)
        writer.boolean(false)
        writer.null()
        writer.string(nil)
        writer.beginObject()
        writer.endObject()
        writer.beginArray()
        writer.endArray()
        writer.endArray()
        writer.key("b")
        writer.raw(#"{"c":[]}"#)
        writer.key("s")
        writer.string("tab\there \u{1f} \\ / é")
        writer.endObject()
        #expect(writer.text == #"{"a\"":[1,2.5,3,null,false,null,null,{},[]],"b":{"c":[]},"s":"tab\there \u001f \\ / é"}"#)
        #expect(JSONWriter.quoted("plain") == #""plain""#)
    }

    // MARK: Times

    @Test func timesAreWrittenAndReadLikeFoundation() throws {
        var random = SplitMix64(seed: 11)
        // Foundation's styles use the Julian calendar before 1582, so the comparison stays in Gregorian years.
        let style = Date.ISO8601FormatStyle(timeZone: .gmt)
        for _ in 0..<2_000 {
            let seconds = Int64.random(in: -11_000_000_000...250_000_000_000, using: &random)
            let milliseconds = Int64.random(in: 0..<1_000, using: &random)
            let date = Date(timeIntervalSince1970: Double(seconds) + Double(milliseconds) / 1000)
            let text = Timestamp.format(date)
            let fraction = String(milliseconds + 1_000).dropFirst()
            let whole = Date(timeIntervalSince1970: Double(seconds)).formatted(style)
            #expect(text == whole.dropLast() + "." + fraction + "Z", "\(seconds).\(milliseconds)")
            #expect(Timestamp.parse(text) == Timestamp.normalized(date), "\(text)")
        }
        #expect(Timestamp.parse("2026-09-21T16:13:20.5+02:00") == Date(timeIntervalSince1970: 1_790_000_000.5))
        #expect(Timestamp.parse(" 2026-09-21T14:13:20Z ") == Date(timeIntervalSince1970: 1_790_000_000))
        #expect(Timestamp.parse("2026-09-21") == Date(timeIntervalSince1970: 1_790_000_000 - 51_200))
        #expect(Timestamp.parse("2026-09-21T15:13:20+0100") == Date(timeIntervalSince1970: 1_790_000_000))
        for bad in ["2026-13-01T00:00:00Z", "2026-09-21T14:13:20.Z", "2026-09-21T14:13:20Zjunk", "2026-09-21T25:00:00Z"] {
            #expect(Timestamp.parse(bad) == nil, "\(bad)")
        }
    }
}
