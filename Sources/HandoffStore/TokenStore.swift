import Foundation
import Postgres

/// One stored API token: everything but the secret, which is never stored.
public struct TokenRecord: Sendable, Equatable {
    public var name: String
    public var roles: [String]
    /// SHA-256 of the token, lowercase hex.
    public var hash: String
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?
}

/// The `api_tokens` table.
public enum TokenStore {
    static let select = """
        SELECT name, array_to_string(roles, ' '), token_hash, created_at, expires_at, revoked_at FROM api_tokens
        """

    /// Stores a new token. Throws `already_exists` when a live token has the name.
    public static func insert(
        on connection: Connection, name: String, roles: [String], hash: String, expiresAt: Date?
    ) throws {
        do {
            try connection.query(
                """
                INSERT INTO api_tokens (name, roles, token_hash, expires_at)
                VALUES ($1, string_to_array($2, ' '), $3, $4)
                """,
                [name, roles.joined(separator: " "), hash, expiresAt])
        } catch let error as PostgresError where error.sqlState == "23505" {
            throw StoreError(.alreadyExists, "a token named '\(name)' exists already (revoke it first)", cause: error)
        }
    }

    /// The live token with this hash: not revoked and not expired at the database's `now()`; nil otherwise.
    public static func live(on connection: Connection, hash: String) throws -> TokenRecord? {
        try connection.query(
            select + " WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
            [hash]
        ).rows.first.map(decode)
    }

    /// Every token, live ones first, by name.
    public static func all(on connection: Connection) throws -> [TokenRecord] {
        try connection.query(select + " ORDER BY revoked_at IS NOT NULL, name, created_at").rows.map(decode)
    }

    /// Revokes the live token with this name; false when there is none.
    public static func revoke(on connection: Connection, name: String) throws -> Bool {
        try connection.query(
            "UPDATE api_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL RETURNING 1", [name]
        ).rows.count == 1
    }

    static func decode(_ row: Row) throws -> TokenRecord {
        TokenRecord(
            name: try row.string(0), roles: try row.string(1).split(separator: " ").map(String.init),
            hash: try row.string(2), createdAt: try row.date(3), expiresAt: try row.optionalDate(4),
            revokedAt: try row.optionalDate(5))
    }
}
