//! Stopping the server binary with the real signals: systemd, Docker and
//! Kubernetes send SIGTERM, a terminal sends SIGINT. Either way open streams
//! are told `shutting_down`, the last usage reports are written, and a
//! SQLite database is left without its WAL file.

use serde_json::json;

use crate::harness::{free_port, ServerProcess, TestApp};

async fn a_stop_by(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("daylight.db");
    let db = format!("sqlite://{}", file.display());
    let port = free_port();
    // Usage is written only at the stop, not by the periodic flush.
    let env = [("DAYLIGHT_USAGE_FLUSH_MS", "3600000")];
    let mut server = ServerProcess::start_with(&db, port, &env).await;
    let app = TestApp::remote(format!("http://127.0.0.1:{port}"));
    app.create_flag(json!({ "key": "f" })).await;
    let key = app.sdk_key("production", "server").await;
    let mut s = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": key }))
        .await;
    assert_eq!(s.next().await["type"], "welcome");
    assert_eq!(s.next().await["type"], "snapshot");
    assert_eq!(s.next().await["type"], "synced");
    s.send(json!({ "type": "usage", "evaluations": [{ "flag": "f", "variation": 0, "count": 7 }] }))
        .await;
    // The server has the report (in memory) before the stop.
    let counted = r#"daylight_sdk_evaluations_total{environment="production",flag="f"} 7"#;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !app
        .request(reqwest::Method::GET, "/metrics", None, None, &[])
        .await
        .body
        .as_str()
        .unwrap_or_default()
        .contains(counted)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the usage report was not counted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    server.signal(signal);
    let error = s.next_or_closed().await.expect("an error message before the close");
    assert_eq!(error["code"], "shutting_down", "{error}");
    assert!(s.next_or_closed().await.is_none(), "then the server closes");
    let status = server.exited_within(15).await;
    assert!(status.success(), "SIG{signal}: {status:?}");
    assert!(file.exists());
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            format!("{:?} {}", e.file_name(), e.metadata().unwrap().len())
        })
        .collect();
    assert!(
        !dir.path().join("daylight.db-wal").exists(),
        "SIG{signal} left the WAL file behind: {files:?}"
    );

    // The report sent before the stop was written.
    let _server = ServerProcess::start_with(&db, port, &env).await;
    let usage = app
        .get("/api/v1/environments/production/flags/f/usage")
        .await
        .expect(200)
        .body;
    assert_eq!(usage["totals"], json!({ "0": 7 }), "SIG{signal}: {usage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_server_gracefully() {
    a_stop_by("TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_the_server_gracefully() {
    a_stop_by("INT").await;
}
