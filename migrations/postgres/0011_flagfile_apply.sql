-- Flags as code: who answers for a flag and when it should be gone (both
-- round-trip through `daylight export` and `apply`), and what `apply`
-- last wrote per flag or segment and environment, so `plan` can tell a
-- change in the file from drift made in the console. Keep in step with
-- ../sqlite/0011_flagfile_apply.sql.
ALTER TABLE flags ADD COLUMN owner TEXT;
-- A date, YYYY-MM-DD (UTC).
ALTER TABLE flags ADD COLUMN expires TEXT;

CREATE TABLE flagfile_applied (
    environment TEXT NOT NULL,
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL,
    -- SHA-256 of the file-owned fields as applied (plan::digest).
    digest      TEXT NOT NULL,
    applied_at  BIGINT NOT NULL,
    applied_by  TEXT NOT NULL,
    PRIMARY KEY (environment, kind, key)
);
