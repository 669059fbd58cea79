-- Limits and retention (SQLite).
-- Keep in step with ../postgres/0005_limits_retention.sql.

-- The part of each usage count reported with a server key. Client keys are
-- public, so release guards read only this column (`window_counts`); the
-- usage views read `count` (every key).
ALTER TABLE usage_evaluations ADD COLUMN server_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_events ADD COLUMN server_count BIGINT NOT NULL DEFAULT 0;

-- When each flag's config last changed per environment, kept by every
-- change-log append, so the stale-flag report reads one row per flag
-- whatever the length of the (compacted) change log.
CREATE TABLE flag_last_changes (
    environment TEXT NOT NULL,
    flag_key    TEXT NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (environment, flag_key)
);
INSERT INTO flag_last_changes (environment, flag_key, at)
    SELECT environment, key, MAX(created_at) FROM changes WHERE kind = 'flag' GROUP BY environment, key;

-- Audit-log retention deletes by age.
CREATE INDEX audit_log_at ON audit_log (at);
