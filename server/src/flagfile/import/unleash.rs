//! Unleash's feature export (`{version, features, segments}`, as served at
//! `/api/client/features` and written by an export) into Daylight flags.
//!
//! A feature is on when any of its strategies matches, so each strategy
//! becomes a rule serving "on" (or the strategy's variants); the
//! fallthrough serves "off". A boolean feature gets the variations
//! `[false, true]`, a feature with variants `["disabled", <variant names>…]`
//! (Unleash's name for "no variant"). Segments are reusable constraint lists
//! in Unleash, so their constraints are copied into each strategy's clauses:
//! Daylight segments would not match a context without a key, where Unleash's
//! do.

use std::collections::BTreeMap;

use daylight::model::{Clause, Op, Prerequisite, Rollout, Rule, Serve, WeightedVariation};
use daylight::FlagConfig;
use serde::Deserialize;
use serde_json::Value;

use super::{file, keep, split_total, FlagReport, ImportError, Imported, Notes, Report, Tool};
use crate::flagfile::model::FileFlag;

#[derive(Debug, Deserialize)]
pub struct Export {
    #[serde(default)]
    pub features: Vec<Feature>,
    #[serde(default)]
    pub segments: Vec<Segment>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Feature {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub strategies: Vec<Strategy>,
    #[serde(default)]
    pub variants: Vec<Variant>,
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
}

#[derive(Debug, Deserialize)]
pub struct Strategy {
    pub name: String,
    #[serde(default)]
    pub parameters: BTreeMap<String, Value>,
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    #[serde(default)]
    pub segments: Vec<i64>,
    #[serde(default)]
    pub variants: Vec<Variant>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Constraint {
    pub context_name: String,
    pub operator: String,
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub case_insensitive: bool,
    #[serde(default)]
    pub inverted: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Variant {
    pub name: String,
    #[serde(default)]
    pub weight: u64,
    #[serde(default)]
    pub stickiness: Option<String>,
    #[serde(default)]
    pub payload: Option<Payload>,
    #[serde(default)]
    pub overrides: Vec<Override>,
}

#[derive(Debug, Deserialize)]
pub struct Payload {
    #[serde(default)]
    pub value: Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Override {
    pub context_name: String,
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct Segment {
    pub id: i64,
    #[serde(default)]
    pub constraints: Vec<Constraint>,
}

#[derive(Debug, Deserialize)]
pub struct Dependency {
    pub feature: String,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub variants: Vec<String>,
}

/// The name Unleash gives "no variant", and Daylight's off variation of a
/// feature with variants.
pub const DISABLED: &str = "disabled";

pub fn translate(text: &str, environment: &str) -> Result<Imported, ImportError> {
    let export: Export =
        serde_json::from_str(text).map_err(|e| ImportError(format!("not an Unleash feature export: {e}")))?;
    let segments: BTreeMap<i64, &Segment> = export.segments.iter().map(|s| (s.id, s)).collect();
    let with_variants: BTreeMap<&str, bool> = export
        .features
        .iter()
        .map(|f| (f.name.as_str(), has_variants(f)))
        .collect();
    let mut flags = Vec::new();
    let mut reports: Vec<FlagReport> = Vec::new();
    for feature in &export.features {
        let mut notes = Notes::default();
        let flag = feature_to_flag(feature, environment, &segments, &with_variants, &mut notes);
        keep(flag, notes, &mut flags, &mut reports);
    }
    // A feature whose parent was left out cannot be applied without it.
    loop {
        let kept: Vec<String> = flags.iter().map(|f| f.key.clone()).collect();
        let orphan = flags.iter().position(|f| {
            f.environments
                .values()
                .flat_map(|c| &c.prerequisites)
                .any(|p| !kept.contains(&p.flag))
        });
        let Some(at) = orphan else { break };
        let flag = flags.remove(at);
        if let Some(report) = reports.iter_mut().find(|r| r.key == flag.key) {
            report.result = super::Fidelity::Unmapped;
            report.notes.push("depends on a feature that was left out".to_owned());
        }
    }
    Ok(Imported {
        file: file(flags, Vec::new()),
        report: Report::new(Tool::Unleash, environment, reports),
    })
}

fn has_variants(f: &Feature) -> bool {
    !f.variants.is_empty() || f.strategies.iter().any(|s| !s.variants.is_empty())
}

fn feature_to_flag(
    feature: &Feature,
    environment: &str,
    segments: &BTreeMap<i64, &Segment>,
    with_variants: &BTreeMap<&str, bool>,
    notes: &mut Notes,
) -> FileFlag {
    // Variations: booleans, or "disabled" then every variant name.
    let variations: Vec<Value> = if has_variants(feature) {
        let mut names = vec![DISABLED.to_owned()];
        for v in feature
            .variants
            .iter()
            .chain(feature.strategies.iter().flat_map(|s| &s.variants))
        {
            if !names.contains(&v.name) {
                names.push(v.name.clone());
            }
        }
        names.into_iter().map(Value::String).collect()
    } else {
        vec![Value::Bool(false), Value::Bool(true)]
    };
    let index = |name: &str| variations.iter().position(|v| v.as_str() == Some(name));
    let all_variants = feature
        .variants
        .iter()
        .chain(feature.strategies.iter().flat_map(|s| &s.variants));
    if all_variants
        .filter_map(|v| v.payload.as_ref().map(|p| (v, p)))
        .any(|(v, p)| p.value.as_str() != Some(v.name.as_str()))
    {
        notes.approximate("variant payloads are not carried: Daylight serves the variant's name");
    }

    let mut exact_rules = Vec::new();
    let mut rollout_rules = Vec::new();
    let active: Vec<&Strategy> = feature.strategies.iter().filter(|s| s.disabled != Some(true)).collect();
    for (i, strategy) in active.iter().enumerate() {
        let label = format!("strategy {} (`{}`)", i + 1, strategy.name);
        let Some(mut clauses) = strategy_clauses(strategy, segments, &label, notes) else {
            continue;
        };
        // The share of contexts this strategy lets in, in thousandths of a percent.
        let share = match strategy_share(strategy, &label, notes) {
            Some(Share { percent: 0, .. }) => continue, // never matches
            Some(share) => share,
            None => continue,
        };
        if let Some(bucket_by) = &share.bucket_by {
            if share.percent < 100_000 && bucket_by != "key" && !strategy.variants.is_empty() {
                notes.approximate(format!(
                    "{label}: variants are split within the rollout by `{bucket_by}`"
                ));
            }
        }
        if let Some(extra) = share.clause.clone() {
            clauses.push(extra);
        }
        // What the strategy serves when it matches.
        let variants: &[Variant] = if !strategy.variants.is_empty() {
            &strategy.variants
        } else {
            &feature.variants
        };
        let id = format!("strategy-{}", i + 1);
        if has_variants(feature) && variants.is_empty() {
            notes.unmapped(format!(
                "{label}: serves no variant while other strategies do (Unleash answers \"disabled\" with the feature enabled)"
            ));
            continue;
        }
        let serve = if variants.is_empty() {
            weighted(&[(1, 1)], &share, feature, None)
        } else {
            // Overrides: a context listed for a variant gets it (when the strategy matches).
            if share.percent == 100_000 {
                for v in variants {
                    for o in &v.overrides {
                        let mut with = clauses.clone();
                        with.push(Clause {
                            attribute: attribute(&o.context_name),
                            op: Op::In,
                            values: o.values.iter().cloned().map(Value::String).collect(),
                            negate: false,
                            case_insensitive: false,
                        });
                        exact_rules.push(Rule {
                            id: format!("{id}-override-{}", v.name),
                            description: String::new(),
                            clauses: with,
                            serve: Serve::variation(index(&v.name).unwrap_or(0)),
                        });
                    }
                }
            } else if variants.iter().any(|v| !v.overrides.is_empty()) {
                notes.approximate(format!(
                    "{label}: variant overrides inside a percentage rollout are left out"
                ));
            }
            let split: Vec<(usize, u64)> = variants
                .iter()
                .map(|v| (index(&v.name).unwrap_or(0), v.weight))
                .collect();
            let stickiness = variants.first().and_then(|v| v.stickiness.as_deref());
            if split.iter().filter(|(_, w)| *w > 0).count() > 1 {
                notes.approximate(format!(
                    "{label}: variants split by weight with Daylight's hash: same shares, different contexts per variant"
                ));
            }
            weighted(&split, &share, feature, stickiness)
        };
        let Some(serve) = serve else {
            notes.unmapped(format!("{label}: variant weights are all zero"));
            continue;
        };
        let rule = Rule {
            id,
            description: String::new(),
            clauses,
            serve,
        };
        if share.percent < 100_000 {
            rollout_rules.push(rule);
        } else {
            exact_rules.push(rule);
        }
    }
    if rollout_rules.len() > 1 {
        notes.approximate(
            "several percentage rollouts: a context outside the first one that matches is not tried against the next",
        );
    }
    let mut rules = exact_rules;
    rules.extend(rollout_rules);
    // A rule with no clauses ends the list: it is the fallthrough.
    let unconditional = rules.iter().position(|r| r.clauses.is_empty());
    let fallthrough = if let Some(at) = unconditional {
        let serve = rules[at].serve.clone();
        rules.truncate(at);
        serve
    } else if feature.strategies.is_empty() {
        // A feature with no strategy is on for everyone.
        if has_variants(feature) {
            let split: Vec<(usize, u64)> = feature
                .variants
                .iter()
                .map(|v| (index(&v.name).unwrap_or(0), v.weight))
                .collect();
            if split.iter().filter(|(_, w)| *w > 0).count() > 1 {
                notes.approximate("variants split by weight with Daylight's hash: same shares, different contexts");
            }
            let everyone = Share {
                percent: 100_000,
                bucket_by: None,
                salt: feature.name.clone(),
                clause: None,
            };
            weighted(
                &split,
                &everyone,
                feature,
                feature.variants.first().and_then(|v| v.stickiness.as_deref()),
            )
            .unwrap_or_else(|| Serve::variation(0))
        } else {
            Serve::variation(1)
        }
    } else {
        Serve::variation(0)
    };
    let mut prerequisites = Vec::new();
    for d in &feature.dependencies {
        match with_variants.get(d.feature.as_str()) {
            Some(false) if d.enabled != Some(false) && d.variants.is_empty() => prerequisites.push(Prerequisite {
                flag: d.feature.clone(),
                variation: 1,
            }),
            Some(_) => notes.unmapped(format!(
                "dependency on `{}`: only \"parent enabled\" on a parent without variants maps",
                d.feature
            )),
            None => notes.unmapped(format!("dependency on `{}`: no such feature in the file", d.feature)),
        }
    }
    let config = FlagConfig {
        on: feature.enabled,
        off_variation: Some(0),
        prerequisites,
        targets: Vec::new(),
        rules,
        fallthrough,
        version: 0,
    };
    FileFlag {
        key: feature.name.clone(),
        name: String::new(),
        description: feature.description.clone().unwrap_or_default(),
        tags: Vec::new(),
        owner: None,
        expires: None,
        variations,
        client_side: false,
        environments: [(environment.to_owned(), config)].into(),
        manage: Default::default(),
    }
}

/// Who a strategy lets in, before its constraints: everyone (`percent` =
/// 100000), or a percentage bucketed by an attribute, or the contexts an
/// extra clause matches (`userWithId`, `remoteAddress`).
#[derive(Debug, Clone)]
struct Share {
    percent: u32,
    bucket_by: Option<String>,
    salt: String,
    clause: Option<Clause>,
}

fn strategy_share(s: &Strategy, label: &str, notes: &mut Notes) -> Option<Share> {
    let param = |name: &str| -> Option<String> {
        s.parameters.get(name).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let everyone = Share {
        percent: 100_000,
        bucket_by: None,
        salt: String::new(),
        clause: None,
    };
    let list = |name: &str| -> Vec<Value> {
        param(name)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| Value::String(v.to_owned()))
            .collect()
    };
    let percentage = |name: &str, stickiness: Option<String>, notes: &mut Notes| -> Option<Share> {
        let text = param(name).unwrap_or_else(|| "100".to_owned());
        let Some(p) = text.trim().parse::<f64>().ok().filter(|p| (0.0..=100.0).contains(p)) else {
            notes.unmapped(format!("{label}: `{name}` is not a percentage: {text:?}"));
            return None;
        };
        let percent = (p * 1000.0).round() as u32;
        let bucket_by = match stickiness.as_deref() {
            None | Some("" | "default" | "userId") => {
                if matches!(stickiness.as_deref(), None | Some("" | "default")) && percent > 0 && percent < 100_000 {
                    notes.approximate(format!(
                        "{label}: default stickiness is the user id here; Unleash falls back to the session id, then random"
                    ));
                }
                "key".to_owned()
            }
            Some("random") if percent > 0 && percent < 100_000 => {
                notes.unmapped(format!(
                    "{label}: random stickiness (a new draw per request) has no Daylight equivalent"
                ));
                return None;
            }
            Some("random") => "key".to_owned(),
            Some(field) => attribute(field),
        };
        if percent > 0 && percent < 100_000 {
            notes.approximate(format!(
                "{label}: {p}% rollout: same share, different contexts (Unleash and Daylight hash differently)"
            ));
        }
        Some(Share {
            percent,
            bucket_by: Some(bucket_by),
            salt: param("groupId").unwrap_or_default(),
            clause: None,
        })
    };
    match s.name.as_str() {
        "default" => Some(everyone),
        "userWithId" => Some(Share {
            clause: Some(Clause {
                attribute: "key".to_owned(),
                op: Op::In,
                values: list("userIds"),
                negate: false,
                case_insensitive: false,
            }),
            ..everyone
        }),
        "remoteAddress" => {
            let ips = list("IPs");
            if ips.iter().any(|ip| ip.as_str().is_some_and(|ip| ip.contains('/'))) {
                notes.unmapped(format!("{label}: CIDR ranges have no Daylight operator"));
                return None;
            }
            Some(Share {
                clause: Some(Clause {
                    attribute: "remoteAddress".to_owned(),
                    op: Op::In,
                    values: ips,
                    negate: false,
                    case_insensitive: false,
                }),
                ..everyone
            })
        }
        "flexibleRollout" => percentage("rollout", param("stickiness"), notes),
        "gradualRolloutUserId" => percentage("percentage", Some("userId".to_owned()), notes),
        "gradualRolloutSessionId" => percentage("percentage", Some("sessionId".to_owned()), notes),
        "gradualRolloutRandom" => percentage("percentage", Some("random".to_owned()), notes),
        other => {
            notes.unmapped(format!(
                "{label}: strategy `{other}` has no Daylight equivalent (custom or host-based)"
            ));
            None
        }
    }
}

/// `split` (variation index, relative weight) within a strategy's share:
/// the contexts outside the share get variation 0 ("off"/"disabled"),
/// placed first so a context missing the bucketing attribute is out.
fn weighted(split: &[(usize, u64)], share: &Share, feature: &Feature, stickiness: Option<&str>) -> Option<Serve> {
    let live: Vec<(usize, u64)> = split.iter().copied().filter(|(_, w)| *w > 0).collect();
    if live.is_empty() {
        return None;
    }
    if share.percent == 100_000 && live.len() == 1 {
        return Some(Serve::variation(live[0].0));
    }
    let mut variations = Vec::new();
    if share.percent < 100_000 {
        variations.push(WeightedVariation {
            variation: 0,
            weight: 100_000 - share.percent,
        });
    }
    let inside = split_total(&live.iter().map(|(_, w)| *w).collect::<Vec<_>>(), share.percent)?;
    for ((index, _), weight) in live.iter().zip(inside) {
        variations.push(WeightedVariation {
            variation: *index,
            weight,
        });
    }
    let bucket_by = match (live.len() > 1, stickiness) {
        (true, Some(field)) if !matches!(field, "default" | "userId" | "random") => attribute(field),
        _ => share.bucket_by.clone().unwrap_or_else(|| "key".to_owned()),
    };
    let salt = if share.salt.is_empty() {
        feature.name.clone()
    } else {
        share.salt.clone()
    };
    Some(Serve {
        variation: None,
        rollout: Some(Rollout {
            variations,
            bucket_by: (bucket_by != "key").then_some(bucket_by),
            salt: (salt != feature.name).then_some(salt),
            cohort: None,
            cohort_in: None,
            cohort_out: None,
        }),
    })
}

/// The strategy's constraints and those of its segments, as clauses;
/// `None` (with a note) when one does not map.
fn strategy_clauses(
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
fn attribute(context_name: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flagfile::import::Fidelity;

    #[test]
    fn a_child_of_an_unmapped_parent_is_left_out_with_it() {
        let imported = translate(
            r#"{"version": 2, "features": [
                {"name": "parent", "enabled": true, "strategies": [{"name": "custom", "parameters": {}}]},
                {"name": "child", "enabled": true, "strategies": [], "dependencies": [{"feature": "parent"}]}]}"#,
            "production",
        )
        .unwrap();
        assert!(imported.file.flags.is_empty());
        let child = imported.report.flag("child").unwrap();
        assert_eq!(child.result, Fidelity::Unmapped);
        assert_eq!(imported.report.unmapped, 2);
    }

    #[test]
    fn a_name_daylight_refuses_as_a_key_is_unmapped_with_the_reason() {
        let imported = translate(
            r#"{"version": 2, "features": [{"name": "new lobby", "enabled": true, "strategies": []}]}"#,
            "production",
        )
        .unwrap();
        assert!(imported.file.flags.is_empty());
        let report = imported.report.flag("new lobby").unwrap();
        assert_eq!(report.result, Fidelity::Unmapped);
        assert!(report.notes[0].contains("at `key`"), "{report:?}");
    }

    #[test]
    fn rollouts_come_after_the_strategies_that_always_match_their_contexts() {
        let imported = translate(
            r#"{"version": 2, "features": [{"name": "f", "enabled": true, "strategies": [
                {"name": "flexibleRollout", "parameters": {"rollout": "10", "stickiness": "userId", "groupId": "g"}},
                {"name": "userWithId", "parameters": {"userIds": "a, b"}}]}]}"#,
            "production",
        )
        .unwrap();
        let config = &imported.file.flags[0].environments["production"];
        assert_eq!(
            config.rules.len(),
            1,
            "the rollout has no clause: it is the fallthrough"
        );
        assert_eq!(
            config.rules[0].clauses[0].values,
            vec![Value::from("a"), Value::from("b")]
        );
        let rollout = config.fallthrough.rollout.as_ref().unwrap();
        assert_eq!(rollout.salt.as_deref(), Some("g"));
        let weights: Vec<(usize, u32)> = rollout.variations.iter().map(|v| (v.variation, v.weight)).collect();
        assert_eq!(weights, vec![(0, 90_000), (1, 10_000)]);
        assert_eq!(imported.report.approximate, 1);
    }
}
