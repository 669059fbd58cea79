//! Bounded history: the change log is compacted behind the snapshot (the
//! newest `keep` versions of each environment stay; an SDK further behind
//! gets a snapshot, as when the log lacks its version), and audit entries
//! older than the retention are deleted (by default they are kept).

use crate::db::{now_ms, Db};

const DAY_MS: i64 = 86_400_000;

/// Deletes the change-log rows of every environment older than its newest
/// `keep` versions (`keep` 0: none; the newest row always stays). Returns
/// how many rows went.
pub async fn compact_changes(db: &Db, keep: u64) -> Result<u64, sqlx::Error> {
    if keep == 0 {
        return Ok(0);
    }
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    Ok(sqlx::query(
        "DELETE FROM changes WHERE version <= (SELECT e.version FROM environments e WHERE e.key = changes.environment) - $1",
    )
    .bind(keep)
    .execute(&db.pool)
    .await?
    .rows_affected())
}

/// Deletes audit entries older than `days` (0: keeps everything). Returns
/// how many went.
pub async fn prune_audit(db: &Db, days: u64) -> Result<u64, sqlx::Error> {
    if days == 0 {
        return Ok(0);
    }
    let before = now_ms().saturating_sub(i64::try_from(days).unwrap_or(i64::MAX).saturating_mul(DAY_MS));
    Ok(sqlx::query("DELETE FROM audit_log WHERE at < $1")
        .bind(before)
        .execute(&db.pool)
        .await?
        .rows_affected())
}

/// Compacts the change log and prunes the audit log at start and then once
/// an hour. Every node may run it: deleting twice is harmless.
pub fn spawn(db: Db, change_log_keep: u64, audit_retention_days: u64) -> Option<tokio::task::JoinHandle<()>> {
    if change_log_keep == 0 && audit_retention_days == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match compact_changes(&db, change_log_keep).await {
                Ok(n) if n > 0 => tracing::info!(rows = n, keep = change_log_keep, "compacted the change log"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot compact the change log"),
            }
            match prune_audit(&db, audit_retention_days).await {
                Ok(n) if n > 0 => tracing::info!(rows = n, days = audit_retention_days, "pruned old audit entries"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot prune the audit log"),
            }
        }
    }))
}
