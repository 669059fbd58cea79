//! The evaluator: off → prerequisites → targets → rules → fallthrough.
//!
//! This is the only place a flag is evaluated; the server, the SDK client and
//! the OpenFeature provider all call it. It borrows everything from the
//! [`Ruleset`] and the [`Context`], so evaluating a compiled flag does not
//! allocate.

use serde::Serialize;
use serde_json::Value;

use crate::bucket::{bucket, with_bucket_value};
use crate::context::Context;
use crate::ruleset::{CompiledFlag, CompiledRollout, CompiledServe, Ruleset};
use crate::trace::{NoTrace, Recorder, Trace};

/// Prerequisite chains are acyclic (checked at compile time); this bounds
/// the recursion anyway.
const MAX_PREREQUISITE_DEPTH: usize = 32;

/// Why a value was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason<'a> {
    Off,
    TargetMatch,
    RuleMatch {
        rule_index: usize,
        rule_id: &'a str,
        in_rollout: bool,
    },
    Fallthrough {
        in_rollout: bool,
    },
    PrerequisiteFailed {
        prerequisite_key: &'a str,
    },
    Error {
        error_kind: ErrorKind,
    },
}

/// OpenFeature's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorKind {
    FlagNotFound,
    TypeMismatch,
    ProviderNotReady,
    General,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::FlagNotFound => "FLAG_NOT_FOUND",
            ErrorKind::TypeMismatch => "TYPE_MISMATCH",
            ErrorKind::ProviderNotReady => "PROVIDER_NOT_READY",
            ErrorKind::General => "GENERAL",
        }
    }
}

impl Reason<'_> {
    /// The OpenFeature reason (`docs/flag-format.md` has the table).
    pub fn openfeature_reason(&self) -> &'static str {
        match self {
            Reason::Off => "DISABLED",
            Reason::TargetMatch => "TARGETING_MATCH",
            Reason::RuleMatch { in_rollout: true, .. } | Reason::Fallthrough { in_rollout: true } => "SPLIT",
            Reason::RuleMatch { .. } => "TARGETING_MATCH",
            Reason::Fallthrough { .. } | Reason::PrerequisiteFailed { .. } => "DEFAULT",
            Reason::Error { .. } => "ERROR",
        }
    }
}

/// An evaluation result. `value` is `None` when the caller's default applies
/// (an error, or off without an off variation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detail<'a> {
    pub value: Option<&'a Value>,
    pub variation: Option<usize>,
    pub reason: Reason<'a>,
}

/// A typed evaluation result: the value is the caller's default when
/// `variation` is `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct TypedDetail<'a, T> {
    pub value: T,
    pub variation: Option<usize>,
    pub reason: Reason<'a>,
}

impl<'a> Detail<'a> {
    fn error(kind: ErrorKind) -> Self {
        Detail {
            value: None,
            variation: None,
            reason: Reason::Error { error_kind: kind },
        }
    }

    /// Converts to a typed result with `convert`, or the default with a
    /// `TYPE_MISMATCH` error when the served value has another type.
    pub fn typed<T>(self, default: T, convert: impl FnOnce(&'a Value) -> Option<T>) -> TypedDetail<'a, T> {
        match self.value {
            None => TypedDetail {
                value: default,
                variation: None,
                reason: self.reason,
            },
            Some(value) => match convert(value) {
                Some(v) => TypedDetail {
                    value: v,
                    variation: self.variation,
                    reason: self.reason,
                },
                None => TypedDetail {
                    value: default,
                    variation: None,
                    reason: Reason::Error {
                        error_kind: ErrorKind::TypeMismatch,
                    },
                },
            },
        }
    }
}

impl Ruleset {
    /// Evaluates flag `key` for `ctx`, with the reason.
    pub fn evaluate<'a>(&'a self, key: &str, ctx: &Context) -> Detail<'a> {
        match self.flags.get(key) {
            Some(flag) => self.eval_flag(flag, ctx, 0, &mut NoTrace),
            None => Detail::error(ErrorKind::FlagNotFound),
        }
    }

    pub fn bool_variation(&self, key: &str, ctx: &Context, default: bool) -> bool {
        self.bool_variation_detail(key, ctx, default).value
    }

    pub fn bool_variation_detail(&self, key: &str, ctx: &Context, default: bool) -> TypedDetail<'_, bool> {
        self.evaluate(key, ctx).typed(default, Value::as_bool)
    }

    pub fn string_variation<'a>(&'a self, key: &str, ctx: &Context, default: &'a str) -> &'a str {
        self.string_variation_detail(key, ctx, default).value
    }

    pub fn string_variation_detail<'a>(
        &'a self,
        key: &str,
        ctx: &Context,
        default: &'a str,
    ) -> TypedDetail<'a, &'a str> {
        self.evaluate(key, ctx).typed(default, Value::as_str)
    }

    pub fn number_variation(&self, key: &str, ctx: &Context, default: f64) -> f64 {
        self.number_variation_detail(key, ctx, default).value
    }

    pub fn number_variation_detail(&self, key: &str, ctx: &Context, default: f64) -> TypedDetail<'_, f64> {
        self.evaluate(key, ctx).typed(default, Value::as_f64)
    }

    /// Any variation type; the value is cloned.
    pub fn json_variation(&self, key: &str, ctx: &Context, default: Value) -> Value {
        self.json_variation_detail(key, ctx, default).value
    }

    pub fn json_variation_detail(&self, key: &str, ctx: &Context, default: Value) -> TypedDetail<'_, Value> {
        self.evaluate(key, ctx).typed(default, |v| Some(v.clone()))
    }

    /// The bucket (0 to 99,999) that picked the variation, when `reason`
    /// (from [`Ruleset::evaluate`] of `key` for `ctx`) says a rollout did:
    /// what explains a rollout's answer. Hashes again; `evaluate` stays as
    /// lean as before for everyone who does not ask.
    pub fn rollout_bucket(&self, key: &str, reason: &Reason<'_>, ctx: &Context) -> Option<u32> {
        let flag = self.flags.get(key)?;
        let serve = match *reason {
            Reason::RuleMatch {
                rule_index,
                in_rollout: true,
                ..
            } => &flag.rules.get(rule_index)?.serve,
            Reason::Fallthrough { in_rollout: true } => &flag.fallthrough,
            _ => return None,
        };
        match serve {
            CompiledServe::Rollout(rollout) => rollout_bucket(rollout, ctx),
            CompiledServe::Variation(_) => None,
        }
    }

    /// Evaluates flag `key` for `ctx` as [`Ruleset::evaluate`] does, with
    /// the bucket (0 to 99,999) that picked the variation when a rollout
    /// did (as [`Ruleset::rollout_bucket`] would say, without hashing again).
    pub fn evaluate_with_bucket<'a>(&'a self, key: &str, ctx: &Context) -> (Detail<'a>, Option<u32>) {
        let mut bucket = crate::trace::RolloutBucket::default();
        let detail = match self.flags.get(key) {
            Some(flag) => self.eval_flag(flag, ctx, 0, &mut bucket),
            None => Detail::error(ErrorKind::FlagNotFound),
        };
        (detail, bucket.0)
    }

    /// Evaluates flag `key` for `ctx` as [`Ruleset::evaluate`] does, and
    /// records each step that decided the answer (`crate::trace`). The same
    /// code path; `evaluate` passes a recorder that records nothing.
    pub fn evaluate_traced<'a>(&'a self, key: &str, ctx: &Context) -> (Detail<'a>, Trace) {
        let mut trace = Trace::default();
        let detail = match self.flags.get(key) {
            Some(flag) => self.eval_flag(flag, ctx, 0, &mut trace),
            None => {
                trace.not_found();
                Detail::error(ErrorKind::FlagNotFound)
            }
        };
        (detail, trace)
    }

    fn eval_flag<'a, R: Recorder>(
        &'a self,
        flag: &'a CompiledFlag,
        ctx: &Context,
        depth: usize,
        trace: &mut R,
    ) -> Detail<'a> {
        if !flag.on {
            trace.off();
            return off(flag, Reason::Off);
        }
        for (pre_key, wanted) in flag.prerequisites.iter() {
            let pre = self.flags.get(&**pre_key);
            let served = match pre {
                Some(pre) if pre.on && depth < MAX_PREREQUISITE_DEPTH => {
                    self.eval_flag(pre, ctx, depth + 1, &mut NoTrace).variation
                }
                _ => None,
            };
            let met = served == Some(*wanted);
            trace.prerequisite(pre_key, *wanted, pre.map(|p| p.on), served, met);
            if !met {
                return off(
                    flag,
                    Reason::PrerequisiteFailed {
                        prerequisite_key: pre_key,
                    },
                );
            }
        }
        let key = ctx.key();
        if let Some(key) = key {
            if let Some(&variation) = flag.targets.get(key) {
                trace.targets(flag, Some(key), Some(variation));
                return served(flag, variation, Reason::TargetMatch);
            }
        }
        trace.targets(flag, key, None);
        for (index, rule) in flag.rules.iter().enumerate() {
            let matched = rule.clauses.iter().all(|c| c.matches(ctx, &self.segments));
            trace.rule(index, rule, ctx, &self.segments, matched);
            if matched {
                let (variation, in_rollout, bucket) = serve(&rule.serve, ctx);
                trace.served(&rule.serve, variation, in_rollout, bucket);
                return served(
                    flag,
                    variation,
                    Reason::RuleMatch {
                        rule_index: index,
                        rule_id: &rule.id,
                        in_rollout,
                    },
                );
            }
        }
        trace.fallthrough();
        let (variation, in_rollout, bucket) = serve(&flag.fallthrough, ctx);
        trace.served(&flag.fallthrough, variation, in_rollout, bucket);
        served(flag, variation, Reason::Fallthrough { in_rollout })
    }
}

fn off<'a>(flag: &'a CompiledFlag, reason: Reason<'a>) -> Detail<'a> {
    match flag.off_variation {
        Some(variation) => served(flag, variation, reason),
        None => Detail {
            value: None,
            variation: None,
            reason,
        },
    }
}

fn served<'a>(flag: &'a CompiledFlag, variation: usize, reason: Reason<'a>) -> Detail<'a> {
    Detail {
        value: flag.variations.get(variation),
        variation: Some(variation),
        reason,
    }
}

/// The variation a serve picks, whether a rollout decided it, and the
/// bucket the rollout hashed (`None` for a plain variation or without a
/// bucket value).
fn serve(serve: &CompiledServe, ctx: &Context) -> (usize, bool, Option<u32>) {
    let rollout = match serve {
        CompiledServe::Variation(v) => return (*v, false, None),
        CompiledServe::Rollout(r) => r,
    };
    let value_bucket = rollout_bucket(rollout, ctx);
    // A missing bucket value counts as bucket 0 (documented).
    let b = value_bucket.unwrap_or(0);
    let variation = rollout
        .thresholds
        .iter()
        .find(|(_, end)| *end > b)
        .or(rollout.thresholds.last())
        .map_or(0, |(v, _)| *v);
    (
        variation,
        value_bucket.is_some() && rollout.thresholds.len() > 1,
        value_bucket,
    )
}

/// The bucket of `ctx` in `rollout`, or `None` without a bucket value.
pub(crate) fn rollout_bucket(rollout: &CompiledRollout, ctx: &Context) -> Option<u32> {
    ctx.get_named_or_key(&rollout.bucket_by)
        .and_then(|attr| with_bucket_value(attr, |value| bucket(&rollout.prefix, value)))
}
