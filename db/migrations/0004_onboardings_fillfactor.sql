-- Every command rewrites its onboarding's row in `onboardings`, and no indexed column changes on most of them
-- (the state and times do not). Room left free on each page lets PostgreSQL write the new row version on the same
-- page without touching the indexes (a heap-only tuple update), instead of a new page and three index entries.
ALTER TABLE onboardings SET (fillfactor = 70);
