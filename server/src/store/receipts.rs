//! Propagation receipts as stored: one row per change and node, written by
//! each node's flusher and added up by the admin API (`receipts::Summary`).

use std::sync::Arc;

use sqlx::Row;

use crate::db::{now_ms, Db};
use crate::error::{ApiError, ApiResult};
use crate::receipts::{Figures, Receipt, Summary};

/// How long receipts are kept.
const KEEP_MS: i64 = 7 * 24 * 3_600_000;

/// Writes this node's figures for `receipts`, in one transaction.
pub async fn write(db: &Db, node: &str, receipts: &[Arc<Receipt>]) -> ApiResult<()> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    for r in receipts {
        let figures = serde_json::to_string(&r.figures()).map_err(|e| ApiError::Internal(e.to_string()))?;
        sqlx::query(
            "INSERT INTO change_receipts (environment, version, node, committed_at, figures, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (environment, version, node) DO UPDATE SET figures = excluded.figures, updated_at = excluded.updated_at",
        )
        .bind(&r.environment)
        .bind(r.version as i64)
        .bind(node)
        .bind(r.committed_at_ms)
        .bind(figures)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The receipts of `environment`'s changes, newest first: `version` alone,
/// or the last `limit`.
pub async fn summaries(db: &Db, environment: &str, version: Option<i64>, limit: i64) -> ApiResult<Vec<Summary>> {
    let rows = sqlx::query(
        "SELECT version, committed_at, figures FROM change_receipts
         WHERE environment = $1 AND version IN (
             SELECT DISTINCT version FROM change_receipts
             WHERE environment = $1 AND ($2 < 0 OR version = $2)
             ORDER BY version DESC LIMIT $3)
         ORDER BY version DESC",
    )
    .bind(environment)
    .bind(version.unwrap_or(-1))
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    let mut out: Vec<(u64, i64, Vec<Figures>)> = Vec::new();
    for row in rows {
        let version = row.try_get::<i64, _>("version")? as u64;
        let committed_at: i64 = row.try_get("committed_at")?;
        let figures: String = row.try_get("figures")?;
        let figures: Figures = serde_json::from_str(&figures).map_err(|e| ApiError::Internal(e.to_string()))?;
        match out.last_mut() {
            Some((v, _, nodes)) if *v == version => nodes.push(figures),
            _ => out.push((version, committed_at, vec![figures])),
        }
    }
    Ok(out
        .into_iter()
        .map(|(version, committed_at, nodes)| Summary::of(environment, version, committed_at, &nodes))
        .collect())
}

/// Drops the receipts not updated for a week.
pub async fn forget_old(db: &Db) -> ApiResult<()> {
    sqlx::query("DELETE FROM change_receipts WHERE updated_at < $1")
        .bind(now_ms() - KEEP_MS)
        .execute(&db.pool)
        .await?;
    Ok(())
}
