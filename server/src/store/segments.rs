//! Segments (cohorts), one set per environment.

use std::collections::HashSet;

use daylight::SegmentRules;
use serde::Serialize;
use sqlx::Row;

use super::{append_audit, append_change, AuditEntry, Writer};
use crate::db::{now_ms, Db};
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredSegment {
    pub environment: String,
    pub key: String,
    pub name: String,
    pub description: String,
    /// `included`, `excluded`, `rules` and `version`.
    #[serde(flatten)]
    pub rules: SegmentRules,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A segment in a listing: sizes instead of 100,000 keys.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SegmentSummary {
    pub key: String,
    pub name: String,
    pub description: String,
    pub included_count: usize,
    pub excluded_count: usize,
    pub rule_count: usize,
    pub version: u64,
}

fn from_row(row: &sqlx::any::AnyRow) -> ApiResult<StoredSegment> {
    let doc: String = row.try_get("doc")?;
    let mut rules: SegmentRules =
        serde_json::from_str(&doc).map_err(|e| ApiError::Internal(format!("stored segment: {e}")))?;
    rules.version = row.try_get::<i64, _>("version")? as u64;
    Ok(StoredSegment {
        environment: row.try_get("environment")?,
        key: row.try_get("key")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        rules,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const COLUMNS: &str = "environment, key, name, description, doc, version, created_at, updated_at";

pub async fn list(db: &Db, environment: &str) -> ApiResult<Vec<StoredSegment>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM segments WHERE environment = $1 ORDER BY key"
    ))
    .bind(environment)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn get(db: &Db, environment: &str, key: &str) -> ApiResult<StoredSegment> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM segments WHERE environment = $1 AND key = $2"
    ))
    .bind(environment)
    .bind(key)
    .fetch_optional(&db.pool)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("segment `{key}` in `{environment}`")))?;
    from_row(&row)
}

/// Every (environment, segment key) pair, for validating flags.
pub async fn all_keys(db: &Db) -> ApiResult<HashSet<(String, String)>> {
    let rows = sqlx::query("SELECT environment, key FROM segments")
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("environment")?, r.try_get("key")?)))
        .collect()
}

fn doc_of(rules: &SegmentRules) -> ApiResult<String> {
    serde_json::to_string(rules).map_err(|e| ApiError::Internal(e.to_string()))
}

pub async fn create(w: &Writer<'_>, mut segment: StoredSegment) -> ApiResult<StoredSegment> {
    let (db, live) = (w.db, w.live);
    super::environments::get(db, &segment.environment).await?;
    daylight::validate_segment(&segment.rules)?;
    let now = now_ms();
    segment.rules.version = 1;
    segment.created_at = now;
    segment.updated_at = now;
    let doc = doc_of(&segment.rules)?;
    let mut tx = db.pool.begin().await?;
    sqlx::query(&format!(
        "INSERT INTO segments ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, 1, $6, $6)"
    ))
    .bind(&segment.environment)
    .bind(&segment.key)
    .bind(&segment.name)
    .bind(&segment.description)
    .bind(&doc)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict(_) => ApiError::Conflict(format!("segment `{}` already exists", segment.key)),
        other => other,
    })?;
    append_change(&mut tx, &segment.environment, "segment", &segment.key, Some(doc)).await?;
    append_audit(
        &mut tx,
        AuditEntry {
            actor: w.actor,
            action: "segment.create",
            resource_kind: "segment",
            resource_key: &segment.key,
            environment: Some(&segment.environment),
            before: None,
            after: serde_json::to_string(&segment).ok(),
            comment: w.comment,
        },
    )
    .await?;
    tx.commit().await?;
    live.committed(db, std::slice::from_ref(&segment.environment)).await;
    Ok(segment)
}

/// Applies `edit`; `expected` as for flags (409 when stale).
pub async fn update(
    w: &Writer<'_>,
    environment: &str,
    key: &str,
    expected: Option<i64>,
    action: &str,
    edit: impl FnOnce(&mut StoredSegment) -> ApiResult<()>,
) -> ApiResult<StoredSegment> {
    let (db, live) = (w.db, w.live);
    let before = get(db, environment, key).await?;
    let version = before.rules.version as i64;
    if let Some(expected) = expected {
        if expected != version {
            return Err(ApiError::Conflict(format!(
                "segment `{key}` changed since you read it (you sent version {expected}, it is now at {version}); reload and retry"
            )));
        }
    }
    let mut after = before.clone();
    edit(&mut after)?;
    after.key = before.key.clone();
    after.environment = before.environment.clone();
    daylight::validate_segment(&after.rules)?;
    after.rules.version = before.rules.version + 1;
    after.updated_at = now_ms();
    let doc = doc_of(&after.rules)?;
    let mut tx = db.pool.begin().await?;
    let updated = sqlx::query(
        "UPDATE segments SET name = $1, description = $2, doc = $3, version = $4, updated_at = $5
         WHERE environment = $6 AND key = $7 AND version = $8",
    )
    .bind(&after.name)
    .bind(&after.description)
    .bind(&doc)
    .bind(after.rules.version as i64)
    .bind(after.updated_at)
    .bind(environment)
    .bind(key)
    .bind(version)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(ApiError::Conflict(format!(
            "segment `{key}` changed while you wrote it; reload and retry"
        )));
    }
    append_change(&mut tx, environment, "segment", key, Some(doc)).await?;
    append_audit(
        &mut tx,
        AuditEntry {
            actor: w.actor,
            action,
            resource_kind: "segment",
            resource_key: key,
            environment: Some(environment),
            before: serde_json::to_string(&before).ok(),
            after: serde_json::to_string(&after).ok(),
            comment: w.comment,
        },
    )
    .await?;
    tx.commit().await?;
    live.committed(db, &[environment.to_owned()]).await;
    Ok(after)
}

/// Deletes a segment no flag uses.
pub async fn delete(w: &Writer<'_>, environment: &str, key: &str) -> ApiResult<()> {
    let (db, live) = (w.db, w.live);
    let before = get(db, environment, key).await?;
    let mut tx = db.pool.begin().await?;
    // Under the environment's lock, so no flag starts using it meanwhile.
    super::lock_environments(&mut tx, db, live, &[environment.to_owned()]).await?;
    if live.get(environment).is_some_and(|r| r.segments_in_use().contains(key)) {
        return Err(ApiError::Conflict(format!(
            "segment `{key}` is used by a flag rule; remove those clauses first"
        )));
    }
    sqlx::query("DELETE FROM segments WHERE environment = $1 AND key = $2")
        .bind(environment)
        .bind(key)
        .execute(&mut *tx)
        .await?;
    append_change(&mut tx, environment, "segment", key, None).await?;
    append_audit(
        &mut tx,
        AuditEntry {
            actor: w.actor,
            action: "segment.delete",
            resource_kind: "segment",
            resource_key: key,
            environment: Some(environment),
            before: serde_json::to_string(&before).ok(),
            after: None,
            comment: w.comment,
        },
    )
    .await?;
    tx.commit().await?;
    live.committed(db, &[environment.to_owned()]).await;
    Ok(())
}
