-- People: accounts, invitations and console sessions (SQLite).
-- Keep in step with ../postgres/0006_people.sql.

-- A person who signs in to the console. `password_hash` is an argon2id PHC
-- string (local accounts); `disabled_at` ends every session of the account.
CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT,
    created_at    BIGINT NOT NULL,
    disabled_at   BIGINT
);

-- An admin's invitation to one email address with a role; only the
-- SHA-256 digest of its code is kept. Used once, before `expires_at`.
CREATE TABLE invitations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    code_hash   TEXT NOT NULL UNIQUE,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL,
    invited_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    accepted_at BIGINT
);

-- A console session: the digest of the cookie's secret. It ends at
-- `expires_at` (absolute), after the idle time since `last_seen_at`, or when
-- revoked (sign-out, a disabled account); every node reads this table, so a
-- revocation holds everywhere at once.
CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    secret_hash  TEXT NOT NULL UNIQUE,
    account_id   BIGINT NOT NULL REFERENCES accounts (id),
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX sessions_account ON sessions (account_id);
