//! Outgoing webhooks and their deliveries. Deliveries are derived from the
//! audit log (every change and every guard trip is an audit entry), so no
//! write path knows about webhooks: `enqueue` turns new audit rows into
//! `webhook_deliveries` rows (idempotent: `UNIQUE (webhook_id, audit_id)`),
//! and `claim` hands a due delivery to exactly one node (a lease).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use sqlx::{Any, Row, Transaction};
use utoipa::ToSchema;

use super::{AuditRecord, AUDIT_COLUMNS};
use crate::db::{now_ms, Db};
use crate::error::{ApiError, ApiResult};

/// A webhook as the API shows it (the secret only once, at creation).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    /// Event filters, e.g. `flag.*`, `release.guard_tripped`; empty: every event.
    pub events: Vec<String>,
    /// Environment filter; empty: every environment.
    pub environments: Vec<String>,
    pub description: String,
    pub created_at: i64,
    /// The signing secret: returned by the create call only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The secret's last four characters.
    pub secret_hint: String,
    #[serde(skip)]
    pub after_audit_id: i64,
}

impl Webhook {
    /// Does audit entry `action` in `environment` go to this webhook? An
    /// entry without an environment (a flag's shared fields) goes to every
    /// environment filter.
    pub fn wants(&self, action: &str, environment: Option<&str>) -> bool {
        let event_ok = self.events.is_empty()
            || self.events.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => action.starts_with(prefix),
                None => p == action,
            });
        let env_ok =
            self.environments.is_empty() || environment.is_none_or(|e| self.environments.iter().any(|x| x == e));
        event_ok && env_ok
    }
}

fn from_row(row: &sqlx::any::AnyRow, with_secret: bool) -> ApiResult<Webhook> {
    let secret: String = row.try_get("secret")?;
    let list = |s: String| serde_json::from_str::<Vec<String>>(&s).map_err(|e| ApiError::Internal(e.to_string()));
    Ok(Webhook {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        events: list(row.try_get("events")?)?,
        environments: list(row.try_get("environments")?)?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
        secret_hint: format!("…{}", &secret[secret.len().saturating_sub(4)..]),
        secret: with_secret.then_some(secret),
        after_audit_id: row.try_get("after_audit_id")?,
    })
}

const COLUMNS: &str = "id, url, secret, events, environments, description, created_at, after_audit_id";

pub async fn list(db: &Db) -> ApiResult<Vec<Webhook>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM webhooks ORDER BY id"))
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(|r| from_row(r, false)).collect()
}

pub async fn get(db: &Db, id: i64) -> ApiResult<Webhook> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("webhook {id}")))?;
    from_row(&row, false)
}

/// The URL and secret deliveries of webhook `id` are sent with.
pub async fn target(db: &Db, id: i64) -> ApiResult<Option<(String, String)>> {
    Ok(sqlx::query_as("SELECT url, secret FROM webhooks WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?)
}

/// A new webhook's row (validated by `writes::webhooks`).
pub struct NewWebhook<'a> {
    pub url: &'a str,
    pub secret: &'a str,
    pub events: &'a [String],
    pub environments: &'a [String],
    pub description: &'a str,
}

/// Inserts a webhook that receives the audit entries after the newest one
/// now; returns its id.
pub async fn insert(tx: &mut Transaction<'_, Any>, w: &NewWebhook<'_>) -> ApiResult<i64> {
    let after: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM audit_log")
        .fetch_one(&mut **tx)
        .await?;
    let events = serde_json::to_string(w.events).map_err(|e| ApiError::Internal(e.to_string()))?;
    let environments = serde_json::to_string(w.environments).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(sqlx::query_scalar(
        "INSERT INTO webhooks (url, secret, events, environments, description, after_audit_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(w.url)
    .bind(w.secret)
    .bind(&events)
    .bind(&environments)
    .bind(w.description)
    .bind(after)
    .bind(now_ms())
    .fetch_one(&mut **tx)
    .await?)
}

/// Webhook `id` read inside `tx`, with its secret (for the create call).
pub async fn get_with_secret(tx: &mut Transaction<'_, Any>, id: i64) -> ApiResult<Webhook> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1"))
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
    from_row(&row, true)
}

/// Deletes webhook `id` and its delivery log; false when there is none.
pub async fn delete(tx: &mut Transaction<'_, Any>, id: i64) -> ApiResult<bool> {
    let gone = sqlx::query("DELETE FROM webhooks WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if gone == 0 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(true)
}

/// How far back each scan of the audit log looks before the highest id it
/// saw: PostgreSQL hands out identity ids before commit, so a row may
/// become visible after rows with higher ids.
const LOOKBACK: i64 = 200;
const SCAN_LIMIT: i64 = 500;

/// The highest audit id that has deliveries (where a node starts scanning).
pub async fn delivered_up_to(db: &Db) -> ApiResult<i64> {
    Ok(
        sqlx::query_scalar("SELECT CAST(COALESCE(MAX(audit_id), 0) AS BIGINT) FROM webhook_deliveries")
            .fetch_one(&db.pool)
            .await?,
    )
}

/// Turns audit entries after `cursor - LOOKBACK` into deliveries for the
/// webhooks that want them; returns the new cursor (highest id scanned).
pub async fn enqueue(db: &Db, cursor: i64) -> ApiResult<i64> {
    let hooks = list(db).await?;
    let Some(oldest) = hooks.iter().map(|h| h.after_audit_id).min() else {
        let max: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM audit_log")
            .fetch_one(&db.pool)
            .await?;
        return Ok(max.max(cursor));
    };
    let lo = (cursor - LOOKBACK).max(oldest);
    let entries: Vec<AuditRecord> = sqlx::query_as(&format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(lo)
    .bind(SCAN_LIMIT)
    .fetch_all(&db.pool)
    .await?;
    let existing: Vec<(i64, i64)> =
        sqlx::query_as("SELECT webhook_id, audit_id FROM webhook_deliveries WHERE audit_id > $1")
            .bind(lo)
            .fetch_all(&db.pool)
            .await?;
    let existing: HashSet<(i64, i64)> = existing.into_iter().collect();
    let mut high = cursor;
    let now = now_ms();
    for entry in &entries {
        high = high.max(entry.id);
        for hook in &hooks {
            if entry.id <= hook.after_audit_id
                || existing.contains(&(hook.id, entry.id))
                || !hook.wants(&entry.action, entry.environment.as_deref())
            {
                continue;
            }
            let payload = serde_json::json!({
                "event": entry.action,
                "webhook_id": hook.id,
                "audit_id": entry.id,
                "created_at": now,
                "entry": entry,
            });
            sqlx::query(
                "INSERT INTO webhook_deliveries (webhook_id, audit_id, event, payload, status, attempts, next_attempt_at, lease_until, created_at)
                 VALUES ($1, $2, $3, $4, 'pending', 0, $5, 0, $5)
                 ON CONFLICT (webhook_id, audit_id) DO NOTHING",
            )
            .bind(hook.id)
            .bind(entry.id)
            .bind(&entry.action)
            .bind(payload.to_string())
            .bind(now)
            .execute(&db.pool)
            .await?;
        }
    }
    Ok(high)
}

/// A delivery a node has claimed.
#[derive(Debug, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub webhook_id: i64,
    pub event: String,
    pub payload: String,
    pub attempts: i64,
}

/// Claims up to `limit` due deliveries for `lease_ms`; a delivery another
/// node claimed first is skipped (the conditional UPDATE matches no row).
pub async fn claim(db: &Db, limit: i64, lease_ms: i64) -> ApiResult<Vec<Claimed>> {
    let now = now_ms();
    let due: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM webhook_deliveries
         WHERE status = 'pending' AND next_attempt_at <= $1 AND lease_until < $1 ORDER BY next_attempt_at, id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    let mut claimed = Vec::new();
    for id in due {
        let row = sqlx::query_as(
            "UPDATE webhook_deliveries SET lease_until = $1
             WHERE id = $2 AND status = 'pending' AND lease_until < $3
             RETURNING id, webhook_id, event, payload, attempts",
        )
        .bind(now + lease_ms)
        .bind(id)
        .bind(now)
        .fetch_optional(&db.pool)
        .await?;
        claimed.extend(row);
    }
    Ok(claimed)
}

/// What one attempt came to.
pub struct Outcome {
    pub response_code: Option<i64>,
    pub error: Option<String>,
    /// `None`: delivered or given up; `Some(t)`: try again at `t`.
    pub retry_at: Option<i64>,
}

pub async fn record_attempt(db: &Db, id: i64, attempts: i64, o: &Outcome) -> ApiResult<()> {
    let now = now_ms();
    let status = match (&o.error, o.retry_at) {
        (None, _) => "delivered",
        (Some(_), Some(_)) => "pending",
        (Some(_), None) => "failed",
    };
    sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3, lease_until = 0,
             last_error = COALESCE($4, last_error), response_code = $5, delivered_at = $6
         WHERE id = $7",
    )
    .bind(status)
    .bind(attempts)
    .bind(o.retry_at.unwrap_or(now))
    .bind(o.error.as_deref())
    .bind(o.response_code)
    .bind((status == "delivered").then_some(now))
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// One row of the delivery log.
#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Delivery {
    pub id: i64,
    pub audit_id: i64,
    pub event: String,
    /// `pending`, `delivered` or `failed` (gave up after the last attempt).
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    /// The error of the last failed attempt (kept after a later success).
    pub last_error: Option<String>,
    pub response_code: Option<i64>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

/// The delivery log of webhook `id`, newest first.
pub async fn deliveries(db: &Db, id: i64, status: Option<&str>, limit: i64) -> ApiResult<Vec<Delivery>> {
    Ok(sqlx::query_as(
        "SELECT id, audit_id, event, status, attempts, next_attempt_at, last_error, response_code, created_at, delivered_at
         FROM webhook_deliveries WHERE webhook_id = $1 AND ($2 IS NULL OR status = $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(id)
    .bind(status)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?)
}
