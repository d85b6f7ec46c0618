-- Tasks of one assignee in any state (`handoff tasks --assignee`, `GET /tasks?assignee=`): the partial index of
-- 0002 serves only a listing that asks for claimed tasks alone, which the planner can prove; this one serves every
-- listing that names an assignee (an equality on `assignee` implies it is not null).
CREATE INDEX tasks_by_assignee_any ON tasks (assignee, created_at) WHERE assignee IS NOT NULL;
