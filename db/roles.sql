-- The two logins of a least-privilege set-up, for a PostgreSQL server of your own (docker-compose.yml runs this
-- on its first start). Run it once as a superuser (or a role with CREATEROLE), with passwords of your own:
--
--   psql "$ADMIN_URL" -v runtime_password=... -f db/roles.sql
--
-- Then give Handoff the runtime login as DATABASE_URL and the owner as HANDOFF_MIGRATION_URL. The migrations,
-- run as the owner, grant `handoff_runtime` what the runtime needs and nothing more (see
-- db/migrations/0006_runtime_role.sql).
\if :{?runtime_password}
\else
\set runtime_password handoff_app
\endif
CREATE ROLE handoff_runtime NOLOGIN;
CREATE ROLE handoff_app LOGIN PASSWORD :'runtime_password' IN ROLE handoff_runtime;
