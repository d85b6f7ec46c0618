import Foundation
import HandoffCore
import HandoffStore
import Postgres
import Timestamps

/// An API token as `tokens list` shows it: never the secret.
public struct TokenView: Codable, Sendable, Equatable {
    public var name: String
    public var roles: [String]
    public var createdAt: Date
    @Nullable public var expiresAt: Date?
    @Nullable public var revokedAt: Date?
    /// `live`, `expired` or `revoked`.
    public var state: String
}

/// A token just made: its record and the secret, which is shown this once and stored only as a hash.
public struct CreatedToken: Codable, Sendable, Equatable {
    public var name: String
    public var roles: [String]
    public var token: String
    public var expiresAt: Date?
}

extension Engine {
    /// What every token starts with, so a leaked one is easy to recognise (and to scan for).
    public static let tokenPrefix = "hnd_"

    /// Makes a token of 256 random bits for `name` with `roles`, valid for `lifetime` seconds (nil: until
    /// revoked). Throws `invalid_input` (a bad name or role), `already_exists` (a live token has the name).
    public func createToken(name: String, roles: [String], lifetime: TimeInterval? = nil) async throws(EngineError)
        -> CreatedToken
    {
        try Self.checkActorName(name, what: "a token name")
        guard !roles.isEmpty else { throw EngineError(.invalidInput, "a token needs at least one --role") }
        for role in roles where !WorkflowLoader.isName(role) || role.count > 100 {
            throw EngineError(.invalidInput, "role '\(role)' may only use letters, digits, '-' and '_' (1 to 100)")
        }
        if let lifetime, !(lifetime > 0 && lifetime <= 10 * 365 * 86_400) {
            throw EngineError(.invalidInput, "a token's lifetime must be more than 0 and at most 10 years")
        }
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let secret = Self.tokenPrefix + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        let uniqueRoles = Self.unique(roles)
        let expiresAt = lifetime.map { Timestamp.normalized(clock().addingTimeInterval($0)) }
        try await read { connection in
            try TokenStore.insert(
                on: connection, name: name, roles: uniqueRoles, hash: Self.tokenHash(secret), expiresAt: expiresAt)
        }
        return CreatedToken(name: name, roles: uniqueRoles, token: secret, expiresAt: expiresAt)
    }

    /// Every token, live ones first.
    public func tokens() async throws(EngineError) -> [TokenView] {
        let now = clock()
        return try await read { connection in try TokenStore.all(on: connection) }.map { record in
            let state =
                record.revokedAt != nil ? "revoked" : (record.expiresAt.map { $0 <= now } == true ? "expired" : "live")
            return TokenView(
                name: record.name, roles: record.roles, createdAt: Timestamp.normalized(record.createdAt),
                expiresAt: record.expiresAt.map(Timestamp.normalized), revokedAt: record.revokedAt.map(Timestamp.normalized),
                state: state)
        }
    }

    /// Revokes the live token named `name`; requests with it are refused from now on. Throws `not_found`.
    public func revokeToken(name: String) async throws(EngineError) {
        let revoked = try await read { connection in try TokenStore.revoke(on: connection, name: name) }
        guard revoked else { throw EngineError(.notFound, "no live token named '\(name)'") }
    }

    /// The caller a bearer token stands for. Throws `unauthorized` for a token that is unknown, revoked or
    /// expired, without saying which; `database_unavailable` when it can't be checked.
    public func authenticate(token: String) async throws(EngineError) -> Caller {
        guard token.hasPrefix(Self.tokenPrefix), token.utf8.count <= 200 else {
            throw EngineError(.unauthorized, "the bearer token is not a Handoff token")
        }
        let hash = Self.tokenHash(token)
        let record = try await read { connection in try TokenStore.live(on: connection, hash: hash) }
        // The lookup is by hash, so no secret is compared; the stored hash is still checked in constant time.
        guard let record, Self.constantTimeEqual(Array(record.hash.utf8), Array(hash.utf8)) else {
            throw EngineError(.unauthorized, "the bearer token is unknown, revoked or expired")
        }
        return Caller(name: record.name, roles: Set(record.roles))
    }

    /// SHA-256 of a token, lowercase hex: how tokens are stored and looked up.
    public static func tokenHash(_ token: String) -> String {
        Hex.sha256(Data(token.utf8))
    }

    /// Compares two byte strings in time that depends only on their lengths.
    static func constantTimeEqual(_ left: [UInt8], _ right: [UInt8]) -> Bool {
        guard left.count == right.count else { return false }
        var difference: UInt8 = 0
        for index in left.indices {
            difference |= left[index] ^ right[index]
        }
        return difference == 0
    }
}
