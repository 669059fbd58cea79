//! A release plan as a pure state machine: what a plan is, which transitions
//! it allows at a given time, and what it does to the flag's config. No I/O
//! and no clock of its own (every function takes `now`), so every transition
//! is unit-tested with made-up times.
//!
//! A plan moves one flag in one environment from `from_variation` to
//! `variation` through stages. A weight stage serves the new variation to
//! that share of the fallthrough (new variation listed first, so raising the
//! weight keeps everyone who was already in); a segment stage serves it to a
//! segment through a rule the plan owns. Stages are cumulative. Completing
//! serves the new variation to everyone; rolling back restores what the
//! fallthrough served before the plan started. Edits others make to the
//! flag's targets and rules meanwhile are kept either way.

use daylight::model::{Clause, FlagConfig, Op, Rollout, Rule, Serve, WeightedVariation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

/// The id of the rule a plan adds for its segment stages.
pub const RELEASE_RULE_ID: &str = "daylight-release";

/// The longest `hold_seconds` (a year). Far beyond any release, and far
/// from overflowing the millisecond arithmetic; a stage that should wait
/// longer waits for `skip` (no hold).
pub const MAX_HOLD_SECONDS: u64 = 365 * 24 * 3600;

/// The longest guard window (30 days).
pub const MAX_WINDOW_SECONDS: u64 = 30 * 24 * 3600;

/// What the user asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanSpec {
    /// Index of the variation being released.
    pub variation: usize,
    /// Index of the variation it replaces (default: what the fallthrough
    /// serves now, when that is one variation).
    #[serde(default)]
    pub from_variation: Option<usize>,
    /// Attribute to bucket by (default `key`), e.g. `table_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_by: Option<String>,
    /// Hash salt (default: the flag key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    pub stages: Vec<Stage>,
    /// Pause or roll back by itself when the new variation does harm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<Guard>,
}

/// One step of a plan: a weight or a segment, and when to move on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Share of the fallthrough served the new variation, in thousandths of
    /// a percent (1000 = 1%, 100000 = everyone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Or: a segment served the new variation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// How long the stage lasts before the next one starts. Without it (and
    /// without a `start_at` on the next stage) the plan waits for `skip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_seconds: Option<u64>,
    /// Not before this time (RFC 3339), e.g. after the evening's games.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
}

/// A harm check on the new variation, from the usage SDKs report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Guard {
    /// The app-reported event to watch, e.g. `checkout_error`.
    pub event: String,
    /// The window the rates are computed over.
    #[serde(default = "default_window")]
    pub window_seconds: u64,
    /// Trip when events per evaluation of the new variation exceed this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<f64>,
    /// Trip when the new variation's rate exceeds the old one's by this
    /// factor (the old rate counts as at least one event per window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ratio: Option<f64>,
    /// Judge only once the new variation has this many evaluations in the
    /// window.
    #[serde(default = "default_min_evaluations")]
    pub min_evaluations: u64,
    #[serde(default)]
    pub action: GuardAction,
}

fn default_window() -> u64 {
    300
}

fn default_min_evaluations() -> u64 {
    100
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GuardAction {
    Pause,
    #[default]
    Rollback,
}

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

impl PlanSpec {
    /// Checks what can be checked without the flag: at least one stage, each
    /// a weight or a segment, weights within 0..=100000 and not going down,
    /// times that parse, a guard with a threshold.
    pub fn validate(&self) -> Result<(), ApiError> {
        if self.stages.is_empty() {
            return Err(ApiError::invalid("stages", "a plan needs at least one stage"));
        }
        let mut last_weight = 0;
        for (i, stage) in self.stages.iter().enumerate() {
            let field = |name: &str| format!("stages[{i}].{name}");
            match (stage.weight, &stage.segment) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(ApiError::invalid(
                        format!("stages[{i}]"),
                        "a stage has either a weight or a segment",
                    ))
                }
                (Some(w), None) if w > 100_000 => {
                    return Err(ApiError::invalid(
                        field("weight"),
                        "weights are 0..=100000 (100000 = 100%)",
                    ))
                }
                (Some(w), None) if w < last_weight => {
                    return Err(ApiError::invalid(
                        field("weight"),
                        "weights may not go down from one stage to the next (roll back instead)",
                    ))
                }
                (Some(w), None) => last_weight = w,
                (None, Some(s)) if s.is_empty() => {
                    return Err(ApiError::invalid(field("segment"), "empty segment key"))
                }
                (None, Some(_)) => {}
            }
            if stage.hold_seconds.is_some_and(|h| h > MAX_HOLD_SECONDS) {
                return Err(ApiError::invalid(
                    field("hold_seconds"),
                    format!("at most {MAX_HOLD_SECONDS} (a year); leave it out to wait for a skip"),
                ));
            }
            if let Some(t) = &stage.start_at {
                if daylight::parse_rfc3339_ms(t).is_none() {
                    return Err(ApiError::invalid(field("start_at"), "not an RFC 3339 time"));
                }
            }
        }
        if let Some(guard) = &self.guard {
            if guard.event.is_empty() {
                return Err(ApiError::invalid("guard.event", "name the event to watch"));
            }
            if guard.max_rate.is_none() && guard.max_ratio.is_none() {
                return Err(ApiError::invalid("guard", "a guard needs max_rate or max_ratio"));
            }
            for (name, v) in [("max_rate", guard.max_rate), ("max_ratio", guard.max_ratio)] {
                if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                    return Err(ApiError::invalid(format!("guard.{name}"), "a non-negative number"));
                }
            }
            if guard.window_seconds == 0 || guard.window_seconds > MAX_WINDOW_SECONDS {
                return Err(ApiError::invalid(
                    "guard.window_seconds",
                    format!("1 to {MAX_WINDOW_SECONDS} (30 days)"),
                ));
            }
        }
        Ok(())
    }

    fn start_at(&self, stage: usize) -> Option<i64> {
        self.stages
            .get(stage)
            .and_then(|s| s.start_at.as_deref())
            .and_then(daylight::parse_rfc3339_ms)
    }

    /// When a stage that started at `started` gives way to the next one.
    fn due(&self, stage: usize, started: i64) -> Option<i64> {
        // Saturating, never wrapping: a hold too long for an i64 of
        // milliseconds (stored before the cap) means "not in our lifetime",
        // not a time in the past.
        let hold = self.stages[stage].hold_seconds.map(|s| {
            let ms = i64::try_from(s).unwrap_or(i64::MAX).saturating_mul(1000);
            started.saturating_add(ms)
        });
        match (hold, self.start_at(stage + 1)) {
            (Some(h), Some(t)) => Some(h.max(t)),
            (h, t) => h.or(t),
        }
    }

    /// The first stage may itself wait for its start time.
    fn first_due(&self, now: i64) -> Option<i64> {
        self.start_at(0).filter(|t| *t > now)
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

/// `base` (the flag's config in the plan's environment) with the plan's
/// effect in its current state.
pub fn apply(spec: &PlanSpec, p: &Progress, base: &FlagConfig) -> FlagConfig {
    let mut config = base.clone();
    config.rules.retain(|r| r.id != RELEASE_RULE_ID);
    match p.state {
        State::Pending => {}
        State::Running | State::Paused => {
            if applied_stage(spec, p).is_some() {
                config.on = true;
            }
            let from = p.original_fallthrough.clone().unwrap_or_default();
            let reached = applied_stage(spec, p).map_or(0, |i| i + 1);
            let stages = &spec.stages[..reached];
            let weight = stages.iter().filter_map(|s| s.weight).next_back();
            config.fallthrough = match (weight, spec.from_variation) {
                (Some(w), Some(old)) => Serve {
                    variation: None,
                    rollout: Some(Rollout {
                        // The new variation first: raising its weight keeps
                        // every context that was already in.
                        variations: vec![
                            WeightedVariation {
                                variation: spec.variation,
                                weight: w,
                            },
                            WeightedVariation {
                                variation: old,
                                weight: 100_000 - w,
                            },
                        ],
                        bucket_by: spec.bucket_by.clone(),
                        salt: spec.salt.clone(),
                    }),
                },
                _ => from,
            };
            let segments: Vec<serde_json::Value> = stages
                .iter()
                .filter_map(|s| s.segment.clone().map(serde_json::Value::String))
                .collect();
            if !segments.is_empty() {
                config.rules.insert(
                    0,
                    Rule {
                        id: RELEASE_RULE_ID.into(),
                        description: "Added by a release plan".into(),
                        clauses: vec![Clause {
                            attribute: "key".into(),
                            op: Op::InSegment,
                            values: segments,
                            negate: false,
                            case_insensitive: false,
                        }],
                        serve: Serve::variation(spec.variation),
                    },
                );
            }
        }
        State::Completed => {
            config.on = true;
            config.fallthrough = Serve::variation(spec.variation);
        }
        State::RolledBack => {
            if let Some(on) = p.original_on {
                config.on = on;
            }
            if let Some(fallthrough) = &p.original_fallthrough {
                config.fallthrough = fallthrough.clone();
            }
        }
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn stage(weight: u32, hold_minutes: u64) -> Stage {
        Stage {
            weight: Some(weight),
            segment: None,
            hold_seconds: Some(hold_minutes * 60),
            start_at: None,
        }
    }

    /// 1% → 5% → 25% → 100%, an hour each.
    fn spec() -> PlanSpec {
        PlanSpec {
            variation: 1,
            from_variation: Some(0),
            bucket_by: Some("table_id".into()),
            salt: None,
            stages: vec![stage(1000, 60), stage(5000, 60), stage(25_000, 60), stage(100_000, 60)],
            guard: None,
        }
    }

    fn started(spec: &PlanSpec, at: i64) -> Progress {
        let mut p = Progress::pending();
        p.original_on = Some(false);
        p.original_fallthrough = Some(Serve::variation(0));
        transition(spec, &p, Action::Start, at).unwrap()
    }

    fn weight(config: &FlagConfig) -> Option<u32> {
        config.fallthrough.rollout.as_ref().map(|r| r.variations[0].weight)
    }

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
    fn huge_holds_are_refused_and_never_wrap_into_the_past() {
        let mut s = spec();
        s.stages[0].hold_seconds = Some(10u64.pow(16));
        let err = s.validate().unwrap_err();
        assert!(
            matches!(&err, ApiError::Invalid { field: Some(f), .. } if f == "stages[0].hold_seconds"),
            "{err:?}"
        );
        s.stages[0].hold_seconds = Some(MAX_HOLD_SECONDS);
        assert!(s.validate().is_ok());
        // A plan stored before the cap: its stage is not due a second later.
        let now = 1_800_000_000_000;
        for hold in [10u64.pow(16), i64::MAX as u64, u64::MAX] {
            s.stages[0].hold_seconds = Some(hold);
            let p = started(&s, now);
            assert!(
                p.next_at.is_some_and(|t| t > now + 1000),
                "hold {hold}: {:?}",
                p.next_at
            );
            assert!(transition(&s, &p, Action::Advance, now + 1000).is_err(), "hold {hold}");
            // Pausing and resuming keep it far away.
            let paused = transition(&s, &p, Action::Pause, now + 1000).unwrap();
            let resumed = transition(&s, &paused, Action::Resume, now + 2000).unwrap();
            assert!(resumed.next_at.is_some_and(|t| t > now + 2000), "hold {hold}");
        }
        s.stages[0].hold_seconds = Some(60);
        s.guard = Some(Guard {
            event: "checkout_error".into(),
            window_seconds: u64::MAX,
            max_rate: Some(0.1),
            max_ratio: None,
            min_evaluations: 100,
            action: GuardAction::Pause,
        });
        assert!(s.validate().is_err(), "a guard window beyond the cap");
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
    fn rollback_restores_the_fallthrough_and_on_state_and_keeps_other_edits() {
        let s = spec();
        let p = started(&s, 0);
        let mut base = FlagConfig::dark(0);
        base.targets.push(daylight::model::Target {
            variation: 1,
            values: vec!["staff-1".into()],
        });
        let running = apply(&s, &p, &base);
        assert!(running.on);
        assert_eq!(weight(&running), Some(1000));
        let rolled = transition(&s, &p, Action::Rollback, 10 * MIN).unwrap();
        assert_eq!(rolled.state, State::RolledBack);
        let after = apply(&s, &rolled, &running);
        assert!(!after.on);
        assert_eq!(after.fallthrough, Serve::variation(0));
        assert_eq!(after.targets, base.targets, "targets edited by others survive");
        assert!(transition(&s, &rolled, Action::Start, 11 * MIN).is_err());
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

    #[test]
    fn segment_stages_add_one_rule_and_weights_stay_sticky() {
        let mut s = spec();
        s.stages.insert(
            0,
            Stage {
                weight: None,
                segment: Some("staff".into()),
                hold_seconds: None,
                start_at: None,
            },
        );
        let p = started(&s, 0);
        let config = apply(&s, &p, &FlagConfig::dark(0));
        assert_eq!(config.rules.len(), 1);
        assert_eq!(config.rules[0].id, RELEASE_RULE_ID);
        assert_eq!(config.fallthrough, Serve::variation(0), "no weight stage yet");
        // No hold: waits for a manual skip.
        assert_eq!(p.next_at, None);
        assert!(transition(&s, &p, Action::Advance, 1000 * MIN).is_err());
        let p = transition(&s, &p, Action::Skip, MIN).unwrap();
        let again = apply(&s, &p, &config);
        assert_eq!(again.rules.len(), 1, "the plan's rule is replaced, not added twice");
        let rollout = again.fallthrough.rollout.unwrap();
        assert_eq!(rollout.variations[0].variation, 1, "new variation first");
        assert_eq!(rollout.bucket_by.as_deref(), Some("table_id"));
    }

    #[test]
    fn validation_names_the_field() {
        let mut s = spec();
        s.stages[2].weight = Some(500);
        let err = s.validate().unwrap_err();
        assert!(matches!(err, ApiError::Invalid { field: Some(ref f), .. } if f == "stages[2].weight"));
        let mut s = spec();
        s.stages[1].start_at = Some("tomorrow".into());
        assert!(
            matches!(s.validate().unwrap_err(), ApiError::Invalid { field: Some(ref f), .. } if f == "stages[1].start_at")
        );
        let mut s = spec();
        s.stages.clear();
        assert!(s.validate().is_err());
        assert!(spec().validate().is_ok());
    }
}
