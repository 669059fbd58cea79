-- OpenID Connect sign-in (PostgreSQL).
-- Keep in step with ../sqlite/0009_oidc.sql.

-- The identity provider's subject (`sub`) of an account made or linked by
-- an OpenID sign-in; the account is found by it on later sign-ins, whatever
-- its email becomes.
ALTER TABLE accounts ADD COLUMN oidc_subject TEXT;
CREATE UNIQUE INDEX accounts_oidc_subject ON accounts (oidc_subject);

-- A sign-in on its way through the provider: the digest of its `state`,
-- the nonce and PKCE verifier that finish it, and where to go afterwards.
-- Kept in the database so that any node can finish what another started;
-- taken (deleted) once, before `expires_at`.
CREATE TABLE oidc_logins (
    state_hash    TEXT PRIMARY KEY,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    return_to     TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
