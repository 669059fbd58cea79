//! Connected browsers per node as stored (`bundle_presence`): each node's
//! presence task writes its counts ([`crate::bundles::Presence`]) and
//! refreshes them every second; the status API adds up the other nodes'
//! fresh rows to its own counts. SQL only.

use sqlx::Row;

use crate::db::Db;
use crate::error::ApiResult;

/// A node's rows count while refreshed within this long; a node that died
/// without removing them stops counting after it.
pub const FRESH_MS: i64 = 10_000;

/// One count: (environment, app, version) → browsers connected.
pub type Count = ((String, String, String), i64);

/// Replaces `node`'s rows by `counts`, in one transaction.
pub async fn replace(db: &Db, node: &str, counts: &[Count], now: i64) -> ApiResult<()> {
    let mut tx = db.pool.begin().await?;
    sqlx::query("DELETE FROM bundle_presence WHERE node = $1")
        .bind(node)
        .execute(&mut *tx)
        .await?;
    for ((environment, app, version), connected) in counts {
        sqlx::query(
            "INSERT INTO bundle_presence (node, environment, app, version, connected, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(node)
        .bind(environment)
        .bind(app)
        .bind(version)
        .bind(*connected)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Marks `node`'s rows as current (its counts did not change).
pub async fn refresh(db: &Db, node: &str, now: i64) -> ApiResult<()> {
    sqlx::query("UPDATE bundle_presence SET updated_at = $1 WHERE node = $2")
        .bind(now)
        .bind(node)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Browsers of `app` in `environment` per version on every node but
/// `node`, counting only rows refreshed within [`FRESH_MS`] of `now`.
pub async fn others(db: &Db, node: &str, environment: &str, app: &str, now: i64) -> ApiResult<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT version, CAST(SUM(connected) AS BIGINT) AS connected FROM bundle_presence
         WHERE environment = $1 AND app = $2 AND node <> $3 AND updated_at > $4
         GROUP BY version ORDER BY version",
    )
    .bind(environment)
    .bind(app)
    .bind(node)
    .bind(now - FRESH_MS)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("version")?, r.try_get("connected")?)))
        .collect()
}

/// Removes `node`'s rows: it stops.
pub async fn forget(db: &Db, node: &str) -> ApiResult<()> {
    sqlx::query("DELETE FROM bundle_presence WHERE node = $1")
        .bind(node)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Removes the rows of nodes that stopped refreshing them.
pub async fn forget_stale(db: &Db, now: i64) -> ApiResult<()> {
    sqlx::query("DELETE FROM bundle_presence WHERE updated_at <= $1")
        .bind(now - FRESH_MS)
        .execute(&db.pool)
        .await?;
    Ok(())
}
