/// Something a caller asks of one onboarding, in the imperative. `Interpreter.decide` answers with events or a
/// `DecisionError`.
public enum OnboardingCommand: Hashable, Sendable {
    /// Starts a new onboarding; `inputs` may hold text for boolean and integer inputs (`"true"`, `"3"`).
    case start(onboardingId: String, inputs: [String: Value])
    /// Takes an open task; `roles` are the caller's, and must include the task's role.
    case claimTask(taskId: String, user: String, roles: Set<String>)
    /// Gives a claimed task back; only its holder may, unless `overriding` (an admin taking the claim away, which
    /// the event records).
    case releaseTask(taskId: String, user: String, overriding: Bool = false)
    /// Finishes a task its caller holds, with the outputs and the ids of the ticked checklist items.
    case completeTask(taskId: String, user: String, outputs: [String: Value], checklist: Set<String>)
    /// Delivers a named outside signal to every step waiting for it.
    case deliverSignal(name: String, data: Value)
    /// Fires a pending timer; refused before its due time.
    case fireTimer(timerId: String)
    /// Gives an automated step's call the endpoint's answer: its outputs, checked against the step's
    /// (`invalid_outputs` when they don't fit), and how many attempts it took.
    case answerCall(callId: String, outputs: [String: Value], attempts: Int)
    /// Records that an automated step's call failed for good: the step's failure branch runs, or the onboarding
    /// fails with the reason.
    case failCall(callId: String, reason: String, attempts: Int)
    /// Stops an active onboarding, withdrawing its open tasks and timers.
    case cancel(user: String, reason: String)
    /// Moves an active run to a newer definition of its workflow, when every step it is in now is a step of the
    /// same kind there (and every open task's step a task of the same role): the flow goes on from there as the
    /// newer definition says.
    case upgrade(to: WorkflowDefinition)
}

/// Why a command was refused. Nothing is emitted when one is thrown.
///
/// `code.rawValue` is the contract's error code; `problems` names every bad field (for `invalid_outputs` and
/// `invalid_input`) or every unticked checklist item (for `checklist_incomplete`).
public struct DecisionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stable error code. New codes may be added, so switch over it with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String {
            case notFound = "not_found"
            case taskAlreadyClaimed = "task_already_claimed"
            case taskNotClaimedByYou = "task_not_claimed_by_you"
            case taskNotOpen = "task_not_open"
            case forbiddenRole = "forbidden_role"
            case invalidOutputs = "invalid_outputs"
            case checklistIncomplete = "checklist_incomplete"
            case invalidInput = "invalid_input"
            case alreadyExists = "already_exists"
            case onboardingNotActive = "onboarding_not_active"
            case signalNotAwaited = "signal_not_awaited"
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// An unknown task or timer, or an onboarding that has not started.
        public static let notFound = Code(.notFound)
        /// Someone else holds the task.
        public static let taskAlreadyClaimed = Code(.taskAlreadyClaimed)
        /// The caller does not hold the task.
        public static let taskNotClaimedByYou = Code(.taskNotClaimedByYou)
        /// The task is completed or cancelled.
        public static let taskNotOpen = Code(.taskNotOpen)
        /// The caller lacks the task's role.
        public static let forbiddenRole = Code(.forbiddenRole)
        /// Some outputs are missing or wrong; `problems` names each.
        public static let invalidOutputs = Code(.invalidOutputs)
        /// Some checklist items are not ticked; `problems` names each.
        public static let checklistIncomplete = Code(.checklistIncomplete)
        /// Bad start inputs, an onboarding that is not active, a signal nobody waits for, a timer not yet due…
        public static let invalidInput = Code(.invalidInput)
        /// An onboarding with the id to start already exists.
        public static let alreadyExists = Code(.alreadyExists)
        /// The onboarding is completed, cancelled or failed, so it takes no more commands.
        public static let onboardingNotActive = Code(.onboardingNotActive)
        /// No step waits for the signal delivered.
        public static let signalNotAwaited = Code(.signalNotAwaited)

        /// The contract's code, e.g. `task_not_open`.
        public var rawValue: String { base.rawValue }
        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    public var problems: [FieldProblem]

    public init(_ code: Code, _ message: String, problems: [FieldProblem] = []) {
        self.code = code
        self.message = message
        self.problems = problems
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
