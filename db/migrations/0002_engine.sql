-- The engine's tables beside the event store: pinned workflow definitions, the inline projections (the task
-- queue and the onboarding status table) and the record of idempotent commands.
--
-- * workflow_definitions holds each definition's source once, by content hash. An onboarding's OnboardingStarted
--   event names the hash, and every later command on it loads exactly that source.
-- * onboardings and tasks are projections: rows computed from each onboarding's stream and written in the same
--   transaction as the events. Both can be emptied and rebuilt from the log at any time.
-- * commands remembers the answer to each write that carried a command id, in the transaction that wrote it, so
--   the same id again returns that answer and writes nothing, also after a restart.
--
-- Writers of one onboarding take its stream lock first (a transaction-level advisory lock on the pair
-- (1212239428, hashtext(onboarding id)); 1212239428 is "HAND" in ASCII), then append with the expected version,
-- then write the projection rows: one lock order everywhere, so claims and the interpreter never deadlock.

CREATE TABLE workflow_definitions (
    content_hash text        PRIMARY KEY,
    workflow_id  text        NOT NULL,
    version      integer     NOT NULL,
    file         text        NOT NULL,
    source       text        NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX workflow_definitions_by_id ON workflow_definitions (workflow_id, version);

CREATE TABLE onboardings (
    id               text        PRIMARY KEY,
    workflow_id      text        NOT NULL,
    workflow_version integer     NOT NULL,
    content_hash     text        NOT NULL,
    state            text        NOT NULL CHECK (state IN ('active', 'completed', 'cancelled', 'failed')),
    reason           text,
    -- The paths of the steps waiting now, in the order they were entered.
    current_steps    jsonb       NOT NULL,
    -- The open and claimed tasks, as short summaries.
    open_tasks       jsonb       NOT NULL,
    variables        jsonb       NOT NULL,
    inputs           jsonb       NOT NULL,
    -- Timers pending and signals awaited: with open tasks, what an active onboarding waits on.
    timers           jsonb       NOT NULL,
    signals          jsonb       NOT NULL,
    started_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    version          bigint      NOT NULL
);

CREATE INDEX onboardings_by_start ON onboardings (started_at, id);
CREATE INDEX onboardings_by_state ON onboardings (state, workflow_id, started_at, id);

CREATE TABLE tasks (
    id            text        PRIMARY KEY,
    onboarding_id text        NOT NULL,
    path          text        NOT NULL,
    step          text        NOT NULL,
    role          text        NOT NULL,
    title         text        NOT NULL,
    instructions  text        NOT NULL,
    state         text        NOT NULL CHECK (state IN ('open', 'claimed', 'completed', 'cancelled')),
    assignee      text,
    checklist     jsonb       NOT NULL,
    outputs       jsonb       NOT NULL,
    due_at        timestamptz,
    created_at    timestamptz NOT NULL,
    completed_by  text,
    result        jsonb,
    checked       jsonb
);

-- The queue: open tasks of a role, oldest first, then by due time. Partial, so it stays small however many
-- tasks were ever completed.
CREATE INDEX tasks_queue ON tasks (role, created_at, due_at, id) WHERE state = 'open';
-- The queue across several roles at once, in the same order.
CREATE INDEX tasks_open_by_time ON tasks (created_at, due_at, id) WHERE state = 'open';
CREATE INDEX tasks_by_onboarding ON tasks (onboarding_id);
CREATE INDEX tasks_by_time ON tasks (created_at, due_at, id);
CREATE INDEX tasks_by_assignee ON tasks (assignee, created_at) WHERE state = 'claimed';

CREATE TABLE commands (
    command_id    text        PRIMARY KEY CHECK (command_id <> ''),
    onboarding_id text,
    kind          text        NOT NULL,
    -- A digest of the request: the same id with a different request is refused.
    fingerprint   text        NOT NULL,
    response      jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Rebuilds of the projections: when each was last rebuilt, and whether one is running.
CREATE TABLE projection_rebuilds (
    name         text        PRIMARY KEY,
    state        text        NOT NULL,
    rebuilt_at   timestamptz,
    events       bigint      NOT NULL DEFAULT 0
);

INSERT INTO projection_rebuilds (name, state) VALUES ('onboardings', 'live'), ('tasks', 'live');
