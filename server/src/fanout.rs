//! Keeping several server nodes in step.
//!
//! The database's change log is the truth; everything here only decides
//! *when* a node reads it. A node that commits tells the others over Redis
//! pub/sub (`DAYLIGHT_REDIS_URL`), and they catch up at once. Because a
//! Redis message can be lost (Redis restarts, a node reconnects), every node
//! also polls the environments' head versions: often while Redis is
//! unavailable or not configured, rarely as a safety net while it is
//! healthy. Catching up applies every change after the node's version, so a
//! missed notification never leaves a gap.
//!
//! Key revocations travel on a second channel (`<channel>:revoked`, the
//! key's id), so every node ends that key's open streams at once. A lost
//! revocation notice is caught by the streams' heartbeat re-check of their
//! key (`http::stream`), within the key cache's lifetime.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::state::AppState;
use crate::store;

#[derive(Debug, Clone)]
pub struct FanoutSettings {
    pub redis_url: Option<String>,
    pub channel: String,
    /// Poll interval without a healthy Redis.
    pub poll: Duration,
}

/// How often to poll while Redis delivers notifications.
const SAFETY_NET_FACTOR: u32 = 10;

pub fn spawn(state: AppState, settings: FanoutSettings) {
    let redis_healthy = Arc::new(AtomicBool::new(false));
    tokio::spawn(poll_loop(state.clone(), settings.poll, redis_healthy.clone()));
    let Some(url) = settings.redis_url.clone() else { return };
    let client = match redis::Client::open(url.as_str()) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "invalid DAYLIGHT_REDIS_URL; polling the database only");
            return;
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    state.live.report_writes_to(tx);
    tokio::spawn(publish_loop(client.clone(), settings.channel.clone(), rx));
    let (tx, rx) = mpsc::unbounded_channel();
    state.keys.announce_revocations_to(tx);
    tokio::spawn(publish_loop(client.clone(), revoked_channel(&settings.channel), rx));
    tokio::spawn(subscribe_loop(state, client, settings.channel, redis_healthy));
}

/// Where nodes announce revoked SDK keys (by id).
fn revoked_channel(channel: &str) -> String {
    format!("{channel}:revoked")
}

/// Catches up every environment whose head moved (and loads new ones).
async fn poll_once(state: &AppState) {
    let Ok(envs) = store::environments::list(&state.db).await else {
        return;
    };
    let known = state.live.versions();
    for env in envs {
        if known.get(&env.key).copied() != Some(env.version as u64) {
            if let Err(e) = crate::catch_up::catch_up(&state.db, &state.live, &env.key).await {
                tracing::warn!(environment = %env.key, error = %e, "catch-up from the change log failed");
            }
        }
    }
}

async fn poll_loop(state: AppState, poll: Duration, redis_healthy: Arc<AtomicBool>) {
    loop {
        let wait = if redis_healthy.load(Ordering::Relaxed) {
            poll * SAFETY_NET_FACTOR
        } else {
            poll
        };
        tokio::time::sleep(wait).await;
        poll_once(&state).await;
    }
}

/// Publishes the environments this node wrote to (or the keys it revoked).
async fn publish_loop<T: redis::ToRedisArgs + Send + Sync>(
    client: redis::Client,
    channel: String,
    mut rx: mpsc::UnboundedReceiver<T>,
) {
    let mut conn = None;
    while let Some(message) = rx.recv().await {
        // A connection from before a Redis restart fails on first use; the
        // other nodes are likely subscribed again by now (and polling only
        // rarely), so try once more on a fresh connection before giving up.
        for attempt in 0..2 {
            if conn.is_none() {
                conn = client.get_multiplexed_async_connection().await.ok();
            }
            let Some(c) = conn.as_mut() else {
                // Other nodes will see the change when they poll.
                break;
            };
            let published: redis::RedisResult<i64> =
                redis::cmd("PUBLISH").arg(&channel).arg(&message).query_async(c).await;
            match published {
                Ok(_) => break,
                Err(e) => {
                    conn = None;
                    if attempt == 1 {
                        tracing::warn!(error = %e, "publishing a change notification failed; other nodes will poll");
                    }
                }
            }
        }
    }
}

async fn subscribe_loop(state: AppState, client: redis::Client, channel: String, healthy: Arc<AtomicBool>) {
    let revoked = revoked_channel(&channel);
    let mut backoff = Duration::from_millis(200);
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if pubsub.subscribe(&[&channel, &revoked]).await.is_ok() {
                    healthy.store(true, Ordering::Relaxed);
                    backoff = Duration::from_millis(200);
                    tracing::info!(%channel, "listening for changes from other nodes");
                    // Whatever happened while we were not listening.
                    poll_once(&state).await;
                    let mut messages = pubsub.on_message();
                    while let Some(msg) = messages.next().await {
                        if msg.get_channel_name() == revoked {
                            if let Ok(id) = msg.get_payload::<i64>() {
                                state.keys.forget_revoked(id);
                            }
                            continue;
                        }
                        let Ok(env) = msg.get_payload::<String>() else { continue };
                        if let Err(e) = crate::catch_up::catch_up(&state.db, &state.live, &env).await {
                            tracing::warn!(environment = %env, error = %e, "catch-up after a notification failed");
                        }
                    }
                }
                tracing::warn!("lost the Redis subscription; polling the database until it is back");
            }
            Err(e) => tracing::debug!(error = %e, "Redis unreachable"),
        }
        healthy.store(false, Ordering::Relaxed);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
