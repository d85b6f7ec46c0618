import Foundation
import Postgres

/// A workflow definition's source as stored once per content hash.
public struct DefinitionRecord: Sendable, Equatable {
    public var contentHash: String
    public var workflowId: String
    public var version: Int
    public var file: String
    public var source: String

    public init(contentHash: String, workflowId: String, version: Int, file: String, source: String) {
        self.contentHash = contentHash
        self.workflowId = workflowId
        self.version = version
        self.file = file
        self.source = source
    }
}

/// The `workflow_definitions` table: every definition an onboarding started with, by content hash.
public enum DefinitionStore {
    /// Stores a definition unless its hash is stored already (a definition never changes under its hash).
    public static func store(on connection: Connection, _ record: DefinitionRecord) throws {
        try connection.query(storeSQL, storeParameters(record))
    }

    /// `store` without blocking a thread (inside a write's transaction).
    public static func store(on connection: Connection, _ record: DefinitionRecord) async throws {
        try await connection.query(storeSQL, storeParameters(record))
    }

    private static let storeSQL = """
        INSERT INTO workflow_definitions (content_hash, workflow_id, version, file, source)
        VALUES ($1, $2, $3, $4, $5) ON CONFLICT (content_hash) DO NOTHING
        """

    private static func storeParameters(_ record: DefinitionRecord) -> [(any PostgresEncodable)?] {
        [record.contentHash, record.workflowId, record.version, record.file, record.source]
    }

    public static func load(on connection: Connection, contentHash: String) throws -> DefinitionRecord? {
        try record(connection.query(loadSQL, [contentHash]))
    }

    /// `load` without blocking a thread (inside a write's transaction).
    public static func load(on connection: Connection, contentHash: String) async throws -> DefinitionRecord? {
        try record(await connection.query(loadSQL, [contentHash]))
    }

    private static let loadSQL =
        "SELECT content_hash, workflow_id, version, file, source FROM workflow_definitions WHERE content_hash = $1"

    private static func record(_ result: QueryResult) throws -> DefinitionRecord? {
        guard let row = result.rows.first else { return nil }
        return DefinitionRecord(
            contentHash: try row.string(0), workflowId: try row.string(1), version: try row.int(2),
            file: try row.string(3), source: try row.string(4))
    }

    /// Every stored definition of one workflow version (one, unless its file was changed without a new version).
    public static func records(on connection: Connection, workflowId: String, version: Int) throws -> [DefinitionRecord] {
        try connection.query(
            "SELECT content_hash, workflow_id, version, file, source FROM workflow_definitions "
                + "WHERE workflow_id = $1 AND version = $2 ORDER BY content_hash",
            [workflowId, version]
        ).rows.map {
            DefinitionRecord(
                contentHash: try $0.string(0), workflowId: try $0.string(1), version: try $0.int(2),
                file: try $0.string(3), source: try $0.string(4))
        }
    }

    /// The content hash of every stored definition.
    public static func contentHashes(on connection: Connection) throws -> [String] {
        try connection.query("SELECT content_hash FROM workflow_definitions ORDER BY content_hash").rows.map {
            try $0.string(0)
        }
    }

    /// Whether a definition with this hash is stored.
    public static func contains(on connection: Connection, contentHash: String) throws -> Bool {
        !(try connection.query("SELECT 1 FROM workflow_definitions WHERE content_hash = $1", [contentHash]).rows
            .isEmpty)
    }
}
