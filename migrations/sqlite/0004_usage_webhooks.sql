-- SDK usage metrics and outgoing webhooks (SQLite).
-- Keep in step with ../postgres/0004_usage_webhooks.sql.

-- Evaluations reported by SDKs, per flag, variation index and minute
-- (`minute` is the Unix ms of the minute's start).
CREATE TABLE usage_evaluations (
    environment TEXT NOT NULL,
    flag_key    TEXT NOT NULL,
    variation   BIGINT NOT NULL,
    minute      BIGINT NOT NULL,
    count       BIGINT NOT NULL,
    PRIMARY KEY (environment, flag_key, variation, minute)
);

-- App-reported events (`track("checkout_error")`), tagged with the flag and
-- variation the context was served.
CREATE TABLE usage_events (
    environment TEXT NOT NULL,
    event       TEXT NOT NULL,
    flag_key    TEXT NOT NULL,
    variation   BIGINT NOT NULL,
    minute      BIGINT NOT NULL,
    count       BIGINT NOT NULL,
    PRIMARY KEY (environment, event, flag_key, variation, minute)
);

-- When a flag was last reported evaluated in an environment (one row per
-- flag, so "last evaluated" and the stale report need no scan of minutes).
CREATE TABLE usage_last_evaluated (
    environment TEXT NOT NULL,
    flag_key    TEXT NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (environment, flag_key)
);

-- Outgoing webhooks. `events` and `environments` are JSON lists of filters
-- (empty: everything); only audit entries after `after_audit_id` are sent.
CREATE TABLE webhooks (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    url            TEXT NOT NULL,
    secret         TEXT NOT NULL,
    events         TEXT NOT NULL,
    environments   TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    after_audit_id BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);

-- One delivery of one audit entry to one webhook; the unique pair makes
-- enqueueing idempotent across nodes and rescans. A node owns a delivery
-- while `lease_until` is in the future.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      BIGINT NOT NULL,
    audit_id        BIGINT NOT NULL,
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    response_code   BIGINT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT,
    UNIQUE (webhook_id, audit_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_audit ON webhook_deliveries (audit_id);
