//! The JSON documents Daylight stores and sends, as serde types.
//!
//! These are the *raw* forms: what an admin writes and what a server sends to
//! an SDK. They are turned into a ready-to-evaluate form by
//! [`crate::Ruleset::compile`], which validates every field. Unknown fields
//! are ignored here so that an older SDK can read a newer server's documents;
//! the server rejects unknown fields at its API boundary.
//! The format is described with examples in `docs/flag-format.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A flag as an admin sees it: shared fields plus one config per environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "jsonschema", derive(schemars::JsonSchema))]
pub struct Flag {
    pub key: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Two or more JSON values of one type (bool, string, number or object).
    pub variations: Vec<Value>,
    /// May a browser (client key) see this flag's evaluated value?
    #[serde(default)]
    pub client_side: bool,
    #[serde(default)]
    pub environments: BTreeMap<String, FlagConfig>,
}

/// The per-environment part of a flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "jsonschema", derive(schemars::JsonSchema))]
pub struct FlagConfig {
    #[serde(default)]
    pub on: bool,
    /// Served when the flag is off or a prerequisite fails; `None` serves the
    /// caller's default.
    #[serde(default)]
    pub off_variation: Option<usize>,
    #[serde(default)]
    pub prerequisites: Vec<Prerequisite>,
    #[serde(default)]
    pub targets: Vec<Target>,
    #[serde(default)]
    pub rules: Vec<Rule>,
    pub fallthrough: Serve,
    /// Bumped by the server on every write of this config.
    #[serde(default)]
    pub version: u64,
}

impl FlagConfig {
    /// The config of a new flag: off (ships dark), serving `off_variation`.
    pub fn dark(off_variation: usize) -> Self {
        FlagConfig {
            on: false,
            off_variation: Some(off_variation),
            prerequisites: Vec::new(),
            targets: Vec::new(),
            rules: Vec::new(),
            fallthrough: Serve::variation(off_variation),
            version: 1,
        }
    }
}

/// What an SDK evaluates: one flag in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "jsonschema", derive(schemars::JsonSchema))]
pub struct FlagRules {
    pub variations: Vec<Value>,
    #[serde(default)]
    pub client_side: bool,
    #[serde(flatten)]
    pub config: FlagConfig,
}

impl Flag {
    /// The rules of this flag in `environment`, if it has a config there.
    pub fn rules_for(&self, environment: &str) -> Option<FlagRules> {
        self.environments.get(environment).map(|config| FlagRules {
            variations: self.variations.clone(),
            client_side: self.client_side,
            config: config.clone(),
        })
    }
}

/// The flag `flag` must be on and serve `variation` for this flag to go on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "jsonschema", derive(schemars::JsonSchema))]
pub struct Prerequisite {
    pub flag: String,
    pub variation: usize,
}

/// Individual targeting: these context keys get `variation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "jsonschema", derive(schemars::JsonSchema))]
pub struct Target {
    pub variation: usize,
    pub values: Vec<String>,
}

/// Clauses that must all match, and what to serve when they do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "jsonschema", derive(schemars::JsonSchema))]
pub struct Rule {
    /// A stable id, reported in the reason (defaults to empty).
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub clauses: Vec<Clause>,
    pub serve: Serve,
}

/// One condition on one context attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "jsonschema", derive(schemars::JsonSchema))]
pub struct Clause {
    /// The context attribute; `key` is the targeting key. Ignored by
    /// `in_segment`, which always looks at the targeting key.
    #[serde(default)]
    pub attribute: String,
    pub op: Op,
    pub values: Vec<Value>,
    #[serde(default)]
    pub negate: bool,
    /// For the string operators: compare lowercased (Unicode) forms.
    #[serde(default)]
    pub case_insensitive: bool,
}

/// Clause operators. An operator this version does not know reads as
/// [`Op::Unknown`] and never matches, so a newer ruleset keeps working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "jsonschema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Op {
    In,
    StartsWith,
    EndsWith,
    Contains,
    Matches,
    Lt,
    Lte,
    Gt,
    Gte,
    SemverEq,
    SemverLt,
    SemverGt,
    Before,
    After,
    InSegment,
    #[serde(other)]
    Unknown,
}

impl Op {
    pub const ALL: [Op; 15] = [
        Op::In,
        Op::StartsWith,
        Op::EndsWith,
        Op::Contains,
        Op::Matches,
        Op::Lt,
        Op::Lte,
        Op::Gt,
        Op::Gte,
        Op::SemverEq,
        Op::SemverLt,
        Op::SemverGt,
        Op::Before,
        Op::After,
        Op::InSegment,
    ];
}

/// What a rule or the fallthrough serves: exactly one of a fixed variation
/// or a rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "jsonschema", derive(schemars::JsonSchema))]
pub struct Serve {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variation: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
}

impl Serve {
    pub fn variation(index: usize) -> Self {
        Serve {
            variation: Some(index),
            rollout: None,
        }
    }
}

/// A percentage split, bucketed by the contract in `docs/flag-format.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "jsonschema", derive(schemars::JsonSchema))]
pub struct Rollout {
    /// Weights in thousandths of a percent, summing to 100000. May be left
    /// out of an admin write that names a `cohort` (the server fills it).
    #[serde(default)]
    pub variations: Vec<WeightedVariation>,
    /// The attribute to bucket by (default `key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_by: Option<String>,
    /// The hash salt (default: the flag key). Flags sharing a salt share
    /// their cohorts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// The named cohort that owns this rollout (admin documents only; see
    /// `docs/cohorts.md`). The server writes `variations`, `salt` and
    /// `bucket_by` from the cohort and strips these three fields from what
    /// SDKs receive, so an SDK evaluates an ordinary rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohort: Option<String>,
    /// With `cohort`: the variation served inside the cohort.
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub cohort_in: Option<usize>,
    /// With `cohort`: the variation served outside it.
    #[serde(default, rename = "out", skip_serializing_if = "Option::is_none")]
    pub cohort_out: Option<usize>,
}

impl Rollout {
    /// This rollout as SDKs see it: without the cohort that owns it.
    pub fn published(&self) -> Rollout {
        Rollout {
            cohort: None,
            cohort_in: None,
            cohort_out: None,
            ..self.clone()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "jsonschema", derive(schemars::JsonSchema))]
pub struct WeightedVariation {
    pub variation: usize,
    pub weight: u32,
}

/// A reusable cohort in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "jsonschema", derive(schemars::JsonSchema))]
pub struct SegmentRules {
    /// Context keys always in the segment.
    #[serde(default)]
    pub included: Vec<String>,
    /// Context keys never in the segment (checked after `included`).
    #[serde(default)]
    pub excluded: Vec<String>,
    /// A context matching every clause of any rule is in the segment.
    #[serde(default)]
    pub rules: Vec<SegmentRule>,
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "jsonschema", derive(schemars::JsonSchema))]
pub struct SegmentRule {
    #[serde(default)]
    pub id: String,
    pub clauses: Vec<Clause>,
}

/// Everything an SDK needs to evaluate one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "jsonschema", derive(schemars::JsonSchema))]
pub struct RulesetDocument {
    #[serde(default)]
    pub environment: String,
    /// The environment's change-log version this snapshot reflects.
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub flags: BTreeMap<String, FlagRules>,
    #[serde(default)]
    pub segments: BTreeMap<String, SegmentRules>,
}
