//! Segment writes: create, edit, delete (refused while a flag uses it). An
//! edit is prepared (read, applied, validated) and then written inside a
//! transaction, so an approved change request is settled in the same one.
//! Where the environment requires approvals, an edit goes only through an
//! approved change request.

use sqlx::{Any, Transaction};

use super::{served, Writer};
use crate::db::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::store::segments::{self as rows, doc_of, StoredSegment};
use crate::store::{append_audit, append_change, environments, AuditEntry};

pub async fn create(w: &Writer<'_>, mut segment: StoredSegment) -> ApiResult<StoredSegment> {
    environments::get(w.db, &segment.environment).await?;
    daylight::validate_segment(&segment.rules)?;
    let now = now_ms();
    segment.rules.version = 1;
    segment.created_at = now;
    segment.updated_at = now;
    let doc = doc_of(&segment.rules)?;
    let mut tx = w.begin().await?;
    fits(w, &mut tx, &segment).await?;
    insert(&mut tx, w, &segment, &doc).await?;
    w.commit(tx, std::slice::from_ref(&segment.environment)).await?;
    Ok(segment)
}

/// The rows of a new, checked segment in `tx`: the segment, its change-log
/// row and an audit row. The caller locks and commits.
pub async fn insert(
    tx: &mut Transaction<'_, Any>,
    w: &Writer<'_>,
    segment: &StoredSegment,
    doc: &str,
) -> ApiResult<()> {
    rows::insert(tx, segment, doc).await?;
    append_change(tx, &segment.environment, "segment", &segment.key, Some(doc.to_owned())).await?;
    append_audit(
        tx,
        AuditEntry {
            after: serde_json::to_string(segment).ok(),
            ..w.audit("segment.create", "segment", &segment.key, Some(&segment.environment))
        },
    )
    .await
}

/// Applies `edit`; `expected` as for flags (409 when stale).
pub async fn update(
    w: &Writer<'_>,
    environment: &str,
    key: &str,
    expected: Option<i64>,
    action: &str,
    edit: impl FnOnce(&mut StoredSegment) -> ApiResult<()>,
) -> ApiResult<StoredSegment> {
    let pending = prepare(w, environment, key, expected, edit).await?;
    let mut tx = w.begin().await?;
    write(&mut tx, w, &pending, action).await?;
    w.commit(tx, &[environment.to_owned()]).await?;
    Ok(pending.after)
}

/// An edit read, applied and validated, not yet written.
pub struct PendingUpdate {
    pub before: StoredSegment,
    pub after: StoredSegment,
    doc: String,
}

/// Reads segment `key` of `environment`, applies `edit` and validates the
/// result; `expected` as for flags (409 when stale).
pub async fn prepare(
    w: &Writer<'_>,
    environment: &str,
    key: &str,
    expected: Option<i64>,
    edit: impl FnOnce(&mut StoredSegment) -> ApiResult<()>,
) -> ApiResult<PendingUpdate> {
    let before = rows::get(w.db, environment, key).await?;
    let version = before.rules.version as i64;
    if let Some(expected) = expected {
        if expected != version {
            return Err(ApiError::Conflict(format!(
                "segment `{key}` changed since you read it (you sent version {expected}, it is now at {version}); reload and retry"
            )));
        }
    }
    let mut after = before.clone();
    edit(&mut after)?;
    after.key = before.key.clone();
    after.environment = before.environment.clone();
    daylight::validate_segment(&after.rules)?;
    after.rules.version = before.rules.version + 1;
    after.updated_at = now_ms();
    let doc = doc_of(&after.rules)?;
    Ok(PendingUpdate { before, after, doc })
}

/// Writes a prepared edit in `tx` (the caller commits): under the
/// environment's lock, where approvals are required only with them, and
/// only if the segment is still at the version read (409 otherwise).
pub async fn write(
    tx: &mut Transaction<'_, Any>,
    w: &Writer<'_>,
    pending: &PendingUpdate,
    action: &str,
) -> ApiResult<()> {
    let (before, after) = (&pending.before, &pending.after);
    fits(w, tx, after).await?;
    // A name or description is not served: it changes directly where
    // approvals are required, as a flags file's apply writes it.
    if served::segment_serves_differently(before, after) {
        w.check_approvals(tx, &before.environment, "").await?;
    }
    if !store(tx, w, before, after, &pending.doc, action).await? {
        return Err(ApiError::Conflict(format!(
            "segment `{}` changed while you wrote it; reload and retry",
            before.key
        )));
    }
    Ok(())
}

/// The rows of a checked edit in `tx`, if the segment is still at the
/// version of `before` (`false` otherwise): the segment, its change-log row
/// and an audit row. The caller locks and commits.
pub async fn store(
    tx: &mut Transaction<'_, Any>,
    w: &Writer<'_>,
    before: &StoredSegment,
    after: &StoredSegment,
    doc: &str,
    action: &str,
) -> ApiResult<bool> {
    if !rows::update_if(tx, after, doc, before.rules.version as i64).await? {
        return Ok(false);
    }
    append_change(tx, &after.environment, "segment", &after.key, Some(doc.to_owned())).await?;
    append_audit(
        tx,
        AuditEntry {
            before: serde_json::to_string(before).ok(),
            after: serde_json::to_string(after).ok(),
            ..w.audit(action, "segment", &after.key, Some(&after.environment))
        },
    )
    .await?;
    Ok(true)
}

/// Under the environment's lock: the environment with this segment still
/// compiles within its budgets (the segment alone is checked by
/// `validate_segment`; the environment's regex budget spans every rule).
async fn fits(w: &Writer<'_>, tx: &mut Transaction<'_, Any>, segment: &StoredSegment) -> ApiResult<()> {
    w.lock(tx, std::slice::from_ref(&segment.environment)).await?;
    if let Some(ruleset) = w.live.get(&segment.environment) {
        ruleset
            .with_segment(&segment.key, Some(&segment.rules), ruleset.version())
            .map_err(|mut e| {
                if let Some(rest) = e.path.strip_prefix(&format!("segments.{}.", segment.key)) {
                    e.path = rest.to_owned();
                }
                ApiError::from(e)
            })?;
    }
    Ok(())
}

/// Deletes a segment no flag uses.
pub async fn delete(w: &Writer<'_>, environment: &str, key: &str) -> ApiResult<()> {
    let before = rows::get(w.db, environment, key).await?;
    let mut tx = w.begin().await?;
    // Under the environment's lock, so no flag starts using it meanwhile.
    w.lock(&mut tx, &[environment.to_owned()]).await?;
    if w.live
        .get(environment)
        .is_some_and(|r| r.segments_in_use().contains(key))
    {
        return Err(ApiError::Conflict(format!(
            "segment `{key}` is used by a flag rule; remove those clauses first"
        )));
    }
    rows::delete(&mut tx, environment, key).await?;
    append_change(&mut tx, environment, "segment", key, None).await?;
    append_audit(
        &mut tx,
        AuditEntry {
            before: serde_json::to_string(&before).ok(),
            ..w.audit("segment.delete", "segment", key, Some(environment))
        },
    )
    .await?;
    w.commit(tx, &[environment.to_owned()]).await
}
