/// A checked workflow: what `WorkflowLoader` builds from a file once every check has passed.
///
/// Every step of the file, including those inside parallel branches and blocks, is in `steps`, keyed by its id
/// (ids are unique in a file). A step's `next` is already resolved: the step named by `next:`, else the one after it
/// in the same list; nil at the end of a branch (it joins) or of a block (it returns).
public struct WorkflowDefinition: Hashable, Sendable {
    public var id: String
    public var title: String
    public var version: Int
    public var description: String?
    /// SHA-256 of the exact bytes the definition was loaded from, as lowercase hex.
    public var contentHash: String
    /// The file name given to the loader.
    public var file: String
    /// The exact text the definition was loaded from; loading it again gives the same definition.
    public var source: String
    public var roles: [String]
    public var inputs: [FieldSpec]
    /// The first step.
    public var start: String
    /// The top-level steps, in file order.
    public var topLevelSteps: [String]
    /// Every step by id.
    public var steps: [String: Step]
    /// Every step id in file order (blocks last).
    public var stepOrder: [String]
    public var blocks: [String: BlockDefinition]
    /// Block names in file order.
    public var blockOrder: [String]
    /// Variable names that some `set` step records, in file order.
    public var variableNames: [String]
    /// The roles that may start, signal and cancel this workflow's onboardings through the HTTP API (`starters:`);
    /// the `admin` role always may.
    public var starters: [String] = []
}

/// One step of a workflow.
public struct Step: Hashable, Sendable {
    public var id: String
    /// A short label for graphs and lists; the id when not given.
    public var title: String?
    /// When present and false at the time the step is reached, the step is skipped.
    public var condition: Expression?
    /// The step that follows (see `WorkflowDefinition`).
    public var next: String?
    public var kind: StepKind
    /// Where the step sits: at the top, in a branch, in a block.
    public var placement: StepPlacement
    var location: SourcePosition

    /// The kind's name as files write it: `task`, `decision`, …
    public var kindName: String { kind.name }
}

/// Where a step is declared.
public struct StepPlacement: Hashable, Sendable {
    /// The block whose steps include this one, or nil for the workflow's own steps.
    public var block: String?
    /// The parallel step and branch name whose steps include this one, if any.
    public var parallel: String?
    public var branch: String?
}

public enum StepKind: Hashable, Sendable {
    case task(TaskStep)
    case decision(DecisionStep)
    case parallel(ParallelStep)
    case wait(WaitStep)
    case timer(TimerStep)
    case block(BlockCall)
    case set([VariableAssignment])
    case notify(NotifyStep)
    case call(CallStep)
    case end(EndStep)

    public var name: String {
        switch self {
        case .task: "task"
        case .decision: "decision"
        case .parallel: "parallel"
        case .wait: "wait"
        case .timer: "timer"
        case .block: "block"
        case .set: "set"
        case .notify: "notify"
        case .call: "call"
        case .end: "end"
        }
    }
}

/// A human step: a task for a role.
public struct TaskStep: Hashable, Sendable {
    public var role: String
    public var title: Template
    /// Markdown.
    public var instructions: Template?
    public var checklist: [ChecklistEntry]
    public var outputs: [FieldSpec]
    /// When the task is due: a span after it opens, or the time a value gives.
    public var due: TaskDue?
    /// How long a claim may last: a claim not completed by then is released, and the task is open again.
    public var claimTimeout: TimeSpan? = nil
    /// A reminder this long before the due time, and one this long after it (both need `due`).
    public var remindBefore: TimeSpan? = nil
    public var remindAfter: TimeSpan? = nil
    /// What happens to the task when it is still not completed some time after it opened.
    public var escalation: Escalation? = nil
}

/// When a task is due.
public enum TaskDue: Hashable, Sendable {
    /// This long after the task opens (`due: 2d`).
    case after(TimeSpan)
    /// At the ISO 8601 time a value gives when the task opens (`due: ${inputs.contract_by}`); no due time when
    /// the value is null.
    case at(ValueSource)
}

/// A task's escalation: `after` its opening, still not completed, it goes to `role` as well (`add`) or instead
/// (`move`).
public struct Escalation: Hashable, Sendable {
    public enum Mode: String, Hashable, Sendable, CaseIterable {
        case add, move
    }

    public var after: TimeSpan
    public var role: String
    public var mode: Mode
}

/// An item of a task's checklist; completing the task requires every item's id.
public struct ChecklistEntry: Hashable, Sendable {
    public var id: String
    public var text: Template
    /// When present and false as the task opens, the item is left out of that task.
    public var condition: Expression?
}

public struct DecisionStep: Hashable, Sendable {
    public var branches: [DecisionBranch]
    /// Where to go when no branch holds; without it the onboarding fails.
    public var otherwise: String?
}

public struct DecisionBranch: Hashable, Sendable {
    public var condition: Expression
    public var next: String
}

public struct ParallelStep: Hashable, Sendable {
    public var branches: [ParallelBranch]
}

public struct ParallelBranch: Hashable, Sendable {
    public var name: String
    /// The branch's steps in file order; the first runs first.
    public var steps: [String]
}

/// Waits for a named outside signal. Its outputs are `received` (false after a timeout) and `data`.
public struct WaitStep: Hashable, Sendable {
    public var signal: String
    public var timeout: TimeSpan?
    /// Where to go after a timeout; `next` when not given.
    public var onTimeout: String?
    /// The shape of the signal's data: when given, the data is an object of these fields (checked as outputs
    /// are), and a signal whose data does not fit is refused.
    public var data: [FieldSpec]? = nil
}

/// Tells a role something (a `RoleNotified` event, which the outbox sends to the webhooks of that role) and goes
/// straight on.
public struct NotifyStep: Hashable, Sendable {
    public var role: String
    public var message: Template
}

/// An automated step: calls an endpoint named in configuration with values of the onboarding, and goes on with
/// the JSON answer as its outputs (checked against `outputs`); after the last failed attempt it goes to
/// `onFailure`, or fails the onboarding with the reason.
public struct CallStep: Hashable, Sendable {
    public var endpoint: String
    /// What the endpoint receives (`with:`), evaluated when the step is entered.
    public var arguments: [NamedValue]
    public var outputs: [FieldSpec]
    public var onFailure: String?
}

public enum TimerStep: Hashable, Sendable {
    /// Fires this long after the step is entered.
    case duration(TimeSpan)
    /// Fires at the ISO 8601 time the value gives.
    case until(ValueSource)
}

/// Runs a block with arguments; the block's `results` become this step's outputs.
public struct BlockCall: Hashable, Sendable {
    public var block: String
    public var arguments: [NamedValue]
}

/// A reusable sub-flow with parameters.
public struct BlockDefinition: Hashable, Sendable {
    public var name: String
    public var title: String?
    public var params: [FieldSpec]
    /// Values the block hands back to the step that ran it, evaluated when the block ends.
    public var results: [NamedValue]
    /// The block's top-level steps in file order; the first runs first.
    public var steps: [String]
    var location: SourcePosition
}

public struct NamedValue: Hashable, Sendable {
    public var name: String
    public var value: ValueSource
}

public typealias VariableAssignment = NamedValue

public struct EndStep: Hashable, Sendable {
    public enum Outcome: String, Hashable, Sendable {
        case completed, failed
    }

    public var outcome: Outcome
    public var reason: Template?
}

extension WorkflowDefinition {
    /// The steps that can follow `step` directly (for graphs and checks), each once.
    func successors(of step: Step) -> [String] {
        var seen = Set<String>()
        return step.successors.filter { seen.insert($0).inserted }
    }

    /// The input spec with this name.
    public func input(named name: String) -> FieldSpec? {
        inputs.first { $0.name == name }
    }
}

extension Step {
    /// The step ids this step may go to next: `next`, decision targets, the timeout target, and `next` again
    /// for a step skipped by its condition. May repeat an id.
    var successors: [String] {
        var result: [String]
        switch kind {
        case .decision(let decision):
            result = decision.branches.map(\.next) + (decision.otherwise.map { [$0] } ?? [])
        case .wait(let wait):
            result = (next.map { [$0] } ?? []) + (wait.onTimeout.map { [$0] } ?? [])
        case .call(let call):
            result = (next.map { [$0] } ?? []) + (call.onFailure.map { [$0] } ?? [])
        case .end:
            result = []
        default:
            result = next.map { [$0] } ?? []
        }
        if condition != nil, let next {
            result.append(next)
        }
        return result
    }
}
