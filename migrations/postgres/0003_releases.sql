-- Staged rollouts (release plans) and scheduled changes, advanced by the
-- scheduler in every node. Keep in step with ../sqlite/0003_releases.sql.

-- `spec` is the plan as asked for (stages, guard), `progress` where it is
-- (JSON); `state` and `next_at` are copies the scheduler's query can use.
-- `version` is bumped by every transition: a node applies a transition only
-- with `WHERE version = <what it read>`, so each happens exactly once.
CREATE TABLE release_plans (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flag_key    TEXT NOT NULL REFERENCES flags (key) ON DELETE CASCADE,
    environment TEXT NOT NULL REFERENCES environments (key),
    spec        TEXT NOT NULL,
    progress    TEXT NOT NULL,
    state       TEXT NOT NULL,
    next_at     BIGINT,
    version     BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX release_plans_due ON release_plans (state, next_at);
-- At most one plan in flight per flag and environment.
CREATE UNIQUE INDEX release_plans_active ON release_plans (flag_key, environment)
    WHERE state IN ('pending', 'running', 'paused');

-- A flag change applied at a given time: `change` is `{"on": bool}` or
-- `{"config": FlagConfig}` for one environment.
CREATE TABLE scheduled_changes (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flag_key    TEXT NOT NULL REFERENCES flags (key) ON DELETE CASCADE,
    environment TEXT NOT NULL REFERENCES environments (key),
    at          BIGINT NOT NULL,
    change      TEXT NOT NULL,
    state       TEXT NOT NULL,
    comment     TEXT NOT NULL DEFAULT '',
    error       TEXT,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    applied_at  BIGINT
);
CREATE INDEX scheduled_changes_due ON scheduled_changes (state, at);
