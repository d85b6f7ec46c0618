import Foundation
import Postgres

/// Raw-SQL versions of the store's work, for `handoff bench` to measure the engine against on the same database,
/// through the same libpq layer: what PostgreSQL can do when nothing but the statement itself runs.
public enum Baselines {
    /// Creates `baseline_events`, shaped like `events` (same columns, defaults, constraints and indexes, no
    /// triggers, no append function).
    public static func createEventTable(_ pool: ConnectionPool) async throws {
        try await pool.run { connection in
            try connection.execute(
                """
                DROP TABLE IF EXISTS baseline_events;
                CREATE TABLE baseline_events (LIKE events INCLUDING ALL);
                """
            )
        }
    }

    /// Inserts rows into `baseline_events` with plain multi-row `INSERT`s, one statement (and transaction).
    public static func insertEvents(on connection: Connection, streamId: String, firstVersion: Int64, events: [NewEvent])
        throws
    {
        var parameters: [(any PostgresEncodable)?] = []
        var rows: [String] = []
        for (offset, event) in events.enumerated() {
            let base = parameters.count
            rows.append("($\(base + 1)::uuid, $\(base + 2), $\(base + 3)::bigint, $\(base + 4), $\(base + 5)::int, "
                + "$\(base + 6)::jsonb, $\(base + 7)::jsonb)")
            parameters += [
                event.id, streamId, firstVersion + Int64(offset), event.type, event.schemaVersion,
                String(decoding: event.data, as: UTF8.self),
                event.metadata.jsonText,
            ]
        }
        try connection.query(
            "INSERT INTO baseline_events (event_id, stream_id, version, type, schema_version, data, metadata) VALUES "
                + rows.joined(separator: ", "),
            parameters
        )
    }
}
