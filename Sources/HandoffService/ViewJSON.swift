import Foundation
import HandoffCore
import HandoffJSON
import Timestamps

/// A view that writes its own JSON, byte for byte what `JSONEncoder` writes for it with sorted keys, unescaped
/// slashes and times as `Timestamp.format` (ISO 8601, milliseconds, UTC): the form the HTTP API sends.
///
/// `JSONEncoder` was most of the CPU of answering `GET /tasks` (measured with perf, see docs/performance.md); the
/// tests compare both writers on every view of whole runs.
public protocol JSONWritable: Encodable {
    func write(to writer: inout JSONWriter)
}

extension JSONWritable {
    /// The view as compact JSON, UTF-8.
    public var jsonBytes: [UInt8] {
        var writer = JSONWriter(capacity: 4_096)
        write(to: &writer)
        return writer.utf8
    }

    /// The view as compact JSON text.
    public var jsonText: String { String(decoding: jsonBytes, as: UTF8.self) }
}

extension JSONWriter {
    mutating func time(_ date: Date?) {
        if let date { string(Timestamp.format(date)) } else { null() }
    }
}

extension TaskView.Output: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        OutputField.write(
            name: name, type: type, required: required, title: title, values: values, pattern: pattern,
            default: self.default, nullDefault: true, to: &writer)
    }
}

extension TaskView: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("assignee"); writer.string(assignee)
        writer.key("checked")
        if let checked { writer.strings(checked) } else { writer.null() }
        writer.key("checklist")
        writer.beginArray()
        for item in checklist { item.write(to: &writer) }
        writer.endArray()
        writer.key("completedBy"); writer.string(completedBy)
        writer.key("createdAt"); writer.time(createdAt)
        writer.key("dueAt"); writer.time(dueAt)
        writer.key("escalatedRoles"); writer.strings(escalatedRoles)
        writer.key("id"); writer.string(id)
        writer.key("instructions"); writer.string(instructions)
        writer.key("onboardingId"); writer.string(onboardingId)
        writer.key("outputs")
        writer.beginArray()
        for output in outputs { output.write(to: &writer) }
        writer.endArray()
        writer.key("path"); writer.string(path)
        writer.key("result")
        if let result { Value.write(result, to: &writer) } else { writer.null() }
        writer.key("role"); writer.string(role)
        writer.key("state"); writer.string(state)
        writer.key("step"); writer.string(step)
        writer.key("title"); writer.string(title)
        writer.endObject()
    }
}

extension OnboardingView: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.key("awaitedSignals"); writer.strings(awaitedSignals)
        writer.key("contentHash"); writer.string(contentHash)
        writer.key("currentSteps"); writer.strings(currentSteps)
        writer.key("id"); writer.string(id)
        writer.key("inputs"); Value.write(inputs, to: &writer)
        writer.key("openTasks")
        writer.beginArray()
        for task in openTasks { task.write(to: &writer) }
        writer.endArray()
        writer.key("reason"); writer.string(reason)
        writer.key("startedAt"); writer.time(startedAt)
        writer.key("state"); writer.string(state)
        writer.key("timers")
        writer.beginArray()
        for timer in timers { timer.write(to: &writer) }
        writer.endArray()
        writer.key("updatedAt"); writer.time(updatedAt)
        writer.key("variables"); Value.write(variables, to: &writer)
        writer.key("version"); writer.integer(version)
        writer.key("workflow"); writer.string(workflow)
        writer.key("workflowVersion"); writer.integer(workflowVersion)
        writer.endObject()
    }
}

extension Listing: JSONWritable where Item: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        // Keys in the order JSONEncoder sorts them: the items' key before `next` or after it.
        writer.beginObject()
        if key > "next" {
            writer.key("next"); writer.string(next)
        }
        writer.key(key)
        writer.beginArray()
        for item in items { item.write(to: &writer) }
        writer.endArray()
        if key < "next" {
            writer.key("next"); writer.string(next)
        }
        writer.endObject()
    }
}

extension CommandResult: JSONWritable {
    public func write(to writer: inout JSONWriter) {
        switch self {
        case .onboarding(let view): view.write(to: &writer)
        case .task(let view): view.write(to: &writer)
        }
    }
}
