-- Finding onboardings by what they were started with or recorded (`handoff status --where company=Fabrikam`,
-- `GET /onboardings?where=company=Fabrikam`): containment (`@>`) in the inputs or the variables, which these
-- indexes serve. `jsonb_path_ops` indexes each key and value pair as one hash: small, and all that `@>` needs.
CREATE INDEX onboardings_by_input ON onboardings USING gin (inputs jsonb_path_ops);
CREATE INDEX onboardings_by_variable ON onboardings USING gin (variables jsonb_path_ops);
