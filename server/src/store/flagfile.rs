//! What `daylight apply` last wrote, per environment and flag or segment: a
//! digest of the file-owned fields, so `plan` tells a change in the file
//! from drift made on the server.

use std::collections::HashMap;

use sqlx::{Any, Transaction};

use crate::db::Db;
use crate::error::ApiResult;
use crate::flagfile::plan::Kind;

/// The digests of `environment`, by kind and key.
pub async fn applied(db: &Db, environment: &str) -> ApiResult<HashMap<(Kind, String), String>> {
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT kind, key, digest FROM flagfile_applied WHERE environment = $1")
            .bind(environment)
            .fetch_all(&db.pool)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(kind, key, digest)| {
            let kind = match kind.as_str() {
                "flag" => Kind::Flag,
                "segment" => Kind::Segment,
                _ => return None,
            };
            Some(((kind, key), digest))
        })
        .collect())
}

/// Records what an apply wrote (or found already there).
pub async fn record(
    tx: &mut Transaction<'_, Any>,
    environment: &str,
    kind: Kind,
    key: &str,
    digest: &str,
    actor: &str,
    at: i64,
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO flagfile_applied (environment, kind, key, digest, applied_at, applied_by)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (environment, kind, key)
         DO UPDATE SET digest = excluded.digest, applied_at = excluded.applied_at, applied_by = excluded.applied_by",
    )
    .bind(environment)
    .bind(kind.as_str())
    .bind(key)
    .bind(digest)
    .bind(at)
    .bind(actor)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
