//! Scheduled changes: a flag change in one environment, applied at a given
//! time by the scheduler. Claiming the row (`pending` → `applied`) and
//! writing the flag happen in one transaction, so each change is applied
//! exactly once whichever node gets there first.

use daylight::model::FlagConfig;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

use super::{append_audit, flags, AuditEntry, Writer};
use crate::db::{now_ms, Db};
use crate::error::{ApiError, ApiResult};

/// The change to make: turn the flag on or off, or replace its config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Change {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<FlagConfig>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScheduledChange {
    pub id: i64,
    pub flag_key: String,
    pub environment: String,
    /// When to apply it (Unix ms).
    pub at: i64,
    pub change: Change,
    /// `pending`, `applied`, `cancelled` or `failed`.
    pub state: String,
    pub comment: String,
    /// Why it failed, when it did (e.g. a segment it names was deleted).
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub applied_at: Option<i64>,
}

const COLUMNS: &str =
    "id, flag_key, environment, at, change, state, comment, error, created_by, created_at, applied_at FROM scheduled_changes";

fn from_row(row: &sqlx::any::AnyRow) -> ApiResult<ScheduledChange> {
    let change: String = row.try_get("change")?;
    Ok(ScheduledChange {
        id: row.try_get("id")?,
        flag_key: row.try_get("flag_key")?,
        environment: row.try_get("environment")?,
        at: row.try_get("at")?,
        change: serde_json::from_str(&change).map_err(|e| ApiError::Internal(format!("stored change: {e}")))?,
        state: row.try_get("state")?,
        comment: row.try_get("comment")?,
        error: row.try_get("error")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        applied_at: row.try_get("applied_at")?,
    })
}

pub async fn get(db: &Db, id: i64) -> ApiResult<ScheduledChange> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("scheduled change {id}")))?;
    from_row(&row)
}

pub async fn list(
    db: &Db,
    flag: Option<&str>,
    environment: Option<&str>,
    state: Option<&str>,
) -> ApiResult<Vec<ScheduledChange>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} WHERE ($1 IS NULL OR flag_key = $1) AND ($2 IS NULL OR environment = $2)
         AND ($3 IS NULL OR state = $3) ORDER BY at, id LIMIT 500"
    ))
    .bind(flag)
    .bind(environment)
    .bind(state)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

pub async fn due(db: &Db, now: i64) -> ApiResult<Vec<i64>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM scheduled_changes WHERE state = 'pending' AND at <= $1 ORDER BY at, id")
            .bind(now)
            .fetch_all(&db.pool)
            .await?,
    )
}

fn edit<'c>(change: &'c Change, environment: &str) -> impl FnMut(&mut flags::StoredFlag) -> ApiResult<()> + use<'c> {
    let environment = environment.to_owned();
    move |stored: &mut flags::StoredFlag| {
        let mut config = match &change.config {
            Some(config) => config.clone(),
            None => flags::config_for(&stored.flag, &environment),
        };
        if let Some(on) = change.on {
            config.on = on;
        }
        stored.flag.environments.insert(environment.clone(), config);
        Ok(())
    }
}

pub async fn create(
    w: &Writer<'_>,
    flag_key: &str,
    environment: &str,
    at: i64,
    change: Change,
) -> ApiResult<ScheduledChange> {
    if change.on.is_none() && change.config.is_none() {
        return Err(ApiError::invalid("change", "say what to change: `on` and/or `config`"));
    }
    super::environments::get(w.db, environment).await?;
    // Check now that the change would be valid, rather than fail at `at`.
    flags::prepare(w, flag_key, None, &mut edit(&change, environment)).await?;
    let doc = serde_json::to_string(&change).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut tx = w.db.pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO scheduled_changes (flag_key, environment, at, change, state, comment, created_by, created_at)
         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7) RETURNING id",
    )
    .bind(flag_key)
    .bind(environment)
    .bind(at)
    .bind(&doc)
    .bind(w.comment)
    .bind(w.actor)
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await?;
    append_audit(
        &mut tx,
        AuditEntry {
            actor: w.actor,
            action: "schedule.create",
            resource_kind: "scheduled_change",
            resource_key: flag_key,
            environment: Some(environment),
            before: None,
            after: Some(doc),
            comment: w.comment,
        },
    )
    .await?;
    tx.commit().await?;
    get(w.db, id).await
}

/// Cancels a pending change (409 once it has been applied).
pub async fn cancel(w: &Writer<'_>, id: i64) -> ApiResult<ScheduledChange> {
    let before = get(w.db, id).await?;
    let mut tx = w.db.pool.begin().await?;
    let cancelled = sqlx::query("UPDATE scheduled_changes SET state = 'cancelled' WHERE id = $1 AND state = 'pending'")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if cancelled == 0 {
        return Err(ApiError::Conflict(format!(
            "scheduled change {id} is {}, not pending",
            get(w.db, id).await?.state
        )));
    }
    append_audit(
        &mut tx,
        AuditEntry {
            actor: w.actor,
            action: "schedule.cancel",
            resource_kind: "scheduled_change",
            resource_key: &before.flag_key,
            environment: Some(&before.environment),
            before: serde_json::to_string(&before.change).ok(),
            after: None,
            comment: w.comment,
        },
    )
    .await?;
    tx.commit().await?;
    get(w.db, id).await
}

/// Applies change `id` if it is still pending; `Ok(false)` when another node
/// did (or it was cancelled). A change that no longer validates is marked
/// `failed` with the reason, and the audit log says so.
pub async fn apply(w: &Writer<'_>, id: i64) -> ApiResult<bool> {
    for _attempt in 0..5 {
        let scheduled = get(w.db, id).await?;
        if scheduled.state != "pending" {
            return Ok(false);
        }
        let env = scheduled.environment.as_str();
        let pending = match flags::prepare(w, &scheduled.flag_key, None, &mut edit(&scheduled.change, env)).await {
            Ok(pending) => pending,
            Err(e @ (ApiError::Invalid { .. } | ApiError::NotFound(_) | ApiError::Conflict(_))) => {
                return fail(w, &scheduled, &e.to_string()).await;
            }
            Err(e) => return Err(e),
        };
        let mut tx = w.db.pool.begin().await?;
        let claimed = sqlx::query(
            "UPDATE scheduled_changes SET state = 'applied', applied_at = $1 WHERE id = $2 AND state = 'pending'",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        if !pending.changed.is_empty()
            && !flags::write(&mut tx, w, &pending, "flag.scheduled_change", Some(env)).await?
        {
            tx.rollback().await?;
            continue;
        }
        append_audit(
            &mut tx,
            AuditEntry {
                actor: w.actor,
                action: "schedule.apply",
                resource_kind: "scheduled_change",
                resource_key: &scheduled.flag_key,
                environment: Some(env),
                before: None,
                after: serde_json::to_string(&scheduled.change).ok(),
                comment: &scheduled.comment,
            },
        )
        .await?;
        tx.commit().await?;
        w.live.committed(w.db, &pending.changed).await;
        return Ok(true);
    }
    Err(flags::busy(&get(w.db, id).await?.flag_key))
}

async fn fail(w: &Writer<'_>, scheduled: &ScheduledChange, error: &str) -> ApiResult<bool> {
    let mut tx = w.db.pool.begin().await?;
    let marked =
        sqlx::query("UPDATE scheduled_changes SET state = 'failed', error = $1 WHERE id = $2 AND state = 'pending'")
            .bind(error)
            .bind(scheduled.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if marked == 0 {
        return Ok(false);
    }
    append_audit(
        &mut tx,
        AuditEntry {
            actor: w.actor,
            action: "schedule.failed",
            resource_kind: "scheduled_change",
            resource_key: &scheduled.flag_key,
            environment: Some(&scheduled.environment),
            before: None,
            after: serde_json::to_string(&scheduled.change).ok(),
            comment: error,
        },
    )
    .await?;
    tx.commit().await?;
    tracing::warn!(id = scheduled.id, flag = %scheduled.flag_key, %error, "scheduled change failed");
    Ok(true)
}
