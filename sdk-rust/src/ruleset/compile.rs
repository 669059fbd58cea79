//! Validation and compilation of one flag or segment: variations, targets,
//! rules and their clauses, serves and rollouts.

use foldhash::{HashMap, HashMapExt};
use serde_json::Value;

use super::{CompiledFlag, CompiledRollout, CompiledRule, CompiledSegment, CompiledServe, VariationKind};
use crate::clause::{ClauseScope, CompiledClause, Strictness};
use crate::context::AttrName;
use crate::error::ValidationError;
use crate::model::{Flag, FlagRules, Rollout, SegmentRules, Serve};
use crate::portable_regex::FLAG_BUDGET;

/// Validates a flag as the server stores it, for every environment, refusing
/// unknown operators. `segment_exists(env, key)` says whether a segment
/// exists in an environment. Paths are relative to the flag document.
pub fn validate_flag(flag: &Flag, segment_exists: &dyn Fn(&str, &str) -> bool) -> Result<(), ValidationError> {
    if flag.key.is_empty() || !flag.key.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(ValidationError::new(
            "key",
            "a flag key is one or more of A-Z a-z 0-9 - _ .",
        ));
    }
    for (env, config) in &flag.environments {
        let exists = |k: &str| segment_exists(env, k);
        let scope = ClauseScope {
            strictness: Strictness::Strict,
            segment_exists: Some(&exists),
        };
        let rules = FlagRules {
            variations: flag.variations.clone(),
            client_side: flag.client_side,
            config: config.clone(),
        };
        compile_flag(&flag.key, &rules, &format!("environments.{env}"), &scope).map_err(|mut e| {
            // Variation errors belong to the shared field, not the environment.
            if let Some(rest) = e.path.strip_prefix(&format!("environments.{env}.variations")) {
                e.path = format!("variations{rest}");
            }
            e
        })?;
    }
    Ok(())
}

/// Validates a segment as the server stores it (strict).
pub fn validate_segment(segment: &SegmentRules) -> Result<(), ValidationError> {
    compile_segment(segment, "", Strictness::Strict)
        .map(drop)
        .map_err(|mut e| {
            e.path = e.path.trim_start_matches('.').to_owned();
            e
        })
}

pub(super) fn compile_flag(
    key: &str,
    flag: &FlagRules,
    path: &str,
    scope: &ClauseScope<'_>,
) -> Result<CompiledFlag, ValidationError> {
    let kind = variation_kind(&flag.variations, path)?;
    let n = flag.variations.len();
    let config = &flag.config;
    let check = |variation: usize, at: String| {
        if variation < n {
            Ok(variation)
        } else {
            Err(ValidationError::new(
                at,
                format!("no variation {variation}: the flag has {n}"),
            ))
        }
    };
    if let Some(off) = config.off_variation {
        check(off, format!("{path}.off_variation"))?;
    }
    let mut targets = HashMap::new();
    for (i, target) in config.targets.iter().enumerate() {
        check(target.variation, format!("{path}.targets[{i}].variation"))?;
        for value in &target.values {
            targets.entry(value.as_str().into()).or_insert(target.variation);
        }
    }
    let mut prerequisites = Vec::with_capacity(config.prerequisites.len());
    for (i, pre) in config.prerequisites.iter().enumerate() {
        if pre.flag == key {
            return Err(ValidationError::new(
                format!("{path}.prerequisites[{i}].flag"),
                "a flag cannot be its own prerequisite",
            ));
        }
        prerequisites.push((pre.flag.as_str().into(), pre.variation));
    }
    let mut rules = Vec::with_capacity(config.rules.len());
    let mut regex_bytes = 0;
    for (i, rule) in config.rules.iter().enumerate() {
        let rule_path = format!("{path}.rules[{i}]");
        rules.push(CompiledRule {
            id: rule.id.as_str().into(),
            clauses: compile_clauses(&rule.clauses, &rule_path, scope, &mut regex_bytes)?,
            serve: compile_serve(&rule.serve, key, n, &format!("{rule_path}.serve"))?,
        });
    }
    Ok(CompiledFlag {
        variations: flag.variations.clone().into(),
        kind,
        client_side: flag.client_side,
        on: config.on,
        off_variation: config.off_variation,
        prerequisites: prerequisites.into(),
        targets,
        rules: rules.into(),
        fallthrough: compile_serve(&config.fallthrough, key, n, &format!("{path}.fallthrough"))?,
        version: config.version,
        regex_bytes,
    })
}

/// Compiles a rule's clauses, adding their patterns' bytes to `regex_bytes`,
/// the running total of one flag or segment (at most `FLAG_BUDGET`).
fn compile_clauses(
    clauses: &[crate::model::Clause],
    path: &str,
    scope: &ClauseScope<'_>,
    regex_bytes: &mut usize,
) -> Result<Box<[CompiledClause]>, ValidationError> {
    let mut compiled = Vec::with_capacity(clauses.len());
    for (i, clause) in clauses.iter().enumerate() {
        let path = format!("{path}.clauses[{i}]");
        let clause = CompiledClause::compile(clause, &path, scope)?;
        *regex_bytes += clause.regex_bytes();
        if *regex_bytes > FLAG_BUDGET {
            return Err(ValidationError::new(
                format!("{path}.values"),
                format!(
                    "the rules' patterns are too large once compiled: over the {} MiB a flag or segment may take",
                    FLAG_BUDGET >> 20
                ),
            ));
        }
        compiled.push(clause);
    }
    Ok(compiled.into())
}

pub(super) fn compile_segment(
    segment: &SegmentRules,
    path: &str,
    strictness: Strictness,
) -> Result<CompiledSegment, ValidationError> {
    let scope = ClauseScope {
        strictness,
        segment_exists: None,
    };
    let mut regex_bytes = 0;
    let rules = segment
        .rules
        .iter()
        .enumerate()
        .map(|(i, rule)| compile_clauses(&rule.clauses, &format!("{path}.rules[{i}]"), &scope, &mut regex_bytes))
        .collect::<Result<_, _>>()?;
    Ok(CompiledSegment {
        included: segment.included.iter().map(|k| k.as_str().into()).collect(),
        excluded: segment.excluded.iter().map(|k| k.as_str().into()).collect(),
        rules,
        regex_bytes,
    })
}

fn compile_serve(serve: &Serve, flag_key: &str, n: usize, path: &str) -> Result<CompiledServe, ValidationError> {
    match (serve.variation, &serve.rollout) {
        (Some(v), None) if v < n => Ok(CompiledServe::Variation(v)),
        (Some(v), None) => Err(ValidationError::new(
            format!("{path}.variation"),
            format!("no variation {v}: the flag has {n}"),
        )),
        (None, Some(rollout)) => {
            compile_rollout(rollout, flag_key, n, &format!("{path}.rollout")).map(CompiledServe::Rollout)
        }
        _ => Err(ValidationError::new(
            path,
            "serve exactly one of `variation` or `rollout`",
        )),
    }
}

fn compile_rollout(
    rollout: &Rollout,
    flag_key: &str,
    n: usize,
    path: &str,
) -> Result<CompiledRollout, ValidationError> {
    if rollout.variations.is_empty() {
        return Err(ValidationError::new(
            format!("{path}.variations"),
            "a rollout needs at least one variation",
        ));
    }
    let mut sum: u32 = 0;
    let mut thresholds = Vec::with_capacity(rollout.variations.len());
    for (i, wv) in rollout.variations.iter().enumerate() {
        if wv.variation >= n {
            return Err(ValidationError::new(
                format!("{path}.variations[{i}].variation"),
                format!("no variation {}: the flag has {n}", wv.variation),
            ));
        }
        if wv.weight > crate::bucket::BUCKETS {
            return Err(ValidationError::new(
                format!("{path}.variations[{i}].weight"),
                "a weight is at most 100000 (thousandths of a percent)",
            ));
        }
        sum += wv.weight;
        if wv.weight > 0 {
            thresholds.push((wv.variation, sum));
        }
    }
    if sum != crate::bucket::BUCKETS {
        return Err(ValidationError::new(
            format!("{path}.variations"),
            format!("weights sum to {sum}; they must sum to 100000"),
        ));
    }
    let salt = rollout.salt.as_deref().unwrap_or(flag_key);
    let mut prefix = Vec::with_capacity(salt.len() + 1);
    prefix.extend_from_slice(salt.as_bytes());
    prefix.push(b'.');
    let bucket_by = rollout.bucket_by.as_deref().unwrap_or("key");
    if bucket_by.is_empty() {
        return Err(ValidationError::new(
            format!("{path}.bucket_by"),
            "an attribute name cannot be empty",
        ));
    }
    Ok(CompiledRollout {
        prefix: prefix.into(),
        bucket_by: AttrName::new(bucket_by),
        thresholds: thresholds.into(),
    })
}

fn variation_kind(variations: &[Value], path: &str) -> Result<VariationKind, ValidationError> {
    if variations.len() < 2 {
        return Err(ValidationError::new(
            format!("{path}.variations"),
            "a flag needs at least two variations",
        ));
    }
    let kind_of = |v: &Value| match v {
        Value::Bool(_) => Some(VariationKind::Bool),
        Value::String(_) => Some(VariationKind::String),
        Value::Number(_) => Some(VariationKind::Number),
        Value::Object(_) => Some(VariationKind::Object),
        Value::Null | Value::Array(_) => None,
    };
    let Some(kind) = kind_of(&variations[0]) else {
        return Err(ValidationError::new(
            format!("{path}.variations[0]"),
            "a variation is a boolean, string, number or object",
        ));
    };
    for (i, v) in variations.iter().enumerate().skip(1) {
        if kind_of(v) != Some(kind) {
            return Err(ValidationError::new(
                format!("{path}.variations[{i}]"),
                format!("all variations must have one type ({kind:?})"),
            ));
        }
    }
    Ok(kind)
}
