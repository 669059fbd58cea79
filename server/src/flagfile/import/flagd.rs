//! flagd's flag definitions (`{flags: {key: {state, variants,
//! defaultVariant, targeting}}, $evaluators}`) into Daylight flags.
//!
//! The variants become the variations (in key order), `defaultVariant` the
//! off variation and the fallthrough, `state` the flag's `on`. The targeting
//! (JSON Logic) is read as a chain of `if` branches: each condition becomes
//! one rule per alternative of its `or` (its `and` the rule's clauses), each
//! result a variation or, for `fractional`, a rollout. `$ref`s are replaced
//! by the shared `$evaluators` first.

use std::collections::BTreeMap;

use daylight::model::{Clause, Op, Rollout, Rule, Serve, WeightedVariation};
use daylight::FlagConfig;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{file, keep, split_total, FlagReport, ImportError, Imported, Notes, Report, Tool};
use crate::flagfile::model::FileFlag;

#[derive(Debug, Deserialize)]
pub struct Definitions {
    pub flags: BTreeMap<String, FlagdFlag>,
    #[serde(default, rename = "$evaluators")]
    pub evaluators: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlagdFlag {
    pub state: String,
    pub variants: Map<String, Value>,
    #[serde(default)]
    pub default_variant: Option<String>,
    #[serde(default)]
    pub targeting: Option<Value>,
}

/// The most alternatives one condition may expand to (an `and` of `or`s
/// multiplies them).
const MAX_ALTERNATIVES: usize = 64;
/// How deep `$ref`s and nested expressions may go.
const MAX_DEPTH: usize = 32;

pub fn translate(text: &str, environment: &str) -> Result<Imported, ImportError> {
    let defs: Definitions =
        serde_json::from_str(text).map_err(|e| ImportError(format!("not a flagd flag definitions file: {e}")))?;
    let mut flags = Vec::new();
    let mut reports: Vec<FlagReport> = Vec::new();
    for (key, flag) in &defs.flags {
        let mut notes = Notes::default();
        match translate_flag(key, flag, &defs.evaluators, environment, &mut notes) {
            Some(f) => keep(f, notes, &mut flags, &mut reports),
            None => reports.push(notes.report(key)),
        }
    }
    Ok(Imported {
        file: file(flags, Vec::new()),
        report: Report::new(Tool::Flagd, environment, reports),
    })
}

/// What a translation step could not map; the flag is left out.
type Unmapped = String;

struct Flag<'a> {
    names: Vec<&'a str>,
    default: usize,
}

impl Flag<'_> {
    fn variant(&self, name: &Value) -> Result<usize, Unmapped> {
        let Some(name) = name.as_str() else {
            return Err(format!("a targeting result {name} that is not a variant name"));
        };
        self.names
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| format!("a targeting result names the variant `{name}`, which the flag does not have"))
    }
}

fn translate_flag(
    key: &str,
    flag: &FlagdFlag,
    evaluators: &Map<String, Value>,
    environment: &str,
    notes: &mut Notes,
) -> Option<FileFlag> {
    let names: Vec<&str> = flag.variants.keys().map(String::as_str).collect();
    let Some(default) = flag
        .default_variant
        .as_deref()
        .and_then(|d| names.iter().position(|n| *n == d))
    else {
        notes.unmapped("no `defaultVariant` among the variants (Daylight needs a variation to serve by default)");
        return None;
    };
    let on = match flag.state.as_str() {
        "ENABLED" => true,
        "DISABLED" => {
            notes.approximate(
                "DISABLED: flagd returns the caller's default value; Daylight, off, serves the default variant",
            );
            false
        }
        other => {
            notes.unmapped(format!("state `{other}` is neither ENABLED nor DISABLED"));
            return None;
        }
    };
    let ctx = Flag { names, default };
    let mut rules = Vec::new();
    let mut fallthrough = Serve::variation(default);
    if let Some(targeting) = &flag.targeting {
        let targeting = match resolve_refs(targeting, evaluators, 0) {
            Ok(t) => t,
            Err(e) => {
                notes.unmapped(e);
                return None;
            }
        };
        let empty = targeting.as_object().is_some_and(Map::is_empty) || targeting.is_null();
        if !empty {
            match walk(&ctx, &targeting, Vec::new(), &mut rules, notes, 0) {
                Ok(Some(serve)) => fallthrough = serve,
                Ok(None) => {}
                Err(e) => {
                    notes.unmapped(e);
                    return None;
                }
            }
        }
    }
    for (i, rule) in rules.iter_mut().enumerate() {
        rule.id = format!("rule-{}", i + 1);
    }
    let config = FlagConfig {
        on,
        off_variation: Some(default),
        prerequisites: Vec::new(),
        targets: Vec::new(),
        rules,
        fallthrough,
        version: 0,
    };
    Some(FileFlag {
        key: key.to_owned(),
        name: String::new(),
        description: String::new(),
        tags: Vec::new(),
        owner: None,
        expires: None,
        variations: flag.variants.values().cloned().collect(),
        client_side: false,
        environments: [(environment.to_owned(), config)].into(),
        manage: Default::default(),
    })
}

/// `targeting` with every `{"$ref": name}` replaced by `$evaluators[name]`.
fn resolve_refs(v: &Value, evaluators: &Map<String, Value>, depth: usize) -> Result<Value, Unmapped> {
    if depth > MAX_DEPTH {
        return Err("`$ref`s nested too deep (a cycle?)".to_owned());
    }
    match v {
        Value::Object(m) => {
            if let (1, Some(name)) = (m.len(), m.get("$ref")) {
                let name = name.as_str().unwrap_or_default();
                let target = evaluators
                    .get(name)
                    .ok_or_else(|| format!("`$ref` to `{name}`, which is not in `$evaluators`"))?;
                return resolve_refs(target, evaluators, depth + 1);
            }
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(k.clone(), resolve_refs(v, evaluators, depth + 1)?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => Ok(Value::Array(
            items
                .iter()
                .map(|i| resolve_refs(i, evaluators, depth + 1))
                .collect::<Result<_, _>>()?,
        )),
        other => Ok(other.clone()),
    }
}

/// One operator and its arguments, `{"op": [args…]}` (a lone argument
/// reads as a one-element list).
fn operation(v: &Value) -> Option<(&str, Vec<&Value>)> {
    let m = v.as_object()?;
    if m.len() != 1 {
        return None;
    }
    let (op, args) = m.iter().next()?;
    let args = match args {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    Some((op.as_str(), args))
}

/// Translates a targeting result reached when `guard` holds: pushes rules
/// and returns the fallthrough when the result applies unconditionally
/// (`guard` empty), `None` when later rules are still reachable.
fn walk(
    flag: &Flag,
    expr: &Value,
    guard: Vec<Clause>,
    rules: &mut Vec<Rule>,
    notes: &mut Notes,
    depth: usize,
) -> Result<Option<Serve>, Unmapped> {
    if depth > MAX_DEPTH {
        return Err("targeting nested too deep".to_owned());
    }
    let serve = match (expr, operation(expr)) {
        (Value::Null, _) => Serve::variation(flag.default),
        (Value::String(_), _) => Serve::variation(flag.variant(expr)?),
        (_, Some(("if", args))) => {
            let mut pairs = args.chunks_exact(2);
            for pair in pairs.by_ref() {
                for alternative in condition(pair[0], notes, 0)? {
                    let mut clauses = guard.clone();
                    clauses.extend(alternative);
                    if let Some(serve) = walk(flag, pair[1], clauses, rules, notes, depth + 1)? {
                        return Ok(Some(serve));
                    }
                }
            }
            // No branch matched: the `else`, or null (the default variant).
            let otherwise = pairs.remainder().first().copied().unwrap_or(&Value::Null);
            return walk(flag, otherwise, guard, rules, notes, depth + 1);
        }
        (_, Some(("fractional", args))) => fractional(flag, &args, notes)?,
        _ => {
            return Err(format!(
                "targeting result {expr} is not a variant name, `if` or `fractional`"
            ))
        }
    };
    if guard.is_empty() {
        return Ok(Some(serve));
    }
    rules.push(Rule {
        id: String::new(),
        description: String::new(),
        clauses: guard,
        serve,
    });
    Ok(None)
}

/// `fractional`: a rollout. flagd hashes `flagKey + targetingKey` (or the
/// first argument) with its own formula, so the same shares reach other
/// contexts.
fn fractional(flag: &Flag, args: &[&Value], notes: &mut Notes) -> Result<Serve, Unmapped> {
    let (bucket_by, buckets) = match args.first() {
        Some(Value::Array(_)) => (None, args),
        Some(first) => match operation(first) {
            Some(("var", _)) => (Some(variable(first)?), &args[1..]),
            _ => {
                // flagd's default written out: {"cat": [{"var": "$flagd.flagKey"}, {"var": "targetingKey"}]}.
                let default = serde_json::json!({"cat": [{"var": "$flagd.flagKey"}, {"var": "targetingKey"}]});
                if **first != default {
                    return Err(format!("`fractional` bucketing by {first}: only a variable maps"));
                }
                (None, &args[1..])
            }
        },
        None => return Err("`fractional` with no buckets".to_owned()),
    };
    let mut indexes = Vec::new();
    let mut weights = Vec::new();
    for bucket in buckets {
        let Some(entry) = bucket.as_array().filter(|e| matches!(e.len(), 1 | 2)) else {
            return Err(format!("`fractional` bucket {bucket} is not [variant, weight]"));
        };
        let weight = match entry.get(1) {
            None => 1,
            Some(w) => w
                .as_u64()
                .ok_or_else(|| format!("`fractional` weight {w} is not a whole number"))?,
        };
        indexes.push(flag.variant(&entry[0])?);
        weights.push(weight);
    }
    let split = split_total(&weights, 100_000).ok_or("`fractional` weights are all zero")?;
    notes.approximate(format!(
        "`fractional` split by {}: same shares, different contexts (flagd and Daylight hash differently)",
        bucket_by
            .as_deref()
            .map(|b| format!("`{b}`"))
            .unwrap_or_else(|| "the targeting key".to_owned())
    ));
    Ok(Serve {
        variation: None,
        rollout: Some(Rollout {
            variations: indexes
                .into_iter()
                .zip(split)
                .map(|(variation, weight)| WeightedVariation { variation, weight })
                .collect(),
            bucket_by: bucket_by.filter(|b| b != "key"),
            salt: None,
            cohort: None,
            cohort_in: None,
            cohort_out: None,
        }),
    })
}

/// The attribute a `{"var": name}` reads: `targetingKey` is Daylight's key.
fn variable(v: &Value) -> Result<String, Unmapped> {
    let Some(("var", args)) = operation(v) else {
        return Err(format!("{v} is not a variable"));
    };
    let name = match args.as_slice() {
        [Value::String(name)] => name.as_str(),
        _ => return Err(format!("{v}: only `{{\"var\": name}}` without a default maps")),
    };
    if name.starts_with("$flagd.") {
        return Err(format!("`{name}` (flagd's own properties) has no Daylight attribute"));
    }
    if name.contains('.') {
        return Err(format!(
            "`{name}`: nested attributes do not map (Daylight contexts are flat)"
        ));
    }
    Ok(match name {
        "targetingKey" => "key".to_owned(),
        other => other.to_owned(),
    })
}

/// A condition as alternatives (any may hold), each a list of clauses
/// (all must hold).
fn condition(c: &Value, notes: &mut Notes, depth: usize) -> Result<Vec<Vec<Clause>>, Unmapped> {
    if depth > MAX_DEPTH {
        return Err("condition nested too deep".to_owned());
    }
    match c {
        Value::Bool(true) => return Ok(vec![Vec::new()]),
        Value::Bool(false) => return Ok(Vec::new()),
        _ => {}
    }
    let Some((op, args)) = operation(c) else {
        return Err(format!("condition {c} does not map"));
    };
    let clause = |attribute: String, op: Op, values: Vec<Value>, negate: bool| Clause {
        attribute,
        op,
        values,
        negate,
        case_insensitive: false,
    };
    let one = |clause: Clause| Ok(vec![vec![clause]]);
    match (op, args.as_slice()) {
        ("and", parts) => {
            let mut out = vec![Vec::new()];
            for part in parts {
                let alternatives = condition(part, notes, depth + 1)?;
                let mut next = Vec::new();
                for have in &out {
                    for alt in &alternatives {
                        let mut both: Vec<Clause> = have.clone();
                        both.extend(alt.iter().cloned());
                        next.push(both);
                    }
                }
                if next.len() > MAX_ALTERNATIVES {
                    return Err("an `and` of `or`s with too many combinations".to_owned());
                }
                out = next;
            }
            Ok(out)
        }
        ("or", parts) => {
            let mut out = Vec::new();
            for part in parts {
                out.extend(condition(part, notes, depth + 1)?);
            }
            if out.len() > MAX_ALTERNATIVES {
                return Err("an `or` with too many alternatives".to_owned());
            }
            Ok(out)
        }
        ("==" | "===" | "!=" | "!==", [a, b]) => {
            let (var, literal) = var_and_literal(a, b)?;
            if !matches!(literal, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
                return Err(format!("`{op}` with {literal}: only strings, numbers and booleans map"));
            }
            let negate = op.starts_with('!');
            if negate {
                notes.approximate(format!(
                    "`{op}`: a context without `{var}` matches in flagd, never in Daylight"
                ));
            }
            one(clause(var, Op::In, vec![literal.clone()], negate))
        }
        ("in", [needle, haystack]) => {
            if let Value::Array(items) = haystack {
                let var = variable(needle)?;
                if items.is_empty() || !items.iter().all(|i| matches!(i, Value::String(_) | Value::Number(_))) {
                    return Err("`in` a list: only non-empty lists of strings or numbers map".to_owned());
                }
                one(clause(var, Op::In, items.clone(), false))
            } else {
                // "substring" in {"var": x}
                let var = variable(haystack)?;
                let Value::String(s) = needle else {
                    return Err(format!("`in` {needle}: only a string literal in a variable maps"));
                };
                one(clause(var, Op::Contains, vec![Value::String(s.clone())], false))
            }
        }
        ("starts_with" | "ends_with", [a, Value::String(s)]) => {
            let op = if op == "starts_with" {
                Op::StartsWith
            } else {
                Op::EndsWith
            };
            one(clause(variable(a)?, op, vec![Value::String(s.clone())], false))
        }
        ("sem_ver", [a, Value::String(cmp), Value::String(version)]) => {
            let var = variable(a)?;
            notes.approximate(
                "`sem_ver`: flagd also reads `v1.2.3` and partial versions (`1.2`); Daylight only strict SemVer",
            );
            let (op, negate) = match cmp.as_str() {
                "=" => (Op::SemverEq, false),
                "!=" => (Op::SemverEq, true),
                ">" => (Op::SemverGt, false),
                "<" => (Op::SemverLt, false),
                ">=" => (Op::SemverLt, true),
                "<=" => (Op::SemverGt, true),
                other => return Err(format!("`sem_ver` operator `{other}` does not map")),
            };
            one(clause(var, op, vec![Value::String(version.clone())], negate))
        }
        ("<" | "<=" | ">" | ">=", [a, b]) => {
            let flip = b.get("var").is_some();
            let (var, literal) = var_and_literal(a, b)?;
            if !literal.is_number() {
                return Err(format!("`{op}` with {literal}: only numbers map"));
            }
            let op = match (op, flip) {
                ("<", false) | (">", true) => Op::Lt,
                ("<=", false) | (">=", true) => Op::Lte,
                (">", false) | ("<", true) => Op::Gt,
                _ => Op::Gte,
            };
            one(clause(var, op, vec![literal.clone()], false))
        }
        _ => Err(format!("condition `{op}` with {} argument(s) does not map", args.len())),
    }
}

/// `[{"var": x}, literal]` or `[literal, {"var": x}]`.
fn var_and_literal<'a>(a: &'a Value, b: &'a Value) -> Result<(String, &'a Value), Unmapped> {
    if a.get("var").is_some() {
        Ok((variable(a)?, b))
    } else if b.get("var").is_some() {
        Ok((variable(b)?, a))
    } else {
        Err(format!("a comparison of {a} and {b}: one side must be a variable"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flagfile::import::Fidelity;

    fn report(text: &str) -> Vec<(String, Fidelity, Vec<String>)> {
        translate(text, "production")
            .unwrap()
            .report
            .flags
            .into_iter()
            .map(|f| (f.key, f.result, f.notes))
            .collect()
    }

    #[test]
    fn a_ref_cycle_or_an_unknown_ref_is_unmapped_not_a_crash() {
        let out = report(
            r#"{"flags": {
                "cycle": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
                          "targeting": {"if": [{"$ref": "a"}, "on"]}},
                "missing": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
                            "targeting": {"if": [{"$ref": "nope"}, "on"]}}},
               "$evaluators": {"a": {"$ref": "b"}, "b": {"$ref": "a"}}}"#,
        );
        assert_eq!(out[0].1, Fidelity::Unmapped);
        assert!(out[0].2[0].contains("too deep"), "{:?}", out[0]);
        assert_eq!(out[1].1, Fidelity::Unmapped);
        assert!(out[1].2[0].contains("`nope`"), "{:?}", out[1]);
    }

    #[test]
    fn mixed_variant_types_and_unknown_variants_are_unmapped() {
        let out = report(
            r#"{"flags": {
                "mixed": {"state": "ENABLED", "variants": {"a": true, "b": "x"}, "defaultVariant": "a"},
                "typo": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
                         "targeting": {"if": [{"==": [{"var": "a"}, 1]}, "onn"]}},
                "no-default": {"state": "ENABLED", "variants": {"on": true, "off": false}}}}"#,
        );
        let by_key: BTreeMap<_, _> = out.into_iter().map(|(k, f, n)| (k, (f, n))).collect();
        assert_eq!(by_key["mixed"].0, Fidelity::Unmapped);
        assert!(by_key["mixed"].1[0].contains("variations"), "{:?}", by_key["mixed"]);
        assert!(by_key["typo"].1[0].contains("`onn`"), "{:?}", by_key["typo"]);
        assert_eq!(by_key["no-default"].0, Fidelity::Unmapped);
    }

    #[test]
    fn an_if_chain_becomes_rules_in_order_and_its_else_the_fallthrough() {
        let imported = translate(
            r#"{"flags": {"f": {"state": "ENABLED", "variants": {"a": "A", "b": "B", "c": "C"}, "defaultVariant": "c",
                "targeting": {"if": [{"or": [{"==": [{"var": "x"}, 1]}, {"<": [5, {"var": "y"}]}]}, "a",
                                     {"in": [{"var": "targetingKey"}, ["k"]]}, "b", "a"]}}}}"#,
            "production",
        )
        .unwrap();
        let config = &imported.file.flags[0].environments["production"];
        let ops: Vec<(String, Op, Option<usize>)> = config
            .rules
            .iter()
            .map(|r| (r.clauses[0].attribute.clone(), r.clauses[0].op, r.serve.variation))
            .collect();
        // Variants in key order: a=0, b=1, c=2; `5 < y` is `y > 5`.
        assert_eq!(
            ops,
            vec![
                ("x".to_owned(), Op::In, Some(0)),
                ("y".to_owned(), Op::Gt, Some(0)),
                ("key".to_owned(), Op::In, Some(1)),
            ]
        );
        assert_eq!(config.fallthrough.variation, Some(0));
        assert_eq!(config.off_variation, Some(2));
        assert_eq!(imported.report.exact, 1);
    }
}
