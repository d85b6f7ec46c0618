import HandoffCore
import HandoffStore
import Postgres

/// Why the engine refused or failed a request: a stable contract code, a message naming the problem, for
/// validation errors every bad field, and the error behind it.
///
/// Every failure of `Engine` is one of these, and every interface renders it from here: the CLI as
/// `error: <code>: <message>`, the HTTP API as a problem document with `status` (see `Code.status`). Nothing was
/// written when one is thrown, except for `database_unavailable`, where the outcome of a write is unknown (retry it
/// with the same command id).
public struct EngineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable error code; compare with the static members. New codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        /// The HTTP status the API answers with.
        public let status: Int
        /// A short summary for people, the same for every error of this code (a problem document's `title`).
        public let title: String

        private init(_ rawValue: String, _ status: Int, _ title: String) {
            self.rawValue = rawValue
            self.status = status
            self.title = title
        }

        public static let notFound = Code("not_found", 404, "Not found")
        public static let versionConflict = Code("version_conflict", 409, "The onboarding changed meanwhile")
        public static let taskAlreadyClaimed = Code("task_already_claimed", 409, "The task is claimed by someone else")
        public static let taskNotClaimedByYou = Code("task_not_claimed_by_you", 409, "The task is not claimed by you")
        public static let taskNotOpen = Code("task_not_open", 409, "The task is no longer open")
        public static let alreadyExists = Code("already_exists", 409, "It exists already")
        public static let onboardingNotActive = Code("onboarding_not_active", 409, "The onboarding is not active")
        public static let signalNotAwaited = Code("signal_not_awaited", 409, "No step waits for this signal")
        public static let forbiddenRole = Code("forbidden_role", 403, "Your roles do not allow this")
        public static let unauthorized = Code("unauthorized", 401, "A valid token is needed")
        public static let invalidOutputs = Code("invalid_outputs", 422, "Some outputs are not valid")
        public static let checklistIncomplete = Code("checklist_incomplete", 422, "Some checklist items are not ticked")
        public static let invalidWorkflow = Code("invalid_workflow", 422, "The workflow does not load")
        public static let invalidInput = Code("invalid_input", 422, "The request is not valid")
        public static let payloadTooLarge = Code("payload_too_large", 413, "The request body is too large")
        public static let methodNotAllowed = Code("method_not_allowed", 405, "The method is not allowed here")
        public static let databaseUnavailable = Code("database_unavailable", 503, "The database is unavailable")
        /// A lock stayed held by another session past the lock timeout, or a statement ran past its limit; nothing
        /// was written, and the same request may be sent again.
        public static let timeout = Code("timeout", 503, "The database did not answer in time; try again")
        /// A migration failed, or an applied one was changed.
        public static let migrationFailed = Code("migration_failed", 500, "A migration failed")
        /// A fault of Handoff itself or of stored data (an event that does not decode); the message says which.
        public static let `internal` = Code("internal", 500, "Internal error")

        static let all: [Code] = [
            .notFound, .versionConflict, .taskAlreadyClaimed, .taskNotClaimedByYou, .taskNotOpen, .alreadyExists,
            .onboardingNotActive, .signalNotAwaited, .forbiddenRole, .unauthorized, .invalidOutputs,
            .checklistIncomplete, .invalidWorkflow, .invalidInput, .payloadTooLarge, .methodNotAllowed,
            .databaseUnavailable, .timeout, .migrationFailed, .internal,
        ]

        /// The code with this contract name; `internal` for a name the engine does not know.
        public static func named(_ rawValue: String) -> Code {
            all.first { $0.rawValue == rawValue } ?? .internal
        }

        public var description: String { rawValue }

        public static func == (lhs: Code, rhs: Code) -> Bool { lhs.rawValue == rhs.rawValue }
        public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }
    }

    public var code: Code
    public var message: String
    /// Every bad field or unticked item, for `invalid_outputs`, `checklist_incomplete` and `invalid_input`.
    public var problems: [FieldProblem]
    /// The error this one was classified from (a PostgreSQL error, a store error), for logs; not compared.
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, problems: [FieldProblem] = [], cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.problems = problems
        self.cause = cause
    }

    public var description: String { "\(code.rawValue): \(message)" }

    public static func == (lhs: EngineError, rhs: EngineError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.problems == rhs.problems
    }

    /// Classifies any error the engine's layers throw; the one place where their errors become contract codes.
    public static func from(_ error: any Error) -> EngineError {
        switch error {
        case let error as EngineError:
            return error
        case let error as DecisionError:
            return EngineError(.named(error.code.rawValue), error.message, problems: error.problems, cause: error)
        case let error as StoreError:
            // A store error that only wraps what the server said (`database_error`) is classified by that.
            if error.code == .databaseError, let cause = error.cause {
                return from(cause)
            }
            return EngineError(.named(error.code.rawValue), error.message, cause: error)
        case let error as PostgresError:
            if error.isConnectionProblem {
                return EngineError(.databaseUnavailable, "the database is unavailable: \(error.message)", cause: error)
            }
            if error.kind == .invalidArgument {
                // A value the caller sent that PostgreSQL cannot hold (a NUL byte in text): nothing was sent.
                return EngineError(.invalidInput, error.message, cause: error)
            }
            if error.sqlState == "55P03" || error.sqlState == "57014" {
                let what = error.sqlState == "55P03" ? "another session held a lock it needs" : "it ran too long"
                return EngineError(.timeout, "the database gave up on the request (\(what)); try again", cause: error)
            }
            if error.sqlState?.hasPrefix("22") == true {
                // A data exception: a value the caller sent that the column can't hold (`\u0000` in JSON text, a
                // number out of range); the statement and its transaction were refused whole.
                return EngineError(.invalidInput, "a value can't be stored: \(error.message)", cause: error)
            }
            return EngineError(.internal, "the database refused a statement: \(error)", cause: error)
        case let error as EventCodingError:
            return EngineError(.internal, "a stored event can't be read: \(error)", cause: error)
        default:
            return EngineError(.internal, String(describing: error))
        }
    }
}
