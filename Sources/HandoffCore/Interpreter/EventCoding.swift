import Foundation
import HandoffJSON
import Timestamps

// Events to and from their stored form, written and read by hand: every command encodes the events it decides and
// every replay, write and rebuild decodes the events it folds, and `JSONEncoder` and `JSONDecoder` were most of
// that time. The payloads stay `Codable` (synthesized) for callers that want them in other documents; the stored
// form is exactly what `JSONEncoder` with sorted keys writes for them, which the tests check.

extension OnboardingEvent {
    /// The event as stored: its type name and its payload as a JSON object (keys sorted, nil fields left out,
    /// times as ISO 8601 text).
    public func encoded() throws(EventCodingError) -> (type: String, data: Data) {
        var writer = JSONWriter()
        payload.write(to: &writer)
        return (type, Data(writer.text.utf8))
    }

    /// Rebuilds an event from its stored form.
    ///
    /// Throws `EventCodingError` for an unknown type, a schema version this code does not know, or data that
    /// does not fit the type's payload.
    public static func decode(
        type: String, schemaVersion: Int, data: Data
    ) throws(EventCodingError) -> OnboardingEvent {
        try decode(type: type, schemaVersion: schemaVersion) { () throws(JSONSyntaxError) in try Value(parsing: data) }
    }

    /// Rebuilds an event from its stored form, the data as JSON text (as PostgreSQL returns it).
    public static func decode(
        type: String, schemaVersion: Int, json: String
    ) throws(EventCodingError) -> OnboardingEvent {
        try decode(type: type, schemaVersion: schemaVersion) { () throws(JSONSyntaxError) in try Value(parsing: json) }
    }

    private static func decode(
        type: String, schemaVersion: Int, parse: () throws(JSONSyntaxError) -> Value
    ) throws(EventCodingError) -> OnboardingEvent {
        guard let kind = payloadTypes[type] else {
            throw EventCodingError(type: type, reason: "is not a known event type")
        }
        guard (1...kind.schemaVersion).contains(schemaVersion) else {
            throw EventCodingError(
                type: type,
                reason: "has schema version \(schemaVersion); this build reads versions 1 to \(kind.schemaVersion)")
        }
        let value: Value
        do {
            value = try parse()
        } catch {
            throw EventCodingError(type: type, reason: "has data that is not JSON: \(error)")
        }
        guard case .object(let stored) = value else {
            throw EventCodingError(type: type, reason: "has data that does not fit: not a JSON object")
        }
        let members = try upcast(type: type, from: schemaVersion, stored)
        return try kind.read(Fields(members, type: type, path: ""))
    }

    /// Turns a stored payload of an older schema version into the current version's shape, one version at a
    /// time; the current version comes back as it is.
    ///
    /// Each entry of `upcasters` reads version N of a type and writes version N + 1. When a payload's shape
    /// changes, bump its `schemaVersion`, add the upcaster from the version before, and add a stored event of the
    /// old version to the fixture of every version ever written (`Tests/HandoffCoreTests/EventVersionTests.swift`).
    static func upcast(
        type: String, from schemaVersion: Int, _ members: [String: Value]
    ) throws(EventCodingError) -> [String: Value] {
        guard let kind = payloadTypes[type], schemaVersion < kind.schemaVersion else { return members }
        var members = members
        for version in schemaVersion..<kind.schemaVersion {
            guard let upcaster = upcasters[Upcaster(type: type, from: version)] else {
                throw EventCodingError(type: type, reason: "has schema version \(version), which no upcaster reads")
            }
            members = try upcaster(members, Fields(members, type: type, path: ""))
        }
        return members
    }

    /// A stored payload in the current version's shape (for showing old events as they read today); data that
    /// is not an object of a known type comes back unchanged.
    public static func upcast(type: String, schemaVersion: Int, data: Value) -> Value {
        guard case .object(let members) = data, let upcast = try? upcast(type: type, from: schemaVersion, members)
        else { return data }
        return .object(upcast)
    }

    private struct Upcaster: Hashable {
        var type: String
        var from: Int
    }

    /// Every upcaster: one per type and older version.
    private static let upcasters: [Upcaster: @Sendable ([String: Value], Fields) throws(EventCodingError) -> [String: Value]] = [
        // VariablesSet 2 names the `set` step beside its path, as the step events do: the path's last part.
        Upcaster(type: VariablesSet.typeName, from: 1): { members, fields throws(EventCodingError) in
            var members = members
            let path = try fields.string("path")
            members["step"] = .string(path.split(separator: "/").last.map(String.init) ?? path)
            return members
        },
    ]
}

/// One JSON object of a stored payload, read field by field; errors name the field.
struct Fields {
    private let members: [String: Value]
    private let type: String
    /// Where this object sits in the payload (`outputs.0.`), for messages.
    private let path: String

    init(_ members: [String: Value], type: String, path: String) {
        self.members = members
        self.type = type
        self.path = path
    }

    private func missing(_ key: String) -> EventCodingError {
        EventCodingError(type: type, reason: "has data that does not fit: missing field '\(path)\(key)'")
    }

    private func wrongType(_ key: String) -> EventCodingError {
        EventCodingError(type: type, reason: "has data that does not fit: wrong type at '\(path)\(key)'")
    }

    /// The field's value, nil when it is absent or null.
    private func optional(_ key: String) -> Value? {
        guard let value = members[key], !value.isNull else { return nil }
        return value
    }

    private func required(_ key: String) throws(EventCodingError) -> Value {
        guard let value = optional(key) else { throw missing(key) }
        return value
    }

    func string(_ key: String) throws(EventCodingError) -> String {
        guard case .string(let string) = try required(key) else { throw wrongType(key) }
        return string
    }

    func optionalString(_ key: String) throws(EventCodingError) -> String? {
        guard let value = optional(key) else { return nil }
        guard case .string(let string) = value else { throw wrongType(key) }
        return string
    }

    func integer(_ key: String) throws(EventCodingError) -> Int {
        guard let integer = try optionalInteger(key) else { throw missing(key) }
        return integer
    }

    func optionalInteger(_ key: String) throws(EventCodingError) -> Int? {
        guard let value = optional(key) else { return nil }
        guard case .integer(let integer) = value else { throw wrongType(key) }
        return integer
    }

    func boolean(_ key: String) throws(EventCodingError) -> Bool {
        guard case .boolean(let boolean) = try required(key) else { throw wrongType(key) }
        return boolean
    }

    /// Any JSON value; null is a value here, only an absent field is missing.
    func value(_ key: String) throws(EventCodingError) -> Value {
        guard let value = members[key] else { throw missing(key) }
        return value
    }

    func optionalValue(_ key: String) -> Value? {
        optional(key)
    }

    func values(_ key: String) throws(EventCodingError) -> [String: Value] {
        guard case .object(let members) = try required(key) else { throw wrongType(key) }
        return members
    }

    func date(_ key: String) throws(EventCodingError) -> Date {
        guard let date = try optionalDate(key) else { throw missing(key) }
        return date
    }

    func optionalDate(_ key: String) throws(EventCodingError) -> Date? {
        guard let text = try optionalString(key) else { return nil }
        guard let date = Timestamp.parse(text) else {
            throw EventCodingError(type: type, reason: "has data that does not fit: '\(text)' is not an ISO 8601 time")
        }
        return date
    }

    func strings(_ key: String) throws(EventCodingError) -> [String] {
        guard let strings = try optionalStrings(key) else { throw missing(key) }
        return strings
    }

    func optionalStrings(_ key: String) throws(EventCodingError) -> [String]? {
        guard let value = optional(key) else { return nil }
        guard case .list(let items) = value else { throw wrongType(key) }
        var strings: [String] = []
        strings.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            guard case .string(let string) = item else { throw wrongType("\(key).\(index)") }
            strings.append(string)
        }
        return strings
    }

    /// A list of objects, each read with `element`.
    func objects<Element>(_ key: String, _ element: (Fields) throws(EventCodingError) -> Element)
        throws(EventCodingError) -> [Element]
    {
        guard case .list(let items) = try required(key) else { throw wrongType(key) }
        var elements: [Element] = []
        elements.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            guard case .object(let members) = item else { throw wrongType("\(key).\(index)") }
            elements.append(try element(Fields(members, type: type, path: "\(path)\(key).\(index).")))
        }
        return elements
    }
}

// MARK: - Payloads, field by field (keys in sorted order)

extension OnboardingStarted: EventPayload {
    static let typeName = "OnboardingStarted"
    var event: OnboardingEvent { .started(self) }
    public var summary: String { "\(workflowId) v\(workflowVersion): \(Self.pairs(inputs))" }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(
            onboardingId: try fields.string("onboardingId"), workflowId: try fields.string("workflowId"),
            workflowVersion: try fields.integer("workflowVersion"), contentHash: try fields.string("contentHash"),
            inputs: try fields.values("inputs"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("contentHash"); writer.string(contentHash)
        writer.key("inputs"); Value.write(inputs, to: &writer)
        writer.key("onboardingId"); writer.string(onboardingId)
        writer.key("workflowId"); writer.string(workflowId)
        writer.key("workflowVersion"); writer.integer(workflowVersion)
        writer.endObject()
    }
}

extension StepEntered: EventPayload {
    static let typeName = "StepEntered"
    var event: OnboardingEvent { .stepEntered(self) }
    public var summary: String { "\(path) (\(kind))" }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(path: try fields.string("path"), step: try fields.string("step"), kind: try fields.string("kind"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("kind"); writer.string(kind)
        writer.key("path"); writer.string(path)
        writer.key("step"); writer.string(step)
        writer.endObject()
    }
}

extension StepSkipped: EventPayload {
    static let typeName = "StepSkipped"
    var event: OnboardingEvent { .stepSkipped(self) }
    public var summary: String { path }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(path: try fields.string("path"), step: try fields.string("step"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("path"); writer.string(path)
        writer.key("step"); writer.string(step)
        writer.endObject()
    }
}

extension StepCompleted: EventPayload {
    static let typeName = "StepCompleted"
    var event: OnboardingEvent { .stepCompleted(self) }
    public var summary: String { path }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(path: try fields.string("path"), step: try fields.string("step"), outputs: try fields.values("outputs"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("outputs"); Value.write(outputs, to: &writer)
        writer.key("path"); writer.string(path)
        writer.key("step"); writer.string(step)
        writer.endObject()
    }
}

extension DecisionMade: EventPayload {
    static let typeName = "DecisionMade"
    var event: OnboardingEvent { .decisionMade(self) }
    public var summary: String { "\(path) → \(next)" }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(
            path: try fields.string("path"), step: try fields.string("step"),
            branch: try fields.optionalInteger("branch"), next: try fields.string("next"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        if let branch {
            writer.key("branch"); writer.integer(branch)
        }
        writer.key("next"); writer.string(next)
        writer.key("path"); writer.string(path)
        writer.key("step"); writer.string(step)
        writer.endObject()
    }
}

extension BlockStarted: EventPayload {
    static let typeName = "BlockStarted"
    var event: OnboardingEvent { .blockStarted(self) }
    public var summary: String { "\(path) runs \(block)" }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(
            path: try fields.string("path"), step: try fields.string("step"), block: try fields.string("block"),
            params: try fields.values("params"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("block"); writer.string(block)
        writer.key("params"); Value.write(params, to: &writer)
        writer.key("path"); writer.string(path)
        writer.key("step"); writer.string(step)
        writer.endObject()
    }
}

extension BranchCompleted: EventPayload {
    static let typeName = "BranchCompleted"
    var event: OnboardingEvent { .branchCompleted(self) }
    public var summary: String { "\(path) branch \(branch)" }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(path: try fields.string("path"), step: try fields.string("step"), branch: try fields.string("branch"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("branch"); writer.string(branch)
        writer.key("path"); writer.string(path)
        writer.key("step"); writer.string(step)
        writer.endObject()
    }
}

extension TaskOpened: EventPayload {
    static let typeName = "TaskOpened"
    var event: OnboardingEvent { .taskOpened(self) }
    public var summary: String { "\(taskId) for \(role): \(title)" }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(
            taskId: try fields.string("taskId"), path: try fields.string("path"), step: try fields.string("step"),
            role: try fields.string("role"), title: try fields.string("title"),
            instructions: try fields.string("instructions"), checklist: try fields.objects("checklist", ChecklistItem.init),
            outputs: try fields.objects("outputs", OutputField.init), dueAt: try fields.optionalDate("dueAt"),
            createdAt: try fields.date("createdAt"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("checklist")
        writer.beginArray()
        for item in checklist { item.write(to: &writer) }
        writer.endArray()
        writer.key("createdAt"); writer.string(Timestamp.format(createdAt))
        if let dueAt {
            writer.key("dueAt"); writer.string(Timestamp.format(dueAt))
        }
        writer.key("instructions"); writer.string(instructions)
        writer.key("outputs")
        writer.beginArray()
        for output in outputs { output.write(to: &writer) }
        writer.endArray()
        writer.key("path"); writer.string(path)
        writer.key("role"); writer.string(role)
        writer.key("step"); writer.string(step)
        writer.key("taskId"); writer.string(taskId)
        writer.key("title"); writer.string(title)
        writer.endObject()
    }
}

extension TaskClaimed: EventPayload {
    static let typeName = "TaskClaimed"
    var event: OnboardingEvent { .taskClaimed(self) }
    public var summary: String { "\(taskId) by \(assignee)" }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(taskId: try fields.string("taskId"), assignee: try fields.string("assignee"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("assignee"); writer.string(assignee)
        writer.key("taskId"); writer.string(taskId)
        writer.endObject()
    }
}

extension TaskReleased: EventPayload {
    static let typeName = "TaskReleased"
    var event: OnboardingEvent { .taskReleased(self) }
    public var summary: String { "\(taskId) by \(assignee)" }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(
            taskId: try fields.string("taskId"), assignee: try fields.string("assignee"),
            releasedBy: try fields.optionalString("releasedBy"), reason: try fields.optionalString("reason"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("assignee"); writer.string(assignee)
        if let reason {
            writer.key("reason"); writer.string(reason)
        }
        if let releasedBy {
            writer.key("releasedBy"); writer.string(releasedBy)
        }
        writer.key("taskId"); writer.string(taskId)
        writer.endObject()
    }
}

extension TaskOverdue: EventPayload {
    static let typeName = "TaskOverdue"
    var event: OnboardingEvent { .taskOverdue(self) }
    public var summary: String { "\(taskId) was due \(Timestamp.format(dueAt))" }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(taskId: try fields.string("taskId"), dueAt: try fields.date("dueAt"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("dueAt"); writer.string(Timestamp.format(dueAt))
        writer.key("taskId"); writer.string(taskId)
        writer.endObject()
    }
}

extension TaskReminded: EventPayload {
    static let typeName = "TaskReminded"
    var event: OnboardingEvent { .taskReminded(self) }
    public var summary: String { "\(taskId) (\(when) its due time) for \(assignee ?? role)" }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(
            taskId: try fields.string("taskId"), when: try fields.string("when"), role: try fields.string("role"),
            assignee: try fields.optionalString("assignee"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        if let assignee {
            writer.key("assignee"); writer.string(assignee)
        }
        writer.key("role"); writer.string(role)
        writer.key("taskId"); writer.string(taskId)
        writer.key("when"); writer.string(when)
        writer.endObject()
    }
}

extension TaskEscalated: EventPayload {
    static let typeName = "TaskEscalated"
    var event: OnboardingEvent { .taskEscalated(self) }
    public var summary: String { "\(taskId) from \(from) to \(role) (\(mode))" }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(
            taskId: try fields.string("taskId"), role: try fields.string("role"), mode: try fields.string("mode"),
            from: try fields.string("from"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("from"); writer.string(from)
        writer.key("mode"); writer.string(mode)
        writer.key("role"); writer.string(role)
        writer.key("taskId"); writer.string(taskId)
        writer.endObject()
    }
}

extension TaskCompleted: EventPayload {
    static let typeName = "TaskCompleted"
    var event: OnboardingEvent { .taskCompleted(self) }
    public var summary: String { "\(taskId) by \(user)" + (outputs.isEmpty ? "" : ": \(Self.pairs(outputs))") }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(
            taskId: try fields.string("taskId"), user: try fields.string("user"), outputs: try fields.values("outputs"),
            checklist: try fields.strings("checklist"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("checklist"); writer.strings(checklist)
        writer.key("outputs"); Value.write(outputs, to: &writer)
        writer.key("taskId"); writer.string(taskId)
        writer.key("user"); writer.string(user)
        writer.endObject()
    }
}

extension TaskCancelled: EventPayload {
    static let typeName = "TaskCancelled"
    var event: OnboardingEvent { .taskCancelled(self) }
    public var summary: String { "\(taskId): \(reason)" }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(taskId: try fields.string("taskId"), reason: try fields.string("reason"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("reason"); writer.string(reason)
        writer.key("taskId"); writer.string(taskId)
        writer.endObject()
    }
}

extension VariablesSet: EventPayload {
    static let typeName = "VariablesSet"
    /// 2 added `step`.
    static let schemaVersion = 2
    var event: OnboardingEvent { .variablesSet(self) }
    public var summary: String { Self.pairs(variables) }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(path: try fields.string("path"), step: try fields.string("step"), variables: try fields.values("variables"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("path"); writer.string(path)
        writer.key("step"); writer.string(step)
        writer.key("variables"); Value.write(variables, to: &writer)
        writer.endObject()
    }
}

extension SignalReceived: EventPayload {
    static let typeName = "SignalReceived"
    var event: OnboardingEvent { .signalReceived(self) }
    public var summary: String { "\(signal) at \(path)" }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(path: try fields.string("path"), signal: try fields.string("signal"), data: try fields.value("data"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("data"); data.write(to: &writer)
        writer.key("path"); writer.string(path)
        writer.key("signal"); writer.string(signal)
        writer.endObject()
    }
}

extension RoleNotified: EventPayload {
    static let typeName = "RoleNotified"
    var event: OnboardingEvent { .roleNotified(self) }
    public var summary: String { "\(role): \(message)" }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(
            path: try fields.string("path"), step: try fields.string("step"), role: try fields.string("role"),
            message: try fields.string("message"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("message"); writer.string(message)
        writer.key("path"); writer.string(path)
        writer.key("role"); writer.string(role)
        writer.key("step"); writer.string(step)
        writer.endObject()
    }
}

extension CallRequested: EventPayload {
    static let typeName = "CallRequested"
    var event: OnboardingEvent { .callRequested(self) }
    public var summary: String { "\(callId) to \(endpoint)" + (arguments.isEmpty ? "" : ": \(Self.pairs(arguments))") }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(
            callId: try fields.string("callId"), path: try fields.string("path"), step: try fields.string("step"),
            endpoint: try fields.string("endpoint"), arguments: try fields.values("arguments"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("arguments"); Value.write(arguments, to: &writer)
        writer.key("callId"); writer.string(callId)
        writer.key("endpoint"); writer.string(endpoint)
        writer.key("path"); writer.string(path)
        writer.key("step"); writer.string(step)
        writer.endObject()
    }
}

extension CallAnswered: EventPayload {
    static let typeName = "CallAnswered"
    var event: OnboardingEvent { .callAnswered(self) }
    public var summary: String { "\(callId) after \(attempts) attempt(s)" + (outputs.isEmpty ? "" : ": \(Self.pairs(outputs))") }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(
            callId: try fields.string("callId"), path: try fields.string("path"), outputs: try fields.values("outputs"),
            attempts: try fields.integer("attempts"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("attempts"); writer.integer(attempts)
        writer.key("callId"); writer.string(callId)
        writer.key("outputs"); Value.write(outputs, to: &writer)
        writer.key("path"); writer.string(path)
        writer.endObject()
    }
}

extension CallFailed: EventPayload {
    static let typeName = "CallFailed"
    var event: OnboardingEvent { .callFailed(self) }
    public var summary: String { "\(callId) after \(attempts) attempt(s): \(reason)" }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(
            callId: try fields.string("callId"), path: try fields.string("path"), reason: try fields.string("reason"),
            attempts: try fields.integer("attempts"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("attempts"); writer.integer(attempts)
        writer.key("callId"); writer.string(callId)
        writer.key("path"); writer.string(path)
        writer.key("reason"); writer.string(reason)
        writer.endObject()
    }
}

extension TimerScheduled: EventPayload {
    static let typeName = "TimerScheduled"
    var event: OnboardingEvent { .timerScheduled(self) }
    public var summary: String { "\(timerId) due \(Timestamp.format(dueAt))" }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(
            timerId: try fields.string("timerId"), path: try fields.string("path"), dueAt: try fields.date("dueAt"),
            purpose: try fields.string("purpose"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("dueAt"); writer.string(Timestamp.format(dueAt))
        writer.key("path"); writer.string(path)
        writer.key("purpose"); writer.string(purpose)
        writer.key("timerId"); writer.string(timerId)
        writer.endObject()
    }
}

/// An event that names one timer (`{"path", "timerId"}`): fired or cancelled, coded alike.
protocol TimerEvent: EventPayload {
    var timerId: String { get }
    var path: String { get }
    init(timerId: String, path: String)
}

extension TimerEvent {
    public var summary: String { timerId }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(timerId: try fields.string("timerId"), path: try fields.string("path"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("path"); writer.string(path)
        writer.key("timerId"); writer.string(timerId)
        writer.endObject()
    }
}

extension TimerFired: TimerEvent {
    static let typeName = "TimerFired"
    var event: OnboardingEvent { .timerFired(self) }
}

extension TimerCancelled: TimerEvent {
    static let typeName = "TimerCancelled"
    var event: OnboardingEvent { .timerCancelled(self) }
}

extension OnboardingUpgraded: EventPayload {
    static let typeName = "OnboardingUpgraded"
    var event: OnboardingEvent { .upgraded(self) }
    public var summary: String { "v\(fromVersion) → v\(workflowVersion)" }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(
            fromVersion: try fields.integer("fromVersion"), fromContentHash: try fields.string("fromContentHash"),
            workflowVersion: try fields.integer("workflowVersion"), contentHash: try fields.string("contentHash"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("contentHash"); writer.string(contentHash)
        writer.key("fromContentHash"); writer.string(fromContentHash)
        writer.key("fromVersion"); writer.integer(fromVersion)
        writer.key("workflowVersion"); writer.integer(workflowVersion)
        writer.endObject()
    }
}

extension OnboardingCompleted: EventPayload {
    static let typeName = "OnboardingCompleted"
    var event: OnboardingEvent { .completed(self) }
    public var summary: String { path }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(path: try fields.string("path"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("path"); writer.string(path)
        writer.endObject()
    }
}

extension OnboardingCancelled: EventPayload {
    static let typeName = "OnboardingCancelled"
    var event: OnboardingEvent { .cancelled(self) }
    public var summary: String { "by \(user): \(reason)" }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(user: try fields.string("user"), reason: try fields.string("reason"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("reason"); writer.string(reason)
        writer.key("user"); writer.string(user)
        writer.endObject()
    }
}

extension OnboardingFailed: EventPayload {
    static let typeName = "OnboardingFailed"
    var event: OnboardingEvent { .failed(self) }
    public var summary: String { reason }

    init(_ fields: Fields) throws(EventCodingError) {
        self.init(path: try fields.optionalString("path"), reason: try fields.string("reason"))
    }

    func write(to writer: inout JSONWriter) {
        writer.beginObject()
        if let path {
            writer.key("path"); writer.string(path)
        }
        writer.key("reason"); writer.string(reason)
        writer.endObject()
    }
}

extension ChecklistItem {
    init(_ fields: Fields) throws(EventCodingError) {
        self.init(id: try fields.string("id"), text: try fields.string("text"))
    }

    /// Writes the item as the JSON object `{"id":…,"text":…}`.
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("id"); writer.string(id)
        writer.key("text"); writer.string(text)
        writer.endObject()
    }
}

extension OutputField {
    init(_ fields: Fields) throws(EventCodingError) {
        guard let type = FieldType(rawValue: try fields.string("type")) else {
            throw EventCodingError(
                type: "TaskOpened", reason: "has data that does not fit: '\(try fields.string("type"))' is not a field type")
        }
        self.init(
            name: try fields.string("name"), type: type, required: try fields.boolean("required"),
            title: try fields.optionalString("title"), values: try fields.optionalStrings("values"),
            pattern: try fields.optionalString("pattern"), default: fields.optionalValue("default"))
    }

    /// Writes the field as a JSON object, keys sorted and nil fields left out; with `nullDefault` a missing
    /// default is written as `"default": null` (the task view's shape) instead.
    public func write(to writer: inout JSONWriter, nullDefault: Bool = false) {
        Self.write(
            name: name, type: type.rawValue, required: required, title: title, values: values, pattern: pattern,
            default: self.default, nullDefault: nullDefault, to: &writer)
    }

    /// Writes a field's members as `write(to:nullDefault:)` does, for views that hold them with the type as text.
    public static func write(
        name: String, type: String, required: Bool, title: String?, values: [String]?, pattern: String?,
        default: Value?, nullDefault: Bool, to writer: inout JSONWriter
    ) {
        writer.beginObject()
        if let value = `default` {
            writer.key("default"); value.write(to: &writer)
        } else if nullDefault {
            writer.key("default"); writer.null()
        }
        writer.key("name"); writer.string(name)
        if let pattern {
            writer.key("pattern"); writer.string(pattern)
        }
        writer.key("required"); writer.boolean(required)
        if let title {
            writer.key("title"); writer.string(title)
        }
        writer.key("type"); writer.string(type)
        if let values {
            writer.key("values"); writer.strings(values)
        }
        writer.endObject()
    }
}

// MARK: - Lists as projection rows hold them

extension ChecklistItem {
    /// Reads a JSON array of items as `write(to:)` writes them (a task row's checklist).
    public static func list(parsing json: String) throws(EventCodingError) -> [ChecklistItem] {
        try objects(parsing: json, of: "checklist") { (fields) throws(EventCodingError) in try ChecklistItem(fields) }
    }
}

extension OutputField {
    /// Reads a JSON array of fields as `write(to:nullDefault:)` writes them (a task row's outputs).
    public static func list(parsing json: String) throws(EventCodingError) -> [OutputField] {
        try objects(parsing: json, of: "outputs") { (fields) throws(EventCodingError) in try OutputField(fields) }
    }
}

/// A JSON array of objects, each read with `element`; `what` names the array in errors.
func objects<Element>(
    parsing json: String, of what: String, _ element: (Fields) throws(EventCodingError) -> Element
) throws(EventCodingError) -> [Element] {
    let value: Value
    do {
        value = try Value(parsing: json)
    } catch {
        throw EventCodingError(type: what, reason: "is not JSON")
    }
    return try Fields(["items": value], type: what, path: "").objects("items", element)
}

/// What each event's payload defines once: its stored type name and schema version, how it is read from and
/// written to the stored form, the `OnboardingEvent` it is, and a line about it for people. Adding an event is a
/// case of `OnboardingEvent`, its payload conforming to this, and its place in `OnboardingEvent.payloadList`.
protocol EventPayload: Hashable, Sendable {
    static var typeName: String { get }
    /// Bump when the payload's shape changes incompatibly.
    static var schemaVersion: Int { get }
    init(_ fields: Fields) throws(EventCodingError)
    func write(to writer: inout JSONWriter)
    var event: OnboardingEvent { get }
    var summary: String { get }
    /// The event read from a stored payload's fields.
    static func read(_ fields: Fields) throws(EventCodingError) -> OnboardingEvent
}

extension EventPayload {
    static var schemaVersion: Int { 1 }

    static func read(_ fields: Fields) throws(EventCodingError) -> OnboardingEvent {
        try Self(fields).event
    }

    /// `key=value, …` in key order, for summaries.
    static func pairs(_ values: [String: Value]) -> String {
        values.keys.sorted().map { "\($0)=\(values[$0]?.displayText ?? "")" }.joined(separator: ", ")
    }
}
