//! Release-plan writes: [`act`] writes the plan's transition and the flag
//! change it makes in one transaction, conditional on the plan's version,
//! so with several nodes each transition happens exactly once.

use sqlx::{Any, Transaction};

use super::flags;
use super::Writer;
use crate::error::{ApiError, ApiResult};
use crate::releases::plan::{self, Action, PlanSpec, Progress, State};
use crate::store::flags::{config_for, get as get_flag, StoredFlag};
use crate::store::releases::{self as rows, get, ReleasePlan};
use crate::store::{append_audit, environments, segments, AuditEntry};

/// Stores a new plan, pending. Checks it against the flag: the variations
/// exist, the segments exist in the environment, and which variation it
/// replaces (`from_variation`, by default what the fallthrough serves).
pub async fn create(w: &Writer<'_>, flag_key: &str, environment: &str, mut spec: PlanSpec) -> ApiResult<ReleasePlan> {
    spec.validate()?;
    let stored = get_flag(w.db, flag_key).await?;
    environments::get(w.db, environment).await?;
    w.may_edit(environment)?;
    let count = stored.flag.variations.len();
    if spec.variation >= count {
        return Err(ApiError::invalid(
            "variation",
            format!("the flag has {count} variations"),
        ));
    }
    let config = config_for(&stored.flag, environment);
    // A fallthrough that is already a rollout between the released variation
    // and one other: the plan starts from its share, bucketing and salt.
    let rollout = config
        .fallthrough
        .rollout
        .as_ref()
        .and_then(|r| two_way(r, spec.variation));
    let from = match (spec.from_variation, config.fallthrough.variation, &rollout) {
        (Some(v), _, _) => v,
        (None, Some(v), _) => v,
        (None, None, Some((other, _))) => *other,
        (None, None, None) => {
            return Err(ApiError::invalid(
                "from_variation",
                "the fallthrough is a rollout over other variations than the released one and one more; \
                 name the variation this plan replaces",
            ))
        }
    };
    if from >= count {
        return Err(ApiError::invalid(
            "from_variation",
            format!("the flag has {count} variations"),
        ));
    }
    if from == spec.variation {
        return Err(ApiError::invalid(
            "from_variation",
            "the plan must release a different variation",
        ));
    }
    if let (Some((other, share)), Some(r)) = (&rollout, &config.fallthrough.rollout) {
        if *other == from {
            if let Some((i, w)) = spec
                .stages
                .iter()
                .enumerate()
                .find_map(|(i, s)| s.weight.map(|w| (i, w)))
            {
                if w < *share {
                    return Err(ApiError::invalid(
                        format!("stages[{i}].weight"),
                        format!(
                            "everyone else already gets the released variation at {}%; a plan starts from there and may not go down",
                            plan::percent(*share)
                        ),
                    ));
                }
            }
            // Keep the cohort: the same bucketing and salt as the rollout.
            if spec.bucket_by.is_none() {
                spec.bucket_by.clone_from(&r.bucket_by);
            }
            if spec.salt.is_none() {
                spec.salt.clone_from(&r.salt);
            }
        }
    }
    spec.from_variation = Some(from);
    let segments = segments::all_keys(w.db).await?;
    for (i, stage) in spec.stages.iter().enumerate() {
        if let Some(segment) = &stage.segment {
            if !segments.contains(&(environment.to_owned(), segment.clone())) {
                return Err(ApiError::invalid(
                    format!("stages[{i}].segment"),
                    format!("no segment `{segment}` in `{environment}`"),
                ));
            }
        }
    }
    let spec_doc = serde_json::to_string(&spec).map_err(|e| ApiError::Internal(e.to_string()))?;
    let progress = serde_json::to_string(&Progress::pending()).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut tx = w.begin().await?;
    let id = rows::insert(&mut tx, flag_key, environment, &spec_doc, &progress, w.actor).await?;
    append_audit(
        &mut tx,
        AuditEntry {
            after: Some(spec_doc),
            ..w.audit("release.create", "release", flag_key, Some(environment))
        },
    )
    .await?;
    tx.commit().await?;
    get(w.db, id).await
}

/// `(the other variation, the released variation's weight)` when `rollout`
/// serves only `released` and one other variation (weights of 0 aside).
fn two_way(rollout: &daylight::model::Rollout, released: usize) -> Option<(usize, u32)> {
    let mut others = rollout
        .variations
        .iter()
        .filter(|w| w.weight > 0 && w.variation != released)
        .map(|w| w.variation);
    let other = others.next()?;
    if others.next().is_some() {
        return None;
    }
    let share = rollout
        .variations
        .iter()
        .filter(|w| w.variation == released)
        .map(|w| w.weight)
        .sum();
    Some((other, share))
}

/// What became of an attempted transition.
#[derive(Debug)]
pub enum Outcome {
    Applied(Box<ReleasePlan>),
    /// Another node (or request) moved the plan first; nothing was written.
    Lost,
}

/// A command a change request may carry for a release plan where the
/// environment requires approvals: the ones that raise exposure. Pausing
/// and rolling back only lower it and stay direct (docs/releases.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepCommand {
    Start,
    Resume,
    Skip,
}

/// The proposal of a `release` change request: a command for one plan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub command: StepCommand,
}

impl Step {
    pub fn action(&self) -> Action {
        match self.command {
            StepCommand::Start => Action::Start,
            StepCommand::Resume => Action::Resume,
            StepCommand::Skip => Action::Skip,
        }
    }
}

/// A transition read, checked and applied to the flag, not yet written:
/// [`write_act`] stores it inside a caller's transaction (an approved
/// change request settles itself in the same one).
pub struct PendingAct {
    pub plan: ReleasePlan,
    action: Action,
    progress: String,
    next: Progress,
    pub pending: flags::PendingUpdate,
}

/// What [`write_act`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    Done,
    /// The plan moved since it was read: nothing was written.
    PlanMoved,
    /// The flag was edited since it was read: read it again.
    FlagMoved,
}

/// Reads plan `id`, checks `action` at `now` (and the plan's version, when
/// `expected` is given: 409 otherwise) and prepares the flag change.
pub async fn prepare_act(
    w: &Writer<'_>,
    id: i64,
    action: Action,
    expected: Option<i64>,
    now: i64,
) -> ApiResult<PendingAct> {
    let plan = get(w.db, id).await?;
    w.may_edit(&plan.environment)?;
    if let Some(expected) = expected {
        if expected != plan.version {
            return Err(ApiError::Conflict(format!(
                "release plan {id} changed since you read it (you sent version {expected}, it is now at {}); reload and retry",
                plan.version
            )));
        }
    }
    let mut next = plan::transition(&plan.spec, &plan.progress, action, now)?;
    let env = plan.environment.as_str();
    let mut edit = |stored: &mut StoredFlag| {
        let base = config_for(&stored.flag, env);
        if plan.progress.state == State::Pending {
            // Remember what to return to on roll back.
            next.original_on = Some(base.on);
            next.original_fallthrough = Some(base.fallthrough.clone());
        }
        let config = plan::apply(&plan.spec, &next, &base);
        stored.flag.environments.insert(env.to_owned(), config);
        Ok(())
    };
    let pending = flags::prepare(w, &plan.flag_key, None, &mut edit).await?;
    let progress = serde_json::to_string(&next).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(PendingAct {
        plan,
        action,
        progress,
        next,
        pending,
    })
}

/// Writes a prepared transition in `tx`: the plan (only if still at the
/// version read), the flag change and one audit entry. The caller commits
/// with [`Writer::commit`]`(tx, &act.pending.changed)`.
pub async fn write_act(tx: &mut Transaction<'_, Any>, w: &Writer<'_>, act: &PendingAct) -> ApiResult<Written> {
    let (plan, pending) = (&act.plan, &act.pending);
    let env = plan.environment.as_str();
    if !rows::advance_if(tx, plan.id, &act.next, &act.progress, plan.version).await? {
        return Ok(Written::PlanMoved);
    }
    let changes_flag = !pending.changed.is_empty();
    if changes_flag && !flags::write_rows(tx, w, pending).await? {
        return Ok(Written::FlagMoved);
    }
    // One entry per move: the plan's, with the flag's before and after
    // when the move changed the flag (the plan's own state otherwise).
    let entry = w.audit(act.action.audit_name(), "release", &plan.flag_key, Some(env));
    let entry = if changes_flag {
        AuditEntry {
            follows_change: true,
            ..pending.audited(entry)
        }
    } else {
        AuditEntry {
            before: serde_json::to_string(&plan.progress).ok(),
            after: Some(act.progress.clone()),
            ..entry
        }
    };
    append_audit(tx, entry).await?;
    Ok(Written::Done)
}

/// Applies `action` to plan `id` at `now`: the plan's new state and the
/// flag config it implies are written in one transaction, only if the plan
/// is still at the version read (`expected`, when the caller states it,
/// must match too). The audit log gets one `release.*` row per transition,
/// which carries the flag's change.
pub async fn act(w: &Writer<'_>, id: i64, action: Action, expected: Option<i64>, now: i64) -> ApiResult<Outcome> {
    for _attempt in 0..5 {
        let prepared = prepare_act(w, id, action, expected, now).await?;
        let mut tx = w.begin().await?;
        match write_act(&mut tx, w, &prepared).await? {
            Written::Done => {}
            Written::PlanMoved => {
                tx.rollback().await?;
                return match expected {
                    Some(_) => Err(ApiError::Conflict(format!(
                        "release plan {id} changed meanwhile; reload and retry"
                    ))),
                    None => Ok(Outcome::Lost),
                };
            }
            Written::FlagMoved => {
                tx.rollback().await?;
                continue;
            }
        }
        w.commit(tx, &prepared.pending.changed).await?;
        return Ok(Outcome::Applied(Box::new(get(w.db, id).await?)));
    }
    let flag_key = get(w.db, id).await.map(|p| p.flag_key).unwrap_or_default();
    Err(flags::busy(&flag_key))
}
