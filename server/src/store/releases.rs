//! Release plans in the database, and the one function that moves a plan:
//! [`act`] writes the plan's transition and the flag change it makes in one
//! transaction, conditional on the plan's version, so with several nodes
//! each transition happens exactly once.

use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use super::{append_audit, flags, AuditEntry, Writer};
use crate::db::{now_ms, Db};
use crate::error::{ApiError, ApiResult};
use crate::releases::plan::{self, Action, PlanSpec, Progress, State};

/// A plan as the API returns it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReleasePlan {
    pub id: i64,
    pub flag_key: String,
    pub environment: String,
    pub spec: PlanSpec,
    #[serde(flatten)]
    pub progress: Progress,
    /// Bumped by every transition.
    pub version: i64,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, flag_key, environment, spec, progress, version, created_by, created_at, updated_at FROM release_plans";

fn from_row(row: &sqlx::any::AnyRow) -> ApiResult<ReleasePlan> {
    let spec: String = row.try_get("spec")?;
    let progress: String = row.try_get("progress")?;
    let bad = |e: serde_json::Error| ApiError::Internal(format!("stored release plan: {e}"));
    Ok(ReleasePlan {
        id: row.try_get("id")?,
        flag_key: row.try_get("flag_key")?,
        environment: row.try_get("environment")?,
        spec: serde_json::from_str(&spec).map_err(bad)?,
        progress: serde_json::from_str(&progress).map_err(bad)?,
        version: row.try_get("version")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn get(db: &Db, id: i64) -> ApiResult<ReleasePlan> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("release plan {id}")))?;
    from_row(&row)
}

/// Plans, newest first, optionally of one flag, environment or state.
pub async fn list(
    db: &Db,
    flag: Option<&str>,
    environment: Option<&str>,
    state: Option<&str>,
) -> ApiResult<Vec<ReleasePlan>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} WHERE ($1 IS NULL OR flag_key = $1) AND ($2 IS NULL OR environment = $2)
         AND ($3 IS NULL OR state = $3) ORDER BY id DESC LIMIT 500"
    ))
    .bind(flag)
    .bind(environment)
    .bind(state)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Ids of running plans whose next move is due at `now`.
pub async fn due(db: &Db, now: i64) -> ApiResult<Vec<i64>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM release_plans WHERE state = 'running' AND next_at <= $1 ORDER BY next_at")
            .bind(now)
            .fetch_all(&db.pool)
            .await?,
    )
}

/// Running plans that have a guard.
pub async fn guarded(db: &Db) -> ApiResult<Vec<ReleasePlan>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} WHERE state = 'running'"))
        .fetch_all(&db.pool)
        .await?;
    Ok(rows
        .iter()
        .map(from_row)
        .collect::<ApiResult<Vec<_>>>()?
        .into_iter()
        .filter(|p| p.spec.guard.is_some())
        .collect())
}

/// Stores a new plan, pending. Checks it against the flag: the variations
/// exist, the segments exist in the environment, and which variation it
/// replaces (`from_variation`, by default what the fallthrough serves).
pub async fn create(w: &Writer<'_>, flag_key: &str, environment: &str, mut spec: PlanSpec) -> ApiResult<ReleasePlan> {
    spec.validate()?;
    let stored = flags::get(w.db, flag_key).await?;
    super::environments::get(w.db, environment).await?;
    let count = stored.flag.variations.len();
    if spec.variation >= count {
        return Err(ApiError::invalid(
            "variation",
            format!("the flag has {count} variations"),
        ));
    }
    let config = flags::config_for(&stored.flag, environment);
    let from = match spec.from_variation {
        Some(v) => v,
        None => config.fallthrough.variation.ok_or_else(|| {
            ApiError::invalid(
                "from_variation",
                "the fallthrough is a rollout; name the variation this plan replaces",
            )
        })?,
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
    spec.from_variation = Some(from);
    let segments = super::segments::all_keys(w.db).await?;
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
    let now = now_ms();
    let spec_doc = serde_json::to_string(&spec).map_err(|e| ApiError::Internal(e.to_string()))?;
    let progress = serde_json::to_string(&Progress::pending()).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut tx = w.db.pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO release_plans (flag_key, environment, spec, progress, state, next_at, version, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'pending', NULL, 1, $5, $6, $6) RETURNING id",
    )
    .bind(flag_key)
    .bind(environment)
    .bind(&spec_doc)
    .bind(&progress)
    .bind(w.actor)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict(_) => ApiError::Conflict(format!(
            "flag `{flag_key}` already has a release plan in flight in `{environment}`; finish or roll it back first"
        )),
        other => other,
    })?;
    append_audit(
        &mut tx,
        AuditEntry {
            actor: w.actor,
            action: "release.create",
            resource_kind: "release",
            resource_key: flag_key,
            environment: Some(environment),
            before: None,
            after: Some(spec_doc),
            comment: w.comment,
        },
    )
    .await?;
    tx.commit().await?;
    get(w.db, id).await
}

/// What became of an attempted transition.
#[derive(Debug)]
pub enum Outcome {
    Applied(Box<ReleasePlan>),
    /// Another node (or request) moved the plan first; nothing was written.
    Lost,
}

/// Applies `action` to plan `id` at `now`: the plan's new state and the
/// flag config it implies are written in one transaction, only if the plan
/// is still at the version read (`expected`, when the caller states it,
/// must match too). The audit log gets one `release.*` row per transition.
pub async fn act(w: &Writer<'_>, id: i64, action: Action, expected: Option<i64>, now: i64) -> ApiResult<Outcome> {
    for _attempt in 0..5 {
        let plan = get(w.db, id).await?;
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
        let mut edit = |stored: &mut flags::StoredFlag| {
            let base = flags::config_for(&stored.flag, env);
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
        let mut tx = w.db.pool.begin().await?;
        let moved = sqlx::query(
            "UPDATE release_plans SET progress = $1, state = $2, next_at = $3, version = version + 1, updated_at = $4
             WHERE id = $5 AND version = $6",
        )
        .bind(&progress)
        .bind(next.state.as_str())
        .bind(next.next_at)
        .bind(now_ms())
        .bind(id)
        .bind(plan.version)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            tx.rollback().await?;
            return match expected {
                Some(_) => Err(ApiError::Conflict(format!(
                    "release plan {id} changed meanwhile; reload and retry"
                ))),
                None => Ok(Outcome::Lost),
            };
        }
        let flag_action = format!("flag.{}", action.audit_name());
        if !pending.changed.is_empty() && !flags::write(&mut tx, w, &pending, &flag_action, Some(env)).await? {
            // The flag was edited in between: read it again.
            tx.rollback().await?;
            continue;
        }
        append_audit(
            &mut tx,
            AuditEntry {
                actor: w.actor,
                action: action.audit_name(),
                resource_kind: "release",
                resource_key: &plan.flag_key,
                environment: Some(env),
                before: serde_json::to_string(&plan.progress).ok(),
                after: Some(progress),
                comment: w.comment,
            },
        )
        .await?;
        tx.commit().await?;
        w.live.committed(w.db, &pending.changed).await;
        return Ok(Outcome::Applied(Box::new(get(w.db, id).await?)));
    }
    Err(flags::busy(&plan_flag(w.db, id).await))
}

async fn plan_flag(db: &Db, id: i64) -> String {
    get(db, id).await.map(|p| p.flag_key).unwrap_or_default()
}
