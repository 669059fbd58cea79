//! What a plan does to the flag's config in its environment, in each state.

use daylight::model::{Clause, FlagConfig, Op, Rollout, Rule, Serve, WeightedVariation};

use super::spec::PlanSpec;
use super::transition::{applied_stage, Progress, State};

/// The id of the rule a plan adds for its segment stages.
pub const RELEASE_RULE_ID: &str = "daylight-release";

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
                        variations: weighted(&from, spec.variation, old, w),
                        bucket_by: spec.bucket_by.clone(),
                        salt: spec.salt.clone(),
                        cohort: None,
                        cohort_in: None,
                        cohort_out: None,
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

/// The plan's rollout at weight `w` for the new variation. When the flag
/// already had a rollout between the two (`from`), its order is kept, so
/// raising the weight keeps every context that was already in; otherwise the
/// new variation comes first, for the same reason.
fn weighted(from: &Serve, new: usize, old: usize, w: u32) -> Vec<WeightedVariation> {
    let weight = |v: usize| if v == new { w } else { 100_000 - w };
    if let Some(rollout) = &from.rollout {
        let pair = rollout
            .variations
            .iter()
            .all(|x| x.variation == new || x.variation == old || x.weight == 0);
        let order: Vec<usize> = rollout
            .variations
            .iter()
            .filter(|x| x.variation == new || x.variation == old)
            .map(|x| x.variation)
            .collect();
        if pair && order.len() == 2 && order[0] != order[1] {
            return order
                .into_iter()
                .map(|variation| WeightedVariation {
                    variation,
                    weight: weight(variation),
                })
                .collect();
        }
    }
    [new, old]
        .into_iter()
        .map(|variation| WeightedVariation {
            variation,
            weight: weight(variation),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{spec, started, weight, MIN};
    use super::super::spec::Stage;
    use super::super::transition::{transition, Action};
    use super::*;

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
    fn a_plan_from_a_rollout_keeps_its_order_and_raises_the_share() {
        let s = spec();
        let mut base = FlagConfig::dark(0);
        base.fallthrough = Serve {
            variation: None,
            rollout: Some(Rollout {
                variations: vec![
                    WeightedVariation {
                        variation: 0,
                        weight: 99_500,
                    },
                    WeightedVariation {
                        variation: 1,
                        weight: 500,
                    },
                ],
                bucket_by: None,
                salt: None,
                cohort: None,
                cohort_in: None,
                cohort_out: None,
            }),
        };
        let mut p = started(&s, 0);
        p.original_fallthrough = Some(base.fallthrough.clone());
        let running = apply(&s, &p, &base);
        let rollout = running.fallthrough.rollout.unwrap();
        assert_eq!(
            rollout.variations[0],
            WeightedVariation {
                variation: 0,
                weight: 99_000
            }
        );
        assert_eq!(
            rollout.variations[1],
            WeightedVariation {
                variation: 1,
                weight: 1000
            }
        );
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
}
