-- Least privilege: Handoff's processes (CLI commands, `handoff serve`) run as a role that owns nothing.
--
-- Migrations run as the owner of the tables (HANDOFF_MIGRATION_URL, or DATABASE_URL when that one role does
-- both). The runtime logs in as a member of `handoff_runtime`, which may read and append events but not change,
-- delete or truncate them, nor alter the table or disable its triggers (only an owner may): stored events stay
-- immutable even against a buggy or compromised Handoff process. Pinned workflow definitions are immutable the
-- same way. The projections, the command log and the tokens are the runtime's to write.
--
-- A migration that adds a table grants `handoff_runtime` what it needs on it.
DO $$
BEGIN
    BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'handoff_runtime') THEN
            CREATE ROLE handoff_runtime NOLOGIN;
        END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;  -- roles belong to the whole server: a migration of another database made it meanwhile
    END;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO handoff_runtime', current_schema());
    EXECUTE format('GRANT USAGE ON SEQUENCE %s, %s TO handoff_runtime',
        pg_get_serial_sequence('events', 'position'), pg_get_serial_sequence('api_tokens', 'id'));
END
$$;

REVOKE ALL ON events, workflow_definitions, schema_migrations FROM PUBLIC;
GRANT SELECT, INSERT ON events TO handoff_runtime;
GRANT SELECT, INSERT ON workflow_definitions TO handoff_runtime;
GRANT SELECT ON schema_migrations TO handoff_runtime;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON onboardings, tasks, projection_rebuilds TO handoff_runtime;
GRANT SELECT, INSERT, UPDATE, DELETE ON commands, api_tokens TO handoff_runtime;
