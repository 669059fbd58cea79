//! Building and running the server: `Application::build` connects the
//! database, runs migrations, loads the live rulesets and binds the listener
//! (port 0 picks a free one, which the tests use). The composition root:
//! nothing else in the crate imports it.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::auth::{bootstrap_admin, KeyCache};
use crate::db::Db;
use crate::settings::Settings;
use crate::state::{AppState, Shared};

/// Seconds: 0.5 ms to 10 s, for request latency.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide metrics recorder (installed once, shared by every
/// server in the process, e.g. in tests).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Request latency as a Prometheus histogram (buckets can be summed
            // across nodes; a summary's quantiles cannot), which also costs
            // less per request than the summary's rolling sketch.
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Suffix("_duration_seconds".into()),
                    &LATENCY_BUCKETS,
                )
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed; keep ours usable anyway.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Binds with a listen backlog of 4096 (the kernel caps it at somaxconn):
/// the default 128 overflows when thousands of SDKs reconnect at once after
/// a restart, and the dropped ones wait for a SYN retransmit (1 s, then 3 s).
fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("loading rules: {0}")]
    Load(#[from] crate::error::ApiError),
    #[error("{0}")]
    Bootstrap(#[from] crate::auth::BootstrapError),
    #[error("listening on {0}: {1}")]
    Listen(std::net::SocketAddr, std::io::Error),
    #[error("{0}")]
    Setting(String),
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    max_body_bytes: usize,
    /// Worker threads with a thread per core; `None`: tokio's scheduler.
    http_threads: Option<usize>,
    scheduler_tick: std::time::Duration,
    fanout: crate::fanout::FanoutSettings,
    webhooks: crate::webhooks::WebhookSettings,
    usage_retention_days: u64,
    usage_flush: std::time::Duration,
    change_log_keep: u64,
    audit_retention_days: u64,
    /// The first-start setup link's code, when no one can sign in yet.
    pub setup_code: Option<String>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, StartError> {
        let route_ids = Arc::new(crate::http::RouteIds::new(&settings.route_secret).map_err(StartError::Setting)?);
        let oidc = crate::auth::oidc::Oidc::from_settings(&settings)
            .map_err(StartError::Setting)?
            .map(Arc::new);
        let db = Db::connect(&settings.database_url).await?;
        let setup_code = bootstrap_admin(&db, settings.admin_token.as_deref()).await?;
        let live = Arc::new(crate::catch_up::load(&db).await?);
        let listener = listen(settings.listen).map_err(|e| StartError::Listen(settings.listen, e))?;
        let webhook_destinations = Arc::new(crate::webhooks::Destinations::new(
            settings.webhook_allowed_networks.clone(),
        ));
        Ok(Application {
            listener,
            state: AppState::new(Shared {
                db,
                live,
                keys: Arc::new(KeyCache::default()),
                metrics: metrics_handle(),
                presence: Arc::default(),
                pacers: Arc::default(),
                limits: Arc::new(crate::limits::RateLimits::new(settings.rate_limit)),
                clock: Arc::new(crate::clock::SystemClock),
                stream_connects: Arc::new(crate::limits::RateLimits::new(settings.stream_connect_rate)),
                streams: Arc::new(crate::limits::StreamCounts::new(settings.max_streams_per_key)),
                max_ws_message_bytes: settings.max_ws_message_bytes,
                stream: settings.stream(),
                stopping: Arc::default(),
                origins: Arc::new(crate::limits::Origins::new(&settings.allowed_origins)),
                usage: Arc::default(),
                usage_limits: Arc::new(crate::limits::UsageLimits::new(
                    settings.usage_rate_limit,
                    settings.usage_max_events_per_key,
                    settings.usage_max_events_per_flag,
                )),
                auth_failures: Arc::new(crate::limits::AuthFailures::new(settings.auth_failures_per_minute)),
                sessions: settings.sessions(),
                oidc,
                metrics_token: settings
                    .metrics_token
                    .as_deref()
                    .filter(|t| !t.is_empty())
                    .map(Arc::from),
                max_body_bytes: settings.max_body_bytes,
                webhook_destinations: webhook_destinations.clone(),
                route_ids,
                learned: Arc::default(),
            }),
            max_body_bytes: settings.max_body_bytes,
            http_threads: settings.thread_per_core.then(|| {
                settings
                    .worker_threads
                    .map(usize::from)
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            }),
            scheduler_tick: std::time::Duration::from_millis(settings.scheduler_tick_ms.max(10)),
            fanout: crate::fanout::FanoutSettings {
                redis_url: settings.redis_url.clone(),
                channel: settings.redis_channel.clone(),
                poll: std::time::Duration::from_millis(settings.poll_ms.max(10)),
            },
            webhooks: crate::webhooks::WebhookSettings {
                poll: std::time::Duration::from_millis(settings.webhook_poll_ms.max(10)),
                max_attempts: settings.webhook_max_attempts.max(1),
                retry_base: std::time::Duration::from_millis(settings.webhook_retry_ms),
                timeout: std::time::Duration::from_millis(settings.webhook_timeout_ms.max(100)),
                destinations: webhook_destinations,
            },
            usage_retention_days: settings.usage_retention_days,
            usage_flush: std::time::Duration::from_millis(settings.usage_flush_ms.max(10)),
            change_log_keep: settings.change_log_keep,
            audit_retention_days: settings.audit_retention_days,
            setup_code,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Replaces the scheduler's clock (tests move a manual one by hand).
    pub fn with_clock(mut self, clock: Arc<dyn crate::clock::Clock>) -> Self {
        self.state.set_clock(clock);
        self
    }

    /// Serves until `shutdown` resolves.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        crate::fanout::spawn(self.state.clone(), self.fanout);
        let dispatcher = crate::webhooks::spawn(self.state.db.clone(), self.webhooks);
        let retention = crate::store::usage::spawn_retention(self.state.db.clone(), self.usage_retention_days);
        let history =
            crate::store::retention::spawn(self.state.db.clone(), self.change_log_keep, self.audit_retention_days);
        let flusher =
            crate::store::usage::spawn_flusher(self.state.db.clone(), self.state.usage.clone(), self.usage_flush);
        let receipts = spawn_receipt_flusher(self.state.db.clone(), self.state.live.clone());
        let presence = spawn_presence_writer(self.state.db.clone(), self.state.presence.clone());
        let (db, pending) = (self.state.db.clone(), self.state.usage.clone());
        let self_presence = self.state.presence.clone();
        // The recorder keeps every histogram sample until upkeep folds it
        // into the summary; `build_recorder` spawns no upkeep task, so
        // without this (and without scrapes) memory grows with every request.
        let handle = self.state.metrics.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        });
        let scheduler = tokio::spawn(crate::releases::scheduler::run(
            self.state.clone(),
            self.state.clock.clone(),
            self.scheduler_tick,
        ));
        // On the stop signal, streams say `shutting_down` (their SDKs move to
        // another node) before the connections drain.
        let stopping = self.state.stopping.clone();
        let shutdown = async move {
            shutdown.await;
            stopping.stop_streams(STREAMS_STOPPING).await;
        };
        let evaluations = crate::http::evaluations(&self.state);
        let router = crate::http::router(self.state, self.max_body_bytes);
        let served = match self.http_threads {
            Some(threads) => crate::http::workers::serve(self.listener, router, evaluations, threads, shutdown)
                .await
                .map(Some),
            None => axum::serve(
                self.listener,
                axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<std::net::SocketAddr>(
                    router,
                ),
            )
            .with_graceful_shutdown(shutdown)
            .await
            .map(|()| None),
        };
        scheduler.abort();
        // A stopped node sends no more webhooks.
        dispatcher.abort();
        if let Some(retention) = retention {
            retention.abort();
        }
        if let Some(history) = history {
            history.abort();
        }
        flusher.abort();
        receipts.abort();
        presence.abort();
        // Other nodes stop counting this one's browsers at once.
        if let Err(e) = crate::store::presence::forget(&db, self_presence.node()).await {
            tracing::warn!(error = %e, "cannot remove this node's connected-browser counts");
        }
        // Reports received before the stop are written, not lost.
        if let Err(e) = pending.flush(&db).await {
            tracing::warn!(error = %e, "cannot write the last SDK usage reports");
        }
        // Closing the pool checkpoints SQLite's WAL into the database file
        // and removes it. The workers' runtimes may own pooled database
        // connections: they stop only after this.
        db.close().await;
        served.map(drop)
    }

    /// Serves until Ctrl-C (SIGINT) or SIGTERM, which systemd, Docker and
    /// Kubernetes send to stop a process.
    pub async fn run(self) -> std::io::Result<()> {
        self.run_until(stop_signal()).await
    }
}

/// How long a stop waits for streams to say `shutting_down`.
const STREAMS_STOPPING: std::time::Duration = std::time::Duration::from_secs(3);

/// SIGINT or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for SIGTERM; stopping on Ctrl-C only"),
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Stores this node's connected-browser counts when they change and
/// refreshes them every second, so every node's status API adds them up;
/// drops the counts of nodes that stopped once a minute (`store::presence`).
fn spawn_presence_writer(db: Db, presence: Arc<crate::bundles::Presence>) -> tokio::task::JoinHandle<()> {
    use crate::store::presence;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let node = presence.node().to_owned();
        // Whether this node has rows to keep fresh.
        let mut stored = false;
        let mut ticks: u64 = 0;
        loop {
            tick.tick().await;
            let now = crate::db::now_ms();
            let written = match presence.take_changed() {
                Some(counts) => match presence::replace(&db, &node, &counts, now).await {
                    Ok(()) => {
                        stored = !counts.is_empty();
                        Ok(())
                    }
                    Err(e) => {
                        presence.retry();
                        Err(e)
                    }
                },
                None if stored => presence::refresh(&db, &node, now).await,
                None => Ok(()),
            };
            if let Err(e) = written {
                tracing::warn!(error = %e, "cannot store connected-browser counts; retrying");
            }
            if ticks.is_multiple_of(60) {
                if let Err(e) = presence::forget_stale(&db, now).await {
                    tracing::warn!(error = %e, "cannot drop stale connected-browser counts");
                }
            }
            ticks += 1;
        }
    })
}

/// Writes this node's changed receipt figures once a second, under a name
/// of its own, and drops week-old receipts once an hour (`receipts`).
fn spawn_receipt_flusher(db: Db, live: Arc<crate::live::Live>) -> tokio::task::JoinHandle<()> {
    let node = format!("{:016x}", rand::random::<u64>());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u64 = 0;
        loop {
            tick.tick().await;
            let dirty = live.receipts.take_dirty();
            if !dirty.is_empty() {
                if let Err(e) = crate::store::receipts::write(&db, &node, &dirty).await {
                    tracing::warn!(error = %e, "cannot write change receipts; keeping them for the next try");
                    live.receipts.retry(&dirty);
                }
            }
            if ticks.is_multiple_of(3600) {
                if let Err(e) = crate::store::receipts::forget_old(&db).await {
                    tracing::warn!(error = %e, "cannot drop old change receipts");
                }
            }
            ticks += 1;
        }
    })
}
