//! What handlers share. `AppState` is built once by `app` (the composition
//! root) and handed to the routers; background jobs import it from here,
//! never from `app`.
//!
//! Handlers take the narrow state of their area instead (`State<AdminState>`
//! and so on, below), built from `AppState` by `FromRef`, so a handler can
//! reach only what its area needs: a flag handler cannot open a stream's
//! limits, the metrics endpoint cannot write. Each holds a few `Arc`s,
//! cloned once per request; the hot evaluation paths (OFREP, routing,
//! streams) stay on `AppState`, whose one clone is cheaper. The credential
//! extractors (`auth::Admin`, `auth::SdkKey`) take what they need,
//! `auth::Credentials`, from any state that provides it.

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
    /// How long console sessions last.
    pub sessions: crate::auth::session::SessionPolicy,
    /// The OpenID provider people may sign in with (`DAYLIGHT_OIDC_*`).
    pub oidc: Option<Arc<crate::auth::oidc::Oidc>>,
    /// The bearer token `/metrics` requires (`DAYLIGHT_METRICS_TOKEN`).
    pub metrics_token: Option<Arc<str>>,
    /// The largest request body read (`DAYLIGHT_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Where webhooks may deliver.
    pub webhook_destinations: Arc<crate::webhooks::Destinations>,
    /// The secrets routing's sticky ids are signed with.
    pub route_ids: Arc<crate::http::RouteIds>,
    /// Attribute names seen in evaluated contexts, per environment.
    pub learned: Arc<crate::learned::LearnedAttributes>,
}

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }

    /// Replaces the scheduler's clock (before the state is shared).
    pub fn set_clock(&mut self, clock: Arc<dyn crate::clock::Clock>) {
        Arc::make_mut(&mut self.0).clock = clock;
    }

    /// A writer for the scheduler and the handlers still on `AppState`
    /// (tokens, webhooks): the audit log records `actor` and `comment`.
    /// The others get theirs from `http::extract::Editing`.
    pub fn writer<'a>(&'a self, actor: &'a str, comment: &'a str) -> crate::writes::Writer<'a> {
        crate::writes::Writer {
            db: &self.db,
            live: &self.live,
            actor,
            comment,
            clock: self.clock.as_ref(),
            approved: false,
            caller: None,
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

/// The admin API's resources: the database and this node's live rulesets,
/// which writes go through (`writer`) and reads look at (flags, segments,
/// environments, usage).
#[derive(Clone)]
pub struct AdminState {
    pub db: Db,
    pub live: Arc<Live>,
    /// People's actions are timed by it (a manual clock in tests).
    pub clock: Arc<dyn crate::clock::Clock>,
}

impl AdminState {
    /// A writer for one request: the audit log records `actor` and `comment`.
    pub fn writer<'a>(&'a self, actor: &'a str, comment: &'a str) -> crate::writes::Writer<'a> {
        crate::writes::Writer {
            db: &self.db,
            live: &self.live,
            actor,
            comment,
            clock: self.clock.as_ref(),
            approved: false,
            caller: None,
        }
    }
}

impl FromRef<AppState> for AdminState {
    fn from_ref(state: &AppState) -> AdminState {
        AdminState {
            db: state.db.clone(),
            live: state.live.clone(),
            clock: state.clock.clone(),
        }
    }
}

/// Explaining evaluations: the database and live rulesets (a draft is
/// checked as a save would be), and the attribute names learned from
/// evaluated contexts.
#[derive(Clone)]
pub struct ExplainState {
    pub db: Db,
    pub live: Arc<Live>,
    pub learned: Arc<crate::learned::LearnedAttributes>,
}

impl FromRef<AppState> for ExplainState {
    fn from_ref(state: &AppState) -> ExplainState {
        ExplainState {
            db: state.db.clone(),
            live: state.live.clone(),
            learned: state.learned.clone(),
        }
    }
}

/// Staged rollouts and scheduled changes: their rows, and the scheduler's
/// clock, by which people's actions are timed too (a manual clock in tests).
#[derive(Clone)]
pub struct ReleaseState {
    pub db: Db,
    pub clock: Arc<dyn crate::clock::Clock>,
}

impl FromRef<AppState> for ReleaseState {
    fn from_ref(state: &AppState) -> ReleaseState {
        ReleaseState {
            db: state.db.clone(),
            clock: state.clock.clone(),
        }
    }
}

/// SDK keys of the environments: their rows, and the cache evaluation
/// reads them from (a revocation empties it and ends the key's streams).
#[derive(Clone)]
pub struct KeyState {
    pub db: Db,
    pub keys: Arc<KeyCache>,
}

impl FromRef<AppState> for KeyState {
    fn from_ref(state: &AppState) -> KeyState {
        KeyState {
            db: state.db.clone(),
            keys: state.keys.clone(),
        }
    }
}

/// Client bundles: their configs, and which versions the browsers
/// connected to this node run.
#[derive(Clone)]
pub struct BundleState {
    pub db: Db,
    pub presence: Arc<crate::bundles::Presence>,
}

impl FromRef<AppState> for BundleState {
    fn from_ref(state: &AppState) -> BundleState {
        BundleState {
            db: state.db.clone(),
            presence: state.presence.clone(),
        }
    }
}

/// What server-key SDKs read over HTTP (the ruleset, the change log) and
/// where the usage they report goes. (OFREP evaluates on `AppState`: see
/// the module comment.)
#[derive(Clone)]
pub struct SdkState {
    pub db: Db,
    pub live: Arc<Live>,
    /// SDK usage reports waiting to be written.
    pub usage: Arc<crate::store::usage::Pending>,
    /// What SDK usage reports may cost per key.
    pub usage_limits: Arc<crate::limits::UsageLimits>,
}

impl FromRef<AppState> for SdkState {
    fn from_ref(state: &AppState) -> SdkState {
        SdkState {
            db: state.db.clone(),
            live: state.live.clone(),
            usage: state.usage.clone(),
            usage_limits: state.usage_limits.clone(),
        }
    }
}

/// Where webhooks may deliver (`DAYLIGHT_WEBHOOK_ALLOWED_NETWORKS`), for
/// the webhook handlers beside `AdminState`.
#[derive(Clone)]
pub struct WebhookState {
    pub destinations: Arc<crate::webhooks::Destinations>,
}

impl FromRef<AppState> for WebhookState {
    fn from_ref(state: &AppState) -> WebhookState {
        WebhookState {
            destinations: state.webhook_destinations.clone(),
        }
    }
}

/// Health and metrics: the database (`/readyz` pings it), the Prometheus
/// handle, the token `/metrics` requires, and the bundle presence gauge.
#[derive(Clone)]
pub struct ObservabilityState {
    pub db: Db,
    pub metrics: PrometheusHandle,
    pub metrics_token: Option<Arc<str>>,
    pub presence: Arc<crate::bundles::Presence>,
}

impl FromRef<AppState> for ObservabilityState {
    fn from_ref(state: &AppState) -> ObservabilityState {
        ObservabilityState {
            db: state.db.clone(),
            metrics: state.metrics.clone(),
            metrics_token: state.metrics_token.clone(),
            presence: state.presence.clone(),
        }
    }
}

impl FromRef<AppState> for crate::auth::Credentials {
    fn from_ref(state: &AppState) -> Self {
        crate::auth::Credentials {
            db: state.db.clone(),
            keys: state.keys.clone(),
            auth_failures: state.auth_failures.clone(),
            clock: state.clock.clone(),
            sessions: state.sessions,
            oidc: state.oidc.clone(),
        }
    }
}
