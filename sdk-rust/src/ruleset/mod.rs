//! The compiled, ready-to-evaluate form of one environment's rules.
//!
//! [`Ruleset::compile`] validates a [`RulesetDocument`] once; evaluation
//! (in `evaluate.rs`) then only reads. Flags and segments are behind `Arc`s
//! so that applying a patch copies pointers, not 100,000-key segments.

use std::collections::HashSet as StdHashSet;
use std::sync::Arc;

use foldhash::{HashMap, HashMapExt, HashSet};
use serde_json::Value;

use crate::clause::{ClauseScope, CompiledClause, Strictness};
use crate::context::{AttrName, Context};
use crate::error::ValidationError;
use crate::model::{Flag, FlagRules, Rollout, RulesetDocument, SegmentRules, Serve};
use crate::portable_regex::{ENVIRONMENT_BUDGET, FLAG_BUDGET};

pub(crate) type Segments = HashMap<String, Arc<CompiledSegment>>;

/// One environment's flags and segments, validated and indexed.
#[derive(Debug, Clone, Default)]
pub struct Ruleset {
    pub(crate) environment: String,
    pub(crate) version: u64,
    pub(crate) flags: HashMap<String, Arc<CompiledFlag>>,
    pub(crate) segments: Segments,
    /// Heap bytes of all compiled patterns (see `ENVIRONMENT_BUDGET`).
    regex_bytes: usize,
}

/// The JSON type shared by a flag's variations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariationKind {
    Bool,
    String,
    Number,
    Object,
}

#[derive(Debug)]
pub(crate) struct CompiledFlag {
    pub variations: Box<[Value]>,
    pub kind: VariationKind,
    pub client_side: bool,
    pub on: bool,
    pub off_variation: Option<usize>,
    pub prerequisites: Box<[(Box<str>, usize)]>,
    /// Context key → variation (the first target listing a key wins).
    pub targets: HashMap<Box<str>, usize>,
    pub rules: Box<[CompiledRule]>,
    pub fallthrough: CompiledServe,
    pub version: u64,
    pub regex_bytes: usize,
}

#[derive(Debug)]
pub(crate) struct CompiledRule {
    pub id: Box<str>,
    pub clauses: Box<[CompiledClause]>,
    pub serve: CompiledServe,
}

#[derive(Debug)]
pub(crate) enum CompiledServe {
    Variation(usize),
    Rollout(CompiledRollout),
}

#[derive(Debug)]
pub(crate) struct CompiledRollout {
    /// `salt + "."`, ready to be hashed in front of the bucket value.
    pub prefix: Box<[u8]>,
    pub bucket_by: AttrName,
    /// (variation, running sum of weights); zero weights are dropped.
    pub thresholds: Box<[(usize, u32)]>,
}

#[derive(Debug)]
pub(crate) struct CompiledSegment {
    included: HashSet<Box<str>>,
    excluded: HashSet<Box<str>>,
    rules: Box<[Box<[CompiledClause]>]>,
    regex_bytes: usize,
}

/// Why a context is in a segment or not (explanations, `crate::trace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Membership {
    Included,
    Excluded,
    /// Matched rule `index` (0-based).
    Rule(usize),
    NotIncluded,
}

impl CompiledSegment {
    /// `contains`, saying why; the same order of checks.
    pub(crate) fn membership(&self, key: &str, ctx: &Context) -> Membership {
        if self.included.contains(key) {
            return Membership::Included;
        }
        if self.excluded.contains(key) {
            return Membership::Excluded;
        }
        let no_segments = Segments::new();
        match self
            .rules
            .iter()
            .position(|rule| rule.iter().all(|c| c.matches(ctx, &no_segments)))
        {
            Some(index) => Membership::Rule(index),
            None => Membership::NotIncluded,
        }
    }

    pub(crate) fn contains(&self, key: &str, ctx: &Context) -> bool {
        if self.included.contains(key) {
            return true;
        }
        if self.excluded.contains(key) {
            return false;
        }
        let no_segments = Segments::new();
        self.rules
            .iter()
            .any(|rule| rule.iter().all(|c| c.matches(ctx, &no_segments)))
    }
}

/// The entry one change replaces (`kind` of a change-log row or `patch`).
#[derive(Debug, Clone, Copy)]
pub enum Entry<'a> {
    Flag(Option<&'a FlagRules>),
    Segment(Option<&'a SegmentRules>),
    /// A kind this version does not know.
    Unknown,
}

impl Ruleset {
    /// Validates and compiles a whole environment. Unknown operators are kept
    /// as never-matching (an SDK may be older than its server).
    pub fn compile(doc: &RulesetDocument) -> Result<Ruleset, ValidationError> {
        let mut regex_bytes = 0;
        let mut segments = Segments::with_capacity(doc.segments.len());
        for (key, segment) in &doc.segments {
            let path = format!("segments.{key}");
            let compiled = compile_segment(segment, &path, Strictness::Lenient)?;
            regex_bytes = within_environment_budget(0, regex_bytes + compiled.regex_bytes, &path)?;
            segments.insert(key.clone(), Arc::new(compiled));
        }
        // An SDK tolerates a reference to a segment it does not have (the
        // clause then never finds the context in it); the server refuses one.
        let exists = |_: &str| true;
        let mut flags = HashMap::with_capacity(doc.flags.len());
        for (key, flag) in &doc.flags {
            let scope = ClauseScope {
                strictness: Strictness::Lenient,
                segment_exists: Some(&exists),
            };
            let path = format!("flags.{key}");
            let compiled = compile_flag(key, flag, &path, &scope)?;
            regex_bytes = within_environment_budget(0, regex_bytes + compiled.regex_bytes, &path)?;
            flags.insert(key.clone(), Arc::new(compiled));
        }
        let ruleset = Ruleset {
            environment: doc.environment.clone(),
            version: doc.version,
            flags,
            segments,
            regex_bytes,
        };
        ruleset.check_prerequisites()?;
        Ok(ruleset)
    }

    /// A copy with one flag replaced (`Some`) or removed (`None`), at
    /// `version`. The rest is shared with `self`.
    pub fn with_flag(&self, key: &str, flag: Option<&FlagRules>, version: u64) -> Result<Ruleset, ValidationError> {
        let mut next = self.clone();
        next.version = version;
        match flag {
            Some(flag) => {
                let exists = |_: &str| true;
                let scope = ClauseScope {
                    strictness: Strictness::Lenient,
                    segment_exists: Some(&exists),
                };
                let path = format!("flags.{key}");
                let compiled = compile_flag(key, flag, &path, &scope)?;
                let before = self.flags.get(key).map_or(0, |f| f.regex_bytes);
                next.regex_bytes = within_environment_budget(
                    self.regex_bytes,
                    self.regex_bytes - before + compiled.regex_bytes,
                    &path,
                )?;
                next.flags.insert(key.to_owned(), Arc::new(compiled));
            }
            None => {
                if let Some(old) = next.flags.remove(key) {
                    next.regex_bytes -= old.regex_bytes;
                }
            }
        }
        next.check_prerequisites()?;
        Ok(next)
    }

    /// A copy with one segment replaced or removed, at `version`.
    pub fn with_segment(
        &self,
        key: &str,
        segment: Option<&SegmentRules>,
        version: u64,
    ) -> Result<Ruleset, ValidationError> {
        let mut next = self.clone();
        next.version = version;
        match segment {
            Some(segment) => {
                let path = format!("segments.{key}");
                let compiled = compile_segment(segment, &path, Strictness::Lenient)?;
                let before = self.segments.get(key).map_or(0, |s| s.regex_bytes);
                next.regex_bytes = within_environment_budget(
                    self.regex_bytes,
                    self.regex_bytes - before + compiled.regex_bytes,
                    &path,
                )?;
                next.segments.insert(key.to_owned(), Arc::new(compiled));
            }
            None => {
                if let Some(old) = next.segments.remove(key) {
                    next.regex_bytes -= old.regex_bytes;
                }
            }
        }
        Ok(next)
    }

    /// Moves the version without changing contents (a change this version
    /// does not evaluate, such as a newer kind of record).
    /// Applies one change of the change log or the stream's `patch` (the
    /// entry after it, `None` when removed) at `version`. A kind this
    /// version does not know changes nothing it evaluates: only the
    /// version moves. The server's memory and the SDKs apply changes
    /// through this one function.
    pub fn apply_change(&self, key: &str, entry: Entry<'_>, version: u64) -> Result<Ruleset, ValidationError> {
        match entry {
            Entry::Flag(rules) => self.with_flag(key, rules, version),
            Entry::Segment(rules) => self.with_segment(key, rules, version),
            Entry::Unknown => {
                let mut next = self.clone();
                next.version = version;
                Ok(next)
            }
        }
    }

    pub fn set_version(&mut self, version: u64) {
        self.version = version;
    }

    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// The change-log version this ruleset reflects.
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn flag_keys(&self) -> impl Iterator<Item = &str> {
        self.flags.keys().map(String::as_str)
    }

    /// Is `key` a flag a browser (client key) may see?
    pub fn is_client_side(&self, key: &str) -> bool {
        self.flags.get(key).is_some_and(|f| f.client_side)
    }

    /// How many variations flag `key` has (`None` for an unknown flag).
    pub fn variation_count(&self, key: &str) -> Option<usize> {
        self.flags.get(key).map(|f| f.variations.len())
    }

    /// The version of flag `key`'s config in this environment.
    pub fn flag_version(&self, key: &str) -> Option<u64> {
        self.flags.get(key).map(|f| f.version)
    }

    pub fn variation_kind(&self, key: &str) -> Option<VariationKind> {
        self.flags.get(key).map(|f| f.kind)
    }

    /// Is `ctx` in segment `key`? (`false` for an unknown segment or a
    /// context without a key.) For features outside flags that target
    /// cohorts, such as bundle canaries.
    pub fn in_segment(&self, key: &str, ctx: &Context) -> bool {
        let (Some(segment), Some(ctx_key)) = (self.segments.get(key), ctx.key()) else {
            return false;
        };
        segment.contains(ctx_key, ctx)
    }

    /// Segments some flag refers to through `in_segment`.
    pub fn segments_in_use(&self) -> StdHashSet<&str> {
        self.flags
            .values()
            .flat_map(|f| f.rules.iter())
            .flat_map(|r| r.clauses.iter())
            .flat_map(|c| c.segment_refs())
            .collect()
    }

    /// Strict reference checks, for the server before it stores a change:
    /// every prerequisite names an existing flag and one of its variations,
    /// and every `in_segment` names an existing segment. (An SDK tolerates
    /// dangling references: they simply never match.)
    pub fn validate_references(&self) -> Result<(), ValidationError> {
        match self.reference_errors().into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Every dangling reference: a prerequisite naming a missing flag or
    /// variation, a clause naming a missing segment. The server compares
    /// these before and after a write, so a write is refused only for the
    /// errors it introduces, never for another flag's.
    pub fn reference_errors(&self) -> Vec<ValidationError> {
        let mut errors = Vec::new();
        for (key, flag) in &self.flags {
            for (i, (pre, variation)) in flag.prerequisites.iter().enumerate() {
                let path = format!("flags.{key}.prerequisites[{i}]");
                match self.flags.get(&**pre) {
                    None => errors.push(ValidationError::new(
                        format!("{path}.flag"),
                        format!("unknown flag `{pre}`"),
                    )),
                    Some(target) if *variation >= target.variations.len() => errors.push(ValidationError::new(
                        format!("{path}.variation"),
                        format!("flag `{pre}` has {} variations", target.variations.len()),
                    )),
                    Some(_) => {}
                }
            }
            for (i, rule) in flag.rules.iter().enumerate() {
                for (j, clause) in rule.clauses.iter().enumerate() {
                    if let Some(missing) = clause.segment_refs().find(|s| !self.segments.contains_key(*s)) {
                        errors.push(ValidationError::new(
                            format!("flags.{key}.rules[{i}].clauses[{j}].values"),
                            format!("unknown segment `{missing}`"),
                        ));
                    }
                }
            }
        }
        errors
    }

    /// Prerequisites must not form a cycle (checked on every compile and
    /// patch, so evaluation cannot recurse forever).
    fn check_prerequisites(&self) -> Result<(), ValidationError> {
        // Depth-first search with colours: 1 = on the stack, 2 = done.
        let mut state: HashMap<&str, u8> = HashMap::new();
        for key in self.flags.keys() {
            self.visit(key, &mut state)?;
        }
        Ok(())
    }

    fn visit<'a>(&'a self, key: &'a str, state: &mut HashMap<&'a str, u8>) -> Result<(), ValidationError> {
        match state.get(key) {
            Some(2) => return Ok(()),
            Some(_) => {
                return Err(ValidationError::new(
                    format!("flags.{key}.prerequisites"),
                    "prerequisites form a cycle",
                ))
            }
            None => {}
        }
        state.insert(key, 1);
        if let Some(flag) = self.flags.get(key) {
            for (pre, _) in flag.prerequisites.iter() {
                self.visit(pre, state)?;
            }
        }
        state.insert(key, 2);
        Ok(())
    }
}

/// `after`, the environment's compiled pattern bytes after a change, if it is
/// within `ENVIRONMENT_BUDGET` or no larger than `before`: a change that does
/// not grow the patterns (turning a flag off, deleting a rule) is never
/// refused, even in an environment stored before the budget existed.
fn within_environment_budget(before: usize, after: usize, path: &str) -> Result<usize, ValidationError> {
    if after <= ENVIRONMENT_BUDGET || after <= before {
        return Ok(after);
    }
    Err(ValidationError::new(
        format!("{path}.rules"),
        format!(
            "the environment's patterns are too large once compiled: over the {} MiB an environment may take",
            ENVIRONMENT_BUDGET >> 20
        ),
    ))
}

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

fn compile_flag(
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

fn compile_segment(
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::portable_regex::{self, CLAUSE_BUDGET};

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
}
