import HandoffCore
import HandoffStore
import Postgres

/// Why the engine refused or failed a request: a stable contract code, a message naming the problem, and for
/// validation errors every bad field.
///
/// Every failure of `Engine` is one of these. Nothing was written when one is thrown, except for
/// `database_unavailable`, where the outcome of a write is unknown (retry it with the same command id).
public struct EngineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable error code; compare with the static members. New codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }

        public static let notFound = Code("not_found")
        public static let versionConflict = Code("version_conflict")
        public static let taskAlreadyClaimed = Code("task_already_claimed")
        public static let taskNotClaimedByYou = Code("task_not_claimed_by_you")
        public static let taskNotOpen = Code("task_not_open")
        public static let forbiddenRole = Code("forbidden_role")
        public static let invalidOutputs = Code("invalid_outputs")
        public static let checklistIncomplete = Code("checklist_incomplete")
        public static let invalidWorkflow = Code("invalid_workflow")
        public static let invalidInput = Code("invalid_input")
        public static let databaseUnavailable = Code("database_unavailable")
        /// A fault of Handoff itself or of stored data (an event that does not decode); the message says which.
        public static let `internal` = Code("internal")

        static func decision(_ code: DecisionError.Code) -> Code { Code(code.rawValue) }

        public var description: String { rawValue }
    }

    public var code: Code
    public var message: String
    /// Every bad field or unticked item, for `invalid_outputs`, `checklist_incomplete` and `invalid_input`.
    public var problems: [FieldProblem]

    public init(_ code: Code, _ message: String, problems: [FieldProblem] = []) {
        self.code = code
        self.message = message
        self.problems = problems
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// Classifies any error the engine's layers throw.
    static func from(_ error: any Error) -> EngineError {
        switch error {
        case let error as EngineError:
            return error
        case let error as DecisionError:
            return EngineError(.decision(error.code), error.message, problems: error.problems)
        case let error as StoreError:
            switch error.code {
            case .versionConflict: return EngineError(.versionConflict, error.message)
            case .invalidInput: return EngineError(.invalidInput, error.message)
            case .notFound: return EngineError(.notFound, error.message)
            case .databaseUnavailable: return EngineError(.databaseUnavailable, error.message)
            default: return EngineError(.internal, error.message)
            }
        case let error as PostgresError:
            if error.isConnectionProblem {
                return EngineError(.databaseUnavailable, "the database is unavailable: \(error.message)")
            }
            return EngineError(.internal, "the database refused a statement: \(error)")
        case let error as EventCodingError:
            return EngineError(.internal, "a stored event can't be read: \(error)")
        default:
            return EngineError(.internal, String(describing: error))
        }
    }
}
