-- Live pages: every transaction that appends events notifies `handoff_events` when it commits (a statement
-- trigger, so one append is one notification; PostgreSQL folds equal notifications of one transaction into one).
-- The notification carries nothing: listeners read what is new from the global log (`readAll`), so a lost or
-- merged notification delays a reader at most until the next one or its polling fallback, and never skips.
CREATE FUNCTION handoff_notify_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('handoff_events', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION handoff_notify_events();
