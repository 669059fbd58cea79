//! The compiled, ready-to-evaluate form of one environment's rules.
//!
//! [`Ruleset::compile`] validates a [`RulesetDocument`] once; evaluation
//! (in `evaluate.rs`) then only reads. Flags and segments are behind `Arc`s
//! so that applying a patch copies pointers, not 100,000-key segments.

mod compile;
#[cfg(test)]
mod tests;

use std::collections::HashSet as StdHashSet;
use std::sync::Arc;

use foldhash::{HashMap, HashMapExt, HashSet};
use serde_json::Value;

use crate::clause::{ClauseScope, CompiledClause, Strictness};
use crate::context::{AttrName, Context};
use crate::error::ValidationError;
use crate::model::{FlagRules, RulesetDocument, SegmentRules};
use crate::portable_regex::ENVIRONMENT_BUDGET;
use compile::{compile_flag, compile_segment};
pub use compile::{validate_flag, validate_segment};

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
