//! The in-memory rulesets, one per environment, that evaluation reads.
//!
//! Evaluation never waits for the database: OFREP and the streams read an
//! `Arc<Ruleset>` swapped atomically. After every commit (and, with several
//! nodes, on notification or by polling) an environment catches up by
//! applying the change-log rows after its version; when it cannot (a gap it
//! cannot bridge, or a corrupt row) it reloads the environment whole.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::extract::ws::Utf8Bytes;
use daylight::{FlagRules, Ruleset, RulesetDocument, SegmentRules};
use serde_json::json;
use sqlx::{Any, Transaction};
use tokio::sync::{broadcast, mpsc, Mutex};

use crate::bundles::BundleConfig;
use crate::db::Db;
use crate::error::ApiResult;
use crate::store::{self, Change};

/// How many change rows one catch-up reads before it reloads instead.
const CATCH_UP_LIMIT: i64 = 1_000;

pub struct Live {
    rulesets: ArcSwap<HashMap<String, Arc<Ruleset>>>,
    /// Serialises catch-ups so two of them never apply the same change twice.
    catching_up: Mutex<()>,
    /// Every applied change, for streams (subscribers filter by environment).
    applied: broadcast::Sender<Arc<Applied>>,
    /// Environments this node wrote to, for other nodes (Redis fan-out).
    written: std::sync::OnceLock<mpsc::UnboundedSender<String>>,
    /// Bundle configs by (environment, app).
    bundles: ArcSwap<HashMap<(String, String), Arc<BundleConfig>>>,
    /// The last serialised `snapshot` message per environment.
    snapshots: std::sync::Mutex<HashMap<String, (u64, Utf8Bytes)>>,
}

/// One change as streams need it: the patch message serialised once for
/// every connection, and the ruleset it produced.
pub struct Applied {
    pub environment: String,
    pub version: u64,
    /// The protocol's `patch` message, ready to send.
    pub patch: Utf8Bytes,
    /// The ruleset after this change (client-key streams re-evaluate on it).
    pub ruleset: Arc<Ruleset>,
    /// `flag`, `segment` or `bundle` (empty for a reload).
    pub kind: String,
    /// The flag key, segment key or app.
    pub key: String,
    /// A reload replaced the ruleset wholesale: streams must resync.
    pub reloaded: bool,
}

/// How many changes the stream broadcast holds before slow readers lag.
const BROADCAST_CAPACITY: usize = 4096;

impl Live {
    pub async fn load(db: &Db) -> ApiResult<Live> {
        let live = Live {
            rulesets: ArcSwap::from_pointee(HashMap::new()),
            catching_up: Mutex::new(()),
            applied: broadcast::channel(BROADCAST_CAPACITY).0,
            written: std::sync::OnceLock::new(),
            bundles: ArcSwap::from_pointee(HashMap::new()),
            snapshots: std::sync::Mutex::new(HashMap::new()),
        };
        for env in store::environments::list(db).await? {
            live.reload(db, &env.key).await?;
        }
        Ok(live)
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

    /// After a commit on this node: catch up, and tell the other nodes.
    pub async fn committed(&self, db: &Db, environments: &[String]) {
        self.catch_up_all(db, environments).await;
        if let Some(tx) = self.written.get() {
            for env in environments {
                let _ = tx.send(env.clone());
            }
        }
    }

    /// Brings each environment up to the database's change log.
    pub async fn catch_up_all(&self, db: &Db, environments: &[String]) {
        for env in environments {
            if let Err(e) = self.catch_up(db, env).await {
                tracing::warn!(environment = %env, error = %e, "catch-up failed; will retry on the next change");
            }
        }
    }

    pub async fn catch_up(&self, db: &Db, environment: &str) -> ApiResult<()> {
        let _guard = self.catching_up.lock().await;
        let Some(ruleset) = self.get(environment) else {
            return self.reload_locked(db, environment).await;
        };
        let changes = store::changes_after(db, environment, ruleset.version() as i64, CATCH_UP_LIMIT).await?;
        self.apply_locked(db, environment, ruleset, changes).await
    }

    /// [`catch_up`](Self::catch_up), reading the change log inside `tx`
    /// (a writer holding the environment's row lock).
    pub async fn catch_up_in(&self, db: &Db, tx: &mut Transaction<'_, Any>, environment: &str) -> ApiResult<()> {
        let _guard = self.catching_up.lock().await;
        let Some(ruleset) = self.get(environment) else {
            return self.reload_locked(db, environment).await;
        };
        let changes = store::changes_after_in(tx, environment, ruleset.version() as i64, CATCH_UP_LIMIT).await?;
        self.apply_locked(db, environment, ruleset, changes).await
    }

    /// Applies `changes` (read after `ruleset`'s version) and tells the
    /// streams; reloads when they cannot be applied. Under `catching_up`.
    async fn apply_locked(
        &self,
        db: &Db,
        environment: &str,
        mut ruleset: Arc<Ruleset>,
        changes: Vec<Change>,
    ) -> ApiResult<()> {
        if changes.len() as i64 == CATCH_UP_LIMIT {
            return self.reload_locked(db, environment).await;
        }
        for change in changes {
            match apply(&ruleset, &change) {
                Some(next) => ruleset = Arc::new(next),
                None => {
                    tracing::warn!(
                        environment,
                        version = change.version,
                        "could not apply a change; reloading"
                    );
                    return self.reload_locked(db, environment).await;
                }
            }
            self.publish(environment, ruleset.clone());
            if change.kind == "bundle" {
                let config = change.doc.clone().and_then(|d| serde_json::from_value(d).ok());
                self.set_bundle(environment, &change.key, config);
            }
            let patch = json!({
                "type": "patch", "version": change.version, "kind": change.kind, "key": change.key, "doc": change.doc
            });
            let _ = self.applied.send(Arc::new(Applied {
                environment: environment.to_owned(),
                version: change.version as u64,
                patch: Utf8Bytes::from(patch.to_string()),
                ruleset: ruleset.clone(),
                reloaded: false,
                kind: change.kind.clone(),
                key: change.key.clone(),
            }));
        }
        Ok(())
    }

    async fn reload(&self, db: &Db, environment: &str) -> ApiResult<()> {
        let _guard = self.catching_up.lock().await;
        self.reload_locked(db, environment).await
    }

    async fn reload_locked(&self, db: &Db, environment: &str) -> ApiResult<()> {
        let doc = snapshot(db, environment).await?;
        let ruleset = Arc::new(Ruleset::compile(&doc).map_err(|e| {
            crate::error::ApiError::Internal(format!("stored rules of `{environment}` do not compile: {e}"))
        })?);
        let had_one = self.get(environment).is_some();
        for (app, config) in store::bundles::configs_of(db, environment).await? {
            self.set_bundle(environment, &app, Some(config));
        }
        self.publish(environment, ruleset.clone());
        if had_one {
            // Streams cannot patch across a reload: they resync.
            let _ = self.applied.send(Arc::new(Applied {
                environment: environment.to_owned(),
                version: ruleset.version(),
                patch: Utf8Bytes::from_static(""),
                ruleset,
                reloaded: true,
                kind: String::new(),
                key: String::new(),
            }));
        }
        Ok(())
    }

    fn publish(&self, environment: &str, ruleset: Arc<Ruleset>) {
        self.rulesets.rcu(|map| {
            let mut next = HashMap::clone(map);
            next.insert(environment.to_owned(), ruleset.clone());
            next
        });
    }
}

fn apply(ruleset: &Ruleset, change: &Change) -> Option<Ruleset> {
    if change.version as u64 != ruleset.version() + 1 {
        return None;
    }
    let version = change.version as u64;
    match change.kind.as_str() {
        "flag" => {
            let rules: Option<FlagRules> = change.doc.clone().map(serde_json::from_value).transpose().ok()?;
            ruleset.with_flag(&change.key, rules.as_ref(), version).ok()
        }
        "segment" => {
            let rules: Option<SegmentRules> = change.doc.clone().map(serde_json::from_value).transpose().ok()?;
            ruleset.with_segment(&change.key, rules.as_ref(), version).ok()
        }
        // A kind this version does not know changes nothing it evaluates.
        _ => {
            let mut next = ruleset.clone();
            next.set_version(version);
            Some(next)
        }
    }
}

/// The whole environment as an SDK sees it, read in one transaction so the
/// version matches the contents.
pub async fn snapshot(db: &Db, environment: &str) -> ApiResult<RulesetDocument> {
    let mut tx = db.pool.begin().await?;
    if db.backend == crate::db::Backend::Postgres {
        // One snapshot for every statement below.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(&mut *tx)
            .await?;
    }
    let version: i64 = sqlx::query_scalar("SELECT version FROM environments WHERE key = $1")
        .bind(environment)
        .fetch_one(&mut *tx)
        .await?;
    let flag_rows: Vec<(String, i64, i64, i64, i64)> =
        sqlx::query_as("SELECT doc, version, archived, created_at, updated_at FROM flags")
            .fetch_all(&mut *tx)
            .await?;
    let segment_rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT key, doc, version FROM segments WHERE environment = $1")
            .bind(environment)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    let internal = |e: serde_json::Error| crate::error::ApiError::Internal(e.to_string());
    let mut flags = BTreeMap::new();
    for (doc, version, archived, created_at, updated_at) in flag_rows {
        let stored = store::flags::StoredFlag {
            flag: serde_json::from_str(&doc).map_err(internal)?,
            version,
            archived: archived != 0,
            created_at,
            updated_at,
        };
        if let Some(rules) = store::flags::rules_for(&stored, environment) {
            flags.insert(stored.flag.key.clone(), rules);
        }
    }
    let mut segments = BTreeMap::new();
    for (key, doc, version) in segment_rows {
        let mut rules: SegmentRules = serde_json::from_str(&doc).map_err(internal)?;
        rules.version = version as u64;
        segments.insert(key, rules);
    }
    Ok(RulesetDocument {
        environment: environment.to_owned(),
        version: version as u64,
        flags,
        segments,
    })
}
