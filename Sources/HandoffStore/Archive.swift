import Foundation
import Postgres

/// The archive of finished onboardings' events (`0018_archived_events.sql`): moved out of `events` by the owner's
/// `archive_onboardings`, read back through `all_events` by every read of a stream or of the log.
public enum Archive {
    /// Finished onboardings (not active) last changed before `cutoff` whose events are still in `events`, the
    /// oldest change first, at most `limit`.
    public static func candidates(on connection: Connection, before cutoff: Date, limit: Int) throws -> [String] {
        try connection.query(
            """
            SELECT o.id FROM onboardings o
             WHERE o.state <> 'active' AND o.updated_at < $1
               AND EXISTS (SELECT FROM events e WHERE e.stream_id = o.id)
             ORDER BY o.updated_at, o.id
             LIMIT $2
            """,
            [cutoff, limit]
        ).rows.map { try $0.string(0) }
    }

    /// Moves the events of those of `ids` that are finished into the archive, in the caller's transaction, under
    /// each stream's lock; returns how many onboardings and events moved.
    public static func archive(on connection: Connection, ids: [String]) throws -> (onboardings: Int, events: Int64) {
        guard !ids.isEmpty else { return (0, 0) }
        let row = try connection.query(
            "SELECT onboardings, events FROM archive_onboardings(ARRAY(SELECT jsonb_array_elements_text($1::jsonb)), $2)",
            [JSONText.array(ids), TaskQueue.lockSpace]
        ).rows[0]
        return (try row.int(0), try row.int64(1))
    }

    /// How many events the archive holds, and of how many onboardings (it counts the table: for a report, not for
    /// hot paths).
    public static func size(on connection: Connection) throws -> (onboardings: Int64, events: Int64) {
        let row = try connection.query(
            "SELECT count(DISTINCT stream_id), count(*) FROM archived_events"
        ).rows[0]
        return (try row.int64(0), try row.int64(1))
    }
}
