//! Environments (`production`, `staging`, …).

use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};

use crate::db::{now_ms, Db};
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Environment {
    pub key: String,
    pub name: String,
    /// Head of the environment's change log.
    pub version: i64,
}

pub async fn list(db: &Db) -> ApiResult<Vec<Environment>> {
    let mut envs: Vec<Environment> = sqlx::query_as("SELECT key, name, version FROM environments ORDER BY key")
        .fetch_all(&db.pool)
        .await?;
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

/// Inserts a new environment at version 0 (409 when the key exists).
pub async fn insert(tx: &mut Transaction<'_, Any>, env: &Environment) -> ApiResult<()> {
    sqlx::query("INSERT INTO environments (key, name, version, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&env.key)
        .bind(&env.name)
        .bind(env.version)
        .bind(now_ms())
        .execute(&mut **tx)
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => ApiError::Conflict(format!("environment `{}` already exists", env.key)),
            other => other,
        })?;
    Ok(())
}

/// Approvals a change to a flag's config in `environment` needs (0: direct
/// changes), through the pool or a writer's transaction.
pub async fn approvals_required<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    environment: &str,
) -> ApiResult<i64> {
    sqlx::query_scalar("SELECT approvals_required FROM environments WHERE key = $1")
        .bind(environment)
        .fetch_optional(executor)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("environment `{environment}`")))
}

pub async fn set_approvals_required(
    tx: &mut Transaction<'_, Any>,
    environment: &str,
    required: i64,
) -> ApiResult<bool> {
    let n = sqlx::query("UPDATE environments SET approvals_required = $1 WHERE key = $2")
        .bind(required)
        .bind(environment)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(n > 0)
}
