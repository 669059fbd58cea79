-- Freeze windows, and kill switches marked in the audit log (PostgreSQL).
-- Keep in step with ../sqlite/0007_freezes.sql.

-- A time in which an environment takes no changes but the kill switch.
-- `schedule` is the JSON of `freeze::Schedule` (once, or weekly in a time
-- zone), checked when written.
CREATE TABLE freeze_windows (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    environment TEXT NOT NULL REFERENCES environments (key),
    name        TEXT NOT NULL,
    schedule    TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX freeze_windows_environment ON freeze_windows (environment);

-- 1 when the entry's write only turned flags off: the kill switch, which
-- goes through freeze windows (and, later, approvals).
ALTER TABLE audit_log ADD COLUMN kill_switch BIGINT NOT NULL DEFAULT 0;
