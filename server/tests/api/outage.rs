//! PostgreSQL stops under a running server: evaluation (OFREP, streams) goes
//! on from memory, writes answer 503 `unavailable`, `/readyz` says so, and
//! everything recovers by itself when the database returns. The test runs
//! its own throwaway PostgreSQL (initdb + pg_ctl on a free port), never the
//! shared one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::harness::{skip, start, Backend, ADMIN};

/// A PostgreSQL cluster of this test's own, stopped and deleted on drop.
struct ThrowawayPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

/// `/usr/lib/postgresql/<newest>/bin`, when PostgreSQL's server is installed.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("pg_ctl").exists() && bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// Runs a PostgreSQL tool; as the `postgres` user when we are root (the
/// server refuses to run as root).
fn pg_tool(bin: &Path, tool: &str, args: &[&str]) -> std::process::Output {
    let program = bin.join(tool);
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&program);
        c
    } else {
        Command::new(&program)
    };
    command.args(args).output().unwrap_or_else(|e| panic!("{tool}: {e}"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl ThrowawayPostgres {
    fn start(bin: PathBuf) -> ThrowawayPostgres {
        let dir = tempfile::tempdir().expect("a temp dir");
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown the cluster directory");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = ThrowawayPostgres { bin, dir, port };
        let data = pg.data();
        let out = pg_tool(
            &pg.bin,
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        );
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        pg.resume();
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts (again) on the same port and waits until it accepts connections.
    fn resume(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log").display().to_string();
        let out = pg_tool(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops at once (`immediate`: like a crash; connections are cut).
    fn stop(&self) {
        let out = pg_tool(
            &self.bin,
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        let _ = pg_tool(&self.bin, "pg_ctl", &["-D", &self.data(), "-m", "immediate", "stop"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluation_goes_on_through_a_postgres_outage_and_writes_recover() {
    let Some(bin) = postgres_bin() else {
        skip("PostgreSQL's server binaries (initdb, pg_ctl in /usr/lib/postgresql/*/bin) are not installed");
        return;
    };
    let pg = ThrowawayPostgres::start(bin);
    let app = start(daylight_server::Settings::for_tests(pg.url(), ADMIN), Backend::Postgres).await;

    app.create_flag(json!({ "key": "lobby", "client_side": true })).await;
    app.edit_config("lobby", "production", |c| c["fallthrough"] = json!({ "variation": 1 }))
        .await
        .expect(200);
    let server_key = app.sdk_key("production", "server").await;
    let client_key = app.sdk_key("production", "client").await;
    let ctx = json!({ "context": { "targetingKey": "u1" } });
    assert_eq!(
        app.ofrep(&client_key, Some("lobby"), ctx.clone())
            .await
            .expect(200)
            .body["value"],
        false
    );
    let mut rules = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": server_key }))
        .await;
    assert_eq!(rules.next().await["type"], "welcome");
    assert_eq!(rules.next().await["type"], "snapshot");
    let synced = rules.next().await;
    let version = synced["version"].as_u64().unwrap();
    let mut values = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": client_key, "context": { "key": "u1" } }))
        .await;
    assert_eq!(values.next().await["type"], "welcome");
    assert_eq!(values.next().await["flags"]["lobby"]["value"], false);

    pg.stop();
    let outage = Instant::now();

    // Evaluation goes on from memory.
    for _ in 0..3 {
        let r = app.ofrep(&server_key, Some("lobby"), ctx.clone()).await.expect(200);
        assert_eq!(r.body["value"], false);
        app.ofrep(&client_key, None, ctx.clone()).await.expect(200);
    }
    values
        .send(json!({ "type": "identify", "context": { "key": "u2" } }))
        .await;
    let again = values.next().await;
    assert_eq!(again["type"], "values");
    assert_eq!(again["flags"]["lobby"]["value"], false);
    // An SDK that reconnects with its version resumes without the database.
    let mut resumed = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": server_key, "version": version }))
        .await;
    assert_eq!(resumed.next().await["type"], "welcome");
    assert_eq!(resumed.next().await, json!({ "type": "synced", "version": version }));

    // Writes and reads of the admin API: 503 with a clear JSON error, not 500.
    let write = app.toggle("lobby", "production", true).await;
    assert_eq!(write.status.as_u16(), 503, "{}", write.body);
    assert_eq!(write.body["error"], "unavailable");
    assert!(write.body["message"].as_str().unwrap().contains("database"));
    let read = app.get("/api/v1/flags").await;
    assert_eq!(read.status.as_u16(), 503, "{}", read.body);
    assert_eq!(read.body["error"], "unavailable");
    let ready = app.request(Method::GET, "/readyz", None, None, &[]).await;
    assert_eq!(ready.status.as_u16(), 503);
    assert_eq!(ready.body["error"], "unavailable");
    app.request(Method::GET, "/healthz", None, None, &[]).await.expect(200);
    eprintln!("outage checks took {:?}", outage.elapsed());

    // The database returns: the server recovers by itself.
    pg.resume();
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.request(Method::GET, "/readyz", None, None, &[]).await.status != 200 {
        assert!(Instant::now() < deadline, "/readyz did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.toggle("lobby", "production", true).await.expect(200);
    let patch = rules.next().await;
    assert_eq!(patch["type"], "patch");
    assert_eq!(patch["version"], version + 1);
    assert_eq!(patch["doc"]["on"], true);
    assert_eq!(resumed.next().await["version"], version + 1);
    let changed = values.next().await;
    assert_eq!(changed["type"], "changed");
    assert_eq!(changed["flags"]["lobby"]["value"], true);
    assert_eq!(
        app.ofrep(&client_key, Some("lobby"), ctx).await.expect(200).body["value"],
        true
    );
}
