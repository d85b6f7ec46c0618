import Foundation
import HandoffJSON
import Identifiers
import Postgres
import Timestamps

/// An event brought whole from another database (`handoff import`): its own id, version, time and metadata.
public struct ImportedEvent: FoldableEvent, Equatable {
    public var id: UUID
    public var streamId: String
    public var version: Int64
    public var type: String
    public var schemaVersion: Int
    /// The event's data as JSON text.
    public var dataText: String
    /// The metadata as a JSON object's text.
    public var metadataText: String
    public var recordedAt: Date

    public init(
        id: UUID, streamId: String, version: Int64, type: String, schemaVersion: Int, dataText: String,
        metadataText: String, recordedAt: Date
    ) {
        self.id = id
        self.streamId = streamId
        self.version = version
        self.type = type
        self.schemaVersion = schemaVersion
        self.dataText = dataText
        self.metadataText = metadataText
        self.recordedAt = recordedAt
    }
}

extension EventStore {
    /// Stores a whole stream brought from another database, in the caller's transaction, under the stream's lock:
    /// every event keeps its id, version, time and metadata; positions and transaction ids are this log's, so the
    /// global log stays gap-free and in commit order. Returns false, writing nothing, when the stream has events
    /// here already. An event id stored already (in another stream) fails with a unique violation.
    public static func importStream(on connection: Connection, _ events: [ImportedEvent]) throws -> Bool {
        guard let streamId = events.first?.streamId else { return true }
        try TaskQueue.lockStream(on: connection, streamId)
        guard try connection.query("SELECT 1 FROM all_events WHERE stream_id = $1 LIMIT 1", [streamId]).rows.isEmpty
        else { return false }
        var writer = JSONWriter(capacity: 512 * events.count)
        writer.beginArray()
        for event in events {
            writer.beginObject()
            writer.key("event_id"); writer.string(event.id.lowercaseText)
            writer.key("stream_id"); writer.string(event.streamId)
            writer.key("version"); writer.integer(event.version)
            writer.key("type"); writer.string(event.type)
            writer.key("schema_version"); writer.integer(event.schemaVersion)
            writer.key("data"); writer.raw(event.dataText)
            writer.key("metadata"); writer.raw(event.metadataText)
            writer.key("recorded_at"); writer.string(Timestamp.format(event.recordedAt))
            writer.endObject()
        }
        writer.endArray()
        try connection.query(
            """
            INSERT INTO events (event_id, stream_id, version, type, schema_version, data, metadata, recorded_at)
            SELECT event_id, stream_id, version, type, schema_version, data, metadata, recorded_at
              FROM jsonb_to_recordset($1::jsonb)
                   AS x(event_id uuid, stream_id text, version bigint, type text, schema_version integer,
                        data jsonb, metadata jsonb, recorded_at timestamptz)
             ORDER BY version
            """,
            [writer.text])
        return true
    }
}
