//! The Unleash translation's unit tests: unmapped parents, refused keys, rule order.

use super::*;
use crate::flagfile::import::Fidelity;

#[test]
fn a_child_of_an_unmapped_parent_is_left_out_with_it() {
    let imported = translate(
        r#"{"version": 2, "features": [
            {"name": "parent", "enabled": true, "strategies": [{"name": "custom", "parameters": {}}]},
            {"name": "child", "enabled": true, "strategies": [], "dependencies": [{"feature": "parent"}]}]}"#,
        "production",
    )
    .unwrap();
    assert!(imported.file.flags.is_empty());
    let child = imported.report.flag("child").unwrap();
    assert_eq!(child.result, Fidelity::Unmapped);
    assert_eq!(imported.report.unmapped, 2);
}

#[test]
fn a_name_daylight_refuses_as_a_key_is_unmapped_with_the_reason() {
    let imported = translate(
        r#"{"version": 2, "features": [{"name": "new lobby", "enabled": true, "strategies": []}]}"#,
        "production",
    )
    .unwrap();
    assert!(imported.file.flags.is_empty());
    let report = imported.report.flag("new lobby").unwrap();
    assert_eq!(report.result, Fidelity::Unmapped);
    assert!(report.notes[0].contains("at `key`"), "{report:?}");
}

#[test]
fn rollouts_come_after_the_strategies_that_always_match_their_contexts() {
    let imported = translate(
        r#"{"version": 2, "features": [{"name": "f", "enabled": true, "strategies": [
            {"name": "flexibleRollout", "parameters": {"rollout": "10", "stickiness": "userId", "groupId": "g"}},
            {"name": "userWithId", "parameters": {"userIds": "a, b"}}]}]}"#,
        "production",
    )
    .unwrap();
    let config = &imported.file.flags[0].environments["production"];
    assert_eq!(
        config.rules.len(),
        1,
        "the rollout has no clause: it is the fallthrough"
    );
    assert_eq!(
        config.rules[0].clauses[0].values,
        vec![Value::from("a"), Value::from("b")]
    );
    let rollout = config.fallthrough.rollout.as_ref().unwrap();
    assert_eq!(rollout.salt.as_deref(), Some("g"));
    let weights: Vec<(usize, u32)> = rollout.variations.iter().map(|v| (v.variation, v.weight)).collect();
    assert_eq!(weights, vec![(0, 90_000), (1, 10_000)]);
    assert_eq!(imported.report.approximate, 1);
}
