//! Flags: the admin document, its per-environment configs, and the write
//! path that turns an edit into change-log entries.

use std::collections::BTreeSet;

use daylight::model::{Flag, FlagConfig, FlagRules};
use serde::Serialize;
use sqlx::{Any, Row, Transaction};

use super::{append_audit, append_change, AuditEntry, Writer};
use crate::db::{now_ms, Db};
use crate::error::{ApiError, ApiResult};
use crate::live::Live;

/// A flag as stored: the document plus bookkeeping.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredFlag {
    #[serde(flatten)]
    pub flag: Flag,
    /// Bumped by every write; send it back in `If-Match`.
    pub version: i64,
    pub archived: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The config of `flag` in `environment`; an environment the flag has no
/// config for yet (created after the flag) sees it dark, serving variation 0.
pub fn config_for(flag: &Flag, environment: &str) -> FlagConfig {
    flag.environments
        .get(environment)
        .cloned()
        .unwrap_or_else(|| FlagConfig::dark(0))
}

/// What SDKs of `environment` see of this flag (`None` when archived).
pub fn rules_for(stored: &StoredFlag, environment: &str) -> Option<FlagRules> {
    (!stored.archived).then(|| FlagRules {
        variations: stored.flag.variations.clone(),
        client_side: stored.flag.client_side,
        config: config_for(&stored.flag, environment),
    })
}

fn from_row(row: &sqlx::any::AnyRow) -> ApiResult<StoredFlag> {
    let doc: String = row.try_get("doc")?;
    Ok(StoredFlag {
        flag: serde_json::from_str(&doc).map_err(|e| ApiError::Internal(format!("stored flag: {e}")))?,
        version: row.try_get("version")?,
        archived: row.try_get::<i64, _>("archived")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn list(db: &Db) -> ApiResult<Vec<StoredFlag>> {
    let rows = sqlx::query("SELECT doc, version, archived, created_at, updated_at FROM flags ORDER BY key")
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(from_row).collect()
}

pub async fn get(db: &Db, key: &str) -> ApiResult<StoredFlag> {
    let row = sqlx::query("SELECT doc, version, archived, created_at, updated_at FROM flags WHERE key = $1")
        .bind(key)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("flag `{key}`")))?;
    from_row(&row)
}

/// Creates a flag, off (dark) in every environment.
pub async fn create(w: &Writer<'_>, mut flag: Flag) -> ApiResult<StoredFlag> {
    let (db, live) = (w.db, w.live);
    let environments = super::environments::list(db).await?;
    for env in &environments {
        flag.environments
            .entry(env.key.clone())
            .or_insert_with(|| FlagConfig::dark(0));
    }
    validate(db, live, &flag, &environments.iter().map(|e| e.key.clone()).collect()).await?;
    let now = now_ms();
    let stored = StoredFlag {
        flag,
        version: 1,
        archived: false,
        created_at: now,
        updated_at: now,
    };
    let doc = serde_json::to_string(&stored.flag).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut tx = db.pool.begin().await?;
    sqlx::query(
        "INSERT INTO flags (key, doc, version, archived, created_at, updated_at) VALUES ($1, $2, 1, 0, $3, $3)",
    )
    .bind(&stored.flag.key)
    .bind(&doc)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict(_) => ApiError::Conflict(format!("flag `{}` already exists", stored.flag.key)),
        other => other,
    })?;
    let mut touched = Vec::new();
    for env in &environments {
        let rules = rules_for(&stored, &env.key);
        append_change(&mut tx, &env.key, "flag", &stored.flag.key, json(&rules)).await?;
        touched.push(env.key.clone());
    }
    append_audit(
        &mut tx,
        AuditEntry {
            actor: w.actor,
            action: "flag.create",
            resource_kind: "flag",
            resource_key: &stored.flag.key,
            environment: None,
            before: None,
            after: Some(doc),
            comment: w.comment,
        },
    )
    .await?;
    tx.commit().await?;
    live.committed(db, &touched).await;
    Ok(stored)
}

/// Applies `edit` to flag `key` and stores the result in one transaction.
///
/// With `expected` (the version the caller read, from `If-Match`) a stale
/// write fails with 409. Without it the edit is a server-side
/// read-modify-write (a toggle, say) and is retried on a concurrent write.
pub async fn update(
    w: &Writer<'_>,
    key: &str,
    expected: Option<i64>,
    action: &str,
    environment: Option<&str>,
    mut edit: impl FnMut(&mut StoredFlag) -> ApiResult<()>,
) -> ApiResult<StoredFlag> {
    for _attempt in 0..5 {
        let pending = prepare(w, key, expected, &mut edit).await?;
        let mut tx = w.db.pool.begin().await?;
        if !write(&mut tx, w, &pending, action, environment).await? {
            // Someone wrote in between: stale for the caller, or retry.
            tx.rollback().await?;
            if let Some(expected) = expected {
                return Err(stale(key, expected, expected + 1));
            }
            continue;
        }
        tx.commit().await?;
        w.live.committed(w.db, &pending.changed).await;
        return Ok(pending.after);
    }
    Err(busy(key))
}

/// An edit read, applied and validated, not yet written: [`write`] stores it
/// inside a caller's transaction (the scheduler writes a release-plan
/// transition and the flag change it makes in one).
pub struct PendingUpdate {
    pub before: StoredFlag,
    pub after: StoredFlag,
    /// Environments whose rules changed (the change log gets one row each).
    pub changed: Vec<String>,
    doc: String,
}

pub async fn prepare(
    w: &Writer<'_>,
    key: &str,
    expected: Option<i64>,
    edit: &mut impl FnMut(&mut StoredFlag) -> ApiResult<()>,
) -> ApiResult<PendingUpdate> {
    let (db, live) = (w.db, w.live);
    let before = get(db, key).await?;
    if let Some(expected) = expected {
        if expected != before.version {
            return Err(stale(key, expected, before.version));
        }
    }
    let mut after = before.clone();
    edit(&mut after)?;
    after.flag.key = before.flag.key.clone();
    let environments = super::environments::list(db).await?;
    let env_keys: BTreeSet<String> = environments.iter().map(|e| e.key.clone()).collect();
    // Bump the config version of each environment whose rules changed.
    let mut changed = Vec::new();
    for env in &env_keys {
        let (old, new) = (rules_for(&before, env), rules_for(&after, env));
        if old != new {
            if let Some(config) = after.flag.environments.get_mut(env) {
                config.version = config_for(&before.flag, env).version + 1;
            }
            changed.push(env.clone());
        }
    }
    validate(db, live, &after.flag, &env_keys).await?;
    after.version = before.version + 1;
    after.updated_at = now_ms();
    let doc = serde_json::to_string(&after.flag).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(PendingUpdate {
        before,
        after,
        changed,
        doc,
    })
}

/// Writes a prepared edit in `tx`: the flag row (only if it is still at the
/// version read; `false` otherwise), its change-log rows and an audit row.
/// The caller commits and then calls `live.committed(db, &pending.changed)`.
pub async fn write(
    tx: &mut Transaction<'_, Any>,
    w: &Writer<'_>,
    pending: &PendingUpdate,
    action: &str,
    environment: Option<&str>,
) -> ApiResult<bool> {
    let (before, after, key) = (&pending.before, &pending.after, pending.before.flag.key.as_str());
    // Checked under the environments' locks: a node that missed other
    // nodes' writes, or a concurrent write, must not let a cycle in.
    super::lock_environments(tx, w.db, w.live, &pending.changed).await?;
    if !after.archived {
        check_in_rulesets(w.live, after, &pending.changed)?;
    }
    let updated = sqlx::query(
        "UPDATE flags SET doc = $1, version = $2, archived = $3, updated_at = $4 WHERE key = $5 AND version = $6",
    )
    .bind(&pending.doc)
    .bind(after.version)
    .bind(i64::from(after.archived))
    .bind(after.updated_at)
    .bind(key)
    .bind(before.version)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Ok(false);
    }
    for env in &pending.changed {
        append_change(tx, env, "flag", key, json(&rules_for(after, env))).await?;
    }
    append_audit(
        tx,
        AuditEntry {
            actor: w.actor,
            action,
            resource_kind: "flag",
            resource_key: key,
            environment,
            before: serde_json::to_string(&before.flag).ok(),
            after: Some(pending.doc.clone()),
            comment: w.comment,
        },
    )
    .await?;
    Ok(true)
}

pub(crate) fn busy(key: &str) -> ApiError {
    ApiError::Conflict(format!("flag `{key}` is being changed by others; try again"))
}

/// Deletes a flag for good (archive it instead to keep its history easy to
/// restore). Refused while another flag names it as a prerequisite.
pub async fn delete(w: &Writer<'_>, key: &str, expected: Option<i64>) -> ApiResult<()> {
    let (db, live) = (w.db, w.live);
    let before = get(db, key).await?;
    if let Some(expected) = expected {
        if expected != before.version {
            return Err(stale(key, expected, before.version));
        }
    }
    let environments = super::environments::list(db).await?;
    let mut tx = db.pool.begin().await?;
    let env_keys: Vec<String> = environments.iter().map(|e| e.key.clone()).collect();
    super::lock_environments(&mut tx, db, live, &env_keys).await?;
    for env in &environments {
        if let Some(rules) = live.get(&env.key) {
            let next = rules.with_flag(key, None, rules.version());
            next.and_then(|next| next.validate_references())
                .map_err(|e| ApiError::Conflict(format!("flag `{key}` is still a prerequisite: {e}")))?;
        }
    }
    let deleted = sqlx::query("DELETE FROM flags WHERE key = $1 AND version = $2")
        .bind(key)
        .bind(before.version)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if deleted == 0 {
        return Err(stale(key, before.version, before.version + 1));
    }
    let mut touched = Vec::new();
    for env in &environments {
        append_change(&mut tx, &env.key, "flag", key, None).await?;
        touched.push(env.key.clone());
    }
    append_audit(
        &mut tx,
        AuditEntry {
            actor: w.actor,
            action: "flag.delete",
            resource_kind: "flag",
            resource_key: key,
            environment: None,
            before: serde_json::to_string(&before.flag).ok(),
            after: None,
            comment: w.comment,
        },
    )
    .await?;
    tx.commit().await?;
    live.committed(db, &touched).await;
    Ok(())
}

fn stale(key: &str, expected: i64, current: i64) -> ApiError {
    ApiError::Conflict(format!(
        "flag `{key}` changed since you read it (you sent version {expected}, it is now at {current}); reload and retry"
    ))
}

fn json<T: Serialize>(value: &Option<T>) -> Option<String> {
    value.as_ref().and_then(|v| serde_json::to_string(v).ok())
}

/// The document checks: the engine's strict validation, known environments,
/// a server-side rule that every config names an off variation (so OFREP
/// always has a value to return).
async fn validate(db: &Db, _live: &Live, flag: &Flag, environments: &BTreeSet<String>) -> ApiResult<()> {
    for (env, config) in &flag.environments {
        if !environments.contains(env) {
            return Err(ApiError::invalid(
                format!("environments.{env}"),
                format!("unknown environment `{env}`"),
            ));
        }
        if config.off_variation.is_none() {
            return Err(ApiError::invalid(
                format!("environments.{env}.off_variation"),
                "an off variation is required",
            ));
        }
    }
    let segments = super::segments::all_keys(db).await?;
    daylight::validate_flag(flag, &|env, key| segments.contains(&(env.to_owned(), key.to_owned())))?;
    Ok(())
}

/// Cross-flag checks (prerequisites exist, no cycles) against the live
/// rulesets of the environments this write changes.
fn check_in_rulesets(live: &Live, stored: &StoredFlag, changed: &[String]) -> ApiResult<()> {
    let key = &stored.flag.key;
    for env in changed {
        let (Some(ruleset), Some(rules)) = (live.get(env), rules_for(stored, env)) else {
            continue;
        };
        let next = ruleset.with_flag(key, Some(&rules), ruleset.version());
        next.and_then(|next| next.validate_references()).map_err(|mut e| {
            if let Some(rest) = e.path.strip_prefix(&format!("flags.{key}.")) {
                e.path = format!("environments.{env}.{rest}");
            }
            ApiError::from(e)
        })?;
    }
    Ok(())
}
