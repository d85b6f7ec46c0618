import Foundation
import HandoffCore
import HandoffStore

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
    static func encode(_ value: some Encodable) throws -> String {
        String(decoding: try Stamp.encoder().encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        do {
            return try Stamp.decoder().decode(type, from: Data(text.utf8))
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
                id: $0.id, path: $0.path, dueAt: Stamp.normalized($0.dueAt), purpose: $0.purpose)
        }
    }

    static func record(_ folded: FoldedOnboarding) throws -> OnboardingRecord {
        let state = folded.state
        return OnboardingRecord(
            id: state.onboardingId, workflowId: state.workflowId, workflowVersion: state.workflowVersion,
            contentHash: state.contentHash, state: state.status.rawValue, reason: state.reason,
            currentSteps: try encode(state.currentSteps), openTasks: try encode(summaries(state)),
            variables: try encode(state.variables), inputs: try encode(state.inputs),
            timers: try encode(timers(state)), signals: try encode(state.awaitedSignals.map(\.signal)),
            startedAt: folded.startedAt, updatedAt: folded.updatedAt, version: Int64(state.version))
    }

    static func record(_ task: OnboardingTask, onboardingId: String) throws -> TaskRecord {
        TaskRecord(
            id: task.id, onboardingId: onboardingId, path: task.path, step: task.step, role: task.role,
            title: task.title, instructions: task.instructions, state: task.state.rawValue, assignee: task.assignee,
            checklist: try encode(task.checklist), outputs: try encode(task.outputs.map(TaskView.Output.init)),
            dueAt: task.dueAt, createdAt: task.createdAt, completedBy: task.completedBy,
            result: try task.completedOutputs.map(encode), checked: try task.checkedItems.map(encode))
    }

    /// Rows of the tasks that differ between two states of one onboarding.
    static func changedTasks(from old: OnboardingState?, to new: OnboardingState) throws -> [TaskRecord] {
        let before = Dictionary((old?.tasks ?? []).map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        return try new.tasks.filter { before[$0.id] != $0 }.map { try record($0, onboardingId: new.onboardingId) }
    }

    static func view(_ folded: FoldedOnboarding) -> OnboardingView {
        let state = folded.state
        return OnboardingView(
            id: state.onboardingId, workflow: state.workflowId, workflowVersion: state.workflowVersion,
            contentHash: state.contentHash, state: state.status.rawValue, reason: state.reason,
            currentSteps: state.currentSteps, openTasks: summaries(state), variables: state.variables,
            inputs: state.inputs, timers: timers(state), awaitedSignals: state.awaitedSignals.map(\.signal),
            startedAt: Stamp.normalized(folded.startedAt), updatedAt: Stamp.normalized(folded.updatedAt),
            version: Int64(state.version))
    }

    static func view(_ task: OnboardingTask, onboardingId: String) -> TaskView {
        TaskView(
            id: task.id, onboardingId: onboardingId, step: task.step, path: task.path, role: task.role,
            title: task.title, instructions: task.instructions, state: task.state.rawValue, assignee: task.assignee,
            checklist: task.checklist, outputs: task.outputs.map(TaskView.Output.init),
            dueAt: task.dueAt.map(Stamp.normalized), createdAt: Stamp.normalized(task.createdAt),
            completedBy: task.completedBy, result: task.completedOutputs, checked: task.checkedItems)
    }

    static func view(_ record: OnboardingRecord) throws -> OnboardingView {
        OnboardingView(
            id: record.id, workflow: record.workflowId, workflowVersion: record.workflowVersion,
            contentHash: record.contentHash, state: record.state, reason: record.reason,
            currentSteps: try decode([String].self, record.currentSteps),
            openTasks: try decode([OnboardingView.TaskSummary].self, record.openTasks),
            variables: try decode([String: Value].self, record.variables),
            inputs: try decode([String: Value].self, record.inputs),
            timers: try decode([OnboardingView.TimerSummary].self, record.timers),
            awaitedSignals: try decode([String].self, record.signals),
            startedAt: Stamp.normalized(record.startedAt), updatedAt: Stamp.normalized(record.updatedAt),
            version: record.version)
    }

    static func view(_ record: TaskRecord) throws -> TaskView {
        TaskView(
            id: record.id, onboardingId: record.onboardingId, step: record.step, path: record.path, role: record.role,
            title: record.title, instructions: record.instructions, state: record.state, assignee: record.assignee,
            checklist: try decode([ChecklistItem].self, record.checklist),
            outputs: try decode([TaskView.Output].self, record.outputs),
            dueAt: record.dueAt.map(Stamp.normalized), createdAt: Stamp.normalized(record.createdAt),
            completedBy: record.completedBy, result: try record.result.map { try decode([String: Value].self, $0) },
            checked: try record.checked.map { try decode([String].self, $0) })
    }
}
