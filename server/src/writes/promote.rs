//! Promotion (`daylight promote`, the console's "Copy to …"): chosen parts
//! of flags' config in one environment copied to another, with the
//! segments the copied rules use.
//!
//! A promotion is turned into what a flags-as-code file managing the
//! flags' targeting in the target environment would say, and planned and
//! written by `writes/flagfile.rs` (one write path: the same checks, one
//! transaction, freeze windows and approvals). It records no file digests,
//! so it never reads as a file's drift later.

use std::collections::{BTreeMap, BTreeSet};

use daylight::model::Op;
use daylight::FlagConfig;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::flagfile::{self, Expected, Origin};
use super::Writer;
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::flagfile::model::ManagedPart;
use crate::flagfile::plan::{self as planner, Plan};
use crate::flagfile::{FileFlag, FileSegment};
use crate::store::flags::config_for;
use crate::store::{environments, flags as flag_rows, segments as segment_rows};

/// A part of a flag's config a promotion copies.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Part {
    /// On or off.
    On,
    OffVariation,
    Prerequisites,
    /// Individually targeted keys.
    Targets,
    /// The rules (and the segments they use).
    Rules,
    /// The default rule: a variation or a rollout.
    Fallthrough,
}

/// What is copied when a promotion names no parts: everything but on/off
/// and the off variation, which stay each environment's own.
pub const DEFAULT_PARTS: [Part; 4] = [Part::Rules, Part::Fallthrough, Part::Targets, Part::Prerequisites];

/// What to promote.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct Promote {
    /// The environment copied from.
    pub from: String,
    /// The flags' keys.
    pub flags: Vec<String>,
    /// The parts copied (default: rules, fallthrough, targets, prerequisites).
    #[serde(default)]
    pub parts: Vec<Part>,
}

/// A promotion's plan: per flag and per segment the copied rules use, what
/// would change in the target environment (the same items as
/// `daylight plan`'s), and the versions read.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Promotion {
    pub from: String,
    pub parts: Vec<Part>,
    /// `environment` is the target; `items` flags first, then segments.
    pub plan: Plan,
    /// The version of each copied segment read in `from` (apply refuses if
    /// one changed since).
    #[serde(default)]
    pub from_segments: BTreeMap<String, i64>,
    /// What was written at once (as `daylight apply`'s `written`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub written: Vec<flagfile::Written>,
    /// Where `to` requires approvals: the change requests proposed, one per
    /// flag config or segment's keys and rules that changes (new segments
    /// are written at once).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub change_requests: Vec<crate::store::change_requests::ChangeRequest>,
}

/// The promotion as a file would say it for `to`, and the source segments'
/// versions.
struct AsFiles {
    parts: Vec<Part>,
    flags: Vec<FileFlag>,
    segments: Vec<FileSegment>,
    from_segments: BTreeMap<String, i64>,
}

async fn as_files(db: &Db, to: &str, req: &Promote) -> ApiResult<AsFiles> {
    environments::get(db, to).await?;
    if req.from == to {
        return Err(ApiError::invalid(
            "from",
            "the source and target environments are the same",
        ));
    }
    environments::get(db, &req.from)
        .await
        .map_err(|_| ApiError::invalid("from", format!("unknown environment `{}`", req.from)))?;
    if req.flags.is_empty() {
        return Err(ApiError::invalid("flags", "name at least one flag"));
    }
    let mut parts: Vec<Part> = if req.parts.is_empty() {
        DEFAULT_PARTS.to_vec()
    } else {
        req.parts.clone()
    };
    parts.sort();
    parts.dedup();

    let mut flags = Vec::new();
    let mut used = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for (i, key) in req.flags.iter().enumerate() {
        if !seen.insert(key.as_str()) {
            return Err(ApiError::invalid(
                format!("flags[{i}]"),
                format!("`{key}` is named twice"),
            ));
        }
        let stored = flag_rows::get(db, key)
            .await
            .map_err(|_| ApiError::invalid(format!("flags[{i}]"), format!("no flag `{key}`")))?;
        if stored.archived {
            return Err(ApiError::invalid(format!("flags[{i}]"), format!("`{key}` is archived")));
        }
        let source = config_for(&stored.flag, &req.from);
        let config = copied(config_for(&stored.flag, to), &source, &parts);
        if parts.contains(&Part::Rules) {
            used.extend(segments_used(&config));
        }
        let flag = stored.flag;
        flags.push(FileFlag {
            key: flag.key,
            name: flag.name,
            description: flag.description,
            tags: flag.tags,
            owner: stored.owner,
            expires: stored.expires,
            variations: flag.variations,
            client_side: flag.client_side,
            environments: BTreeMap::from([(to.to_owned(), config)]),
            manage: BTreeMap::from([(to.to_owned(), vec![ManagedPart::Targeting])]),
        });
    }

    // A segment missing in the source leaves the reference dangling; the
    // batch's reference check refuses it in the target.
    let mut segments = Vec::new();
    let mut from_segments = BTreeMap::new();
    for segment in segment_rows::list(db, &req.from).await? {
        if !used.contains(&segment.key) {
            continue;
        }
        from_segments.insert(segment.key.clone(), segment.rules.version as i64);
        segments.push(FileSegment {
            key: segment.key,
            name: segment.name,
            description: segment.description,
            environments: BTreeMap::from([(to.to_owned(), segment.rules)]),
        });
    }
    Ok(AsFiles {
        parts,
        flags,
        segments,
        from_segments,
    })
}

/// The target's config with the chosen parts taken from the source's.
fn copied(mut target: FlagConfig, source: &FlagConfig, parts: &[Part]) -> FlagConfig {
    for part in parts {
        match part {
            Part::On => target.on = source.on,
            Part::OffVariation => target.off_variation = source.off_variation,
            Part::Prerequisites => target.prerequisites = source.prerequisites.clone(),
            Part::Targets => target.targets = source.targets.clone(),
            Part::Rules => target.rules = source.rules.clone(),
            Part::Fallthrough => target.fallthrough = source.fallthrough.clone(),
        }
    }
    target
}

/// The segment keys a config's rules name.
fn segments_used(config: &FlagConfig) -> BTreeSet<String> {
    config
        .rules
        .iter()
        .flat_map(|r| &r.clauses)
        .filter(|c| c.op == Op::InSegment)
        .flat_map(|c| c.values.iter().filter_map(|v| v.as_str().map(str::to_owned)))
        .collect()
}

/// What promoting would change in `to`.
pub async fn plan(db: &Db, to: &str, req: &Promote) -> ApiResult<Promotion> {
    let files = as_files(db, to, req).await?;
    let state = promotion_state(db, to).await?;
    let planned = planner::plan(to, &files.flags, &files.segments, &state);
    let mut plan = Plan {
        environment: to.to_owned(),
        items: planned.into_iter().map(|p| p.item).collect(),
    };
    let open = super::flagfile_approvals::open_requests(db, to).await?;
    super::flagfile_approvals::mark_open(&mut plan, &open);
    Ok(Promotion {
        from: req.from.clone(),
        parts: files.parts,
        plan,
        from_segments: files.from_segments,
        written: Vec::new(),
        change_requests: Vec::new(),
    })
}

/// Promotes if the target is still as the caller's plan (`expected`) read
/// it and the source's segments are at `from_segments`; else 409 naming
/// what changed, and nothing is written.
pub async fn apply(
    w: &Writer<'_>,
    to: &str,
    req: &Promote,
    expected: &[Expected],
    from_segments: &BTreeMap<String, i64>,
) -> ApiResult<Promotion> {
    let files = as_files(w.db, to, req).await?;
    if &files.from_segments != from_segments {
        let mut moved: Vec<String> = files
            .from_segments
            .iter()
            .filter(|(k, v)| from_segments.get(*k) != Some(*v))
            .map(|(k, _)| format!("segment `{k}` in `{}`", req.from))
            .collect();
        moved.extend(
            from_segments
                .keys()
                .filter(|k| !files.from_segments.contains_key(*k))
                .map(|k| format!("segment `{k}` is no longer used")),
        );
        return Err(ApiError::Conflict(format!(
            "the source environment changed since the plan; nothing was applied. Plan again. {} changed",
            moved.join("; ")
        )));
    }
    let state = promotion_state(w.db, to).await?;
    let planned = planner::plan(to, &files.flags, &files.segments, &state);
    let applied = flagfile::write_planned(w, to, &state, &planned, expected, Origin::Promotion, &[]).await?;
    Ok(Promotion {
        from: req.from.clone(),
        parts: files.parts,
        plan: applied.plan,
        from_segments: files.from_segments,
        written: applied.written,
        change_requests: applied.change_requests,
    })
}

/// The target's state without the files' digests: a promotion has no
/// last apply to drift from.
async fn promotion_state(db: &Db, to: &str) -> ApiResult<planner::ServerState> {
    let mut state = flagfile::server_state(db, to).await?;
    state.applied.clear();
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn copies_only_the_chosen_parts_and_names_the_segments_rules_use() {
        let config = |v: serde_json::Value| -> FlagConfig { serde_json::from_value(v).unwrap() };
        let source = config(json!({
            "on": true, "off_variation": 1,
            "targets": [{ "variation": 1, "values": ["qa"] }],
            "rules": [{ "id": "r", "clauses": [{ "attribute": "key", "op": "in_segment", "values": ["vip", "beta"] }],
                        "serve": { "variation": 1 } }],
            "fallthrough": { "variation": 1 }
        }));
        let target = config(json!({ "on": false, "off_variation": 0, "fallthrough": { "variation": 0 } }));
        let out = copied(target, &source, &[Part::Rules, Part::Fallthrough]);
        assert!(!out.on, "on/off is not copied unless asked");
        assert_eq!(out.off_variation, Some(0));
        assert!(out.targets.is_empty());
        assert_eq!(out.rules, source.rules);
        assert_eq!(out.fallthrough, source.fallthrough);
        assert_eq!(
            segments_used(&out).into_iter().collect::<Vec<_>>(),
            vec!["beta".to_owned(), "vip".to_owned()]
        );
    }
}
