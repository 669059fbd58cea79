//! The Rust SDK against a real server process that is killed and restarted.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use daylight::client::{Client, ConnectionState};
use daylight::Context;
use serde_json::json;

use crate::harness::{free_port, ServerProcess, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_serves_last_known_values_through_a_server_kill_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/daylight.db", dir.path().display());
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = ServerProcess::start(&db, port).await;
    let app = TestApp::remote(url.clone());
    app.create_flag(json!({ "key": "new-lobby" })).await;
    app.edit_config("new-lobby", "production", |c| {
        c["on"] = json!(true);
        c["rules"] = json!([{ "id": "omaha", "clauses": [{ "attribute": "game", "op": "in", "values": ["omaha"] }], "serve": { "variation": 1 } }]);
    })
    .await
    .expect(200);
    let key = app.sdk_key("production", "server").await;

    let client = Client::builder(url.clone(), key)
        .backoff(Duration::from_millis(100), Duration::from_millis(400))
        .init_timeout(Duration::from_secs(5))
        .build()
        .await
        .expect("the client builds");
    assert!(client.is_ready());
    let omaha = Context::new("p1").with("game", "omaha");
    assert!(client.bool_variation("new-lobby", &omaha, false));

    // Evaluate in a tight loop on another thread for the whole outage.
    let stop = Arc::new(AtomicBool::new(false));
    let (evaluations, failures) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let looper = {
        let (client, stop, evaluations, failures) =
            (client.clone(), stop.clone(), evaluations.clone(), failures.clone());
        std::thread::spawn(move || {
            let ctx = Context::new("p1").with("game", "omaha");
            while !stop.load(Ordering::Relaxed) {
                let detail = client.bool_variation_detail("new-lobby", &ctx, false);
                if detail.variation.is_none() {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                evaluations.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    server.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_ne!(
        client.connection_state(),
        ConnectionState::Synced,
        "the client noticed the outage"
    );
    assert!(
        client.bool_variation("new-lobby", &omaha, false),
        "last known value while the server is down"
    );

    let mut server = ServerProcess::start(&db, port).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.connection_state() != ConnectionState::Synced {
        assert!(Instant::now() < deadline, "the client did not reconnect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("daylight_stream_syncs_total{mode=\"resume\"} 1"),
        "resumed from its version:\n{metrics}"
    );
    assert!(
        !metrics.contains("mode=\"snapshot\""),
        "no full snapshot after the restart:\n{metrics}"
    );

    // Live again: a change arrives.
    app.toggle("new-lobby", "production", false).await.expect(200);
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.bool_variation("new-lobby", &omaha, true) {
        assert!(Instant::now() < deadline, "the change did not arrive");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    looper.join().unwrap();
    let (n, failed) = (evaluations.load(Ordering::Relaxed), failures.load(Ordering::Relaxed));
    eprintln!("{n} evaluations through the outage, {failed} failed");
    assert!(n > 10_000, "the loop ran ({n})");
    assert_eq!(failed, 0);
    client.close().await;
    server.kill();
}
