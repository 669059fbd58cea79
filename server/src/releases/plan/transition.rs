//! The state machine: where a plan is (`Progress`), what can happen to it
//! (`Action`) and which transitions are allowed at a given time.

use daylight::model::Serve;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::spec::{GuardAction, PlanSpec};
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    Running,
    Paused,
    Completed,
    RolledBack,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Running => "running",
            State::Paused => "paused",
            State::Completed => "completed",
            State::RolledBack => "rolled_back",
        }
    }

    pub fn is_active(self) -> bool {
        matches!(self, State::Pending | State::Running | State::Paused)
    }
}

/// Where a plan is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Progress {
    pub state: State,
    /// The current stage (index into `stages`), once started.
    pub stage: Option<usize>,
    pub stage_started_at: Option<i64>,
    /// When the scheduler moves on next (Unix ms); `None` while paused,
    /// finished, or waiting for a manual `skip`.
    pub next_at: Option<i64>,
    /// While paused: how much of the hold was left.
    pub paused_remaining_ms: Option<i64>,
    /// What the flag did before the plan started, for roll back.
    pub original_on: Option<bool>,
    pub original_fallthrough: Option<Serve>,
}

impl Progress {
    pub fn pending() -> Self {
        Progress {
            state: State::Pending,
            stage: None,
            stage_started_at: None,
            next_at: None,
            paused_remaining_ms: None,
            original_on: None,
            original_fallthrough: None,
        }
    }
}

/// What can happen to a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Start,
    Pause,
    Resume,
    Rollback,
    /// Move to the next stage now (or complete after the last).
    Skip,
    /// The scheduler's move when `next_at` has passed.
    Advance,
    /// A guard tripped; pauses or rolls back per the guard.
    GuardTrip,
}

impl Action {
    /// The audit-log action name.
    pub fn audit_name(self) -> &'static str {
        match self {
            Action::Start => "release.start",
            Action::Pause => "release.pause",
            Action::Resume => "release.resume",
            Action::Rollback => "release.rollback",
            Action::Skip => "release.skip",
            Action::Advance => "release.advance",
            Action::GuardTrip => "release.guard_tripped",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("cannot {action:?} a plan that is {state:?}")]
pub struct NotAllowed {
    pub action: Action,
    pub state: State,
}

impl From<NotAllowed> for ApiError {
    fn from(e: NotAllowed) -> Self {
        ApiError::Conflict(format!(
            "cannot {} a release plan that is {}",
            e.action.audit_name().trim_start_matches("release."),
            e.state.as_str()
        ))
    }
}

/// The plan after `action` at `now`, or why it is not allowed.
///
/// After downtime the scheduler advances an overdue plan one stage at a
/// time and each stage gets its full hold from when it actually began, so a
/// release never jumps several stages at once because a server was down.
pub fn transition(spec: &PlanSpec, p: &Progress, action: Action, now: i64) -> Result<Progress, NotAllowed> {
    let refuse = || NotAllowed { action, state: p.state };
    let mut next = p.clone();
    match (action, p.state) {
        (Action::Start, State::Pending) => {
            next.state = State::Running;
            next.stage = Some(0);
            next.stage_started_at = Some(now);
            // A first stage with a future start time waits at "stage 0, not
            // applied" until then; see `applied_stage`.
            next.next_at = match spec.first_due(now) {
                Some(t) => Some(t),
                None => spec.due(0, now),
            };
        }
        (Action::Pause, State::Running) => {
            next.state = State::Paused;
            next.paused_remaining_ms = p.next_at.map(|t| t.saturating_sub(now).max(0));
            next.next_at = None;
        }
        (Action::Resume, State::Paused) => {
            next.state = State::Running;
            next.next_at = p.paused_remaining_ms.map(|r| now.saturating_add(r));
            next.paused_remaining_ms = None;
        }
        (Action::Rollback, State::Pending | State::Running | State::Paused) => {
            next.state = State::RolledBack;
            next.next_at = None;
            next.paused_remaining_ms = None;
        }
        (Action::Advance, State::Running) if p.next_at.is_some_and(|t| t <= now) => advance(spec, &mut next, now),
        (Action::Skip, State::Running) => advance(spec, &mut next, now),
        (Action::Skip, State::Paused) => {
            advance(spec, &mut next, now);
            if next.state != State::Completed {
                // Still paused, now on the next stage with its full hold left.
                next.state = State::Paused;
                next.paused_remaining_ms = next.next_at.map(|t| t.saturating_sub(now).max(0));
                next.next_at = None;
            }
        }
        (Action::GuardTrip, State::Running) => {
            let action = spec.guard.as_ref().map(|g| g.action).unwrap_or_default();
            return transition(
                spec,
                p,
                match action {
                    GuardAction::Pause => Action::Pause,
                    GuardAction::Rollback => Action::Rollback,
                },
                now,
            );
        }
        _ => return Err(refuse()),
    }
    Ok(next)
}

fn advance(spec: &PlanSpec, p: &mut Progress, now: i64) {
    let waiting_for_first = p.stage == Some(0) && p.stage_started_at.is_some_and(|s| spec.start_at(0) > Some(s));
    let current = p.stage.unwrap_or(0);
    if waiting_for_first {
        // The first stage's start time has come: it begins now.
        p.stage_started_at = Some(now);
        p.next_at = spec.due(0, now);
    } else if current + 1 < spec.stages.len() {
        p.stage = Some(current + 1);
        p.stage_started_at = Some(now);
        p.next_at = spec.due(current + 1, now);
    } else {
        p.state = State::Completed;
        p.next_at = None;
    }
    p.paused_remaining_ms = None;
}

/// The stage whose effect is in place: none while pending or while the
/// first stage waits for its start time.
pub fn applied_stage(spec: &PlanSpec, p: &Progress) -> Option<usize> {
    let stage = p.stage?;
    let waiting = stage == 0 && p.stage_started_at.is_some_and(|s| spec.start_at(0) > Some(s));
    (!waiting).then_some(stage)
}

#[cfg(test)]
mod tests {
    use daylight::model::FlagConfig;

    use super::super::apply;
    use super::super::fixtures::{spec, started, weight, MIN};
    use super::super::spec::Guard;
    use super::*;

    #[test]
    fn runs_through_every_stage_on_schedule_then_completes() {
        let s = spec();
        let mut p = started(&s, 0);
        assert_eq!((p.state, p.stage, p.next_at), (State::Running, Some(0), Some(60 * MIN)));
        // Not yet due: the scheduler's advance is refused, nothing moves.
        assert!(transition(&s, &p, Action::Advance, 60 * MIN - 1).is_err());
        for (i, at) in [(1, 60 * MIN), (2, 120 * MIN), (3, 180 * MIN)] {
            p = transition(&s, &p, Action::Advance, at).unwrap();
            assert_eq!(
                (p.stage, p.stage_started_at, p.next_at),
                (Some(i), Some(at), Some(at + 60 * MIN))
            );
        }
        p = transition(&s, &p, Action::Advance, 240 * MIN).unwrap();
        assert_eq!((p.state, p.next_at), (State::Completed, None));
        for action in [
            Action::Advance,
            Action::Skip,
            Action::Pause,
            Action::Resume,
            Action::Rollback,
        ] {
            assert!(
                transition(&s, &p, action, 300 * MIN).is_err(),
                "{action:?} after completion"
            );
        }
        assert_eq!(apply(&s, &p, &FlagConfig::dark(0)).fallthrough, Serve::variation(1));
    }

    #[test]
    fn catch_up_after_downtime_moves_one_stage_with_a_full_hold() {
        let s = spec();
        let p = started(&s, 0);
        // The server was down for five hours: one stage, not four.
        let p = transition(&s, &p, Action::Advance, 300 * MIN).unwrap();
        assert_eq!((p.stage, p.next_at), (Some(1), Some(360 * MIN)));
        assert!(transition(&s, &p, Action::Advance, 300 * MIN + 1).is_err());
    }

    #[test]
    fn pause_during_a_stage_keeps_the_rest_of_its_hold() {
        let s = spec();
        let p = started(&s, 0);
        let paused = transition(&s, &p, Action::Pause, 20 * MIN).unwrap();
        assert_eq!(
            (paused.state, paused.next_at, paused.paused_remaining_ms),
            (State::Paused, None, Some(40 * MIN))
        );
        // Paused plans are not advanced, however late it gets.
        assert!(transition(&s, &paused, Action::Advance, 1000 * MIN).is_err());
        // The effect stays in place while paused.
        assert_eq!(weight(&apply(&s, &paused, &FlagConfig::dark(0))), Some(1000));
        let resumed = transition(&s, &paused, Action::Resume, 500 * MIN).unwrap();
        assert_eq!((resumed.state, resumed.next_at), (State::Running, Some(540 * MIN)));
        assert!(transition(&s, &resumed, Action::Resume, 500 * MIN).is_err());
    }

    #[test]
    fn skip_moves_on_now_and_keeps_a_paused_plan_paused() {
        let s = spec();
        let p = started(&s, 0);
        let skipped = transition(&s, &p, Action::Skip, 5 * MIN).unwrap();
        assert_eq!((skipped.stage, skipped.next_at), (Some(1), Some(65 * MIN)));
        let paused = transition(&s, &skipped, Action::Pause, 10 * MIN).unwrap();
        let skipped = transition(&s, &paused, Action::Skip, 11 * MIN).unwrap();
        assert_eq!(
            (skipped.state, skipped.stage, skipped.paused_remaining_ms),
            (State::Paused, Some(2), Some(60 * MIN))
        );
    }

    #[test]
    fn pending_plans_cannot_pause_resume_or_advance_but_can_be_dropped() {
        let s = spec();
        let p = Progress::pending();
        for action in [
            Action::Pause,
            Action::Resume,
            Action::Advance,
            Action::Skip,
            Action::GuardTrip,
        ] {
            assert_eq!(
                transition(&s, &p, action, 0),
                Err(NotAllowed {
                    action,
                    state: State::Pending
                })
            );
        }
        assert_eq!(
            transition(&s, &p, Action::Rollback, 0).unwrap().state,
            State::RolledBack
        );
        assert_eq!(apply(&s, &p, &FlagConfig::dark(0)), FlagConfig::dark(0));
    }

    #[test]
    fn guard_trip_pauses_or_rolls_back_per_the_guard() {
        let mut s = spec();
        s.guard = Some(Guard {
            event: "checkout_error".into(),
            window_seconds: 60,
            max_rate: Some(0.01),
            max_ratio: None,
            min_evaluations: 10,
            action: GuardAction::Pause,
        });
        let p = started(&s, 0);
        assert_eq!(transition(&s, &p, Action::GuardTrip, MIN).unwrap().state, State::Paused);
        s.guard.as_mut().unwrap().action = GuardAction::Rollback;
        assert_eq!(
            transition(&s, &p, Action::GuardTrip, MIN).unwrap().state,
            State::RolledBack
        );
        let paused = transition(&s, &p, Action::Pause, MIN).unwrap();
        assert!(
            transition(&s, &paused, Action::GuardTrip, MIN).is_err(),
            "a paused plan is not judged"
        );
    }

    #[test]
    fn start_times_hold_a_stage_back_until_they_come() {
        let mut s = spec();
        // Stage 0 may start only at t=10 min; stage 1 not before t=24 h.
        s.stages[0].start_at = Some("1970-01-01T00:10:00Z".into());
        s.stages[1].start_at = Some("1970-01-02T00:00:00Z".into());
        let p = started(&s, 0);
        assert_eq!(applied_stage(&s, &p), None);
        assert_eq!(apply(&s, &p, &FlagConfig::dark(0)).fallthrough, Serve::variation(0));
        assert_eq!(p.next_at, Some(10 * MIN));
        let p = transition(&s, &p, Action::Advance, 10 * MIN).unwrap();
        assert_eq!((applied_stage(&s, &p), p.next_at), (Some(0), Some(24 * 60 * MIN)));
        let p = transition(&s, &p, Action::Advance, 24 * 60 * MIN).unwrap();
        assert_eq!(p.stage, Some(1));
    }
}
