//! Secrets never reach the logs: the server binary runs with
//! `RUST_LOG=debug`, every kind of credential is used (and misused) on every
//! surface, and the output must not contain any secret's text.

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::harness::{TestApp, ADMIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_debug_logs() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_daylight"))
        .arg("serve")
        .env(
            "DAYLIGHT_DATABASE_URL",
            format!("sqlite://{}/daylight.db", dir.path().display()),
        )
        .env("DAYLIGHT_LISTEN", format!("127.0.0.1:{port}"))
        .env("DAYLIGHT_ADMIN_TOKEN", ADMIN)
        .env("DAYLIGHT_HEARTBEAT_MS", "200")
        .env("RUST_LOG", "debug")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("the server binary starts");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{url}/healthz"))
        .await
        .map(|r| r.status().is_success())
        .ok()
        != Some(true)
    {
        assert!(Instant::now() < deadline, "the server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let app = TestApp::remote(url.clone());

    app.create_flag(json!({ "key": "public", "client_side": true })).await;
    let viewer = app.token("viewer").await;
    let server_key = app.sdk_key("production", "server").await;
    let client_key = app.sdk_key("production", "client").await;
    let revoked = app.sdk_key("production", "server").await;
    let wrong = "dl_server_0123456789abcdef0123456789abcdef0123456789abcdef";
    let secrets = [
        ADMIN,
        viewer.as_str(),
        server_key.as_str(),
        client_key.as_str(),
        revoked.as_str(),
        wrong,
    ];

    // Admin tokens: right, wrong, too weak.
    app.request(Method::GET, "/api/v1/flags", Some(&viewer), None, &[])
        .await
        .expect(200);
    app.request(
        Method::POST,
        "/api/v1/flags",
        Some(&viewer),
        Some(json!({ "key": "x" })),
        &[],
    )
    .await
    .expect(403);
    app.request(Method::GET, "/api/v1/flags", Some(wrong), None, &[])
        .await
        .expect(401);
    // SDK keys over OFREP (both headers), the SDK REST endpoints and the SSE stream.
    let ctx = json!({ "context": { "targetingKey": "u" } });
    app.ofrep(&server_key, Some("public"), ctx.clone()).await.expect(200);
    app.request(
        Method::POST,
        "/ofrep/v1/evaluate/flags",
        None,
        Some(ctx.clone()),
        &[("x-api-key", &client_key)],
    )
    .await
    .expect(200);
    app.ofrep(wrong, None, ctx.clone()).await.expect(401);
    app.request(Method::GET, "/sdk/v1/ruleset", Some(&server_key), None, &[])
        .await
        .expect(200);
    app.request(Method::GET, "/sdk/v1/ruleset", Some(&client_key), None, &[])
        .await
        .expect(403);
    let sse = reqwest::Client::new()
        .get(format!("{url}/ofrep/v1/event-stream?key={client_key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    drop(sse);
    // Streams: key in the hello and in the header; a revoked and an unknown key.
    let mut s = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": server_key }))
        .await;
    assert_eq!(s.next().await["type"], "welcome");
    let mut c = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": client_key, "context": { "key": "u" } }))
        .await;
    assert_eq!(c.next().await["type"], "welcome");
    let auth = format!("Bearer {server_key}");
    let mut h = app.try_stream(&[("authorization", &auth)]).await.ok().unwrap();
    h.send(json!({ "type": "hello", "protocols": [1] })).await;
    assert_eq!(h.next().await["type"], "welcome");
    let keys = app.get("/api/v1/environments/production/keys").await.expect(200).body;
    let revoked_id = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_i64().unwrap())
        .max()
        .unwrap();
    app.request(
        Method::DELETE,
        &format!("/api/v1/environments/production/keys/{revoked_id}"),
        Some(ADMIN),
        None,
        &[],
    )
    .await
    .expect(204);
    let mut r = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": revoked }))
        .await;
    assert_eq!(r.next().await["code"], "unauthorized");
    let mut w = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": wrong }))
        .await;
    assert_eq!(w.next().await["code"], "unauthorized");
    app.toggle("public", "production", true).await.expect(200);
    assert_eq!(s.next().await["type"], "snapshot");
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop((s, c, h, r, w));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let _ = child.kill();
    let _ = child.wait();
    let output = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        output.lines().filter(|l| l.contains("DEBUG")).count() > 20,
        "debug logging was on:\n{output}"
    );
    for secret in secrets {
        // The random part alone, too: a log could print it without its prefix.
        let random = secret
            .rsplit_once('_')
            .map(|(_, r)| r)
            .filter(|r| r.len() >= 16)
            .unwrap_or(secret);
        assert!(
            !output.contains(secret) && !output.contains(random),
            "a secret appears in the logs"
        );
    }
}
