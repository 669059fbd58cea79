//! What an environment serves, and what it does not. Approvals govern what
//! is served, so where an environment requires them only a change to that
//! waits for a change request; the descriptive fields (a flag's name,
//! description, tags, owner and expiry; a segment's name and description)
//! go straight through. A segment edit (`segments::write`) and a flags
//! file's apply (`flagfile_approvals`) both decide it here.

use daylight::{FlagConfig, SegmentRules};

use crate::store::flags::StoredFlag;
use crate::store::segments::StoredSegment;

/// The descriptive fields of a flag that differ, by name.
pub fn flag_descriptive_changes(before: &StoredFlag, after: &StoredFlag) -> Vec<String> {
    changed(&[
        ("name", before.flag.name != after.flag.name),
        ("description", before.flag.description != after.flag.description),
        ("tags", before.flag.tags != after.flag.tags),
        ("owner", before.owner != after.owner),
        ("expires", before.expires != after.expires),
    ])
}

/// Copies `from`'s descriptive fields into `into`; what it serves stays.
pub fn take_flag_descriptive(into: &mut StoredFlag, from: &StoredFlag) {
    into.flag.name = from.flag.name.clone();
    into.flag.description = from.flag.description.clone();
    into.flag.tags = from.flag.tags.clone();
    into.owner = from.owner.clone();
    into.expires = from.expires.clone();
}

/// Whether two configs of a flag in one environment serve differently
/// (config versions aside).
pub fn config_serves_differently(a: &FlagConfig, b: &FlagConfig) -> bool {
    let unversioned = |c: &FlagConfig| FlagConfig {
        version: 0,
        ..c.clone()
    };
    unversioned(a) != unversioned(b)
}

/// The descriptive fields of a segment that differ, by name.
pub fn segment_descriptive_changes(before: &StoredSegment, after: &StoredSegment) -> Vec<String> {
    changed(&[
        ("name", before.name != after.name),
        ("description", before.description != after.description),
    ])
}

/// Copies `from`'s descriptive fields into `into`; its keys and rules stay.
pub fn take_segment_descriptive(into: &mut StoredSegment, from: &StoredSegment) {
    into.name = from.name.clone();
    into.description = from.description.clone();
}

/// Whether a segment's keys and rules differ (versions aside): what the
/// flags that use it serve.
pub fn segment_serves_differently(before: &StoredSegment, after: &StoredSegment) -> bool {
    let unversioned = |r: &SegmentRules| SegmentRules {
        version: 0,
        ..r.clone()
    };
    unversioned(&before.rules) != unversioned(&after.rules)
}

fn changed(fields: &[(&str, bool)]) -> Vec<String> {
    fields
        .iter()
        .filter(|(_, differs)| *differs)
        .map(|(field, _)| (*field).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_segment_name_or_description_is_not_served() {
        let before: StoredSegment = serde_json::from_value(json!({
            "environment": "production", "key": "beta", "name": "Beta", "description": "",
            "included": ["u-1"], "version": 3, "created_at": 0, "updated_at": 0
        }))
        .unwrap();
        let mut after = before.clone();
        after.name = "Beta testers".into();
        after.description = "Who tries it first".into();
        after.rules.version += 1;
        assert!(!segment_serves_differently(&before, &after));
        assert_eq!(segment_descriptive_changes(&before, &after), ["name", "description"]);
        after.rules.included.push("u-2".into());
        assert!(segment_serves_differently(&before, &after));
    }

    #[test]
    fn a_config_version_alone_serves_nothing_new() {
        let dark = FlagConfig::dark(0);
        let bumped = FlagConfig {
            version: dark.version + 1,
            ..dark.clone()
        };
        assert!(!config_serves_differently(&dark, &bumped));
        let on = FlagConfig {
            on: true,
            ..dark.clone()
        };
        assert!(config_serves_differently(&dark, &on));
    }
}
