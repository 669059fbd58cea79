//! Named cohorts: one bucketing (a salt and a `bucket_by` attribute) with a
//! percentage per environment, shared by flag rollouts and bundle canaries
//! so that one raise moves the same people everywhere (`docs/cohorts.md`).
//!
//! SDKs know nothing of cohorts. The server *materialises* a cohort into
//! whatever references it: a flag rollout that names a cohort is stored with
//! the reference and the weights, salt and `bucket_by` the cohort gives it
//! (SDKs receive it without the reference, an ordinary rollout), and a
//! bundle canary that names one gets its weight, salt and `bucket_by`. This
//! module is pure: what a cohort makes of a reference, and where references
//! are. The writes are in `writes/cohorts.rs` and `writes/flags.rs`.

use std::collections::BTreeMap;

use daylight::model::{Flag, FlagConfig, Rollout, Serve, WeightedVariation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::bundles::BundleConfig;
use crate::error::{ApiError, ApiResult};

/// Weights are thousandths of a percent, as in rollouts.
pub const ALL: u32 = daylight::bucket::BUCKETS;

/// A cohort as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Cohort {
    pub key: String,
    pub name: String,
    pub description: String,
    /// The hash salt (default `cohort.<key>`); fixed at creation, since a
    /// new salt would reshuffle everyone.
    pub salt: String,
    /// The context attribute bucketed (default `key`); fixed at creation.
    pub bucket_by: String,
    /// Per environment, the share inside, in thousandths of a percent
    /// (25% = 25000); an environment not named is 0.
    pub weights: BTreeMap<String, u32>,
    /// Bumped by every write; send it back in `If-Match`.
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Cohort {
    /// The default salt of cohort `key`.
    pub fn default_salt(key: &str) -> String {
        format!("cohort.{key}")
    }

    pub fn weight(&self, environment: &str) -> u32 {
        self.weights.get(environment).copied().unwrap_or(0)
    }

    /// Whether `ctx` is inside in `environment`: the rollout formula with
    /// the cohort's salt, bucket below the weight. A context without the
    /// `bucket_by` value is bucket 0, as the rollout contract reads it
    /// (`docs/flag-format.md`), so it is inside whenever the share is not 0.
    pub fn contains(&self, environment: &str, ctx: &daylight::Context) -> bool {
        daylight::bucket::context_bucket(&self.salt, ctx, &self.bucket_by).unwrap_or(0) < self.weight(environment)
    }

    /// The rollout a reference `{cohort, in, out}` stands for in
    /// `environment`. The inside variation comes first: the evaluator serves
    /// the first variation whose running sum exceeds the bucket, so buckets
    /// `[0, weight)` (exactly the cohort) get `inside`, and a raise only
    /// moves people in.
    pub fn rollout(&self, environment: &str, inside: usize, outside: usize) -> Rollout {
        let weight = self.weight(environment);
        Rollout {
            variations: vec![
                WeightedVariation {
                    variation: inside,
                    weight,
                },
                WeightedVariation {
                    variation: outside,
                    weight: ALL - weight,
                },
            ],
            bucket_by: Some(self.bucket_by.clone()),
            salt: Some(self.salt.clone()),
            cohort: Some(self.key.clone()),
            cohort_in: Some(inside),
            cohort_out: Some(outside),
        }
    }

    /// Writes this cohort's figures for `environment` into a bundle canary
    /// that references it.
    pub fn canary(&self, environment: &str, canary: &mut crate::bundles::Canary) {
        canary.weight = self.weight(environment);
        canary.salt = Some(self.salt.clone());
        canary.bucket_by = Some(self.bucket_by.clone());
    }

    fn summary(&self, environment: &str) -> String {
        format!(
            "cohort `{}` ({}% in `{environment}`)",
            self.key,
            f64::from(self.weight(environment)) / 1000.0
        )
    }
}

/// Where a cohort is referenced.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub struct Reference {
    /// `flag` or `bundle`.
    pub kind: String,
    /// The flag key, or the app of the bundle.
    pub key: String,
    pub environment: String,
    /// Within a flag: `fallthrough` or `rules[i]`; `canary` for a bundle.
    pub at: String,
}

/// The cohort-owned rollouts of one config, with where they are
/// (`fallthrough`, `rules[i]`).
fn serves_mut(config: &mut FlagConfig) -> impl Iterator<Item = (String, &mut Serve)> {
    std::iter::once(("fallthrough".to_owned(), &mut config.fallthrough)).chain(
        config
            .rules
            .iter_mut()
            .enumerate()
            .map(|(i, rule)| (format!("rules[{i}]"), &mut rule.serve)),
    )
}

fn serves(config: &FlagConfig) -> impl Iterator<Item = (String, &Serve)> {
    std::iter::once(("fallthrough".to_owned(), &config.fallthrough)).chain(
        config
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| (format!("rules[{i}]"), &rule.serve)),
    )
}

/// The references to cohorts in `flag` (every environment).
pub fn flag_references(flag: &Flag) -> Vec<(String, Reference)> {
    let mut out = Vec::new();
    for (env, config) in &flag.environments {
        for (at, serve) in serves(config) {
            if let Some(cohort) = serve.rollout.as_ref().and_then(|r| r.cohort.clone()) {
                out.push((
                    cohort,
                    Reference {
                        kind: "flag".into(),
                        key: flag.key.clone(),
                        environment: env.clone(),
                        at,
                    },
                ));
            }
        }
    }
    out
}

/// The cohort a bundle canary references, as a reference.
pub fn bundle_reference(app: &str, environment: &str, config: &BundleConfig) -> Option<(String, Reference)> {
    let cohort = config.canary.as_ref()?.cohort.clone()?;
    Some((
        cohort,
        Reference {
            kind: "bundle".into(),
            key: app.to_owned(),
            environment: environment.to_owned(),
            at: "canary".into(),
        },
    ))
}

/// Fills in or checks every cohort reference `after` holds, as a flag write
/// stores it. A reference without `variations` is filled from the cohort;
/// one with them must be what the cohort makes of it (a direct edit of a
/// cohort-owned rollout is refused, naming the cohort), and a rollout that
/// was cohort-owned in `before` may become a fixed variation (detached) but
/// not another rollout.
pub fn own_flag(before: Option<&Flag>, after: &mut Flag, cohorts: &BTreeMap<String, Cohort>) -> ApiResult<()> {
    for (env, config) in after.environments.iter_mut() {
        let owned_before: BTreeMap<String, String> = before
            .and_then(|b| b.environments.get(env))
            .map(|c| {
                serves(c)
                    .filter_map(|(at, s)| Some((at, s.rollout.as_ref()?.cohort.clone()?)))
                    .collect()
            })
            .unwrap_or_default();
        for (at, serve) in serves_mut(config) {
            let serve_path = if at == "fallthrough" {
                at.clone()
            } else {
                format!("{at}.serve")
            };
            let field = format!("environments.{env}.{serve_path}.rollout");
            let Some(rollout) = serve.rollout.as_mut() else {
                continue;
            };
            let Some(key) = rollout.cohort.clone() else {
                if let Some(owner) = owned_before.get(&at) {
                    return Err(ApiError::invalid(
                        field,
                        format!(
                            "this rollout is owned by cohort `{owner}`: change the cohort (PUT /api/v1/cohorts/{owner}/environments/{env}), \
                             or serve a fixed variation to detach it first"
                        ),
                    ));
                }
                continue;
            };
            let cohort = cohorts
                .get(&key)
                .ok_or_else(|| ApiError::invalid(format!("{field}.cohort"), format!("unknown cohort `{key}`")))?;
            let derived = |i: usize| rollout.variations.get(i).map(|v| v.variation);
            let (Some(inside), Some(outside)) = (rollout.cohort_in.or(derived(0)), rollout.cohort_out.or(derived(1)))
            else {
                return Err(ApiError::invalid(
                    format!("{field}.in"),
                    "a cohort reference names the variation served inside (`in`) and outside (`out`)",
                ));
            };
            if inside == outside {
                return Err(ApiError::invalid(
                    format!("{field}.out"),
                    "`in` and `out` must be different variations",
                ));
            }
            let expected = cohort.rollout(env, inside, outside);
            if rollout.variations.is_empty() {
                *rollout = expected;
            } else if *rollout != expected {
                return Err(ApiError::invalid(
                    field,
                    format!(
                        "this rollout is owned by {}: change the cohort (PUT /api/v1/cohorts/{key}/environments/{env}) \
                         rather than its weights, salt or bucket_by",
                        cohort.summary(env)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Rewrites the rollouts of `flag` in `environment` that `cohort` owns;
/// whether any changed.
pub fn rematerialise_flag(flag: &mut Flag, environment: &str, cohort: &Cohort) -> bool {
    let Some(config) = flag.environments.get_mut(environment) else {
        return false;
    };
    let mut changed = false;
    for (_, serve) in serves_mut(config) {
        let Some(rollout) = serve.rollout.as_mut() else {
            continue;
        };
        if rollout.cohort.as_deref() != Some(cohort.key.as_str()) {
            continue;
        }
        let (Some(inside), Some(outside)) = (rollout.cohort_in, rollout.cohort_out) else {
            continue;
        };
        let expected = cohort.rollout(environment, inside, outside);
        if *rollout != expected {
            *rollout = expected;
            changed = true;
        }
    }
    changed
}

/// Fills in or checks the cohort reference of a bundle canary, as
/// [`own_flag`] does for rollouts: a canary without a salt takes the
/// cohort's figures; one with a salt must carry them.
pub fn own_canary(environment: &str, config: &mut BundleConfig, cohorts: &BTreeMap<String, Cohort>) -> ApiResult<()> {
    let Some(canary) = config.canary.as_mut() else {
        return Ok(());
    };
    let Some(key) = canary.cohort.clone() else {
        return Ok(());
    };
    let cohort = cohorts
        .get(&key)
        .ok_or_else(|| ApiError::invalid("canary.cohort", format!("unknown cohort `{key}`")))?;
    let mut expected = canary.clone();
    cohort.canary(environment, &mut expected);
    if canary.salt.is_none() {
        *canary = expected;
    } else if *canary != expected {
        return Err(ApiError::invalid(
            "canary",
            format!(
                "this canary is owned by {}: change the cohort (PUT /api/v1/cohorts/{key}/environments/{environment}) \
                 rather than its weight, salt or bucket_by",
                cohort.summary(environment)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use daylight::Context;

    fn cohort(weight: u32) -> Cohort {
        Cohort {
            key: "beta".into(),
            name: "beta".into(),
            description: String::new(),
            salt: Cohort::default_salt("beta"),
            bucket_by: "key".into(),
            weights: [("production".to_owned(), weight)].into(),
            version: 1,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn the_materialised_rollout_serves_inside_exactly_to_members() {
        let c = cohort(25_000);
        let mut flag = Flag {
            key: "f".into(),
            name: "f".into(),
            description: String::new(),
            tags: vec![],
            variations: vec![serde_json::json!(false), serde_json::json!(true)],
            client_side: false,
            environments: Default::default(),
        };
        let mut config = FlagConfig::dark(0);
        config.on = true;
        config.fallthrough = Serve {
            variation: None,
            rollout: Some(c.rollout("production", 1, 0)),
        };
        flag.environments.insert("production".into(), config);
        let doc = daylight::RulesetDocument {
            environment: "production".into(),
            version: 1,
            flags: [("f".to_owned(), flag.rules_for("production").unwrap())].into(),
            segments: Default::default(),
        };
        let rules = daylight::Ruleset::compile(&doc).unwrap();
        for i in 0..2000 {
            let ctx = Context::new(format!("u-{i}"));
            let served = rules.evaluate("f", &ctx).variation;
            assert_eq!(served == Some(1), c.contains("production", &ctx), "u-{i}");
        }
    }

    #[test]
    fn a_context_without_the_attribute_is_inside_for_flag_canary_and_cohort_alike() {
        let mut c = cohort(1);
        c.bucket_by = "table_id".into();
        let rollout = c.rollout("production", 1, 0);
        let mut config = FlagConfig::dark(0);
        config.on = true;
        config.fallthrough = Serve {
            variation: None,
            rollout: Some(rollout.published()),
        };
        let doc = daylight::RulesetDocument {
            environment: "production".into(),
            version: 1,
            flags: [(
                "f".to_owned(),
                daylight::FlagRules {
                    variations: vec![serde_json::json!(false), serde_json::json!(true)],
                    client_side: false,
                    config,
                },
            )]
            .into(),
            segments: Default::default(),
        };
        let rules = daylight::Ruleset::compile(&doc).unwrap();
        let mut bundle = BundleConfig {
            live: Some("1.0.0".into()),
            canary: Some(crate::bundles::Canary {
                version: "1.1.0".into(),
                weight: 0,
                segment: None,
                bucket_by: None,
                salt: None,
                cohort: Some("beta".into()),
            }),
            ..Default::default()
        };
        c.canary("production", bundle.canary.as_mut().unwrap());
        let anonymous = Context::new("no-table");
        assert!(c.contains("production", &anonymous));
        assert_eq!(rules.evaluate("f", &anonymous).variation, Some(1));
        assert_eq!(bundle.target("web", &anonymous, None), Some("1.1.0"));
        // At 0% nobody is inside, with or without the attribute.
        c.weights.insert("production".into(), 0);
        c.canary("production", bundle.canary.as_mut().unwrap());
        assert!(!c.contains("production", &anonymous));
        assert_eq!(bundle.target("web", &anonymous, None), Some("1.0.0"));
    }

    #[test]
    fn a_direct_edit_of_an_owned_rollout_is_refused_naming_the_cohort() {
        let cohorts: BTreeMap<_, _> = [("beta".to_owned(), cohort(25_000))].into();
        let mut flag = Flag {
            key: "f".into(),
            name: "f".into(),
            description: String::new(),
            tags: vec![],
            variations: vec![serde_json::json!(false), serde_json::json!(true)],
            client_side: false,
            environments: Default::default(),
        };
        let mut config = FlagConfig::dark(0);
        let mut reference = cohorts["beta"].rollout("production", 1, 0);
        reference.variations.clear();
        config.fallthrough.rollout = Some(reference);
        config.fallthrough.variation = None;
        flag.environments.insert("production".into(), config);
        own_flag(None, &mut flag, &cohorts).unwrap();
        let filled = flag.environments["production"].fallthrough.rollout.clone().unwrap();
        assert_eq!(filled.variations[0].weight, 25_000);
        let before = flag.clone();
        flag.environments
            .get_mut("production")
            .unwrap()
            .fallthrough
            .rollout
            .as_mut()
            .unwrap()
            .variations[0]
            .weight = 50_000;
        let err = own_flag(Some(&before), &mut flag, &cohorts).unwrap_err().to_string();
        assert!(err.contains("cohort `beta`"), "{err}");
    }
}
