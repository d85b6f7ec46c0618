/// A failure talking to PostgreSQL: a stable kind, the server's SQLSTATE and message when it sent one.
///
/// Kinds grow without breaking callers: compare with the static members (`error.kind == .server`).
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case connectionFailed, connectionLost, server, decoding, invalidArgument
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// No connection could be opened (server down, wrong address, bad credentials).
        public static let connectionFailed = Kind(.connectionFailed)
        /// An open connection broke during a call; the outcome of that call is unknown.
        public static let connectionLost = Kind(.connectionLost)
        /// The server refused the statement; `sqlState` says why.
        public static let server = Kind(.server)
        /// A value in a result could not be read as the type asked for.
        public static let decoding = Kind(.decoding)
        /// The caller passed something libpq cannot send (for example a NUL byte in a string).
        public static let invalidArgument = Kind(.invalidArgument)

        public var description: String {
            switch base {
            case .connectionFailed: "connection failed"
            case .connectionLost: "connection lost"
            case .server: "server error"
            case .decoding: "decoding error"
            case .invalidArgument: "invalid argument"
            }
        }
    }

    public let kind: Kind
    /// The five-character SQLSTATE the server sent (`23505` unique violation, `40001` serialization failure, …).
    public let sqlState: String?
    /// The server's primary message, or libpq's.
    public let message: String
    public let detail: String?
    /// The constraint a violation names, when the server names one.
    public let constraint: String?

    public init(
        _ kind: Kind, message: String, sqlState: String? = nil, detail: String? = nil, constraint: String? = nil
    ) {
        self.kind = kind
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.constraint = constraint
    }

    /// True when the connection is gone or could not be made: the database is unavailable, not the request wrong.
    public var isConnectionProblem: Bool {
        kind == .connectionFailed || kind == .connectionLost
            || sqlState.map { $0.hasPrefix("08") || $0 == "57P01" || $0 == "57P02" || $0 == "57P03" } == true
    }

    public var description: String {
        var text = "\(kind): \(message)"
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        if let detail { text += "; \(detail)" }
        return text
    }
}
