//! The flags-as-code file: `version: 1`, a list of flags and a list of
//! segments, in YAML or JSON. A flag's entry is the admin API's flag document
//! (`docs/flag-format.md`) plus the file-only metadata `owner` and `expires`,
//! so export and apply translate field for field. A repository may split its
//! flags and segments over many files; the files are merged before they are
//! checked.

use std::collections::BTreeMap;

use daylight::{FlagConfig, SegmentRules};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// The only format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// One file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagFile {
    /// Must be `1`.
    pub version: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<FileFlag>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<FileSegment>,
}

/// A flag: the admin API's flag document plus `owner`, `expires` and which
/// parts the file manages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileFlag {
    pub key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Who answers for the flag (a person or team).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The date (`YYYY-MM-DD`, UTC) after which the flag should be gone;
    /// `validate` reports a flag past it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Two or more JSON values of one type.
    pub variations: Vec<Value>,
    #[serde(default)]
    pub client_side: bool,
    /// Per-environment config, keyed by environment key. `version` in a
    /// config is ignored on read (the server owns it).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, FlagConfig>,
    /// Per environment, the parts the file manages beyond its defaults
    /// (`targeting`: on, prerequisites, targets, rules and fallthrough).
    /// Without it the console owns them once the flag exists.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub manage: BTreeMap<String, Vec<ManagedPart>>,
}

/// A part of a flag's per-environment config a file may manage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ManagedPart {
    Targeting,
}

/// A segment: its per-environment members and rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSegment {
    pub key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, SegmentRules>,
}

impl FileFlag {
    /// The admin API's flag document for this entry (owner and expiry are
    /// stored beside it).
    pub fn to_flag(&self) -> daylight::Flag {
        daylight::Flag {
            key: self.key.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            tags: self.tags.clone(),
            variations: self.variations.clone(),
            client_side: self.client_side,
            environments: self.environments.clone(),
        }
    }
}
