//! Unleash constraints (a strategy's own and its segments') as Daylight
//! clauses, and context fields as attributes.

use std::collections::BTreeMap;

use daylight::model::{Clause, Op};
use serde_json::Value;

use super::{Constraint, Segment, Strategy};
use crate::flagfile::import::Notes;

/// The strategy's constraints and those of its segments, as clauses;
/// `None` (with a note) when one does not map.
pub(super) fn strategy_clauses(
    s: &Strategy,
    segments: &BTreeMap<i64, &Segment>,
    label: &str,
    notes: &mut Notes,
) -> Option<Vec<Clause>> {
    let mut clauses = Vec::new();
    let mut ok = true;
    for (j, c) in s.constraints.iter().enumerate() {
        match constraint(c, &format!("{label}, constraint {}", j + 1), notes) {
            Some(clause) => clauses.push(clause),
            None => ok = false,
        }
    }
    for id in &s.segments {
        let Some(segment) = segments.get(id) else {
            notes.unmapped(format!("{label}: segment {id} is not in the file"));
            ok = false;
            continue;
        };
        for (j, c) in segment.constraints.iter().enumerate() {
            match constraint(c, &format!("{label}, segment {id} constraint {}", j + 1), notes) {
                Some(clause) => clauses.push(clause),
                None => ok = false,
            }
        }
    }
    ok.then_some(clauses)
}

/// An Unleash context field as a Daylight attribute: `userId` is the
/// targeting key, the others keep their names (custom properties are
/// top-level attributes in Daylight).
pub(super) fn attribute(context_name: &str) -> String {
    match context_name {
        "userId" => "key".to_owned(),
        other => other.to_owned(),
    }
}

fn constraint(c: &Constraint, label: &str, notes: &mut Notes) -> Option<Clause> {
    let attr = attribute(&c.context_name);
    let strings = || c.values.iter().cloned().map(Value::String).collect::<Vec<_>>();
    let single = || {
        c.value
            .clone()
            .or_else(|| c.values.first().cloned())
            .unwrap_or_default()
    };
    let (op, values, negate, case_insensitive) = match c.operator.as_str() {
        "IN" => (Op::In, strings(), false, false),
        "NOT_IN" => (Op::In, strings(), true, false),
        "STR_CONTAINS" => (Op::Contains, strings(), false, c.case_insensitive),
        "STR_STARTS_WITH" => (Op::StartsWith, strings(), false, c.case_insensitive),
        "STR_ENDS_WITH" => (Op::EndsWith, strings(), false, c.case_insensitive),
        "NUM_EQ" | "NUM_GT" | "NUM_GTE" | "NUM_LT" | "NUM_LTE" => {
            let text = single();
            let Some(n) = text.trim().parse::<f64>().ok().and_then(serde_json::Number::from_f64) else {
                notes.unmapped(format!("{label}: {} value {text:?} is not a number", c.operator));
                return None;
            };
            // An integral value as an integer, as an app would send it.
            let n = n
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                .map(|f| Value::from(f as i64))
                .unwrap_or(Value::Number(n));
            let op = match c.operator.as_str() {
                "NUM_EQ" => Op::In,
                "NUM_GT" => Op::Gt,
                "NUM_GTE" => Op::Gte,
                "NUM_LT" => Op::Lt,
                _ => Op::Lte,
            };
            (op, vec![n], false, false)
        }
        "SEMVER_EQ" => (Op::SemverEq, vec![Value::String(single())], false, false),
        "SEMVER_GT" => (Op::SemverGt, vec![Value::String(single())], false, false),
        "SEMVER_LT" => (Op::SemverLt, vec![Value::String(single())], false, false),
        "DATE_AFTER" | "DATE_BEFORE" => {
            if c.context_name == "currentTime" {
                notes.approximate(format!(
                    "{label}: Daylight compares the context's `currentTime`; Unleash uses the clock when it is absent"
                ));
            }
            let op = if c.operator == "DATE_AFTER" {
                Op::After
            } else {
                Op::Before
            };
            (op, vec![Value::String(single())], false, false)
        }
        other => {
            notes.unmapped(format!("{label}: operator `{other}` has no Daylight equivalent"));
            return None;
        }
    };
    let negate = negate != c.inverted;
    if negate {
        notes.approximate(format!(
            "{label}: a context without `{}` matches this negated constraint in Unleash, never in Daylight",
            c.context_name
        ));
    }
    Some(Clause {
        attribute: attr,
        op,
        values,
        negate,
        case_insensitive,
    })
}
