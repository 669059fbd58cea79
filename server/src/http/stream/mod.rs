//! `/sdk/v1/stream`: the WebSocket stream of `docs/protocol.md`.
//!
//! Server keys get a snapshot (or the changes after their version), then
//! every patch; client keys get the evaluated values of `client_side` flags
//! for their context, then only what changed. Each connection is one task
//! that selects over the socket, the change broadcast, a heartbeat timer and
//! its own writes ([`outbox`]); an SDK that reads too slowly is dropped with
//! `slow_consumer` (it resumes from its version on reconnect) instead of
//! being buffered without bound.

mod outbox;
mod sse;

pub use sse::event_stream;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use daylight::{Context, Ruleset};
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tokio::time::{interval, sleep_until, timeout, Instant, Interval, MissedTickBehavior};

use crate::auth::{KeyKind, SdkKey};
use crate::error::ApiError;
use crate::frames::{self, ClientFrame, RunningBundle};
use crate::limits::StreamPermit;
use crate::live::Applied;
use crate::state::AppState;
use crate::store;
use outbox::Outbox;

pub use crate::frames::PROTOCOLS;
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the last frames (`error`, close) may take to go out.
const CLOSING_WAIT: Duration = Duration::from_secs(2);
/// Resume sends at most this many patches; further behind gets a snapshot.
const RESUME_LIMIT: i64 = 500;
/// Small buffers keep idle connections cheap (tungstenite's read buffer is
/// 128 KiB by default); frames from SDKs are small.
const READ_BUFFER: usize = 4 * 1024;
const WRITE_BUFFER: usize = 4 * 1024;
const MAX_WRITE_BUFFER: usize = 4 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/sdk/v1/stream", get(upgrade))
}

async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>, headers: HeaderMap) -> Response {
    // Browsers always send `Origin`; server SDKs send none.
    if let Some(origin) = headers.get(axum::http::header::ORIGIN) {
        if !state.origins.allows(origin.as_bytes()) {
            return ApiError::Forbidden("streams are not allowed from this origin".into()).into_response();
        }
    }
    let header_key = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    // A key in the header is known before the upgrade: over its limits the
    // SDK gets a plain 429 with `Retry-After`. A key in the hello is checked
    // after it, and refused with an `error` message.
    let mut admitted = None;
    if let Some(secret) = &header_key {
        if let Ok(key) = state.keys.lookup(&state, secret).await {
            match admit(&state, &key) {
                Ok(permit) => admitted = Some(permit),
                Err(refused) => return refused.into_response(),
            }
        }
    }
    let max_message = state.max_ws_message_bytes;
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| async move {
            let _connected = Connected::new("websocket");
            let (sink, incoming) = socket.split();
            let out = Outbox::new(sink, state.stream.max_queued_bytes, state.stream.write_timeout);
            let stopping = state.stopping.watch();
            let mut conn = Connection {
                out,
                incoming,
                state,
                stopping,
            };
            let reason = conn.run(header_key, admitted).await;
            if let Err(close) = reason {
                conn.close(close).await;
            }
        })
}

/// Tells open streams that the node is stopping: WebSocket streams say
/// `shutting_down` and close, event streams end, so SDKs reconnect (to
/// another node) at once instead of waiting for a dead connection.
pub struct Stopping(watch::Sender<bool>);

impl Default for Stopping {
    fn default() -> Stopping {
        Stopping(watch::channel(false).0)
    }
}

impl Stopping {
    fn watch(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }

    /// Tells every open stream, then waits until they have all ended (each
    /// holds a receiver), at most `wait`.
    pub async fn stop_streams(&self, wait: Duration) {
        self.0.send_replace(true);
        let _ = timeout(wait, self.0.closed()).await;
    }
}

/// Ends a stream when the node stops.
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    if stopping.wait_for(|stopping| *stopping).await.is_err() {
        // The sender is gone with the state: nothing will tell us.
        std::future::pending::<()>().await;
    }
}

fn shutting_down() -> Close {
    close("shutting_down", "the server is stopping")
}

/// Counts an open stream in `daylight_stream_connections` while it lives.
struct Connected(metrics::Gauge);

impl Connected {
    fn new(transport: &'static str) -> Connected {
        let gauge = metrics::gauge!("daylight_stream_connections", "transport" => transport);
        gauge.increment(1.0);
        Connected(gauge)
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Why a stream was refused a slot.
enum Refused {
    /// Over the connect rate; retry after this many seconds.
    RateLimited(u64),
    /// The key has as many streams open as this node allows.
    TooManyConnections,
}

impl Refused {
    fn code(&self) -> &'static str {
        match self {
            Refused::RateLimited(_) => "rate_limited",
            Refused::TooManyConnections => "too_many_connections",
        }
    }

    fn retry_after_secs(&self) -> u64 {
        match self {
            Refused::RateLimited(seconds) => *seconds,
            Refused::TooManyConnections => 5,
        }
    }

    fn message(&self) -> String {
        let seconds = self.retry_after_secs();
        match self {
            Refused::RateLimited(_) => format!("stream connect rate reached for this key; retry in {seconds} s"),
            Refused::TooManyConnections => {
                format!("this key has as many streams open as this node allows; retry in {seconds} s")
            }
        }
    }

    /// Before the upgrade: 429 with `Retry-After`.
    fn into_response(self) -> Response {
        ApiError::TooManyRequests {
            message: self.message(),
            retry_after_secs: self.retry_after_secs(),
        }
        .into_response()
    }

    /// After the hello: the protocol's `error` message.
    fn into_close(self) -> Close {
        close(self.code(), self.message())
    }
}

/// A stream slot for `key`, unless it is over its connect rate or has too
/// many streams open.
fn admit(state: &AppState, key: &SdkKey) -> Result<StreamPermit, Refused> {
    let refused = if let Err(wait) = state.stream_connects.check(key.id) {
        Refused::RateLimited(wait.as_secs_f64().ceil().max(1.0) as u64)
    } else if let Some(permit) = state.streams.acquire(key.id) {
        return Ok(permit);
    } else {
        Refused::TooManyConnections
    };
    metrics::counter!("daylight_stream_refused_total", "reason" => refused.code()).increment(1);
    Err(refused)
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

/// The SDK went away (or stopped talking): nothing to tell it.
fn gone() -> Close {
    close("gone", "")
}

fn slow_consumer() -> Close {
    close("slow_consumer", "too far behind; reconnect with your version")
}

/// What a failed read tells the SDK: an oversized message gets `too_large`
/// (and a close, rather than a reset), a broken frame `bad_message`; a
/// dropped connection nothing.
fn read_error(error: axum::Error) -> Close {
    match error.into_inner().downcast::<tungstenite::Error>().map(|e| *e) {
        Ok(tungstenite::Error::Capacity(e)) => close("too_large", e.to_string()),
        Ok(tungstenite::Error::Protocol(e)) => close("bad_message", e.to_string()),
        Ok(tungstenite::Error::Utf8(e)) => close("bad_message", e),
        _ => gone(),
    }
}

fn revoked() -> Close {
    close("revoked", "this key was revoked")
}

struct Connection {
    out: Outbox,
    incoming: SplitStream<WebSocket>,
    state: AppState,
    stopping: watch::Receiver<bool>,
}

/// An SDK's session after a successful hello: what its serving loop waits
/// on besides the socket.
struct Session {
    key: SdkKey,
    /// Kept for the heartbeat re-check of the key.
    secret: String,
    changes: broadcast::Receiver<Arc<Applied>>,
    revocations: broadcast::Receiver<i64>,
    heartbeat: Duration,
    tick: Interval,
    /// When the SDK last sent anything.
    last_heard: Instant,
}

/// What a serving loop acts on.
enum Event {
    /// A change was applied (to any environment), or the broadcast lagged.
    Change(Result<Arc<Applied>, RecvError>),
    /// A text message from the SDK.
    Text(Utf8Bytes),
    /// Time to send a heartbeat.
    Heartbeat,
    /// The reload pacer let a bundle notice go.
    Paced,
}

/// A paced bundle notice waiting for its turn.
type Paced = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

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
    /// Queues a message; the connection's loop writes it.
    fn send(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), Close> {
        self.out.push(Message::Text(text.into())).map_err(|_| slow_consumer())
    }

    fn send_json(&mut self, value: Value) -> Result<(), Close> {
        self.send(value.to_string())
    }

    /// Sends the `error` message and a close frame, giving them
    /// [`CLOSING_WAIT`] to go out.
    async fn close(&mut self, reason: Close) {
        if reason.code == "gone" {
            return;
        }
        metrics::counter!("daylight_stream_closed_total", "code" => reason.code).increment(1);
        if reason.code == "slow_consumer" {
            // What it could not read: it resumes from its version instead.
            self.out.clear();
        }
        let mut error = json!({ "type": "error", "code": reason.code, "message": reason.message });
        if reason.code == "unsupported_protocol" {
            error["supported"] = json!(PROTOCOLS);
        }
        let code = match reason.code {
            "unauthorized" | "revoked" | "unsupported_protocol" | "bad_message" => 1008,
            "too_large" => 1009,
            "shutting_down" => 1001,
            _ => 1013,
        };
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(""),
        }));
        if self.send_json(error).is_ok() && self.out.push(frame).is_ok() {
            let _ = timeout(CLOSING_WAIT, self.out.write()).await;
        }
    }

    async fn run(&mut self, header_key: Option<String>, admitted: Option<StreamPermit>) -> Result<(), Close> {
        let first = tokio::select! {
            first = timeout(HELLO_TIMEOUT, self.incoming.next()) => first,
            _ = stopped(&mut self.stopping) => return Err(shutting_down()),
        };
        let hello = match first {
            Ok(Some(Ok(Message::Text(text)))) => frames::parse_hello(&text).map_err(|e| close("bad_message", e))?,
            Ok(Some(Ok(_))) => return Err(close("bad_message", "expected a hello text message")),
            Ok(Some(Err(e))) => return Err(read_error(e)),
            Ok(None) => return Err(gone()),
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
        // Held until the connection ends.
        let _permit = match admitted.filter(|p| p.key() == key.id) {
            Some(permit) => permit,
            None => admit(&self.state, &key).map_err(Refused::into_close)?,
        };
        let protocol = frames::negotiate(&hello.protocols).ok_or_else(|| {
            close(
                "unsupported_protocol",
                format!("this server speaks protocols {PROTOCOLS:?}"),
            )
        })?;
        // Subscribe before reading any state, so no change falls in between.
        let changes = self.state.live.subscribe();
        let revocations = self.state.keys.revocations();
        let heartbeat = self.state.stream.heartbeat;
        self.send_json(json!({
            "type": "welcome", "protocol": protocol, "environment": key.environment,
            "kind": key.kind.as_str(), "heartbeat_ms": heartbeat.as_millis() as u64
        }))?;
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
        let mut session = Session {
            key,
            secret,
            changes,
            revocations,
            heartbeat,
            tick: ticker(heartbeat),
            last_heard: Instant::now(),
        };
        match context {
            None => self.serve_rules(&mut session, hello.version).await,
            Some(context) => self.serve_values(&mut session, context, hello.bundle).await,
        }
    }

    /// Waits for the next thing a serving loop acts on, meanwhile writing
    /// what is queued. Ends the session when the SDK stalls, goes silent
    /// for three heartbeats, closes, or its key is revoked.
    async fn next_event(&mut self, session: &mut Session, mut paced: Option<&mut Paced>) -> Result<Event, Close> {
        loop {
            let stalled_at = self.out.stalled_at();
            tokio::select! {
                written = self.out.write(), if stalled_at.is_some() => written.map_err(|_| gone())?,
                _ = sleep_until(stalled_at.unwrap_or_else(Instant::now)), if stalled_at.is_some() => {
                    return Err(slow_consumer());
                }
                _ = async { paced.as_mut().expect("guarded").await }, if paced.is_some() => return Ok(Event::Paced),
                _ = stopped(&mut self.stopping) => return Err(shutting_down()),
                change = session.changes.recv() => return Ok(Event::Change(change)),
                revocation = session.revocations.recv() => match revocation {
                    Ok(id) if id == session.key.id => return Err(revoked()),
                    Ok(_) | Err(RecvError::Closed) => {}
                    // Missed some: ask the cache.
                    Err(RecvError::Lagged(_)) => self.check_key(session).await?,
                },
                incoming = self.incoming.next() => {
                    session.last_heard = Instant::now();
                    match incoming {
                        Some(Ok(Message::Text(text))) => return Ok(Event::Text(text)),
                        Some(Err(e)) => return Err(read_error(e)),
                        Some(Ok(Message::Close(_))) | None => return Err(gone()),
                        // Binary frames are not JSON text.
                        Some(Ok(Message::Binary(_))) => return Err(close("bad_message", "expected JSON text messages")),
                        Some(Ok(_)) => {}
                    }
                }
                _ = session.tick.tick() => {
                    if session.last_heard.elapsed() > session.heartbeat * 3 {
                        return Err(gone());
                    }
                    // The safety net under revocation notices (a lost Redis
                    // message): the key cache re-reads a key at least every
                    // 30 s, in the background.
                    self.check_key(session).await?;
                    return Ok(Event::Heartbeat);
                }
            }
        }
    }

    /// Ends the session if its key is no longer valid. When the database
    /// cannot say, the key stays valid (streams go on through an outage).
    async fn check_key(&self, session: &Session) -> Result<(), Close> {
        match self
            .state
            .keys
            .lookup_without_waiting(&self.state, &session.secret)
            .await
        {
            Err(ApiError::Unauthorized) => Err(revoked()),
            _ => Ok(()),
        }
    }

    /// Server keys: resume or snapshot, then patches.
    async fn serve_rules(&mut self, session: &mut Session, from: Option<u64>) -> Result<(), Close> {
        let key = session.key.clone();
        let mut version = self.catch_up(&key, from).await?;
        self.send_json(json!({ "type": "synced", "version": version }))?;
        loop {
            match self.next_event(session, None).await? {
                Event::Change(change) => match change {
                    Ok(applied) if *applied.environment == *key.environment => {
                        if applied.reloaded {
                            version = self.catch_up(&key, Some(version)).await?;
                        } else if applied.version == version + 1 {
                            self.send(patch_message(&applied))?;
                            version = applied.version;
                        } else if applied.version > version + 1 {
                            version = self.catch_up(&key, Some(version)).await?;
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => return Err(slow_consumer()),
                    Err(RecvError::Closed) => return Err(shutting_down()),
                },
                Event::Text(text) => {
                    // Server keys send heartbeats and usage; types this
                    // server does not know are ignored, malformed frames not.
                    if let ClientFrame::Usage =
                        frames::parse_client_frame(&text).map_err(|e| close("bad_message", e))?
                    {
                        report_usage(&self.state, &key, &text).await;
                    }
                }
                Event::Heartbeat => self.send_json(json!({ "type": "heartbeat", "version": version }))?,
                Event::Paced => {}
            }
        }
    }

    /// Queues what a server-key SDK at version `from` misses: the changes
    /// after it when the log has them all and they fit in the stream's
    /// byte bound, else a snapshot. Returns the version the SDK is at
    /// afterwards.
    async fn catch_up(&mut self, key: &SdkKey, from: Option<u64>) -> Result<u64, Close> {
        let db = &self.state.db;
        let env = &key.environment;
        if let Some(from) = from {
            let mut current = self.state.live.get(env).map_or(0, |r| r.version());
            if from > current {
                // The SDK saw a newer version on another node: this one
                // missed a notification. Catch up rather than send it back
                // in time (a snapshot older than what it already served).
                if let Err(e) = crate::catch_up::catch_up(db, &self.state.live, env).await {
                    tracing::warn!(environment = %env, error = %e, "catch-up for an SDK ahead of this node failed");
                }
                current = self.state.live.get(env).map_or(0, |r| r.version());
                if from > current {
                    // No SDK goes back: it keeps what it has and retries
                    // (here or elsewhere) until a node has its version.
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
            if from < current {
                if let Ok(changes) = store::changes_after(db, env, from as i64, RESUME_LIMIT).await {
                    let complete = changes.len() < RESUME_LIMIT as usize
                        && changes.first().is_some_and(|c| c.version as u64 == from + 1);
                    let patches: Vec<(u64, String)> = changes
                        .into_iter()
                        .map(|c| {
                            let patch = json!({ "type": "patch", "version": c.version, "kind": c.kind, "key": c.key, "doc": c.doc });
                            (c.version as u64, patch.to_string())
                        })
                        .collect();
                    // Big patches (segments of many keys) cost more than the snapshot.
                    let bytes: usize = patches.iter().map(|(_, p)| p.len()).sum();
                    if complete && bytes <= self.out.max_bytes() {
                        metrics::counter!("daylight_stream_syncs_total", "mode" => "resume").increment(1);
                        let mut version = from;
                        for (v, patch) in patches {
                            self.send(patch)?;
                            version = v;
                        }
                        return Ok(version);
                    }
                }
            }
        }
        metrics::counter!("daylight_stream_syncs_total", "mode" => "snapshot").increment(1);
        let (version, message) = snapshot_message(&self.state, env).await?;
        self.send(message)?;
        Ok(version)
    }

    /// Client keys: evaluated values of `client_side` flags, then changes.
    async fn serve_values(
        &mut self,
        session: &mut Session,
        context: Value,
        bundle: Option<RunningBundle>,
    ) -> Result<(), Close> {
        let key = session.key.clone();
        let mut ctx = frames::parse_context(&context).map_err(|e| close("bad_message", e))?;
        let ruleset = self
            .state
            .live
            .get(&key.environment)
            .ok_or_else(|| close("shutting_down", "environment not loaded"))?;
        let mut sent = Sent::new();
        let mut version = ruleset.version();
        self.send_values(&ruleset, &ctx, &mut sent, true)?;
        // The bundle handshake: the first answer goes out at once; later
        // reload notices wait for the pacer.
        let _present = bundle.as_ref().and_then(|b| {
            self.state
                .presence
                .join(&self.state.live, &key.environment, &b.app, &b.version)
        });
        let mut bundle_sent = None;
        if let Some(b) = &bundle {
            let msg = self.bundle_message(&key.environment, b, &ctx, &ruleset);
            self.send_json(msg.clone())?;
            bundle_sent = Some(msg);
        }
        let mut bundle_pending: Option<Value> = None;
        let mut paced: Option<Paced> = None;
        loop {
            // A changed bundle answer: current goes out at once, reload notices are paced.
            if let (Some(b), Some(ruleset)) = (&bundle, self.state.live.get(&key.environment)) {
                let msg = self.bundle_message(&key.environment, b, &ctx, &ruleset);
                if Some(&msg) != bundle_sent.as_ref() && Some(&msg) != bundle_pending.as_ref() {
                    if msg["status"] == "current" {
                        self.send_json(msg.clone())?;
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
            match self.next_event(session, paced.as_mut()).await? {
                Event::Paced => {
                    paced = None;
                    if let Some(msg) = bundle_pending.take() {
                        metrics::counter!("daylight_reload_notices_total").increment(1);
                        self.send_json(msg.clone())?;
                        bundle_sent = Some(msg);
                    }
                }
                Event::Change(change) => {
                    let ruleset = match change {
                        Ok(applied) if *applied.environment == *key.environment && applied.version > version => {
                            applied.ruleset.clone()
                        }
                        Ok(_) => continue,
                        // Values are state, not a log: skipping ahead to the latest is safe.
                        Err(RecvError::Lagged(_)) => match self.state.live.get(&key.environment) {
                            Some(r) => r,
                            None => continue,
                        },
                        Err(RecvError::Closed) => return Err(shutting_down()),
                    };
                    version = ruleset.version();
                    self.send_values(&ruleset, &ctx, &mut sent, false)?;
                }
                Event::Text(text) => match frames::parse_client_frame(&text).map_err(|e| close("bad_message", e))? {
                    ClientFrame::Identify(context) => {
                        ctx = context;
                        let ruleset = self
                            .state
                            .live
                            .get(&key.environment)
                            .ok_or_else(|| close("shutting_down", "environment not loaded"))?;
                        version = ruleset.version();
                        sent.clear();
                        self.send_values(&ruleset, &ctx, &mut sent, true)?;
                    }
                    ClientFrame::Usage => report_usage(&self.state, &key, &text).await,
                    ClientFrame::Other => {}
                },
                Event::Heartbeat => self.send_json(json!({ "type": "heartbeat", "version": version }))?,
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
    fn send_values(&mut self, ruleset: &Ruleset, ctx: &Context, sent: &mut Sent, full: bool) -> Result<(), Close> {
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
        } else if !flags.is_empty() || !removed.is_empty() {
            self.send_json(
                json!({ "type": "changed", "version": ruleset.version(), "flags": flags, "removed": removed }),
            )
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
    let doc = crate::store::snapshot::read(&state.db, env)
        .await
        .map_err(|_| close("shutting_down", "the database is unreachable; retry"))?;
    let version = doc.version;
    let message = Utf8Bytes::from(json!({ "type": "snapshot", "version": version, "ruleset": doc }).to_string());
    state.live.cache_snapshot(env, version, message.clone());
    Ok((version, message))
}

fn ticker(period: Duration) -> tokio::time::Interval {
    let mut tick = interval(period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.reset();
    tick
}

/// Stores a `usage` message (the body of `POST /sdk/v1/usage` plus
/// `type`; `frames::parse_client_frame` said which). A bad report is logged
/// and dropped: metrics never cost an SDK its stream.
async fn report_usage(state: &AppState, key: &SdkKey, text: &str) {
    let Ok(mut value) = serde_json::from_str::<Value>(text) else {
        return;
    };
    if let Some(obj) = value.as_object_mut() {
        obj.remove("type");
    }
    let result = match serde_json::from_value::<super::usage::UsageReport>(value) {
        Ok(report) => super::usage::accept(state, key, &report).await.map(|_| ()),
        Err(e) => Err(crate::error::ApiError::bad_request("invalid", e.to_string())),
    };
    if let Err(e) = result {
        metrics::counter!("daylight_sdk_usage_rejected_total").increment(1);
        tracing::warn!(environment = %key.environment, error = %e, "dropping a usage report from the stream");
    }
}

/// The `patch` message of an applied change, serialised once for every
/// stream that sends it.
fn patch_message(applied: &Applied) -> Utf8Bytes {
    applied
        .message
        .get_or_init(|| {
            let change = applied.change.as_ref();
            let patch = json!({
                "type": "patch",
                "version": applied.version,
                "kind": change.map(|c| c.kind.as_str()),
                "key": change.map(|c| c.key.as_str()),
                "doc": change.and_then(|c| c.doc.as_ref()),
            });
            Utf8Bytes::from(patch.to_string())
        })
        .clone()
}
