-- Tasks escalated to other roles, open or claimed, in the listing's order: a role's listing merges them into its
-- own (0009's index covers open ones only, for the queue; a listing of open and claimed tasks could not use it and
-- read the whole table).
CREATE INDEX tasks_escalated_listed ON tasks (created_at, (coalesce(due_at, 'infinity'::timestamptz)), id)
    WHERE state IN ('open', 'claimed') AND escalated_roles <> '[]'::jsonb;
