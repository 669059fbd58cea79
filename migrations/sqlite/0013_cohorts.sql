-- Named cohorts: one bucketing (salt + bucket_by) with a percentage per
-- environment, materialised by the server into the flag rollouts and
-- bundle canaries that reference it (docs/cohorts.md). Keep in step with
-- ../postgres/0013_cohorts.sql.
CREATE TABLE cohorts (
    key         TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    salt        TEXT NOT NULL,
    bucket_by   TEXT NOT NULL,
    -- {"environment": weight in thousandths of a percent}; absent is 0.
    weights     TEXT NOT NULL,
    version     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
