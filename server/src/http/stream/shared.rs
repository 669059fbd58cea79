//! What client-key streams share, so that a change costs a browser's
//! connection only the evaluation of the flags the change can alter, a
//! comparison of eight bytes per flag, and (when its result changed) a
//! reference to a message serialised once per distinct result:
//!
//! - [`ClientFlags`], per ruleset: the `client_side` flags in key order (a
//!   connection keeps one fingerprint per flag, in this order, instead of
//!   the keys and JSON values it sent) and a hash of each variation's value;
//! - [`ChangeShared`], per applied change: those flags, which of them the
//!   change can alter (`Ruleset::flags_reading`), and the `changed`
//!   messages built so far, by result.
//!
//! Both are built once per worker thread by the first connection that needs
//! them and kept in a small thread-local cache (requests are served on one
//! thread per CPU: no lock, and every connection of a thread shares them).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash, Hasher};
use std::rc::Rc;
use std::sync::Arc;

use daylight::protocol::ServerMessage;
use daylight::{Changed, Detail, Reason, Ruleset};
use serde_json::Value;
use tungstenite::Utf8Bytes;

use crate::live::Applied;

/// How many rulesets and changes each thread remembers (a few
/// environments changing at once).
const CACHED: usize = 8;

/// The `client_side` flags of one ruleset, as connections index them.
pub struct ClientFlags {
    /// In key order.
    pub keys: Box<[Arc<str>]>,
    /// Per flag, a hash of each variation's JSON.
    value_hashes: Box<[Box<[u64]>]>,
    /// A hash of `keys`: two `ClientFlags` with the same layout index the
    /// same flags at the same positions.
    layout: u64,
}

/// A result's identity as a client sees it (the reason's JSON is
/// determined by it within one ruleset: a client key is never told a
/// prerequisite's key). A change of reason alone (on → off serving the
/// same value) is sent too.
pub type ReasonId = (u8, u32, bool);

pub fn reason_id(reason: &Reason<'_>) -> ReasonId {
    match reason {
        Reason::Off => (0, 0, false),
        Reason::TargetMatch => (1, 0, false),
        Reason::RuleMatch {
            rule_index, in_rollout, ..
        } => (2, *rule_index as u32, *in_rollout),
        Reason::Fallthrough { in_rollout } => (3, 0, *in_rollout),
        Reason::PrerequisiteFailed { .. } => (4, 0, false),
        Reason::Error { error_kind } => (5, *error_kind as u32, false),
    }
}

fn hasher() -> impl Hasher {
    foldhash::quality::FixedState::with_seed(0x5e17_c0de).build_hasher()
}

fn json_hash(value: &Value) -> u64 {
    let mut h = hasher();
    h.write(&serde_json::to_vec(value).unwrap_or_default());
    h.finish()
}

impl ClientFlags {
    fn build(ruleset: &Ruleset) -> ClientFlags {
        let mut keys: Vec<&str> = ruleset.flag_keys().filter(|k| ruleset.is_client_side(k)).collect();
        keys.sort_unstable();
        let mut layout = hasher();
        keys.hash(&mut layout);
        ClientFlags {
            value_hashes: keys
                .iter()
                .map(|k| {
                    ruleset
                        .variations(k)
                        .unwrap_or_default()
                        .iter()
                        .map(json_hash)
                        .collect()
                })
                .collect(),
            keys: keys.into_iter().map(Arc::from).collect(),
            layout: layout.finish(),
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn position(&self, key: &str) -> Option<usize> {
        self.keys.binary_search_by(|k| (**k).cmp(key)).ok()
    }

    pub fn same_layout(&self, other: &ClientFlags) -> bool {
        self.layout == other.layout && self.keys.len() == other.keys.len()
    }

    /// The fingerprint of flag `position`'s result: its variation, its
    /// reason's identity and its value. Never 0 (what "nothing sent" is).
    pub fn fingerprint(&self, position: usize, detail: &Detail<'_>) -> u64 {
        let value = match (detail.variation, detail.value) {
            (Some(i), Some(_)) if i < self.value_hashes[position].len() => self.value_hashes[position][i],
            (_, Some(value)) => json_hash(value),
            (_, None) => 0,
        };
        let mut h = hasher();
        (detail.variation, reason_id(&detail.reason), value).hash(&mut h);
        h.finish() | 1
    }
}

/// What a `changed` message carries: flag positions, variations, reasons.
type Results = Box<[(u32, Option<usize>, ReasonId)]>;

/// One change as every client-key connection of a thread handles it.
pub struct ChangeShared {
    pub flags: Arc<ClientFlags>,
    /// Positions in `flags` of the flags the change can alter.
    pub affected: Box<[u32]>,
    /// `changed` messages by what they carry (no flag removed).
    messages: RefCell<HashMap<Results, Utf8Bytes>>,
}

impl ChangeShared {
    fn build(applied: &Applied) -> ChangeShared {
        let ruleset = &applied.ruleset;
        let flags = client_flags(ruleset);
        let changed = applied.change.as_ref().and_then(|c| match c.kind.as_str() {
            "flag" => Some(Changed::Flag(&c.key)),
            "segment" => Some(Changed::Segment(&c.key)),
            // Bundles and kinds this version does not know change no flag.
            _ => None,
        });
        let affected = changed
            .map(|changed| ruleset.flags_reading(changed))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|k| flags.position(k).map(|p| p as u32))
            .collect();
        ChangeShared {
            flags,
            affected,
            messages: RefCell::default(),
        }
    }

    /// The `changed` message carrying `results` (flag positions and their
    /// evaluations) at `version`, serialised by the first connection that
    /// sends it.
    pub fn message(&self, version: u64, results: &[(u32, Detail<'_>)]) -> Utf8Bytes {
        let id: Results = results
            .iter()
            .map(|(p, d)| (*p, d.variation, reason_id(&d.reason)))
            .collect();
        self.messages
            .borrow_mut()
            .entry(id)
            .or_insert_with(|| changed_message(&self.flags, version, results, Vec::new()))
            .clone()
    }
}

/// A `changed` message.
pub fn changed_message(
    flags: &ClientFlags,
    version: u64,
    results: &[(u32, Detail<'_>)],
    removed: Vec<String>,
) -> Utf8Bytes {
    let flags = results
        .iter()
        .map(|(p, d)| (flags.keys[*p as usize].to_string(), super::values::flag_value(d)))
        .collect::<BTreeMap<_, _>>();
    Utf8Bytes::from(
        ServerMessage::Changed {
            version,
            flags,
            removed,
        }
        .to_json(),
    )
}

thread_local! {
    static RULESETS: RefCell<Vec<(Arc<Ruleset>, Arc<ClientFlags>)>> = const { RefCell::new(Vec::new()) };
    static CHANGES: RefCell<Vec<(Arc<Applied>, Rc<ChangeShared>)>> = const { RefCell::new(Vec::new()) };
}

/// The client flags of `ruleset` (this thread's, built on first use).
pub fn client_flags(ruleset: &Arc<Ruleset>) -> Arc<ClientFlags> {
    RULESETS.with_borrow_mut(|cache| {
        if let Some((_, flags)) = cache.iter().find(|(r, _)| Arc::ptr_eq(r, ruleset)) {
            return flags.clone();
        }
        let flags = Arc::new(ClientFlags::build(ruleset));
        remember(cache, (ruleset.clone(), flags.clone()));
        flags
    })
}

/// What connections share of `applied` (this thread's, built on first use).
pub fn change_shared(applied: &Arc<Applied>) -> Rc<ChangeShared> {
    if let Some(shared) = CHANGES.with_borrow(|cache| {
        cache
            .iter()
            .find(|(a, _)| Arc::ptr_eq(a, applied))
            .map(|(_, s)| s.clone())
    }) {
        return shared;
    }
    // Built outside the borrow: it takes the ruleset cache's.
    let shared = Rc::new(ChangeShared::build(applied));
    CHANGES.with_borrow_mut(|cache| remember(cache, (applied.clone(), shared.clone())));
    shared
}

fn remember<T>(cache: &mut Vec<T>, entry: T) {
    if cache.len() >= CACHED {
        cache.remove(0);
    }
    cache.push(entry);
}

#[cfg(test)]
mod tests {
    use super::*;
    use daylight::{Context, RulesetDocument};
    use serde_json::json;

    fn ruleset(variations: Value, on: bool, extra_client_flag: bool) -> Arc<Ruleset> {
        let mut flags = json!({
            "f": { "variations": variations, "on": on, "off_variation": 0, "client_side": true,
                   "fallthrough": { "variation": 1 } },
            "server-only": { "variations": [false, true], "off_variation": 0, "fallthrough": { "variation": 0 } },
        });
        if extra_client_flag {
            flags["a-new"] = json!({ "variations": [false, true], "off_variation": 1, "client_side": true,
                                     "fallthrough": { "variation": 0 } });
        }
        let doc: RulesetDocument = serde_json::from_value(
            json!({ "environment": "production", "version": 1, "flags": flags, "segments": {} }),
        )
        .unwrap();
        Arc::new(Ruleset::compile(&doc).unwrap())
    }

    fn fingerprint(rules: &Ruleset) -> u64 {
        let flags = ClientFlags::build(rules);
        let p = flags.position("f").unwrap();
        flags.fingerprint(p, &rules.evaluate("f", &Context::new("u1")))
    }

    #[test]
    fn a_fingerprint_changes_with_the_value_the_variation_or_the_reason() {
        let before = fingerprint(&ruleset(json!(["a", "b"]), true, false));
        assert_ne!(before, 0);
        assert_eq!(before, fingerprint(&ruleset(json!(["a", "b"]), true, false)));
        // Same variation, another value (the flag's variations were edited).
        assert_ne!(before, fingerprint(&ruleset(json!(["a", "c"]), true, false)));
        // Off serves variation 0 with reason OFF.
        assert_ne!(before, fingerprint(&ruleset(json!(["a", "b"]), false, false)));
        // Off serving the same value as the fallthrough: the reason alone differs.
        assert_ne!(
            fingerprint(&ruleset(json!(["b", "b"]), true, false)),
            fingerprint(&ruleset(json!(["b", "b"]), false, false))
        );
    }

    #[test]
    fn client_flags_are_in_key_order_and_their_layout_follows_the_keys() {
        let one = ClientFlags::build(&ruleset(json!([false, true]), true, false));
        let same = ClientFlags::build(&ruleset(json!(["x", "y"]), false, false));
        let more = ClientFlags::build(&ruleset(json!([false, true]), true, true));
        assert_eq!(one.keys.iter().map(|k| &**k).collect::<Vec<_>>(), ["f"]);
        assert_eq!(more.keys.iter().map(|k| &**k).collect::<Vec<_>>(), ["a-new", "f"]);
        assert!(one.same_layout(&same), "the same keys, whatever their rules");
        assert!(!one.same_layout(&more));
        assert_eq!(more.position("f"), Some(1));
        assert_eq!(more.position("server-only"), None);
    }
}
