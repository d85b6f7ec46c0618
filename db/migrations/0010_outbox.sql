-- The outbox: notifications written in the transaction that appends their event, and delivered afterwards by a
-- dispatcher in `handoff serve` / `handoff worker` (at least once, in order per onboarding and target).

-- Who is told: a URL and its signing secret, narrowed by workflow, role and notification kind (an empty list
-- narrows nothing).
CREATE TABLE webhook_subscriptions (
    id         text           PRIMARY KEY,
    url        text           NOT NULL,
    secret     text           NOT NULL,
    workflows  jsonb          NOT NULL DEFAULT '[]',
    roles      jsonb          NOT NULL DEFAULT '[]',
    kinds      jsonb          NOT NULL DEFAULT '[]',
    created_at timestamptz(3) NOT NULL DEFAULT now()
);

-- One row per notification and target: a webhook subscription, or the endpoint an automated step calls. `id` is
-- the `webhook-id` of every attempt. Only the oldest pending row of a target and onboarding is ever sent, so each
-- receiver sees one onboarding's notifications in order.
CREATE TABLE notifications (
    id              text           PRIMARY KEY,
    seq             bigint         GENERATED ALWAYS AS IDENTITY UNIQUE,
    subscription_id text           REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    endpoint        text,
    onboarding_id   text           NOT NULL,
    kind            text           NOT NULL,
    body            jsonb          NOT NULL,
    state           text           NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer        NOT NULL DEFAULT 0,
    next_attempt_at timestamptz(3) NOT NULL DEFAULT now(),
    leased_until    timestamptz(3),
    last_status     integer,
    last_error      text,
    created_at      timestamptz(3) NOT NULL DEFAULT now(),
    delivered_at    timestamptz(3),
    CHECK ((subscription_id IS NULL) <> (endpoint IS NULL))
);

-- The dispatcher's work: pending rows oldest first (a lease walks it and stops at its limit), and each
-- receiver's line of one onboarding.
CREATE INDEX notifications_pending ON notifications (seq) WHERE state = 'pending';
CREATE INDEX notifications_line ON notifications (coalesce(subscription_id, endpoint), onboarding_id, seq)
    WHERE state = 'pending';
CREATE INDEX notifications_failed ON notifications (seq) WHERE state = 'failed';
CREATE INDEX notifications_by_onboarding ON notifications (onboarding_id, seq);

GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_subscriptions, notifications TO handoff_runtime;
