//! Environments (`production`, `staging`, …).

use serde::Serialize;
use sqlx::Row;

use super::{append_audit, AuditEntry};
use crate::db::{now_ms, Db};
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Environment {
    pub key: String,
    pub name: String,
    /// Head of the environment's change log.
    pub version: i64,
}

pub async fn list(db: &Db) -> ApiResult<Vec<Environment>> {
    let rows = sqlx::query("SELECT key, name, version FROM environments ORDER BY key")
        .fetch_all(&db.pool)
        .await?;
    let mut envs = rows
        .iter()
        .map(|r| {
            Ok(Environment {
                key: r.try_get("key")?,
                name: r.try_get("name")?,
                version: r.try_get("version")?,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    // Byte order, whatever the database's collation: writers lock
    // environments in this order, and one order for all avoids deadlocks.
    envs.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(envs)
}

pub async fn get(db: &Db, key: &str) -> ApiResult<Environment> {
    list(db)
        .await?
        .into_iter()
        .find(|e| e.key == key)
        .ok_or_else(|| ApiError::NotFound(format!("environment `{key}`")))
}

pub async fn create(db: &Db, key: &str, name: &str, actor: &str) -> ApiResult<Environment> {
    let mut tx = db.pool.begin().await?;
    sqlx::query("INSERT INTO environments (key, name, version, created_at) VALUES ($1, $2, 0, $3)")
        .bind(key)
        .bind(name)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => ApiError::Conflict(format!("environment `{key}` already exists")),
            other => other,
        })?;
    let env = Environment {
        key: key.to_owned(),
        name: name.to_owned(),
        version: 0,
    };
    append_audit(
        &mut tx,
        AuditEntry {
            actor,
            action: "environment.create",
            resource_kind: "environment",
            resource_key: key,
            environment: Some(key),
            before: None,
            after: serde_json::to_string(&env).ok(),
            comment: "",
        },
    )
    .await?;
    tx.commit().await?;
    Ok(env)
}
