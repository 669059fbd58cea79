//! Property tests of the bucketing contract: deterministic, sticky when a
//! rollout grows, and evenly spread.

use daylight::bucket::bucket_of;
use daylight::{Context, Ruleset, RulesetDocument};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::json;

/// A two-variation rollout serving variation 1 to `percent_thousandths`.
fn rollout(weight_on: u32) -> Ruleset {
    let doc: RulesetDocument = serde_json::from_value(json!({
        "flags": { "f": {
            "variations": [false, true], "on": true,
            "fallthrough": { "rollout": { "variations": [
                { "variation": 1, "weight": weight_on },
                { "variation": 0, "weight": 100_000 - weight_on }
            ] } }
        } }
    }))
    .unwrap();
    Ruleset::compile(&doc).unwrap()
}

proptest! {
    #[test]
    fn the_same_input_always_gives_the_same_bucket(salt in ".{0,20}", value in ".{0,300}") {
        let first = bucket_of(&salt, &value);
        prop_assert!(first < 100_000);
        prop_assert_eq!(first, bucket_of(&salt, &value));
    }

    #[test]
    fn raising_the_first_weight_never_moves_a_context_out(
        keys in proptest::collection::vec("[a-z0-9-]{1,24}", 1..200),
        low in 0u32..=100_000,
        raise in 0u32..=100_000,
    ) {
        let high = (low + raise).min(100_000);
        let (before, after) = (rollout(low), rollout(high));
        for key in keys {
            let ctx = Context::new(key.clone());
            if before.bool_variation("f", &ctx, false) {
                prop_assert!(after.bool_variation("f", &ctx, false), "{} left the rollout going {}→{}", key, low, high);
            }
        }
    }
}

#[test]
fn rollouts_land_within_half_a_point_over_100k_keys() {
    // Deterministic "random" keys: a fixed-seed generator, so a failure is reproducible.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let keys: Vec<String> = (0..100_000)
        .map(|_| "[a-zA-Z0-9]{8,16}".new_tree(&mut runner).unwrap().current())
        .collect();
    for percent in [1u32, 10, 50, 90] {
        let rules = rollout(percent * 1_000);
        let on = keys
            .iter()
            .filter(|k| rules.bool_variation("f", &Context::new(k.as_str()), false))
            .count();
        let share = on as f64 * 100.0 / keys.len() as f64;
        assert!(
            (share - f64::from(percent)).abs() <= 0.5,
            "{percent}% rollout served {share:.3}% of 100,000 keys"
        );
    }
}
