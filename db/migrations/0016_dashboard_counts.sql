-- `counts`: the dashboard's figures kept as counts, so that `GET /stats` reads a few rows however many
-- onboardings and tasks there are. An async projection like those of 0014 (generations, a checkpoint, a lease):
-- for each batch of the log the runner takes the onboardings and tasks its events touched, reads their rows in
-- the inline projections, and moves each one's count from the group it was counted in to the group it is in now.

INSERT INTO async_projections (name, live_generation) VALUES ('counts', 1);
INSERT INTO projection_checkpoints (name, generation) VALUES ('counts', 1);

-- Where each onboarding and task is counted now.
CREATE TABLE counted_onboardings (
    generation    integer NOT NULL,
    onboarding_id text    NOT NULL,
    workflow_id   text    NOT NULL,
    state         text    NOT NULL,
    steps         jsonb   NOT NULL,
    PRIMARY KEY (generation, onboarding_id)
);

CREATE TABLE counted_tasks (
    generation  integer NOT NULL,
    task_id     text    NOT NULL,
    workflow_id text    NOT NULL,
    role        text    NOT NULL,
    step        text    NOT NULL,
    state       text    NOT NULL,
    PRIMARY KEY (generation, task_id)
);

-- Onboardings per workflow, state and current step ('' for one that waits in no step), and tasks per workflow,
-- role, step and state. Rows that fall to 0 stay; readers skip them.
CREATE TABLE onboarding_count_rows (
    generation  integer NOT NULL,
    workflow_id text    NOT NULL,
    state       text    NOT NULL,
    step        text    NOT NULL,
    count       bigint  NOT NULL,
    PRIMARY KEY (generation, workflow_id, state, step)
);

CREATE TABLE task_count_rows (
    generation  integer NOT NULL,
    workflow_id text    NOT NULL,
    role        text    NOT NULL,
    step        text    NOT NULL,
    state       text    NOT NULL,
    count       bigint  NOT NULL,
    PRIMARY KEY (generation, workflow_id, role, step, state)
);

CREATE VIEW onboarding_counts AS
SELECT workflow_id, state, nullif(step, '') AS step, count
  FROM onboarding_count_rows
 WHERE generation = (SELECT live_generation FROM async_projections WHERE name = 'counts') AND count > 0;

CREATE VIEW task_counts AS
SELECT workflow_id, role, step, state, count
  FROM task_count_rows
 WHERE generation = (SELECT live_generation FROM async_projections WHERE name = 'counts') AND count > 0;

-- Overdue tasks are counted when asked (their number depends on the time): this index keeps that count as
-- cheap as there are overdue tasks.
CREATE INDEX tasks_due ON tasks (due_at) WHERE state IN ('open', 'claimed');

-- The dashboard's waiting and working times come from each step's latest tasks (`step_timings` keeps every
-- task's, for BI tools): this index reads them newest first.
CREATE INDEX task_timing_rows_latest ON task_timing_rows (generation, workflow_id, role, step, opened_at DESC);

GRANT SELECT, INSERT, UPDATE, DELETE ON counted_onboardings, counted_tasks, onboarding_count_rows, task_count_rows
    TO handoff_runtime;
GRANT SELECT ON onboarding_counts, task_counts TO handoff_runtime;

-- The tasks of one role that are open or claimed, in the listing's order (`GET /tasks?role=…`, an inbox): a page
-- reads its rows from here, however many tasks the role has had.
CREATE INDEX tasks_listed ON tasks (role, created_at, (coalesce(due_at, 'infinity'::timestamptz)), id)
    WHERE state IN ('open', 'claimed');
