//! Server keys: the ruleset. After `welcome` the SDK is brought up to date
//! (the patches after its version, or a snapshot) and told `synced`; then
//! every applied change of its environment goes out as a `patch`.

use std::sync::Arc;

use daylight::protocol::ServerMessage;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tungstenite::Utf8Bytes;

use super::session::{close, shutting_down, slow_consumer, Close, Connection};
use crate::change::Change;
use crate::live::Applied;
use crate::state::AppState;
use crate::store;

/// Resume sends at most this many patches; further behind gets a snapshot.
const RESUME_LIMIT: i64 = 500;

/// A server-key session: its environment and the version the SDK has.
pub struct Rules {
    environment: Arc<str>,
    version: u64,
}

impl Rules {
    /// Resume or snapshot, then `synced`.
    pub async fn start(conn: &mut Connection, environment: &Arc<str>, from: Option<u64>) -> Result<Rules, Close> {
        let version = catch_up(conn, environment, from).await?;
        conn.send_message(&ServerMessage::Synced { version })?;
        Ok(Rules {
            environment: environment.clone(),
            version,
        })
    }

    /// The version the SDK has (what heartbeats say).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The next patch, or a catch-up after a gap or a reload.
    pub async fn changed(
        &mut self,
        conn: &mut Connection,
        change: Result<Arc<Applied>, RecvError>,
    ) -> Result<(), Close> {
        let applied = match change {
            Ok(applied) if *applied.environment == *self.environment => applied,
            Ok(_) => return Ok(()),
            Err(RecvError::Lagged(_)) => return Err(slow_consumer()),
            Err(RecvError::Closed) => return Err(shutting_down()),
        };
        let next = self.version + 1;
        let patch = if applied.reloaded || applied.version > next {
            // A reload, or a change missed in between.
            None
        } else if applied.version == next {
            applied_patch(&applied)
        } else {
            // Already sent.
            return Ok(());
        };
        match patch {
            Some(patch) => {
                conn.send(patch)?;
                self.version = next;
            }
            None => self.version = catch_up(conn, &self.environment, Some(self.version)).await?,
        }
        Ok(())
    }
}

/// Queues what a server-key SDK at version `from` misses: the changes after
/// it when the log has them all and they fit in the stream's byte bound,
/// else a snapshot. Returns the version the SDK is at afterwards.
async fn catch_up(conn: &mut Connection, env: &str, from: Option<u64>) -> Result<u64, Close> {
    let state = conn.state.clone();
    let db = &state.db;
    if let Some(from) = from {
        let mut current = state.live.get(env).map_or(0, |r| r.version());
        if from > current {
            // The SDK saw a newer version on another node: this one missed
            // a notification. Catch up rather than send it back in time (a
            // snapshot older than what it already served).
            if let Err(e) = crate::catch_up::catch_up(db, &state.live, env).await {
                tracing::warn!(environment = %env, error = %e, "catch-up for an SDK ahead of this node failed");
            }
            current = state.live.get(env).map_or(0, |r| r.version());
            if from > current {
                // No SDK goes back: it keeps what it has and retries (here
                // or elsewhere) until a node has its version.
                return Err(close(
                    "version_ahead",
                    format!("this node is at version {current}, behind your {from}; retry later"),
                ));
            }
        }
        if from == current {
            metrics::counter!("daylight_stream_syncs_total", "mode" => "resume").increment(1);
            return Ok(from);
        }
        if let Ok(changes) = store::changes_after(db, env, from as i64, RESUME_LIMIT).await {
            let complete =
                changes.len() < RESUME_LIMIT as usize && changes.first().is_some_and(|c| c.version as u64 == from + 1);
            let patches: Vec<(u64, Utf8Bytes)> = changes.iter().map(|c| (c.version as u64, patch_message(c))).collect();
            // Big patches (segments of many keys) cost more than the snapshot.
            let bytes: usize = patches.iter().map(|(_, p)| p.len()).sum();
            if complete && bytes <= conn.max_queued_bytes() {
                metrics::counter!("daylight_stream_syncs_total", "mode" => "resume").increment(1);
                let mut version = from;
                for (v, patch) in patches {
                    conn.send(patch)?;
                    version = v;
                }
                return Ok(version);
            }
        }
    }
    metrics::counter!("daylight_stream_syncs_total", "mode" => "snapshot").increment(1);
    let (version, message) = snapshot_message(&state, env).await?;
    conn.send(message)?;
    Ok(version)
}

/// The `snapshot` message of `env`, serialised once per version: when a
/// node restarts, thousands of SDKs ask for the same one at once.
async fn snapshot_message(state: &AppState, env: &str) -> Result<(u64, Utf8Bytes), Close> {
    let current = state.live.get(env).map(|r| r.version());
    if let Some(cached) = state.live.cached_snapshot(env, current) {
        return Ok(cached);
    }
    let unreachable = || close("shutting_down", "the database is unreachable; retry");
    let doc = store::snapshot::read(&state.db, env).await.map_err(|_| unreachable())?;
    let version = doc.version;
    // As a `Value`: its maps keep the document's members in the order v1
    // has always sent them (sorted).
    let ruleset = serde_json::to_value(&doc).map_err(|_| unreachable())?;
    let message = Utf8Bytes::from(ServerMessage::Snapshot { version, ruleset }.to_json());
    state.live.cache_snapshot(env, version, message.clone());
    Ok((version, message))
}

/// The `patch` message of an applied change (`None` for a reload),
/// serialised once for every stream that sends it.
fn applied_patch(applied: &Applied) -> Option<Utf8Bytes> {
    let change = applied.change.as_ref()?;
    Some(applied.message.get_or_init(|| patch_message(change)).clone())
}

/// The `patch` message of one change-log row: the one place a patch is
/// built, for live changes ([`applied_patch`]) and resumes alike.
fn patch_message(change: &Change) -> Utf8Bytes {
    let patch = ServerMessage::Patch {
        version: change.version as u64,
        kind: change.kind.clone(),
        key: change.key.clone(),
        doc: change.doc.clone().unwrap_or(Value::Null),
    };
    Utf8Bytes::from(patch.to_json())
}
