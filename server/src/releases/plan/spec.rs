//! What a person asks of a plan (`PlanSpec`: stages, holds, start times, a
//! guard), what can be checked of it without the flag, and when its stages
//! fall due.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

/// The longest `hold_seconds` (a year). Far beyond any release, and far
/// from overflowing the millisecond arithmetic; a stage that should wait
/// longer waits for `skip` (no hold).
pub const MAX_HOLD_SECONDS: u64 = 365 * 24 * 3600;

/// The longest guard window (30 days).
pub const MAX_WINDOW_SECONDS: u64 = 30 * 24 * 3600;

/// A weight (thousandths of a percent) as a percentage for people: 1500 → "1.5".
pub fn percent(weight: u32) -> String {
    let whole = weight / 1000;
    let rest = weight % 1000;
    if rest == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{rest:03}").trim_end_matches('0').to_owned()
    }
}

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

impl Guard {
    /// A guard on `event` with the default window and minimum evaluations,
    /// rolling back; it still needs `max_rate` or `max_ratio`.
    pub fn new(event: String) -> Guard {
        Guard {
            event,
            window_seconds: default_window(),
            max_rate: None,
            max_ratio: None,
            min_evaluations: default_min_evaluations(),
            action: GuardAction::default(),
        }
    }
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

    pub(super) fn start_at(&self, stage: usize) -> Option<i64> {
        self.stages
            .get(stage)
            .and_then(|s| s.start_at.as_deref())
            .and_then(daylight::parse_rfc3339_ms)
    }

    /// When a stage that started at `started` gives way to the next one.
    pub(super) fn due(&self, stage: usize, started: i64) -> Option<i64> {
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
    pub(super) fn first_due(&self, now: i64) -> Option<i64> {
        self.start_at(0).filter(|t| *t > now)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{spec, started};
    use super::super::transition::{transition, Action};
    use super::*;

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
}
