use serde_json::json;

use super::*;
use crate::bucket::bucket_of;
use crate::{Ruleset, RulesetDocument};

/// A flag with a prerequisite, targets, a clause rule, a segment rule
/// and a 10% rollout bucketed by `player_id`.
fn ruleset() -> Ruleset {
    let doc: RulesetDocument = serde_json::from_value(json!({
        "environment": "test", "version": 1,
        "flags": {
            "base": {"variations": [false, true], "on": true, "off_variation": 0, "fallthrough": {"variation": 1}},
            "lobby": {
                "variations": [false, true], "on": true, "off_variation": 0,
                "prerequisites": [{"flag": "base", "variation": 1}],
                "targets": [{"variation": 1, "values": ["vip-1", "vip-2"]}],
                "rules": [
                    {"id": "kiwis", "clauses": [
                        {"attribute": "country", "op": "in", "values": ["NZ"]},
                        {"attribute": "game", "op": "starts_with", "values": ["om"]}
                    ], "serve": {"variation": 1}},
                    {"id": "vips", "clauses": [{"op": "in_segment", "values": ["vip"]}], "serve": {"variation": 1}}
                ],
                "fallthrough": {"rollout": {"bucket_by": "player_id", "salt": "lobby-salt",
                    "variations": [{"variation": 1, "weight": 10000}, {"variation": 0, "weight": 90000}]}}
            },
            "dark": {"variations": [false, true], "on": false, "off_variation": 0, "fallthrough": {"variation": 1}}
        },
        "segments": {"vip": {"included": ["in-1"], "excluded": ["out-1"],
            "rules": [{"clauses": [{"attribute": "tier", "op": "in", "values": ["gold"]}]}]}}
    }))
    .unwrap();
    Ruleset::compile(&doc).unwrap()
}

fn traced(ctx: &Context) -> (Option<usize>, Vec<Step>) {
    let rules = ruleset();
    let (detail, trace) = rules.evaluate_traced("lobby", ctx);
    // The traced evaluation answers exactly what the plain one does,
    // and so does the one that reports the bucket.
    assert_eq!(detail, rules.evaluate("lobby", ctx));
    let (bucketed, bucket) = rules.evaluate_with_bucket("lobby", ctx);
    assert_eq!(bucketed, detail);
    assert_eq!(bucket, rules.rollout_bucket("lobby", &detail.reason, ctx));
    (detail.variation, trace.steps)
}

fn rule(steps: &[Step], index: usize) -> (&[ClauseStep], bool) {
    steps
        .iter()
        .find_map(|s| match s {
            Step::Rule {
                index: i,
                clauses,
                matched,
                ..
            } if *i == index => Some((clauses.as_slice(), *matched)),
            _ => None,
        })
        .expect("rule step")
}

fn rollout(steps: &[Step]) -> &RolloutStep {
    steps
        .iter()
        .find_map(|s| match s {
            Step::Rollout(r) => Some(r),
            _ => None,
        })
        .expect("rollout step")
}

#[test]
fn the_bucket_is_reported_only_when_a_rollout_picked_the_variation() {
    let mut picked = 0;
    for i in 0..200 {
        let ctx = Context::new(format!("u{i}")).with("player_id", format!("p{i}"));
        let (variation, steps) = traced(&ctx);
        let (_, bucket) = ruleset().evaluate_with_bucket("lobby", &ctx);
        assert_eq!(bucket, rollout(&steps).bucket, "the trace's bucket for p{i}");
        assert!(bucket.is_some());
        picked += usize::from(variation == Some(1));
    }
    assert!(
        (5..=40).contains(&picked),
        "about 10% of 200 get the rollout's true: {picked}"
    );
    // A target match, a rule match, a missing bucket value: no bucket.
    for ctx in [
        Context::new("vip-1"),
        Context::new("u").with("tier", "gold"),
        Context::new("u"),
    ] {
        assert_eq!(ruleset().evaluate_with_bucket("lobby", &ctx).1, None);
    }
}

#[test]
fn off_is_one_step() {
    let rules = ruleset();
    let (detail, trace) = rules.evaluate_traced("dark", &Context::new("u"));
    assert_eq!(detail.variation, Some(0));
    assert_eq!(trace.steps, vec![Step::Off]);
    let (_, trace) = rules.evaluate_traced("nope", &Context::new("u"));
    assert_eq!(trace.steps, vec![Step::NotFound]);
}

#[test]
fn prerequisites_say_what_they_served() {
    let (_, steps) = traced(&Context::new("u"));
    assert_eq!(
        steps[0],
        Step::Prerequisite {
            flag: "base".into(),
            variation: 1,
            on: Some(true),
            served: Some(1),
            met: true
        }
    );
    // The prerequisite turned off: the flag stops there.
    let mut doc_rules = ruleset();
    let base = json!({"variations": [false, true], "on": false, "off_variation": 0, "fallthrough": {"variation": 1}});
    doc_rules = doc_rules
        .with_flag("base", Some(&serde_json::from_value(base).unwrap()), 2)
        .unwrap();
    let (detail, trace) = doc_rules.evaluate_traced("lobby", &Context::new("u"));
    assert_eq!(detail.variation, Some(0));
    assert_eq!(
        trace.steps,
        vec![Step::Prerequisite {
            flag: "base".into(),
            variation: 1,
            on: Some(false),
            served: None,
            met: false
        }]
    );
}

#[test]
fn targets_name_the_key_checked() {
    let (variation, steps) = traced(&Context::new("vip-2"));
    assert_eq!(variation, Some(1));
    assert_eq!(
        steps[1],
        Step::Targets {
            key: Some("vip-2".into()),
            targeted: 2,
            variation: Some(1)
        }
    );
    assert_eq!(steps.len(), 2, "a target match ends the evaluation");
    let (_, steps) = traced(&Context::new("someone"));
    assert_eq!(
        steps[1],
        Step::Targets {
            key: Some("someone".into()),
            targeted: 2,
            variation: None
        }
    );
}

#[test]
fn every_clause_of_a_rule_is_explained_in_order() {
    // `country` is AU, not in [NZ]; `game` is present and matches.
    let ctx = Context::new("u").with("country", "AU").with("game", "omaha");
    let (_, steps) = traced(&ctx);
    let (clauses, matched) = rule(&steps, 0);
    assert!(!matched);
    assert_eq!(clauses.len(), 2, "clauses after a failing one are explained too");
    assert_eq!(clauses[0].attribute, "country");
    assert_eq!(clauses[0].op, Op::In);
    assert_eq!(clauses[0].value, Some(json!("AU")));
    assert!(!clauses[0].matched && !clauses[0].missing);
    assert!(clauses[1].matched);
    // Rules are in order: rule 1 was tried after rule 0.
    let order: Vec<usize> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Rule { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(order, vec![0, 1]);

    let (variation, steps) = traced(&Context::new("u").with("country", "NZ").with("game", "omaha"));
    assert_eq!(variation, Some(1));
    assert!(rule(&steps, 0).1);
    assert!(!steps.iter().any(|s| matches!(s, Step::Rule { index: 1, .. })));
}

#[test]
fn a_missing_attribute_says_so() {
    let (_, steps) = traced(&Context::new("u").with("game", "omaha"));
    let (clauses, _) = rule(&steps, 0);
    assert!(clauses[0].missing && clauses[0].value.is_none() && !clauses[0].matched);
    assert_eq!(
        serde_json::to_value(&clauses[0]).unwrap(),
        json!({"attribute": "country", "op": "in", "negate": false, "missing": true, "matched": false})
    );
}

#[test]
fn segment_membership_says_why() {
    let membership = |ctx: &Context| {
        let (_, steps) = traced(ctx);
        let (clauses, matched) = rule(&steps, 1);
        (clauses[0].segments[0].clone(), matched)
    };
    let (step, matched) = membership(&Context::new("in-1"));
    assert_eq!((step.membership, matched), (SegmentMembership::Included, true));
    let (step, matched) = membership(&Context::new("out-1").with("tier", "gold"));
    assert_eq!((step.membership, matched), (SegmentMembership::Excluded, false));
    let (step, matched) = membership(&Context::new("x").with("tier", "gold"));
    assert_eq!(
        (step.membership, step.rule_index, matched),
        (SegmentMembership::Rule, Some(0), true)
    );
    let (step, _) = membership(&Context::new("x"));
    assert_eq!(step.membership, SegmentMembership::NotIncluded);
    assert_eq!(step.segment, "vip");
    // `in_segment` reads the targeting key.
    let (_, steps) = traced(&Context::new("x"));
    let (clauses, _) = rule(&steps, 1);
    assert_eq!(
        (clauses[0].attribute.as_str(), clauses[0].value.clone()),
        ("key", Some(json!("x")))
    );
}

#[test]
fn a_rollout_shows_the_bucket_against_the_thresholds() {
    let ctx = Context::new("x").with("player_id", "p-7");
    let (variation, steps) = traced(&ctx);
    assert!(steps.contains(&Step::Fallthrough));
    let r = rollout(&steps);
    assert_eq!(r.bucket_by, "player_id");
    assert_eq!(r.salt, "lobby-salt");
    let bucket = bucket_of("lobby-salt", "p-7");
    assert_eq!(r.bucket, Some(bucket));
    assert_eq!(
        r.thresholds,
        vec![
            Threshold {
                variation: 1,
                from: 0,
                to: 10000
            },
            Threshold {
                variation: 0,
                from: 10000,
                to: 100000
            }
        ]
    );
    let expected = if bucket < 10000 { 1 } else { 0 };
    assert_eq!((r.variation, variation), (expected, Some(expected)));
}

#[test]
fn a_missing_bucket_by_attribute_is_bucket_zero() {
    let (variation, steps) = traced(&Context::new("x"));
    let r = rollout(&steps);
    assert_eq!(r.bucket, None);
    assert_eq!(
        (r.variation, variation),
        (1, Some(1)),
        "bucket 0 falls in the first range"
    );
    // A fraction counts as missing too.
    let (_, steps) = traced(&Context::new("x").with("player_id", 1.5));
    assert_eq!(rollout(&steps).bucket, None);
}

#[test]
fn clause_values_come_from_the_config() {
    let ctx = Context::new("u").with("country", "AU");
    let rules = ruleset();
    let (_, mut trace) = rules.evaluate_traced("lobby", &ctx);
    let config: FlagConfig = serde_json::from_value(json!({
        "on": true, "fallthrough": {"variation": 0},
        "rules": [{"id": "kiwis", "clauses": [
            {"attribute": "country", "op": "in", "values": ["NZ"]},
            {"attribute": "game", "op": "starts_with", "values": ["om"]}], "serve": {"variation": 1}}]
    }))
    .unwrap();
    trace.add_clause_values(&config);
    let (clauses, _) = rule(&trace.steps, 0);
    assert_eq!(clauses[0].values, vec![json!("NZ")]);
    assert_eq!(clauses[1].values, vec![json!("om")]);
}
