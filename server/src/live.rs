//! The in-memory rulesets, one per environment, that evaluation reads.
//!
//! Evaluation never waits for the database: OFREP and the streams read an
//! `Arc<Ruleset>` swapped atomically. Memory only: `catch_up` reads the
//! change log and hands the rows here ([`Live::apply`]), or a whole
//! environment when they cannot be applied ([`Live::replace`]).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use daylight::{Entry, FlagRules, Ruleset, SegmentRules};
use tokio::sync::{broadcast, mpsc, Mutex, MutexGuard};
use tungstenite::Utf8Bytes;

use crate::bundles::BundleConfig;
use crate::change::Change;
use crate::receipts::{Receipt, Receipts};

pub struct Live {
    /// Hashed with foldhash: every evaluation looks its environment up here.
    rulesets: ArcSwap<foldhash::HashMap<String, Arc<Ruleset>>>,
    /// Serialises catch-ups so two of them never apply the same change twice.
    catching_up: Mutex<()>,
    /// Every applied change, for streams (subscribers filter by environment).
    applied: broadcast::Sender<Arc<Applied>>,
    /// Environments this node wrote to, for other nodes (Redis fan-out).
    written: OnceLock<mpsc::UnboundedSender<String>>,
    /// Bundle configs by (environment, app).
    bundles: ArcSwap<HashMap<(String, String), Arc<BundleConfig>>>,
    /// The last serialised `snapshot` message per environment.
    snapshots: std::sync::Mutex<HashMap<String, (u64, Utf8Bytes)>>,
    /// Propagation figures of the recent changes.
    pub receipts: Receipts,
}

/// One change as streams need it: the change-log row and the ruleset it
/// produced.
pub struct Applied {
    pub environment: String,
    pub version: u64,
    /// The row applied (`None` for a reload).
    pub change: Option<Change>,
    /// The stream's message for it, serialised once by the first stream
    /// that sends it (the stream module owns the wire format).
    pub message: OnceLock<Utf8Bytes>,
    /// The ruleset after this change (client-key streams re-evaluate on it).
    pub ruleset: Arc<Ruleset>,
    /// A reload replaced the ruleset wholesale: streams must resync.
    pub reloaded: bool,
    /// This node's propagation figures for the change (`None` for a reload).
    pub receipt: Option<Arc<Receipt>>,
}

/// Held while changes are applied, so two catch-ups never apply the same
/// change twice.
pub struct CatchingUp<'a>(#[allow(dead_code)] MutexGuard<'a, ()>);

/// A change that could not be applied: the environment must be reloaded.
#[derive(Debug)]
pub struct Unapplied {
    pub version: i64,
}

/// How many changes the stream broadcast holds before slow readers lag.
const BROADCAST_CAPACITY: usize = 4096;

impl Default for Live {
    fn default() -> Live {
        Live::new()
    }
}

impl Live {
    pub fn new() -> Live {
        Live {
            rulesets: ArcSwap::from_pointee(Default::default()),
            catching_up: Mutex::new(()),
            applied: broadcast::channel(BROADCAST_CAPACITY).0,
            written: OnceLock::new(),
            bundles: ArcSwap::from_pointee(HashMap::new()),
            snapshots: std::sync::Mutex::new(HashMap::new()),
            receipts: Receipts::default(),
        }
    }

    /// Waits for any other catch-up to finish.
    pub async fn catching_up(&self) -> CatchingUp<'_> {
        CatchingUp(self.catching_up.lock().await)
    }

    /// The current ruleset of `environment`.
    pub fn get(&self, environment: &str) -> Option<Arc<Ruleset>> {
        self.rulesets.load().get(environment).cloned()
    }

    /// The bundle config of `app` in `environment`.
    pub fn bundle(&self, environment: &str, app: &str) -> Option<Arc<BundleConfig>> {
        self.bundles
            .load()
            .get(&(environment.to_owned(), app.to_owned()))
            .cloned()
    }

    fn set_bundle(&self, environment: &str, app: &str, config: Option<BundleConfig>) {
        let key = (environment.to_owned(), app.to_owned());
        let config = config.map(Arc::new);
        self.bundles.rcu(|map| {
            let mut next = HashMap::clone(map);
            match &config {
                Some(c) => next.insert(key.clone(), c.clone()),
                None => next.remove(&key),
            };
            next
        });
    }

    /// The cached `snapshot` message of `environment`, if it is at `version`.
    pub fn cached_snapshot(&self, environment: &str, version: Option<u64>) -> Option<(u64, Utf8Bytes)> {
        let cache = self.snapshots.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(environment).filter(|(v, _)| Some(*v) == version).cloned()
    }

    pub fn cache_snapshot(&self, environment: &str, version: u64, message: Utf8Bytes) {
        let mut cache = self.snapshots.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(environment.to_owned(), (version, message));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Applied>> {
        self.applied.subscribe()
    }

    /// Where to report environments this node wrote to (set once by the
    /// fan-out, which tells the other nodes).
    pub fn report_writes_to(&self, tx: mpsc::UnboundedSender<String>) {
        let _ = self.written.set(tx);
    }

    /// Versions of every loaded environment.
    pub fn versions(&self) -> HashMap<String, u64> {
        self.rulesets
            .load()
            .iter()
            .map(|(k, r)| (k.clone(), r.version()))
            .collect()
    }

    /// Tells the other nodes (through the fan-out) that this node wrote to
    /// `environments`.
    pub fn wrote(&self, environments: &[String]) {
        if let Some(tx) = self.written.get() {
            for env in environments {
                let _ = tx.send(env.clone());
            }
        }
    }

    /// Applies `changes`, read after the current version of `environment`,
    /// in order, and tells the streams. On a change it cannot apply (a gap,
    /// a corrupt row) it stops: the caller reloads the environment.
    pub fn apply(&self, _: &CatchingUp<'_>, environment: &str, changes: Vec<Change>) -> Result<(), Unapplied> {
        let Some(mut ruleset) = self.get(environment) else {
            return Err(Unapplied { version: 0 });
        };
        for change in changes {
            match apply(&ruleset, &change) {
                Some(next) => ruleset = Arc::new(next),
                None => {
                    return Err(Unapplied {
                        version: change.version,
                    })
                }
            }
            self.publish(environment, ruleset.clone());
            if change.kind == "bundle" {
                let config = change.doc.clone().and_then(|d| serde_json::from_value(d).ok());
                self.set_bundle(environment, &change.key, config);
            }
            let receipt = Arc::new(Receipt::new(environment, change.version as u64, change.committed_at_ms));
            self.receipts.track(receipt.clone());
            let _ = self.applied.send(Arc::new(Applied {
                environment: environment.to_owned(),
                version: change.version as u64,
                change: Some(change),
                message: OnceLock::new(),
                ruleset: ruleset.clone(),
                reloaded: false,
                receipt: Some(receipt),
            }));
        }
        Ok(())
    }

    /// Replaces `environment` wholesale (at start, or when changes could
    /// not be applied); streams that had the old one resync.
    pub fn replace(
        &self,
        _: &CatchingUp<'_>,
        environment: &str,
        ruleset: Ruleset,
        bundles: Vec<(String, BundleConfig)>,
    ) {
        let ruleset = Arc::new(ruleset);
        let had_one = self.get(environment).is_some();
        for (app, config) in bundles {
            self.set_bundle(environment, &app, Some(config));
        }
        self.publish(environment, ruleset.clone());
        if had_one {
            let _ = self.applied.send(Arc::new(Applied {
                environment: environment.to_owned(),
                version: ruleset.version(),
                change: None,
                message: OnceLock::new(),
                ruleset,
                reloaded: true,
                receipt: None,
            }));
        }
    }

    fn publish(&self, environment: &str, ruleset: Arc<Ruleset>) {
        self.rulesets.rcu(|map| {
            let mut next = HashMap::clone(map);
            next.insert(environment.to_owned(), ruleset.clone());
            next
        });
    }
}

/// The ruleset after `change`, if it is the next version and applies.
fn apply(ruleset: &Ruleset, change: &Change) -> Option<Ruleset> {
    if change.version as u64 != ruleset.version() + 1 {
        return None;
    }
    let version = change.version as u64;
    let doc = change.doc.clone();
    match change.kind.as_str() {
        "flag" => {
            let rules: Option<FlagRules> = doc.map(serde_json::from_value).transpose().ok()?;
            ruleset
                .apply_change(&change.key, Entry::Flag(rules.as_ref()), version)
                .ok()
        }
        "segment" => {
            let rules: Option<SegmentRules> = doc.map(serde_json::from_value).transpose().ok()?;
            ruleset
                .apply_change(&change.key, Entry::Segment(rules.as_ref()), version)
                .ok()
        }
        _ => ruleset.apply_change(&change.key, Entry::Unknown, version).ok(),
    }
}
