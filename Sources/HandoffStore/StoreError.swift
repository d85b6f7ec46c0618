import Postgres

/// A failure of the store, with the contract's stable error code.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }

        /// The stream is not at the expected version; nothing was written.
        public static let versionConflict = Code("version_conflict")
        /// The request itself is wrong (bad JSON, empty ids, too large); nothing was written.
        public static let invalidInput = Code("invalid_input")
        public static let notFound = Code("not_found")
        /// Something with that name exists already (a live API token's name).
        public static let alreadyExists = Code("already_exists")
        /// PostgreSQL could not be reached, or the connection broke.
        public static let databaseUnavailable = Code("database_unavailable")
        /// A migration failed or an applied one was changed.
        public static let migrationFailed = Code("migration_failed")
        /// Anything else the database refused; the cause says what.
        public static let databaseError = Code("database_error")

        public var description: String { rawValue }
    }

    public let code: Code
    public let message: String
    /// The PostgreSQL error behind this one, if any.
    public let cause: PostgresError?

    public init(_ code: Code, _ message: String, cause: PostgresError? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { "\(code): \(message)" }

    /// Classifies an error from running the store's statements (for callers that pipeline them): a version
    /// conflict or a lost race on a unique index is `version_conflict`, others as `from` says; non-database
    /// errors pass through.
    public static func classify(_ error: any Error) -> any Error {
        if let error = error as? PostgresError, error.sqlState == "23505" {
            return StoreError(.versionConflict, "another writer got there first: \(error.message)", cause: error)
        }
        return from(error)
    }

    /// Classifies a PostgreSQL error: connection problems are `database_unavailable`, data errors `invalid_input`.
    static func from(_ error: any Error) -> any Error {
        guard let error = error as? PostgresError else { return error }
        if error.isConnectionProblem {
            return StoreError(.databaseUnavailable, "the database is unavailable: \(error.message)", cause: error)
        }
        switch error.sqlState {
        case "HO001":
            return StoreError(.versionConflict, error.message, cause: error)
        case "HO002":
            return StoreError(.invalidInput, error.message, cause: error)
        case let state? where state.hasPrefix("22") || state == "23502" || state == "23514":
            return StoreError(.invalidInput, error.message, cause: error)
        default:
            return StoreError(.databaseError, error.description, cause: error)
        }
    }
}

extension ConnectionPool {
    /// `withConnection`, with PostgreSQL errors classified as `StoreError`s.
    @discardableResult
    func run<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        do {
            return try await withConnection(body)
        } catch {
            throw StoreError.from(error)
        }
    }

    /// `withAsyncConnection`, with PostgreSQL errors classified as `StoreError`s.
    @discardableResult
    func runWithoutBlocking<T>(_ body: (Connection) async throws -> T) async throws -> T {
        do {
            return try await withAsyncConnection(body)
        } catch {
            throw StoreError.from(error)
        }
    }

    /// `withTransaction`, with PostgreSQL errors classified as `StoreError`s.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        do {
            return try await withTransaction(body)
        } catch {
            throw StoreError.from(error)
        }
    }
}
