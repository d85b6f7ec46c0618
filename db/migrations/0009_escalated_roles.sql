-- Escalation that adds a role: the task keeps its own role and is also claimable by the added ones, so the queue,
-- listings and inboxes of those roles must find it.
ALTER TABLE tasks ADD COLUMN escalated_roles jsonb NOT NULL DEFAULT '[]';

-- Escalated open tasks are few: the queue of a role reads them from this small index next to its own.
CREATE INDEX tasks_escalated_queue ON tasks (created_at, due_at, id)
    WHERE state = 'open' AND escalated_roles <> '[]'::jsonb;
