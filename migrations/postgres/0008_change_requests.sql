-- Change requests: four-eyes changes to a flag's config (PostgreSQL).
-- Keep in step with ../sqlite/0008_change_requests.sql.

-- Approvals an environment needs before a change applies (0: direct
-- changes, as before).
ALTER TABLE environments ADD COLUMN approvals_required BIGINT NOT NULL DEFAULT 0;

-- A proposed config for one flag in one environment, against the flag's
-- version when it was proposed (`base_version`): it applies only if the
-- flag is still at that version. `revision` counts the author's edits;
-- approvals count only for the current one.
CREATE TABLE change_requests (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flag_key     TEXT NOT NULL,
    environment  TEXT NOT NULL REFERENCES environments (key),
    base_version BIGINT NOT NULL,
    config       TEXT NOT NULL,
    comment      TEXT NOT NULL,
    author       TEXT NOT NULL,
    state        TEXT NOT NULL,
    revision     BIGINT NOT NULL DEFAULT 1,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    settled_by   TEXT,
    settled_at   BIGINT
);
CREATE INDEX change_requests_state ON change_requests (state);

-- Approvals, rejections and comments, each for one revision.
CREATE TABLE change_request_reviews (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id BIGINT NOT NULL REFERENCES change_requests (id),
    revision   BIGINT NOT NULL,
    reviewer   TEXT NOT NULL,
    verdict    TEXT NOT NULL,
    comment    TEXT NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX change_request_reviews_request ON change_request_reviews (request_id);
