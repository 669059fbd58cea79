//! The typical flag of the benchmarks and the allocation test: 100 targets,
//! rule 1 `in_segment` of a 10,000-key segment, rule 2 `game in [omaha,
//! holdem]`, fallthrough a 50/50 rollout. Shared by `benches/` and `tests/`.
#![allow(dead_code)]

use daylight::{Context, Ruleset, RulesetDocument};
use serde_json::json;

pub const FLAG: &str = "typical";

pub fn document() -> RulesetDocument {
    let targets: Vec<String> = (1..=100).map(|i| format!("u{i}")).collect();
    let segment: Vec<String> = (1..=10_000).map(|i| format!("s{i}")).collect();
    serde_json::from_value(json!({
        "environment": "bench",
        "version": 1,
        "flags": { FLAG: {
            "variations": [false, true],
            "on": true,
            "off_variation": 0,
            "targets": [{ "variation": 1, "values": targets }],
            "rules": [
                { "id": "cohort", "clauses": [{ "op": "in_segment", "values": ["cohort"] }], "serve": { "variation": 1 } },
                { "id": "games", "clauses": [{ "attribute": "game", "op": "in", "values": ["omaha", "holdem"] }], "serve": { "variation": 1 } }
            ],
            "fallthrough": { "rollout": { "variations": [
                { "variation": 0, "weight": 50000 }, { "variation": 1, "weight": 50000 }
            ] } }
        } },
        "segments": { "cohort": { "included": segment } }
    }))
    .expect("the typical flag is a valid document")
}

pub fn ruleset() -> Ruleset {
    Ruleset::compile(&document()).expect("the typical flag compiles")
}

/// One context per evaluation path: target hit, segment hit, game rule,
/// rollout (a key in neither list, playing another game).
pub fn contexts() -> [(&'static str, Context); 4] {
    [
        ("target", Context::new("u42").with("game", "poker")),
        ("segment", Context::new("s5000").with("game", "poker")),
        ("rule", Context::new("p-77").with("game", "omaha")),
        ("rollout", Context::new("p-78").with("game", "poker")),
    ]
}
