//! `daylight apply` (and promotion, and `import --apply`) to an environment
//! that requires approvals. Approvals govern what the environment serves,
//! so one transaction:
//!
//! - writes at once what does not change that: a new flag (its config there
//!   the server's default for a new flag, off), a new segment (nothing uses
//!   it there until a flag's rules do, which come through a request), and
//!   descriptive fields (`served` says which);
//! - proposes a change request for each flag config there that differs
//!   (a new flag's too, against the version just written) and each existing
//!   segment's keys and rules that differ;
//! - refuses the whole apply (409 `approval_required`) when a flag's
//!   variations or `client_side` change: no request carries those.
//!
//! An item whose change an open request already carries (same version, same
//! proposal) is not proposed again; any other open request on an item the
//! apply would touch refuses it (409 naming the request), since writing
//! would leave two proposals, or make the open one stale.

use std::collections::{BTreeMap, HashMap, HashSet};

use daylight::FlagConfig;
use serde_json::Value;
use sqlx::{Any, Transaction};

use super::change_requests::{self as requests, Proposed};
use super::flagfile::{check_references, store_write, Applied, Origin, Write, Written};
use super::served;
use super::Writer;
use crate::db::{now_ms, Db};
use crate::error::{ApiError, ApiResult};
use crate::flagfile::plan::{self, Action, Kind, Plan, Planned};
use crate::store::change_requests::{self as rows, ChangeRequest};
use crate::store::flagfile::{self as applied, Owned};
use crate::store::flags::{config_for, StoredFlag};
use crate::store::segments::doc_of;
use crate::writes::flags as flag_writes;

/// A checked batch for an environment that requires approvals.
pub(super) struct Batch<'a> {
    pub env: &'a str,
    pub required: i64,
    pub planned: &'a [Planned],
    /// The planned items that change, in the order of `writes`.
    pub changes: &'a [&'a Planned],
    pub writes: &'a [Write],
    pub env_keys: &'a [String],
    pub segment_keys: &'a HashSet<(String, String)>,
    pub cohorts: &'a BTreeMap<String, crate::cohorts::Cohort>,
    pub origin: Origin,
    pub owners: &'a [(String, Option<Owned>)],
}

/// One item split into what is written now and what is proposed.
struct Split {
    direct: Option<Write>,
    written: Option<Written>,
    /// The proposal and the version it is against (after `direct`).
    proposal: Option<(Proposed, i64)>,
    /// What `apply` records for drift when a proposal waits: the digest of
    /// what the server holds after `direct`, not the file's target.
    digest: Option<String>,
    /// The open request that already carries `proposal` (not proposed again).
    open: Option<i64>,
}

/// The open change requests in `env`, by subject and key.
pub async fn open_requests(db: &Db, env: &str) -> ApiResult<HashMap<(Kind, String), ChangeRequest>> {
    let mut out = HashMap::new();
    // All of them: one missed here would be proposed again.
    for r in rows::list(db, Some("open"), None, i64::MAX).await? {
        let kind = match r.subject.as_str() {
            "flag" => Kind::Flag,
            "segment" => Kind::Segment,
            _ => continue,
        };
        if r.environment == env {
            // Newest first: keep the newest of several.
            out.entry((kind, r.key.clone())).or_insert(r);
        }
    }
    Ok(out)
}

/// Marks each item that changes and has an open request against the
/// version read: the plan then says "proposed as #N".
pub fn mark_open(plan: &mut Plan, open: &HashMap<(Kind, String), ChangeRequest>) {
    for item in &mut plan.items {
        if item.action == Action::Unchanged {
            continue;
        }
        if let Some(r) = open.get(&(item.kind, item.key.clone())) {
            if Some(r.base_version) == item.version {
                item.change_request = Some(r.id);
            }
        }
    }
}

/// Writes and proposes `batch` in one transaction (see the module doc).
pub(super) async fn write(w: &Writer<'_>, batch: Batch<'_>, mut result: Plan) -> ApiResult<Applied> {
    let env = batch.env;
    let mut splits = Vec::new();
    let mut refused = Vec::new();
    for (write, p) in batch.writes.iter().zip(batch.changes) {
        match split(write, p, &batch) {
            Ok(s) => splits.push(s),
            Err(mut why) => refused.append(&mut why),
        }
    }
    if !refused.is_empty() {
        return Err(ApiError::ApprovalRequired(format!(
            "`{env}` requires {} approval(s): `{}` writes new flags and segments and their descriptive fields at \
             once and proposes a change request for each config there (or segment's keys and rules) that \
             changes, but no request carries {}. Variations and client_side are shared by every environment and \
             change what `{env}` serves; nothing was written or proposed",
            batch.required,
            batch.origin.command(),
            refused.join("; ")
        )));
    }
    let open = open_requests(w.db, env).await?;
    let mut taken = Vec::new();
    for (s, p) in splits.iter_mut().zip(batch.changes) {
        let Some(r) = open.get(&(p.item.kind, p.item.key.clone())) else {
            continue;
        };
        match &s.proposal {
            Some((proposed, base)) if s.direct.is_none() && r.base_version == *base && same_proposal(proposed, r) => {
                s.open = Some(r.id);
                s.proposal = None;
            }
            _ => taken.push(format!(
                "{} `{}` has open change request #{} (against version {})",
                p.item.kind.as_str(),
                p.item.key,
                r.id,
                r.base_version
            )),
        }
    }
    if !taken.is_empty() {
        return Err(ApiError::Conflict(format!(
            "{}, which this apply would duplicate or make stale: apply or reject it first; nothing was written or \
             proposed",
            taken.join("; ")
        )));
    }

    let mut tx = w.begin().await?;
    let has_direct = splits.iter().any(|s| s.direct.is_some());
    if has_direct {
        // A new flag reaches every environment: lock them all (freeze
        // windows refuse), and check the batch as the requests would leave it.
        w.lock(&mut tx, batch.env_keys).await?;
        check_references(w, batch.writes, batch.env_keys)?;
    } else if splits.iter().any(|s| s.proposal.is_some()) {
        // Proposing only: ordered with writes there, not held by a freeze.
        w.lock_rows(&mut tx, &[env.to_owned()]).await?;
    }
    let mut touched: HashSet<String> = HashSet::new();
    for (s, p) in splits.iter().zip(batch.changes) {
        if let Some(direct) = &s.direct {
            store_write(&mut tx, w, direct, p, env, batch.env_keys, batch.origin, &mut touched).await?;
        }
    }
    let mut ids: HashMap<(Kind, String), i64> = HashMap::new();
    let mut proposed_ids = Vec::new();
    for (s, p) in splits.iter().zip(batch.changes) {
        let key = (p.item.kind, p.item.key.clone());
        if let Some((proposed, base)) = &s.proposal {
            let id = requests::open_in(&mut tx, w, env, &p.item.key, proposed, *base).await?;
            proposed_ids.push(id);
            ids.insert(key, id);
        } else if let Some(id) = s.open {
            ids.insert(key, id);
        }
    }
    if batch.origin == Origin::Files {
        let now = now_ms();
        let waiting: HashMap<(Kind, &str), &String> = splits
            .iter()
            .zip(batch.changes)
            .filter_map(|(s, p)| s.digest.as_ref().map(|d| ((p.item.kind, p.item.key.as_str()), d)))
            .collect();
        for p in batch.planned {
            let digest = waiting
                .get(&(p.item.kind, p.item.key.as_str()))
                .copied()
                .unwrap_or(&p.digest);
            applied::record(&mut tx, env, p.item.kind, &p.item.key, digest, w.actor, now).await?;
        }
        // A request carrying the file's targeting must be able to apply:
        // the file takes it over (`manage:`) at the first apply after.
        for (flag, owned) in batch.owners {
            let waits = ids.contains_key(&(Kind::Flag, flag.clone()));
            let owned = if waits { None } else { owned.as_ref() };
            applied::set_owned(&mut tx, env, flag, owned).await?;
        }
    }
    let mut touched: Vec<String> = touched.into_iter().collect();
    touched.sort();
    w.commit(tx, &touched).await?;

    for item in &mut result.items {
        item.change_request = ids.get(&(item.kind, item.key.clone())).copied();
    }
    let mut change_requests = Vec::new();
    for id in proposed_ids {
        change_requests.push(requests::get(w, id).await?);
    }
    Ok(Applied {
        plan: result,
        written: splits.into_iter().filter_map(|s| s.written).collect(),
        change_requests,
    })
}

/// Where no approval is required in `env`, a flag's variations or
/// `client_side` still reach every environment: refused (409
/// `approval_required`, naming the flag and environment) when they would
/// change what one that requires approvals serves. Read under the locks.
pub(super) async fn check_shared(
    tx: &mut Transaction<'_, Any>,
    w: &Writer<'_>,
    writes: &[Write],
    env: &str,
) -> ApiResult<()> {
    if w.approved {
        return Ok(());
    }
    for write in writes {
        let Write::Flag(pending) = write else { continue };
        for other in pending.changed.iter().filter(|e| *e != env) {
            let required = crate::store::environments::approvals_required(&mut **tx, other).await?;
            if required > 0 {
                return Err(ApiError::ApprovalRequired(format!(
                    "`{other}` requires {required} approval(s): flag `{}`'s variations or client_side change what it \
                     serves, and no change request carries them; nothing was applied",
                    pending.before.flag.key
                )));
            }
        }
    }
    Ok(())
}

/// Splits one checked write; `Err` names what no request can carry.
fn split(write: &Write, p: &Planned, batch: &Batch<'_>) -> Result<Split, Vec<String>> {
    let env = batch.env;
    let key = &p.item.key;
    let written = |action: Action, fields: Vec<String>| Written {
        kind: p.item.kind,
        key: key.clone(),
        action,
        fields,
    };
    match write {
        Write::NewFlag(stored, _) => {
            let wanted = config_for(&stored.flag, env);
            let mut direct = stored.clone();
            // What a new flag gets where it is not configured: off.
            let dark = FlagConfig::dark(0);
            direct.flag.environments.insert(env.to_owned(), dark.clone());
            let doc = serde_json::to_string(&direct.flag).map_err(|e| vec![e.to_string()])?;
            let waits = served::config_serves_differently(&wanted, &dark);
            Ok(Split {
                digest: waits.then(|| plan::flag_digest(&direct, env, p.with_targeting)),
                proposal: waits.then_some((Proposed::Flag(wanted), direct.version)),
                direct: Some(Write::NewFlag(direct, doc)),
                written: Some(written(Action::Create, Vec::new())),
                open: None,
            })
        }
        Write::Flag(pending) => {
            let (before, after) = (&pending.before, &pending.after);
            let mut refused = Vec::new();
            let name = format!("flag `{key}`");
            if before.flag.variations != after.flag.variations {
                refused.push(format!("{name}: variations"));
            }
            if before.flag.client_side != after.flag.client_side {
                refused.push(format!("{name}: client_side"));
            }
            for other in batch.env_keys.iter().filter(|e| *e != env) {
                if config_for(&before.flag, other) != config_for(&after.flag, other) {
                    refused.push(format!("{name}: environments.{other}"));
                }
            }
            let fields = served::flag_descriptive_changes(before, after);
            let direct = if fields.is_empty() {
                None
            } else {
                let mut edit = |f: &mut StoredFlag| {
                    served::take_flag_descriptive(f, after);
                    Ok(())
                };
                let d = flag_writes::prepare_from(
                    before.clone(),
                    &mut edit,
                    batch.env_keys,
                    batch.segment_keys,
                    batch.cohorts,
                )
                .map_err(|e| vec![format!("{name}: {e}")])?;
                // A descriptive edit serves nothing new (a cohort moved meanwhile would).
                if let Some(env) = d.changed.first() {
                    refused.push(format!("{name}: environments.{env} (a cohort's rollout)"));
                }
                Some(d)
            };
            if !refused.is_empty() {
                return Err(refused);
            }
            let now = direct.as_ref().map_or(before, |d| &d.after);
            let wanted = config_for(&after.flag, env);
            let waits = served::config_serves_differently(&wanted, &config_for(&before.flag, env));
            Ok(Split {
                digest: waits.then(|| plan::flag_digest(now, env, p.with_targeting)),
                proposal: waits.then_some((Proposed::Flag(wanted), now.version)),
                written: direct.as_ref().map(|_| written(Action::Change, fields)),
                direct: direct.map(Write::Flag),
                open: None,
            })
        }
        Write::NewSegment(segment, doc) => Ok(Split {
            direct: Some(Write::NewSegment(segment.clone(), doc.clone())),
            written: Some(written(Action::Create, Vec::new())),
            proposal: None,
            digest: None,
            open: None,
        }),
        Write::Segment(before, after, _) => {
            let fields = served::segment_descriptive_changes(before, after);
            let mut now = before.clone();
            let direct = if fields.is_empty() {
                None
            } else {
                served::take_segment_descriptive(&mut now, after);
                now.rules.version = before.rules.version + 1;
                now.updated_at = after.updated_at;
                let doc = doc_of(&now.rules).map_err(|e| vec![e.to_string()])?;
                Some(Write::Segment(before.clone(), now.clone(), doc))
            };
            let waits = served::segment_serves_differently(before, after);
            Ok(Split {
                digest: waits.then(|| plan::segment_digest(&now)),
                proposal: waits.then(|| (Proposed::Segment(after.rules.clone()), now.rules.version as i64)),
                written: direct.as_ref().map(|_| written(Action::Change, fields)),
                direct,
                open: None,
            })
        }
    }
}

/// Whether an open request proposes exactly `proposed` (versions aside).
fn same_proposal(proposed: &Proposed, r: &ChangeRequest) -> bool {
    let doc = match proposed {
        Proposed::Flag(c) => serde_json::to_value(c),
        Proposed::Segment(s) => serde_json::to_value(s),
        _ => return false,
    };
    let without_version = |v: Value| match v {
        Value::Object(mut m) => {
            m.remove("version");
            Value::Object(m)
        }
        other => other,
    };
    match (doc, &r.config) {
        (Ok(doc), Some(stored)) => without_version(doc) == without_version(stored.clone()),
        _ => false,
    }
}
