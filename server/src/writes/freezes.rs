//! Freeze-window writes: add and remove, audited. Adding a window that
//! covers now is allowed (a freeze can start at once); the kill switch still
//! goes through it.

use super::Writer;
use crate::error::{ApiError, ApiResult};
use crate::freeze::Schedule;
use crate::store::freezes::{self as rows, FreezeWindow};
use crate::store::{append_audit, environments};

pub async fn create(w: &Writer<'_>, environment: &str, name: &str, schedule: Schedule) -> ApiResult<FreezeWindow> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::invalid(
            "name",
            "a window needs a name of 1 to 100 characters",
        ));
    }
    schedule.compile()?;
    environments::get(w.db, environment).await?;
    let doc = serde_json::to_string(&schedule).map_err(|e| ApiError::Internal(e.to_string()))?;
    let now = w.clock.now_ms();
    let mut tx = w.begin().await?;
    let id = rows::insert(&mut tx, environment, name, &doc, w.actor, now).await?;
    let window = FreezeWindow {
        id,
        environment: environment.to_owned(),
        name: name.to_owned(),
        schedule,
        created_by: w.actor.to_owned(),
        created_at: now,
    };
    append_audit(
        &mut tx,
        crate::store::AuditEntry {
            after: serde_json::to_string(&window).ok(),
            ..w.audit("freeze.create", "freeze", &id.to_string(), Some(environment))
        },
    )
    .await?;
    w.commit(tx, &[]).await?;
    Ok(window)
}

pub async fn delete(w: &Writer<'_>, environment: &str, id: i64) -> ApiResult<()> {
    let mut tx = w.begin().await?;
    if !rows::delete(&mut tx, environment, id).await? {
        return Err(ApiError::NotFound(format!("freeze window {id} in `{environment}`")));
    }
    append_audit(
        &mut tx,
        w.audit("freeze.delete", "freeze", &id.to_string(), Some(environment)),
    )
    .await?;
    w.commit(tx, &[]).await
}
