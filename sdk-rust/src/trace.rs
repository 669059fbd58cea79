//! Explanations: what the evaluator looked at and what it found, step by
//! step ([`Ruleset::evaluate_traced`](crate::Ruleset::evaluate_traced)).
//!
//! The evaluator calls a [`Recorder`] at each decision. [`Ruleset::evaluate`]
//! passes [`NoTrace`], whose methods are empty and inlined away, so an
//! evaluation that asks for no trace runs the code it ran before; [`Trace`]
//! records. A recorder only describes: the decision is the evaluator's own
//! (a rule's `matched` is the value the evaluator branched on), and the
//! details (each clause, segment membership, the bucket) are read again
//! from the same compiled rules.

use serde::Serialize;
use serde_json::Value;

use crate::context::{Attr, Context};
use crate::model::{FlagConfig, Op};
use crate::ruleset::{CompiledFlag, CompiledRule, CompiledServe, Membership, Segments};

/// What the evaluator tells a recorder; every method defaults to nothing.
pub(crate) trait Recorder {
    #[inline(always)]
    fn not_found(&mut self) {}
    #[inline(always)]
    fn off(&mut self) {}
    #[inline(always)]
    fn prerequisite(&mut self, _flag: &str, _wanted: usize, _on: Option<bool>, _served: Option<usize>, _met: bool) {}
    #[inline(always)]
    fn targets(&mut self, _flag: &CompiledFlag, _key: Option<&str>, _matched: Option<usize>) {}
    #[inline(always)]
    fn rule(&mut self, _index: usize, _rule: &CompiledRule, _ctx: &Context, _segments: &Segments, _matched: bool) {}
    #[inline(always)]
    fn fallthrough(&mut self) {}
    #[inline(always)]
    fn served(&mut self, _serve: &CompiledServe, _variation: usize, _in_rollout: bool, _bucket: Option<u32>) {}
}

/// Records nothing (every evaluation that does not explain).
pub(crate) struct NoTrace;

impl Recorder for NoTrace {}

/// Records only the bucket that picked the variation, when a rollout did:
/// what a single-flag OFREP answer reports, at no extra hash.
#[derive(Default)]
pub(crate) struct RolloutBucket(pub Option<u32>);

impl Recorder for RolloutBucket {
    #[inline(always)]
    fn served(&mut self, _serve: &CompiledServe, _variation: usize, in_rollout: bool, bucket: Option<u32>) {
        self.0 = bucket.filter(|_| in_rollout);
    }
}

/// The steps of one evaluation, in the order the evaluator took them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Trace {
    pub steps: Vec<Step>,
}

/// One step. `step` names the kind in JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// The flag is not in this environment's rules.
    NotFound,
    /// The flag is archived: SDKs no longer see it (said by a server, which
    /// knows; the rules an SDK holds do not).
    Archived,
    /// The flag is off: the off variation is served.
    Off,
    /// A prerequisite: `flag` must be on and serve `variation`.
    Prerequisite {
        flag: String,
        variation: usize,
        /// `None`: no such flag.
        #[serde(skip_serializing_if = "Option::is_none")]
        on: Option<bool>,
        /// What the prerequisite served (`None` when off or missing).
        #[serde(skip_serializing_if = "Option::is_none")]
        served: Option<usize>,
        met: bool,
    },
    /// Individual targets checked for the context's key.
    Targets {
        /// The context's targeting key (`None`: it has none).
        #[serde(skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// How many keys the flag targets individually.
        targeted: usize,
        /// The variation the key is targeted with, if it is.
        #[serde(skip_serializing_if = "Option::is_none")]
        variation: Option<usize>,
    },
    /// One rule, in order: every clause and whether all matched.
    Rule {
        index: usize,
        id: String,
        clauses: Vec<ClauseStep>,
        matched: bool,
    },
    /// No rule matched: the fallthrough serves.
    Fallthrough,
    /// A percentage rollout picked the variation.
    Rollout(RolloutStep),
}

/// One clause of a rule, against the context.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClauseStep {
    pub attribute: String,
    pub op: Op,
    pub negate: bool,
    /// The clause's values, as written (filled from the flag's config by
    /// [`Trace::add_clause_values`]; the compiled rules keep parsed forms).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Value>,
    /// The context's value (the targeting key for `in_segment`); absent
    /// when `missing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// The context has no such attribute (or none of a usable type): the
    /// clause does not match, negated or not.
    pub missing: bool,
    pub matched: bool,
    /// For `in_segment`: the context in each segment named.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<SegmentStep>,
}

/// Is the context in one segment, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SegmentStep {
    pub segment: String,
    pub membership: SegmentMembership,
    /// The segment rule that matched (0-based), for `rule`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_index: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SegmentMembership {
    /// The key is in the segment's included keys.
    Included,
    /// The key is in the excluded keys (checked after included).
    Excluded,
    /// A segment rule matched.
    Rule,
    /// Neither listed nor matched by a rule.
    NotIncluded,
    /// No such segment in this environment.
    UnknownSegment,
    /// The context has no targeting key.
    NoKey,
}

/// A rollout: the bucket against the running sums of the weights.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RolloutStep {
    /// The attribute bucketed by (`key` is the targeting key).
    pub bucket_by: String,
    pub salt: String,
    /// 0 to 99,999 (thousandths of a percent); absent when the `bucket_by`
    /// attribute is missing (or not a string or integer), in which case
    /// bucket 0 is used and the answer does not count as a split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<u32>,
    /// Each variation's range `[from, to)` of buckets, in order.
    pub thresholds: Vec<Threshold>,
    pub variation: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Threshold {
    pub variation: usize,
    pub from: u32,
    pub to: u32,
}

impl Trace {
    /// Fills each clause step's `values` from `config`, the config the
    /// trace was evaluated with.
    pub fn add_clause_values(&mut self, config: &FlagConfig) {
        for step in &mut self.steps {
            let Step::Rule { index, clauses, .. } = step else {
                continue;
            };
            let Some(rule) = config.rules.get(*index) else { continue };
            for (clause, written) in clauses.iter_mut().zip(&rule.clauses) {
                clause.values.clone_from(&written.values);
            }
        }
    }
}

impl Recorder for Trace {
    fn not_found(&mut self) {
        self.steps.push(Step::NotFound);
    }

    fn off(&mut self) {
        self.steps.push(Step::Off);
    }

    fn prerequisite(&mut self, flag: &str, wanted: usize, on: Option<bool>, served: Option<usize>, met: bool) {
        self.steps.push(Step::Prerequisite {
            flag: flag.to_owned(),
            variation: wanted,
            on,
            served,
            met,
        });
    }

    fn targets(&mut self, flag: &CompiledFlag, key: Option<&str>, matched: Option<usize>) {
        self.steps.push(Step::Targets {
            key: key.map(str::to_owned),
            targeted: flag.targets.len(),
            variation: matched,
        });
    }

    fn rule(&mut self, index: usize, rule: &CompiledRule, ctx: &Context, segments: &Segments, matched: bool) {
        let clauses = rule
            .clauses
            .iter()
            .map(|clause| {
                let value = clause.value(ctx);
                let memberships = clause
                    .segment_refs()
                    .map(|segment| {
                        let (membership, rule_index) = match (segments.get(segment), ctx.key()) {
                            (None, _) => (SegmentMembership::UnknownSegment, None),
                            (Some(_), None) => (SegmentMembership::NoKey, None),
                            (Some(s), Some(key)) => match s.membership(key, ctx) {
                                Membership::Included => (SegmentMembership::Included, None),
                                Membership::Excluded => (SegmentMembership::Excluded, None),
                                Membership::Rule(i) => (SegmentMembership::Rule, Some(i)),
                                Membership::NotIncluded => (SegmentMembership::NotIncluded, None),
                            },
                        };
                        SegmentStep {
                            segment: segment.to_owned(),
                            membership,
                            rule_index,
                        }
                    })
                    .collect();
                ClauseStep {
                    attribute: clause.attribute().to_owned(),
                    op: clause.op(),
                    negate: clause.negate(),
                    values: Vec::new(),
                    missing: value.is_none(),
                    value: value.map(json_of),
                    matched: clause.matches(ctx, segments),
                    segments: memberships,
                }
            })
            .collect();
        self.steps.push(Step::Rule {
            index,
            id: rule.id.to_string(),
            clauses,
            matched,
        });
    }

    fn fallthrough(&mut self) {
        self.steps.push(Step::Fallthrough);
    }

    fn served(&mut self, serve: &CompiledServe, variation: usize, _in_rollout: bool, bucket: Option<u32>) {
        let CompiledServe::Rollout(rollout) = serve else { return };
        let mut from = 0;
        let thresholds = rollout
            .thresholds
            .iter()
            .map(|&(variation, to)| {
                let t = Threshold { variation, from, to };
                from = to;
                t
            })
            .collect();
        let salt = &rollout.prefix[..rollout.prefix.len() - 1];
        self.steps.push(Step::Rollout(RolloutStep {
            bucket_by: match &rollout.bucket_by {
                crate::context::AttrName::Key => "key".to_owned(),
                crate::context::AttrName::Named(name) => name.to_string(),
            },
            salt: String::from_utf8_lossy(salt).into_owned(),
            bucket,
            thresholds,
            variation,
        }));
    }
}

fn json_of(attr: Attr<'_>) -> Value {
    match attr {
        Attr::Str(s) => Value::from(s),
        Attr::Num(n) => serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number),
        Attr::Bool(b) => Value::Bool(b),
        Attr::List(items) => Value::from(items.to_vec()),
    }
}

#[cfg(test)]
mod tests {
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
        let base =
            json!({"variations": [false, true], "on": false, "off_variation": 0, "fallthrough": {"variation": 1}});
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
}
