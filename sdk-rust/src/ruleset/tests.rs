//! The ruleset's unit tests: the regex budgets per clause, flag, segment
//! and environment.

use serde_json::json;

use super::*;
use crate::model::Flag;
use crate::portable_regex::{self, CLAUSE_BUDGET, FLAG_BUDGET};

/// A pattern of about 0.9 MiB compiled: the largest kind a clause takes.
const BIG: &str = ".{650}";

fn big_bytes() -> usize {
    portable_regex::compile(BIG, false).unwrap().memory_usage()
}

fn flag_rules(rules: usize, pattern: &str) -> FlagRules {
    let rules: Vec<Value> = (0..rules)
        .map(|i| json!({"id": format!("r{i}"), "clauses": [{"attribute": "a", "op": "matches", "values": [pattern]}], "serve": {"variation": 1}}))
        .collect();
    serde_json::from_value(json!({
        "variations": [false, true], "on": true, "off_variation": 0,
        "rules": rules, "fallthrough": {"variation": 0}
    }))
    .unwrap()
}

fn document(flags: usize, rules_per_flag: usize) -> RulesetDocument {
    let flags: serde_json::Map<String, Value> = (0..flags)
        .map(|i| {
            (
                format!("f{i:02}"),
                serde_json::to_value(flag_rules(rules_per_flag, BIG)).unwrap(),
            )
        })
        .collect();
    serde_json::from_value(json!({"environment": "test", "version": 1, "flags": flags})).unwrap()
}

/// How many `BIG` rules fill `budget`, and one more.
fn over(budget: usize) -> usize {
    budget / big_bytes() + 1
}

#[test]
fn a_clause_has_a_budget() {
    let size = big_bytes();
    assert!(size > CLAUSE_BUDGET / 2 && size <= CLAUSE_BUDGET, "{size}");
    let mut rules = flag_rules(1, BIG);
    rules.config.rules[0].clauses[0].values.push(json!(BIG));
    let e = Ruleset::default().with_flag("f", Some(&rules), 1).unwrap_err();
    assert_eq!(e.path, "flags.f.rules[0].clauses[0].values[1]");
    assert!(e.message.contains("over the 1024 KiB a clause may take"), "{e}");
}

#[test]
fn a_flag_has_a_budget() {
    let n = over(FLAG_BUDGET);
    Ruleset::default()
        .with_flag("f", Some(&flag_rules(n - 1, BIG)), 1)
        .unwrap();
    let e = Ruleset::default()
        .with_flag("f", Some(&flag_rules(n, BIG)), 1)
        .unwrap_err();
    assert_eq!(e.path, format!("flags.f.rules[{}].clauses[0].values", n - 1));
    assert!(e.message.contains("over the 4 MiB a flag or segment may take"), "{e}");
}

#[test]
fn a_segment_has_a_budget() {
    let n = over(FLAG_BUDGET);
    let rules: Vec<Value> = (0..n)
        .map(|_| json!({"clauses": [{"attribute": "a", "op": "matches", "values": [BIG]}]}))
        .collect();
    let segment: SegmentRules = serde_json::from_value(json!({"rules": rules})).unwrap();
    let e = validate_segment(&segment).unwrap_err();
    assert_eq!(e.path, format!("rules[{}].clauses[0].values", n - 1));
}

#[test]
fn the_server_names_the_field_at_save() {
    let flag: Flag = serde_json::from_value(json!({
        "key": "b", "variations": [false, true],
        "environments": {"production": serde_json::to_value(flag_rules(1, ".{5000}")).unwrap()}
    }))
    .unwrap();
    let e = validate_flag(&flag, &|_, _| true).unwrap_err();
    assert_eq!(e.path, "environments.production.rules[0].clauses[0].values[0]");
    assert!(e.message.contains("may not exceed 1000"), "{e}");
}

/// 150 rules of the largest accepted pattern over 38 flags: the budget
/// stops the environment at 32 MiB, whichever way it is built.
#[test]
fn an_environment_has_a_budget() {
    let per_flag = over(FLAG_BUDGET) - 1;
    let flags = over(ENVIRONMENT_BUDGET).div_ceil(per_flag);
    let e = Ruleset::compile(&document(flags, per_flag)).unwrap_err();
    assert!(e.path.starts_with("flags.f") && e.path.ends_with(".rules"), "{e}");
    assert!(e.message.contains("over the 32 MiB an environment may take"), "{e}");

    let full = Ruleset::compile(&document(flags - 1, per_flag)).unwrap();
    let extra = flag_rules(per_flag, BIG);
    let e = full.with_flag("new", Some(&extra), 2).unwrap_err();
    assert_eq!(e.path, "flags.new.rules");
    let segment: SegmentRules = serde_json::from_value(json!({
        "rules": (0..per_flag).map(|_| json!({"clauses": [{"attribute": "a", "op": "matches", "values": [BIG]}]})).collect::<Vec<_>>()
    }))
    .unwrap();
    let e = full.with_segment("s", Some(&segment), 2).unwrap_err();
    assert_eq!(e.path, "segments.s.rules");

    // Room made by removing a flag is room again.
    let smaller = full.with_flag("f00", None, 2).unwrap();
    smaller.with_flag("new", Some(&extra), 3).unwrap();
}

/// A change that does not grow the patterns always applies: the kill
/// switch works even in an environment already over the budget (stored
/// before the budget existed, or under a larger one).
#[test]
fn a_change_that_does_not_grow_is_never_refused() {
    let per_flag = over(FLAG_BUDGET) - 1;
    let flags = over(ENVIRONMENT_BUDGET).div_ceil(per_flag);
    let mut ruleset = Ruleset::compile(&document(flags - 1, per_flag)).unwrap();
    // Over the budget by construction, as an old store could be.
    ruleset.regex_bytes += ENVIRONMENT_BUDGET;
    let mut off = flag_rules(per_flag, BIG);
    off.config.on = false;
    let next = ruleset.with_flag("f00", Some(&off), 2).unwrap();
    assert_eq!(next.regex_bytes, ruleset.regex_bytes);
    assert!(next.with_flag("f00", Some(&flag_rules(per_flag + 1, BIG)), 3).is_err());
}
