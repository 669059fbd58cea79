//! One harness for every API test: `spawn_app(backend)` starts a real
//! server on an ephemeral port with its own database (a temp SQLite file, or
//! a fresh PostgreSQL database) and returns typed request helpers.

mod calls;
mod clock;
mod processes;
mod stream;

use std::sync::{Arc, Once};

use daylight_server::clock::Clock;
pub use daylight_server::releases::scheduler::Tick;
use daylight_server::{Application, Settings};
use reqwest::StatusCode;
use serde_json::Value;

#[path = "../../../../tests/support/skip.rs"]
mod skip;
pub use skip::skip;

pub use clock::{clocked, rfc3339, CLOCK_START, HOUR};
pub use processes::{free_port, ServerProcess, ThrowawayRedis};
pub use stream::Stream;

pub const ADMIN: &str = "dl_admin_test_bootstrap_token_0123";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub url: String,
    /// The server's database, for tests that inspect or age rows.
    #[allow(dead_code)]
    pub database_url: String,
    #[allow(dead_code)] // for tests that differ per backend
    pub backend: Backend,
    /// The PostgreSQL database this test created (dropped with the app).
    pg_database: Option<(String, String)>,
    http: reqwest::Client,
    /// The in-process server's state (`None` for a server in another process).
    state: Option<daylight_server::state::AppState>,
    _dir: Option<tempfile::TempDir>,
    _shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// A response: status, headers, JSON body (Null when empty).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn etag(&self) -> String {
        self.headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// Asserts the status, printing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.body);
        self
    }

    /// Asserts a 4xx JSON error naming `field`.
    #[track_caller]
    pub fn expect_field_error(self, status: u16, field: &str) -> Reply {
        let r = self.expect(status);
        assert_eq!(r.body["field"], Value::from(field), "wrong field in {}", r.body);
        assert!(
            r.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "no message in {}",
            r.body
        );
        r
    }
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt().with_env_filter("info").init();
        }
    });
}

/// The backends this run covers: SQLite always; PostgreSQL when
/// `DAYLIGHT_TEST_POSTGRES_URL` is set, else the PostgreSQL half is a
/// [`skip`] (a failure when `DAYLIGHT_REQUIRE_SERVICES=1`, as in CI).
pub fn backends() -> Vec<Backend> {
    let mut list = vec![Backend::Sqlite];
    if std::env::var("DAYLIGHT_TEST_POSTGRES_URL").is_ok() {
        list.push(Backend::Postgres);
    } else {
        skip("its PostgreSQL half (DAYLIGHT_TEST_POSTGRES_URL is not set)");
    }
    list
}

/// Creates an empty database; returns (its URL, the admin URL, its name).
async fn fresh_postgres_database() -> (String, String, String) {
    let base = std::env::var("DAYLIGHT_TEST_POSTGRES_URL").expect("checked by backends()");
    sqlx::any::install_default_drivers();
    let name = format!("daylight_test_{:016x}", rand::random::<u64>());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {base}: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    let (prefix, _) = base.rsplit_once('/').expect("a database URL ends with /DB");
    (format!("{prefix}/{name}"), base, name)
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_full(backend, |_| {}, None).await
}

/// [`spawn_app`] whose scheduler reads `clock` and runs only when the test
/// calls [`TestApp::tick`] (its timer fires once at start, then not for a
/// day): the test moves the clock, ticks, and sees exactly what that tick did.
pub async fn spawn_app_clocked(backend: Backend, clock: Option<Arc<dyn Clock>>) -> TestApp {
    spawn_app_full(backend, |s| s.scheduler_tick_ms = 24 * 3_600_000, clock).await
}

/// [`spawn_app_clocked`] with settings changed by `configure`.
pub async fn spawn_app_clocked_with(
    backend: Backend,
    configure: impl FnOnce(&mut Settings),
    clock: Arc<dyn Clock>,
) -> TestApp {
    spawn_app_full(
        backend,
        |s| {
            s.scheduler_tick_ms = 24 * 3_600_000;
            configure(s);
        },
        Some(clock),
    )
    .await
}

/// `spawn_app` with settings changed by `configure` (limits, origins…).
pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_full(backend, configure, None).await
}

async fn spawn_app_full(
    backend: Backend,
    configure: impl FnOnce(&mut Settings),
    clock: Option<Arc<dyn Clock>>,
) -> TestApp {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (database_url, pg_database) = match backend {
        Backend::Sqlite => (format!("sqlite://{}/daylight.db", dir.path().display()), None),
        Backend::Postgres => {
            let (url, admin_url, name) = fresh_postgres_database().await;
            (url, Some((admin_url, name)))
        }
    };
    let mut settings = Settings::for_tests(database_url, ADMIN);
    configure(&mut settings);
    let mut app = start_clocked(settings, backend, clock).await;
    app.pg_database = pg_database;
    app._dir = Some(dir);
    app
}

/// Several nodes on one fresh PostgreSQL database, each configured by
/// `configure` (Redis URL, channel, poll interval…). The first node owns the
/// database (dropped with it).
pub async fn spawn_nodes(n: usize, configure: impl Fn(&mut Settings)) -> Vec<TestApp> {
    spawn_nodes_clocked(n, configure, None).await
}

/// [`spawn_nodes`] with one scheduler clock shared by every node.
pub async fn spawn_nodes_clocked(
    n: usize,
    configure: impl Fn(&mut Settings),
    clock: Option<Arc<dyn Clock>>,
) -> Vec<TestApp> {
    let (url, admin_url, name) = fresh_postgres_database().await;
    let mut nodes = Vec::new();
    for i in 0..n {
        let mut settings = Settings::for_tests(url.clone(), ADMIN);
        configure(&mut settings);
        let mut node = start_clocked(settings, Backend::Postgres, clock.clone()).await;
        if i == 0 {
            node.pg_database = Some((admin_url.clone(), name.clone()));
        }
        nodes.push(node);
    }
    nodes
}

/// Whether the PostgreSQL + Redis suites can run; when not, the test is a
/// [`skip`] (a failure when `DAYLIGHT_REQUIRE_SERVICES=1`).
pub fn services_available() -> bool {
    let missing: Vec<&str> = ["DAYLIGHT_TEST_POSTGRES_URL", "DAYLIGHT_TEST_REDIS_URL"]
        .into_iter()
        .filter(|var| std::env::var(var).is_err())
        .collect();
    if !missing.is_empty() {
        skip(&format!(
            "it needs PostgreSQL and Redis ({} not set)",
            missing.join(" and ")
        ));
    }
    missing.is_empty()
}

pub async fn start(settings: Settings, backend: Backend) -> TestApp {
    start_clocked(settings, backend, None).await
}

pub async fn start_clocked(settings: Settings, backend: Backend, clock: Option<Arc<dyn Clock>>) -> TestApp {
    init_logs();
    let database_url = settings.database_url.clone();
    let mut app = Application::build(settings).await.expect("the server starts");
    if let Some(clock) = clock {
        app = app.with_clock(clock);
    }
    let url = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp {
        url,
        database_url,
        backend,
        pg_database: None,
        // No idle pooling: a server that closed a connection after an early
        // answer (a 413, say) must not fail the next request.
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("a client"),
        state: Some(state),
        _dir: None,
        _shutdown: Some(tx),
    }
}

impl TestApp {
    /// Helpers for a server this test runs in another process.
    pub fn remote(url: String) -> TestApp {
        TestApp {
            url,
            database_url: String::new(),
            backend: Backend::Sqlite,
            pg_database: None,
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("a client"),
            state: None,
            _dir: None,
            _shutdown: None,
        }
    }

    /// Runs one scheduler tick on this node now, on its clock, and returns
    /// what it did: tests drive the scheduler with this instead of waiting
    /// for its timer.
    #[allow(dead_code)]
    pub async fn tick(&self) -> Tick {
        let state = self.state.as_ref().expect("an in-process server");
        daylight_server::releases::scheduler::tick(state, state.clock.as_ref())
            .await
            .expect("the scheduler tick")
    }

    /// Stops this node: its port stops accepting connections.
    #[allow(dead_code)]
    pub fn stop(&mut self) {
        self._shutdown.take();
    }
}

impl Drop for TestApp {
    /// Drops the test's PostgreSQL database so runs do not pile them up.
    fn drop(&mut self) {
        self._shutdown.take();
        let Some((admin_url, name)) = self.pg_database.take() else {
            return;
        };
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url)
                    .await
                    .ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}
