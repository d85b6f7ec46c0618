import Foundation

/// Everything known about one onboarding: the fold of its events (`Interpreter.evolve`).
public struct OnboardingState: Hashable, Sendable, Codable {
    public enum Status: String, Hashable, Sendable, Codable {
        case active, completed, cancelled, failed
    }

    public var onboardingId: String
    public var workflowId: String
    public var workflowVersion: Int
    public var contentHash: String
    public var status: Status
    /// Why the onboarding failed or was cancelled.
    public var reason: String?
    public var inputs: [String: Value]
    public var variables: [String: Value]
    /// Every task ever opened, in the order they opened.
    public var tasks: [OnboardingTask]
    /// Steps the flow is in now, in the order they were entered (including parallel and block steps).
    public var activeSteps: [ActiveStep]
    /// Timers not yet fired or cancelled.
    public var timers: [PendingTimer]
    /// Outputs of finished steps by path.
    public var stepOutputs: [String: [String: Value]]
    /// Parameter values of each running or finished block step, by its path.
    public var blockParams: [String: [String: Value]]
    /// How many timers were ever scheduled (timer ids count on from it).
    public var timersScheduled: Int
    /// How many calls automated steps ever asked for (call ids count on from it).
    public var callsRequested: Int = 0
    /// The number of events folded.
    public var version: Int

    /// Paths of the steps that wait now: on a task, a signal, a timer or a call.
    public var currentSteps: [String] {
        activeSteps.filter { ["task", "wait", "timer", "call"].contains($0.kind) }.map(\.path)
    }

    /// Calls automated steps wait on: the call's id and the step's path.
    public var pendingCalls: [(callId: String, path: String)] {
        activeSteps.compactMap { step in step.call.map { ($0, step.path) } }
    }

    /// Tasks open or claimed.
    public var openTasks: [OnboardingTask] {
        tasks.filter { $0.state == .open || $0.state == .claimed }
    }

    /// Signals that waiting steps expect.
    public var awaitedSignals: [AwaitedSignal] {
        activeSteps.compactMap { step in
            guard let signal = step.signal else { return nil }
            return AwaitedSignal(
                signal: signal, path: step.path, timeoutTimerId: timers.first { $0.path == step.path }?.id)
        }
    }

    /// The task with this id.
    public func task(_ id: String) -> OnboardingTask? {
        tasks.first { $0.id == id }
    }

    init(started: OnboardingStarted) {
        onboardingId = started.onboardingId
        workflowId = started.workflowId
        workflowVersion = started.workflowVersion
        contentHash = started.contentHash
        status = .active
        reason = nil
        inputs = started.inputs
        variables = [:]
        tasks = []
        activeSteps = []
        timers = []
        stepOutputs = [:]
        blockParams = [:]
        timersScheduled = 0
        version = 0
    }
}

/// A task as its onboarding knows it.
public struct OnboardingTask: Hashable, Sendable, Codable {
    public enum State: String, Hashable, Sendable, Codable {
        case open, claimed, completed, cancelled
    }

    public var id: String
    public var path: String
    public var step: String
    public var role: String
    public var title: String
    public var instructions: String
    public var state: State
    public var assignee: String?
    public var checklist: [ChecklistItem]
    public var outputs: [OutputField]
    public var dueAt: Date?
    public var createdAt: Date
    /// Who completed it, with what.
    public var completedBy: String?
    public var completedOutputs: [String: Value]?
    public var checkedItems: [String]?
    /// Roles an escalation added: they may claim the task as well as `role`.
    public var escalatedRoles: [String] = []

    /// Whether a caller holding `roles` may claim it.
    public func isClaimable(by roles: Set<String>) -> Bool {
        roles.contains(role) || escalatedRoles.contains(where: roles.contains)
    }
}

/// A step the flow is in.
public struct ActiveStep: Hashable, Sendable, Codable {
    public var path: String
    public var step: String
    public var kind: String
    /// For a parallel step: the branches still running.
    public var pendingBranches: [String]
    /// For a wait step: the signal it waits for.
    public var signal: String?
    /// For an automated step: the call it waits on.
    public var call: String? = nil
}

public struct PendingTimer: Hashable, Sendable, Codable {
    public var id: String
    public var path: String
    public var dueAt: Date
    /// `timer` or `timeout`.
    public var purpose: String

    public init(id: String, path: String, dueAt: Date, purpose: String) {
        self.id = id
        self.path = path
        self.dueAt = dueAt
        self.purpose = purpose
    }
}

public struct AwaitedSignal: Hashable, Sendable, Codable {
    public var signal: String
    public var path: String
    public var timeoutTimerId: String?
}
