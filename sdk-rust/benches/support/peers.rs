//! The typical flag of `typical.rs` written for the two peer engines, and the
//! contexts of its four paths, for `benches/evaluation.rs` and
//! `benches/allocations.rs` (docs/benchmarks.md).
//!
//! - unleash-yggdrasil: one feature with four strategies, in order:
//!   `userWithId` (the 100 targets), `flexibleRollout` 100% with a segment
//!   (`userId IN` the 10,000 keys), `flexibleRollout` 100% constrained to
//!   `game IN [omaha, holdem]`, `flexibleRollout` 50%.
//! - launchdarkly-server-sdk-evaluation: the same flag in LD's model (targets,
//!   rule 1 `segmentMatch`, rule 2 `game in`, fallthrough rollout 50000/50000)
//!   and the segment (`included` the 10,000 keys).
#![allow(dead_code)]

use std::collections::HashMap;

use launchdarkly_server_sdk_evaluation as ld;
use serde_json::json;
use unleash_yggdrasil as ygg;

use super::typical;

/// The four paths: (name, key, game). The same contexts as `typical::contexts()`.
pub const PATHS: [(&str, &str, &str); 4] = [
    ("target", "u42", "poker"),
    ("segment", "s5000", "poker"),
    ("rule", "p-77", "omaha"),
    ("rollout", "p-78", "poker"),
];

/// The paths must be the ones `typical.rs` evaluates.
pub fn check_paths_match_typical() {
    for ((name, ctx), (path, key, _)) in typical::contexts().iter().zip(PATHS) {
        assert_eq!(
            (*name, ctx.key()),
            (path, Some(key)),
            "PATHS drifted from typical::contexts()"
        );
    }
}

fn target_keys() -> Vec<String> {
    (1..=100).map(|i| format!("u{i}")).collect()
}

fn segment_keys() -> Vec<String> {
    (1..=10_000).map(|i| format!("s{i}")).collect()
}

// ---------------------------------------------------------------- Unleash

pub fn unleash_engine() -> ygg::EngineState {
    unleash_engine_with_strategies(4)
}

/// The feature with only its first `n` strategies (to check which strategy
/// serves each path: `is_enabled` gives no reason).
pub fn unleash_engine_with_strategies(n: usize) -> ygg::EngineState {
    let flexible = |rollout: &str| json!({ "rollout": rollout, "stickiness": "userId", "groupId": typical::FLAG });
    let strategies = [
        json!({ "name": "userWithId", "parameters": { "userIds": target_keys().join(",") }, "constraints": [] }),
        json!({ "name": "flexibleRollout", "parameters": flexible("100"), "constraints": [], "segments": [1] }),
        json!({ "name": "flexibleRollout", "parameters": flexible("100"), "constraints": [
            { "contextName": "game", "operator": "IN", "values": ["omaha", "holdem"],
              "inverted": false, "caseInsensitive": false }
        ] }),
        json!({ "name": "flexibleRollout", "parameters": flexible("50"), "constraints": [] }),
    ];
    let doc = json!({
        "version": 2,
        "features": [{
            "name": typical::FLAG,
            "enabled": true,
            "type": "release",
            "project": "default",
            "stale": false,
            "impressionData": false,
            "strategies": strategies.into_iter().take(n).collect::<Vec<_>>(),
            "variants": []
        }],
        "segments": [{
            "id": 1,
            "name": "cohort",
            "constraints": [{ "contextName": "userId", "operator": "IN", "values": segment_keys(),
                              "inverted": false, "caseInsensitive": false }]
        }]
    });
    let message: ygg::UpdateMessage = serde_json::from_value(doc).expect("a client-features document");
    let engine = ygg::EngineState::default();
    if let Some(warnings) = engine.take_state(message) {
        assert!(warnings.is_empty(), "yggdrasil warned: {warnings:?}");
    }
    engine
}

pub fn unleash_context(key: &str, game: &str) -> ygg::Context {
    ygg::Context {
        user_id: Some(key.to_owned()),
        properties: Some(HashMap::from([("game".to_owned(), game.to_owned())])),
        ..ygg::Context::default()
    }
}

pub fn unleash_is_enabled(engine: &ygg::EngineState, ctx: &ygg::Context) -> bool {
    engine.is_enabled(typical::FLAG, ctx, &None)
}

// ------------------------------------------------------------ LaunchDarkly

pub const LD_SEGMENT: &str = "cohort";

fn ld_flag_json(rule1_clause: serde_json::Value) -> serde_json::Value {
    json!({
        "key": typical::FLAG,
        "version": 1,
        "on": true,
        "targets": [{ "variation": 1, "values": target_keys() }],
        "rules": [
            { "id": "cohort", "variation": 1, "trackEvents": false, "clauses": [rule1_clause] },
            { "id": "games", "variation": 1, "trackEvents": false, "clauses": [
                { "attribute": "game", "op": "in", "values": ["omaha", "holdem"], "negate": false }
            ] }
        ],
        "prerequisites": [],
        "fallthrough": { "rollout": { "variations": [
            { "variation": 0, "weight": 50000 }, { "variation": 1, "weight": 50000 }
        ] } },
        "offVariation": 0,
        "variations": [false, true],
        "clientSide": false,
        "salt": typical::FLAG
    })
}

/// The flag as LD models it: rule 1 is `segmentMatch` of the 10,000-key segment.
pub fn ld_flag() -> ld::Flag {
    let clause = json!({ "attribute": "key", "op": "segmentMatch", "values": [LD_SEGMENT], "negate": false });
    serde_json::from_value(ld_flag_json(clause)).expect("an LD flag")
}

/// Not a store variant but the only equivalent that avoids the copy: rule 1
/// tests `key in` the 10,000 keys inline, so nothing is fetched from the store.
pub fn ld_flag_inline_keys() -> ld::Flag {
    let clause = json!({ "attribute": "key", "op": "in", "values": segment_keys(), "negate": false });
    serde_json::from_value(ld_flag_json(clause)).expect("an LD flag")
}

pub fn ld_segment() -> ld::Segment {
    serde_json::from_value(json!({
        "key": LD_SEGMENT,
        "included": segment_keys(),
        "excluded": [],
        "rules": [],
        "salt": LD_SEGMENT,
        "version": 1
    }))
    .expect("an LD segment")
}

/// A store as LD's `Store` trait allows: it returns owned values, so it
/// clones what it holds (as the crate's own test store does).
pub struct CloningStore {
    pub flags: HashMap<String, ld::Flag>,
    pub segments: HashMap<String, ld::Segment>,
}

impl CloningStore {
    pub fn typical() -> Self {
        let flag = ld_flag();
        CloningStore {
            flags: HashMap::from([(flag.key.clone(), flag)]),
            segments: HashMap::from([(LD_SEGMENT.to_owned(), ld_segment())]),
        }
    }
}

impl ld::Store for CloningStore {
    fn flag(&self, flag_key: &str) -> Option<ld::Flag> {
        self.flags.get(flag_key).cloned()
    }
    fn segment(&self, segment_key: &str) -> Option<ld::Segment> {
        self.segments.get(segment_key).cloned()
    }
}

/// A store with nothing in it, for the inline-keys flag (never consulted).
pub struct EmptyStore;

impl ld::Store for EmptyStore {
    fn flag(&self, _: &str) -> Option<ld::Flag> {
        None
    }
    fn segment(&self, _: &str) -> Option<ld::Segment> {
        None
    }
}

pub fn ld_context(key: &str, game: &str) -> ld::Context {
    ld::ContextBuilder::new(key)
        .set_string("game", game)
        .build()
        .expect("a valid LD context")
}

/// Evaluates and returns the served bool and the reason, as the SDK's
/// `bool_variation_detail` would see them.
pub fn ld_bool_detail(store: &dyn ld::Store, flag: &ld::Flag, ctx: &ld::Context) -> (Option<bool>, ld::Reason) {
    let detail = ld::evaluate(store, flag, ctx, None);
    (detail.value.and_then(|v| v.as_bool()), detail.reason)
}

// ------------------------------------------------------------ all engines

/// Every engine loaded with the typical flag, and each path's context in
/// each engine's own type.
pub struct Engines {
    pub daylight: daylight::Ruleset,
    pub unleash: ygg::EngineState,
    pub ld_store: CloningStore,
    pub ld_flag: ld::Flag,
    pub ld_flag_inline: ld::Flag,
    pub paths: Vec<Path>,
}

pub struct Path {
    pub name: &'static str,
    pub daylight: daylight::Context,
    pub unleash: ygg::Context,
    pub ld: ld::Context,
}

impl Engines {
    /// Loads every engine and checks that each one serves what the path
    /// promises (target, segment and rule serve `true`; the rollout serves
    /// whatever the engine's bucketing gives, printed), so the benchmark
    /// compares equivalent work.
    pub fn new() -> Engines {
        check_paths_match_typical();
        let engines = Engines {
            daylight: typical::ruleset(),
            unleash: unleash_engine(),
            ld_store: CloningStore::typical(),
            ld_flag: ld_flag(),
            ld_flag_inline: ld_flag_inline_keys(),
            paths: typical::contexts()
                .into_iter()
                .zip(PATHS)
                .map(|((name, daylight), (_, key, game))| Path {
                    name,
                    daylight,
                    unleash: unleash_context(key, game),
                    ld: ld_context(key, game),
                })
                .collect(),
        };
        engines.check();
        engines
    }

    fn check(&self) {
        use daylight::Reason as R;
        for p in &self.paths {
            let dl = self.daylight.bool_variation_detail(typical::FLAG, &p.daylight, false);
            let un = unleash_is_enabled(&self.unleash, &p.unleash);
            let (ld_value, ld_reason) = ld_bool_detail(&self.ld_store, &self.ld_flag, &p.ld);
            let (ldi_value, ldi_reason) = ld_bool_detail(&EmptyStore, &self.ld_flag_inline, &p.ld);
            let dl_path_ok = match p.name {
                "target" => matches!(dl.reason, R::TargetMatch),
                "segment" => matches!(dl.reason, R::RuleMatch { rule_index: 0, .. }),
                "rule" => matches!(dl.reason, R::RuleMatch { rule_index: 1, .. }),
                _ => matches!(dl.reason, R::Fallthrough { in_rollout: true }),
            };
            assert!(dl_path_ok, "daylight took another path for {}: {:?}", p.name, dl.reason);
            let ld_path_ok = |reason: &ld::Reason| match p.name {
                "target" => matches!(reason, ld::Reason::TargetMatch),
                "segment" => matches!(reason, ld::Reason::RuleMatch { rule_index: 0, .. }),
                "rule" => matches!(reason, ld::Reason::RuleMatch { rule_index: 1, .. }),
                _ => matches!(reason, ld::Reason::Fallthrough { .. }),
            };
            assert!(
                ld_path_ok(&ld_reason),
                "LD took another path for {}: {ld_reason:?}",
                p.name
            );
            assert!(
                ld_path_ok(&ldi_reason),
                "LD (inline) took another path for {}: {ldi_reason:?}",
                p.name
            );
            assert_eq!(ld_value, ldi_value, "the two LD flags disagree on {}", p.name);
            if p.name != "rollout" {
                assert!(dl.value, "daylight served false on the {} path", p.name);
                assert!(un, "yggdrasil served false on the {} path", p.name);
                assert_eq!(ld_value, Some(true), "LD served {ld_value:?} on the {} path", p.name);
            }
            eprintln!(
                "check {:<8} daylight={} ({:?})  yggdrasil={}  ld={:?} ({:?})",
                p.name, dl.value, dl.reason, un, ld_value, ld_reason
            );
        }
        // Yggdrasil's is_enabled gives no reason: check that path i is
        // served by strategy i + 1, i.e. it is off with the first i
        // strategies and on with i + 1 (the rollout path: off with the first
        // three). A feature with no strategies at all is on in Unleash, so
        // the target path only checks the second half.
        let prefixes: Vec<_> = (0..=4).map(unleash_engine_with_strategies).collect();
        for (i, p) in self.paths.iter().enumerate() {
            let on = |n: usize| unleash_is_enabled(&prefixes[n], &p.unleash);
            if i > 0 {
                assert!(
                    !on(i),
                    "yggdrasil: the {} path matched before strategy {}",
                    p.name,
                    i + 1
                );
            }
            if p.name != "rollout" {
                assert!(
                    on(i + 1),
                    "yggdrasil: strategy {} did not serve the {} path",
                    i + 1,
                    p.name
                );
            }
            assert_eq!(on(4), unleash_is_enabled(&self.unleash, &p.unleash));
        }
    }
}
