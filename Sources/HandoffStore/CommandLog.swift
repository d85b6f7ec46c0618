import Foundation
import Postgres

/// The answer to a write that carried a command id, kept so the same id again returns it.
public struct CommandRecord: Sendable, Equatable {
    public var commandId: String
    public var onboardingId: String?
    /// The command's name: `start`, `claim`, `complete`, …
    public var kind: String
    /// A digest of the request; the same id with another request is refused.
    public var fingerprint: String
    /// The answer as JSON text.
    public var response: String

    public init(commandId: String, onboardingId: String?, kind: String, fingerprint: String, response: String) {
        self.commandId = commandId
        self.onboardingId = onboardingId
        self.kind = kind
        self.fingerprint = fingerprint
        self.response = response
    }
}

/// Recorded commands (the `commands` table). Records are written by `Projections.write` with the events.
public enum CommandLog {
    public static func find(on connection: Connection, _ commandId: String) throws -> CommandRecord? {
        try connection.query(findSQL, [commandId]).rows.first.map(record)
    }

    static let findSQL =
        "SELECT command_id, onboarding_id, kind, fingerprint, response::text FROM commands WHERE command_id = $1"

    static func record(_ row: Row) throws -> CommandRecord {
        CommandRecord(
            commandId: try row.string(0), onboardingId: row.optionalString(1), kind: try row.string(2),
            fingerprint: try row.string(3), response: try row.string(4))
    }
}
