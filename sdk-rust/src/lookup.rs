//! What readers of a [`Ruleset`] look up besides evaluations: which flags
//! a change can alter the evaluation of (streams of evaluated values
//! re-evaluate only those), and the pieces of a flag that answers are
//! built from (its variations, its rules' ids), so a server can serialise
//! them once per ruleset instead of once per request.

use foldhash::{HashMap, HashMapExt, HashSet};
use serde_json::Value;

use crate::ruleset::Ruleset;

/// What one change replaced or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed<'a> {
    Flag(&'a str),
    Segment(&'a str),
}

impl Ruleset {
    /// The flags of this ruleset (the one after the change) whose
    /// evaluation may differ from before `changed`: the changed flag
    /// itself, the flags whose rules name a changed segment, and every flag
    /// that has one of those as a prerequisite, however indirectly. A flag
    /// that was removed is not listed; the flags that had it as a
    /// prerequisite are. Evaluation reads nothing else, so every other
    /// flag evaluates as it did. In key order.
    pub fn flags_reading(&self, changed: Changed<'_>) -> Vec<&str> {
        // Prerequisite → the flags that name it.
        let mut readers: HashMap<&str, Vec<&str>> = HashMap::new();
        for (key, flag) in &self.flags {
            for (pre, _) in flag.prerequisites.iter() {
                readers.entry(&**pre).or_default().push(key.as_str());
            }
        }
        let mut found: HashSet<&str> = HashSet::default();
        let mut queue: Vec<&str> = Vec::new();
        match changed {
            Changed::Flag(key) => {
                if let Some((own, _)) = self.flags.get_key_value(key) {
                    found.insert(own.as_str());
                }
                for &reader in readers.get(key).into_iter().flatten() {
                    if found.insert(reader) {
                        queue.push(reader);
                    }
                }
            }
            Changed::Segment(segment) => {
                for (key, flag) in &self.flags {
                    let names = flag
                        .rules
                        .iter()
                        .flat_map(|r| r.clauses.iter())
                        .any(|c| c.segment_refs().any(|s| s == segment));
                    if names && found.insert(key.as_str()) {
                        queue.push(key.as_str());
                    }
                }
            }
        }
        while let Some(key) = queue.pop() {
            for &reader in readers.get(key).into_iter().flatten() {
                if found.insert(reader) {
                    queue.push(reader);
                }
            }
        }
        let mut flags: Vec<&str> = found.into_iter().collect();
        flags.sort_unstable();
        flags
    }

    /// Flag `key`'s variations (`None` for an unknown flag).
    pub fn variations(&self, key: &str) -> Option<&[Value]> {
        self.flags.get(key).map(|f| &*f.variations)
    }

    /// The ids of flag `key`'s rules, in order (empty for an unknown flag).
    pub fn rule_ids(&self, key: &str) -> impl Iterator<Item = &str> {
        self.flags
            .get(key)
            .into_iter()
            .flat_map(|f| f.rules.iter().map(|r| &*r.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RulesetDocument;
    use serde_json::json;

    fn ruleset() -> Ruleset {
        let flag = |prerequisites: Value, rules: Value| {
            json!({
                "variations": [false, true], "on": true, "off_variation": 0,
                "prerequisites": prerequisites, "rules": rules,
                "fallthrough": { "variation": 1 }
            })
        };
        let in_segment = |s: &str| json!([{ "id": "r", "clauses": [{ "attribute": "key", "op": "in_segment", "values": [s] }], "serve": { "variation": 1 } }]);
        let doc: RulesetDocument = serde_json::from_value(json!({
            "environment": "production",
            "version": 1,
            "flags": {
                "base": flag(json!([]), json!([])),
                "gated": flag(json!([{ "flag": "base", "variation": 1 }]), json!([])),
                "double-gated": flag(json!([{ "flag": "gated", "variation": 1 }]), json!([])),
                "beta-only": flag(json!([]), in_segment("beta")),
                "behind-beta": flag(json!([{ "flag": "beta-only", "variation": 1 }]), json!([])),
                "alone": flag(json!([]), in_segment("staff")),
            },
            "segments": {
                "beta": { "included": ["u1"] },
                "staff": { "included": ["u2"] },
            }
        }))
        .unwrap();
        Ruleset::compile(&doc).unwrap()
    }

    #[test]
    fn a_changed_flag_reaches_the_flags_that_need_it_however_indirectly() {
        let r = ruleset();
        assert_eq!(
            r.flags_reading(Changed::Flag("base")),
            ["base", "double-gated", "gated"]
        );
        assert_eq!(r.flags_reading(Changed::Flag("double-gated")), ["double-gated"]);
        assert_eq!(r.flags_reading(Changed::Flag("alone")), ["alone"]);
    }

    #[test]
    fn a_changed_segment_reaches_the_flags_that_name_it_and_their_dependents() {
        let r = ruleset();
        assert_eq!(r.flags_reading(Changed::Segment("beta")), ["behind-beta", "beta-only"]);
        assert_eq!(r.flags_reading(Changed::Segment("staff")), ["alone"]);
        assert!(r.flags_reading(Changed::Segment("nobody-uses")).is_empty());
    }

    #[test]
    fn a_removed_flag_reaches_only_what_named_it() {
        let r = ruleset().with_flag("base", None, 2).unwrap();
        assert_eq!(r.flags_reading(Changed::Flag("base")), ["double-gated", "gated"]);
        assert!(r.flags_reading(Changed::Flag("never-was")).is_empty());
    }

    #[test]
    fn variations_and_rule_ids_are_the_flags_own() {
        let r = ruleset();
        assert_eq!(r.variations("gated").unwrap(), [json!(false), json!(true)]);
        assert_eq!(r.rule_ids("beta-only").collect::<Vec<_>>(), ["r"]);
        assert!(r.variations("none").is_none());
        assert_eq!(r.rule_ids("none").count(), 0);
    }
}
