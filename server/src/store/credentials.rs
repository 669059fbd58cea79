//! Admin tokens and SDK keys. Secrets are returned once, at creation.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{append_audit, AuditEntry};
use crate::auth::{digest, hint, new_secret, KeyKind, Role};
use crate::db::{now_ms, Db};
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct Credential {
    pub id: i64,
    pub name: String,
    /// `viewer` / `editor` / `admin` for tokens, `server` / `client` for keys.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The prefix and last characters, to tell credentials apart.
    pub hint: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// Only in the response that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

pub async fn create_token(db: &Db, name: &str, role: Role, actor: &str) -> ApiResult<Credential> {
    let secret = new_secret("dl_admin");
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO admin_tokens (name, role, token_hash, hint, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(name)
    .bind(role.as_str())
    .bind(digest(&secret))
    .bind(hint(&secret))
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    audit(&mut tx, actor, "token.create", &id.to_string(), None, role.as_str()).await?;
    tx.commit().await?;
    Ok(Credential {
        id,
        name: name.to_owned(),
        kind: role.as_str().to_owned(),
        environment: None,
        hint: hint(&secret),
        created_at: now,
        revoked_at: None,
        secret: Some(secret),
    })
}

pub async fn list_tokens(db: &Db) -> ApiResult<Vec<Credential>> {
    let rows = sqlx::query("SELECT id, name, role, hint, created_at, revoked_at FROM admin_tokens ORDER BY id")
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Credential {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                kind: r.try_get("role")?,
                environment: None,
                hint: r.try_get("hint")?,
                created_at: r.try_get("created_at")?,
                revoked_at: r.try_get("revoked_at")?,
                secret: None,
            })
        })
        .collect()
}

pub async fn revoke_token(db: &Db, id: i64, actor: &str) -> ApiResult<()> {
    let mut tx = db.pool.begin().await?;
    let n = sqlx::query("UPDATE admin_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(ApiError::NotFound(format!("active token {id}")));
    }
    audit(&mut tx, actor, "token.revoke", &id.to_string(), None, "").await?;
    tx.commit().await?;
    Ok(())
}

pub async fn create_key(db: &Db, environment: &str, kind: KeyKind, name: &str, actor: &str) -> ApiResult<Credential> {
    super::environments::get(db, environment).await?;
    let secret = new_secret(match kind {
        KeyKind::Server => "dl_server",
        KeyKind::Client => "dl_client",
    });
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO sdk_keys (environment, kind, name, key_hash, hint, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(environment)
    .bind(kind.as_str())
    .bind(name)
    .bind(digest(&secret))
    .bind(hint(&secret))
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    audit(
        &mut tx,
        actor,
        "key.create",
        &id.to_string(),
        Some(environment),
        kind.as_str(),
    )
    .await?;
    tx.commit().await?;
    Ok(Credential {
        id,
        name: name.to_owned(),
        kind: kind.as_str().to_owned(),
        environment: Some(environment.to_owned()),
        hint: hint(&secret),
        created_at: now,
        revoked_at: None,
        secret: Some(secret),
    })
}

pub async fn list_keys(db: &Db, environment: &str) -> ApiResult<Vec<Credential>> {
    let rows = sqlx::query(
        "SELECT id, environment, kind, name, hint, created_at, revoked_at FROM sdk_keys WHERE environment = $1 ORDER BY id",
    )
    .bind(environment)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Credential {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                kind: r.try_get("kind")?,
                environment: r.try_get("environment")?,
                hint: r.try_get("hint")?,
                created_at: r.try_get("created_at")?,
                revoked_at: r.try_get("revoked_at")?,
                secret: None,
            })
        })
        .collect()
}

/// Revokes a key; returns its digest so caches can forget it.
pub async fn revoke_key(db: &Db, environment: &str, id: i64, actor: &str) -> ApiResult<String> {
    let mut tx = db.pool.begin().await?;
    let digest: Option<String> = sqlx::query_scalar(
        "UPDATE sdk_keys SET revoked_at = $1 WHERE id = $2 AND environment = $3 AND revoked_at IS NULL RETURNING key_hash",
    )
    .bind(now_ms())
    .bind(id)
    .bind(environment)
    .fetch_optional(&mut *tx)
    .await?;
    let digest = digest.ok_or_else(|| ApiError::NotFound(format!("active key {id} in `{environment}`")))?;
    audit(&mut tx, actor, "key.revoke", &id.to_string(), Some(environment), "").await?;
    tx.commit().await?;
    Ok(digest)
}

async fn audit(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    actor: &str,
    action: &str,
    id: &str,
    environment: Option<&str>,
    detail: &str,
) -> ApiResult<()> {
    let kind = if action.starts_with("token") { "token" } else { "key" };
    append_audit(
        tx,
        AuditEntry {
            actor,
            action,
            resource_kind: kind,
            resource_key: id,
            environment,
            before: None,
            after: (!detail.is_empty()).then(|| serde_json::json!({ "kind": detail }).to_string()),
            comment: "",
        },
    )
    .await
}
