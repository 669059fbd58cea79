//! Named cohorts (`crate::cohorts`): one row each, the per-environment
//! weights as JSON.

use std::collections::BTreeMap;

use sqlx::{Any, Transaction};

use super::column::JsonText;
use crate::cohorts::Cohort;
use crate::db::Db;
use crate::error::{ApiError, ApiResult};

#[derive(sqlx::FromRow)]
struct Row {
    key: String,
    name: String,
    description: String,
    salt: String,
    bucket_by: String,
    #[sqlx(try_from = "JsonText")]
    weights: BTreeMap<String, u32>,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<Row> for Cohort {
    fn from(r: Row) -> Cohort {
        Cohort {
            key: r.key,
            name: r.name,
            description: r.description,
            salt: r.salt,
            bucket_by: r.bucket_by,
            weights: r.weights,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const SELECT: &str =
    "SELECT key, name, description, salt, bucket_by, weights, version, created_at, updated_at FROM cohorts";

/// Every cohort by key.
pub async fn all(db: &Db) -> ApiResult<BTreeMap<String, Cohort>> {
    read_all(&db.pool).await
}

/// The same, read inside a transaction (after its environments are locked).
pub async fn all_in(tx: &mut Transaction<'_, Any>) -> ApiResult<BTreeMap<String, Cohort>> {
    read_all(&mut **tx).await
}

async fn read_all<'e>(executor: impl sqlx::Executor<'e, Database = Any>) -> ApiResult<BTreeMap<String, Cohort>> {
    let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} ORDER BY key"))
        .fetch_all(executor)
        .await?;
    Ok(rows.into_iter().map(|r| (r.key.clone(), Cohort::from(r))).collect())
}

pub async fn get(db: &Db, key: &str) -> ApiResult<Cohort> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE key = $1"))
        .bind(key)
        .fetch_optional(&db.pool)
        .await?;
    row.map(Cohort::from)
        .ok_or_else(|| ApiError::NotFound(format!("cohort `{key}`")))
}

fn weights_json(cohort: &Cohort) -> ApiResult<String> {
    serde_json::to_string(&cohort.weights).map_err(|e| ApiError::Internal(e.to_string()))
}

/// Inserts a new cohort (409 when the key exists).
pub async fn insert(tx: &mut Transaction<'_, Any>, c: &Cohort) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO cohorts (key, name, description, salt, bucket_by, weights, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&c.key)
    .bind(&c.name)
    .bind(&c.description)
    .bind(&c.salt)
    .bind(&c.bucket_by)
    .bind(weights_json(c)?)
    .bind(c.version)
    .bind(c.created_at)
    .bind(c.updated_at)
    .execute(&mut **tx)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict(_) => ApiError::Conflict(format!("cohort `{}` already exists", c.key)),
        other => other,
    })?;
    Ok(())
}

/// Stores `after` (weights, version) if the row is still at `read_version`.
pub async fn update_if(tx: &mut Transaction<'_, Any>, after: &Cohort, read_version: i64) -> ApiResult<bool> {
    let updated =
        sqlx::query("UPDATE cohorts SET weights = $1, version = $2, updated_at = $3 WHERE key = $4 AND version = $5")
            .bind(weights_json(after)?)
            .bind(after.version)
            .bind(after.updated_at)
            .bind(&after.key)
            .bind(read_version)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    Ok(updated > 0)
}

/// Deletes cohort `key` if it is still at `read_version`.
pub async fn delete_if(tx: &mut Transaction<'_, Any>, key: &str, read_version: i64) -> ApiResult<bool> {
    let deleted = sqlx::query("DELETE FROM cohorts WHERE key = $1 AND version = $2")
        .bind(key)
        .bind(read_version)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(deleted > 0)
}
