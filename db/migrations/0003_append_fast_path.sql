-- The append's fast path: one plain INSERT … SELECT FROM unnest(…) per append, chosen by the client from the
-- expected version it holds, so the common append costs about what a plain INSERT of its rows costs (append_events,
-- a PL/pgSQL function, cost about half as much again in server CPU per transaction).
--
--   expected 0 (no stream): versions 1..n, no lookup. When the stream exists, version 1 does, and the insert
--     fails on events_stream_version_unique (SQLSTATE 23505).
--   expected N: versions N+1..N+n if version N exists, else append_version_mismatch raises HO001. When the stream
--     is past N, version N+1 exists and the insert fails with 23505. Versions are never deleted (the immutability
--     triggers), so no gap is possible either way.
--   expected any: versions after the stream's current one.
--
-- Any failure writes nothing. The client then asks append_events (0001), which tells a retried append
-- (duplicate = true) from a real conflict (HO001) or bad input (HO002). The statements themselves live in
-- EventStore.swift; they are plain statements rather than a function so the server keeps generic plans for them.

-- Raises HO001 for an append whose expected version does not match; the fast path calls it only on a mismatch.
CREATE FUNCTION append_version_mismatch(p_stream_id text, p_expected_version bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_current bigint;
BEGIN
    SELECT coalesce(max(e.version), 0) INTO v_current FROM events e WHERE e.stream_id = p_stream_id;
    RAISE EXCEPTION USING
        ERRCODE = 'HO001',
        MESSAGE = format('stream %s is at version %s, not the expected %s', p_stream_id, v_current,
                         p_expected_version),
        DETAIL = v_current::text;
END
$$;
