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
//!
//! - `spec`: what a person asks for (`PlanSpec`) and its validation;
//! - `transition`: where a plan is (`Progress`) and the state machine;
//! - `apply`: what the plan does to the flag's config.

mod apply;
mod spec;
mod transition;

pub use apply::{apply, RELEASE_RULE_ID};
pub use spec::{percent, Guard, GuardAction, PlanSpec, Stage, MAX_HOLD_SECONDS, MAX_WINDOW_SECONDS};
pub use transition::{applied_stage, transition, Action, NotAllowed, Progress, State};

/// Plans the tests of every part start from.
#[cfg(test)]
mod fixtures {
    use daylight::model::{FlagConfig, Serve};

    use super::*;

    pub const MIN: i64 = 60_000;

    pub fn stage(weight: u32, hold_minutes: u64) -> Stage {
        Stage {
            weight: Some(weight),
            segment: None,
            hold_seconds: Some(hold_minutes * 60),
            start_at: None,
        }
    }

    /// 1% → 5% → 25% → 100%, an hour each.
    pub fn spec() -> PlanSpec {
        PlanSpec {
            variation: 1,
            from_variation: Some(0),
            bucket_by: Some("table_id".into()),
            salt: None,
            stages: vec![stage(1000, 60), stage(5000, 60), stage(25_000, 60), stage(100_000, 60)],
            guard: None,
        }
    }

    pub fn started(spec: &PlanSpec, at: i64) -> Progress {
        let mut p = Progress::pending();
        p.original_on = Some(false);
        p.original_fallthrough = Some(Serve::variation(0));
        transition(spec, &p, Action::Start, at).unwrap()
    }

    /// The new variation's weight in the fallthrough, if it is a rollout.
    pub fn weight(config: &FlagConfig) -> Option<u32> {
        config.fallthrough.rollout.as_ref().map(|r| r.variations[0].weight)
    }
}
