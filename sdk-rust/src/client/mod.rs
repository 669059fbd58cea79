//! The streaming SDK client: keeps a live copy of one environment's ruleset
//! over the WebSocket protocol of `docs/protocol.md` and evaluates it
//! locally. Usage, options and behaviour on outage: `docs/sdk-rust.md`.
//!
//! ```no_run
//! # async fn run() -> Result<(), daylight::client::BuildError> {
//! use daylight::client::Client;
//! use daylight::Context;
//! let client = Client::builder("wss://flags.example.com", "dl_server_…").build().await?;
//! let ctx = Context::new("u-42").with("game", "omaha");
//! if client.bool_variation("new-lobby", &ctx, false) {
//!     // …
//! }
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! - `builder`: [`ClientBuilder`], the options, and starting the client.
//! - `store`: the shared `Store` (an `ArcSwapOption<Ruleset>`
//!   plus the change and status channels) and the network task's writing
//!   side, which applies snapshots and patches and detects version gaps.
//! - `stream`: the network task: connect, handshake, heartbeats, reconnects.
//! - `protocol`: the protocol's messages as serde types.
//! - `backoff`: reconnect delays (exponential, with jitter).
//! - `detail`: owned evaluation results ([`EvaluationDetail`]).
//! - `openfeature` (feature `openfeature`): the OpenFeature provider.
//!
//! Evaluation itself is the crate's one evaluator ([`Ruleset`]'s typed
//! getters); this module only decides which ruleset it runs on.

mod backoff;
mod builder;
mod detail;
#[cfg(feature = "openfeature")]
pub mod openfeature;
mod store;
mod stream;
mod usage;

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::warn;

pub use builder::{BuildError, ClientBuilder};
pub use detail::{EvaluationDetail, OwnedReason};
pub use store::{ChangeEvent, ConnectionState};
#[doc(hidden)]
pub use stream::replay_server_frames;

use crate::{Context, Ruleset, RulesetDocument, TypedDetail};
use store::Store;

/// A Daylight client. Cheap to clone (clones share one connection); the
/// connection closes when the last clone is dropped or on [`close`](Self::close).
///
/// Evaluations read the current ruleset through an atomic pointer: they
/// never wait for the network, and while the server is unreachable they
/// serve the last known flags.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    /// Usage counts for the server (`None` offline or when disabled).
    usage: Option<Arc<usage::Usage>>,
    shutdown: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("version", &self.version())
            .field("state", &self.connection_state())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client streaming from `stream_url` (`wss://host` or the full
    /// `wss://host/sdk/v1/stream`) with a server key.
    pub fn builder(stream_url: impl Into<String>, server_key: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(Some(stream_url.into()), server_key.into())
    }

    /// A client with no server, evaluating bootstrap data only (give it
    /// [`ClientBuilder::bootstrap_file`] or [`ClientBuilder::bootstrap`]).
    pub fn offline() -> ClientBuilder {
        ClientBuilder::new(None, String::new())
    }

    pub fn bool_variation(&self, key: &str, ctx: &Context, default: bool) -> bool {
        match &*self.inner.store.load() {
            Some(rules) => self.counted(key, rules.bool_variation_detail(key, ctx, default)).value,
            None => default,
        }
    }

    pub fn bool_variation_detail(&self, key: &str, ctx: &Context, default: bool) -> EvaluationDetail<bool> {
        match &*self.inner.store.load() {
            Some(rules) => {
                EvaluationDetail::from_typed(self.counted(key, rules.bool_variation_detail(key, ctx, default)), |v| v)
            }
            None => EvaluationDetail::not_ready(default),
        }
    }

    pub fn string_variation(&self, key: &str, ctx: &Context, default: &str) -> String {
        match &*self.inner.store.load() {
            Some(rules) => self
                .counted(key, rules.string_variation_detail(key, ctx, default))
                .value
                .to_owned(),
            None => default.to_owned(),
        }
    }

    pub fn string_variation_detail(&self, key: &str, ctx: &Context, default: &str) -> EvaluationDetail<String> {
        match &*self.inner.store.load() {
            Some(rules) => EvaluationDetail::from_typed(
                self.counted(key, rules.string_variation_detail(key, ctx, default)),
                str::to_owned,
            ),
            None => EvaluationDetail::not_ready(default.to_owned()),
        }
    }

    pub fn number_variation(&self, key: &str, ctx: &Context, default: f64) -> f64 {
        match &*self.inner.store.load() {
            Some(rules) => {
                self.counted(key, rules.number_variation_detail(key, ctx, default))
                    .value
            }
            None => default,
        }
    }

    pub fn number_variation_detail(&self, key: &str, ctx: &Context, default: f64) -> EvaluationDetail<f64> {
        match &*self.inner.store.load() {
            Some(rules) => EvaluationDetail::from_typed(
                self.counted(key, rules.number_variation_detail(key, ctx, default)),
                |v| v,
            ),
            None => EvaluationDetail::not_ready(default),
        }
    }

    /// Any variation type (the value is cloned).
    pub fn json_variation(&self, key: &str, ctx: &Context, default: Value) -> Value {
        match &*self.inner.store.load() {
            Some(rules) => self.counted(key, rules.json_variation_detail(key, ctx, default)).value,
            None => default,
        }
    }

    pub fn json_variation_detail(&self, key: &str, ctx: &Context, default: Value) -> EvaluationDetail<Value> {
        match &*self.inner.store.load() {
            Some(rules) => {
                EvaluationDetail::from_typed(self.counted(key, rules.json_variation_detail(key, ctx, default)), |v| v)
            }
            None => EvaluationDetail::not_ready(default),
        }
    }

    /// Counts an evaluation for the usage report.
    fn counted<'a, T>(&self, key: &str, detail: TypedDetail<'a, T>) -> TypedDetail<'a, T> {
        if let Some(usage) = &self.inner.usage {
            usage.count(key, detail.variation);
        }
        detail
    }

    /// Reports app event `event` (e.g. `"checkout_error"`) for `ctx`,
    /// attributed to the variation `ctx` is served now of every flag this
    /// client has evaluated so far (see [`track_flags`](Self::track_flags)
    /// to name the flags). Counted in memory and sent with the next usage
    /// report; release guards compare these counts per variation. An
    /// invalid name (1 to 100 of `A-Z a-z 0-9 _ - . :`) is ignored with a
    /// warning.
    pub fn track(&self, event: &str, ctx: &Context) {
        let Some(usage) = &self.inner.usage else {
            return;
        };
        let flags = usage.evaluated_flags();
        self.track_flags(event, ctx, flags.iter().map(|f| &**f));
    }

    /// Like [`track`](Self::track), attributed to the given flags only.
    pub fn track_flags<'a>(&self, event: &str, ctx: &Context, flags: impl IntoIterator<Item = &'a str>) {
        let (Some(usage), Some(rules)) = (&self.inner.usage, self.ruleset()) else {
            return;
        };
        let valid = !event.is_empty()
            && event.len() <= 100
            && event
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
        if !valid {
            warn!(
                event,
                "ignoring an event with an invalid name (1 to 100 of A-Z a-z 0-9 _ - . :)"
            );
            return;
        }
        usage.track(
            event,
            flags
                .into_iter()
                .filter_map(|flag| rules.evaluate(flag, ctx).variation.map(|v| (flag, v))),
        );
    }

    /// The current ruleset (`None` before any data), for callers that want
    /// the evaluator's borrowed, allocation-free results. It stays valid, and
    /// unchanged, for as long as it is held.
    pub fn ruleset(&self) -> Option<Arc<Ruleset>> {
        self.inner.store.load_full()
    }

    /// The document of the current data, when the client was built with
    /// [`ClientBuilder::keep_document`] (`None` otherwise, or before any
    /// data). It is replaced before change listeners hear of a change.
    pub fn document(&self) -> Option<Arc<RulesetDocument>> {
        self.inner.store.document()
    }

    /// The version of the current data (`None` before any data).
    pub fn version(&self) -> Option<u64> {
        self.inner.store.load().as_ref().map(|rules| rules.version())
    }

    /// Whether the client has flag data, from bootstrap or a server. Until
    /// then evaluations return the caller's default with `PROVIDER_NOT_READY`.
    pub fn is_ready(&self) -> bool {
        self.inner.store.status().ready
    }

    pub fn connection_state(&self) -> ConnectionState {
        self.inner.store.status().state
    }

    /// Waits until the client has flag data, at most `timeout`; returns
    /// early (not ready) when the server refuses the key or the client
    /// stops. Returns [`is_ready`](Self::is_ready).
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut status = self.inner.store.watch_status();
        let settled = |s: &store::Status| {
            s.ready
                || matches!(
                    s.state,
                    ConnectionState::Unauthorized | ConnectionState::Stopped | ConnectionState::Closed
                )
        };
        let _ = tokio::time::timeout(timeout, status.wait_for(settled)).await;
        self.is_ready()
    }

    /// A receiver of [`ChangeEvent`]s: one per change of the data that
    /// affects at least one flag. A receiver that falls behind by more than
    /// 256 events gets `RecvError::Lagged` (see tokio's `broadcast`).
    pub fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.inner.store.subscribe()
    }

    /// Calls `listener` on a tokio task for each [`ChangeEvent`], in order,
    /// until the handle is cancelled or the client is gone. A listener that
    /// falls behind gets one event listing every flag. Must be called inside
    /// a tokio runtime (it spawns a task).
    pub fn on_change<F>(&self, mut listener: F) -> ListenerHandle
    where
        F: FnMut(&ChangeEvent) + Send + 'static,
    {
        let mut events = self.subscribe();
        let store: Weak<Store> = Arc::downgrade(&self.inner.store);
        let task = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => listener(&event),
                    Err(RecvError::Lagged(missed)) => {
                        let Some(rules) = store.upgrade().and_then(|store| store.load_full()) else {
                            break;
                        };
                        warn!(missed, "a change listener fell behind: reporting every flag as changed");
                        let mut flags: Vec<String> = rules.flag_keys().map(str::to_owned).collect();
                        flags.sort_unstable();
                        listener(&ChangeEvent {
                            version: rules.version(),
                            flags,
                        });
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        });
        ListenerHandle { task }
    }

    /// Closes the connection and waits for the network task to end. The
    /// client keeps serving its last known flags afterwards.
    pub async fn close(&self) {
        self.inner.shutdown.send_replace(true);
        let task = self.inner.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
        self.inner.store.set_state(ConnectionState::Closed);
    }
}

/// A listener registered with [`Client::on_change`]. Dropping the handle
/// leaves the listener running; [`cancel`](Self::cancel) stops it.
#[derive(Debug)]
pub struct ListenerHandle {
    task: JoinHandle<()>,
}

impl ListenerHandle {
    pub fn cancel(self) {
        self.task.abort();
    }
}
