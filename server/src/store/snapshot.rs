//! The whole environment as an SDK sees it.

use std::collections::BTreeMap;

use daylight::{RulesetDocument, SegmentRules};

use super::flags::{rules_for, StoredFlag};
use crate::db::{Backend, Db};
use crate::error::{ApiError, ApiResult};

/// Every flag's rules and every segment of `environment`, read in one
/// transaction so the version matches the contents.
pub async fn read(db: &Db, environment: &str) -> ApiResult<RulesetDocument> {
    let mut tx = db.pool.begin().await?;
    if db.backend == Backend::Postgres {
        // One snapshot for every statement below.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(&mut *tx)
            .await?;
    }
    let version: i64 = sqlx::query_scalar("SELECT version FROM environments WHERE key = $1")
        .bind(environment)
        .fetch_one(&mut *tx)
        .await?;
    let stored_flags: Vec<StoredFlag> = sqlx::query_as(super::flags::SELECT).fetch_all(&mut *tx).await?;
    let segment_rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT key, doc, version FROM segments WHERE environment = $1")
            .bind(environment)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    let mut flags = BTreeMap::new();
    for stored in &stored_flags {
        if let Some(rules) = rules_for(stored, environment) {
            flags.insert(stored.flag.key.clone(), rules);
        }
    }
    let mut segments = BTreeMap::new();
    for (key, doc, version) in segment_rows {
        let mut rules: SegmentRules =
            serde_json::from_str(&doc).map_err(|e| ApiError::Internal(format!("stored segment: {e}")))?;
        rules.version = version as u64;
        segments.insert(key, rules);
    }
    Ok(RulesetDocument {
        environment: environment.to_owned(),
        version: version as u64,
        flags,
        segments,
    })
}
