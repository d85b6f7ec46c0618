-- Async projections: tables that follow the global log after the fact, for dashboards and BI tools.
--
-- Each one (`timings`, `variables`, `activity`) is written by the projection runner in `handoff serve` and
-- `handoff worker`: it reads the log from its checkpoint with the gap-safe read, applies a batch and moves the
-- checkpoint in the same transaction, so no event is applied twice or skipped whatever crashes. One process at a
-- time holds a projection's lease; another takes it over once the lease runs out.
--
-- Rows carry a generation. Readers see only the live generation, through the views below; a rebuild writes the
-- next generation beside it, from position zero, and a swap makes it live in one transaction, so no reader ever
-- sees a half-built projection. The runtime role owns no table, so a rebuild needs no DDL.

-- Which generation of each projection readers see.
CREATE TABLE async_projections (
    name            text           PRIMARY KEY,
    live_generation integer        NOT NULL,
    rebuilt_at      timestamptz(3)
);

-- Where each generation is in the log: the live one's (the runner's) and, while a rebuild runs, the next one's.
CREATE TABLE projection_checkpoints (
    name             text           NOT NULL REFERENCES async_projections (name),
    generation       integer        NOT NULL,
    transaction_id   xid8           NOT NULL DEFAULT '0',
    position         bigint         NOT NULL DEFAULT 0,
    -- Events applied so far, when the last batch committed, and the newest applied event's time.
    events           bigint         NOT NULL DEFAULT 0,
    applied_at       timestamptz(3),
    last_recorded_at timestamptz(3),
    -- The process applying it and until when; another process may take over after that.
    owner            text,
    lease_until      timestamptz(3),
    started_at       timestamptz(3) NOT NULL DEFAULT now(),
    PRIMARY KEY (name, generation)
);

INSERT INTO async_projections (name, live_generation) VALUES ('timings', 1), ('variables', 1), ('activity', 1);
INSERT INTO projection_checkpoints (name, generation) VALUES ('timings', 1), ('variables', 1), ('activity', 1);

-- `timings`: one row per task, with when it was opened, first claimed and completed.
CREATE TABLE task_timing_rows (
    generation    integer        NOT NULL,
    task_id       text           NOT NULL,
    onboarding_id text           NOT NULL,
    workflow_id   text           NOT NULL,
    step          text           NOT NULL,
    role          text           NOT NULL,
    opened_at     timestamptz(3) NOT NULL,
    due_at        timestamptz(3),
    claimed_at    timestamptz(3),
    completed_at  timestamptz(3),
    completed_by  text,
    state         text           NOT NULL,
    PRIMARY KEY (generation, task_id)
);
CREATE INDEX task_timing_rows_by_step ON task_timing_rows (generation, workflow_id, role, step);
CREATE INDEX task_timing_rows_overdue ON task_timing_rows (generation, due_at) WHERE state IN ('open', 'claimed');

-- `variables`: each variable an onboarding recorded, its latest value, and who set it when.
CREATE TABLE recorded_variable_rows (
    generation    integer        NOT NULL,
    onboarding_id text           NOT NULL,
    name          text           NOT NULL,
    workflow_id   text           NOT NULL,
    company       text,
    value         jsonb          NOT NULL,
    path          text           NOT NULL,
    set_by        text,
    set_at        timestamptz(3) NOT NULL,
    position      bigint         NOT NULL,
    PRIMARY KEY (generation, onboarding_id, name)
);
CREATE INDEX recorded_variable_rows_by_company ON recorded_variable_rows (generation, company, name);

-- `activity`: every event as a line for people, newest first in the feed.
CREATE TABLE activity_rows (
    generation    integer        NOT NULL,
    position      bigint         NOT NULL,
    onboarding_id text           NOT NULL,
    workflow_id   text           NOT NULL,
    version       bigint         NOT NULL,
    type          text           NOT NULL,
    summary       text           NOT NULL,
    actor         text,
    recorded_at   timestamptz(3) NOT NULL,
    PRIMARY KEY (generation, position)
);
CREATE INDEX activity_rows_by_onboarding ON activity_rows (generation, onboarding_id, position);

-- What readers (the API, the dashboard, a BI tool) read: the live generation only.
CREATE VIEW task_timings AS
SELECT task_id, onboarding_id, workflow_id, step, role, opened_at, due_at, claimed_at, completed_at, completed_by,
       state
  FROM task_timing_rows
 WHERE generation = (SELECT live_generation FROM async_projections WHERE name = 'timings');

-- Per workflow, role and step: open tasks, and the median and 90th percentile of the time a task waited before
-- its first claim and of the time from opening to completion, in seconds.
CREATE VIEW step_timings AS
SELECT workflow_id, role, step,
       count(*) FILTER (WHERE state IN ('open', 'claimed')) AS open,
       count(*) FILTER (WHERE state = 'completed') AS completed,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM claimed_at - opened_at)) AS wait_median_seconds,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM claimed_at - opened_at)) AS wait_p90_seconds,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - opened_at))
           AS complete_median_seconds,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - opened_at))
           AS complete_p90_seconds
  FROM task_timings
 GROUP BY workflow_id, role, step;

-- Open or claimed tasks past their due time, most overdue first.
CREATE VIEW overdue_tasks AS
SELECT task_id, onboarding_id, workflow_id, step, role, state, due_at,
       extract(epoch FROM now() - due_at) AS overdue_seconds
  FROM task_timing_rows
 WHERE generation = (SELECT live_generation FROM async_projections WHERE name = 'timings')
   AND state IN ('open', 'claimed') AND due_at < now();

CREATE VIEW recorded_variables AS
SELECT onboarding_id, name, workflow_id, company, value, path, set_by, set_at, position
  FROM recorded_variable_rows
 WHERE generation = (SELECT live_generation FROM async_projections WHERE name = 'variables');

CREATE VIEW activity AS
SELECT position, onboarding_id, workflow_id, version, type, summary, actor, recorded_at
  FROM activity_rows
 WHERE generation = (SELECT live_generation FROM async_projections WHERE name = 'activity');

GRANT SELECT, UPDATE ON async_projections TO handoff_runtime;
GRANT SELECT, INSERT, UPDATE, DELETE ON projection_checkpoints, task_timing_rows, recorded_variable_rows,
    activity_rows TO handoff_runtime;
GRANT SELECT ON task_timings, step_timings, overdue_tasks, recorded_variables, activity TO handoff_runtime;
