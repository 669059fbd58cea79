//! Release plans in the database. A transition is conditional on the
//! plan's version (`advance_if`), so with several nodes each happens
//! exactly once (`writes::releases::act`).

use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};
use utoipa::ToSchema;

use super::column::JsonText;
use crate::db::{now_ms, Db};
use crate::error::{ApiError, ApiResult};
use crate::releases::plan::{PlanSpec, Progress};

/// A plan as the API returns it.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, sqlx::FromRow)]
pub struct ReleasePlan {
    pub id: i64,
    pub flag_key: String,
    pub environment: String,
    #[sqlx(try_from = "JsonText")]
    pub spec: PlanSpec,
    #[serde(flatten)]
    #[sqlx(try_from = "JsonText")]
    pub progress: Progress,
    /// Bumped by every transition.
    pub version: i64,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, flag_key, environment, spec, progress, version, created_by, created_at, updated_at FROM release_plans";

pub async fn get(db: &Db, id: i64) -> ApiResult<ReleasePlan> {
    sqlx::query_as(&format!("SELECT {COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("release plan {id}")))
}

/// Which plans [`list`] reads: of one flag, environment or state, below id
/// `before`, at most `limit`.
#[derive(Debug, Default)]
pub struct Listing<'a> {
    pub flag: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub state: Option<&'a str>,
    pub before: Option<i64>,
    pub limit: i64,
}

/// Plans, newest first.
pub async fn list(db: &Db, which: &Listing<'_>) -> ApiResult<Vec<ReleasePlan>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} WHERE ($1 IS NULL OR flag_key = $1) AND ($2 IS NULL OR environment = $2)
         AND ($3 IS NULL OR state = $3) AND ($4 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5"
    ))
    .bind(which.flag)
    .bind(which.environment)
    .bind(which.state)
    .bind(which.before)
    .bind(which.limit)
    .fetch_all(&db.pool)
    .await?)
}

/// Ids of running plans whose next move is due at `now`.
pub async fn due(db: &Db, now: i64) -> ApiResult<Vec<i64>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM release_plans WHERE state = 'running' AND next_at <= $1 ORDER BY next_at")
            .bind(now)
            .fetch_all(&db.pool)
            .await?,
    )
}

/// The plans moving `flag`'s rollout now (running or paused), read in `tx`.
pub async fn moving_in(tx: &mut Transaction<'_, Any>, flag: &str) -> ApiResult<Vec<ReleasePlan>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} WHERE flag_key = $1 AND state IN ('running', 'paused')"
    ))
    .bind(flag)
    .fetch_all(&mut **tx)
    .await?)
}

/// Running plans that have a guard.
pub async fn guarded(db: &Db) -> ApiResult<Vec<ReleasePlan>> {
    let plans: Vec<ReleasePlan> = sqlx::query_as(&format!("SELECT {COLUMNS} WHERE state = 'running'"))
        .fetch_all(&db.pool)
        .await?;
    Ok(plans.into_iter().filter(|p| p.spec.guard.is_some()).collect())
}

/// Inserts a new plan, pending, and returns its id (409 while the flag
/// has another plan in flight in `environment`).
pub async fn insert(
    tx: &mut Transaction<'_, Any>,
    flag_key: &str,
    environment: &str,
    spec_doc: &str,
    progress_doc: &str,
    created_by: &str,
) -> ApiResult<i64> {
    let now = now_ms();
    sqlx::query_scalar(
        "INSERT INTO release_plans (flag_key, environment, spec, progress, state, next_at, version, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'pending', NULL, 1, $5, $6, $6) RETURNING id",
    )
    .bind(flag_key)
    .bind(environment)
    .bind(spec_doc)
    .bind(progress_doc)
    .bind(created_by)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict(_) => ApiError::Conflict(format!(
            "flag `{flag_key}` already has a release plan in flight in `{environment}`; finish or roll it back first"
        )),
        other => other,
    })
}

/// Moves plan `id` to `progress` if it is still at `read_version`.
pub async fn advance_if(
    tx: &mut Transaction<'_, Any>,
    id: i64,
    progress: &Progress,
    progress_doc: &str,
    read_version: i64,
) -> ApiResult<bool> {
    let moved = sqlx::query(
        "UPDATE release_plans SET progress = $1, state = $2, next_at = $3, version = version + 1, updated_at = $4
         WHERE id = $5 AND version = $6",
    )
    .bind(progress_doc)
    .bind(progress.state.as_str())
    .bind(progress.next_at)
    .bind(now_ms())
    .bind(id)
    .bind(read_version)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(moved > 0)
}
