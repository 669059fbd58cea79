-- Daylight schema (PostgreSQL). Keep in step with ../sqlite/0001_initial.sql:
-- the same tables and columns, only the id and type spellings differ.

-- An environment; `version` is the head of its change log (0 = empty).
CREATE TABLE environments (
    key        TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    version    BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- A flag: the whole admin document (shared fields and one config per
-- environment) as JSON. `version` guards optimistic concurrency.
CREATE TABLE flags (
    key        TEXT PRIMARY KEY,
    doc        TEXT NOT NULL,
    version    BIGINT NOT NULL,
    archived   BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A segment (cohort) in one environment; `doc` holds included/excluded/rules.
CREATE TABLE segments (
    environment TEXT NOT NULL REFERENCES environments (key),
    key         TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    doc         TEXT NOT NULL,
    version     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (environment, key)
);

-- The change log SDK streams are built from: every write appends one row per
-- environment it touches, numbered without gaps. `doc` is the flag's rules
-- (or the segment) in that environment after the change; NULL = removed.
CREATE TABLE changes (
    environment TEXT NOT NULL,
    version     BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL,
    doc         TEXT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (environment, version)
);

-- Who changed what, when, from what to what, and why.
CREATE TABLE audit_log (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            BIGINT NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    resource_kind TEXT NOT NULL,
    resource_key  TEXT NOT NULL,
    environment   TEXT,
    before_doc    TEXT,
    after_doc     TEXT,
    comment       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_resource ON audit_log (resource_kind, resource_key);

-- Admin tokens (roles viewer / editor / admin); only a SHA-256 is stored.
CREATE TABLE admin_tokens (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    hint       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- SDK keys: `server` (full rules) or `client` (evaluated client_side flags).
CREATE TABLE sdk_keys (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    environment TEXT NOT NULL REFERENCES environments (key),
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    hint        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

-- Every installation starts with the two environments most teams need.
INSERT INTO environments (key, name, version, created_at) VALUES
    ('production', 'Production', 0, 0),
    ('staging', 'Staging', 0, 0);
