//! One harness for every API test: `spawn_app(backend)` starts a real
//! server on an ephemeral port with its own database (a temp SQLite file, or
//! a fresh PostgreSQL database) and returns typed request helpers.

use std::sync::{Arc, Once};

use daylight_server::clock::Clock;
pub use daylight_server::releases::scheduler::Tick;
use daylight_server::{Application, Settings};
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[path = "../../../tests/support/skip.rs"]
mod skip;
pub use skip::skip;

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

impl TestApp {
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("the server answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply { status, headers, body }
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let resp = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("the server answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    /// Sends only the head of a POST declaring a `content_length` body and
    /// returns the raw answer: for limits answered from the declared length,
    /// before any of the body is sent (a client still sending would see the
    /// connection closed under it).
    #[allow(dead_code)]
    pub async fn post_head_only(&self, path: &str, token: &str, content_length: usize) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.url.trim_start_matches("http://");
        let mut conn = tokio::net::TcpStream::connect(addr).await.expect("the server accepts");
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n\
             content-type: application/json\r\ncontent-length: {content_length}\r\n\r\n"
        );
        conn.write_all(head.as_bytes()).await.expect("the head is sent");
        // Reads until the answer's own Content-Length is in, or the
        // connection closes.
        let mut answer = Vec::new();
        let mut chunk = [0u8; 4096];
        let read = async {
            loop {
                let n = conn.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                answer.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&answer);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok());
                    if length.is_some_and(|length| body.len() >= length) {
                        break;
                    }
                }
            }
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), read).await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, Some(ADMIN), None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(ADMIN), Some(body), &[]).await
    }

    /// A call with `token` instead of the admin's.
    pub async fn call_as(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.request(method, path, Some(token), body, &[]).await
    }

    /// A new editor token named `name` (another person, for four eyes).
    pub async fn editor_token(&self, name: &str) -> String {
        self.post("/api/v1/tokens", serde_json::json!({ "name": name, "role": "editor" }))
            .await
            .expect(201)
            .body["secret"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Changes in `env` need `n` approvals from now on.
    pub async fn require_approvals(&self, env: &str, n: i64) {
        self.request(
            Method::PUT,
            &format!("/api/v1/environments/{env}/approvals"),
            Some(ADMIN),
            Some(serde_json::json!({ "required": n })),
            &[],
        )
        .await
        .expect(200);
    }

    pub async fn put_if_match(&self, path: &str, etag: &str, body: Value) -> Reply {
        self.request(Method::PUT, path, Some(ADMIN), Some(body), &[("if-match", etag)])
            .await
    }

    /// Creates a flag with the admin token and returns its body.
    pub async fn create_flag(&self, body: Value) -> Value {
        self.post("/api/v1/flags", body).await.expect(201).body
    }

    /// Read-modify-write of a flag's config in `env`.
    pub async fn edit_config(&self, key: &str, env: &str, edit: impl FnOnce(&mut Value)) -> Reply {
        let path = format!("/api/v1/flags/{key}/environments/{env}");
        let current = self.get(&path).await.expect(200);
        let mut config = current.body.clone();
        edit(&mut config);
        self.put_if_match(&path, &current.etag(), config).await
    }

    pub async fn toggle(&self, key: &str, env: &str, on: bool) -> Reply {
        self.post(
            &format!("/api/v1/flags/{key}/environments/{env}/toggle"),
            serde_json::json!({ "on": on }),
        )
        .await
    }

    /// Creates an SDK key and returns its secret.
    pub async fn sdk_key(&self, env: &str, kind: &str) -> String {
        let r = self
            .post(
                &format!("/api/v1/environments/{env}/keys"),
                serde_json::json!({ "kind": kind }),
            )
            .await
            .expect(201);
        r.body["secret"].as_str().expect("a secret").to_owned()
    }

    /// Creates an SDK key and returns its id and secret.
    #[allow(dead_code)]
    pub async fn sdk_key_with_id(&self, env: &str, kind: &str) -> (i64, String) {
        let r = self
            .post(
                &format!("/api/v1/environments/{env}/keys"),
                serde_json::json!({ "kind": kind }),
            )
            .await
            .expect(201);
        (
            r.body["id"].as_i64().expect("an id"),
            r.body["secret"].as_str().expect("a secret").to_owned(),
        )
    }

    /// Revokes SDK key `id` of `env`.
    #[allow(dead_code)]
    pub async fn revoke_key(&self, env: &str, id: i64) {
        self.request(
            Method::DELETE,
            &format!("/api/v1/environments/{env}/keys/{id}"),
            Some(ADMIN),
            None,
            &[],
        )
        .await
        .expect(204);
    }

    /// Creates an admin token with `role` and returns its secret.
    pub async fn token(&self, role: &str) -> String {
        let r = self
            .post(
                "/api/v1/tokens",
                serde_json::json!({ "name": format!("{role}-test"), "role": role }),
            )
            .await
            .expect(201);
        r.body["secret"].as_str().expect("a secret").to_owned()
    }

    pub async fn ofrep(&self, key: &str, flag: Option<&str>, body: Value) -> Reply {
        let path = match flag {
            Some(flag) => format!("/ofrep/v1/evaluate/flags/{flag}"),
            None => "/ofrep/v1/evaluate/flags".to_owned(),
        };
        self.request(Method::POST, &path, Some(key), Some(body), &[]).await
    }
}

/// A WebSocket SDK connection for stream tests.
pub struct Stream {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl TestApp {
    /// Opens `/sdk/v1/stream` and sends `hello`.
    pub async fn stream(&self, hello: Value) -> Stream {
        let url = format!("{}/sdk/v1/stream", self.url.replacen("http", "ws", 1));
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("the stream upgrades");
        let mut stream = Stream { ws };
        stream.send(hello).await;
        stream
    }

    /// Opens `/sdk/v1/stream` with extra upgrade headers (no hello sent);
    /// `Err` is the answer of a refused upgrade.
    pub async fn try_stream(&self, headers: &[(&str, &str)]) -> Result<Stream, Reply> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("{}/sdk/v1/stream", self.url.replacen("http", "ws", 1));
        let mut request = url.into_client_request().expect("a valid URL");
        for (k, v) in headers {
            request.headers_mut().insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).expect("a header name"),
                v.parse().expect("a header value"),
            );
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => Ok(Stream { ws }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let body = response
                    .body()
                    .as_deref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                Err(Reply {
                    status: response.status(),
                    headers: response.headers().clone(),
                    body,
                })
            }
            Err(e) => panic!("the stream upgrade failed: {e}"),
        }
    }
}

impl Stream {
    /// Sends a text frame exactly as given.
    #[allow(dead_code)]
    pub async fn send_text(&mut self, text: String) {
        use futures_util::SinkExt;
        self.ws
            .send(tokio_tungstenite::tungstenite::Message::text(text))
            .await
            .expect("send");
    }

    pub async fn send(&mut self, msg: Value) {
        use futures_util::SinkExt;
        self.ws
            .send(tokio_tungstenite::tungstenite::Message::text(msg.to_string()))
            .await
            .expect("send");
    }

    /// The next JSON message other than a heartbeat (fails after 5 s).
    pub async fn next(&mut self) -> Value {
        serde_json::from_str(&self.next_text().await).expect("JSON")
    }

    /// The next message other than a heartbeat, as the bytes it came in
    /// (fails after 5 s).
    pub async fn next_text(&mut self) -> String {
        use futures_util::StreamExt;
        loop {
            let msg = tokio::time::timeout(std::time::Duration::from_secs(5), self.ws.next())
                .await
                .expect("a message within 5 s")
                .expect("the stream is open")
                .expect("a valid frame");
            if let tokio_tungstenite::tungstenite::Message::Text(text) = msg {
                let value: Value = serde_json::from_str(&text).expect("JSON");
                if value["type"] != "heartbeat" {
                    return text.as_str().to_owned();
                }
            }
        }
    }

    /// The next heartbeat (fails after 5 s).
    #[allow(dead_code)]
    pub async fn next_heartbeat(&mut self) -> Value {
        use futures_util::StreamExt;
        loop {
            let msg = tokio::time::timeout(std::time::Duration::from_secs(5), self.ws.next())
                .await
                .expect("a heartbeat within 5 s")
                .expect("the stream is open")
                .expect("a valid frame");
            if let tokio_tungstenite::tungstenite::Message::Text(text) = msg {
                let value: Value = serde_json::from_str(&text).expect("JSON");
                if value["type"] == "heartbeat" {
                    return value;
                }
            }
        }
    }

    /// The next message other than a heartbeat, or `None` once the server
    /// has closed the connection (fails after 5 s).
    pub async fn next_or_closed(&mut self) -> Option<Value> {
        use futures_util::StreamExt;
        loop {
            let msg = tokio::time::timeout(std::time::Duration::from_secs(5), self.ws.next())
                .await
                .expect("a message or a close within 5 s");
            match msg {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON");
                    if value["type"] != "heartbeat" {
                        return Some(value);
                    }
                }
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => {}
            }
        }
    }
}

/// A throwaway `redis-server` on a free port, stopped (killed) on drop. Tests
/// that stop Redis use this, never the shared one.
pub struct ThrowawayRedis {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl ThrowawayRedis {
    pub fn start() -> ThrowawayRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = ThrowawayRedis { port, child: None };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `daylight serve` process (so a test can kill it), killed when dropped
/// so a failing test leaves none behind.
pub struct ServerProcess(std::process::Child);

impl ServerProcess {
    /// Starts the server binary on `port` with database `db` and waits until
    /// `/healthz` answers.
    pub async fn start(db: &str, port: u16) -> ServerProcess {
        ServerProcess::start_with(db, port, &[]).await
    }

    /// [`ServerProcess::start`] with more environment variables.
    pub async fn start_with(db: &str, port: u16, env: &[(&str, &str)]) -> ServerProcess {
        let server = ServerProcess(
            std::process::Command::new(env!("CARGO_BIN_EXE_daylight"))
                .arg("serve")
                .env("DAYLIGHT_DATABASE_URL", db)
                .env("DAYLIGHT_LISTEN", format!("127.0.0.1:{port}"))
                .env("DAYLIGHT_ADMIN_TOKEN", ADMIN)
                .env("DAYLIGHT_HEARTBEAT_MS", "300")
                .env("RUST_LOG", "warn")
                .envs(env.iter().copied())
                .spawn()
                .expect("the server binary starts"),
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .map(|r| r.status().is_success())
            .ok()
            != Some(true)
        {
            assert!(std::time::Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        server
    }

    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Sends a signal (`TERM`, `INT`) as `kill -SIGNAL` would.
    #[allow(dead_code)]
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.0.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    /// The exit status, once the process has ended (fails after `secs`).
    #[allow(dead_code)]
    pub async fn exited_within(&mut self, secs: u64) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if let Some(status) = self.0.try_wait().expect("the process can be waited for") {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "still running after {secs} s");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("an address")
        .port()
}
