//! `daylight apply`: a plan's changes to one environment in one
//! transaction, or none of them.
//!
//! The plan is worked out again here from the same files; it must match the
//! plan the caller showed (the same action for every item, and the version
//! it read for every item it changes), else nothing is written and the
//! conflicts are listed. Every flag and segment is checked against the
//! batch as a whole (a flag may use a segment the same apply creates), then
//! written under the environments' locks with one audit entry per change;
//! a write that finds a row moved meanwhile rolls the whole apply back.
//! Where the environment requires approvals, what would change what it
//! serves is proposed as change requests and the rest written, in one
//! transaction (`flagfile_approvals`).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};
use utoipa::ToSchema;

use super::Writer;
use crate::db::{now_ms, Db};
use crate::error::{ApiError, ApiResult};
use crate::flagfile::plan::{self, Action, Kind, Plan, PlanItem, Planned, ServerState, Target};
use crate::flagfile::{FileFlag, FileSegment};
use crate::store::flagfile::Owned;
use crate::store::flags::rules_for;
use crate::store::{environments, flagfile as applied, flags as flag_rows, segments as segment_rows};
use crate::writes::flags::{self as flag_writes, FlagMeta};
use crate::writes::segments as segment_writes;

/// One item as the caller's plan showed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Expected {
    pub kind: Kind,
    pub key: String,
    pub action: Action,
    pub version: Option<i64>,
}

impl From<&PlanItem> for Expected {
    fn from(item: &PlanItem) -> Self {
        Expected {
            kind: item.kind,
            key: item.key.clone(),
            action: item.action,
            version: item.version,
        }
    }
}

/// Reads what the server holds for `env` (404 for an unknown environment).
pub async fn server_state(db: &Db, env: &str) -> ApiResult<ServerState> {
    environments::get(db, env).await?;
    Ok(ServerState {
        flags: flag_rows::list(db)
            .await?
            .into_iter()
            .map(|f| (f.flag.key.clone(), f))
            .collect(),
        segments: segment_rows::list(db, env)
            .await?
            .into_iter()
            .map(|s| (s.key.clone(), s))
            .collect(),
        applied: applied::applied(db, env).await?,
    })
}

/// The plan of the files for `env`.
pub async fn plan(db: &Db, env: &str, flags: &[FileFlag], segments: &[FileSegment]) -> ApiResult<Plan> {
    check_unique(flags, segments)?;
    let state = server_state(db, env).await?;
    let mut plan = Plan {
        environment: env.to_owned(),
        items: plan::plan(env, flags, segments, &state)
            .into_iter()
            .map(|p| p.item)
            .collect(),
    };
    let open = super::flagfile_approvals::open_requests(db, env).await?;
    super::flagfile_approvals::mark_open(&mut plan, &open);
    Ok(plan)
}

/// Who asks for a batch: the files (`daylight apply`) or a promotion from
/// another environment (`daylight promote`). Both write through
/// [`write_planned`]; only `apply` records digests for drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Files,
    Promotion,
}

impl Origin {
    pub(super) fn command(self) -> &'static str {
        match self {
            Origin::Files => "daylight apply",
            Origin::Promotion => "daylight promote",
        }
    }

    fn source(self) -> &'static str {
        match self {
            Origin::Files => "the files",
            Origin::Promotion => "the source environment",
        }
    }
}

/// Applies the files to `env` if the server is still as the caller's plan
/// (`expected`) read it, and records what each flag's file manages there
/// (`sources`: the file of each flag key, as the CLI read it). Returns the
/// plan, what was written and, where `env` requires approvals, the change
/// requests proposed for the rest.
pub async fn apply(
    w: &Writer<'_>,
    env: &str,
    flags: &[FileFlag],
    segments: &[FileSegment],
    expected: &[Expected],
    sources: &BTreeMap<String, String>,
) -> ApiResult<Applied> {
    check_unique(flags, segments)?;
    let state = server_state(w.db, env).await?;
    let planned = plan::plan(env, flags, segments, &state);
    let owners: Vec<(String, Option<Owned>)> = flags
        .iter()
        .map(|f| {
            let parts = f.manage.get(env).cloned().unwrap_or_default();
            let owned = (!parts.is_empty()).then(|| Owned {
                file: sources
                    .get(&f.key)
                    .cloned()
                    .unwrap_or_else(|| "a flags-as-code file".to_owned()),
                parts,
            });
            (f.key.clone(), owned)
        })
        .collect();
    write_planned(w, env, &state, &planned, expected, Origin::Files, &owners).await
}

/// Writes `planned` (worked out from `state`) to `env` in one transaction
/// if it is the plan the caller showed (`expected`); where the environment
/// requires approvals, split into direct writes and change requests
/// (`flagfile_approvals`); refused in a freeze window. `owners`
/// (from files) is what each flag's file manages in `env`, recorded with
/// the digests; a promotion has none and may not write what a file manages.
pub async fn write_planned(
    w: &Writer<'_>,
    env: &str,
    state: &ServerState,
    planned: &[Planned],
    expected: &[Expected],
    origin: Origin,
    owners: &[(String, Option<Owned>)],
) -> ApiResult<Applied> {
    check_as_planned(planned, expected, origin)?;
    let changes: Vec<&Planned> = planned.iter().filter(|p| p.item.action != Action::Unchanged).collect();
    let result = Plan {
        environment: env.to_owned(),
        items: planned.iter().map(|p| p.item.clone()).collect(),
    };
    let now = now_ms();
    let record = origin == Origin::Files;

    if changes.is_empty() {
        // Nothing to write: no audit entry, no change-log row, no lock (a
        // no-op apply goes through a freeze). Only what was found is noted.
        if record {
            let mut tx = w.begin().await?;
            for p in planned {
                applied::record(&mut tx, env, p.item.kind, &p.item.key, &p.digest, w.actor, now).await?;
            }
            for (flag, owned) in owners {
                applied::set_owned(&mut tx, env, flag, owned.as_ref()).await?;
            }
            tx.commit().await?;
        }
        return Ok(Applied::direct(result));
    }

    // Check the batch as a whole: segments first, so flags may use the
    // segments this apply creates.
    let env_keys: Vec<String> = environments::list(w.db).await?.into_iter().map(|e| e.key).collect();
    let mut segment_keys = segment_rows::all_keys(w.db).await?;
    let cohorts = crate::store::cohorts::all(w.db).await?;
    let mut writes = Vec::new();
    for p in &changes {
        if let Target::Segment(after) = &p.target {
            daylight::validate_segment(&after.rules).map_err(|e| in_item(e, p))?;
            segment_keys.insert((env.to_owned(), after.key.clone()));
        }
    }
    for p in &changes {
        writes.push(prepare(p, state, &env_keys, &segment_keys, &cohorts, now)?);
    }

    // Where approvals are required, what changes what the environment
    // serves becomes change requests, the rest is written now, in one
    // transaction (`flagfile_approvals`).
    let required = environments::approvals_required(&w.db.pool, env).await?;
    if !w.approved && required > 0 {
        let batch = super::flagfile_approvals::Batch {
            env,
            required,
            planned,
            changes: &changes,
            writes: &writes,
            env_keys: &env_keys,
            segment_keys: &segment_keys,
            cohorts: &cohorts,
            origin,
            owners,
        };
        return super::flagfile_approvals::write(w, batch, result).await;
    }

    let mut tx = w.begin().await?;
    // A flag's shared fields reach every environment: lock them all.
    w.lock(&mut tx, &env_keys).await?;
    check_references(w, &writes, &env_keys)?;
    super::flagfile_approvals::check_shared(&mut tx, w, &writes, env).await?;
    let mut touched: HashSet<String> = HashSet::new();
    for (write, p) in writes.iter().zip(&changes) {
        store_write(&mut tx, w, write, p, env, &env_keys, origin, &mut touched).await?;
    }
    if record {
        for p in planned {
            applied::record(&mut tx, env, p.item.kind, &p.item.key, &p.digest, w.actor, now).await?;
        }
        for (flag, owned) in owners {
            applied::set_owned(&mut tx, env, flag, owned.as_ref()).await?;
        }
    }
    let mut touched: Vec<String> = touched.into_iter().collect();
    touched.sort();
    w.commit(tx, &touched).await?;
    let written = changes.iter().map(|p| Written::of(&p.item)).collect();
    Ok(Applied {
        plan: result,
        written,
        change_requests: Vec::new(),
    })
}

/// Writes one checked write of the batch in `tx`, noting the environments
/// whose rulesets it changes; 409 (rolling the batch back when `tx` is
/// dropped) when its row moved since the plan.
#[allow(clippy::too_many_arguments)]
pub(super) async fn store_write(
    tx: &mut Transaction<'_, Any>,
    w: &Writer<'_>,
    write: &Write,
    p: &Planned,
    env: &str,
    env_keys: &[String],
    origin: Origin,
    touched: &mut HashSet<String>,
) -> ApiResult<()> {
    let stored = match write {
        Write::NewFlag(stored, doc) => {
            flag_writes::insert(tx, w, stored, doc, env_keys)
                .await
                .map_err(|e| match e {
                    ApiError::Conflict(_) => moved(p),
                    other => other,
                })?;
            touched.extend(env_keys.iter().cloned());
            true
        }
        Write::Flag(pending) => {
            if origin == Origin::Promotion {
                crate::writes::owned::check_not_file_owned(tx, pending).await?;
                crate::writes::owned::check_not_plan_owned(tx, pending).await?;
            }
            touched.extend(pending.changed.iter().cloned());
            flag_writes::store(tx, w, pending, "flag.update", Some(env)).await?
        }
        Write::NewSegment(segment, doc) => {
            segment_writes::insert(tx, w, segment, doc).await.map_err(|e| match e {
                ApiError::Conflict(_) => moved(p),
                other => other,
            })?;
            touched.insert(env.to_owned());
            true
        }
        Write::Segment(before, after, doc) => {
            touched.insert(env.to_owned());
            segment_writes::store(tx, w, before, after, doc, "segment.update").await?
        }
    };
    if !stored {
        return Err(moved(p));
    }
    Ok(())
}

/// What an apply did: the plan, what it wrote, and where the environment
/// requires approvals, the change requests it proposed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Applied {
    #[serde(flatten)]
    pub plan: Plan,
    /// What was written at once: every change where no approval is
    /// required; under approvals, created flags (off there) and segments,
    /// and descriptive fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub written: Vec<Written>,
    /// The change requests this apply proposed (under approvals), one per
    /// flag config or segment's keys and rules that changes. An item whose
    /// change an open request already carries names it in
    /// `items[].change_request` and is not proposed again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub change_requests: Vec<crate::store::change_requests::ChangeRequest>,
}

impl Applied {
    fn direct(plan: Plan) -> Applied {
        Applied {
            plan,
            written: Vec::new(),
            change_requests: Vec::new(),
        }
    }
}

/// A flag or segment an apply wrote at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Written {
    pub kind: Kind,
    pub key: String,
    /// `create` or `change`.
    pub action: Action,
    /// The top-level fields changed (`description`, `environments`, …);
    /// empty for a creation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

impl Written {
    /// Every field of a plan item's changes.
    fn of(item: &PlanItem) -> Written {
        let mut fields: Vec<String> = Vec::new();
        if item.action != Action::Create {
            for change in &item.changes {
                let top = change.path.split(['.', '[']).next().unwrap_or_default().to_owned();
                if !fields.contains(&top) {
                    fields.push(top);
                }
            }
        }
        Written {
            kind: item.kind,
            key: item.key.clone(),
            action: if item.action == Action::Create {
                Action::Create
            } else {
                Action::Change
            },
            fields,
        }
    }
}

/// A key twice in the files (the CLI merges files; an API caller might not).
fn check_unique(flags: &[FileFlag], segments: &[FileSegment]) -> ApiResult<()> {
    let mut seen = HashSet::new();
    for (i, f) in flags.iter().enumerate() {
        if !seen.insert(f.key.as_str()) {
            return Err(ApiError::invalid(
                format!("flags[{i}].key"),
                format!("duplicate flag key `{}`", f.key),
            ));
        }
    }
    let mut seen = HashSet::new();
    for (i, s) in segments.iter().enumerate() {
        if !seen.insert(s.key.as_str()) {
            return Err(ApiError::invalid(
                format!("segments[{i}].key"),
                format!("duplicate segment key `{}`", s.key),
            ));
        }
    }
    Ok(())
}

/// Refuses when the plan worked out now is not the one the caller showed:
/// an item's action differs, or an item to be written is no longer at the
/// version the plan read. Every conflict is named.
fn check_as_planned(planned: &[Planned], expected: &[Expected], origin: Origin) -> ApiResult<()> {
    let shown: HashMap<(Kind, &str), &Expected> = expected.iter().map(|e| ((e.kind, e.key.as_str()), e)).collect();
    let mut conflicts = Vec::new();
    for p in planned {
        let item = &p.item;
        let name = format!("{} `{}`", item.kind.as_str(), item.key);
        match shown.get(&(item.kind, item.key.as_str())) {
            None => conflicts.push(format!("{name} is not in the plan")),
            Some(e) if e.action != item.action => conflicts.push(format!(
                "{name}: the plan showed {:?}, it is now {:?}",
                e.action, item.action
            )),
            Some(e) if item.action != Action::Unchanged && e.version != item.version => conflicts.push(format!(
                "{name} changed on the server since the plan (the plan read version {}, it is now at {})",
                version(e.version),
                version(item.version)
            )),
            Some(_) => {}
        }
    }
    let now: HashSet<(Kind, &str)> = planned.iter().map(|p| (p.item.kind, p.item.key.as_str())).collect();
    for e in expected {
        if !now.contains(&(e.kind, e.key.as_str())) {
            conflicts.push(format!(
                "{} `{}` is in the plan but not in {}",
                e.kind.as_str(),
                e.key,
                origin.source()
            ));
        }
    }
    if conflicts.is_empty() {
        return Ok(());
    }
    Err(ApiError::Conflict(format!(
        "the server or {} changed since the plan; nothing was applied. Plan again. {}",
        origin.source(),
        conflicts.join("; ")
    )))
}

fn version(v: Option<i64>) -> String {
    v.map_or_else(|| "none (absent)".to_owned(), |v| v.to_string())
}

pub(super) fn moved(p: &Planned) -> ApiError {
    ApiError::Conflict(format!(
        "{} `{}` changed on the server while applying; nothing was applied. Plan again.",
        p.item.kind.as_str(),
        p.item.key
    ))
}

/// A checked write of the batch.
pub(super) enum Write {
    NewFlag(crate::store::flags::StoredFlag, String),
    Flag(flag_writes::PendingUpdate),
    NewSegment(crate::store::segments::StoredSegment, String),
    Segment(
        crate::store::segments::StoredSegment,
        crate::store::segments::StoredSegment,
        String,
    ),
}

fn prepare(
    p: &Planned,
    state: &ServerState,
    env_keys: &[String],
    segment_keys: &HashSet<(String, String)>,
    cohorts: &std::collections::BTreeMap<String, crate::cohorts::Cohort>,
    now: i64,
) -> ApiResult<Write> {
    match &p.target {
        Target::Flag(after) => match state.flags.get(&after.flag.key) {
            None => {
                let meta = FlagMeta {
                    owner: after.owner.clone(),
                    expires: after.expires.clone(),
                };
                let (stored, doc) =
                    flag_writes::prepare_create(after.flag.clone(), meta, env_keys, segment_keys, cohorts)
                        .map_err(|e| in_item(e, p))?;
                Ok(Write::NewFlag(stored, doc))
            }
            Some(before) => {
                let mut edit = |f: &mut crate::store::flags::StoredFlag| {
                    f.flag = after.flag.clone();
                    f.owner = after.owner.clone();
                    f.expires = after.expires.clone();
                    Ok(())
                };
                let pending = flag_writes::prepare_from(before.clone(), &mut edit, env_keys, segment_keys, cohorts)
                    .map_err(|e| in_item(e, p))?;
                Ok(Write::Flag(pending))
            }
        },
        Target::Segment(after) => {
            let mut after = after.clone();
            after.updated_at = now;
            match state.segments.get(&after.key) {
                None => {
                    after.rules.version = 1;
                    after.created_at = now;
                    let doc = segment_rows::doc_of(&after.rules)?;
                    Ok(Write::NewSegment(after, doc))
                }
                Some(before) => {
                    after.rules.version = before.rules.version + 1;
                    let doc = segment_rows::doc_of(&after.rules)?;
                    Ok(Write::Segment(before.clone(), after, doc))
                }
            }
        }
    }
}

/// A validation error about one item, its field path prefixed with the item.
fn in_item(e: impl Into<ApiError>, p: &Planned) -> ApiError {
    let prefix = format!("{}s.{}", p.item.kind.as_str(), p.item.key);
    match e.into() {
        ApiError::Invalid { code, message, field } => ApiError::Invalid {
            code,
            message,
            field: Some(match field {
                Some(f) => format!("{prefix}.{f}"),
                None => prefix,
            }),
        },
        other => other,
    }
}

/// Under the locks: each environment with every write of the batch applied
/// still compiles, and the batch introduces no dangling reference
/// (prerequisite, segment) and no cycle.
pub(super) fn check_references(w: &Writer<'_>, writes: &[Write], env_keys: &[String]) -> ApiResult<()> {
    for env in env_keys {
        let Some(ruleset) = w.live.get(env) else {
            continue;
        };
        let known = ruleset.reference_errors();
        let mut next = (*ruleset).clone();
        let mut segments: BTreeMap<&str, &daylight::SegmentRules> = BTreeMap::new();
        for write in writes {
            match write {
                Write::NewSegment(s, _) | Write::Segment(_, s, _) if &s.environment == env => {
                    segments.insert(&s.key, &s.rules);
                }
                _ => {}
            }
        }
        for (key, rules) in segments {
            next = next
                .with_segment(key, Some(rules), ruleset.version())
                .map_err(ApiError::from)?;
        }
        for write in writes {
            let stored = match write {
                Write::NewFlag(stored, _) => stored,
                Write::Flag(pending) => &pending.after,
                _ => continue,
            };
            next = next
                .with_flag(&stored.flag.key, rules_for(stored, env).as_ref(), ruleset.version())
                .map_err(ApiError::from)?;
        }
        if let Some(e) = next.reference_errors().into_iter().find(|e| !known.contains(e)) {
            return Err(ApiError::invalid(e.path, format!("in `{env}`: {}", e.message)));
        }
    }
    Ok(())
}
