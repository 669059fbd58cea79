//! Flag writes: create, edit (with a retry for server-side
//! read-modify-writes), delete. An edit is prepared (read, applied,
//! validated) outside the transaction and written inside one, so the
//! scheduler and release plans can write it together with their own rows.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use daylight::model::{Flag, FlagConfig};
use serde::Serialize;
use sqlx::{Any, Transaction};

use super::Writer;
use crate::cohorts::Cohort;
use crate::db::{now_ms, Db};
use crate::error::{ApiError, ApiResult};
use crate::live::Live;
use crate::store::cohorts as cohort_rows;
use crate::store::flags::{self as rows, config_for, rules_for, StoredFlag};
use crate::store::{append_audit, append_change, environments, segments, AuditEntry};

/// Who answers for a flag and until when: kept beside the flag document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlagMeta {
    pub owner: Option<String>,
    /// `YYYY-MM-DD` (checked by [`check_meta`]).
    pub expires: Option<String>,
}

/// Creates a flag, off (dark) in every environment.
pub async fn create(w: &Writer<'_>, flag: Flag, meta: FlagMeta) -> ApiResult<StoredFlag> {
    // Dark everywhere needs no role anywhere in particular; a config given
    // for an environment is a change there.
    for (env, config) in &flag.environments {
        if *config != FlagConfig::dark(0) {
            w.may_edit(env)?;
        }
    }
    let env_keys: Vec<String> = environments::list(w.db).await?.into_iter().map(|e| e.key).collect();
    let segments = segments::all_keys(w.db).await?;
    let cohorts = cohort_rows::all(w.db).await?;
    let (stored, doc) = prepare_create(flag, meta, &env_keys, &segments, &cohorts)?;
    let mut tx = w.begin().await?;
    if !crate::cohorts::flag_references(&stored.flag).is_empty() {
        // Ordered with cohort writes by the environments' locks.
        w.lock_rows(&mut tx, &env_keys).await?;
        if !cohorts_hold(&mut tx, &stored.flag).await? {
            return Err(cohort_moved(&stored.flag.key));
        }
    }
    insert(&mut tx, w, &stored, &doc, &env_keys).await?;
    w.commit(tx, &env_keys).await?;
    Ok(stored)
}

/// A new flag checked and ready to insert: dark in every environment it has
/// no config for, each config at version 1, the rollouts that reference a
/// cohort made what the cohort says.
pub fn prepare_create(
    mut flag: Flag,
    meta: FlagMeta,
    env_keys: &[String],
    segments: &HashSet<(String, String)>,
    cohorts: &BTreeMap<String, Cohort>,
) -> ApiResult<(StoredFlag, String)> {
    check_meta(&meta)?;
    for env in env_keys {
        flag.environments
            .entry(env.clone())
            .or_insert_with(|| FlagConfig::dark(0));
    }
    crate::cohorts::own_flag(None, &mut flag, cohorts)?;
    for config in flag.environments.values_mut() {
        config.version = 1;
    }
    validate(&flag, &env_keys.iter().cloned().collect(), segments)?;
    let now = now_ms();
    let stored = StoredFlag {
        flag,
        owner: meta.owner,
        expires: meta.expires,
        version: 1,
        archived: false,
        created_at: now,
        updated_at: now,
    };
    let doc = to_json(&stored.flag)?;
    Ok((stored, doc))
}

/// Inserts a prepared new flag in `tx`: its row, a change-log row per
/// environment and an audit row. The caller locks and commits.
pub async fn insert(
    tx: &mut Transaction<'_, Any>,
    w: &Writer<'_>,
    stored: &StoredFlag,
    doc: &str,
    env_keys: &[String],
) -> ApiResult<()> {
    rows::insert(tx, stored, doc).await?;
    for env in env_keys {
        append_change(tx, env, "flag", &stored.flag.key, json(&rules_for(stored, env))).await?;
    }
    append_audit(
        tx,
        AuditEntry {
            after: Some(doc.to_owned()),
            ..w.audit("flag.create", "flag", &stored.flag.key, None)
        },
    )
    .await
}

/// The owner's length and the expiry's date format (`YYYY-MM-DD`).
pub fn check_meta(meta: &FlagMeta) -> ApiResult<()> {
    if let Some(owner) = &meta.owner {
        crate::limits::check_length("owner", owner, crate::limits::NAME_CHARS)?;
    }
    if let Some(expires) = &meta.expires {
        let valid = expires.len() == 10 && expires.parse::<jiff::civil::Date>().is_ok();
        if !valid {
            return Err(ApiError::invalid("expires", "not a date (YYYY-MM-DD)"));
        }
    }
    Ok(())
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
        if pending.is_noop() {
            // Nothing would change: no new version, no change-log row, no
            // empty audit entry (a repeated toggle, a save of what is stored).
            return Ok(pending.before);
        }
        let mut tx = w.begin().await?;
        if !write(&mut tx, w, &pending, action, environment).await? {
            // Someone wrote in between: stale for the caller, or retry.
            tx.rollback().await?;
            if let Some(expected) = expected {
                return Err(stale(key, expected, expected + 1));
            }
            continue;
        }
        w.commit(tx, &pending.changed).await?;
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
    /// The edit only turns the flag off somewhere: it skips validation,
    /// which it cannot make worse, so a kill switch always goes through.
    pub kill_switch: bool,
    doc: String,
}

impl PendingUpdate {
    /// Whether the edit leaves the flag as it was.
    pub fn is_noop(&self) -> bool {
        self.changed.is_empty()
            && self.before.archived == self.after.archived
            && self.before.flag == self.after.flag
            && self.before.owner == self.after.owner
            && self.before.expires == self.after.expires
    }

    /// `entry` carrying the flag's documents before and after this edit.
    pub fn audited<'a>(&self, entry: AuditEntry<'a>) -> AuditEntry<'a> {
        AuditEntry {
            before: serde_json::to_string(&self.before.flag).ok(),
            after: Some(self.doc.clone()),
            kill_switch: self.kill_switch,
            ..entry
        }
    }
}

pub async fn prepare(
    w: &Writer<'_>,
    key: &str,
    expected: Option<i64>,
    edit: &mut impl FnMut(&mut StoredFlag) -> ApiResult<()>,
) -> ApiResult<PendingUpdate> {
    let before = rows::get(w.db, key).await?;
    if let Some(expected) = expected {
        if expected != before.version {
            return Err(stale(key, expected, before.version));
        }
    }
    let env_keys: Vec<String> = environments::list(w.db).await?.into_iter().map(|e| e.key).collect();
    let segments = segments::all_keys(w.db).await?;
    let cohorts = cohort_rows::all(w.db).await?;
    prepare_from(before, edit, &env_keys, &segments, &cohorts)
}

/// [`prepare`] from a flag already read, against the given environments,
/// segments (a batch that creates segments checks against them too) and
/// cohorts.
pub fn prepare_from(
    before: StoredFlag,
    edit: &mut impl FnMut(&mut StoredFlag) -> ApiResult<()>,
    env_keys: &[String],
    segments: &HashSet<(String, String)>,
    cohorts: &BTreeMap<String, Cohort>,
) -> ApiResult<PendingUpdate> {
    let mut after = before.clone();
    edit(&mut after)?;
    after.flag.key = before.flag.key.clone();
    // The kill switch first: turning a flag off is never held up by a cohort.
    let kill_switch = only_turns_off(&before, &after);
    if !kill_switch {
        crate::cohorts::own_flag(Some(&before.flag), &mut after.flag, cohorts)?;
    }
    check_meta(&FlagMeta {
        owner: after.owner.clone(),
        expires: after.expires.clone(),
    })?;
    let env_keys: BTreeSet<String> = env_keys.iter().cloned().collect();
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
    if !kill_switch {
        validate(&after.flag, &env_keys, segments)?;
    }
    after.version = before.version + 1;
    after.updated_at = now_ms();
    let doc = to_json(&after.flag)?;
    Ok(PendingUpdate {
        before,
        after,
        changed,
        kill_switch,
        doc,
    })
}

/// Writes a prepared edit in `tx`: the flag row (only if it is still at the
/// version read; `false` otherwise), its change-log rows and an audit row.
/// The caller commits with [`Writer::commit`]`(tx, &pending.changed)`.
pub async fn write(
    tx: &mut Transaction<'_, Any>,
    w: &Writer<'_>,
    pending: &PendingUpdate,
    action: &str,
    environment: Option<&str>,
) -> ApiResult<bool> {
    Ok(lock_and_check(tx, w, pending).await?
        && super::owned::check_not_plan_owned(tx, pending).await?
        && store(tx, w, pending, action, environment).await?)
}

/// [`write`] without the audit row, for writers that audit the edit as
/// part of their own entry (a release plan's move is one entry); the plan
/// moves what it owns, so [`super::owned::check_not_plan_owned`] is not asked.
pub async fn write_rows(tx: &mut Transaction<'_, Any>, w: &Writer<'_>, pending: &PendingUpdate) -> ApiResult<bool> {
    Ok(lock_and_check(tx, w, pending).await? && store_rows(tx, pending).await?)
}

/// Locks the environments the edit changes and checks it there (`false`:
/// a cohort it references moved since it was prepared).
async fn lock_and_check(tx: &mut Transaction<'_, Any>, w: &Writer<'_>, pending: &PendingUpdate) -> ApiResult<bool> {
    let (after, key) = (&pending.after, pending.before.flag.key.as_str());
    // Checked under the environments' locks: a node that missed other
    // nodes' writes, or a concurrent write, must not let a cycle in.
    if pending.kill_switch {
        w.lock_for_kill_switch(tx, &pending.changed).await?;
        return Ok(true);
    }
    w.lock(tx, &pending.changed).await?;
    for env in &pending.changed {
        w.check_approvals(tx, env, "; turning the flag off goes through at once")
            .await?;
    }
    super::owned::check_not_file_owned(tx, pending).await?;
    check_in_rulesets(w.live, key, |env| rules_for(after, env), &pending.changed)?;
    // A cohort raised since the edit was prepared: stale like a concurrent
    // write (the environments' locks order the two).
    cohorts_hold(tx, &after.flag).await
}

/// The rows of a prepared edit, with no checks: the flag row (only if it is
/// still at the version read; `false` otherwise), its change-log rows and an
/// audit row. For callers that locked and checked the whole batch.
pub async fn store(
    tx: &mut Transaction<'_, Any>,
    w: &Writer<'_>,
    pending: &PendingUpdate,
    action: &str,
    environment: Option<&str>,
) -> ApiResult<bool> {
    if !store_rows(tx, pending).await? {
        return Ok(false);
    }
    append_audit(
        tx,
        pending.audited(w.audit(action, "flag", &pending.before.flag.key, environment)),
    )
    .await?;
    Ok(true)
}

/// The flag row (if still at the version read) and its change-log rows.
async fn store_rows(tx: &mut Transaction<'_, Any>, pending: &PendingUpdate) -> ApiResult<bool> {
    let (before, after, key) = (&pending.before, &pending.after, pending.before.flag.key.as_str());
    if !rows::update_if(tx, after, &pending.doc, before.version).await? {
        return Ok(false);
    }
    for env in &pending.changed {
        append_change(tx, env, "flag", key, json(&rules_for(after, env))).await?;
    }
    Ok(true)
}

/// Whether every cohort-owned rollout of `flag` is still what its cohort
/// makes of it, read in `tx` (under the environments' locks).
async fn cohorts_hold(tx: &mut Transaction<'_, Any>, flag: &Flag) -> ApiResult<bool> {
    if crate::cohorts::flag_references(flag).is_empty() {
        return Ok(true);
    }
    let cohorts = cohort_rows::all_in(tx).await?;
    let mut check = flag.clone();
    Ok(crate::cohorts::own_flag(None, &mut check, &cohorts).is_ok() && check == *flag)
}

fn cohort_moved(key: &str) -> ApiError {
    ApiError::Conflict(format!(
        "a cohort that flag `{key}` references changed while it was written; retry"
    ))
}

pub(crate) fn busy(key: &str) -> ApiError {
    ApiError::Conflict(format!("flag `{key}` is being changed by others; try again"))
}

/// Deletes a flag for good (archive it instead to keep its history easy to
/// restore). Refused while another flag names it as a prerequisite.
pub async fn delete(w: &Writer<'_>, key: &str, expected: Option<i64>) -> ApiResult<()> {
    let before = rows::get(w.db, key).await?;
    if let Some(expected) = expected {
        if expected != before.version {
            return Err(stale(key, expected, before.version));
        }
    }
    let env_keys: Vec<String> = environments::list(w.db).await?.into_iter().map(|e| e.key).collect();
    let mut tx = w.begin().await?;
    w.lock(&mut tx, &env_keys).await?;
    check_in_rulesets(w.live, key, |_| None, &env_keys)?;
    if !rows::delete_if(&mut tx, key, before.version).await? {
        return Err(stale(key, before.version, before.version + 1));
    }
    for env in &env_keys {
        append_change(&mut tx, env, "flag", key, None).await?;
    }
    append_audit(
        &mut tx,
        AuditEntry {
            before: serde_json::to_string(&before.flag).ok(),
            ..w.audit("flag.delete", "flag", key, None)
        },
    )
    .await?;
    w.commit(tx, &env_keys).await
}

fn stale(key: &str, expected: i64, current: i64) -> ApiError {
    ApiError::Conflict(format!(
        "flag `{key}` changed since you read it (you sent version {expected}, it is now at {current}); reload and retry"
    ))
}

fn to_json(flag: &Flag) -> ApiResult<String> {
    serde_json::to_string(flag).map_err(|e| ApiError::Internal(e.to_string()))
}

fn json<T: Serialize>(value: &Option<T>) -> Option<String> {
    value.as_ref().and_then(|v| serde_json::to_string(v).ok())
}

/// The document checks: the engine's strict validation, known environments,
/// a server-side rule that every config names an off variation (so OFREP
/// always has a value to return).
pub fn validate(flag: &Flag, environments: &BTreeSet<String>, segments: &HashSet<(String, String)>) -> ApiResult<()> {
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
    daylight::validate_flag(flag, &|env, key| segments.contains(&(env.to_owned(), key.to_owned())))?;
    Ok(())
}

/// Whether `after` differs from `before` only by configs turned off (and
/// their config versions).
fn only_turns_off(before: &StoredFlag, after: &StoredFlag) -> bool {
    if before.archived != after.archived {
        return false;
    }
    let mut restored = after.flag.clone();
    for (env, config) in &mut restored.environments {
        let Some(old) = before.flag.environments.get(env) else {
            return false;
        };
        if config.on && !old.on {
            return false;
        }
        config.on = old.on;
        config.version = old.version;
    }
    restored == before.flag
}

/// Cross-flag checks (prerequisites exist, no cycles) against the live
/// rulesets of the environments this write changes, with `rules` the
/// flag's rules after it (`None`: archived or deleted).
///
/// Only the dangling references the write introduces are refused: another
/// flag's problem never blocks this one. Removing a flag that others still
/// name as a prerequisite is a conflict that lists them.
fn check_in_rulesets(
    live: &Live,
    key: &str,
    rules: impl Fn(&str) -> Option<daylight::FlagRules>,
    changed: &[String],
) -> ApiResult<()> {
    for env in changed {
        let Some(ruleset) = live.get(env) else {
            continue;
        };
        let rules = rules(env);
        let next = ruleset
            .with_flag(key, rules.as_ref(), ruleset.version())
            .map_err(|e| ApiError::from(in_environment(e, key, env)))?;
        let known = ruleset.reference_errors();
        let introduced: Vec<_> = next
            .reference_errors()
            .into_iter()
            .filter(|e| !known.contains(e))
            .collect();
        let Some(first) = introduced.first() else {
            continue;
        };
        if rules.is_none() {
            let mut dependents: Vec<&str> = introduced
                .iter()
                .filter_map(|e| {
                    let path = e.path.strip_prefix("flags.")?;
                    let (dependent, _) = path
                        .split_once(".prerequisites[")
                        .or_else(|| path.split_once(".rules["))?;
                    Some(dependent)
                })
                .collect();
            dependents.dedup();
            return Err(ApiError::Conflict(format!(
                "flag `{key}` is a prerequisite of {} in `{env}`; remove those prerequisites first",
                dependents
                    .iter()
                    .map(|d| format!("`{d}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        return Err(ApiError::from(in_environment(first.clone(), key, env)));
    }
    Ok(())
}

/// An error about flag `key` in a ruleset (`flags.KEY.…`) as a field of the
/// request (`environments.ENV.…`).
fn in_environment(mut e: daylight::ValidationError, key: &str, env: &str) -> daylight::ValidationError {
    if let Some(rest) = e.path.strip_prefix(&format!("flags.{key}.")) {
        e.path = format!("environments.{env}.{rest}");
    }
    e
}

/// The live ruleset of `env` with `stored`'s config there replaced by
/// `config`, checked as saving it would be (the flag's own checks, then
/// the cross-flag ones), with errors naming fields within `config`.
/// Nothing is written: this is what explaining an unsaved draft evaluates.
pub async fn draft(
    db: &Db,
    live: &Live,
    stored: &StoredFlag,
    env: &str,
    mut config: FlagConfig,
) -> ApiResult<std::sync::Arc<daylight::Ruleset>> {
    let ruleset = live
        .get(env)
        .ok_or_else(|| ApiError::NotFound(format!("environment `{env}`")))?;
    // The server owns the version, as in a save.
    config.version = config_for(&stored.flag, env).version;
    let mut next = stored.clone();
    next.flag.environments = [(env.to_owned(), config)].into();
    let key = &stored.flag.key;
    let in_config = |e: ApiError| match e {
        ApiError::Invalid { code, message, field } => ApiError::Invalid {
            code,
            message,
            field: field.map(|f| match f.strip_prefix(&format!("environments.{env}")) {
                Some(rest) => format!("config{rest}"),
                None => f,
            }),
        },
        e => e,
    };
    let segments = segments::all_keys(db).await?;
    validate(&next.flag, &[env.to_owned()].into(), &segments).map_err(in_config)?;
    check_in_rulesets(live, key, |e| rules_for(&next, e), &[env.to_owned()]).map_err(in_config)?;
    let explained = ruleset
        .with_flag(key, rules_for(&next, env).as_ref(), ruleset.version())
        .map_err(|e| in_config(ApiError::from(in_environment(e, key, env))))?;
    Ok(std::sync::Arc::new(explained))
}
