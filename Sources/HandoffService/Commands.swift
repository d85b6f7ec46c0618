import Foundation
import HandoffCore

/// Who asks for a command: the name every event it appends records as its actor, and the roles that decide what it
/// may do.
///
/// People and dashboards reach Handoff through the HTTP API with a token, whose name and roles make the caller.
/// The local CLI, which holds the database's credentials, acts as an operator (like `psql`): it may do anything
/// but claim a task for a role it does not name.
public struct Caller: Sendable, Equatable {
    public var name: String
    public var roles: Set<String>
    /// An operator's starts, signals, cancels and completions are not checked against roles.
    public var isOperator: Bool

    public init(name: String, roles: Set<String>, isOperator: Bool = false) {
        self.name = name
        self.roles = roles
        self.isOperator = isOperator
    }

    /// The local CLI acting as `name`.
    public static func `operator`(_ name: String) -> Caller {
        Caller(name: name, roles: [], isOperator: true)
    }

    public var isAdmin: Bool { roles.contains(Engine.adminRole) }

    /// The command id of an idempotency key this caller sent (an HTTP `Idempotency-Key`, a dashboard form's id):
    /// keyed by the caller too, so one caller's key never answers for another's request. `scope` keeps the keys of
    /// different interfaces apart.
    public func commandId(key: String, scope: String) -> String {
        scope + "-" + Hex.sha256(Data((name + "\u{0}" + key).utf8))
    }

    /// The roles to check a role-bound command against; nil for an operator (nothing to check).
    var checkedRoles: Set<String>? { isOperator ? nil : roles }
}

extension Engine {
    /// Refuses names that would forge or confuse a history: empty, over 200 characters, with control, invisible
    /// or bidirectional-override characters. Throws `invalid_input`.
    /// Refuses a caller's value that nests deeper than `Value.maximumInputDepth`: the edge's limit, with a margin
    /// below what the readers of stored events take (events wrap the value in levels of their own).
    static func checkInputDepth(_ values: [String: Value], what: String) throws(EngineError) {
        for (name, value) in values {
            try checkInputDepth(value, what: "\(what) '\(name)'", base: 1)
        }
    }

    static func checkInputDepth(_ value: Value, what: String, base: Int = 0) throws(EngineError) {
        var pending: [(Value, Int)] = [(value, base)]
        while let (value, depth) = pending.popLast() {
            switch value {
            case .list(let items):
                guard depth < Value.maximumInputDepth else { throw tooDeep(what) }
                pending.append(contentsOf: items.map { ($0, depth + 1) })
            case .object(let members):
                guard depth < Value.maximumInputDepth else { throw tooDeep(what) }
                pending.append(contentsOf: members.values.map { ($0, depth + 1) })
            default:
                continue
            }
        }
    }

    private static func tooDeep(_ what: String) -> EngineError {
        EngineError(.invalidInput, "\(what) nests deeper than \(Value.maximumInputDepth) levels")
    }

    static func checkActorName(_ name: String, what: String) throws(EngineError) {
        guard !name.isEmpty, name.count <= 200 else {
            throw EngineError(.invalidInput, "\(what) must have 1 to 200 characters")
        }
        if let scalar = PlainText.firstForbiddenInName(name) {
            throw EngineError(
                .invalidInput,
                "\(what) may not hold control, invisible or direction-changing characters "
                    + "(\(PlainText.codePoint(scalar)))")
        }
        // The first and last characters, not `trimmingCharacters` (which goes through NSString on every command).
        guard let first = name.unicodeScalars.first, let last = name.unicodeScalars.last,
              !CharacterSet.whitespaces.contains(first), !CharacterSet.whitespaces.contains(last)
        else {
            throw EngineError(.invalidInput, "\(what) may not start or end with a space")
        }
    }
}

/// A write command, as every interface sends it: the CLI's `apply` lines, the HTTP API's routes and the
/// dashboard's forms all become one of these and go through `Engine.execute`.
public enum Command: Sendable, Equatable {
    case start(workflow: String, inputs: [String: Value], id: String?)
    /// Claims a task for the caller with the given roles (the HTTP API passes the token's roles).
    case claim(task: String, roles: Set<String>)
    case release(task: String)
    case complete(task: String, outputs: [String: Value], checklist: Set<String>)
    case signal(onboarding: String, name: String, data: Value)
    case cancel(onboarding: String, reason: String)
    /// Moves a run in flight to another version of its workflow (an admin's or an operator's).
    case upgrade(onboarding: String, version: Int)

    /// The onboarding the command works on ("" for a start without an id): commands of one onboarding must run in
    /// order, different onboardings may run at once.
    public var onboardingKey: String {
        switch self {
        case .start(_, _, let id): id ?? ""
        case .claim(let task, _), .release(let task), .complete(let task, _, _):
            (try? Engine.onboardingId(ofTask: task)) ?? task
        case .signal(let onboarding, _, _), .cancel(let onboarding, _), .upgrade(let onboarding, _): onboarding
        }
    }
}

/// What a command answers with: the onboarding or the task it changed.
public enum CommandResult: Sendable, Equatable, Encodable {
    case onboarding(OnboardingView)
    case task(TaskView)

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .onboarding(let view): try view.encode(to: encoder)
        case .task(let view): try view.encode(to: encoder)
        }
    }
}

extension Engine {
    /// Carries out `command` for `caller`, with `commandId` making it idempotent.
    ///
    /// Besides each command's own refusals: `forbidden_role` when the caller's roles don't allow it (starting,
    /// signalling and cancelling need `admin` or one of the workflow's `starters`; claiming and completing need the
    /// task's role; releasing someone else's claim needs `admin`).
    public func execute(_ command: Command, by caller: Caller, commandId: String? = nil) async throws(EngineError)
        -> CommandResult
    {
        let actor = caller.name
        switch command {
        case .start(let workflow, let inputs, let id):
            return .onboarding(
                try await start(
                    workflow: workflow, inputs: inputs, id: id, actor: actor, commandId: commandId,
                    allowedRoles: caller.checkedRoles))
        case .claim(let task, let roles):
            return .task(try await claim(taskId: task, user: actor, roles: roles, commandId: commandId))
        case .release(let task):
            return .task(try await release(taskId: task, user: actor, overriding: caller.isAdmin, commandId: commandId))
        case .complete(let task, let outputs, let checklist):
            return .task(
                try await complete(
                    taskId: task, user: actor, outputs: outputs, checklist: checklist, commandId: commandId,
                    roles: caller.checkedRoles))
        case .signal(let onboarding, let name, let data):
            return .onboarding(
                try await signal(
                    onboardingId: onboarding, name: name, data: data, actor: actor, commandId: commandId,
                    allowedRoles: caller.checkedRoles))
        case .cancel(let onboarding, let reason):
            return .onboarding(
                try await cancel(
                    onboardingId: onboarding, user: actor, reason: reason, commandId: commandId,
                    allowedRoles: caller.checkedRoles))
        case .upgrade(let onboarding, let version):
            if let roles = caller.checkedRoles, !roles.contains(Self.adminRole) {
                throw EngineError(.forbiddenRole, "only the role admin may move onboardings to another version")
            }
            return .onboarding(
                try await upgrade(onboardingId: onboarding, toVersion: version, user: actor, commandId: commandId))
        }
    }
}

/// One command as a JSON object, the form `handoff apply` reads line by line:
/// `{"command": "start", "workflow": "mail-send", "id": "acme", "inputs": {...}, "as": "olivia", "commandId": "…"}`;
/// `claim` (task, as, roles), `complete` (task, as, outputs, checklist), `release` (task, as), `signal`
/// (onboarding, name, data, as), `cancel` (onboarding, as, reason), `upgrade` (onboarding, version, as).
public struct CommandRequest: Decodable, Sendable {
    public var command: String
    public var commandId: String?
    public var workflow: String?
    public var id: String?
    public var inputs: [String: Value]?
    public var task: String?
    public var onboarding: String?
    public var `as`: String?
    public var roles: [String]?
    public var outputs: [String: Value]?
    public var checklist: [String]?
    public var name: String?
    public var data: Value?
    public var reason: String?
    public var version: Int?

    /// The command this line names. Throws `invalid_input` for an unknown command or a missing field.
    public func parsed() throws(EngineError) -> Command {
        func required<T>(_ value: T?, _ field: String) throws(EngineError) -> T {
            guard let value else { throw EngineError(.invalidInput, "a \(command) command needs \"\(field)\"") }
            return value
        }
        switch command {
        case "start":
            return .start(workflow: try required(workflow, "workflow"), inputs: inputs ?? [:], id: id)
        case "claim":
            _ = try required(self.as, "as")
            return .claim(task: try required(task, "task"), roles: Set(try required(roles, "roles")))
        case "release":
            _ = try required(self.as, "as")
            return .release(task: try required(task, "task"))
        case "complete":
            _ = try required(self.as, "as")
            return .complete(
                task: try required(task, "task"), outputs: outputs ?? [:], checklist: Set(checklist ?? []))
        case "signal":
            return .signal(onboarding: try required(onboarding, "onboarding"), name: try required(name, "name"), data: data ?? .null)
        case "cancel":
            _ = try required(self.as, "as")
            return .cancel(onboarding: try required(onboarding, "onboarding"), reason: try required(reason, "reason"))
        case "upgrade":
            _ = try required(self.as, "as")
            return .upgrade(onboarding: try required(onboarding, "onboarding"), version: try required(version, "version"))
        default:
            throw EngineError(.invalidInput, "unknown command '\(command)'")
        }
    }
}
