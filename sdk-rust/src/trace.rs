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
mod tests;
