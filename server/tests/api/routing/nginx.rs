//! nginx running the documented config (`docs/recipes/blue-green.conf`) on
//! loopback, unprivileged, with a generated main config in a temp dir; only
//! addresses, file paths and the key are replaced. The web pools are two
//! tiny servers in the same nginx that answer their name (and echo the
//! `X-Forwarded-Proto` they got in `X-Seen-Proto`); the realtime pools are
//! WebSocket servers in the test that answer every message with their name.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};

use crate::harness::{free_port, skip};

/// The routing secret every test Daylight runs with (`DAYLIGHT_ROUTE_SECRET`).
pub const SECRET: &str = "test-route-secret-0123456789abcdef";

/// The `dl_uid` cookie a site signed in with `user` sets (`ID.HMAC`).
pub fn signed(user: &str) -> String {
    daylight_server::http::RouteIds::new(&[SECRET.into()])
        .expect("a long secret")
        .sign(user)
}

/// The nginx binary, or `None` (after a [`skip`]) when the test must skip.
pub fn nginx_binary() -> Option<PathBuf> {
    // `NGINX=/path` names the binary (and only it); else the usual places.
    let candidates: Vec<PathBuf> = match std::env::var_os("NGINX") {
        Some(path) => vec![PathBuf::from(path)],
        None => [
            "/usr/sbin/nginx",
            "/usr/local/sbin/nginx",
            "/usr/local/nginx/sbin/nginx",
        ]
        .map(PathBuf::from)
        .into_iter()
        .chain(
            std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).map(|d| d.join("nginx")).collect::<Vec<_>>())
                .unwrap_or_default(),
        )
        .collect(),
    };
    if let Some(found) = candidates.into_iter().find(|p| p.is_file()) {
        return Some(found);
    }
    skip("nginx is not installed (apt-get install -y nginx, or set NGINX=/path/to/nginx)");
    None
}

/// How the test runs nginx.
#[derive(Debug, Default, Clone, Copy)]
pub struct Options {
    /// The recipe's TLS server as written (else plain HTTP on its port).
    pub tls: bool,
    /// A master process, so that [`Nginx::reload`] works, with this
    /// `worker_shutdown_timeout`.
    pub master: Option<Duration>,
}

/// An nginx process with the recipe config, stopped when dropped.
pub struct Nginx {
    child: Child,
    master: bool,
    dir: tempfile::TempDir,
    /// `http://` or (with TLS) `https://127.0.0.1:PORT`.
    pub url: String,
    realtime: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if self.master {
            // A killed master would leave its workers behind: ask it to stop
            // them (TERM), then wait for it.
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for task in &self.realtime {
            task.abort();
        }
    }
}

/// Replaces `from` (which must occur) in the recipe.
fn substitute(text: String, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the recipe no longer contains `{from}`");
    text.replace(from, to)
}

/// A WebSocket server that answers every text message with `name`.
async fn realtime_pool(name: &'static str) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(socket).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_text() && ws.send(name.into()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, task)
}

/// A self-signed certificate for 127.0.0.1 in `dir` (openssl).
fn certificate(dir: &Path) -> (String, String) {
    let (crt, key) = (dir.join("site.crt"), dir.join("site.key"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .args(["-days", "2", "-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl made no certificate");
    (crt.display().to_string(), key.display().to_string())
}

impl Nginx {
    /// Plain HTTP on the recipe's TLS server (the tests' HTTP client speaks
    /// no TLS), in front of the Daylight on `daylight_port` with `key`.
    pub async fn start(binary: &Path, daylight_port: u16, key: &str) -> Nginx {
        Nginx::start_with(binary, daylight_port, key, Options::default()).await
    }

    /// With `tls`, the recipe's TLS server as written (a self-signed
    /// certificate; [`curl`] talks to it).
    pub async fn start_with(binary: &Path, daylight_port: u16, key: &str, options: Options) -> Nginx {
        let tls = options.tls;
        let recipe = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/recipes/blue-green.conf"))
            .expect("the recipe");
        let (port, redirect, blue, green) = (free_port(), free_port(), free_port(), free_port());
        let (realtime_blue, blue_task) = realtime_pool("blue").await;
        let (realtime_green, green_task) = realtime_pool("green").await;
        let dir = tempfile::tempdir().expect("a temp dir");
        let p = dir.path().display().to_string();
        let (crt, crt_key) = certificate(dir.path());
        let mut site = substitute(
            recipe,
            "server 127.0.0.1:8080 ",
            &format!("server 127.0.0.1:{daylight_port} "),
        );
        for (from, to) in [
            ("10.0.1.10:8000", blue),
            ("10.0.1.11:8000", blue),
            ("10.0.2.10:8000", green),
            ("10.0.2.11:8000", green),
            ("10.0.1.10:6001", realtime_blue),
            ("10.0.1.11:6001", realtime_blue),
            ("10.0.2.10:6001", realtime_green),
            ("10.0.2.11:6001", realtime_green),
        ] {
            site = substitute(site, from, &format!("127.0.0.1:{to}"));
        }
        let listen = if tls {
            format!("listen 127.0.0.1:{port} ssl;")
        } else {
            format!("listen 127.0.0.1:{port};")
        };
        for (from, to) in [
            ("listen 443 ssl;", listen),
            ("listen 80;", format!("listen 127.0.0.1:{redirect};")),
            ("dl_server_REPLACE_ME", key.to_owned()),
            ("/etc/nginx/tls/site.crt", crt),
            ("/etc/nginx/tls/site.key", crt_key),
            ("/var/log/nginx/", format!("{p}/")),
            ("/run/nginx-daylight-fallback.sock", format!("{p}/fallback.sock")),
        ] {
            site = substitute(site, from, &to);
        }
        std::fs::write(dir.path().join("site.conf"), site).expect("write the site");
        let (master, shutdown) = match options.master {
            Some(timeout) => ("on", timeout.as_millis()),
            None => ("off", 10_000),
        };
        let main = format!(
            "daemon off;\nmaster_process {master};\nworker_processes 1;\npid {p}/nginx.pid;\n\
             error_log {p}/error.log warn;\nworker_shutdown_timeout {shutdown}ms;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n\
               client_body_temp_path {p}/body; proxy_temp_path {p}/proxy; fastcgi_temp_path {p}/fastcgi;\n\
               uwsgi_temp_path {p}/uwsgi; scgi_temp_path {p}/scgi;\n\
               server {{ listen 127.0.0.1:{blue}; add_header X-Seen-Proto $http_x_forwarded_proto always; \
                 location / {{ return 200 \"blue\"; }} }}\n\
               server {{ listen 127.0.0.1:{green}; add_header X-Seen-Proto $http_x_forwarded_proto always; \
                 location / {{ return 200 \"green\"; }} }}\n\
               include {p}/site.conf;\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), main).expect("write the config");
        let child = Command::new(binary)
            .args([
                "-p",
                &p,
                "-c",
                &format!("{p}/nginx.conf"),
                "-e",
                &format!("{p}/error.log"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let scheme = if tls { "https" } else { "http" };
        let mut nginx = Nginx {
            child,
            master: options.master.is_some(),
            dir,
            url: format!("{scheme}://127.0.0.1:{port}"),
            realtime: vec![blue_task, green_task],
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                panic!("nginx exited ({status}): {}", nginx.error_log());
            }
            assert!(Instant::now() < deadline, "nginx did not listen: {}", nginx.error_log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        nginx
    }

    /// Edits the site config and reloads (`nginx -s reload`: SIGHUP to the
    /// master, which needs [`Options::master`]).
    pub fn reload(&self, edit: impl FnOnce(String) -> String) {
        assert!(self.master, "a reload needs a master process");
        let path = self.dir.path().join("site.conf");
        let site = std::fs::read_to_string(&path).expect("the site config");
        std::fs::write(&path, edit(site)).expect("write the site");
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -HUP failed");
    }

    pub fn error_log(&self) -> String {
        self.log("error.log")
    }

    /// A log file in nginx's directory (`site.log`, `daylight-failures.log`).
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// Waits until log `name` has a line containing `needle`; returns it.
    pub async fn wait_for_line(&self, name: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(line) = self.log(name).lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            assert!(Instant::now() < deadline, "no `{needle}` in {name}: {}", self.log(name));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// One request through nginx: (status, pool body, Set-Cookie headers).
/// `user` is a signed-in user: the site set their signed `dl_uid`.
pub async fn visit(
    http: &reqwest::Client,
    url: &str,
    user: Option<&str>,
    cookie: Option<&str>,
) -> (u16, String, Vec<String>) {
    let mut req = http.get(url);
    let cookies: Vec<String> = user
        .map(|u| format!("dl_uid={}", signed(u)))
        .into_iter()
        .chain(cookie.map(str::to_owned))
        .collect();
    if !cookies.is_empty() {
        req = req.header("cookie", cookies.join("; "));
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let set_cookie = resp
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::to_owned)
                .collect();
            (status, resp.text().await.unwrap_or_default(), set_cookie)
        }
        Err(e) => (0, e.to_string(), Vec::new()),
    }
}

/// The `dl_uid` cookie among Set-Cookie headers.
pub fn uid_cookie(set_cookie: &[String]) -> Option<&String> {
    set_cookie.iter().find(|c| c.starts_with("dl_uid="))
}

/// A request with curl (TLS with a self-signed certificate): the response
/// head, lower-cased header names, and the body.
pub fn curl(url: &str, headers: &[&str]) -> (String, String) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let body = dir.path().join("body");
    let mut cmd = Command::new("curl");
    cmd.args(["-sSk", "--max-time", "10", "-D", "-", "-o"]).arg(&body);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(url).output().expect("curl runs");
    assert!(
        out.status.success(),
        "curl {url} failed: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).to_lowercase(),
        std::fs::read_to_string(&body).unwrap_or_default(),
    )
}

pub fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port")
}
