//! Cohort writes: create, set the share of one environment (which rewrites
//! every flag rollout and bundle canary that references the cohort there,
//! in the same transaction), delete (refused while referenced).

use std::collections::BTreeMap;

use serde::Serialize;

use super::Writer;
use crate::cohorts::{self, Cohort, Reference};
use crate::db::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::store::cohorts as rows;
use crate::store::flags::{self as flag_rows, rules_for};
use crate::store::{append_audit, append_change, bundles, environments, AuditEntry};

/// Creates a cohort. Nothing references it yet, so no ruleset changes.
pub async fn create(w: &Writer<'_>, mut cohort: Cohort) -> ApiResult<Cohort> {
    let known: Vec<String> = environments::list(w.db).await?.into_iter().map(|e| e.key).collect();
    for (env, weight) in &cohort.weights {
        check_weight(&known, env, *weight, &format!("weights.{env}"))?;
    }
    let now = now_ms();
    cohort.version = 1;
    cohort.created_at = now;
    cohort.updated_at = now;
    let mut tx = w.begin().await?;
    rows::insert(&mut tx, &cohort).await?;
    append_audit(
        &mut tx,
        AuditEntry {
            after: serde_json::to_string(&cohort).ok(),
            ..w.audit("cohort.create", "cohort", &cohort.key, None)
        },
    )
    .await?;
    tx.commit().await?;
    Ok(cohort)
}

fn check_weight(known: &[String], env: &str, weight: u32, field: &str) -> ApiResult<()> {
    if !known.iter().any(|k| k == env) {
        return Err(ApiError::invalid(field, format!("unknown environment `{env}`")));
    }
    if weight > cohorts::ALL {
        return Err(ApiError::invalid(field, "at most 100000 (thousandths of a percent)"));
    }
    Ok(())
}

/// What a change of a cohort's share did.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Moved {
    pub cohort: Cohort,
    /// The configs rewritten with it (flag rollouts, bundle canaries).
    pub moved: Vec<Reference>,
}

/// Sets the share of `key` in `environment` (thousandths of a percent) and
/// rewrites whatever references the cohort there, all in one transaction:
/// one change-log row per rewritten flag or bundle config, one audit entry
/// listing them. `expected` as for flags (409 when stale); without it the
/// write is retried on a concurrent change.
pub async fn set_weight(
    w: &Writer<'_>,
    key: &str,
    environment: &str,
    weight: u32,
    expected: Option<i64>,
) -> ApiResult<Moved> {
    let known: Vec<String> = environments::list(w.db).await?.into_iter().map(|e| e.key).collect();
    if !known.iter().any(|k| k == environment) {
        return Err(ApiError::NotFound(format!("environment `{environment}`")));
    }
    check_weight(&known, environment, weight, "weight")?;
    for _attempt in 0..5 {
        let before = rows::get(w.db, key).await?;
        if let Some(expected) = expected.filter(|e| *e != before.version) {
            return Err(stale(key, expected, before.version));
        }
        let mut after = before.clone();
        after.weights.insert(environment.to_owned(), weight);
        after.version = before.version + 1;
        after.updated_at = now_ms();
        if let Some(moved) = try_set(w, &before, &after, environment).await? {
            return Ok(Moved { cohort: after, moved });
        }
        if let Some(expected) = expected {
            return Err(stale(key, expected, expected + 1));
        }
    }
    Err(ApiError::Conflict(format!(
        "cohort `{key}` and what references it are being changed by others; try again"
    )))
}

/// One attempt: `None` when a row changed since it was read.
async fn try_set(w: &Writer<'_>, before: &Cohort, after: &Cohort, env: &str) -> ApiResult<Option<Vec<Reference>>> {
    let mut tx = w.begin().await?;
    w.lock(&mut tx, &[env.to_owned()]).await?;
    // Read under the lock: a flag or canary that took a reference to this
    // cohort in `env` has committed by now, with the share before this one.
    let flags = flag_rows::list(w.db).await?;
    let configs = bundles::all_configs(w.db).await?;
    if !w.approved {
        let required = environments::approvals_required(&mut *tx, env).await?;
        if required > 0 {
            return Err(ApiError::ApprovalRequired(format!(
                "`{env}` requires {required} approval(s); a cohort's share there rewrites flags and is not yet \
                 proposed through change requests: ask an environment admin to lower the requirement for this change"
            )));
        }
    }
    if !rows::update_if(&mut tx, after, before.version).await? {
        return Ok(None);
    }
    let mut moved = Vec::new();
    for stored in flags {
        let mut next = stored.clone();
        if !cohorts::rematerialise_flag(&mut next.flag, env, after) {
            continue;
        }
        if let Some(config) = next.flag.environments.get_mut(env) {
            config.version += 1;
        }
        next.version = stored.version + 1;
        next.updated_at = now_ms();
        let doc = serde_json::to_string(&next.flag).map_err(|e| ApiError::Internal(e.to_string()))?;
        if !flag_rows::update_if(&mut tx, &next, &doc, stored.version).await? {
            return Ok(None);
        }
        if rules_for(&stored, env) != rules_for(&next, env) {
            let rules = rules_for(&next, env).and_then(|r| serde_json::to_string(&r).ok());
            append_change(&mut tx, env, "flag", &next.flag.key, rules).await?;
        }
        moved.extend(
            cohorts::flag_references(&next.flag)
                .into_iter()
                .filter(|(c, r)| *c == after.key && r.environment == env)
                .map(|(_, r)| r),
        );
    }
    for (app, config_env, config, version) in configs {
        if config_env != env {
            continue;
        }
        let Some((cohort, reference)) = cohorts::bundle_reference(&app, env, &config) else {
            continue;
        };
        if cohort != after.key {
            continue;
        }
        let mut next = config.clone();
        if let Some(canary) = next.canary.as_mut() {
            after.canary(env, canary);
        }
        if next == config {
            continue;
        }
        let doc = serde_json::to_string(&next).map_err(|e| ApiError::Internal(e.to_string()))?;
        if !bundles::write_config_if(&mut tx, &app, env, &doc, version).await? {
            return Ok(None);
        }
        append_change(&mut tx, env, "bundle", &app, Some(doc)).await?;
        moved.push(reference);
    }
    let audit_after = serde_json::json!({ "cohort": after, "moved": moved });
    append_audit(
        &mut tx,
        AuditEntry {
            before: serde_json::to_string(before).ok(),
            after: Some(audit_after.to_string()),
            // Links the entry to the receipt of the last config it moved.
            follows_change: !moved.is_empty(),
            ..w.audit("cohort.weight", "cohort", &after.key, Some(env))
        },
    )
    .await?;
    w.commit(tx, &[env.to_owned()]).await?;
    Ok(Some(moved))
}

/// Everything that references each cohort (flags, archived ones too, since
/// they may be restored; bundle canaries).
pub async fn references(w_db: &crate::db::Db) -> ApiResult<BTreeMap<String, Vec<Reference>>> {
    let mut out: BTreeMap<String, Vec<Reference>> = BTreeMap::new();
    for stored in flag_rows::list(w_db).await? {
        for (cohort, reference) in cohorts::flag_references(&stored.flag) {
            out.entry(cohort).or_default().push(reference);
        }
    }
    for (app, env, config, _) in bundles::all_configs(w_db).await? {
        if let Some((cohort, reference)) = cohorts::bundle_reference(&app, &env, &config) {
            out.entry(cohort).or_default().push(reference);
        }
    }
    Ok(out)
}

/// Deletes a cohort nothing references (409 listing the references).
pub async fn delete(w: &Writer<'_>, key: &str, expected: Option<i64>) -> ApiResult<()> {
    let before = rows::get(w.db, key).await?;
    if let Some(expected) = expected.filter(|e| *e != before.version) {
        return Err(stale(key, expected, before.version));
    }
    let envs: Vec<String> = environments::list(w.db).await?.into_iter().map(|e| e.key).collect();
    let mut tx = w.begin().await?;
    // Under every environment's lock no write can add a reference meanwhile
    // (flag and canary writes that reference a cohort lock theirs).
    w.lock_rows(&mut tx, &envs).await?;
    let referenced = references(w.db).await?.remove(key).unwrap_or_default();
    if !referenced.is_empty() {
        return Err(ApiError::Conflict(format!(
            "cohort `{key}` is referenced by {}; point those elsewhere first",
            referenced
                .iter()
                .map(|r| format!("{} `{}` in `{}` ({})", r.kind, r.key, r.environment, r.at))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if !rows::delete_if(&mut tx, key, before.version).await? {
        return Err(stale(key, before.version, before.version + 1));
    }
    append_audit(
        &mut tx,
        AuditEntry {
            before: serde_json::to_string(&before).ok(),
            ..w.audit("cohort.delete", "cohort", key, None)
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn stale(key: &str, expected: i64, current: i64) -> ApiError {
    ApiError::Conflict(format!(
        "cohort `{key}` changed since you read it (you sent version {expected}, it is now at {current}); reload and retry"
    ))
}
