//! Where the client keeps its flags, and how stream messages change them.
//!
//! [`Store`] is shared by the application and the network task: the ruleset
//! sits in an `ArcSwapOption`, so an evaluation loads a pointer and never
//! waits for the network task, which swaps in a whole new ruleset per change.
//! [`Replica`] is the network task's writing side: it applies snapshots and
//! patches, checks patch versions for gaps, and works out which flags each
//! change affected for the change listeners.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{DefaultHasher, Hasher};
use std::io;
use std::sync::Arc;

use arc_swap::{ArcSwapOption, Guard};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{broadcast, watch};
use tracing::{debug, error};

use crate::{Entry, FlagRules, Ruleset, RulesetDocument, SegmentRules, ValidationError};

/// Events a change listener may fall behind by before it is told
/// "everything changed" instead (see [`crate::client::Client::on_change`]).
const CHANGE_CHANNEL_CAPACITY: usize = 256;

/// A change of the client's flag data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEvent {
    /// The ruleset version after the change.
    pub version: u64,
    /// The flags whose evaluation may have changed, sorted: flags that were
    /// added, changed or removed, flags using a changed segment, and flags
    /// having any of those as a prerequisite (transitively).
    pub flags: Vec<String>,
}

/// Where the client's connection to the server stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// No server: the client evaluates its bootstrap data only.
    Offline,
    /// Connecting, or connected and catching up.
    Connecting,
    /// Connected and up to date; changes arrive as they are made.
    Synced,
    /// Waiting to reconnect (back-off); last known values are served.
    Disconnected,
    /// The server refused the key; retrying after a long back-off.
    Unauthorized,
    /// The server and this SDK share no protocol version, or the key is not
    /// a server key: the client no longer connects.
    Stopped,
    /// [`crate::client::Client::close`] was called.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Status {
    /// The client has flag data (from bootstrap or a server).
    pub ready: bool,
    pub state: ConnectionState,
}

/// The state shared by the application and the network task.
pub(crate) struct Store {
    rules: ArcSwapOption<Ruleset>,
    /// The document `rules` was compiled from, kept only when asked for
    /// (`ClientBuilder::keep_document`): each change then copies it.
    document: Option<ArcSwapOption<RulesetDocument>>,
    changes: broadcast::Sender<ChangeEvent>,
    status: watch::Sender<Status>,
}

impl Store {
    pub(crate) fn new(initial: Option<Ruleset>, state: ConnectionState) -> Self {
        let status = Status {
            ready: initial.is_some(),
            state,
        };
        Store {
            rules: ArcSwapOption::new(initial.map(Arc::new)),
            document: None,
            changes: broadcast::channel(CHANGE_CHANNEL_CAPACITY).0,
            status: watch::channel(status).0,
        }
    }

    /// Keeps the document of every change from now on, starting with `initial`.
    pub(crate) fn keeping_document(mut self, initial: Option<&RulesetDocument>) -> Self {
        self.document = Some(ArcSwapOption::new(initial.cloned().map(Arc::new)));
        self
    }

    /// The document of the current ruleset (`None` unless kept, or before any data).
    pub(crate) fn document(&self) -> Option<Arc<RulesetDocument>> {
        self.document.as_ref().and_then(ArcSwapOption::load_full)
    }

    /// Stores the document of the ruleset about to be published.
    fn set_document(&self, doc: impl FnOnce() -> Option<RulesetDocument>) {
        if let Some(document) = &self.document {
            if let Some(doc) = doc() {
                document.store(Some(Arc::new(doc)));
            }
        }
    }

    /// The current ruleset, without touching a reference count (the fast
    /// path of every evaluation).
    pub(crate) fn load(&self) -> Guard<Option<Arc<Ruleset>>> {
        self.rules.load()
    }

    pub(crate) fn load_full(&self) -> Option<Arc<Ruleset>> {
        self.rules.load_full()
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.changes.subscribe()
    }

    pub(crate) fn status(&self) -> Status {
        *self.status.borrow()
    }

    pub(crate) fn watch_status(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    pub(crate) fn set_state(&self, state: ConnectionState) {
        self.status.send_if_modified(|status| {
            let changed = status.state != state;
            status.state = state;
            changed
        });
    }

    /// Swaps in `ruleset` and tells listeners which flags changed.
    fn publish(&self, ruleset: Ruleset, changed: Vec<String>) {
        let version = ruleset.version();
        self.rules.store(Some(Arc::new(ruleset)));
        self.status
            .send_if_modified(|status| !std::mem::replace(&mut status.ready, true));
        if !changed.is_empty() {
            // No receiver is not an error: nobody listens.
            let _ = self.changes.send(ChangeEvent {
                version,
                flags: changed,
            });
        }
    }
}

/// What became of a patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchOutcome {
    Applied,
    /// Already applied (a version at or below ours): ignored.
    Stale,
    /// A version was skipped, or there is nothing to patch: reconnect and
    /// resume from [`Replica::resume_version`].
    Gap,
}

/// The network task's side of the store.
pub(crate) struct Replica {
    store: Arc<Store>,
    /// A hash of every flag and segment document, to tell which ones a
    /// snapshot changed (compiled rules cannot be compared).
    prints: Prints,
    /// The data came from a server, so its version can be resumed. Bootstrap
    /// data is never resumed from: the first connection asks for a snapshot.
    from_server: bool,
}

#[derive(Debug, Default)]
struct Prints {
    flags: HashMap<String, u64>,
    segments: HashMap<String, u64>,
}

impl Prints {
    fn of(doc: &RulesetDocument) -> Self {
        Prints {
            flags: doc.flags.iter().map(|(k, v)| (k.clone(), fingerprint(v))).collect(),
            segments: doc.segments.iter().map(|(k, v)| (k.clone(), fingerprint(v))).collect(),
        }
    }
}

impl Replica {
    /// `bootstrap` is the document the store was created from, if any.
    pub(crate) fn new(store: Arc<Store>, bootstrap: Option<&RulesetDocument>) -> Self {
        Replica {
            store,
            prints: bootstrap.map(Prints::of).unwrap_or_default(),
            from_server: false,
        }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The version to send in `hello.version`.
    pub(crate) fn resume_version(&self) -> Option<u64> {
        self.server_version()
    }

    /// The version of the data received from a server, if any.
    pub(crate) fn server_version(&self) -> Option<u64> {
        if self.from_server {
            self.store.load().as_ref().map(|r| r.version())
        } else {
            None
        }
    }

    /// Makes the next connection ask for a snapshot instead of resuming.
    pub(crate) fn forget_version(&mut self) {
        self.from_server = false;
    }

    /// Replaces everything with a snapshot. Entries this SDK cannot read or
    /// compile are left out and logged (they evaluate as `FLAG_NOT_FOUND`)
    /// rather than losing the whole environment.
    pub(crate) fn apply_snapshot(&mut self, version: u64, ruleset: Value) -> Result<(), String> {
        let mut doc = read_document(ruleset)?;
        doc.version = version;
        let (ruleset, doc) = compile_lenient(doc).map_err(|e| e.to_string())?;
        let prints = Prints::of(&doc);
        let changed_flags = changed_keys(&self.prints.flags, &prints.flags);
        let changed_segments: HashSet<String> = changed_keys(&self.prints.segments, &prints.segments);
        let changed = affected(&ruleset, changed_flags, &changed_segments);
        self.prints = prints;
        self.from_server = true;
        debug!(version, flags = ruleset.flags.len(), "applied a snapshot");
        self.store.set_document(|| Some(doc));
        self.store.publish(ruleset, changed);
        Ok(())
    }

    pub(crate) fn apply_patch(&mut self, version: u64, kind: &str, key: &str, doc: Value) -> PatchOutcome {
        let current = match self.store.load_full() {
            Some(current) if self.from_server => current,
            _ => return PatchOutcome::Gap,
        };
        let have = current.version();
        if version <= have {
            return PatchOutcome::Stale;
        }
        if version != have + 1 {
            return PatchOutcome::Gap;
        }
        let mut flags = BTreeSet::new();
        let mut segments = HashSet::new();
        // What the kept document gets: the entry as compiled (`None`: gone).
        let mut kept = Kept::Neither;
        let next = match kind {
            "flag" => {
                let rules: Option<FlagRules> = read_entry(doc, "flag", key);
                flags.insert(key.to_owned());
                let next = current
                    .apply_change(key, Entry::Flag(rules.as_ref()), version)
                    .unwrap_or_else(|e| {
                        error!(flag = key, version, error = %e, "a patched flag this SDK cannot compile: removed");
                        current
                            .apply_change(key, Entry::Flag(None), version)
                            .unwrap_or_else(|_| at_version(&current, version))
                    });
                // A flag that did not compile is gone.
                let rules = rules.filter(|_| next.flags.contains_key(key));
                record(&mut self.prints.flags, key, rules.as_ref());
                kept = Kept::Flag(rules);
                next
            }
            "segment" => {
                let rules: Option<SegmentRules> = read_entry(doc, "segment", key);
                segments.insert(key.to_owned());
                let next = current
                        .apply_change(key, Entry::Segment(rules.as_ref()), version)
                        .unwrap_or_else(|e| {
                            error!(segment = key, version, error = %e, "a patched segment this SDK cannot compile: removed");
                            current
                                .apply_change(key, Entry::Segment(None), version)
                                .unwrap_or_else(|_| at_version(&current, version))
                        });
                let rules = rules.filter(|_| next.segments.contains_key(key));
                record(&mut self.prints.segments, key, rules.as_ref());
                kept = Kept::Segment(rules);
                next
            }
            other => {
                debug!(
                    kind = other,
                    key, version, "a patch of a kind this SDK does not know: version advanced"
                );
                at_version(&current, version)
            }
        };
        let changed = affected(&next, flags, &segments);
        self.store.set_document(|| {
            let mut doc = RulesetDocument::clone(&*self.store.document()?);
            doc.version = version;
            match kept {
                Kept::Flag(Some(rules)) => drop(doc.flags.insert(key.to_owned(), rules)),
                Kept::Flag(None) => drop(doc.flags.remove(key)),
                Kept::Segment(Some(rules)) => drop(doc.segments.insert(key.to_owned(), rules)),
                Kept::Segment(None) => drop(doc.segments.remove(key)),
                Kept::Neither => {}
            }
            Some(doc)
        });
        self.store.publish(next, changed);
        PatchOutcome::Applied
    }
}

/// The entry a patch leaves in the kept document.
enum Kept {
    Flag(Option<FlagRules>),
    Segment(Option<SegmentRules>),
    Neither,
}

/// `ruleset` unchanged but at `version`.
fn at_version(ruleset: &Ruleset, version: u64) -> Ruleset {
    let mut next = ruleset.clone();
    next.set_version(version);
    next
}

/// Records the fingerprint of a patched entry (`None`: it is gone).
fn record<T: Serialize>(prints: &mut HashMap<String, u64>, key: &str, doc: Option<&T>) {
    match doc {
        Some(doc) => drop(prints.insert(key.to_owned(), fingerprint(doc))),
        None => drop(prints.remove(key)),
    }
}

/// Reads a patch's `doc`: `null` means removed; an unreadable document is
/// logged and treated as removed.
fn read_entry<T: for<'de> Deserialize<'de>>(doc: Value, kind: &str, key: &str) -> Option<T> {
    if doc.is_null() {
        return None;
    }
    T::deserialize(doc)
        .map_err(|e| error!(kind, key, error = %e, "a patched entry this SDK cannot read: removed"))
        .ok()
}

/// Reads a snapshot's ruleset; when the whole document does not read, each
/// flag and segment is read on its own and the unreadable ones are left out.
fn read_document(value: Value) -> Result<RulesetDocument, String> {
    if let Ok(doc) = RulesetDocument::deserialize(&value) {
        return Ok(doc);
    }
    let Value::Object(mut map) = value else {
        return Err("the snapshot's ruleset is not an object".to_owned());
    };
    let mut doc = RulesetDocument {
        environment: map
            .get("environment")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        ..RulesetDocument::default()
    };
    if let Some(Value::Object(flags)) = map.remove("flags") {
        for (key, value) in flags {
            match FlagRules::deserialize(value) {
                Ok(flag) => drop(doc.flags.insert(key, flag)),
                Err(e) => error!(flag = %key, error = %e, "a flag this SDK cannot read: left out"),
            }
        }
    }
    if let Some(Value::Object(segments)) = map.remove("segments") {
        for (key, value) in segments {
            match SegmentRules::deserialize(value) {
                Ok(segment) => drop(doc.segments.insert(key, segment)),
                Err(e) => error!(segment = %key, error = %e, "a segment this SDK cannot read: left out"),
            }
        }
    }
    Ok(doc)
}

/// Compiles `doc`, leaving out (and logging) each flag or segment that the
/// compiler rejects. Returns the document that was compiled.
fn compile_lenient(mut doc: RulesetDocument) -> Result<(Ruleset, RulesetDocument), ValidationError> {
    loop {
        let error = match Ruleset::compile(&doc) {
            Ok(ruleset) => return Ok((ruleset, doc)),
            Err(error) => error,
        };
        if let Some(key) = owner(&doc.flags, "flags.", &error.path) {
            error!(flag = %key, %error, "a flag this SDK cannot compile: left out");
            doc.flags.remove(&key);
        } else if let Some(key) = owner(&doc.segments, "segments.", &error.path) {
            error!(segment = %key, %error, "a segment this SDK cannot compile: left out");
            doc.segments.remove(&key);
        } else {
            return Err(error);
        }
    }
}

/// The key of the entry a validation error's path points into (keys may
/// contain dots, so the longest matching key wins).
fn owner<V>(entries: &BTreeMap<String, V>, prefix: &str, path: &str) -> Option<String> {
    let rest = path.strip_prefix(prefix)?;
    entries
        .keys()
        .filter(|key| {
            rest.strip_prefix(key.as_str())
                .is_some_and(|tail| tail.is_empty() || tail.starts_with('.') || tail.starts_with('['))
        })
        .max_by_key(|key| key.len())
        .cloned()
}

/// Keys added, removed, or with another fingerprint.
fn changed_keys<C: FromIterator<String>>(old: &HashMap<String, u64>, new: &HashMap<String, u64>) -> C {
    let changed = new.iter().filter(|(k, v)| old.get(*k) != Some(v)).map(|(k, _)| k);
    let removed = old.keys().filter(|k| !new.contains_key(*k));
    changed.chain(removed).cloned().collect()
}

/// `flags` plus the flags using one of `segments`, plus (transitively) the
/// flags having one of those as a prerequisite; sorted.
fn affected(ruleset: &Ruleset, mut flags: BTreeSet<String>, segments: &HashSet<String>) -> Vec<String> {
    if !segments.is_empty() {
        for (key, flag) in &ruleset.flags {
            let uses_segment = flag
                .rules
                .iter()
                .flat_map(|rule| rule.clauses.iter())
                .flat_map(|clause| clause.segment_refs())
                .any(|segment| segments.contains(segment));
            if uses_segment {
                flags.insert(key.clone());
            }
        }
    }
    loop {
        let before = flags.len();
        for (key, flag) in &ruleset.flags {
            if !flags.contains(key) && flag.prerequisites.iter().any(|(pre, _)| flags.contains(&**pre)) {
                flags.insert(key.clone());
            }
        }
        if flags.len() == before {
            return flags.into_iter().collect();
        }
    }
}

/// A hash of a document's JSON form.
fn fingerprint<T: Serialize>(doc: &T) -> u64 {
    struct HashWriter(DefaultHasher);
    impl io::Write for HashWriter {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.write(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut writer = HashWriter(DefaultHasher::new());
    // Serialising plain data into a writer that never fails cannot fail.
    let _ = serde_json::to_writer(&mut writer, doc);
    writer.0.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flag(on: bool) -> Value {
        json!({"variations": [false, true], "on": on, "fallthrough": {"variation": 1}, "off_variation": 0})
    }

    fn replica_with(ruleset: Value) -> (Arc<Store>, Replica) {
        let store = Arc::new(Store::new(None, ConnectionState::Connecting));
        let mut replica = Replica::new(store.clone(), None);
        replica.apply_snapshot(1, ruleset).unwrap();
        (store, replica)
    }

    #[test]
    fn patches_check_versions() {
        let (store, mut replica) = replica_with(json!({"flags": {"a": flag(true)}}));
        assert_eq!(replica.apply_patch(1, "flag", "a", flag(false)), PatchOutcome::Stale);
        assert_eq!(replica.apply_patch(3, "flag", "a", flag(false)), PatchOutcome::Gap);
        assert_eq!(replica.apply_patch(2, "flag", "a", flag(false)), PatchOutcome::Applied);
        assert_eq!(replica.apply_patch(3, "widget", "w", json!({})), PatchOutcome::Applied);
        assert_eq!(store.load_full().unwrap().version(), 3);
    }

    #[test]
    fn a_patch_without_server_data_is_a_gap() {
        let store = Arc::new(Store::new(None, ConnectionState::Connecting));
        let mut replica = Replica::new(store, None);
        assert_eq!(replica.apply_patch(1, "flag", "a", flag(true)), PatchOutcome::Gap);
    }

    #[test]
    fn changes_reach_flags_through_segments_and_prerequisites() {
        let (store, mut replica) = replica_with(json!({
            "flags": {
                "uses-vip": {"variations": [false, true], "on": true, "fallthrough": {"variation": 0},
                    "rules": [{"clauses": [{"op": "in_segment", "values": ["vip"]}], "serve": {"variation": 1}}]},
                "needs-uses-vip": {"variations": [false, true], "on": true, "fallthrough": {"variation": 1},
                    "prerequisites": [{"flag": "uses-vip", "variation": 1}]},
                "other": flag(true)
            },
            "segments": {"vip": {"included": ["u-1"]}}
        }));
        let mut events = store.subscribe();
        replica.apply_patch(2, "segment", "vip", json!({"included": ["u-2"]}));
        let event = events.try_recv().unwrap();
        assert_eq!(event.version, 2);
        assert_eq!(event.flags, ["needs-uses-vip", "uses-vip"]);
    }

    #[test]
    fn a_snapshot_reports_only_what_differs() {
        let (store, mut replica) = replica_with(json!({"flags": {"a": flag(true), "b": flag(true)}}));
        let mut events = store.subscribe();
        replica
            .apply_snapshot(
                5,
                json!({"flags": {"a": flag(true), "b": flag(false), "c": flag(true)}}),
            )
            .unwrap();
        assert_eq!(events.try_recv().unwrap().flags, ["b", "c"]);
    }

    #[test]
    fn entries_that_do_not_read_or_compile_are_left_out() {
        let (store, _) = replica_with(json!({"flags": {
            "good": flag(true),
            "unreadable": {"variations": "nope"},
            "bad.rule": {"variations": [1, 2], "on": true, "fallthrough": {"variation": 7}}
        }}));
        let ruleset = store.load_full().unwrap();
        let keys: Vec<_> = ruleset.flag_keys().collect();
        assert_eq!(keys, ["good"]);
    }

    #[test]
    fn a_kept_document_follows_snapshots_and_patches() {
        let store = Arc::new(Store::new(None, ConnectionState::Connecting).keeping_document(None));
        let mut replica = Replica::new(store.clone(), None);
        replica
            .apply_snapshot(1, json!({"flags": {"a": flag(true), "b": flag(true)}}))
            .unwrap();
        replica.apply_patch(2, "flag", "a", flag(false));
        replica.apply_patch(3, "flag", "b", Value::Null);
        replica.apply_patch(4, "segment", "vip", json!({"included": ["u-1"]}));
        let doc = store.document().unwrap();
        assert_eq!(doc.version, 4);
        assert_eq!(doc.flags.keys().collect::<Vec<_>>(), ["a"]);
        assert!(!doc.flags["a"].config.on);
        assert_eq!(doc.segments["vip"].included, ["u-1"]);
    }

    #[test]
    fn a_document_is_kept_only_when_asked_for() {
        let (store, _) = replica_with(json!({"flags": {"a": flag(true)}}));
        assert!(store.document().is_none());
    }

    #[test]
    fn an_invalid_patch_removes_the_flag() {
        let (store, mut replica) = replica_with(json!({"flags": {"a": flag(true)}}));
        let bad = json!({"variations": [1, 2], "on": true, "fallthrough": {"variation": 9}});
        assert_eq!(replica.apply_patch(2, "flag", "a", bad), PatchOutcome::Applied);
        let ruleset = store.load_full().unwrap();
        assert_eq!(ruleset.flag_keys().count(), 0);
        assert_eq!(ruleset.version(), 2);
    }
}
