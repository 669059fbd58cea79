//! Segments (cohorts), one set per environment.

use std::collections::HashSet;

use daylight::SegmentRules;
use serde::{Deserialize, Serialize};
use sqlx::{Any, Row, Transaction};

use crate::db::Db;
use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
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
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT environment, key FROM segments")
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().collect())
}

pub(crate) fn doc_of(rules: &SegmentRules) -> ApiResult<String> {
    serde_json::to_string(rules).map_err(|e| ApiError::Internal(e.to_string()))
}

/// Inserts a new segment at version 1 (409 when the key exists).
pub async fn insert(tx: &mut Transaction<'_, Any>, segment: &StoredSegment, doc: &str) -> ApiResult<()> {
    sqlx::query(&format!(
        "INSERT INTO segments ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, 1, $6, $7)"
    ))
    .bind(&segment.environment)
    .bind(&segment.key)
    .bind(&segment.name)
    .bind(&segment.description)
    .bind(doc)
    .bind(segment.created_at)
    .bind(segment.updated_at)
    .execute(&mut **tx)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict(_) => ApiError::Conflict(format!("segment `{}` already exists", segment.key)),
        other => other,
    })?;
    Ok(())
}

/// Replaces the row of `after` if it is still at `read_version`.
pub async fn update_if(
    tx: &mut Transaction<'_, Any>,
    after: &StoredSegment,
    doc: &str,
    read_version: i64,
) -> ApiResult<bool> {
    let updated = sqlx::query(
        "UPDATE segments SET name = $1, description = $2, doc = $3, version = $4, updated_at = $5
         WHERE environment = $6 AND key = $7 AND version = $8",
    )
    .bind(&after.name)
    .bind(&after.description)
    .bind(doc)
    .bind(after.rules.version as i64)
    .bind(after.updated_at)
    .bind(&after.environment)
    .bind(&after.key)
    .bind(read_version)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated > 0)
}

pub async fn delete(tx: &mut Transaction<'_, Any>, environment: &str, key: &str) -> ApiResult<()> {
    sqlx::query("DELETE FROM segments WHERE environment = $1 AND key = $2")
        .bind(environment)
        .bind(key)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
