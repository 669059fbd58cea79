//! Change requests and their reviews, the rows (SQL only). The rules
//! (who may approve, voiding, applying) are in `writes::change_requests`.

use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};

use crate::db::Db;
use crate::error::ApiResult;

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct ChangeRequest {
    pub id: i64,
    /// What it changes: `flag` (a flag's config in the environment),
    /// `segment` (a segment's keys and rules there) or `bundle` (an app's
    /// bundle config there).
    pub subject: String,
    /// The key of that flag, segment or app.
    pub key: String,
    pub environment: String,
    /// The subject's version the change was proposed against: it applies
    /// only while the subject is still at it.
    pub base_version: i64,
    /// The proposed document: a flag's `FlagConfig`, a segment's
    /// `included`, `excluded` and `rules`, or an app's bundle config.
    #[sqlx(try_from = "super::column::LenientJson")]
    #[schema(value_type = Object)]
    pub config: Option<serde_json::Value>,
    pub comment: String,
    pub author: String,
    /// `open`, `applied`, `rejected`, `withdrawn`, or for a scheduled
    /// request `expired` (not approved by `apply_at`) or `failed` (approved
    /// but could not apply then; see `failure`).
    pub state: String,
    /// Counts the author's edits; approvals hold for the current one only.
    pub revision: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub settled_by: Option<String>,
    pub settled_at: Option<i64>,
    /// When it applies by itself (Unix ms), if approved by then; `None`:
    /// when someone applies it.
    pub apply_at: Option<i64>,
    /// Why it was settled `expired` or `failed`.
    pub failure: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Review {
    pub id: i64,
    pub revision: i64,
    pub reviewer: String,
    /// `approve`, `reject` or `comment`.
    pub verdict: String,
    pub comment: String,
    pub at: i64,
}

const REQUEST: &str =
    "SELECT id, subject, flag_key AS key, environment, base_version, config, comment, author, state, revision, \
                       created_at, updated_at, settled_by, settled_at, apply_at, failure FROM change_requests";

pub struct NewRequest<'a> {
    pub subject: &'a str,
    pub key: &'a str,
    pub environment: &'a str,
    pub base_version: i64,
    pub config: &'a str,
    pub comment: &'a str,
    pub author: &'a str,
    pub now: i64,
    pub apply_at: Option<i64>,
}

pub async fn insert(tx: &mut Transaction<'_, Any>, r: &NewRequest<'_>) -> ApiResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO change_requests (subject, flag_key, environment, base_version, config, comment, author, state, \
         revision, created_at, updated_at, apply_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', 1, $8, $8, $9) \
         RETURNING id",
    )
    .bind(r.subject)
    .bind(r.key)
    .bind(r.environment)
    .bind(r.base_version)
    .bind(r.config)
    .bind(r.comment)
    .bind(r.author)
    .bind(r.now)
    .bind(r.apply_at)
    .fetch_one(&mut **tx)
    .await?)
}

pub async fn get(db: &Db, id: i64) -> ApiResult<Option<ChangeRequest>> {
    Ok(sqlx::query_as(&format!("{REQUEST} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?)
}

/// Requests newest first, in `state` when given, below id `before` when
/// given, at most `limit`.
pub async fn list(db: &Db, state: Option<&str>, before: Option<i64>, limit: i64) -> ApiResult<Vec<ChangeRequest>> {
    Ok(sqlx::query_as(&format!(
        "{REQUEST} WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
    ))
    .bind(state)
    .bind(before)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}

pub async fn reviews(db: &Db, id: i64) -> ApiResult<Vec<Review>> {
    Ok(sqlx::query_as(
        "SELECT id, revision, reviewer, verdict, comment, at FROM change_request_reviews WHERE request_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?)
}

/// What a new revision replaces: the whole proposal, its comment and when
/// it applies.
pub struct Revised<'a> {
    pub config: &'a str,
    pub comment: &'a str,
    pub apply_at: Option<i64>,
}

/// A new revision of an open request: its config, comment and time
/// replaced. False when it is no longer open (or at another revision).
pub async fn revise(
    tx: &mut Transaction<'_, Any>,
    id: i64,
    revision: i64,
    new: &Revised<'_>,
    now: i64,
) -> ApiResult<bool> {
    let n = sqlx::query(
        "UPDATE change_requests SET config = $1, comment = $2, revision = revision + 1, updated_at = $3, \
         apply_at = $6 WHERE id = $4 AND state = 'open' AND revision = $5",
    )
    .bind(new.config)
    .bind(new.comment)
    .bind(now)
    .bind(id)
    .bind(revision)
    .bind(new.apply_at)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n > 0)
}

pub async fn insert_review(
    tx: &mut Transaction<'_, Any>,
    id: i64,
    revision: i64,
    reviewer: &str,
    verdict: &str,
    comment: &str,
    now: i64,
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO change_request_reviews (request_id, revision, reviewer, verdict, comment, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(revision)
    .bind(reviewer)
    .bind(verdict)
    .bind(comment)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves an open request at `revision` to `state`, once: false when another
/// node (or person) settled or revised it first.
pub async fn settle(
    tx: &mut Transaction<'_, Any>,
    id: i64,
    revision: i64,
    state: &str,
    by: &str,
    now: i64,
) -> ApiResult<bool> {
    let n = sqlx::query(
        "UPDATE change_requests SET state = $1, settled_by = $2, settled_at = $3, updated_at = $3 \
         WHERE id = $4 AND state = 'open' AND revision = $5",
    )
    .bind(state)
    .bind(by)
    .bind(now)
    .bind(id)
    .bind(revision)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// Settles an open scheduled request at `revision` as `expired` or
/// `failed`, with the reason, once (false when settled or revised first).
pub async fn settle_unapplied(
    tx: &mut Transaction<'_, Any>,
    id: i64,
    revision: i64,
    state: &str,
    failure: &str,
    now: i64,
) -> ApiResult<bool> {
    let n = sqlx::query(
        "UPDATE change_requests SET state = $1, failure = $2, settled_by = 'scheduler', settled_at = $3, \
         updated_at = $3 WHERE id = $4 AND state = 'open' AND revision = $5",
    )
    .bind(state)
    .bind(failure)
    .bind(now)
    .bind(id)
    .bind(revision)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// Open requests whose time has come, oldest time first.
pub async fn due(db: &Db, now: i64) -> ApiResult<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM change_requests WHERE state = 'open' AND apply_at IS NOT NULL AND apply_at <= $1 \
         ORDER BY apply_at, id",
    )
    .bind(now)
    .fetch_all(&db.pool)
    .await?)
}
