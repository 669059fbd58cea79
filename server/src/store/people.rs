//! People: accounts, invitations and console sessions, the rows (SQL only).
//! Only digests of invitation codes and session secrets are stored; the
//! rules (who may invite, expiry, passwords) are in `writes::people` and
//! `auth::session`.

use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};

use super::column::JsonText;
use crate::auth::EnvRoles;
use crate::db::Db;
use crate::error::ApiResult;

/// An account as the API shows it (never its password hash).
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Account {
    pub id: i64,
    pub email: String,
    pub name: String,
    /// `viewer`, `editor` or `admin`.
    pub role: String,
    /// Where the account's role differs: environment key → `viewer` or `editor`.
    #[sqlx(try_from = "JsonText")]
    pub env_roles: EnvRoles,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

const ACCOUNT: &str = "SELECT id, email, name, role, env_roles, created_at, disabled_at FROM accounts";

pub async fn list_accounts(db: &Db) -> ApiResult<Vec<Account>> {
    Ok(sqlx::query_as(&format!("{ACCOUNT} ORDER BY id"))
        .fetch_all(&db.pool)
        .await?)
}

pub async fn account(tx: &mut Transaction<'_, Any>, id: i64) -> ApiResult<Option<Account>> {
    Ok(sqlx::query_as(&format!("{ACCOUNT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?)
}

pub async fn account_by_email(tx: &mut Transaction<'_, Any>, email: &str) -> ApiResult<Option<Account>> {
    Ok(sqlx::query_as(&format!("{ACCOUNT} WHERE email = $1"))
        .bind(email)
        .fetch_optional(&mut **tx)
        .await?)
}

/// An account's password hash, to check a sign-in.
#[derive(Debug, sqlx::FromRow)]
pub struct Login {
    pub id: i64,
    pub password_hash: Option<String>,
    pub disabled_at: Option<i64>,
}

pub async fn login(db: &Db, email: &str) -> ApiResult<Option<Login>> {
    Ok(
        sqlx::query_as("SELECT id, password_hash, disabled_at FROM accounts WHERE email = $1")
            .bind(email)
            .fetch_optional(&db.pool)
            .await?,
    )
}

pub struct NewAccount<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub role: &'a str,
    pub env_roles: &'a EnvRoles,
    pub password_hash: Option<&'a str>,
    pub created_at: i64,
}

pub async fn insert_account(tx: &mut Transaction<'_, Any>, a: &NewAccount<'_>) -> ApiResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO accounts (email, name, role, env_roles, password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
         RETURNING id",
    )
    .bind(a.email)
    .bind(a.name)
    .bind(a.role)
    .bind(crate::auth::env_roles_text(a.env_roles))
    .bind(a.password_hash)
    .bind(a.created_at)
    .fetch_one(&mut **tx)
    .await?)
}

/// Sets an account's role, its per-environment roles and whether it is
/// disabled (`disabled_at`).
pub async fn update_account(
    tx: &mut Transaction<'_, Any>,
    id: i64,
    role: &str,
    env_roles: &EnvRoles,
    disabled_at: Option<i64>,
) -> ApiResult<()> {
    sqlx::query("UPDATE accounts SET role = $1, env_roles = $2, disabled_at = $3 WHERE id = $4")
        .bind(role)
        .bind(crate::auth::env_roles_text(env_roles))
        .bind(disabled_at)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn count_accounts(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
        .fetch_one(&db.pool)
        .await
}

/// An invitation as the API shows it (never its code).
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Invitation {
    pub id: i64,
    pub email: String,
    pub role: String,
    /// Per-environment roles the account will have.
    #[sqlx(try_from = "JsonText")]
    pub env_roles: EnvRoles,
    pub invited_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
}

pub struct NewInvitation<'a> {
    pub code_hash: &'a str,
    pub email: &'a str,
    pub role: &'a str,
    pub env_roles: &'a EnvRoles,
    pub invited_by: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
}

pub async fn insert_invitation(tx: &mut Transaction<'_, Any>, i: &NewInvitation<'_>) -> ApiResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO invitations (code_hash, email, role, env_roles, invited_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(i.code_hash)
    .bind(i.email)
    .bind(i.role)
    .bind(crate::auth::env_roles_text(i.env_roles))
    .bind(i.invited_by)
    .bind(i.created_at)
    .bind(i.expires_at)
    .fetch_one(&mut **tx)
    .await?)
}

/// The first-start setup link: an admin invitation without an email (the
/// first admin gives theirs on accepting), replacing any unused earlier one.
pub async fn replace_setup_invitation(db: &Db, code_hash: &str, now: i64, expires_at: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    sqlx::query("DELETE FROM invitations WHERE email = '' AND accepted_at IS NULL")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO invitations (code_hash, email, role, invited_by, created_at, expires_at) \
         VALUES ($1, '', 'admin', 'setup', $2, $3)",
    )
    .bind(code_hash)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

pub async fn list_invitations(db: &Db) -> ApiResult<Vec<Invitation>> {
    Ok(sqlx::query_as(
        "SELECT id, email, role, env_roles, invited_by, created_at, expires_at, accepted_at FROM invitations ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await?)
}

/// Marks the open invitation with this code accepted, once: the row, or
/// `None` when the code is unknown, used or expired at `now`.
pub async fn accept_invitation(
    tx: &mut Transaction<'_, Any>,
    code_hash: &str,
    now: i64,
) -> ApiResult<Option<Invitation>> {
    Ok(sqlx::query_as(
        "UPDATE invitations SET accepted_at = $1 WHERE code_hash = $2 AND accepted_at IS NULL AND expires_at > $1 \
         RETURNING id, email, role, env_roles, invited_by, created_at, expires_at, accepted_at",
    )
    .bind(now)
    .bind(code_hash)
    .fetch_optional(&mut **tx)
    .await?)
}

pub struct NewSession<'a> {
    pub secret_hash: &'a str,
    pub account_id: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

pub async fn insert_session(db: &Db, s: &NewSession<'_>) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO sessions (secret_hash, account_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $3, $4)",
    )
    .bind(s.secret_hash)
    .bind(s.account_id)
    .bind(s.created_at)
    .bind(s.expires_at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// A session that has not ended, with its person.
#[derive(Debug, sqlx::FromRow)]
pub struct LiveSession {
    pub id: i64,
    pub last_seen_at: i64,
    pub email: String,
    pub name: String,
    pub role: String,
    /// The account's `env_roles` column.
    pub env_roles: String,
}

/// The session with this digest if it is neither revoked, past its
/// absolute expiry, idle since before `idle_since`, nor of a disabled
/// account.
pub async fn live_session(db: &Db, secret_hash: &str, now: i64, idle_since: i64) -> ApiResult<Option<LiveSession>> {
    Ok(sqlx::query_as(
        "SELECT s.id, s.last_seen_at, a.email, a.name, a.role, a.env_roles FROM sessions s JOIN accounts a ON a.id = s.account_id \
         WHERE s.secret_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND s.last_seen_at > $3 \
         AND a.disabled_at IS NULL",
    )
    .bind(secret_hash)
    .bind(now)
    .bind(idle_since)
    .fetch_optional(&db.pool)
    .await?)
}

pub async fn touch_session(db: &Db, id: i64, now: i64) -> ApiResult<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn revoke_session(db: &Db, secret_hash: &str, now: i64) -> ApiResult<bool> {
    let n = sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE secret_hash = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(secret_hash)
        .execute(&db.pool)
        .await?
        .rows_affected();
    Ok(n > 0)
}

/// Ends every session of an account (disabled, or its role changed).
pub async fn revoke_sessions_of(tx: &mut Transaction<'_, Any>, account_id: i64, now: i64) -> ApiResult<()> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(account_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// An account found by its OpenID subject, or by email to link it.
#[derive(Debug, sqlx::FromRow)]
pub struct OidcAccount {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
    #[sqlx(try_from = "JsonText")]
    pub env_roles: EnvRoles,
    pub oidc_subject: Option<String>,
    pub disabled_at: Option<i64>,
}

const OIDC_ACCOUNT: &str = "SELECT id, email, name, role, env_roles, oidc_subject, disabled_at FROM accounts";

pub async fn account_by_subject(tx: &mut Transaction<'_, Any>, subject: &str) -> ApiResult<Option<OidcAccount>> {
    Ok(sqlx::query_as(&format!("{OIDC_ACCOUNT} WHERE oidc_subject = $1"))
        .bind(subject)
        .fetch_optional(&mut **tx)
        .await?)
}

pub async fn oidc_account_by_email(tx: &mut Transaction<'_, Any>, email: &str) -> ApiResult<Option<OidcAccount>> {
    Ok(sqlx::query_as(&format!("{OIDC_ACCOUNT} WHERE email = $1"))
        .bind(email)
        .fetch_optional(&mut **tx)
        .await?)
}

/// Sets what the provider says of an account on each sign-in.
pub async fn set_oidc_identity(
    tx: &mut Transaction<'_, Any>,
    id: i64,
    subject: &str,
    email: &str,
    name: &str,
    role: &str,
    env_roles: &EnvRoles,
) -> ApiResult<()> {
    sqlx::query(
        "UPDATE accounts SET oidc_subject = $1, email = $2, name = $3, role = $4, env_roles = $5 WHERE id = $6",
    )
    .bind(subject)
    .bind(email)
    .bind(name)
    .bind(role)
    .bind(crate::auth::env_roles_text(env_roles))
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A sign-in on its way through the provider.
#[derive(Debug, sqlx::FromRow)]
pub struct OidcLogin {
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: String,
}

pub async fn insert_oidc_login(
    db: &Db,
    state_hash: &str,
    login: &OidcLogin,
    now: i64,
    expires_at: i64,
) -> ApiResult<()> {
    // Forgotten sign-ins (nobody came back) go as new ones start.
    sqlx::query("DELETE FROM oidc_logins WHERE expires_at <= $1")
        .bind(now)
        .execute(&db.pool)
        .await?;
    sqlx::query(
        "INSERT INTO oidc_logins (state_hash, nonce, pkce_verifier, return_to, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(state_hash)
    .bind(&login.nonce)
    .bind(&login.pkce_verifier)
    .bind(&login.return_to)
    .bind(now)
    .bind(expires_at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Takes the sign-in with this state, once: deleted as it is read, so a
/// replayed callback finds nothing. `None` when unknown, used or expired.
pub async fn take_oidc_login(db: &Db, state_hash: &str, now: i64) -> ApiResult<Option<OidcLogin>> {
    Ok(sqlx::query_as(
        "DELETE FROM oidc_logins WHERE state_hash = $1 AND expires_at > $2 RETURNING nonce, pkce_verifier, return_to",
    )
    .bind(state_hash)
    .bind(now)
    .fetch_optional(&db.pool)
    .await?)
}
