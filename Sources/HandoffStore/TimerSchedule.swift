import Foundation
import Postgres

/// The schedule of pending timers: which onboardings have a timer due, and the leases schedulers take on them
/// (migration 0008). The timers themselves live in the onboardings projection; firing one is the engine's.
public enum TimerSchedule {
    /// An onboarding with a timer due: its id and its pending timers as the projection holds them (JSON).
    public struct Due: Sendable, Equatable {
        public var onboardingId: String
        public var timers: String
    }

    /// Leases up to `limit` onboardings whose next timer is due at `now`, earliest first, for `lease` seconds:
    /// onboardings another scheduler holds a live lease on, or is leasing at this moment, are skipped.
    public static func lease(on connection: Connection, now: Date, limit: Int, lease: Double) throws -> [Due] {
        try connection.query(
            """
            WITH due AS (
                SELECT o.id, o.timers, o.next_timer_at FROM onboardings o
                 WHERE o.next_timer_at <= $1
                   AND NOT EXISTS (SELECT 1 FROM timer_leases l WHERE l.onboarding_id = o.id AND l.until > now())
                 ORDER BY o.next_timer_at
                 LIMIT $2
                   FOR UPDATE OF o SKIP LOCKED
            ), leased AS (
                INSERT INTO timer_leases (onboarding_id, until)
                SELECT id, now() + make_interval(secs => $3) FROM due
                ON CONFLICT (onboarding_id) DO UPDATE SET until = EXCLUDED.until
            )
            SELECT id, timers::text FROM due ORDER BY next_timer_at
            """,
            [now, limit, lease]
        ).rows.map { Due(onboardingId: try $0.string(0), timers: try $0.string(1)) }
    }

    /// Ends the leases of onboardings whose due timers were fired (or found fired), in one statement.
    public static func release(on connection: Connection, _ onboardingIds: [String]) throws {
        guard !onboardingIds.isEmpty else { return }
        try connection.query(
            "DELETE FROM timer_leases WHERE onboarding_id IN (SELECT jsonb_array_elements_text($1::jsonb))",
            [JSONText.array(onboardingIds)])
    }

    /// How many timers are due at `now` and not yet fired, and the earliest due time among them.
    public static func backlog(on connection: Connection, now: Date) throws -> (count: Int, earliest: Date?) {
        let row = try connection.query(
            "SELECT count(*), min(next_timer_at) FROM onboardings WHERE next_timer_at <= $1", [now]
        ).rows[0]
        return (try row.int(0), try row.optionalDate(1))
    }
}
