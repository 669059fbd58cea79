//! `/sdk/v1/stream`: the WebSocket stream of `docs/protocol.md`.
//!
//! Server keys get a snapshot (or the changes after their version), then
//! every patch ([`rules`]); client keys get the evaluated values of
//! `client_side` flags for their context, then only what changed
//! ([`values`]). Each connection is one task ([`session`]) that selects
//! over the socket, the change broadcast, a heartbeat timer and its own
//! writes ([`outbox`]); an SDK that reads too slowly is dropped with
//! `slow_consumer` (it resumes from its version on reconnect) instead of
//! being buffered without bound. Every message goes out as a
//! [`daylight::protocol::ServerMessage`].
//!
//! This file: the route, the upgrade ([`upgrade`]) and the admission of a
//! key (connect rate, open streams), and what the event stream ([`sse`])
//! shares.

mod outbox;
mod rules;
mod session;
mod shared;
mod sse;
mod upgrade;
mod values;

pub use sse::event_stream;

use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::{interval, timeout, MissedTickBehavior};
use tungstenite::protocol::WebSocketConfig;

use crate::auth::SdkKey;
use crate::error::ApiError;
use crate::limits::StreamPermit;
use crate::state::AppState;
use outbox::Outbox;
use session::{close, Close, Connection};

pub use crate::frames::PROTOCOLS;
/// Small buffers keep idle connections cheap (tungstenite's read buffer is
/// 128 KiB by default, allocated up front); frames from SDKs are small (a
/// larger one grows the buffer as it arrives). Frames are written once a
/// frame's worth is buffered, and no frame is larger ([`outbox::FRAME`]),
/// so the out buffer stays about two frames large.
const READ_BUFFER: usize = 1024;
const WRITE_BUFFER: usize = outbox::FRAME;
const MAX_WRITE_BUFFER: usize = 4 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/sdk/v1/stream", get(upgrade))
}

async fn upgrade(ws: upgrade::Upgrade, State(state): State<AppState>, headers: HeaderMap) -> Response {
    // Browsers always send `Origin`; server SDKs send none.
    if let Some(origin) = headers.get(axum::http::header::ORIGIN) {
        if !state.origins.allows(origin.as_bytes()) {
            return ApiError::Forbidden("streams are not allowed from this origin".into()).into_response();
        }
    }
    let header_key = crate::auth::bearer(&headers).map(str::to_owned);
    // A key in the header is known before the upgrade: over its limits the
    // SDK gets a plain 429 with `Retry-After`. A key in the hello is checked
    // after it, and refused with an `error` message.
    let mut admitted = None;
    if let Some(secret) = &header_key {
        if let Ok(key) = state.keys.lookup(&state.db, secret).await {
            match admit(&state, &key) {
                Ok(permit) => admitted = Some(permit),
                Err(refused) => return refused.into_response(),
            }
        }
    }
    let max_message = state.max_ws_message_bytes;
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    ws.on_upgrade(config, move |socket| async move {
        let _connected = Connected::new("websocket");
        let (sink, incoming) = socket.split();
        let out = Outbox::new(sink, state.stream.max_queued_bytes, state.stream.write_timeout);
        let stopping = state.stopping.watch();
        let mut conn = Connection::new(out, incoming, state, stopping);
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
