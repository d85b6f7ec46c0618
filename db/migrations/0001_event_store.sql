-- The event store: one table of events, one function that appends them.
--
-- Guarantees (each one tested against a real PostgreSQL):
-- * A stream's versions run 1, 2, 3, … with no gaps or duplicates: UNIQUE (stream_id, version) plus the check
--   in append_events that the stream is at the expected version.
-- * An event id is stored once: appending it again returns the stored event, marked as a duplicate.
-- * The global log is read in (transaction_id, position) order, and only below the oldest transaction still
--   running (pg_snapshot_xmin), so an event whose transaction took its position first and committed last is
--   never skipped. Positions alone are not an order: they are handed out before commit.
-- * Stored events are immutable: UPDATE, DELETE and TRUNCATE are refused by triggers.

CREATE TABLE events (
    position       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id       uuid        NOT NULL,
    stream_id      text        NOT NULL,
    version        bigint      NOT NULL,
    type           text        NOT NULL,
    schema_version integer     NOT NULL DEFAULT 1,
    data           jsonb       NOT NULL,
    metadata       jsonb       NOT NULL DEFAULT '{}',
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_event_id_unique UNIQUE (event_id),
    CONSTRAINT events_stream_version_unique UNIQUE (stream_id, version),
    CONSTRAINT events_version_positive CHECK (version >= 1),
    CONSTRAINT events_stream_id_not_empty CHECK (stream_id <> ''),
    CONSTRAINT events_type_not_empty CHECK (type <> '')
);

-- The global log's order, and the index readers follow.
CREATE INDEX events_log_order ON events (transaction_id, position);

CREATE FUNCTION refuse_event_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'HO003',
        MESSAGE = format('stored events are immutable: %s on events is refused', TG_OP);
END
$$;

CREATE TRIGGER events_immutable BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_event_change();
CREATE TRIGGER events_not_truncated BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_event_change();

-- Appends events to a stream: p_ids, p_types, p_schema_versions, p_data and p_metadata are parallel arrays, one
-- element per event, in order. Each jsonb element is parsed on its own, so no event's data can reach into another.
--
-- p_expected_version: NULL appends whatever the stream's version is; 0 requires that the stream does not exist
-- yet; N requires that the stream is at version N. A mismatch raises SQLSTATE HO001 and writes nothing. Two
-- appends racing with the same expected version both pass the check, and the UNIQUE (stream_id, version) index
-- makes the second wait for the first and then fail: exactly one wins.
--
-- When every event id is already stored in this stream, nothing is written and the stored events come back with
-- duplicate = true (a retried append). Some but not all ids stored, or stored in another stream: SQLSTATE HO002.
-- The common case costs one index probe for the version and the insert itself; duplicates are looked for only
-- when the version does not match or an id collides.
CREATE FUNCTION append_events(
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

    SELECT coalesce(max(e.version), 0) INTO v_current FROM events e WHERE e.stream_id = p_stream_id;
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

-- The stored events when every id in p_ids is stored in p_stream_id; no rows otherwise.
CREATE FUNCTION stored_duplicates(p_stream_id text, p_ids uuid[])
RETURNS TABLE (event_id uuid, "position" bigint, version bigint, transaction_id xid8, recorded_at timestamptz,
               duplicate boolean)
LANGUAGE sql STABLE AS $$
    WITH ids AS (SELECT DISTINCT id FROM unnest(p_ids) AS id),
         stored AS (SELECT e.* FROM events e JOIN ids ON e.event_id = ids.id AND e.stream_id = p_stream_id)
    SELECT s.event_id, s.position, s.version, s.transaction_id, s.recorded_at, true
      FROM stored s
     WHERE (SELECT count(*) FROM stored) = (SELECT count(*) FROM ids)
     ORDER BY s.version;
$$;
