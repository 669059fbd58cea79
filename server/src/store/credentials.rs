//! Admin tokens and SDK keys: the rows (SQL only). Only digests of secrets
//! are stored; creating, revoking and the audit are in
//! `writes::credentials`, checking a secret in `auth`.

use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};

use crate::db::{now_ms, Db};
use crate::error::ApiResult;

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Credential {
    pub id: i64,
    pub name: String,
    /// `viewer` / `editor` / `admin` for tokens, `server` / `client` for keys.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[sqlx(default)]
    pub environment: Option<String>,
    /// The prefix and last characters, to tell credentials apart.
    pub hint: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// A token's per-environment roles (environment key → `viewer` or
    /// `editor`); absent for SDK keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[sqlx(skip)]
    pub env_roles: Option<crate::auth::EnvRoles>,
    /// Only in the response that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[sqlx(skip)]
    pub secret: Option<String>,
}

/// A new credential's row: what is stored of its secret.
pub struct NewCredential<'a> {
    pub name: &'a str,
    /// The role of a token, the kind of a key.
    pub kind: &'a str,
    pub digest: &'a str,
    pub hint: &'a str,
    pub created_at: i64,
}

/// Inserts an admin token; returns its id.
pub async fn insert_token<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    t: &NewCredential<'_>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO admin_tokens (name, role, token_hash, hint, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(t.name)
    .bind(t.kind)
    .bind(t.digest)
    .bind(t.hint)
    .bind(t.created_at)
    .fetch_one(executor)
    .await
}

pub async fn list_tokens(db: &Db) -> ApiResult<Vec<Credential>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        credential: Credential,
        #[sqlx(try_from = "super::column::JsonText")]
        env_roles: crate::auth::EnvRoles,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, name, role AS kind, env_roles, hint, created_at, revoked_at FROM admin_tokens ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Credential {
            env_roles: Some(row.env_roles),
            ..row.credential
        })
        .collect())
}

/// Sets a token's per-environment roles.
pub async fn set_token_env_roles(
    tx: &mut Transaction<'_, Any>,
    id: i64,
    env_roles: &crate::auth::EnvRoles,
) -> ApiResult<()> {
    sqlx::query("UPDATE admin_tokens SET env_roles = $1 WHERE id = $2")
        .bind(crate::auth::env_roles_text(env_roles))
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Revokes an active token; false when there is none with this id.
pub async fn revoke_token(tx: &mut Transaction<'_, Any>, id: i64) -> ApiResult<bool> {
    let n = sqlx::query("UPDATE admin_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(n > 0)
}

/// An active admin token, as `auth` reads it.
#[derive(Debug, sqlx::FromRow)]
pub struct ActiveToken {
    pub name: String,
    pub role: String,
    /// The `env_roles` column.
    pub env_roles: String,
}

/// The active admin token with this digest.
pub async fn active_token(db: &Db, digest: &str) -> ApiResult<Option<ActiveToken>> {
    Ok(
        sqlx::query_as("SELECT name, role, env_roles FROM admin_tokens WHERE token_hash = $1 AND revoked_at IS NULL")
            .bind(digest)
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// Whether an active admin token has this digest.
pub async fn is_active_token(db: &Db, digest: &str) -> ApiResult<bool> {
    count(
        db,
        "SELECT COUNT(*) FROM admin_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        digest,
    )
    .await
}

/// How many admin tokens there are, revoked ones included.
pub async fn count_tokens(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM admin_tokens")
        .fetch_one(&db.pool)
        .await
}

/// Makes `t` the one active token named `t.name`: revokes the others of
/// that name and inserts it unless it exists (one transaction).
pub async fn replace_named_token(db: &Db, t: &NewCredential<'_>) -> Result<(), sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    sqlx::query("UPDATE admin_tokens SET revoked_at = $1 WHERE name = $2 AND token_hash <> $3 AND revoked_at IS NULL")
        .bind(t.created_at)
        .bind(t.name)
        .bind(t.digest)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO admin_tokens (name, role, token_hash, hint, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (token_hash) DO NOTHING",
    )
    .bind(t.name)
    .bind(t.kind)
    .bind(t.digest)
    .bind(t.hint)
    .bind(t.created_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Inserts an SDK key of `environment`; returns its id.
pub async fn insert_key(tx: &mut Transaction<'_, Any>, environment: &str, k: &NewCredential<'_>) -> ApiResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO sdk_keys (environment, kind, name, key_hash, hint, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(environment)
    .bind(k.kind)
    .bind(k.name)
    .bind(k.digest)
    .bind(k.hint)
    .bind(k.created_at)
    .fetch_one(&mut **tx)
    .await?)
}

pub async fn list_keys(db: &Db, environment: &str) -> ApiResult<Vec<Credential>> {
    Ok(sqlx::query_as(
        "SELECT id, environment, kind, name, hint, created_at, revoked_at FROM sdk_keys WHERE environment = $1 ORDER BY id",
    )
    .bind(environment)
    .fetch_all(&db.pool)
    .await?)
}

/// Revokes an active key of `environment`; returns its digest, or `None`
/// when there is no such key.
pub async fn revoke_key(tx: &mut Transaction<'_, Any>, environment: &str, id: i64) -> ApiResult<Option<String>> {
    Ok(sqlx::query_scalar(
        "UPDATE sdk_keys SET revoked_at = $1 WHERE id = $2 AND environment = $3 AND revoked_at IS NULL RETURNING key_hash",
    )
    .bind(now_ms())
    .bind(id)
    .bind(environment)
    .fetch_optional(&mut **tx)
    .await?)
}

/// An active SDK key, as `auth` reads it.
#[derive(Debug, sqlx::FromRow)]
pub struct ActiveKey {
    pub id: i64,
    pub environment: String,
    pub kind: String,
}

/// The active SDK key with this digest.
pub async fn active_key(db: &Db, digest: &str) -> ApiResult<Option<ActiveKey>> {
    Ok(
        sqlx::query_as("SELECT id, environment, kind FROM sdk_keys WHERE key_hash = $1 AND revoked_at IS NULL")
            .bind(digest)
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// Whether an active SDK key has this digest.
pub async fn is_active_key(db: &Db, digest: &str) -> ApiResult<bool> {
    count(
        db,
        "SELECT COUNT(*) FROM sdk_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        digest,
    )
    .await
}

async fn count(db: &Db, query: &str, digest: &str) -> ApiResult<bool> {
    let n: i64 = sqlx::query_scalar(query).bind(digest).fetch_one(&db.pool).await?;
    Ok(n > 0)
}
