//! `daylight plan`: what applying flags-as-code files to one environment
//! would change, worked out from the server's flags and segments and what
//! the last apply wrote. Pure: the server computes it for `plan` and again,
//! under the environment's lock, for `apply`.
//!
//! Field ownership: the file owns a flag's existence, name, description,
//! tags, owner, expiry, variations, `client_side` and, per environment, the
//! off variation. Targeting (`on`, prerequisites, targets, rules,
//! fallthrough) belongs to the console, except in an environment whose
//! config was never edited since the flag was created (config version 1:
//! the file's config is its first one) or that the flag lists under
//! `manage` (`manage: {production: [targeting]}`). A segment listed for
//! the environment is the file's entirely.

use std::collections::{BTreeMap, HashMap};

use daylight::{Flag, FlagConfig, SegmentRules};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::model::{FileFlag, FileSegment, ManagedPart};
use crate::store::flags::{config_for, StoredFlag};
use crate::store::segments::StoredSegment;

/// Flags or segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Flag,
    Segment,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Flag => "flag",
            Kind::Segment => "segment",
        }
    }
}

/// What applying would do to one flag or segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Not on the server yet.
    Create,
    /// The file differs from the server (the server still holds what the
    /// last apply wrote, or nothing was applied yet).
    Change,
    /// The file and the server agree on every field the file owns.
    Unchanged,
    /// The server's file-owned fields changed since the last apply (someone
    /// edited them in the console); applying puts the file's back.
    Drift,
}

/// One field that differs: its path, the server's value and the file's
/// (`null` for absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldChange {
    pub path: String,
    pub old: Value,
    pub new: Value,
}

/// One flag or segment of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlanItem {
    pub kind: Kind,
    pub key: String,
    pub action: Action,
    /// The version read on the server (`null`: it does not exist). A flag's
    /// version counts every write to it; a segment's, writes in this
    /// environment.
    pub version: Option<i64>,
    /// The fields that differ, server → file (empty when unchanged).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    /// Where the environment requires approvals: the open change request
    /// that carries this item's change there (proposed by an earlier apply
    /// against this version; the item stays a change until it is applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_request: Option<i64>,
}

/// A plan for one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Plan {
    pub environment: String,
    /// Flags first, then segments, each in key order.
    pub items: Vec<PlanItem>,
}

impl Plan {
    /// Whether applying would write anything.
    pub fn has_changes(&self) -> bool {
        self.items.iter().any(|i| i.action != Action::Unchanged)
    }
}

/// What the server holds for one environment.
pub struct ServerState {
    pub flags: BTreeMap<String, StoredFlag>,
    /// The environment's segments.
    pub segments: BTreeMap<String, StoredSegment>,
    /// The digest of the file-owned fields the last apply wrote, per item.
    pub applied: HashMap<(Kind, String), String>,
}

/// An item of the plan with what the server should hold after applying it.
pub struct Planned {
    pub item: PlanItem,
    pub target: Target,
    /// The digest of the file-owned fields after applying (recorded by
    /// `apply` to tell drift later).
    pub digest: String,
    /// Whether a flag's digest covers its targeting in the environment
    /// (the file manages it), for [`flag_digest`] of another state.
    pub with_targeting: bool,
}

/// What the server should hold after applying.
pub enum Target {
    Flag(StoredFlag),
    Segment(StoredSegment),
}

/// The plan of `flags` and `segments` (merged from every file) for `env`.
/// Segments the file lists for no config in `env` are left out; flags are
/// all in (their shared fields are the file's in every environment).
pub fn plan(env: &str, flags: &[FileFlag], segments: &[FileSegment], server: &ServerState) -> Vec<Planned> {
    let mut out = Vec::new();
    let mut flags: Vec<&FileFlag> = flags.iter().collect();
    flags.sort_by(|a, b| a.key.cmp(&b.key));
    for file in flags {
        let current = server.flags.get(&file.key);
        let owns_targeting = current.is_none_or(|c| owns_targeting(file, env, c));
        let after = desired_flag(file, env, current, owns_targeting);
        let old = current
            .map(|c| flag_view(c, env, owns_targeting))
            .unwrap_or(Value::Null);
        let new = flag_view(&after, env, owns_targeting);
        let digest = digest_of(&flag_view(&after, env, manages_targeting(file, env)));
        let applied = server.applied.get(&(Kind::Flag, file.key.clone()));
        let current_digest = current.map(|c| digest_of(&flag_view(c, env, manages_targeting(file, env))));
        out.push(planned(
            Kind::Flag,
            &file.key,
            current.map(|c| c.version),
            &old,
            &new,
            applied,
            current_digest,
            Target::Flag(after),
            digest,
            manages_targeting(file, env),
        ));
    }
    let mut segments: Vec<&FileSegment> = segments.iter().collect();
    segments.sort_by(|a, b| a.key.cmp(&b.key));
    for file in segments {
        let Some(rules) = file.environments.get(env) else {
            continue;
        };
        let current = server.segments.get(&file.key);
        let after = desired_segment(file, env, rules, current);
        let old = current.map(segment_view).unwrap_or(Value::Null);
        let new = segment_view(&after);
        let digest = digest_of(&new);
        let applied = server.applied.get(&(Kind::Segment, file.key.clone()));
        out.push(planned(
            Kind::Segment,
            &file.key,
            current.map(|c| c.rules.version as i64),
            &old,
            &new,
            applied,
            current.map(|_| digest_of(&old)),
            Target::Segment(after),
            digest.clone(),
            false,
        ));
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn planned(
    kind: Kind,
    key: &str,
    version: Option<i64>,
    old: &Value,
    new: &Value,
    applied: Option<&String>,
    current_digest: Option<String>,
    target: Target,
    digest: String,
    with_targeting: bool,
) -> Planned {
    let mut changes = Vec::new();
    diff("", old, new, &mut changes);
    let action = if version.is_none() {
        Action::Create
    } else if changes.is_empty() {
        Action::Unchanged
    } else if applied.is_some_and(|a| Some(a) != current_digest.as_ref()) {
        Action::Drift
    } else {
        Action::Change
    };
    Planned {
        item: PlanItem {
            kind,
            key: key.to_owned(),
            action,
            version,
            changes,
            change_request: None,
        },
        target,
        digest,
        with_targeting,
    }
}

/// Whether the flag declares it manages targeting in `env`.
fn manages_targeting(file: &FileFlag, env: &str) -> bool {
    file.manage
        .get(env)
        .is_some_and(|parts| parts.contains(&ManagedPart::Targeting))
}

/// Whether the file sets targeting of this existing flag in `env`: it
/// manages it, or the config was never edited since the flag was created.
fn owns_targeting(file: &FileFlag, env: &str, current: &StoredFlag) -> bool {
    manages_targeting(file, env) || (file.environments.contains_key(env) && config_for(&current.flag, env).version <= 1)
}

/// The server's flag with the file's owned fields put in.
fn desired_flag(file: &FileFlag, env: &str, current: Option<&StoredFlag>, owns_targeting: bool) -> StoredFlag {
    let mut after = current.cloned().unwrap_or_else(|| StoredFlag {
        flag: Flag {
            key: file.key.clone(),
            name: String::new(),
            description: String::new(),
            tags: Vec::new(),
            variations: Vec::new(),
            client_side: false,
            environments: BTreeMap::new(),
        },
        owner: None,
        expires: None,
        version: 0,
        archived: false,
        created_at: 0,
        updated_at: 0,
    });
    let flag = &mut after.flag;
    // A flag with no name is named after its key, as the API creates it.
    flag.name = if file.name.is_empty() {
        file.key.clone()
    } else {
        file.name.clone()
    };
    flag.description = file.description.clone();
    flag.tags = file.tags.clone();
    flag.variations = file.variations.clone();
    flag.client_side = file.client_side;
    after.owner = file.owner.clone();
    after.expires = file.expires.clone();
    if let Some(wanted) = file.environments.get(env) {
        let mut config = config_for(&after.flag, env);
        if owns_targeting {
            let version = config.version;
            config = wanted.clone();
            config.version = version;
        } else {
            config.off_variation = wanted.off_variation;
        }
        after.flag.environments.insert(env.to_owned(), config);
    }
    after
}

/// The fields of a flag the file owns in `env`, as compared and digested.
fn flag_view(stored: &StoredFlag, env: &str, with_targeting: bool) -> Value {
    let flag = &stored.flag;
    let mut view = json!({
        "name": flag.name,
        "description": flag.description,
        "tags": flag.tags,
        "owner": stored.owner,
        "expires": stored.expires,
        "variations": flag.variations,
        "client_side": flag.client_side,
    });
    let config = config_for(flag, env);
    let env_view = if with_targeting {
        let mut c = serde_json::to_value(FlagConfig { version: 0, ..config }).unwrap_or(Value::Null);
        if let Some(map) = c.as_object_mut() {
            map.remove("version");
        }
        c
    } else {
        json!({ "off_variation": config.off_variation })
    };
    view["environments"] = json!({ env: env_view });
    view
}

fn desired_segment(
    file: &FileSegment,
    env: &str,
    rules: &SegmentRules,
    current: Option<&StoredSegment>,
) -> StoredSegment {
    let mut after = current.cloned().unwrap_or_else(|| StoredSegment {
        environment: env.to_owned(),
        key: file.key.clone(),
        name: String::new(),
        description: String::new(),
        rules: SegmentRules::default(),
        created_at: 0,
        updated_at: 0,
    });
    after.name = file.name.clone();
    after.description = file.description.clone();
    let version = after.rules.version;
    after.rules = rules.clone();
    after.rules.version = version;
    after
}

fn segment_view(segment: &StoredSegment) -> Value {
    json!({
        "name": segment.name,
        "description": segment.description,
        "included": segment.rules.included,
        "excluded": segment.rules.excluded,
        "rules": segment.rules.rules,
    })
}

/// The digest `apply` records for a flag in `env` when the server holds
/// `stored` (not the file's target: under approvals a config waits in a
/// change request, and the next plan must show it as a change, not drift).
pub fn flag_digest(stored: &StoredFlag, env: &str, with_targeting: bool) -> String {
    digest_of(&flag_view(stored, env, with_targeting))
}

/// [`flag_digest`] for a segment.
pub fn segment_digest(stored: &StoredSegment) -> String {
    digest_of(&segment_view(stored))
}

/// SHA-256 of the canonical JSON (object keys sorted) of a view.
fn digest_of(view: &Value) -> String {
    let text = serde_json::to_string(view).unwrap_or_default();
    let hash = Sha256::digest(text.as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// The leaves where `old` and `new` differ. Objects are compared key by
/// key and lists of one length element by element, so a changed default
/// reads `environments.production.off_variation: 0 → 1`.
fn diff(path: &str, old: &Value, new: &Value, out: &mut Vec<FieldChange>) {
    if old == new {
        return;
    }
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let (x, y) = (a.get(key).unwrap_or(&Value::Null), b.get(key).unwrap_or(&Value::Null));
                diff(&join(key), x, y, out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ => out.push(FieldChange {
            path: if path.is_empty() {
                "(all)".to_owned()
            } else {
                path.to_owned()
            },
            old: old.clone(),
            new: new.clone(),
        }),
    }
}

/// The plan as people read it: one block per item that would change, its
/// field paths `old → new`, and a summary line.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let mut unchanged = 0;
    for item in &plan.items {
        let (mark, what) = match item.action {
            Action::Create => ("+", "create".to_owned()),
            Action::Change => ("~", format!("change (version {})", item.version.unwrap_or(0))),
            Action::Drift => (
                "!",
                format!(
                    "drift: changed on the server since the last apply (version {}); applying restores the file's values",
                    item.version.unwrap_or(0)
                ),
            ),
            Action::Unchanged => {
                unchanged += 1;
                continue;
            }
        };
        let waiting = item
            .change_request
            .map(|id| format!(", proposed as change request #{id} (open)"))
            .unwrap_or_default();
        out.push_str(&format!(
            "{mark} {} {}: {what}{waiting}\n",
            item.kind.as_str(),
            item.key
        ));
        for change in &item.changes {
            if item.action == Action::Create {
                out.push_str(&format!("    {}: {}\n", change.path, change.new));
            } else {
                out.push_str(&format!("    {}: {} → {}\n", change.path, change.old, change.new));
            }
        }
    }
    let count = |a: Action| plan.items.iter().filter(|i| i.action == a).count();
    out.push_str(&format!(
        "Plan for `{}`: {} to create, {} to change, {} drifted, {unchanged} unchanged.\n",
        plan.environment,
        count(Action::Create),
        count(Action::Change),
        count(Action::Drift),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_names_leaves_and_keeps_whole_values_when_lists_change_length() {
        let mut out = Vec::new();
        diff(
            "",
            &json!({"a": {"b": 0, "c": [1, 2]}, "d": [1]}),
            &json!({"a": {"b": 1, "c": [1, 3]}, "d": [1, 2]}),
            &mut out,
        );
        let paths: Vec<_> = out
            .iter()
            .map(|c| (c.path.as_str(), c.old.clone(), c.new.clone()))
            .collect();
        assert_eq!(
            paths,
            vec![
                ("a.b", json!(0), json!(1)),
                ("a.c[1]", json!(2), json!(3)),
                ("d", json!([1]), json!([1, 2])),
            ]
        );
    }
}
