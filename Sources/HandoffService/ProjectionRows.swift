import Foundation
import HandoffCore
import HandoffJSON
import HandoffStore
import Postgres
import Timestamps

/// An onboarding's folded stream with the times the log recorded for its first and last events.
struct FoldedOnboarding: Sendable, Equatable {
    var state: OnboardingState
    var startedAt: Date
    var updatedAt: Date
}

/// The one mapping from folded state to projection rows and views, and from rows back to views.
///
/// Inline writes and rebuilds both go through `record(_:)`, so a rebuild writes exactly what was maintained.
enum Rows {
    /// A stored command answer as JSON text.
    static func encode(_ value: some Encodable) throws -> String {
        String(decoding: try StoredJSON.encoder.encode(value), as: UTF8.self)
    }

    /// JSON text written by `body`, for a JSON column.
    static func json(_ body: (inout JSONWriter) -> Void) -> String {
        var writer = JSONWriter()
        body(&writer)
        return writer.text
    }

    static func json(_ strings: [String]) -> String {
        json { $0.strings(strings) }
    }

    static func json(_ values: [String: Value]) -> String {
        json { Value.write(values, to: &$0) }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        do {
            return try StoredJSON.decoder.decode(type, from: Data(text.utf8))
        } catch {
            throw EngineError(.internal, "a projection row does not decode as \(type): \(error)")
        }
    }

    static func summaries(_ state: OnboardingState) -> [OnboardingView.TaskSummary] {
        state.openTasks.map {
            OnboardingView.TaskSummary(
                id: $0.id, step: $0.step, path: $0.path, role: $0.role, title: $0.title, state: $0.state.rawValue,
                assignee: $0.assignee)
        }
    }

    static func timers(_ state: OnboardingState) -> [OnboardingView.TimerSummary] {
        state.timers.map {
            OnboardingView.TimerSummary(
                id: $0.id, path: $0.path, dueAt: Timestamp.normalized($0.dueAt), purpose: $0.purpose)
        }
    }

    /// The earliest due time of the pending timers (`next_timer_at`, which the timer scheduler's index orders by).
    static func nextTimer(_ state: OnboardingState) -> Date? {
        state.timers.lazy.map { Timestamp.normalized($0.dueAt) }.min()
    }

    static func record(_ folded: FoldedOnboarding) -> OnboardingRecord {
        let state = folded.state
        return OnboardingRecord(
            id: state.onboardingId, workflowId: state.workflowId, workflowVersion: state.workflowVersion,
            contentHash: state.contentHash, state: state.status.rawValue, reason: state.reason,
            currentSteps: json(state.currentSteps),
            openTasks: json { writer in
                writer.beginArray()
                for summary in summaries(state) { summary.write(to: &writer) }
                writer.endArray()
            },
            variables: json(state.variables), inputs: json(state.inputs),
            timers: json { writer in
                writer.beginArray()
                for timer in timers(state) { timer.write(to: &writer) }
                writer.endArray()
            },
            signals: json(state.awaitedSignals.map(\.signal)),
            startedAt: folded.startedAt, updatedAt: folded.updatedAt, version: Int64(state.version),
            nextTimerAt: nextTimer(state))
    }

    static func record(_ task: OnboardingTask, onboardingId: String) -> TaskRecord {
        TaskRecord(
            id: task.id, onboardingId: onboardingId, path: task.path, step: task.step, role: task.role,
            title: task.title, instructions: task.instructions, state: task.state.rawValue, assignee: task.assignee,
            checklist: json { writer in
                writer.beginArray()
                for item in task.checklist { item.write(to: &writer) }
                writer.endArray()
            },
            outputs: json { writer in
                writer.beginArray()
                for output in task.outputs { output.write(to: &writer, nullDefault: true) }
                writer.endArray()
            },
            dueAt: task.dueAt, createdAt: task.createdAt, completedBy: task.completedBy,
            result: task.completedOutputs.map(json), checked: task.checkedItems.map(json),
            escalatedRoles: json(task.escalatedRoles))
    }

    /// Rows of the tasks that differ between two states of one onboarding.
    static func changedTasks(from old: OnboardingState?, to new: OnboardingState) -> [TaskRecord] {
        let before = Dictionary((old?.tasks ?? []).map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        return new.tasks.filter { before[$0.id] != $0 }.map { record($0, onboardingId: new.onboardingId) }
    }

    static func view(_ folded: FoldedOnboarding) -> OnboardingView {
        let state = folded.state
        return OnboardingView(
            id: state.onboardingId, workflow: state.workflowId, workflowVersion: state.workflowVersion,
            contentHash: state.contentHash, state: state.status.rawValue, reason: state.reason,
            currentSteps: state.currentSteps, openTasks: summaries(state), variables: state.variables,
            inputs: state.inputs, timers: timers(state), awaitedSignals: state.awaitedSignals.map(\.signal),
            startedAt: Timestamp.normalized(folded.startedAt), updatedAt: Timestamp.normalized(folded.updatedAt),
            version: Int64(state.version))
    }

    static func view(_ task: OnboardingTask, onboardingId: String) -> TaskView {
        TaskView(
            id: task.id, onboardingId: onboardingId, step: task.step, path: task.path, role: task.role,
            title: task.title, instructions: task.instructions, state: task.state.rawValue, assignee: task.assignee,
            checklist: task.checklist, outputs: task.outputs.map(TaskView.Output.init),
            dueAt: task.dueAt.map(Timestamp.normalized), createdAt: Timestamp.normalized(task.createdAt),
            completedBy: task.completedBy, result: task.completedOutputs, checked: task.checkedItems,
            escalatedRoles: task.escalatedRoles)
    }

    // Rows back to views: the JSON columns are read with the hand-written parser (`Value(parsing:)`), which reading
    // a listing spends most of its time in; `JSONDecoder` took several times as long.

    static func view(_ record: OnboardingRecord) throws -> OnboardingView {
        OnboardingView(
            id: record.id, workflow: record.workflowId, workflowVersion: record.workflowVersion,
            contentHash: record.contentHash, state: record.state, reason: record.reason,
            currentSteps: try strings(record.currentSteps, "current_steps"),
            openTasks: try objects(record.openTasks, "open_tasks").map { task in
                OnboardingView.TaskSummary(
                    id: try string(task, "id"), step: try string(task, "step"), path: try string(task, "path"),
                    role: try string(task, "role"), title: try string(task, "title"), state: try string(task, "state"),
                    assignee: task["assignee"]?.stringValue)
            },
            variables: try object(record.variables, "variables"), inputs: try object(record.inputs, "inputs"),
            timers: try objects(record.timers, "timers").map { timer in
                let due = try string(timer, "dueAt")
                guard let dueAt = Timestamp.parse(due) else {
                    throw EngineError(.internal, "a projection row's timer is due at '\(due)', which is not a time")
                }
                return OnboardingView.TimerSummary(
                    id: try string(timer, "id"), path: try string(timer, "path"), dueAt: dueAt,
                    purpose: try string(timer, "purpose"))
            },
            awaitedSignals: try strings(record.signals, "signals"),
            startedAt: Timestamp.normalized(record.startedAt), updatedAt: Timestamp.normalized(record.updatedAt),
            version: record.version)
    }

    static func view(_ record: TaskRecord) throws -> TaskView {
        let checklist: [ChecklistItem]
        let outputs: [OutputField]
        do {
            checklist = try ChecklistItem.list(parsing: record.checklist)
            outputs = try OutputField.list(parsing: record.outputs)
        } catch {
            throw EngineError(.internal, "task row '\(record.id)' does not read back: \(error)")
        }
        return TaskView(
            id: record.id, onboardingId: record.onboardingId, step: record.step, path: record.path, role: record.role,
            title: record.title, instructions: record.instructions, state: record.state, assignee: record.assignee,
            checklist: checklist, outputs: outputs.map(TaskView.Output.init),
            dueAt: record.dueAt.map(Timestamp.normalized), createdAt: Timestamp.normalized(record.createdAt),
            completedBy: record.completedBy, result: try record.result.map { try object($0, "result") },
            checked: try record.checked.map { try strings($0, "checked") },
            escalatedRoles: try strings(record.escalatedRoles, "escalated_roles"))
    }

    private static func parse(_ text: String, _ column: String) throws -> Value {
        do {
            return try Value(parsing: text)
        } catch {
            throw EngineError(.internal, "the projection column \(column) holds text that is not JSON")
        }
    }

    private static func object(_ text: String, _ column: String) throws -> [String: Value] {
        guard case .object(let members) = try parse(text, column) else {
            throw EngineError(.internal, "the projection column \(column) does not hold an object")
        }
        return members
    }

    private static func objects(_ text: String, _ column: String) throws -> [[String: Value]] {
        guard case .list(let items) = try parse(text, column) else {
            throw EngineError(.internal, "the projection column \(column) does not hold a list")
        }
        return try items.map { item in
            guard case .object(let members) = item else {
                throw EngineError(.internal, "the projection column \(column) holds a list of something but objects")
            }
            return members
        }
    }

    private static func strings(_ text: String, _ column: String) throws -> [String] {
        guard case .list(let items) = try parse(text, column) else {
            throw EngineError(.internal, "the projection column \(column) does not hold a list")
        }
        return try items.map { item in
            guard let string = item.stringValue else {
                throw EngineError(.internal, "the projection column \(column) holds a list of something but strings")
            }
            return string
        }
    }

    private static func string(_ members: [String: Value], _ key: String) throws -> String {
        guard let string = members[key]?.stringValue else {
            throw EngineError(.internal, "a projection row's '\(key)' is missing or not text")
        }
        return string
    }
}

extension DefinitionRecord {
    /// The record a definition is stored as, under its content hash.
    init(_ definition: WorkflowDefinition) {
        self.init(
            contentHash: definition.contentHash, workflowId: definition.id, version: definition.version,
            file: definition.file, source: definition.source)
    }
}
