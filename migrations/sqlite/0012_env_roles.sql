-- Per-environment roles (SQLite). Keep in step with ../postgres/0012_env_roles.sql.

-- Role overrides per environment, a JSON object of environment key → role
-- (`viewer` or `editor`), e.g. {"production": "viewer"}: an account, an
-- invitation (copied to the account it makes) or an admin token has that
-- role there instead of its own.
ALTER TABLE accounts ADD COLUMN env_roles TEXT NOT NULL DEFAULT '{}';
ALTER TABLE invitations ADD COLUMN env_roles TEXT NOT NULL DEFAULT '{}';
ALTER TABLE admin_tokens ADD COLUMN env_roles TEXT NOT NULL DEFAULT '{}';
