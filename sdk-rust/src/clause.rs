//! Clauses compiled for evaluation, and the operator semantics.
//!
//! Everything that can be parsed once is parsed here (regexes, semvers,
//! timestamps, lowercased strings), so matching never parses clause values
//! and, for ASCII context values, never allocates.

use std::borrow::Cow;

use foldhash::HashSet;
use regex_automata::meta::Regex;
use semver::Version;
use serde_json::Value;

use crate::context::{Attr, AttrName, Context};
use crate::error::ValidationError;
use crate::model::{Clause, Op};
use crate::portable_regex;
use crate::ruleset::Segments;
use crate::timestamp::parse_rfc3339_ms;

/// `in` with more values than this uses a hash set instead of a scan.
const SET_THRESHOLD: usize = 8;

#[derive(Debug)]
pub(crate) struct CompiledClause {
    attr: AttrName,
    negate: bool,
    /// As written, for explanations (`crate::trace`); matching reads `test`.
    op: Op,
    test: Test,
}

#[derive(Debug)]
enum Test {
    In {
        strings: Strings,
        numbers: Box<[f64]>,
        bools: [bool; 2],
        case_insensitive: bool,
    },
    Text {
        op: TextOp,
        values: Box<[Box<str>]>,
        case_insensitive: bool,
    },
    Matches(Box<[Regex]>),
    Number(Ordering, Box<[f64]>),
    Semver(SemverOp, Box<[Version]>),
    /// Unix milliseconds; `Ordering::Lt` is `before`, `Ordering::Gt` is `after`.
    Time(Ordering, Box<[f64]>),
    InSegment(Box<[Box<str>]>),
    /// An operator this version does not know: never matches.
    Unknown,
}

#[derive(Debug)]
enum Strings {
    Few(Box<[Box<str>]>),
    Many(HashSet<Box<str>>),
}

#[derive(Debug, Clone, Copy)]
enum TextOp {
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Debug, Clone, Copy)]
enum Ordering {
    Lt,
    Lte,
    Gt,
    Gte,
}

#[derive(Debug, Clone, Copy)]
enum SemverOp {
    Eq,
    Lt,
    Gt,
}

/// How to treat an operator this version does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// Refuse it (the server, when a flag is saved).
    Strict,
    /// Keep it as never-matching (an SDK reading a newer server's rules).
    Lenient,
}

/// What a clause may refer to outside itself.
pub(crate) struct ClauseScope<'a> {
    pub strictness: Strictness,
    /// `None` where `in_segment` is not allowed (inside segment rules).
    pub segment_exists: Option<&'a dyn Fn(&str) -> bool>,
}

impl CompiledClause {
    pub(crate) fn compile(clause: &Clause, path: &str, scope: &ClauseScope<'_>) -> Result<Self, ValidationError> {
        let fail = |suffix: &str, message: String| ValidationError::new(format!("{path}{suffix}"), message);
        if clause.op != Op::InSegment && clause.attribute.is_empty() {
            return Err(fail(".attribute", "a clause needs an attribute".into()));
        }
        if clause.values.is_empty() && clause.op != Op::Unknown {
            return Err(fail(".values", "a clause needs at least one value".into()));
        }
        let ci = clause.case_insensitive;
        let values = &clause.values;
        let each = |kind: &str, parse: &dyn Fn(&Value) -> Option<()>| {
            for (i, v) in values.iter().enumerate() {
                if parse(v).is_none() {
                    return Err(fail(&format!(".values[{i}]"), format!("expected {kind}")));
                }
            }
            Ok(())
        };
        let strs = || -> Box<[Box<str>]> {
            values
                .iter()
                .filter_map(Value::as_str)
                .map(|s| if ci { s.to_lowercase() } else { s.to_owned() }.into_boxed_str())
                .collect()
        };
        let nums = || -> Box<[f64]> { values.iter().filter_map(Value::as_f64).collect() };
        let text = |op| -> Result<Test, ValidationError> {
            each("a string", &|v| v.as_str().map(drop))?;
            Ok(Test::Text {
                op,
                values: strs(),
                case_insensitive: ci,
            })
        };
        let number = |ord| -> Result<Test, ValidationError> {
            each("a number", &|v| v.as_f64().map(drop))?;
            Ok(Test::Number(ord, nums()))
        };
        let semver = |op| -> Result<Test, ValidationError> {
            let mut versions = Vec::with_capacity(values.len());
            for (i, v) in values.iter().enumerate() {
                match v.as_str().and_then(|s| Version::parse(s).ok()) {
                    Some(version) => versions.push(version),
                    None => {
                        return Err(fail(
                            &format!(".values[{i}]"),
                            "expected a SemVer 2.0.0 version such as \"1.0.3\"".into(),
                        ))
                    }
                }
            }
            Ok(Test::Semver(op, versions.into()))
        };
        let time = |ord| -> Result<Test, ValidationError> {
            let mut times = Vec::with_capacity(values.len());
            for (i, v) in values.iter().enumerate() {
                match time_of(v) {
                    Some(ms) => times.push(ms),
                    None => {
                        return Err(fail(
                            &format!(".values[{i}]"),
                            "expected an RFC 3339 timestamp such as \"2026-11-22T10:00:00Z\" or Unix milliseconds"
                                .into(),
                        ))
                    }
                }
            }
            Ok(Test::Time(ord, times.into()))
        };
        let test = match clause.op {
            Op::In => {
                each("a string, number or boolean", &|v| match v {
                    Value::String(_) | Value::Number(_) | Value::Bool(_) => Some(()),
                    _ => None,
                })?;
                let strings = strs();
                Test::In {
                    strings: if strings.len() > SET_THRESHOLD {
                        Strings::Many(strings.into_vec().into_iter().collect())
                    } else {
                        Strings::Few(strings)
                    },
                    numbers: nums(),
                    bools: [
                        values.contains(&Value::Bool(false)),
                        values.contains(&Value::Bool(true)),
                    ],
                    case_insensitive: ci,
                }
            }
            Op::StartsWith => text(TextOp::StartsWith)?,
            Op::EndsWith => text(TextOp::EndsWith)?,
            Op::Contains => text(TextOp::Contains)?,
            Op::Matches => {
                let mut regexes = Vec::with_capacity(values.len());
                let mut size = 0;
                for (i, v) in values.iter().enumerate() {
                    let Some(pattern) = v.as_str() else {
                        return Err(fail(&format!(".values[{i}]"), "expected a string".into()));
                    };
                    let regex = portable_regex::compile(pattern, ci)
                        .map_err(|e| fail(&format!(".values[{i}]"), format!("invalid regex: {e}")))?;
                    size += regex.memory_usage();
                    if size > portable_regex::CLAUSE_BUDGET {
                        return Err(fail(
                            &format!(".values[{i}]"),
                            format!(
                                "the clause's patterns are too large once compiled: over the {} KiB a clause may take",
                                portable_regex::CLAUSE_BUDGET / 1024
                            ),
                        ));
                    }
                    regexes.push(regex);
                }
                Test::Matches(regexes.into())
            }
            Op::Lt => number(Ordering::Lt)?,
            Op::Lte => number(Ordering::Lte)?,
            Op::Gt => number(Ordering::Gt)?,
            Op::Gte => number(Ordering::Gte)?,
            Op::SemverEq => semver(SemverOp::Eq)?,
            Op::SemverLt => semver(SemverOp::Lt)?,
            Op::SemverGt => semver(SemverOp::Gt)?,
            Op::Before => time(Ordering::Lt)?,
            Op::After => time(Ordering::Gt)?,
            Op::InSegment => {
                let Some(exists) = scope.segment_exists else {
                    return Err(fail(".op", "in_segment is not allowed inside a segment".into()));
                };
                each("a segment key", &|v| v.as_str().map(drop))?;
                for (i, v) in values.iter().enumerate() {
                    let key = v.as_str().unwrap_or_default();
                    if !exists(key) {
                        return Err(fail(&format!(".values[{i}]"), format!("unknown segment `{key}`")));
                    }
                }
                Test::InSegment(values.iter().filter_map(Value::as_str).map(Into::into).collect())
            }
            Op::Unknown => match scope.strictness {
                Strictness::Strict => {
                    return Err(fail(".op", format!("unknown operator; expected one of {}", op_names())))
                }
                Strictness::Lenient => Test::Unknown,
            },
        };
        Ok(CompiledClause {
            attr: AttrName::new(&clause.attribute),
            negate: clause.negate,
            op: clause.op,
            test,
        })
    }

    /// Does the context match? A missing attribute never matches, negated
    /// or not; neither does an unknown operator.
    pub(crate) fn matches(&self, ctx: &Context, segments: &Segments) -> bool {
        let attr = match &self.test {
            Test::Unknown => return false,
            Test::InSegment(keys) => {
                let Some(key) = ctx.key() else { return false };
                let found = keys
                    .iter()
                    .any(|s| segments.get(&**s).is_some_and(|seg| seg.contains(key, ctx)));
                return found != self.negate;
            }
            _ => match ctx.get_named_or_key(&self.attr) {
                Some(attr) => attr,
                None => return false,
            },
        };
        let found = match attr {
            Attr::List(items) => items.iter().any(|s| self.test.matches(Attr::Str(s))),
            scalar => self.test.matches(scalar),
        };
        found != self.negate
    }

    /// The attribute the clause reads: `key` (the targeting key) for
    /// `in_segment`, whatever its attribute says.
    pub(crate) fn attribute(&self) -> &str {
        match (&self.test, &self.attr) {
            (Test::InSegment(_), _) | (_, AttrName::Key) => "key",
            (_, AttrName::Named(name)) => name,
        }
    }

    pub(crate) fn op(&self) -> Op {
        self.op
    }

    pub(crate) fn negate(&self) -> bool {
        self.negate
    }

    /// The context's value this clause looks at (the targeting key for
    /// `in_segment`), `None` when missing.
    pub(crate) fn value<'c>(&self, ctx: &'c Context) -> Option<Attr<'c>> {
        match &self.test {
            Test::InSegment(_) => ctx.key().map(Attr::Str),
            _ => ctx.get_named_or_key(&self.attr),
        }
    }

    /// Heap bytes of the compiled patterns (0 for other operators).
    pub(crate) fn regex_bytes(&self) -> usize {
        match &self.test {
            Test::Matches(regexes) => regexes.iter().map(Regex::memory_usage).sum(),
            _ => 0,
        }
    }

    pub(crate) fn segment_refs(&self) -> impl Iterator<Item = &str> {
        let keys: &[Box<str>] = match &self.test {
            Test::InSegment(keys) => keys,
            _ => &[],
        };
        keys.iter().map(|k| &**k)
    }
}

impl Test {
    fn matches(&self, value: Attr<'_>) -> bool {
        match (self, value) {
            (
                Test::In {
                    strings,
                    case_insensitive,
                    ..
                },
                Attr::Str(s),
            ) => match strings {
                Strings::Few(list) if *case_insensitive => {
                    if s.is_ascii() {
                        list.iter().any(|v| s.eq_ignore_ascii_case(v))
                    } else {
                        let lower = s.to_lowercase();
                        list.iter().any(|v| **v == *lower)
                    }
                }
                Strings::Few(list) => list.iter().any(|v| **v == *s),
                Strings::Many(set) => set.contains(&*lower_if(s, *case_insensitive)),
            },
            (Test::In { numbers, .. }, Attr::Num(n)) => numbers.contains(&n),
            (Test::In { bools, .. }, Attr::Bool(b)) => bools[usize::from(b)],
            (
                Test::Text {
                    op,
                    values,
                    case_insensitive,
                },
                Attr::Str(s),
            ) => {
                // ASCII context strings compare case-insensitively in place;
                // others are lowercased (Unicode) first.
                let ascii_ci = *case_insensitive && s.is_ascii();
                let owned;
                let s = if *case_insensitive && !ascii_ci {
                    owned = s.to_lowercase();
                    owned.as_str()
                } else {
                    s
                };
                values.iter().any(|v| text_match(*op, s, v, ascii_ci))
            }
            (Test::Matches(regexes), Attr::Str(s)) => regexes.iter().any(|r| r.is_match(s)),
            (Test::Number(ord, values), Attr::Num(n)) => values.iter().any(|v| compare(*ord, n, *v)),
            (Test::Semver(op, values), Attr::Str(s)) => match Version::parse(s) {
                Ok(version) => values.iter().any(|v| {
                    let order = version.cmp_precedence(v);
                    match op {
                        SemverOp::Eq => order.is_eq(),
                        SemverOp::Lt => order.is_lt(),
                        SemverOp::Gt => order.is_gt(),
                    }
                }),
                Err(_) => false,
            },
            (Test::Time(ord, values), value) => match value {
                Attr::Str(s) => parse_rfc3339_ms(s).map(|ms| ms as f64),
                Attr::Num(n) => Some(n.trunc()),
                _ => None,
            }
            .is_some_and(|ms| values.iter().any(|v| compare(*ord, ms, *v))),
            _ => false,
        }
    }
}

fn lower_if(s: &str, case_insensitive: bool) -> Cow<'_, str> {
    if case_insensitive {
        Cow::Owned(s.to_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// `needle` is already lowercased when the clause is case-insensitive;
/// `ascii_ci` asks for an ASCII case-insensitive comparison of `haystack`.
fn text_match(op: TextOp, haystack: &str, needle: &str, ascii_ci: bool) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    if !ascii_ci {
        return match op {
            TextOp::StartsWith => h.starts_with(n),
            TextOp::EndsWith => h.ends_with(n),
            TextOp::Contains => haystack.contains(needle),
        };
    }
    if n.len() > h.len() {
        return false;
    }
    match op {
        TextOp::StartsWith => h[..n.len()].eq_ignore_ascii_case(n),
        TextOp::EndsWith => h[h.len() - n.len()..].eq_ignore_ascii_case(n),
        TextOp::Contains => n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n)),
    }
}

fn compare(ord: Ordering, left: f64, right: f64) -> bool {
    match ord {
        Ordering::Lt => left < right,
        Ordering::Lte => left <= right,
        Ordering::Gt => left > right,
        Ordering::Gte => left >= right,
    }
}

fn time_of(value: &Value) -> Option<f64> {
    match value {
        Value::String(s) => parse_rfc3339_ms(s).map(|ms| ms as f64),
        Value::Number(n) => n.as_f64().map(f64::trunc),
        _ => None,
    }
}

fn op_names() -> String {
    Op::ALL
        .iter()
        .map(|op| {
            serde_json::to_value(op)
                .unwrap_or_default()
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join(", ")
}
