import Foundation

/// Something that happened to one onboarding: the facts its stream holds, in past tense.
///
/// Each case carries a payload. `type` is the stable name stored beside the data; `encoded()` and
/// `decode(type:schemaVersion:data:)` (in `EventCoding.swift`) convert to and from the stored form. Paths name a step where it ran:
/// `sign-in` at the top, `global-admin-consent/sign-in` inside the block that step `global-admin-consent` ran.
/// Events hold no actor or time of recording: the store keeps those as metadata.
public enum OnboardingEvent: Hashable, Sendable {
    case started(OnboardingStarted)
    case stepEntered(StepEntered)
    case stepSkipped(StepSkipped)
    case stepCompleted(StepCompleted)
    case decisionMade(DecisionMade)
    case blockStarted(BlockStarted)
    case branchCompleted(BranchCompleted)
    case taskOpened(TaskOpened)
    case taskClaimed(TaskClaimed)
    case taskReleased(TaskReleased)
    case taskCompleted(TaskCompleted)
    case taskCancelled(TaskCancelled)
    case taskOverdue(TaskOverdue)
    case taskReminded(TaskReminded)
    case taskEscalated(TaskEscalated)
    case variablesSet(VariablesSet)
    case signalReceived(SignalReceived)
    case roleNotified(RoleNotified)
    case callRequested(CallRequested)
    case callAnswered(CallAnswered)
    case callFailed(CallFailed)
    case timerScheduled(TimerScheduled)
    case timerFired(TimerFired)
    case timerCancelled(TimerCancelled)
    case completed(OnboardingCompleted)
    case cancelled(OnboardingCancelled)
    case failed(OnboardingFailed)
    case upgraded(OnboardingUpgraded)

    /// The payload of each case: the one list of the events there are. A payload's stored name, schema version,
    /// coding and summary are defined once, beside its coding in `EventCoding.swift` (`EventPayload`).
    var payload: any EventPayload {
        switch self {
        case .started(let payload): payload
        case .stepEntered(let payload): payload
        case .stepSkipped(let payload): payload
        case .stepCompleted(let payload): payload
        case .decisionMade(let payload): payload
        case .blockStarted(let payload): payload
        case .branchCompleted(let payload): payload
        case .taskOpened(let payload): payload
        case .taskClaimed(let payload): payload
        case .taskReleased(let payload): payload
        case .taskCompleted(let payload): payload
        case .taskCancelled(let payload): payload
        case .taskOverdue(let payload): payload
        case .taskReminded(let payload): payload
        case .taskEscalated(let payload): payload
        case .variablesSet(let payload): payload
        case .roleNotified(let payload): payload
        case .callRequested(let payload): payload
        case .callAnswered(let payload): payload
        case .callFailed(let payload): payload
        case .signalReceived(let payload): payload
        case .timerScheduled(let payload): payload
        case .timerFired(let payload): payload
        case .timerCancelled(let payload): payload
        case .completed(let payload): payload
        case .cancelled(let payload): payload
        case .failed(let payload): payload
        case .upgraded(let payload): payload
        }
    }

    /// Every payload type, for reading stored events by their type name.
    static let payloadList: [any EventPayload.Type] = [
        OnboardingStarted.self, StepEntered.self, StepSkipped.self, StepCompleted.self, DecisionMade.self,
        BlockStarted.self, BranchCompleted.self, TaskOpened.self, TaskClaimed.self, TaskReleased.self,
        TaskCompleted.self, TaskCancelled.self, TaskOverdue.self, TaskReminded.self, TaskEscalated.self, VariablesSet.self, SignalReceived.self, RoleNotified.self, CallRequested.self,
        CallAnswered.self, CallFailed.self, TimerScheduled.self,
        TimerFired.self, TimerCancelled.self, OnboardingCompleted.self, OnboardingCancelled.self,
        OnboardingFailed.self, OnboardingUpgraded.self,
    ]

    static let payloadTypes: [String: any EventPayload.Type] = Dictionary(
        uniqueKeysWithValues: payloadList.map { ($0.typeName, $0) })

    /// Every stored type name.
    public static let typeNames = payloadList.map { $0.typeName }

    /// Each type's current schema version (what this build writes; older ones are upcast on read).
    public static let schemaVersions = Dictionary(uniqueKeysWithValues: payloadList.map { ($0.typeName, $0.schemaVersion) })

    /// The stable type name stored with the event.
    public var type: String { Swift.type(of: payload).typeName }

    /// The version of this event's payload shape, stored beside it.
    public var schemaVersion: Int { Swift.type(of: payload).schemaVersion }

    /// One line about the event, for people (`handoff history`).
    public var summary: String { payload.summary }

    /// The summary of an event from its data in the current version's shape (`upcast(type:schemaVersion:data:)`
    /// gives it for a stored one), or its data as JSON when it does not decode.
    public static func summary(type: String, data: Value) -> String {
        guard let kind = payloadTypes[type], case .object(let members) = data,
            let event = try? kind.read(Fields(members, type: type, path: ""))
        else {
            return data.jsonText
        }
        return event.summary
    }

    /// The task this event concerns, if any.
    public var taskId: String? {
        switch self {
        case .taskOpened(let event): event.taskId
        case .taskClaimed(let event): event.taskId
        case .taskReleased(let event): event.taskId
        case .taskCompleted(let event): event.taskId
        case .taskCancelled(let event): event.taskId
        default: nil
        }
    }
}

/// A stored event that could not be read or written.
public struct EventCodingError: Error, Hashable, Sendable, CustomStringConvertible {
    public var type: String
    public var reason: String

    public init(type: String, reason: String) {
        self.type = type
        self.reason = reason
    }

    public var description: String { "event '\(type)' \(reason)" }
}

// MARK: - Payloads

/// The onboarding began, pinned to one exact definition.
public struct OnboardingStarted: Codable, Hashable, Sendable {
    public var onboardingId: String
    public var workflowId: String
    public var workflowVersion: Int
    /// The definition's content hash: replays use exactly this definition.
    public var contentHash: String
    /// The inputs after defaults were applied and text converted to each input's type.
    public var inputs: [String: Value]

    public init(
        onboardingId: String, workflowId: String, workflowVersion: Int, contentHash: String, inputs: [String: Value]
    ) {
        self.onboardingId = onboardingId
        self.workflowId = workflowId
        self.workflowVersion = workflowVersion
        self.contentHash = contentHash
        self.inputs = inputs
    }
}

/// The flow reached a step and its condition (if any) held.
public struct StepEntered: Codable, Hashable, Sendable {
    public var path: String
    public var step: String
    /// `task`, `decision`, `parallel`, `wait`, `timer`, `block`, `set` or `end`.
    public var kind: String

    public init(path: String, step: String, kind: String) {
        self.path = path
        self.step = step
        self.kind = kind
    }
}

/// The flow reached a step whose `if` condition was false, and went past it.
public struct StepSkipped: Codable, Hashable, Sendable {
    public var path: String
    public var step: String

    public init(path: String, step: String) {
        self.path = path
        self.step = step
    }
}

/// A step finished; `outputs` are what later expressions see as `steps.<step>.<name>`.
public struct StepCompleted: Codable, Hashable, Sendable {
    public var path: String
    public var step: String
    public var outputs: [String: Value]

    public init(path: String, step: String, outputs: [String: Value]) {
        self.path = path
        self.step = step
        self.outputs = outputs
    }
}

/// A decision chose where to go: `branch` is the index of the `when` that held, nil for `otherwise`.
public struct DecisionMade: Codable, Hashable, Sendable {
    public var path: String
    public var step: String
    public var branch: Int?
    public var next: String

    public init(path: String, step: String, branch: Int? = nil, next: String) {
        self.path = path
        self.step = step
        self.branch = branch
        self.next = next
    }
}

/// A block step started its block with these parameter values.
public struct BlockStarted: Codable, Hashable, Sendable {
    public var path: String
    public var step: String
    public var block: String
    public var params: [String: Value]

    public init(path: String, step: String, block: String, params: [String: Value]) {
        self.path = path
        self.step = step
        self.block = block
        self.params = params
    }
}

/// One branch of a parallel step reached its end.
public struct BranchCompleted: Codable, Hashable, Sendable {
    /// The parallel step's path.
    public var path: String
    public var step: String
    public var branch: String

    public init(path: String, step: String, branch: String) {
        self.path = path
        self.step = step
        self.branch = branch
    }
}

/// A task for a role was opened.
public struct TaskOpened: Codable, Hashable, Sendable {
    public var taskId: String
    public var path: String
    public var step: String
    public var role: String
    public var title: String
    /// Markdown.
    public var instructions: String
    public var checklist: [ChecklistItem]
    public var outputs: [OutputField]
    public var dueAt: Date?
    public var createdAt: Date

    public init(
        taskId: String, path: String, step: String, role: String, title: String, instructions: String,
        checklist: [ChecklistItem], outputs: [OutputField], dueAt: Date? = nil, createdAt: Date
    ) {
        self.taskId = taskId
        self.path = path
        self.step = step
        self.role = role
        self.title = title
        self.instructions = instructions
        self.checklist = checklist
        self.outputs = outputs
        self.dueAt = dueAt
        self.createdAt = createdAt
    }
}

public struct TaskClaimed: Codable, Hashable, Sendable {
    public var taskId: String
    public var assignee: String

    public init(taskId: String, assignee: String) {
        self.taskId = taskId
        self.assignee = assignee
    }
}

public struct TaskReleased: Codable, Hashable, Sendable {
    public var taskId: String
    /// Who held the task.
    public var assignee: String
    /// Who gave it back when that was not the holder (an admin taking a claim away); nil when the holder did.
    public var releasedBy: String?
    /// Why, when nobody gave it back (the claim expired).
    public var reason: String?

    public init(taskId: String, assignee: String, releasedBy: String? = nil, reason: String? = nil) {
        self.taskId = taskId
        self.assignee = assignee
        self.releasedBy = releasedBy
        self.reason = reason
    }
}

/// The task passed its due time without being completed.
public struct TaskOverdue: Codable, Hashable, Sendable {
    public var taskId: String
    public var dueAt: Date

    public init(taskId: String, dueAt: Date) {
        self.taskId = taskId
        self.dueAt = dueAt
    }
}

/// A reminder of a task not yet completed: `before` or `after` its due time.
public struct TaskReminded: Codable, Hashable, Sendable {
    public var taskId: String
    public var when: String
    public var role: String
    public var assignee: String?

    public init(taskId: String, when: String, role: String, assignee: String?) {
        self.taskId = taskId
        self.when = when
        self.role = role
        self.assignee = assignee
    }
}

/// A task not completed in time went to another role: as well as its own (`add`), or instead of it (`move`).
public struct TaskEscalated: Codable, Hashable, Sendable {
    public var taskId: String
    public var role: String
    public var mode: String
    /// The role it had.
    public var from: String

    public init(taskId: String, role: String, mode: String, from: String) {
        self.taskId = taskId
        self.role = role
        self.mode = mode
        self.from = from
    }
}

public struct TaskCompleted: Codable, Hashable, Sendable {
    public var taskId: String
    public var user: String
    /// The outputs as stored: given values converted to their types, defaults filled in.
    public var outputs: [String: Value]
    /// The ticked checklist item ids, sorted.
    public var checklist: [String]

    public init(taskId: String, user: String, outputs: [String: Value], checklist: [String]) {
        self.taskId = taskId
        self.user = user
        self.outputs = outputs
        self.checklist = checklist
    }
}

/// The task was withdrawn because its onboarding ended.
public struct TaskCancelled: Codable, Hashable, Sendable {
    public var taskId: String
    public var reason: String

    public init(taskId: String, reason: String) {
        self.taskId = taskId
        self.reason = reason
    }
}

/// A `set` step recorded variables (schema version 2; version 1 had no `step`).
public struct VariablesSet: Codable, Hashable, Sendable {
    public var path: String
    public var step: String
    public var variables: [String: Value]

    public init(path: String, step: String, variables: [String: Value]) {
        self.path = path
        self.step = step
        self.variables = variables
    }
}

public struct SignalReceived: Codable, Hashable, Sendable {
    /// The wait step that took the signal.
    public var path: String
    public var signal: String
    public var data: Value

    public init(path: String, signal: String, data: Value) {
        self.path = path
        self.signal = signal
        self.data = data
    }
}

/// A notify step told a role something.
public struct RoleNotified: Codable, Hashable, Sendable {
    public var path: String
    public var step: String
    public var role: String
    public var message: String

    public init(path: String, step: String, role: String, message: String) {
        self.path = path
        self.step = step
        self.role = role
        self.message = message
    }
}

/// An automated step asked for a call of its endpoint with these arguments; the call's id is the same on every
/// attempt.
public struct CallRequested: Codable, Hashable, Sendable {
    public var callId: String
    public var path: String
    public var step: String
    public var endpoint: String
    public var arguments: [String: Value]

    public init(callId: String, path: String, step: String, endpoint: String, arguments: [String: Value]) {
        self.callId = callId
        self.path = path
        self.step = step
        self.endpoint = endpoint
        self.arguments = arguments
    }
}

/// The endpoint answered the call with outputs that fit the step's.
public struct CallAnswered: Codable, Hashable, Sendable {
    public var callId: String
    public var path: String
    public var outputs: [String: Value]
    /// How many attempts it took.
    public var attempts: Int

    public init(callId: String, path: String, outputs: [String: Value], attempts: Int) {
        self.callId = callId
        self.path = path
        self.outputs = outputs
        self.attempts = attempts
    }
}

/// The call failed on its last attempt.
public struct CallFailed: Codable, Hashable, Sendable {
    public var callId: String
    public var path: String
    public var reason: String
    public var attempts: Int

    public init(callId: String, path: String, reason: String, attempts: Int) {
        self.callId = callId
        self.path = path
        self.reason = reason
        self.attempts = attempts
    }
}

public struct TimerScheduled: Codable, Hashable, Sendable {
    public var timerId: String
    public var path: String
    public var dueAt: Date
    /// `timer` for a timer step, `timeout` for a wait step's timeout.
    public var purpose: String

    public init(timerId: String, path: String, dueAt: Date, purpose: String) {
        self.timerId = timerId
        self.path = path
        self.dueAt = dueAt
        self.purpose = purpose
    }
}

public struct TimerFired: Codable, Hashable, Sendable {
    public var timerId: String
    public var path: String

    public init(timerId: String, path: String) {
        self.timerId = timerId
        self.path = path
    }
}

public struct TimerCancelled: Codable, Hashable, Sendable {
    public var timerId: String
    public var path: String

    public init(timerId: String, path: String) {
        self.timerId = timerId
        self.path = path
    }
}

/// The run moved to a newer definition of its workflow (`handoff upgrade`): from here on it is decided and folded
/// with `contentHash`.
public struct OnboardingUpgraded: Codable, Hashable, Sendable {
    public var fromVersion: Int
    public var fromContentHash: String
    public var workflowVersion: Int
    public var contentHash: String

    public init(fromVersion: Int, fromContentHash: String, workflowVersion: Int, contentHash: String) {
        self.fromVersion = fromVersion
        self.fromContentHash = fromContentHash
        self.workflowVersion = workflowVersion
        self.contentHash = contentHash
    }
}

public struct OnboardingCompleted: Codable, Hashable, Sendable {
    /// The `end` step that finished the run.
    public var path: String

    public init(path: String) {
        self.path = path
    }
}

public struct OnboardingCancelled: Codable, Hashable, Sendable {
    public var user: String
    public var reason: String

    public init(user: String, reason: String) {
        self.user = user
        self.reason = reason
    }
}

public struct OnboardingFailed: Codable, Hashable, Sendable {
    /// The step that failed the run, when one did.
    public var path: String?
    public var reason: String

    public init(path: String? = nil, reason: String) {
        self.path = path
        self.reason = reason
    }
}

/// A checklist item as a task shows it.
public struct ChecklistItem: Codable, Hashable, Sendable {
    public var id: String
    public var text: String

    public init(id: String, text: String) {
        self.id = id
        self.text = text
    }
}

/// An output field as a task shows it; `default` is the value earlier answers give it, if any.
public struct OutputField: Codable, Hashable, Sendable {
    public var name: String
    public var type: FieldType
    public var required: Bool
    public var title: String?
    public var values: [String]?
    public var pattern: String?
    public var `default`: Value?

    public init(
        name: String, type: FieldType, required: Bool, title: String? = nil, values: [String]? = nil,
        pattern: String? = nil, default: Value? = nil
    ) {
        self.name = name
        self.type = type
        self.required = required
        self.title = title
        self.values = values
        self.pattern = pattern
        self.`default` = `default`
    }
}
