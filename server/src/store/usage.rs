//! SDK usage: per-minute aggregates of evaluations (per flag and variation)
//! and of app-reported events (tagged with the flag and variation the
//! context was served), plus when each flag was last evaluated. SDKs send
//! counts; every batch adds to the rows of its minute with an upsert, so
//! several nodes and SDKs can report the same minute.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::{now_ms, Db};
use crate::error::ApiResult;

pub const MINUTE_MS: i64 = 60_000;

/// The start of the minute holding `ms`.
pub fn minute_of(ms: i64) -> i64 {
    ms - ms.rem_euclid(MINUTE_MS)
}

/// One validated batch, ready to store (see `http::usage` for the checks).
#[derive(Debug, Default)]
pub struct Batch {
    pub minute: i64,
    /// Reported with a server key: counted in `server_count` too, the only
    /// counts release guards read (client keys are public).
    pub from_server: bool,
    /// (flag, variation, count)
    pub evaluations: Vec<(String, i64, i64)>,
    /// (event, flag, variation, count)
    pub events: Vec<(String, String, i64, i64)>,
}

/// Adds a batch to the aggregates, in one transaction.
pub async fn record(db: &Db, environment: &str, batch: &Batch) -> ApiResult<()> {
    if batch.evaluations.is_empty() && batch.events.is_empty() {
        return Ok(());
    }
    let server = |count: i64| if batch.from_server { count } else { 0 };
    let mut tx = db.pool.begin().await?;
    for (flag, variation, count) in &batch.evaluations {
        sqlx::query(
            "INSERT INTO usage_evaluations (environment, flag_key, variation, minute, count, server_count)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (environment, flag_key, variation, minute)
             DO UPDATE SET count = usage_evaluations.count + excluded.count,
                           server_count = usage_evaluations.server_count + excluded.server_count",
        )
        .bind(environment)
        .bind(flag)
        .bind(variation)
        .bind(batch.minute)
        .bind(count)
        .bind(server(*count))
        .execute(&mut *tx)
        .await?;
    }
    let mut seen: Vec<&str> = batch.evaluations.iter().map(|(f, _, _)| f.as_str()).collect();
    seen.sort_unstable();
    seen.dedup();
    let at = now_ms();
    for flag in seen {
        sqlx::query(
            "INSERT INTO usage_last_evaluated (environment, flag_key, at) VALUES ($1, $2, $3)
             ON CONFLICT (environment, flag_key)
             DO UPDATE SET at = CASE WHEN excluded.at > usage_last_evaluated.at THEN excluded.at ELSE usage_last_evaluated.at END",
        )
        .bind(environment)
        .bind(flag)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    }
    for (event, flag, variation, count) in &batch.events {
        sqlx::query(
            "INSERT INTO usage_events (environment, event, flag_key, variation, minute, count, server_count)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (environment, event, flag_key, variation, minute)
             DO UPDATE SET count = usage_events.count + excluded.count,
                           server_count = usage_events.server_count + excluded.server_count",
        )
        .bind(environment)
        .bind(event)
        .bind(flag)
        .bind(variation)
        .bind(batch.minute)
        .bind(count)
        .bind(server(*count))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Reports received by this node and not yet written: SDK reports are
/// merged here and written once per flush interval, so thousands of SDKs
/// reporting every few seconds cost one transaction per (environment,
/// minute) per interval, and a slow database never stalls a stream.
#[derive(Default)]
pub struct Pending {
    /// (environment, minute, from a server key) → sums.
    by_minute: Mutex<HashMap<(String, i64, bool), Sums>>,
}

#[derive(Default)]
struct Sums {
    evaluations: HashMap<(String, i64), i64>,
    events: HashMap<(String, String, i64), i64>,
}

impl Pending {
    pub fn add(&self, environment: &str, batch: &Batch) {
        let mut map = self.by_minute.lock().unwrap_or_else(|e| e.into_inner());
        let sums = map
            .entry((environment.to_owned(), batch.minute, batch.from_server))
            .or_default();
        for (flag, variation, count) in &batch.evaluations {
            let c = sums.evaluations.entry((flag.clone(), *variation)).or_default();
            *c = c.saturating_add(*count);
        }
        for (event, flag, variation, count) in &batch.events {
            let c = sums
                .events
                .entry((event.clone(), flag.clone(), *variation))
                .or_default();
            *c = c.saturating_add(*count);
        }
    }

    fn take(&self) -> Vec<(String, Batch)> {
        let map = std::mem::take(&mut *self.by_minute.lock().unwrap_or_else(|e| e.into_inner()));
        map.into_iter()
            .map(|((environment, minute, from_server), sums)| {
                let batch = Batch {
                    minute,
                    from_server,
                    evaluations: sums.evaluations.into_iter().map(|((f, v), c)| (f, v, c)).collect(),
                    events: sums.events.into_iter().map(|((e, f, v), c)| (e, f, v, c)).collect(),
                };
                (environment, batch)
            })
            .collect()
    }

    /// Writes everything pending; what could not be written stays for the
    /// next flush.
    pub async fn flush(&self, db: &Db) -> ApiResult<()> {
        let mut batches = self.take().into_iter();
        while let Some((environment, batch)) = batches.next() {
            if let Err(e) = record(db, &environment, &batch).await {
                self.add(&environment, &batch);
                for (environment, batch) in batches {
                    self.add(&environment, &batch);
                }
                return Err(e);
            }
        }
        Ok(())
    }
}

/// Flushes `pending` every `every` until aborted.
pub fn spawn_flusher(
    db: Db,
    pending: std::sync::Arc<Pending>,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = pending.flush(&db).await {
                tracing::warn!(error = %e, "cannot write SDK usage; keeping it for the next try");
            }
        }
    })
}

/// Evaluations of `variation` of `flag`, and `event`s attributed to it, in
/// the minutes from the one holding `since_ms` on (so a window that started
/// seconds ago already sees the current minute; the first minute may hold
/// counts from just before `since_ms`). For release guards: error count per
/// variation, and the evaluations to relate it to. Only counts reported
/// with server keys: a public client key must not trip or hide a guard.
pub async fn window_counts(
    db: &Db,
    environment: &str,
    flag: &str,
    variation: i64,
    event: &str,
    since_ms: i64,
) -> Result<(i64, i64), sqlx::Error> {
    let from = minute_of(since_ms);
    let evaluations: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(SUM(server_count) AS BIGINT) FROM usage_evaluations
         WHERE environment = $1 AND flag_key = $2 AND variation = $3 AND minute >= $4",
    )
    .bind(environment)
    .bind(flag)
    .bind(variation)
    .bind(from)
    .fetch_one(&db.pool)
    .await?;
    let events: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(SUM(server_count) AS BIGINT) FROM usage_events
         WHERE environment = $1 AND event = $2 AND flag_key = $3 AND variation = $4 AND minute >= $5",
    )
    .bind(environment)
    .bind(event)
    .bind(flag)
    .bind(variation)
    .bind(from)
    .fetch_one(&db.pool)
    .await?;
    Ok((evaluations.unwrap_or(0), events.unwrap_or(0)))
}

/// One row of a flag's usage: a count in one minute.
#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct MinuteCount {
    /// Unix ms of the minute's start.
    pub minute: i64,
    pub variation: i64,
    pub count: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct EventMinuteCount {
    pub minute: i64,
    pub event: String,
    pub variation: i64,
    pub count: i64,
}

/// Per-minute evaluations of `flag` in `[from, to)`, by minute then variation.
pub async fn evaluations(db: &Db, environment: &str, flag: &str, from: i64, to: i64) -> ApiResult<Vec<MinuteCount>> {
    Ok(sqlx::query_as(
        "SELECT minute, variation, count FROM usage_evaluations
         WHERE environment = $1 AND flag_key = $2 AND minute >= $3 AND minute < $4
         ORDER BY minute, variation LIMIT 100000",
    )
    .bind(environment)
    .bind(flag)
    .bind(minute_of(from))
    .bind(to)
    .fetch_all(&db.pool)
    .await?)
}

/// Per-minute events attributed to `flag` in `[from, to)`.
pub async fn events(db: &Db, environment: &str, flag: &str, from: i64, to: i64) -> ApiResult<Vec<EventMinuteCount>> {
    Ok(sqlx::query_as(
        "SELECT minute, event, variation, count FROM usage_events
         WHERE environment = $1 AND flag_key = $2 AND minute >= $3 AND minute < $4
         ORDER BY minute, event, variation LIMIT 100000",
    )
    .bind(environment)
    .bind(flag)
    .bind(minute_of(from))
    .bind(to)
    .fetch_all(&db.pool)
    .await?)
}

/// When each flag of `environment` was last reported evaluated (flag → ms).
pub async fn last_evaluated(db: &Db, environment: &str) -> ApiResult<std::collections::BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT flag_key, at FROM usage_last_evaluated WHERE environment = $1")
            .bind(environment)
            .fetch_all(&db.pool)
            .await?;
    Ok(rows.into_iter().collect())
}

/// Evaluations of each flag of `environment` reported for the minutes from
/// the one holding `day_from` on and from the one holding `week_from` on
/// (flag → (day, week)), in one pass over the week's rows.
pub async fn recent_totals(
    db: &Db,
    environment: &str,
    day_from: i64,
    week_from: i64,
) -> ApiResult<std::collections::BTreeMap<String, (i64, i64)>> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT flag_key,
                CAST(SUM(CASE WHEN minute >= $2 THEN count ELSE 0 END) AS BIGINT),
                CAST(SUM(count) AS BIGINT)
         FROM usage_evaluations WHERE environment = $1 AND minute >= $3
         GROUP BY flag_key",
    )
    .bind(environment)
    .bind(minute_of(day_from))
    .bind(minute_of(week_from))
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(|(flag, day, week)| (flag, (day, week))).collect())
}

/// When the config of each flag in `environment` last changed (flag → ms):
/// one row per flag, kept by every change-log append (`store::append_change`),
/// so the cost does not grow with history and compaction loses nothing.
pub async fn last_config_change(db: &Db, environment: &str) -> ApiResult<std::collections::BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT flag_key, at FROM flag_last_changes WHERE environment = $1")
        .bind(environment)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Deletes per-minute aggregates older than `before_ms` (retention);
/// returns how many rows went.
pub async fn prune(db: &Db, before_ms: i64) -> Result<u64, sqlx::Error> {
    let a = sqlx::query("DELETE FROM usage_evaluations WHERE minute < $1")
        .bind(before_ms)
        .execute(&db.pool)
        .await?
        .rows_affected();
    let b = sqlx::query("DELETE FROM usage_events WHERE minute < $1")
        .bind(before_ms)
        .execute(&db.pool)
        .await?
        .rows_affected();
    Ok(a + b)
}

/// Prunes aggregates older than `days` once an hour (0: keep everything).
/// Every node may run it: deleting twice is harmless.
pub fn spawn_retention(db: Db, days: u64) -> Option<tokio::task::JoinHandle<()>> {
    if days == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let before = now_ms() - (days as i64).saturating_mul(86_400_000);
            match prune(&db, before).await {
                Ok(n) if n > 0 => tracing::info!(rows = n, days, "pruned old usage aggregates"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot prune usage aggregates"),
            }
        }
    }))
}
