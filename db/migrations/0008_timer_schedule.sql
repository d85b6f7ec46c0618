-- Timers that fire: the scheduler finds due timers through an index of each onboarding's next due time, and
-- takes a short lease on the onboardings it fires so that schedulers in several processes share the work.
--
-- `next_timer_at` is computed from the projection's `timers` (the pending timers, each with its `dueAt` in
-- `Timestamp`'s ISO 8601 UTC form, which reads the same in every time zone, so the function is immutable in fact).
CREATE FUNCTION handoff_next_timer(timers jsonb) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT min((t ->> 'dueAt')::timestamptz) FROM jsonb_array_elements(timers) t
$$;

ALTER TABLE onboardings
    ADD COLUMN next_timer_at timestamptz(3) GENERATED ALWAYS AS (handoff_next_timer(timers)) STORED;
CREATE INDEX onboardings_next_timer ON onboardings (next_timer_at) WHERE next_timer_at IS NOT NULL;

-- A scheduler's claim on firing one onboarding's due timers until `until`. Firing itself is decided by the engine
-- under the stream lock (a timer that already fired is no longer pending), so a lease only saves duplicate work;
-- a scheduler that dies leaves its leases to run out.
CREATE TABLE timer_leases (
    onboarding_id text PRIMARY KEY,
    until         timestamptz(3) NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON timer_leases TO handoff_runtime;
