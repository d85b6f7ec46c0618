import Foundation
import HandoffJSON
import Postgres

/// A notification to write with the append that causes it (migration 0010): for every webhook subscription it
/// matches, or for the endpoint an automated step calls.
public struct NewNotification: Sendable, Equatable {
    /// The row id for an endpoint's call (the same on every attempt, so the receiver can tell a retry); nil for
    /// webhooks, whose rows get a fresh `msg_…` id per subscription.
    public var id: String?
    public var onboardingId: String
    public var workflowId: String
    /// The role it concerns (a task's), or nil; subscriptions narrowed by role match only their roles.
    public var role: String?
    /// `task.opened`, `onboarding.completed`, …, or `call` for an automated step's call.
    public var kind: String
    /// The endpoint an automated step calls; nil for webhooks.
    public var endpoint: String?
    /// The JSON body sent.
    public var body: String

    public init(
        id: String? = nil, onboardingId: String, workflowId: String, role: String?, kind: String,
        endpoint: String? = nil, body: String
    ) {
        self.id = id
        self.onboardingId = onboardingId
        self.workflowId = workflowId
        self.role = role
        self.kind = kind
        self.endpoint = endpoint
        self.body = body
    }
}

/// A webhook subscription's row.
public struct SubscriptionRecord: Sendable, Equatable {
    public var id: String
    public var url: String
    public var secret: String
    public var workflows: [String]
    public var roles: [String]
    public var kinds: [String]
    public var createdAt: Date

    public init(
        id: String, url: String, secret: String, workflows: [String], roles: [String], kinds: [String], createdAt: Date
    ) {
        self.id = id
        self.url = url
        self.secret = secret
        self.workflows = workflows
        self.roles = roles
        self.kinds = kinds
        self.createdAt = createdAt
    }
}

/// A notification's row as listings show it.
public struct NotificationRecord: Sendable, Equatable {
    public var id: String
    public var seq: Int64
    public var subscriptionId: String?
    public var endpoint: String?
    public var onboardingId: String
    public var kind: String
    /// `pending`, `delivered` or `failed` (dead-lettered).
    public var state: String
    public var attempts: Int
    public var nextAttemptAt: Date
    public var lastStatus: Int?
    public var lastError: String?
    public var createdAt: Date
    public var deliveredAt: Date?
}

/// A notification leased to one dispatcher for one attempt, with where it goes.
public struct LeasedNotification: Sendable, Equatable {
    public var id: String
    public var seq: Int64
    public var onboardingId: String
    public var kind: String
    public var body: String
    /// This attempt's number (1 for the first).
    public var attempt: Int
    /// The subscription's URL and secret; nil for an endpoint's call (configuration names its URL).
    public var subscriptionId: String?
    public var url: String?
    public var secret: String?
    public var endpoint: String?
    public var createdAt: Date
}

/// The outbox's tables: webhook subscriptions and the notifications waiting for, or done with, delivery.
public enum Outbox {
    // MARK: Writing with the append

    /// The common table expression that writes an append's notifications (JSON array parameter `parameter`):
    /// one row per matching subscription, or one per endpoint call, in the order given.
    static func insertBody(parameter: Int) -> String {
        """
        INSERT INTO notifications (id, subscription_id, endpoint, onboarding_id, kind, body)
        SELECT coalesce(n.id, 'msg_' || replace(gen_random_uuid()::text, '-', '')), s.id, n.endpoint,
               n.onboarding_id, n.kind, n.body
          FROM jsonb_to_recordset($\(parameter)::jsonb)
               AS n(seq int, id text, onboarding_id text, workflow text, role text, kind text, endpoint text, body jsonb)
          LEFT JOIN webhook_subscriptions s
            ON n.endpoint IS NULL
           AND (s.workflows = '[]'::jsonb OR s.workflows ? n.workflow)
           AND (s.roles = '[]'::jsonb OR (n.role IS NOT NULL AND s.roles ? n.role))
           AND (s.kinds = '[]'::jsonb OR s.kinds ? n.kind)
         WHERE n.endpoint IS NOT NULL OR s.id IS NOT NULL
         ORDER BY n.seq, s.id
        """
    }

    /// The notifications as the JSON array `insertBody` reads.
    static func encode(_ notifications: [NewNotification]) -> String {
        var text = "["
        for (index, notification) in notifications.enumerated() {
            if index > 0 { text += "," }
            text += "{\"seq\":\(index)"
            text += ",\"id\":" + JSONText.string(notification.id)
            text += ",\"onboarding_id\":" + JSONText.string(notification.onboardingId)
            text += ",\"workflow\":" + JSONText.string(notification.workflowId)
            text += ",\"role\":" + JSONText.string(notification.role)
            text += ",\"kind\":" + JSONText.string(notification.kind)
            text += ",\"endpoint\":" + JSONText.string(notification.endpoint)
            text += ",\"body\":" + notification.body + "}"
        }
        return text + "]"
    }

    // MARK: Subscriptions

    static let subscriptionSelect =
        "SELECT id, url, secret, workflows::text, roles::text, kinds::text, created_at FROM webhook_subscriptions"

    public static func insert(on connection: Connection, _ subscription: SubscriptionRecord) throws -> SubscriptionRecord {
        let row = try connection.query(
            """
            INSERT INTO webhook_subscriptions (id, url, secret, workflows, roles, kinds)
            VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6::jsonb)
            RETURNING id, url, secret, workflows::text, roles::text, kinds::text, created_at
            """,
            [
                subscription.id, subscription.url, subscription.secret, JSONText.array(subscription.workflows),
                JSONText.array(subscription.roles), JSONText.array(subscription.kinds),
            ]
        ).rows[0]
        return try decodeSubscription(row)
    }

    public static func subscriptions(on connection: Connection) throws -> [SubscriptionRecord] {
        try connection.query(subscriptionSelect + " ORDER BY created_at, id").rows.map(decodeSubscription)
    }

    /// Removes a subscription and its notifications still waiting or dead-lettered (its delivered ones stay, the
    /// record of what was sent); false when there is none.
    public static func removeSubscription(on connection: Connection, id: String) throws -> Bool {
        try connection.query(
            """
            WITH removed AS (DELETE FROM webhook_subscriptions WHERE id = $1 RETURNING id),
                 waiting AS (
                     DELETE FROM notifications
                      WHERE state IN ('pending', 'failed') AND subscription_id IN (SELECT id FROM removed))
            SELECT 1 FROM removed
            """,
            [id]
        ).rows.count == 1
    }

    static func decodeSubscription(_ row: Row) throws -> SubscriptionRecord {
        SubscriptionRecord(
            id: try row.string(0), url: try row.string(1), secret: try row.string(2),
            workflows: try JSONText.strings(try row.string(3)), roles: try JSONText.strings(try row.string(4)),
            kinds: try JSONText.strings(try row.string(5)), createdAt: try row.date(6))
    }

    // MARK: Delivery

    /// An arbitrary constant: the advisory lock space of the outbox's lines (a receiver and an onboarding).
    static let lineLockSpace: Int64 = 0x6f75_7462_6f78

    /// The lease's statement: `$1` the limit, `$2` the lease in seconds, `$3` `lineLockSpace`, `$4` the window (the
    /// candidates whose lines' locks are tried).
    ///
    /// The window (the oldest due rows whose lines wait for nothing, in `seq` order) is chosen before any line
    /// lock is tried, and only its rows are tried: a filter that takes locks must not run on rows the plan reads
    /// before it sorts and limits them. Planned from statistics that undercount the pending rows (an outbox
    /// analyzed while it was nearly empty, then a receiver down for an hour), the lease read every pending row,
    /// sorted them and took a line lock for each one first: tens of thousands of locks and milliseconds per lease,
    /// with every line held from other dispatchers until it committed.
    static let leaseSQL = """
            WITH candidates AS MATERIALIZED (
                SELECT n.id, n.seq, coalesce(n.subscription_id, n.endpoint) || '/' || n.onboarding_id AS line
                  FROM notifications n
                 WHERE n.state = 'pending' AND n.next_attempt_at <= now()
                   AND (n.leased_until IS NULL OR n.leased_until <= now())
                   -- OFFSET 0 keeps this a lookup per candidate (through notifications_line): as an anti-join,
                   -- planned from the statistics of a table that was empty when last analyzed, it scanned every
                   -- pending row for each pending row (400 ms for 6,000 of them, against 3 ms).
                   AND NOT EXISTS (
                       SELECT 1 FROM notifications e
                        WHERE e.state = 'pending'
                          AND coalesce(e.subscription_id, e.endpoint) = coalesce(n.subscription_id, n.endpoint)
                          AND e.onboarding_id = n.onboarding_id AND e.seq < n.seq
                          AND (e.next_attempt_at > now() OR e.leased_until > now())
                       OFFSET 0)
                 ORDER BY n.seq
                 LIMIT $4
            ), picked AS (
                SELECT n.id, n.subscription_id, n.seq, c.line
                  FROM candidates c JOIN notifications n ON n.id = c.id
                 -- Checked again on the row as it is when locked (another lease may have committed since).
                 -- IS TRUE: a plain `state = 'pending'` lets the planner read the whole partial index of pending
                 -- rows beside the primary key's few entries when its statistics undercount them.
                 WHERE (n.state = 'pending') IS TRUE AND n.next_attempt_at <= now()
                   AND (n.leased_until IS NULL OR n.leased_until <= now())
                   AND pg_try_advisory_xact_lock(hashtextextended(c.line, $3::bigint))
                 ORDER BY n.seq
                 LIMIT $1
                   FOR UPDATE OF n SKIP LOCKED
            ), placed AS (
                SELECT p.id, p.subscription_id, row_number() OVER (PARTITION BY p.line ORDER BY p.seq) AS place
                  FROM picked p
                 -- A row is leased only with every earlier candidate of its line. One left out was locked by
                 -- another transaction, or leased by a dispatcher that committed after this statement's snapshot
                 -- (so its line's lock was free again): the later rows wait for a later lease.
                 WHERE p.seq < ALL (
                     SELECT c.seq FROM candidates c WHERE c.line = p.line AND c.id NOT IN (SELECT id FROM picked))
            )
            UPDATE notifications n
               SET leased_until = now() + make_interval(secs => $2::float8 * placed.place), attempts = n.attempts + 1
              FROM placed LEFT JOIN webhook_subscriptions s ON s.id = placed.subscription_id
             WHERE n.id = placed.id
            RETURNING n.id, n.seq, n.onboarding_id, n.kind, n.body::text, n.attempts, n.subscription_id, s.url,
                      s.secret, n.endpoint, n.created_at
            """

    /// The lease as `lease` sends it: the settings of its implicit transaction (no bitmap scans, no waiting for the
    /// commit's flush), then `leaseSQL`.
    static func leaseStatements(limit: Int, lease: Double) -> [Statement] {
        [
            ("SELECT set_config('enable_bitmapscan', 'off', true), set_config('synchronous_commit', 'off', true)", []),
            (leaseSQL, [limit, lease, lineLockSpace, 2 * limit]),
        ]
    }

    /// Leases up to `limit` notifications that are due, for one attempt each, for `lease` seconds, oldest first.
    /// Committed without waiting for the flush to disk: a lease lost to a crash only lets the rows be leased again.
    ///
    /// A receiver's notifications of one onboarding form a line, delivered in order: a row is leased only when
    /// every earlier pending row of its line is free and due too (and so leased with it, earlier rows coming
    /// first), and only by the one dispatcher that holds the line's lock while it leases. A line another
    /// dispatcher holds, or whose earlier row waits for a retry, is left alone.
    ///
    /// The candidates are read through `notifications_pending` in order, never with a bitmap scan: its entries of
    /// rows delivered since the table was last vacuumed stay until then, and only an index scan marks them dead
    /// as it meets them, so that the next lease steps over them. A bitmap scan reads them all again: with a steady
    /// flow of notifications, thousands per lease and milliseconds each, and the planner chose one whenever the
    /// statistics counted few pending rows.
    public static func lease(on connection: Connection, limit: Int, lease: Double) throws -> [LeasedNotification] {
        // One round trip, one implicit transaction: the settings hold for the lease's planning and its commit, and
        // end with it.
        try connection.pipeline(leaseStatements(limit: limit, lease: lease))[1].rows.map { row in
            LeasedNotification(
                id: try row.string(0), seq: try row.int64(1), onboardingId: try row.string(2), kind: try row.string(3),
                body: try row.string(4), attempt: try row.int(5), subscriptionId: row.optionalString(6),
                url: row.optionalString(7), secret: row.optionalString(8), endpoint: row.optionalString(9),
                createdAt: try row.date(10))
        }.sorted { $0.seq < $1.seq }
    }

    /// Records what dispatchers' lines did, in one transaction: the delivered attempts, and the leased rows given
    /// back untried (their attempt not counted). Committed without waiting for the flush to disk: a crash that
    /// loses this record only sends those notifications again, with the same ids, as at-least-once allows.
    public static func settle(
        on connection: Connection, delivered deliveries: [(id: String, status: Int)], untried: [String]
    ) throws {
        guard !deliveries.isEmpty || !untried.isEmpty else { return }
        var writer = JSONWriter(capacity: 64 * deliveries.count)
        writer.beginArray()
        for delivery in deliveries {
            writer.beginObject()
            writer.key("id"); writer.string(delivery.id)
            writer.key("status"); writer.integer(delivery.status)
            writer.endObject()
        }
        writer.endArray()
        // One statement, one round trip: its own transaction, committed without waiting for the flush. The rows are
        // found by their ids alone (`= ANY`, and the state tested with IS TRUE so that no partial index on it
        // matches): planned from statistics that undercount the pending rows, a join with the batch, or the
        // partial index of pending rows beside the primary key, read every pending row for each settle.
        try connection.query(
            """
            WITH unflushed AS (SELECT set_config('synchronous_commit', 'off', true)),
                 delivered AS (
                     UPDATE notifications n SET state = 'delivered', delivered_at = now(), leased_until = NULL,
                            last_status = d.status, last_error = NULL
                       FROM jsonb_to_recordset($1::jsonb) AS d(id text, status int)
                      WHERE n.id = d.id
                        AND n.id = ANY (ARRAY(SELECT jsonb_array_elements($1::jsonb) ->> 'id'))
                        AND (n.state = 'pending') IS TRUE),
                 untried AS (
                     UPDATE notifications SET leased_until = NULL, attempts = greatest(attempts - 1, 0)
                      WHERE id = ANY (ARRAY(SELECT jsonb_array_elements_text($2::jsonb)))
                        AND (state = 'pending') IS TRUE)
            SELECT count(*) FROM unflushed
            """,
            [writer.text, JSONText.array(untried)])
    }

    /// Records a failed attempt: the next one after `retryAfter` seconds, or, with nil, dead-lettered.
    @discardableResult
    public static func failed(
        on connection: Connection, id: String, status: Int?, error: String, retryAfter: Double?
    ) throws -> Bool {
        try connection.query(
            """
            UPDATE notifications
               SET state = CASE WHEN $4::float8 IS NULL THEN 'failed' ELSE 'pending' END,
                   next_attempt_at = CASE WHEN $4::float8 IS NULL THEN next_attempt_at
                                          ELSE now() + make_interval(secs => $4::float8) END,
                   leased_until = NULL, last_status = $2, last_error = $3
             WHERE id = $1 AND state = 'pending' RETURNING 1
            """,
            [id, status, String(error.prefix(1000)), retryAfter]
        ).rows.count == 1
    }

    /// Puts a dead-lettered notification back in line for a fresh round of attempts; false when there is no
    /// failed notification with this id.
    public static func resend(on connection: Connection, id: String) throws -> Bool {
        try connection.query(
            """
            UPDATE notifications SET state = 'pending', attempts = 0, next_attempt_at = now(), leased_until = NULL
             WHERE id = $1 AND state = 'failed' RETURNING 1
            """,
            [id]
        ).rows.count == 1
    }

    static let notificationSelect = """
        SELECT id, seq, subscription_id, endpoint, onboarding_id, kind, state, attempts, next_attempt_at,
               last_status, last_error, created_at, delivered_at
          FROM notifications
        """

    /// Notifications in the order they were written, after `afterSeq`, at most `limit`; only dead-lettered ones
    /// with `failedOnly`, only one onboarding's with `onboardingId`.
    public static func notifications(
        on connection: Connection, failedOnly: Bool, onboardingId: String?, limit: Int, afterSeq: Int64?
    ) throws -> [NotificationRecord] {
        try connection.query(
            notificationSelect + """
                 WHERE (NOT $1::bool OR state = 'failed')
                   AND ($2::text IS NULL OR onboarding_id = $2)
                   AND ($3::bigint IS NULL OR seq > $3)
                 ORDER BY seq
                 LIMIT $4
                """,
            [failedOnly, onboardingId, afterSeq, limit]
        ).rows.map(decodeNotification)
    }

    public static func notification(on connection: Connection, id: String) throws -> NotificationRecord? {
        try connection.query(notificationSelect + " WHERE id = $1", [id]).rows.first.map(decodeNotification)
    }

    static func decodeNotification(_ row: Row) throws -> NotificationRecord {
        NotificationRecord(
            id: try row.string(0), seq: try row.int64(1), subscriptionId: row.optionalString(2),
            endpoint: row.optionalString(3), onboardingId: try row.string(4), kind: try row.string(5),
            state: try row.string(6), attempts: try row.int(7), nextAttemptAt: try row.date(8),
            lastStatus: row.isNull(9) ? nil : try row.int(9), lastError: row.optionalString(10), createdAt: try row.date(11),
            deliveredAt: try row.optionalDate(12))
    }
}
