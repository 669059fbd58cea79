-- Per-environment roles, and change requests for segments and bundles (PostgreSQL). Keep in step with ../sqlite/0012_env_roles.sql.

-- Role overrides per environment, a JSON object of environment key → role
-- (`viewer` or `editor`), e.g. {"production": "viewer"}: an account, an
-- invitation (copied to the account it makes) or an admin token has that
-- role there instead of its own.
ALTER TABLE accounts ADD COLUMN env_roles TEXT NOT NULL DEFAULT '{}';
ALTER TABLE invitations ADD COLUMN env_roles TEXT NOT NULL DEFAULT '{}';
ALTER TABLE admin_tokens ADD COLUMN env_roles TEXT NOT NULL DEFAULT '{}';

-- Change requests beyond flags: what a request changes, `flag` (a flag's
-- config in the environment), `segment` (a segment's keys and rules there)
-- or `bundle` (an app's bundle config there). `flag_key` holds the key of
-- that flag, segment or app, and `base_version` its version.
ALTER TABLE change_requests ADD COLUMN subject TEXT NOT NULL DEFAULT 'flag';
