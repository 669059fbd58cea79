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

mod constraints;
mod export;
mod strategies;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use daylight::model::{Clause, Op, Prerequisite, Rule, Serve};
use daylight::FlagConfig;
use serde_json::Value;

pub use export::{Constraint, Dependency, Export, Feature, Override, Payload, Segment, Strategy, Variant};

use super::{file, keep, FlagReport, ImportError, Imported, Notes, Report, Tool};
use crate::flagfile::model::FileFlag;
use constraints::{attribute, strategy_clauses};
use strategies::{strategy_share, weighted, Share};

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
