//! Propagation receipts: per change, the SDK connections it reached on
//! every node, how many acknowledged it and how fast, in the admin API and
//! the metrics.

use std::time::{Duration, Instant};

use daylight::client::Client;
use serde_json::{json, Value};

use crate::harness::{self, backends, spawn_app, spawn_nodes, Stream, TestApp};

/// A raw server-key stream read up to `synced`.
async fn synced_stream(node: &TestApp, hello: Value) -> Stream {
    let mut s = node.stream(hello).await;
    assert_eq!(s.next().await["type"], "welcome");
    assert_eq!(s.next().await["type"], "snapshot");
    assert_eq!(s.next().await["type"], "synced");
    s
}

/// Polls `node`'s receipt of `version` until `done` holds (10 s at most).
async fn receipt_until(node: &TestApp, version: u64, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let reply = node
            .get(&format!("/api/v1/environments/production/receipts/{version}"))
            .await;
        if reply.status == 200u16 && done(&reply.body) {
            return reply.body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "receipt of version {version} never got there: {} {}",
            reply.status,
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The environment's version after the last write.
async fn version(node: &TestApp) -> u64 {
    node.get("/api/v1/environments/production").await.expect(200).body["version"]
        .as_u64()
        .expect("an environment has a version")
}

#[tokio::test]
async fn a_receipt_counts_acknowledged_not_yet_and_unknown_connections() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        app.create_flag(json!({ "key": "f" })).await;
        let key = app.sdk_key("production", "server").await;
        let hello = json!({ "type": "hello", "protocols": [1], "key": key, "receipts": true });
        let mut acking = synced_stream(&app, hello).await;
        // An older SDK: it says nothing of receipts.
        let _older = synced_stream(&app, json!({ "type": "hello", "protocols": [1], "key": key })).await;

        app.toggle("f", "production", true).await.expect(200);
        let v = version(&app).await;
        let patch = acking.next().await;
        assert_eq!(patch["version"], v, "{patch}");
        let before = receipt_until(&app, v, |r| r["connected"] == 2).await;
        assert_eq!(
            (&before["acknowledged"], &before["not_yet"], &before["unknown"]),
            (&json!(0), &json!(1), &json!(1)),
            "{before}"
        );
        assert!(before["p50_ms"].is_null(), "{before}");

        acking.send(json!({ "type": "applied", "version": v })).await;
        let after = receipt_until(&app, v, |r| r["acknowledged"] == 1).await;
        assert_eq!(
            (&after["not_yet"], &after["unknown"]),
            (&json!(0), &json!(1)),
            "{after}"
        );
        let (p50, p99, max) = (
            after["p50_ms"].as_u64().unwrap(),
            after["p99_ms"].as_u64().unwrap(),
            after["max_ms"].as_u64().unwrap(),
        );
        assert!(p50 <= p99 && p99 <= max && max < 60_000, "{after}");

        // The toggle's audit entry links to its receipt.
        let audit = app.get("/api/v1/audit?resource_key=f&limit=1").await.expect(200).body;
        assert_eq!(audit["entries"][0]["change_version"], v, "{audit}");
        // The list has it too; a version nobody wrote is a 404; a bad limit a 400.
        let list = app
            .get("/api/v1/environments/production/receipts?limit=5")
            .await
            .expect(200);
        assert_eq!(list.body["receipts"][0]["version"], v, "{}", list.body);
        app.get("/api/v1/environments/production/receipts/999999")
            .await
            .expect(404);
        app.get("/api/v1/environments/production/receipts?limit=0")
            .await
            .expect_field_error(400, "limit");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_add_up_across_nodes_with_real_sdks() {
    if !harness::services_available() {
        return;
    }
    let redis = std::env::var("DAYLIGHT_TEST_REDIS_URL").unwrap();
    let channel = format!("daylight-test:{:x}", rand::random::<u64>());
    let nodes = spawn_nodes(2, |s| {
        s.redis_url = Some(redis.clone());
        s.redis_channel = channel.clone();
    })
    .await;
    let (a, b) = (&nodes[0], &nodes[1]);
    a.create_flag(json!({ "key": "f" })).await;
    let key = a.sdk_key("production", "server").await;
    // One Rust SDK on each node, and an older SDK (no receipts) on b.
    let mut clients = Vec::new();
    for node in [a, b] {
        clients.push(
            Client::builder(node.url.clone(), key.clone())
                .init_timeout(Duration::from_secs(5))
                .build()
                .await
                .expect("the SDK connects"),
        );
    }
    let _older = synced_stream(b, json!({ "type": "hello", "protocols": [1], "key": key })).await;

    a.toggle("f", "production", true).await.expect(200);
    let v = version(a).await;
    // Read from the other node: the figures of both are added up.
    let receipt = receipt_until(b, v, |r| r["acknowledged"] == 2 && r["connected"] == 3).await;
    assert_eq!(
        (&receipt["not_yet"], &receipt["unknown"]),
        (&json!(0), &json!(1)),
        "{receipt}"
    );
    for client in &clients {
        assert!(client.version() >= Some(v), "an SDK that acknowledged has the change");
    }
    let max = receipt["max_ms"].as_u64().unwrap();
    assert!(receipt["p50_ms"].as_u64().unwrap() <= max && max < 60_000, "{receipt}");

    // The acknowledgement latency is a metric of the node that heard it.
    let metrics = reqwest::get(format!("{}/metrics", a.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("daylight_change_receipt_seconds"), "{metrics}");
}

#[tokio::test]
async fn a_page_acknowledges_changed_values_and_a_change_it_cannot_see_counts_as_had() {
    let app = spawn_app(harness::Backend::Sqlite).await;
    app.create_flag(json!({ "key": "banner", "client_side": true })).await;
    app.create_flag(json!({ "key": "server-only" })).await;
    let key = app.sdk_key("production", "client").await;
    let mut page = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": key, "context": { "key": "u1" }, "receipts": true }))
        .await;
    assert_eq!(page.next().await["type"], "welcome");
    assert_eq!(page.next().await["type"], "values");

    // A flag the page sees: `changed`, acknowledged by the page.
    app.toggle("banner", "production", true).await.expect(200);
    let v = version(&app).await;
    let changed = page.next().await;
    assert_eq!(
        (&changed["type"], &changed["version"]),
        (&json!("changed"), &json!(v)),
        "{changed}"
    );
    let waiting = receipt_until(&app, v, |r| r["connected"] == 1).await;
    assert_eq!(waiting["not_yet"], 1, "{waiting}");
    page.send(json!({ "type": "applied", "version": v })).await;
    receipt_until(&app, v, |r| r["acknowledged"] == 1 && r["not_yet"] == 0).await;

    // A flag pages never see: nothing is sent, and the page has the change.
    app.toggle("server-only", "production", true).await.expect(200);
    let w = version(&app).await;
    let had = receipt_until(&app, w, |r| r["connected"] == 1).await;
    let had = if had["acknowledged"] == 1 {
        had
    } else {
        receipt_until(&app, w, |r| r["acknowledged"] == 1).await
    };
    assert_eq!((&had["not_yet"], &had["unknown"]), (&json!(0), &json!(0)), "{had}");
}
