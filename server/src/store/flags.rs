//! Flags: the admin document, its per-environment configs, and their rows.

use daylight::model::{Flag, FlagConfig, FlagRules};
use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};

use super::column::{IntBool, JsonText};
use crate::db::Db;
use crate::error::{ApiError, ApiResult};

/// A flag as stored: the document plus bookkeeping.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct StoredFlag {
    #[serde(flatten)]
    #[sqlx(rename = "doc", try_from = "JsonText")]
    pub flag: Flag,
    /// Who answers for the flag (a person or team).
    #[serde(default)]
    pub owner: Option<String>,
    /// The date (`YYYY-MM-DD`, UTC) after which the flag should be gone.
    #[serde(default)]
    pub expires: Option<String>,
    /// Bumped by every write; send it back in `If-Match`.
    pub version: i64,
    #[sqlx(try_from = "IntBool")]
    pub archived: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The config of `flag` in `environment`; an environment the flag has no
/// config for yet (created after the flag) sees it dark, serving variation 0.
pub fn config_for(flag: &Flag, environment: &str) -> FlagConfig {
    flag.environments
        .get(environment)
        .cloned()
        .unwrap_or_else(|| FlagConfig::dark(0))
}

/// What SDKs of `environment` see of this flag (`None` when archived).
pub fn rules_for(stored: &StoredFlag, environment: &str) -> Option<FlagRules> {
    (!stored.archived).then(|| FlagRules {
        variations: stored.flag.variations.clone(),
        client_side: stored.flag.client_side,
        config: published(config_for(&stored.flag, environment)),
    })
}

/// A config as SDKs see it: rollouts without the cohort that owns them
/// (`crate::cohorts`), so every SDK evaluates an ordinary rollout.
fn published(mut config: FlagConfig) -> FlagConfig {
    let serves = std::iter::once(&mut config.fallthrough).chain(config.rules.iter_mut().map(|r| &mut r.serve));
    for serve in serves {
        if let Some(rollout) = serve.rollout.as_mut().filter(|r| r.cohort.is_some()) {
            *rollout = rollout.published();
        }
    }
    config
}

/// The columns a [`StoredFlag`] is read from.
pub(crate) const SELECT: &str = "SELECT doc, owner, expires, version, archived, created_at, updated_at FROM flags";

pub async fn list(db: &Db) -> ApiResult<Vec<StoredFlag>> {
    Ok(sqlx::query_as(&format!("{SELECT} ORDER BY key"))
        .fetch_all(&db.pool)
        .await?)
}

pub async fn get(db: &Db, key: &str) -> ApiResult<StoredFlag> {
    sqlx::query_as(&format!("{SELECT} WHERE key = $1"))
        .bind(key)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("flag `{key}`")))
}

/// Inserts a new flag (409 when the key exists).
pub async fn insert(tx: &mut Transaction<'_, Any>, stored: &StoredFlag, doc: &str) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO flags (key, doc, owner, expires, version, archived, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&stored.flag.key)
    .bind(doc)
    .bind(&stored.owner)
    .bind(&stored.expires)
    .bind(stored.version)
    .bind(i64::from(stored.archived))
    .bind(stored.created_at)
    .bind(stored.updated_at)
    .execute(&mut **tx)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict(_) => ApiError::Conflict(format!("flag `{}` already exists", stored.flag.key)),
        other => other,
    })?;
    Ok(())
}

/// Replaces the row of `after` if it is still at `read_version`; `false`
/// when someone wrote in between.
pub async fn update_if(
    tx: &mut Transaction<'_, Any>,
    after: &StoredFlag,
    doc: &str,
    read_version: i64,
) -> ApiResult<bool> {
    let updated = sqlx::query(
        "UPDATE flags SET doc = $1, version = $2, archived = $3, updated_at = $4, owner = $5, expires = $6
         WHERE key = $7 AND version = $8",
    )
    .bind(doc)
    .bind(after.version)
    .bind(i64::from(after.archived))
    .bind(after.updated_at)
    .bind(&after.owner)
    .bind(&after.expires)
    .bind(&after.flag.key)
    .bind(read_version)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(updated > 0)
}

/// Deletes flag `key` if it is still at `read_version`.
pub async fn delete_if(tx: &mut Transaction<'_, Any>, key: &str, read_version: i64) -> ApiResult<bool> {
    let deleted = sqlx::query("DELETE FROM flags WHERE key = $1 AND version = $2")
        .bind(key)
        .bind(read_version)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(deleted > 0)
}
