-- The archive: the events of finished onboardings (completed, cancelled or failed: no command changes them any
-- more) moved out of `events`, so that the table every write and every follower of the log touches holds the
-- work in flight. Nothing is lost and nothing changes: an archived event keeps its position, transaction id, id,
-- version, data and time, and every read of a stream or of the global log reads `all_events`, both tables as one.
--
-- Guarantees (each one tested):
-- * Only `archive_onboardings` moves events, and only those of onboardings that are not active; it runs as the
--   owner (the runtime may neither delete events nor write the archive), takes each stream's lock, and copies
--   before it deletes in one transaction.
-- * An event leaves `events` only when the archive holds it unchanged: the delete trigger checks every column.
-- * Archived events are immutable like the others.
-- * Appends see archived versions: a stream whose events are archived is at its last version, not a new stream
--   (an append expecting no stream or an older version is a version conflict). Commands are refused anyway: the
--   onboarding is finished.

CREATE TABLE archived_events (
    position       bigint      PRIMARY KEY,
    transaction_id xid8        NOT NULL,
    event_id       uuid        NOT NULL,
    stream_id      text        NOT NULL,
    version        bigint      NOT NULL,
    type           text        NOT NULL,
    schema_version integer     NOT NULL,
    data           jsonb       NOT NULL,
    metadata       jsonb       NOT NULL,
    recorded_at    timestamptz NOT NULL,
    archived_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT archived_events_event_id_unique UNIQUE (event_id),
    CONSTRAINT archived_events_stream_version_unique UNIQUE (stream_id, version)
);
CREATE INDEX archived_events_log_order ON archived_events (transaction_id, position);

CREATE TRIGGER archived_events_immutable BEFORE UPDATE OR DELETE ON archived_events
    FOR EACH ROW EXECUTE FUNCTION refuse_event_change();
CREATE TRIGGER archived_events_not_truncated BEFORE TRUNCATE ON archived_events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_event_change();

-- Every event, wherever it is kept. The planner reads both tables' indexes and merges them in order (a stream's
-- versions, the log's (transaction_id, position)), so readers pay one more index probe, not a scan.
CREATE VIEW all_events AS
SELECT position, transaction_id, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at
  FROM events
UNION ALL
SELECT position, transaction_id, event_id, stream_id, version, type, schema_version, data, metadata, recorded_at
  FROM archived_events;

-- A delete from `events` passes only inside `archive_onboardings` and only for an event the archive holds as it
-- is; UPDATE and TRUNCATE are still refused.
CREATE FUNCTION refuse_event_change_unless_archived() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('handoff.archiving', true) = 'on' AND EXISTS (
        SELECT FROM archived_events a
         WHERE a.position = OLD.position AND a.transaction_id = OLD.transaction_id AND a.event_id = OLD.event_id
           AND a.stream_id = OLD.stream_id AND a.version = OLD.version AND a.type = OLD.type
           AND a.schema_version = OLD.schema_version AND a.data = OLD.data AND a.metadata = OLD.metadata
           AND a.recorded_at = OLD.recorded_at)
    THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = 'HO003',
        MESSAGE = format('stored events are immutable: %s on events is refused', TG_OP);
END
$$;

DROP TRIGGER events_immutable ON events;
CREATE TRIGGER events_immutable BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_event_change_unless_archived();

-- Moves the events of the given onboardings that are not active into the archive, under each stream's lock (the
-- engine's, `TaskQueue.lockSpace`: p_lock_space), and returns how many onboardings and events moved. Active,
-- unknown and already archived ids are left as they are.
CREATE FUNCTION archive_onboardings(p_ids text[], p_lock_space bigint)
RETURNS TABLE (onboardings bigint, events bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    v_ids    text[];
    v_events bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(i, p_lock_space))
       FROM (SELECT DISTINCT unnest(p_ids) AS i ORDER BY 1) ids;
    SELECT coalesce(array_agg(o.id ORDER BY o.id), '{}') INTO v_ids
      FROM onboardings o
     WHERE o.id = ANY (p_ids) AND o.state <> 'active'
       AND EXISTS (SELECT FROM events e WHERE e.stream_id = o.id);
    INSERT INTO archived_events (position, transaction_id, event_id, stream_id, version, type, schema_version, data,
                                 metadata, recorded_at)
    SELECT e.position, e.transaction_id, e.event_id, e.stream_id, e.version, e.type, e.schema_version, e.data,
           e.metadata, e.recorded_at
      FROM events e
     WHERE e.stream_id = ANY (v_ids);
    GET DIAGNOSTICS v_events = ROW_COUNT;
    PERFORM set_config('handoff.archiving', 'on', true);
    DELETE FROM events e WHERE e.stream_id = ANY (v_ids);
    PERFORM set_config('handoff.archiving', 'off', true);
    RETURN QUERY SELECT cardinality(v_ids)::bigint, v_events;
END
$$;

-- The appends' version checks count archived versions too (0001's append_events, 0003's mismatch): a stream
-- whose events are all archived is at its last version, not a new stream. The fast path's own check for a new
-- stream looks into the archive as well (EventStore.swift).
CREATE OR REPLACE FUNCTION append_events(
    p_stream_id text, p_expected_version bigint, p_ids uuid[], p_types text[], p_schema_versions integer[],
    p_data jsonb[], p_metadata jsonb[]
)
RETURNS TABLE (event_id uuid, "position" bigint, version bigint, transaction_id xid8, recorded_at timestamptz,
               duplicate boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_count    integer := coalesce(cardinality(p_ids), 0);
    v_current  bigint;
    v_inserted integer;
BEGIN
    IF v_count = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'HO002', MESSAGE = 'an append needs at least one event';
    END IF;
    IF cardinality(p_types) <> v_count OR cardinality(p_schema_versions) <> v_count
       OR cardinality(p_data) <> v_count OR cardinality(p_metadata) <> v_count THEN
        RAISE EXCEPTION USING ERRCODE = 'HO002', MESSAGE = 'the arrays of one append must have one element per event';
    END IF;

    SELECT coalesce(max(e.version), 0) INTO v_current FROM all_events e WHERE e.stream_id = p_stream_id;
    IF p_expected_version IS NOT NULL AND v_current <> p_expected_version THEN
        -- A retry of an append that went through moved the version on: answer it as a duplicate.
        RETURN QUERY SELECT * FROM stored_duplicates(p_stream_id, p_ids);
        IF FOUND THEN
            RETURN;
        END IF;
        RAISE EXCEPTION USING
            ERRCODE = 'HO001',
            MESSAGE = format('stream %s is at version %s, not the expected %s', p_stream_id, v_current,
                             p_expected_version),
            DETAIL = v_current::text;
    END IF;

    RETURN QUERY
        INSERT INTO events AS e (event_id, stream_id, version, type, schema_version, data, metadata)
        SELECT u.id, p_stream_id, v_current + u.n, u.type, u.schema_version, u.data, u.metadata
          FROM unnest(p_ids, p_types, p_schema_versions, p_data, p_metadata) WITH ORDINALITY
               AS u (id, type, schema_version, data, metadata, n)
         ORDER BY u.n
        ON CONFLICT ON CONSTRAINT events_event_id_unique DO NOTHING
        RETURNING e.event_id, e.position, e.version, e.transaction_id, e.recorded_at, false;
    GET DIAGNOSTICS v_inserted = ROW_COUNT;
    IF v_inserted = v_count THEN
        RETURN;
    END IF;
    IF v_inserted = 0 THEN
        RETURN QUERY SELECT * FROM stored_duplicates(p_stream_id, p_ids);
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    -- Raising undoes this statement's inserts.
    RAISE EXCEPTION USING
        ERRCODE = 'HO002',
        MESSAGE = format('%s of the %s event ids are already stored, not all of them in stream %s',
                         v_count - v_inserted, v_count, p_stream_id);
END
$$;

CREATE OR REPLACE FUNCTION append_version_mismatch(p_stream_id text, p_expected_version bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_current bigint;
BEGIN
    SELECT coalesce(max(e.version), 0) INTO v_current FROM all_events e WHERE e.stream_id = p_stream_id;
    RAISE EXCEPTION USING
        ERRCODE = 'HO001',
        MESSAGE = format('stream %s is at version %s, not the expected %s', p_stream_id, v_current,
                         p_expected_version),
        DETAIL = v_current::text;
END
$$;

REVOKE ALL ON archived_events FROM PUBLIC;
REVOKE ALL ON FUNCTION archive_onboardings(text[], bigint) FROM PUBLIC;
GRANT SELECT ON archived_events, all_events TO handoff_runtime;
GRANT EXECUTE ON FUNCTION archive_onboardings(text[], bigint) TO handoff_runtime;
