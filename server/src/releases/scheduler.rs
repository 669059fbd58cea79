//! The scheduler every node runs: each tick it advances due release plans,
//! applies due scheduled changes and change requests, and judges guarded
//! plans. The work itself is in the writes layer (`writes::releases::act`,
//! `writes::schedule::apply`, `writes::change_requests::apply_due`), where
//! each move is conditional on what was read, so several nodes ticking over
//! one database still make every move exactly once. State lives only in the
//! database: a node that restarts (or another that takes over) catches up
//! on its first tick.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::error::{ApiError, ApiResult};
use crate::releases::guard::{self, Counts};
use crate::releases::plan::Action;
use crate::state::AppState;
use crate::store;
use crate::writes::change_requests::{self, Due};
use crate::writes::releases::{self, Outcome};
use crate::writes::schedule::{self, Settled};

/// What one tick did (for tests and logs).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Plan transitions this node made.
    pub advanced: usize,
    /// Due plans another node moved first.
    pub lost: usize,
    pub applied_changes: usize,
    /// Due changes that no longer validate, marked `failed`.
    pub failed_changes: usize,
    pub guard_trips: usize,
    /// Scheduled change requests this node applied at their time.
    pub applied_requests: usize,
    /// Scheduled change requests settled `expired` or `failed`.
    pub unapplied_requests: usize,
}

/// Runs ticks every `every` until the task is dropped.
pub async fn run(state: AppState, clock: Arc<dyn Clock>, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match tick(&state, clock.as_ref()).await {
            Ok(t) if t != Tick::default() => tracing::info!(?t, "scheduler"),
            Ok(_) => {}
            // The database may be away; the next tick tries again.
            Err(e) => tracing::warn!(error = %e, "scheduler tick failed"),
        }
    }
}

/// One pass over due plans, due changes and guards. A database that is away
/// fails the tick; any other error is about one plan or change, which is
/// logged and left for the next tick while the others go ahead.
pub async fn tick(state: &AppState, clock: &dyn Clock) -> ApiResult<Tick> {
    let mut done = Tick::default();
    let now = clock.now_ms();
    // A plan's stages were approved with the plan; scheduled changes were not.
    let plans = crate::writes::Writer {
        approved: true,
        ..state.writer("scheduler", "")
    };
    let scheduler = state.writer("scheduler", "");
    for id in store::releases::due(&state.db, now).await? {
        match releases::act(&plans, id, Action::Advance, None, now).await {
            Ok(Outcome::Applied(_)) => done.advanced += 1,
            // Moved by another node, or no longer due: nothing to do.
            Ok(Outcome::Lost) | Err(ApiError::Conflict(_)) => done.lost += 1,
            Err(e @ ApiError::Invalid { .. }) => {
                // The next stage no longer validates (its segment was
                // deleted, say): hold the plan rather than retry forever.
                let why = format!("paused: the next stage cannot be applied: {e}");
                let w = crate::writes::Writer {
                    approved: true,
                    ..state.writer("scheduler", &why)
                };
                match releases::act(&w, id, Action::Pause, None, now).await {
                    Ok(_) => tracing::warn!(id, error = %e, "release plan paused"),
                    Err(e) => skip(e, "release plan", id)?,
                }
            }
            Err(e) => skip(e, "release plan", id)?,
        }
    }
    for id in store::schedule::due(&state.db, now).await? {
        match schedule::apply(&scheduler, id).await {
            Ok(Settled::Applied) => done.applied_changes += 1,
            Ok(Settled::Failed) => done.failed_changes += 1,
            Ok(Settled::Elsewhere) => {}
            Err(e) => skip(e, "scheduled change", id)?,
        }
    }
    // A scheduled request carries its approvals (or lacks them): the
    // scheduler writes as itself, approved only when the request is.
    for id in store::change_requests::due(&state.db, now).await? {
        match change_requests::apply_due(&scheduler, id).await {
            Ok(Due::Applied) => done.applied_requests += 1,
            Ok(Due::Expired | Due::Failed) => done.unapplied_requests += 1,
            Ok(Due::Elsewhere) => {}
            Err(e) => skip(e, "change request", id)?,
        }
    }
    for plan in store::releases::guarded(&state.db).await? {
        let Some(g) = &plan.spec.guard else { continue };
        let window_ms = i64::try_from(g.window_seconds).unwrap_or(i64::MAX).saturating_mul(1000);
        let since = now.saturating_sub(window_ms);
        let new = counts(
            state,
            &plan.environment,
            &plan.flag_key,
            plan.spec.variation,
            &g.event,
            since,
        )
        .await?;
        let old_variation = plan.spec.from_variation.unwrap_or_default();
        let old = counts(state, &plan.environment, &plan.flag_key, old_variation, &g.event, since).await?;
        if let Some(why) = guard::verdict(g, new, old) {
            let w = crate::writes::Writer {
                approved: true,
                ..state.writer("guard", &why)
            };
            if let Outcome::Applied(_) = releases::act(&w, plan.id, Action::GuardTrip, Some(plan.version), now)
                .await
                .or_else(|e| match e {
                    ApiError::Conflict(_) => Ok(Outcome::Lost),
                    // A freeze window holds the rollback too, until it ends.
                    e @ ApiError::Frozen(_) => skip(e, "release guard", plan.id).map(|()| Outcome::Lost),
                    e => Err(e),
                })?
            {
                tracing::warn!(id = plan.id, flag = %plan.flag_key, %why, "release guard tripped");
                done.guard_trips += 1;
            }
        }
    }
    Ok(done)
}

/// `Err` when the database is away (the whole tick waits for the next one);
/// otherwise logs the error of one plan or change and lets the tick go on.
fn skip(e: ApiError, what: &str, id: i64) -> ApiResult<()> {
    match e {
        ApiError::Unavailable(_) => Err(e),
        e => {
            tracing::warn!(id, error = %e, "{what} not moved; trying again next tick");
            Ok(())
        }
    }
}

/// Evaluations and events of one variation since `since`, from the per-minute
/// usage aggregates SDKs report.
async fn counts(
    state: &AppState,
    environment: &str,
    flag: &str,
    variation: usize,
    event: &str,
    since: i64,
) -> ApiResult<Counts> {
    let (evaluations, events) =
        crate::store::usage::window_counts(&state.db, environment, flag, variation as i64, event, since).await?;
    Ok(Counts { evaluations, events })
}
