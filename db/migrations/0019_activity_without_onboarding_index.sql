-- The activity feed is read newest first across onboardings (its primary key); one onboarding's timeline is its
-- history, read from the stream's own index. The index by onboarding served no reader and cost every applied event
-- an entry (about an eighth of a rebuild's insert time).
DROP INDEX activity_rows_by_onboarding;
