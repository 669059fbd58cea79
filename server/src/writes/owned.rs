//! What others own in a flag's config, and so refuse to other writes: the
//! targeting a flags-as-code file manages (`owned_by_file`), and the
//! fallthrough and rule a running release plan moves (`owned_by_release`).
//! Checked under the environments' locks by `flags::write` and the flags
//! file's batch.

use sqlx::{Any, Transaction};

use super::flags::PendingUpdate;
use crate::error::{ApiError, ApiResult};
use crate::store::flags::config_for;

/// Refuses (409 `owned_by_release`) an edit to what a running or paused
/// release plan moves in its environment: the fallthrough and the plan's
/// rule. Only the plan's own moves (next stage, pause, roll back: written
/// through [`super::flags::write_rows`]) change those until it ends; a page, the CLI, a
/// flags file, a change request or a scheduled change would otherwise be
/// overwritten by the plan's next stage, or undo its cohort. The kill switch
/// does not come here (`true`: nothing to refuse).
pub async fn check_not_plan_owned(tx: &mut Transaction<'_, Any>, pending: &PendingUpdate) -> ApiResult<bool> {
    if pending.kill_switch || pending.changed.is_empty() {
        return Ok(true);
    }
    for plan in crate::store::releases::moving_in(tx, &pending.before.flag.key).await? {
        let env = plan.environment.as_str();
        if !pending.changed.iter().any(|c| c == env) {
            continue;
        }
        let (before, after) = (
            config_for(&pending.before.flag, env),
            config_for(&pending.after.flag, env),
        );
        let rule = |c: &daylight::FlagConfig| {
            c.rules
                .iter()
                .find(|r| r.id == crate::releases::plan::RELEASE_RULE_ID)
                .cloned()
        };
        let field = if before.fallthrough != after.fallthrough {
            "fallthrough"
        } else if rule(&before) != rule(&after) {
            "rules"
        } else {
            continue;
        };
        return Err(ApiError::OwnedByRelease {
            plan: plan.id,
            field: format!("environments.{env}.{field}"),
        });
    }
    Ok(true)
}

/// Refuses (409 `owned_by_file`) an edit to a part of the flag's config
/// that a flags-as-code file manages in an environment: only `daylight
/// apply` writes those. The kill switch does not come here: it never waits.
pub async fn check_not_file_owned(tx: &mut Transaction<'_, Any>, pending: &PendingUpdate) -> ApiResult<()> {
    if pending.changed.is_empty() {
        return Ok(());
    }
    let owned = crate::store::flagfile::owned_in(tx, &pending.before.flag.key).await?;
    for env in &pending.changed {
        let Some(owner) = owned.get(env) else {
            continue;
        };
        if !owner.parts.contains(&crate::flagfile::model::ManagedPart::Targeting) {
            continue;
        }
        let (before, after) = (
            config_for(&pending.before.flag, env),
            config_for(&pending.after.flag, env),
        );
        let field = [
            ("on", before.on != after.on),
            ("prerequisites", before.prerequisites != after.prerequisites),
            ("targets", before.targets != after.targets),
            ("rules", before.rules != after.rules),
            ("fallthrough", before.fallthrough != after.fallthrough),
        ]
        .into_iter()
        .find(|(_, differs)| *differs);
        if let Some((field, _)) = field {
            return Err(ApiError::OwnedByFile {
                file: owner.file.clone(),
                field: format!("environments.{env}.{field}"),
            });
        }
    }
    Ok(())
}
