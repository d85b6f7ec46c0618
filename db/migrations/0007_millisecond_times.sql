-- One story of time: every stored time is whole milliseconds, the precision of the times the engine decides with
-- and writes into events (`Timestamp` in the code). The database rounds `now()` to the same millisecond the
-- interpreter rounds it to, so a time read back equals the one computed in memory, `replay --at-time` given a
-- time that `history` printed finds the event recorded then, and every interface writes the same text.
ALTER TABLE events ALTER COLUMN recorded_at TYPE timestamptz(3);
ALTER TABLE workflow_definitions ALTER COLUMN stored_at TYPE timestamptz(3);
ALTER TABLE onboardings
    ALTER COLUMN started_at TYPE timestamptz(3),
    ALTER COLUMN updated_at TYPE timestamptz(3);
ALTER TABLE tasks
    ALTER COLUMN due_at TYPE timestamptz(3),
    ALTER COLUMN created_at TYPE timestamptz(3);
ALTER TABLE commands ALTER COLUMN created_at TYPE timestamptz(3);
ALTER TABLE projection_rebuilds ALTER COLUMN rebuilt_at TYPE timestamptz(3);
ALTER TABLE api_tokens
    ALTER COLUMN created_at TYPE timestamptz(3),
    ALTER COLUMN expires_at TYPE timestamptz(3),
    ALTER COLUMN revoked_at TYPE timestamptz(3);
