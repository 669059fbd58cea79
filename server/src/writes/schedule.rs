//! Scheduled-change writes. Claiming the row (`pending` → `applied`) and
//! writing the flag happen in one transaction, so each change is applied
//! exactly once whichever node gets there first.

use super::flags;
use super::Writer;
use crate::error::{ApiError, ApiResult};
use crate::store::flags::{config_for, StoredFlag};
use crate::store::schedule::{self as rows, get, Change, ScheduledChange};
use crate::store::{append_audit, environments, AuditEntry};

fn edit<'c>(change: &'c Change, environment: &str) -> impl FnMut(&mut StoredFlag) -> ApiResult<()> + use<'c> {
    let environment = environment.to_owned();
    move |stored: &mut StoredFlag| {
        let mut config = match &change.config {
            Some(config) => config.clone(),
            None => config_for(&stored.flag, &environment),
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
    environments::get(w.db, environment).await?;
    w.may_edit(environment)?;
    // Check now that the change would be valid, rather than fail at `at`.
    flags::prepare(w, flag_key, None, &mut edit(&change, environment)).await?;
    let doc = serde_json::to_string(&change).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut tx = w.begin().await?;
    let id = rows::insert(&mut tx, flag_key, environment, at, &doc, w.comment, w.actor).await?;
    append_audit(
        &mut tx,
        AuditEntry {
            after: Some(doc),
            ..w.audit("schedule.create", "scheduled_change", flag_key, Some(environment))
        },
    )
    .await?;
    tx.commit().await?;
    get(w.db, id).await
}

/// Cancels a pending change (409 once it has been applied).
pub async fn cancel(w: &Writer<'_>, id: i64) -> ApiResult<ScheduledChange> {
    let before = get(w.db, id).await?;
    w.may_edit(&before.environment)?;
    let mut tx = w.begin().await?;
    if !rows::settle(&mut tx, id, "cancelled", None).await? {
        return Err(ApiError::Conflict(format!(
            "scheduled change {id} is {}, not pending",
            get(w.db, id).await?.state
        )));
    }
    append_audit(
        &mut tx,
        AuditEntry {
            before: serde_json::to_string(&before.change).ok(),
            ..w.audit(
                "schedule.cancel",
                "scheduled_change",
                &before.flag_key,
                Some(&before.environment),
            )
        },
    )
    .await?;
    tx.commit().await?;
    get(w.db, id).await
}

/// Whether a refusal is the change's own fault (it no longer validates), as
/// opposed to the database or the node failing.
fn is_refusal(e: &ApiError) -> bool {
    matches!(
        e,
        ApiError::Invalid { .. } | ApiError::NotFound(_) | ApiError::Conflict(_) | ApiError::ApprovalRequired(_)
    )
}

/// What became of a due change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Applied,
    /// It no longer validates: marked `failed` with the reason.
    Failed,
    /// Another node settled it first (or it was cancelled).
    Elsewhere,
}

/// Applies change `id` if it is still pending. A change that no longer
/// validates, whether found when it is prepared or under the environment's lock, is marked
/// `failed` with the reason and the audit log says so; it never blocks
/// the changes due after it.
pub async fn apply(w: &Writer<'_>, id: i64) -> ApiResult<Settled> {
    for _attempt in 0..5 {
        let scheduled = get(w.db, id).await?;
        if scheduled.state != "pending" {
            return Ok(Settled::Elsewhere);
        }
        let env = scheduled.environment.as_str();
        let pending = match flags::prepare(w, &scheduled.flag_key, None, &mut edit(&scheduled.change, env)).await {
            Ok(pending) => pending,
            Err(e) if is_refusal(&e) => return fail(w, &scheduled, &e.to_string()).await,
            Err(e) => return Err(e),
        };
        let mut tx = w.begin().await?;
        if !rows::settle(&mut tx, id, "applied", None).await? {
            tx.rollback().await?;
            return Ok(Settled::Elsewhere);
        }
        if !pending.changed.is_empty() {
            match flags::write(&mut tx, w, &pending, "flag.scheduled_change", Some(env)).await {
                Ok(true) => {}
                Ok(false) => {
                    tx.rollback().await?;
                    continue;
                }
                Err(e) if is_refusal(&e) => {
                    tx.rollback().await?;
                    return fail(w, &scheduled, &e.to_string()).await;
                }
                Err(e) => return Err(e),
            }
        }
        append_audit(
            &mut tx,
            AuditEntry {
                after: serde_json::to_string(&scheduled.change).ok(),
                comment: &scheduled.comment,
                ..w.audit("schedule.apply", "scheduled_change", &scheduled.flag_key, Some(env))
            },
        )
        .await?;
        w.commit(tx, &pending.changed).await?;
        return Ok(Settled::Applied);
    }
    Err(flags::busy(&get(w.db, id).await?.flag_key))
}

async fn fail(w: &Writer<'_>, scheduled: &ScheduledChange, error: &str) -> ApiResult<Settled> {
    let mut tx = w.begin().await?;
    if !rows::settle(&mut tx, scheduled.id, "failed", Some(error)).await? {
        return Ok(Settled::Elsewhere);
    }
    append_audit(
        &mut tx,
        AuditEntry {
            after: serde_json::to_string(&scheduled.change).ok(),
            comment: error,
            ..w.audit(
                "schedule.failed",
                "scheduled_change",
                &scheduled.flag_key,
                Some(&scheduled.environment),
            )
        },
    )
    .await?;
    tx.commit().await?;
    tracing::warn!(id = scheduled.id, flag = %scheduled.flag_key, %error, "scheduled change failed");
    Ok(Settled::Failed)
}
