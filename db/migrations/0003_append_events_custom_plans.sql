-- append_events runs its statements through PL/pgSQL's plan cache. A session that first appends while `events` is
-- small caches a generic plan that scans the whole table for the duplicate-id check (`event_id = ANY (...)`), and
-- keeps it until the table is next analysed, so appends slow down as the log grows. Planning each call for its
-- actual arguments keeps the lookups on the unique indexes at every size.
ALTER FUNCTION append_events(text, bigint, jsonb) SET plan_cache_mode = force_custom_plan;
