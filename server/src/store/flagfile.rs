//! What `daylight apply` last wrote, per environment and flag or segment: a
//! digest of the file-owned fields, so `plan` tells a change in the file
//! from drift made on the server; and which parts of a flag's config a
//! file manages per environment (`manage:`), which other writes may not
//! change.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};
use utoipa::ToSchema;

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::flagfile::model::ManagedPart;
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

/// The parts of a flag's config in one environment a file manages, and
/// that file (table `flagfile_owned`, written by `apply`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Owned {
    /// The file's path as `daylight apply` was given it.
    pub file: String,
    pub parts: Vec<ManagedPart>,
}

/// Records (or, with `None`, forgets) what a file manages of `flag` in
/// `environment`.
pub async fn set_owned(
    tx: &mut Transaction<'_, Any>,
    environment: &str,
    flag: &str,
    owned: Option<&Owned>,
) -> ApiResult<()> {
    sqlx::query("DELETE FROM flagfile_owned WHERE environment = $1 AND flag = $2")
        .bind(environment)
        .bind(flag)
        .execute(&mut **tx)
        .await?;
    if let Some(owned) = owned {
        let parts = serde_json::to_string(&owned.parts).map_err(|e| ApiError::Internal(e.to_string()))?;
        sqlx::query("INSERT INTO flagfile_owned (environment, flag, file, parts) VALUES ($1, $2, $3, $4)")
            .bind(environment)
            .bind(flag)
            .bind(&owned.file)
            .bind(parts)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn owned_rows(rows: Vec<(String, String, String)>) -> BTreeMap<String, Owned> {
    rows.into_iter()
        .filter_map(|(env, file, parts)| {
            // A part this build does not know is skipped, not an error.
            let parts: Vec<ManagedPart> = serde_json::from_str::<Vec<serde_json::Value>>(&parts)
                .ok()?
                .into_iter()
                .filter_map(|p| serde_json::from_value(p).ok())
                .collect();
            Some((env, Owned { file, parts }))
        })
        .collect()
}

const OWNED: &str = "SELECT environment, file, parts FROM flagfile_owned WHERE flag = $1";

/// What files manage of `flag`, by environment.
pub async fn owned(db: &Db, flag: &str) -> ApiResult<BTreeMap<String, Owned>> {
    let rows = sqlx::query_as(OWNED).bind(flag).fetch_all(&db.pool).await?;
    Ok(owned_rows(rows))
}

/// [`owned`] inside a write's transaction.
pub async fn owned_in(tx: &mut Transaction<'_, Any>, flag: &str) -> ApiResult<BTreeMap<String, Owned>> {
    let rows = sqlx::query_as(OWNED).bind(flag).fetch_all(&mut **tx).await?;
    Ok(owned_rows(rows))
}
