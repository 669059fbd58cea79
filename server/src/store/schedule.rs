//! Scheduled changes: a flag change in one environment, applied at a given
//! time by the scheduler. Claiming the row (`pending` → `applied`) and
//! writing the flag happen in one transaction, so each change is applied
//! exactly once whichever node gets there first.

use daylight::model::FlagConfig;
use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};
use utoipa::ToSchema;

use super::column::JsonText;
use crate::db::{now_ms, Db};
use crate::error::{ApiError, ApiResult};

/// The change to make: turn the flag on or off, or replace its config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Change {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<FlagConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, sqlx::FromRow)]
pub struct ScheduledChange {
    pub id: i64,
    pub flag_key: String,
    pub environment: String,
    /// When to apply it (Unix ms).
    pub at: i64,
    #[sqlx(try_from = "JsonText")]
    pub change: Change,
    /// `pending`, `applied`, `cancelled` or `failed`.
    pub state: String,
    pub comment: String,
    /// Why it failed, when it did (e.g. a segment it names was deleted).
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub applied_at: Option<i64>,
}

const COLUMNS: &str =
    "id, flag_key, environment, at, change, state, comment, error, created_by, created_at, applied_at FROM scheduled_changes";

pub async fn get(db: &Db, id: i64) -> ApiResult<ScheduledChange> {
    sqlx::query_as(&format!("SELECT {COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("scheduled change {id}")))
}

pub async fn list(
    db: &Db,
    flag: Option<&str>,
    environment: Option<&str>,
    state: Option<&str>,
) -> ApiResult<Vec<ScheduledChange>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} WHERE ($1 IS NULL OR flag_key = $1) AND ($2 IS NULL OR environment = $2)
         AND ($3 IS NULL OR state = $3) ORDER BY at, id LIMIT 500"
    ))
    .bind(flag)
    .bind(environment)
    .bind(state)
    .fetch_all(&db.pool)
    .await?)
}

pub async fn due(db: &Db, now: i64) -> ApiResult<Vec<i64>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM scheduled_changes WHERE state = 'pending' AND at <= $1 ORDER BY at, id")
            .bind(now)
            .fetch_all(&db.pool)
            .await?,
    )
}

/// Inserts a pending change and returns its id.
pub async fn insert(
    tx: &mut Transaction<'_, Any>,
    flag_key: &str,
    environment: &str,
    at: i64,
    change_doc: &str,
    comment: &str,
    created_by: &str,
) -> ApiResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO scheduled_changes (flag_key, environment, at, change, state, comment, created_by, created_at)
         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7) RETURNING id",
    )
    .bind(flag_key)
    .bind(environment)
    .bind(at)
    .bind(change_doc)
    .bind(comment)
    .bind(created_by)
    .bind(now_ms())
    .fetch_one(&mut **tx)
    .await?)
}

/// Moves change `id` from `pending` to `state` (`applied`, `cancelled` or
/// `failed` with `error`); `false` when it was no longer pending (another
/// node got there first).
pub async fn settle(tx: &mut Transaction<'_, Any>, id: i64, state: &str, error: Option<&str>) -> ApiResult<bool> {
    let applied_at = (state == "applied").then(now_ms);
    let settled = sqlx::query(
        "UPDATE scheduled_changes SET state = $1, error = COALESCE($2, error), applied_at = COALESCE($3, applied_at)
         WHERE id = $4 AND state = 'pending'",
    )
    .bind(state)
    .bind(error)
    .bind(applied_at)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(settled > 0)
}
