//! The guard's judgement: is the new variation doing harm? Pure, so the
//! thresholds are unit-tested; the scheduler feeds it counts from the usage
//! tables.

use super::plan::Guard;

/// Evaluations and events of one variation over the guard's window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub evaluations: i64,
    pub events: i64,
}

impl Counts {
    fn rate(self) -> f64 {
        if self.evaluations <= 0 {
            0.0
        } else {
            self.events as f64 / self.evaluations as f64
        }
    }
}

/// Why the guard trips, or `None` when the new variation looks fine (or has
/// too few evaluations to judge).
pub fn verdict(guard: &Guard, new: Counts, old: Counts) -> Option<String> {
    if new.evaluations < guard.min_evaluations as i64 {
        return None;
    }
    let new_rate = new.rate();
    if let Some(max) = guard.max_rate {
        if new_rate > max {
            return Some(format!(
                "`{}` rate of the new variation is {:.4} per evaluation ({} in {}), above {max}",
                guard.event, new_rate, new.events, new.evaluations
            ));
        }
    }
    if let Some(max) = guard.max_ratio {
        // An old variation with no events counts as one event in its window,
        // so a handful of errors on the new variation is not an infinite ratio.
        let old_rate = if old.evaluations > 0 {
            old.events.max(1) as f64 / old.evaluations as f64
        } else {
            0.0
        };
        if old_rate > 0.0 && new_rate / old_rate > max {
            return Some(format!(
                "`{}` rate of the new variation is {:.1}x the old one's ({:.4} vs {:.4}), above {max}x",
                guard.event,
                new_rate / old_rate,
                new_rate,
                old_rate
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::releases::plan::GuardAction;

    fn guard(max_rate: Option<f64>, max_ratio: Option<f64>) -> Guard {
        Guard {
            event: "checkout_error".into(),
            window_seconds: 60,
            max_rate,
            max_ratio,
            min_evaluations: 100,
            action: GuardAction::Rollback,
        }
    }

    fn c(evaluations: i64, events: i64) -> Counts {
        Counts { evaluations, events }
    }

    #[test]
    fn too_few_evaluations_are_not_judged() {
        assert_eq!(verdict(&guard(Some(0.01), None), c(99, 99), c(1000, 0)), None);
        assert!(verdict(&guard(Some(0.01), None), c(100, 99), c(1000, 0)).is_some());
    }

    #[test]
    fn absolute_rate() {
        let g = guard(Some(0.05), None);
        assert_eq!(verdict(&g, c(1000, 50), c(0, 0)), None, "at the threshold is fine");
        assert!(verdict(&g, c(1000, 51), c(0, 0)).unwrap().contains("above 0.05"));
    }

    #[test]
    fn ratio_against_the_old_variation() {
        let g = guard(None, Some(2.0));
        assert_eq!(verdict(&g, c(1000, 20), c(10_000, 100)), None, "2x exactly is fine");
        assert!(verdict(&g, c(1000, 21), c(10_000, 100)).is_some());
        // The old variation had no errors: counts as one, so 5 errors in 1000
        // against 1 in 10,000 is 50x.
        assert!(verdict(&g, c(1000, 5), c(10_000, 0)).is_some());
        assert_eq!(verdict(&g, c(1000, 0), c(10_000, 0)), None);
        // Nothing to compare with: the ratio cannot trip.
        assert_eq!(verdict(&g, c(1000, 500), c(0, 0)), None);
    }
}
