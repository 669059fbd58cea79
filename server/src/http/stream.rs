//! `/sdk/v1/stream`: the WebSocket stream of `docs/protocol.md`.
//!
//! Server keys get a snapshot (or the changes after their version), then
//! every patch; client keys get the evaluated values of `client_side` flags
//! for their context, then only what changed. Each connection is one task
//! that selects over the socket, the change broadcast and a heartbeat timer;
//! a reader too slow to keep up with the broadcast is dropped (it resumes
//! from its version on reconnect) instead of being buffered without bound.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use daylight::{Context, Ruleset};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{interval, timeout, Instant, MissedTickBehavior};

use crate::app::AppState;
use crate::auth::{KeyKind, SdkKey};
use crate::live::Applied;
use crate::store;

/// Protocol versions this server speaks, newest last.
pub const PROTOCOLS: &[u32] = &[1];
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Resume sends at most this many patches; further behind gets a snapshot.
const RESUME_LIMIT: i64 = 500;
/// Small buffers keep idle connections cheap (tungstenite's read buffer is
/// 128 KiB by default); frames from SDKs are small.
const READ_BUFFER: usize = 4 * 1024;
const WRITE_BUFFER: usize = 4 * 1024;
const MAX_WRITE_BUFFER: usize = 4 * 1024 * 1024;
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/sdk/v1/stream", get(upgrade))
}

async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>, headers: HeaderMap) -> Response {
    let header_key = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| async move {
            metrics::gauge!("daylight_stream_connections").increment(1.0);
            let mut conn = Connection { socket, state };
            let reason = conn.run(header_key).await;
            if let Err(close) = reason {
                conn.close(close).await;
            }
            metrics::gauge!("daylight_stream_connections").decrement(1.0);
        })
}

#[derive(Deserialize)]
struct Hello {
    #[serde(default)]
    protocols: Vec<u32>,
    key: Option<String>,
    version: Option<u64>,
    context: Option<Value>,
    /// Client keys: the app and the bundle version this page runs.
    bundle: Option<RunningBundle>,
}

#[derive(Deserialize, Clone)]
struct RunningBundle {
    app: String,
    version: String,
}

#[derive(Deserialize)]
struct Incoming {
    #[serde(rename = "type")]
    kind: String,
    context: Option<Value>,
}

/// Why the server ends a connection: the protocol's error code and message.
struct Close {
    code: &'static str,
    message: String,
}

fn close(code: &'static str, message: impl Into<String>) -> Close {
    Close {
        code,
        message: message.into(),
    }
}

struct Connection {
    socket: WebSocket,
    state: AppState,
}

/// What a client-key connection last sent, per flag: the variation, the
/// value and the reason's identity (a few bytes, not its JSON: there is one
/// entry per connection per `client_side` flag), so a change of reason alone
/// (on → off serving the same value) is sent too.
type Sent = HashMap<String, SentValue>;

#[derive(Debug, Clone, PartialEq)]
struct SentValue {
    variation: Option<usize>,
    value: Value,
    reason: (u8, usize, bool),
}

fn reason_identity(reason: &daylight::Reason<'_>) -> (u8, usize, bool) {
    use daylight::Reason;
    match reason {
        Reason::Off => (0, 0, false),
        Reason::TargetMatch => (1, 0, false),
        Reason::RuleMatch {
            rule_index, in_rollout, ..
        } => (2, *rule_index, *in_rollout),
        Reason::Fallthrough { in_rollout } => (3, 0, *in_rollout),
        Reason::PrerequisiteFailed { .. } => (4, 0, false),
        Reason::Error { error_kind } => (5, *error_kind as usize, false),
    }
}

impl Connection {
    async fn send(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), Close> {
        self.socket
            .send(Message::Text(text.into()))
            .await
            .map_err(|_| close("gone", "the connection dropped"))
    }

    async fn send_json(&mut self, value: Value) -> Result<(), Close> {
        self.send(value.to_string()).await
    }

    async fn close(&mut self, reason: Close) {
        if reason.code == "gone" {
            return;
        }
        let _ = self
            .send_json(json!({ "type": "error", "code": reason.code, "message": reason.message }))
            .await;
        let code = match reason.code {
            "unauthorized" | "unsupported_protocol" | "bad_message" => 1008,
            "shutting_down" => 1001,
            _ => 1013,
        };
        let _ = self
            .socket
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from_static(""),
            })))
            .await;
    }

    async fn run(&mut self, header_key: Option<String>) -> Result<(), Close> {
        let hello = match timeout(HELLO_TIMEOUT, self.socket.recv()).await {
            Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<Hello>(&text)
                .map_err(|e| close("bad_message", format!("expected hello: {e}")))?,
            Ok(Some(Ok(_))) => return Err(close("bad_message", "expected a hello text message")),
            Ok(_) => return Err(close("gone", "")),
            Err(_) => return Err(close("bad_message", "no hello within 10 seconds")),
        };
        let secret = hello
            .key
            .clone()
            .or(header_key)
            .ok_or_else(|| close("unauthorized", "hello needs a key"))?;
        let key = self
            .state
            .keys
            .lookup(&self.state, &secret)
            .await
            .map_err(|_| close("unauthorized", "unknown or revoked key"))?;
        let protocol = PROTOCOLS
            .iter()
            .rev()
            .find(|p| hello.protocols.contains(p))
            .copied()
            .ok_or_else(|| {
                close(
                    "unsupported_protocol",
                    format!("this server speaks protocols {PROTOCOLS:?}"),
                )
            })?;
        // Subscribe before reading any state, so no change falls in between.
        let mut changes = self.state.live.subscribe();
        let heartbeat = heartbeat_interval();
        self.send_json(json!({
            "type": "welcome", "protocol": protocol, "environment": key.environment,
            "kind": key.kind.as_str(), "heartbeat_ms": heartbeat.as_millis() as u64
        }))
        .await?;
        metrics::counter!("daylight_stream_sessions_total", "kind" => key.kind.as_str()).increment(1);
        // After `welcome`, so an SDK holding the wrong kind of key learns
        // which kind it has (and stops) instead of retrying.
        let context = match key.kind {
            KeyKind::Server => None,
            KeyKind::Client => Some(
                hello
                    .context
                    .ok_or_else(|| close("bad_message", "a client key's hello needs a context"))?,
            ),
        };
        match context {
            None => self.serve_rules(&key, hello.version, &mut changes, heartbeat).await,
            Some(context) => {
                self.serve_values(&key, context, hello.bundle, &mut changes, heartbeat)
                    .await
            }
        }
    }

    /// Server keys: resume or snapshot, then patches.
    async fn serve_rules(
        &mut self,
        key: &SdkKey,
        from: Option<u64>,
        changes: &mut tokio::sync::broadcast::Receiver<Arc<Applied>>,
        heartbeat: Duration,
    ) -> Result<(), Close> {
        let mut version = self.catch_up(key, from).await?;
        self.send_json(json!({ "type": "synced", "version": version })).await?;
        let mut tick = ticker(heartbeat);
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(applied) if applied.environment == key.environment => {
                        if applied.reloaded {
                            version = self.catch_up(key, Some(version)).await?;
                        } else if applied.version == version + 1 {
                            self.send(applied.patch.clone()).await?;
                            version = applied.version;
                        } else if applied.version > version + 1 {
                            version = self.catch_up(key, Some(version)).await?;
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => {
                        return Err(close("slow_consumer", "too far behind; reconnect with your version"))
                    }
                    Err(RecvError::Closed) => return Err(close("shutting_down", "the server is stopping")),
                },
                incoming = self.socket.recv() => {
                    last_heard = Instant::now();
                    match incoming {
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(()),
                        _ => {}
                    }
                }
                _ = tick.tick() => {
                    if last_heard.elapsed() > heartbeat * 3 {
                        return Err(close("gone", ""));
                    }
                    self.send_json(json!({ "type": "heartbeat", "version": version })).await?;
                }
            }
        }
    }

    /// Sends what a server-key SDK at version `from` misses: the changes
    /// after it when the log has them all, else a snapshot. Returns the
    /// version the SDK is at afterwards.
    async fn catch_up(&mut self, key: &SdkKey, from: Option<u64>) -> Result<u64, Close> {
        let db = &self.state.db;
        let env = &key.environment;
        if let Some(from) = from {
            let current = self.state.live.get(env).map_or(0, |r| r.version());
            if from == current {
                metrics::counter!("daylight_stream_syncs_total", "mode" => "resume").increment(1);
                return Ok(from);
            }
            if from < current {
                if let Ok(changes) = store::changes_after(db, env, from as i64, RESUME_LIMIT).await {
                    let complete = changes.len() < RESUME_LIMIT as usize
                        && changes.first().is_none_or(|c| c.version as u64 == from + 1);
                    if complete {
                        metrics::counter!("daylight_stream_syncs_total", "mode" => "resume").increment(1);
                        let mut version = from;
                        for c in changes {
                            let patch = json!({ "type": "patch", "version": c.version, "kind": c.kind, "key": c.key, "doc": c.doc });
                            self.send_json(patch).await?;
                            version = c.version as u64;
                        }
                        return Ok(version);
                    }
                }
            }
        }
        metrics::counter!("daylight_stream_syncs_total", "mode" => "snapshot").increment(1);
        let (version, message) = snapshot_message(&self.state, env).await?;
        self.send(message).await?;
        Ok(version)
    }

    /// Client keys: evaluated values of `client_side` flags, then changes.
    async fn serve_values(
        &mut self,
        key: &SdkKey,
        context: Value,
        bundle: Option<RunningBundle>,
        changes: &mut tokio::sync::broadcast::Receiver<Arc<Applied>>,
        heartbeat: Duration,
    ) -> Result<(), Close> {
        let mut ctx = Context::from_json(&context).map_err(|e| close("bad_message", format!("context: {e}")))?;
        let ruleset = self
            .state
            .live
            .get(&key.environment)
            .ok_or_else(|| close("shutting_down", "environment not loaded"))?;
        let mut sent = Sent::new();
        let mut version = ruleset.version();
        self.send_values(&ruleset, &ctx, &mut sent, true).await?;
        // The bundle handshake: the first answer goes out at once; later
        // reload notices wait for the pacer.
        let _present = bundle
            .as_ref()
            .map(|b| self.state.presence.join(&key.environment, &b.app, &b.version));
        let mut bundle_sent = None;
        if let Some(b) = &bundle {
            let msg = self.bundle_message(&key.environment, b, &ctx, &ruleset);
            self.send_json(msg.clone()).await?;
            bundle_sent = Some(msg);
        }
        let mut bundle_pending: Option<Value> = None;
        let mut paced: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>> = None;
        let mut tick = ticker(heartbeat);
        let mut last_heard = Instant::now();
        loop {
            // A changed bundle answer: current goes out at once, reload notices are paced.
            if let (Some(b), Some(ruleset)) = (&bundle, self.state.live.get(&key.environment)) {
                let msg = self.bundle_message(&key.environment, b, &ctx, &ruleset);
                if Some(&msg) != bundle_sent.as_ref() && Some(&msg) != bundle_pending.as_ref() {
                    if msg["status"] == "current" {
                        self.send_json(msg.clone()).await?;
                        bundle_sent = Some(msg);
                        bundle_pending = None;
                        paced = None;
                    } else {
                        if paced.is_none() {
                            let rate = self
                                .state
                                .live
                                .bundle(&key.environment, &b.app)
                                .map_or(50, |c| c.reload.rate_per_second);
                            paced = Some(self.state.pacers.wait(&key.environment, &b.app, rate));
                        }
                        bundle_pending = Some(msg);
                    }
                }
            }
            tokio::select! {
                _ = async { paced.as_mut().expect("guarded").await }, if paced.is_some() => {
                    paced = None;
                    if let Some(msg) = bundle_pending.take() {
                        metrics::counter!("daylight_reload_notices_total").increment(1);
                        self.send_json(msg.clone()).await?;
                        bundle_sent = Some(msg);
                    }
                }
                change = changes.recv() => {
                    let ruleset = match change {
                        Ok(applied) if applied.environment == key.environment && applied.version > version => applied.ruleset.clone(),
                        Ok(_) => continue,
                        // Values are state, not a log: skipping ahead to the latest is safe.
                        Err(RecvError::Lagged(_)) => match self.state.live.get(&key.environment) {
                            Some(r) => r,
                            None => continue,
                        },
                        Err(RecvError::Closed) => return Err(close("shutting_down", "the server is stopping")),
                    };
                    version = ruleset.version();
                    self.send_values(&ruleset, &ctx, &mut sent, false).await?;
                }
                incoming = self.socket.recv() => {
                    last_heard = Instant::now();
                    match incoming {
                        Some(Ok(Message::Text(text))) => {
                            let msg: Incoming = serde_json::from_str(&text).map_err(|e| close("bad_message", e.to_string()))?;
                            if msg.kind == "identify" {
                                let context = msg.context.ok_or_else(|| close("bad_message", "identify needs a context"))?;
                                ctx = Context::from_json(&context).map_err(|e| close("bad_message", format!("context: {e}")))?;
                                let ruleset = self.state.live.get(&key.environment).ok_or_else(|| close("shutting_down", "environment not loaded"))?;
                                version = ruleset.version();
                                sent.clear();
                                self.send_values(&ruleset, &ctx, &mut sent, true).await?;
                            }
                        }
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(()),
                        _ => {}
                    }
                }
                _ = tick.tick() => {
                    if last_heard.elapsed() > heartbeat * 3 {
                        return Err(close("gone", ""));
                    }
                    self.send_json(json!({ "type": "heartbeat", "version": version })).await?;
                }
            }
        }
    }

    /// The `bundle` message for a page running `running` with context `ctx`.
    fn bundle_message(&self, environment: &str, running: &RunningBundle, ctx: &Context, ruleset: &Ruleset) -> Value {
        let config = self.state.live.bundle(environment, &running.app).unwrap_or_default();
        let target = config.target(&running.app, ctx, Some(ruleset));
        let status = config.status(&running.version, target);
        json!({
            "type": "bundle", "app": running.app, "running": running.version, "status": status,
            "target": target, "reload": { "soft": config.reload.soft, "jitter_ms": config.reload.jitter_ms }
        })
    }

    /// Evaluates every `client_side` flag; sends all (`full`) or only those
    /// that differ from what was sent before.
    async fn send_values(
        &mut self,
        ruleset: &Ruleset,
        ctx: &Context,
        sent: &mut Sent,
        full: bool,
    ) -> Result<(), Close> {
        let mut flags = serde_json::Map::new();
        let mut seen = 0usize;
        for flag in ruleset.flag_keys().filter(|k| ruleset.is_client_side(k)) {
            let detail = ruleset.evaluate(flag, ctx);
            seen += 1;
            let now = SentValue {
                variation: detail.variation,
                value: detail.value.cloned().unwrap_or(Value::Null),
                reason: reason_identity(&detail.reason),
            };
            if full || sent.get(flag) != Some(&now) {
                flags.insert(
                    flag.to_owned(),
                    json!({ "value": detail.value, "variation": detail.variation, "reason": detail.reason }),
                );
                sent.insert(flag.to_owned(), now);
            }
        }
        let mut removed = Vec::new();
        sent.retain(|k, _| {
            let keep = ruleset.is_client_side(k);
            if !keep {
                removed.push(k.clone());
            }
            keep
        });
        metrics::counter!("daylight_evaluations_total", "api" => "stream").increment(seen as u64);
        if full {
            self.send_json(json!({ "type": "values", "version": ruleset.version(), "flags": flags }))
                .await
        } else if !flags.is_empty() || !removed.is_empty() {
            self.send_json(
                json!({ "type": "changed", "version": ruleset.version(), "flags": flags, "removed": removed }),
            )
            .await
        } else {
            Ok(())
        }
    }
}

/// The `snapshot` message of `env`, serialised once per version: when a
/// node restarts, thousands of SDKs ask for the same one at once.
async fn snapshot_message(state: &AppState, env: &str) -> Result<(u64, Utf8Bytes), Close> {
    let current = state.live.get(env).map(|r| r.version());
    if let Some(cached) = state.live.cached_snapshot(env, current) {
        return Ok(cached);
    }
    let doc = crate::live::snapshot(&state.db, env)
        .await
        .map_err(|_| close("shutting_down", "the database is unreachable; retry"))?;
    let version = doc.version;
    let message = Utf8Bytes::from(json!({ "type": "snapshot", "version": version, "ruleset": doc }).to_string());
    state.live.cache_snapshot(env, version, message.clone());
    Ok((version, message))
}

/// 15 s by default; `DAYLIGHT_HEARTBEAT_MS` shortens it for tests.
fn heartbeat_interval() -> Duration {
    std::env::var("DAYLIGHT_HEARTBEAT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(15), Duration::from_millis)
}

fn ticker(period: Duration) -> tokio::time::Interval {
    let mut tick = interval(period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.reset();
    tick
}
