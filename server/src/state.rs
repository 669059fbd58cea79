//! What handlers share. `AppState` is built once by `app` (the composition
//! root) and handed to the routers; handlers and background jobs import it
//! from here, never from `app`.

use std::sync::Arc;

use axum::extract::FromRef;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::KeyCache;
use crate::db::Db;
use crate::live::Live;

/// Everything shared, behind one `Arc`: axum clones the state a few times
/// per request, and worker threads cloning a dozen shared reference counts
/// each time would contend for their cache lines.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

#[derive(Clone)]
pub struct Shared {
    pub db: Db,
    pub live: Arc<Live>,
    pub keys: Arc<KeyCache>,
    pub metrics: PrometheusHandle,
    /// Browsers connected per app and bundle version (this node).
    pub presence: Arc<crate::bundles::Presence>,
    /// Pacing of reload notices.
    pub pacers: Arc<crate::bundles::Pacers>,
    pub limits: Arc<crate::limits::RateLimits>,
    /// The scheduler's time (a manual clock in tests).
    pub clock: Arc<dyn crate::clock::Clock>,
    /// Stream connects per key per second.
    pub stream_connects: Arc<crate::limits::RateLimits>,
    /// Open streams per key.
    pub streams: Arc<crate::limits::StreamCounts>,
    pub max_ws_message_bytes: usize,
    pub stream: crate::settings::StreamSettings,
    /// Tells open streams the node is stopping.
    pub stopping: Arc<crate::http::stream::Stopping>,
    /// Origins browsers may call from (streams and OFREP CORS).
    pub origins: Arc<crate::limits::Origins>,
    /// SDK usage reports waiting to be written.
    pub usage: Arc<crate::store::usage::Pending>,
    /// What SDK usage reports may cost per key (rate, event names).
    pub usage_limits: Arc<crate::limits::UsageLimits>,
    /// Wrong admin credentials per client address.
    pub auth_failures: Arc<crate::limits::AuthFailures>,
    /// The bearer token `/metrics` requires (`DAYLIGHT_METRICS_TOKEN`).
    pub metrics_token: Option<Arc<str>>,
    /// The largest request body read (`DAYLIGHT_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Where webhooks may deliver.
    pub webhook_destinations: Arc<crate::webhooks::Destinations>,
}

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }

    /// Replaces the scheduler's clock (before the state is shared).
    pub fn set_clock(&mut self, clock: Arc<dyn crate::clock::Clock>) {
        Arc::make_mut(&mut self.0).clock = clock;
    }

    /// A writer for one request: the audit log records `actor` and `comment`.
    pub fn writer<'a>(&'a self, actor: &'a str, comment: &'a str) -> crate::writes::Writer<'a> {
        crate::writes::Writer {
            db: &self.db,
            live: &self.live,
            actor,
            comment,
        }
    }
}

/// The request body limit, for the extractors that read bodies.
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

impl FromRef<AppState> for BodyLimit {
    fn from_ref(state: &AppState) -> BodyLimit {
        BodyLimit(state.max_body_bytes)
    }
}
