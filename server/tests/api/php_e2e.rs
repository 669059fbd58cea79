//! PHP end to end with real parts: a Daylight server process, `daylight
//! sync` keeping the PHP snapshot, and the Laravel app of
//! `sdk-php/tests/e2e/` on php-fpm behind nginx (unprivileged, on loopback,
//! configs in a temp dir). Without php-fpm, nginx or Debian's Laravel the
//! test is skipped, except with `DAYLIGHT_REQUIRE_SERVICES=1` (CI), where it
//! fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{free_port, skip, ServerProcess, TestApp, ADMIN};

const DAYLIGHT: &str = env!("CARGO_BIN_EXE_daylight");
const SDK_PHP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk-php");
const LARAVEL: &str = "/usr/share/php/Illuminate/autoload.php";

/// A child process killed when dropped, so a failing test leaves none behind.
struct Proc(Child);

impl Proc {
    /// SIGTERM first: php-fpm's master stops its workers then (SIGKILL
    /// would orphan them); SIGKILL if it is still there after 5 s.
    fn kill(&mut self) {
        if let Ok(Some(_)) = self.0.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .arg(self.0.id().to_string())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The first existing file of `candidates`, or `None` after a [`skip`].
fn find(what: &str, candidates: Vec<PathBuf>, install: &str) -> Option<PathBuf> {
    let found = candidates.into_iter().find(|p| p.is_file());
    if found.is_none() {
        skip(&format!("{what} is not installed ({install})"));
    }
    found
}

fn php_fpm_binary() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PHP_FPM").map(PathBuf::from).into_iter().collect();
    if let Ok(entries) = std::fs::read_dir("/usr/sbin") {
        let mut fpm: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("php-fpm"))
            })
            .collect();
        fpm.sort();
        candidates.extend(fpm.into_iter().rev());
    }
    find(
        "php-fpm",
        candidates,
        "apt-get install -y php-fpm, or set PHP_FPM=/path",
    )
}

fn nginx_binary() -> Option<PathBuf> {
    let candidates = std::env::var_os("NGINX")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/sbin/nginx", "/usr/local/sbin/nginx"].map(PathBuf::from))
        .collect();
    find("nginx", candidates, "apt-get install -y nginx, or set NGINX=/path")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Waits until something listens on `port`, or panics with `log()`.
async fn wait_listening(port: u16, child: &mut Child, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("exited ({status}): {}", log());
        }
        assert!(Instant::now() < deadline, "did not listen on {port}: {}", log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// php-fpm and nginx serving a copy of the e2e Laravel app.
struct Site {
    _fpm: Proc,
    _nginx: Proc,
    url: String,
    dir: PathBuf,
}

impl Site {
    async fn start(fpm: &Path, nginx: &Path, dir: &Path, snapshot: &Path, spool: &Path) -> Site {
        let app = dir.join("app");
        copy_dir(&Path::new(SDK_PHP).join("tests/e2e"), &app);
        for sub in ["storage/views", "bootstrap/cache"] {
            std::fs::create_dir_all(app.join(sub)).unwrap();
        }
        let d = dir.display();
        // validate_timestamps=0: a replaced snapshot is picked up by its
        // etag, not by OPcache noticing the new file.
        let user = if is_root() { "user = root\ngroup = root\n" } else { "" };
        let fpm_conf = format!(
            "[global]\npid = {d}/fpm.pid\nerror_log = {d}/fpm.log\ndaemonize = no\n\
             [app]\n{user}listen = {d}/fpm.sock\npm = static\npm.max_children = 2\n\
             catch_workers_output = yes\n\
             php_admin_value[opcache.validate_timestamps] = 0\n\
             php_admin_value[opcache.file_update_protection] = 0\n\
             php_admin_value[apc.enabled] = 1\n"
        );
        std::fs::write(dir.join("fpm.conf"), fpm_conf).unwrap();
        let mut fpm_args = vec!["-F".to_owned(), "-y".to_owned(), format!("{d}/fpm.conf")];
        if is_root() {
            fpm_args.push("-R".to_owned());
        }
        let mut fpm = Proc(
            Command::new(fpm)
                .args(&fpm_args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("php-fpm starts"),
        );
        let socket = dir.join("fpm.sock");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            if let Ok(Some(status)) = fpm.0.try_wait() {
                panic!("php-fpm exited ({status}): {}", read(&dir.join("fpm.log")));
            }
            assert!(
                Instant::now() < deadline,
                "php-fpm did not start: {}",
                read(&dir.join("fpm.log"))
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let port = free_port();
        let (a, s, u, sdk) = (app.display(), snapshot.display(), spool.display(), SDK_PHP);
        let nginx_conf = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log warn;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n\
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;\n\
               uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
               server {{\n    listen 127.0.0.1:{port};\n    root {a}/public;\n\
                 location / {{\n      fastcgi_pass unix:{d}/fpm.sock;\n\
                   fastcgi_param SCRIPT_FILENAME $document_root/index.php;\n\
                   fastcgi_param SCRIPT_NAME /index.php;\n\
                   fastcgi_param REQUEST_METHOD $request_method;\n\
                   fastcgi_param REQUEST_URI $request_uri;\n\
                   fastcgi_param QUERY_STRING $query_string;\n\
                   fastcgi_param SERVER_NAME $host;\n\
                   fastcgi_param SERVER_PORT $server_port;\n\
                   fastcgi_param SERVER_PROTOCOL $server_protocol;\n\
                   fastcgi_param REMOTE_ADDR $remote_addr;\n\
                   fastcgi_param HTTP_HOST $host;\n\
                   fastcgi_param DAYLIGHT_SDK_DIR {sdk};\n\
                   fastcgi_param DAYLIGHT_SNAPSHOT {s};\n\
                   fastcgi_param DAYLIGHT_USAGE_SPOOL {u};\n    }}\n  }}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), nginx_conf).unwrap();
        let mut nginx = Proc(
            Command::new(nginx)
                .args([
                    "-p",
                    &d.to_string(),
                    "-c",
                    &format!("{d}/nginx.conf"),
                    "-e",
                    &format!("{d}/nginx-error.log"),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nginx starts"),
        );
        let nginx_log = dir.join("nginx-error.log");
        wait_listening(port, &mut nginx.0, || read(&nginx_log)).await;
        Site {
            _fpm: fpm,
            _nginx: nginx,
            url: format!("http://127.0.0.1:{port}"),
            dir: dir.to_owned(),
        }
    }

    /// (status, body) of `path`.
    async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("{}{path}", self.url))
            .await
            .expect("nginx answers");
        (response.status().as_u16(), response.text().await.unwrap_or_default())
    }

    fn logs(&self) -> String {
        ["fpm.log", "nginx-error.log", "app/storage/laravel.log"]
            .map(|f| format!("{f}: {}", read(&self.dir.join(f))))
            .join("\n")
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The etag on the snapshot's first line (`None` before the file exists).
fn snapshot_etag(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().next()?;
    Some(
        line.strip_prefix("<?php /* daylight-snapshot 1 ")?
            .strip_suffix(" */")?
            .to_owned(),
    )
}

/// `daylight sync` writing `production.php` and `.json` in `dir`, and
/// sending the counts spooled in `dir/spool`.
fn sync(url: &str, key: &str, dir: &Path, log: &Path) -> Proc {
    let log = std::fs::File::create(log).unwrap();
    Proc(
        Command::new(DAYLIGHT)
            .args([
                "sync",
                "--url",
                url,
                "--key",
                key,
                "--usage-interval",
                "0.2",
                "--php-file",
            ])
            .arg(dir.join("production.php"))
            .arg("--json-file")
            .arg(dir.join("production.json"))
            .arg("--usage-spool")
            .arg(dir.join("spool"))
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("daylight sync starts"),
    )
}

fn sync_once(url: &str, key: &str, php: &Path) -> Output {
    Command::new(DAYLIGHT)
        .args(["sync", "--url", url, "--key", key, "--php-file"])
        .arg(php)
        .output()
        .expect("daylight sync runs")
}

/// Turns the flag on or off with the CLI, as a release manager would.
fn cli_toggle(url: &str, state: &str) {
    let out = Command::new(DAYLIGHT)
        .args([
            "flags",
            "toggle",
            "new-lobby",
            state,
            "--env",
            "production",
            "--url",
            url,
        ])
        .env("DAYLIGHT_TOKEN", ADMIN)
        .output()
        .expect("the CLI runs");
    assert!(
        out.status.success(),
        "toggle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls `path` until it answers `expected`, for at most `within`. Each
/// request that starts after the snapshot was replaced (its etag is no
/// longer `old_etag`) must already answer `expected`: the very next request
/// after the rename sees the change.
async fn served_within(site: &Site, snapshot: &Path, old_etag: &str, expected: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let replaced = snapshot_etag(snapshot).is_some_and(|etag| etag != old_etag);
        let (status, body) = site.get("/lobby?user=u-1").await;
        assert_eq!(status, 200, "{body}\n{}", site.logs());
        if replaced {
            assert_eq!(body.trim(), expected, "a request after the file was replaced");
        }
        if body.trim() == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "not served within {within:?} (still {body:?})\n{}",
            site.logs()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn wait_for_file(path: &Path, sync_log: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(etag) = snapshot_etag(path) {
            return etag;
        }
        assert!(Instant::now() < deadline, "no snapshot from sync: {}", read(sync_log));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn laravel_on_php_fpm_serves_flags_kept_by_daylight_sync() {
    let (Some(fpm), Some(nginx)) = (php_fpm_binary(), nginx_binary()) else {
        return;
    };
    if !Path::new(LARAVEL).is_file() {
        return skip("Debian's Laravel is not installed (apt-get install -y php-laravel-framework)");
    }
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/daylight.db", dir.path().display());
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = ServerProcess::start(&db, port).await;
    let app = TestApp::remote(url.clone());
    app.create_flag(json!({ "key": "new-lobby", "client_side": true }))
        .await;
    app.create_flag(json!({ "key": "probe" })).await;
    app.edit_config("new-lobby", "production", |c| {
        c["fallthrough"] = json!({ "variation": 1 })
    })
    .await
    .expect(200);
    let key = app.sdk_key("production", "server").await;

    // Bad keys and URLs fail at once, with a reason.
    let php = dir.path().join("production.php");
    let bad = sync_once(&url, "dl_server_not_a_key", &php);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("refused the key"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let unreachable = sync_once(&format!("http://127.0.0.1:{}", free_port()), &key, &php);
    assert!(!unreachable.status.success());
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("cannot reach"));
    assert!(!php.exists(), "a failed start writes nothing");

    let json = dir.path().join("production.json");
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let sync_log = dir.path().join("sync.log");
    let mut syncing = sync(&url, &key, dir.path(), &sync_log);
    let etag = wait_for_file(&php, &sync_log).await;
    let site = Site::start(&fpm, &nginx, dir.path(), &php, &spool).await;
    assert_eq!(
        site.get("/lobby?user=u-1").await,
        (200, "old lobby |off\n".to_owned()),
        "{}",
        site.logs()
    );
    assert_eq!(site.get("/new-lobby?user=u-1").await.0, 404, "{}", site.logs());

    // On with the CLI: the next request after the file is replaced, and
    // within a second of the commit.
    let committed = Instant::now();
    cli_toggle(&url, "on");
    let took = served_within(&site, &php, &etag, "new lobby |on", Duration::from_secs(1)).await;
    eprintln!("the change was served {took:?} after the CLI started");
    assert_eq!(site.get("/new-lobby?user=u-1").await, (200, "the new lobby".to_owned()));
    assert!(committed.elapsed() < Duration::from_secs(5));
    assert!(read(&sync_log).contains("applied version"), "{}", read(&sync_log));
    // The PHP file is byte for byte what the PHP SnapshotWriter writes for
    // the document sync also wrote as JSON.
    assert_eq!(read(&php), php_writer(&json, &snapshot_etag(&php).unwrap()));

    // Daylight down: every request is served from the last snapshot.
    server.kill();
    for _ in 0..50 {
        assert_eq!(site.get("/lobby?user=u-1").await, (200, "new lobby |on\n".to_owned()));
    }

    // Daylight back: the running sync reconnects and follows again.
    server = ServerProcess::start(&db, port).await;
    let etag = snapshot_etag(&php).unwrap();
    cli_toggle(&url, "off");
    served_within(&site, &php, &etag, "old lobby |off", Duration::from_secs(20)).await;

    // sync restarted picks up what changed while it was down.
    syncing.kill();
    let etag = snapshot_etag(&php).unwrap();
    cli_toggle(&url, "on");
    let _syncing = sync(&url, &key, dir.path(), &sync_log);
    served_within(&site, &php, &etag, "new lobby |on", Duration::from_secs(15)).await;

    // Usage: each request's counts reach the server through the spool.
    for _ in 0..7 {
        assert_eq!(site.get("/probe?user=u-1").await, (200, "off".to_owned()));
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let usage = app
            .get("/api/v1/environments/production/flags/probe/usage")
            .await
            .expect(200)
            .body;
        if usage["totals"] == json!({ "0": 7 }) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "usage not reported: {usage}\n{}",
            read(&sync_log)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(server);
}

/// What `Daylight\Snapshot\SnapshotWriter::php` makes of a JSON document.
fn php_writer(json: &Path, etag: &str) -> String {
    let script = format!(
        "require '{SDK_PHP}/tests/bootstrap.php'; \
         echo Daylight\\Snapshot\\SnapshotWriter::php(json_decode(file_get_contents($argv[1]), true), $argv[2]);"
    );
    let out = Command::new("php")
        .args(["-r", &script])
        .arg(json)
        .arg(etag)
        .output()
        .expect("php runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The Rust writer and the PHP one agree on the awkward parts: integer-like
/// keys, quotes, backslashes and NUL, floats, Unicode, segment sets.
#[test]
fn the_php_snapshot_is_what_the_php_writer_writes() {
    if Command::new("php").arg("-v").output().is_err() {
        return skip("php is not installed (apt-get install -y php-cli)");
    }
    let doc = json!({
        "environment": "production",
        "version": 7,
        "flags": {
            "42": { "variations": [1.5, 2.0, -0.0, 1e17, 0.0001, 1e-5, 0.30000000000000004, -7, 9007199254740993_u64, 18446744073709551615_u64] },
            "it's": { "variations": ["a\\b", "it's", "nul\u{0}here", "é😀", "", "0", "-0", "007"] },
            "nested": { "variations": [{ "a": { "b": [] } }, { "1": true, "x": null }] }
        },
        "segments": {
            "vip": { "included": ["u-1", "12", "u-1", "-3", "03"], "excluded": [], "rules": [] }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.json");
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    let rust = daylight_server::sync::php::snapshot(&doc, "7-0123abcd");
    assert_eq!(rust, php_writer(&path, "7-0123abcd"));
}

/// `GET /sdk/v1/ruleset` answers its ETag with a bodiless 304 until the
/// environment changes (what `HttpSnapshot` polls).
#[tokio::test]
async fn the_ruleset_answers_304_until_something_changes() {
    let app = crate::harness::spawn_app(crate::harness::Backend::Sqlite).await;
    app.create_flag(json!({ "key": "f" })).await;
    let key = app.sdk_key("production", "server").await;
    let get = |etag: String| {
        let (app, key) = (&app, key.clone());
        async move {
            let headers = [("If-None-Match", etag.as_str())];
            app.request(reqwest::Method::GET, "/sdk/v1/ruleset", Some(&key), None, &headers)
                .await
        }
    };
    let first = get(String::new()).await.expect(200);
    let etag = first.etag();
    assert!(etag.starts_with("\"production-"), "{etag}");
    let unchanged = get(etag.clone()).await.expect(304);
    assert_eq!(unchanged.body, serde_json::Value::Null);
    assert_eq!(get(format!("W/{etag}, \"other\"")).await.status.as_u16(), 304);
    app.toggle("f", "production", true).await.expect(200);
    let changed = get(etag.clone()).await.expect(200);
    assert_ne!(changed.etag(), etag);
    assert_eq!(changed.body["flags"]["f"]["on"], true);
}
