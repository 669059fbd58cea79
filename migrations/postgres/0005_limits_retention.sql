-- Limits and retention (PostgreSQL).
-- Keep in step with ../sqlite/0005_limits_retention.sql.

-- The part of each usage count reported with a server key. Client keys are
-- public, so release guards read only this column (`window_counts`); the
-- usage views read `count` (every key).
ALTER TABLE usage_evaluations ADD COLUMN server_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_events ADD COLUMN server_count BIGINT NOT NULL DEFAULT 0;
