-- Every notification row a write inserts for a subscription checked its foreign key by locking the subscription's
-- row (FOR KEY SHARE). With a webhook subscribed to everything, every concurrent write locks that one row, and
-- PostgreSQL records several lockers of a row as a multixact: the writers queued on it (`handoff bench outbox`).
-- Removing a subscription now deletes its pending and dead-lettered notifications itself (its delivered ones stay,
-- the record of what was sent); a row written in the instant of the removal finds no subscription when it is
-- leased and is dead-lettered at once ("the webhook was removed").
ALTER TABLE notifications DROP CONSTRAINT notifications_subscription_id_fkey;
