//! The scheduler's apply of a request with `apply_at` ([`apply_due`]):
//! applied if approved by its time, otherwise settled `expired` or `failed`.

use super::{apply_approved, approved_enough, audit, Writer};
use crate::error::{ApiError, ApiResult};
use crate::store::append_audit;
use crate::store::change_requests::{self as rows, ChangeRequest};
use crate::store::AuditEntry;

/// What became of a scheduled request whose time came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Applied,
    /// Not approved by its time: settled `expired`.
    Expired,
    /// Approved, but it could not apply (its subject moved, it no longer
    /// validates, a freeze window holds): settled `failed`.
    Failed,
    /// Another node settled it first, or it was edited meanwhile.
    Elsewhere,
}

/// The scheduler's move on request `id` at its time: applies it if it is
/// approved, otherwise settles it `expired` or `failed` with the reason,
/// audited. Every outcome is conditional on the request's row (open, same
/// revision), so several nodes ticking over one database settle it once.
pub async fn apply_due(w: &Writer<'_>, id: i64) -> ApiResult<Due> {
    let Some(request) = rows::get(w.db, id).await? else {
        return Ok(Due::Elsewhere);
    };
    let Some(apply_at) = request.apply_at.filter(|at| *at <= w.clock.now_ms()) else {
        return Ok(Due::Elsewhere);
    };
    if request.state != "open" {
        return Ok(Due::Elsewhere);
    }
    // Approvals given by its time count, even when the scheduler comes
    // later (after downtime); later ones do not.
    let approvers = match approved_enough(w, &request, Some(apply_at)).await {
        Ok(approvers) => approvers,
        Err(ApiError::Conflict(why)) => {
            return unapplied(w, &request, "expired", &format!("not approved by its time: {why}")).await;
        }
        Err(e) => return Err(e),
    };
    match apply_approved(w, &request, &approvers).await {
        Ok(()) => Ok(Due::Applied),
        Err(e) if is_refusal(&e) => {
            // Settled or revised by someone else meanwhile: theirs to say.
            match rows::get(w.db, id).await? {
                Some(now) if now.state == "open" && now.revision == request.revision => {
                    unapplied(w, &request, "failed", &e.to_string()).await
                }
                _ => Ok(Due::Elsewhere),
            }
        }
        Err(e) => Err(e),
    }
}

/// Whether an error is the request's own (or its environment's) refusal, as
/// opposed to the database or the node failing.
fn is_refusal(e: &ApiError) -> bool {
    matches!(
        e,
        ApiError::Invalid { .. }
            | ApiError::NotFound(_)
            | ApiError::Conflict(_)
            | ApiError::ApprovalRequired(_)
            | ApiError::Frozen(_)
    )
}

async fn unapplied(w: &Writer<'_>, request: &ChangeRequest, state: &str, why: &str) -> ApiResult<Due> {
    let mut tx = w.begin().await?;
    let now = w.clock.now_ms();
    if !rows::settle_unapplied(&mut tx, request.id, request.revision, state, why, now).await? {
        tx.rollback().await?;
        return Ok(Due::Elsewhere);
    }
    let action = format!("change_request.{state}");
    append_audit(
        &mut tx,
        AuditEntry {
            comment: why,
            ..audit(w, &action, &request.id.to_string(), &request.environment)
        },
    )
    .await?;
    tx.commit().await?;
    tracing::warn!(id = request.id, state, reason = %why, "scheduled change request not applied");
    Ok(if state == "expired" { Due::Expired } else { Due::Failed })
}
