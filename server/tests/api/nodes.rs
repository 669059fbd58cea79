//! Several server nodes on one PostgreSQL: changes reach SDKs on every node,
//! over Redis when it is up and through the change log when it is not.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{self, spawn_nodes, Stream, TestApp, ThrowawayRedis};

/// A server-key stream on `node`, read up to `synced`.
async fn synced_stream(node: &TestApp, key: &str) -> (Stream, u64) {
    let mut s = node
        .stream(json!({ "type": "hello", "protocols": [1], "key": key }))
        .await;
    assert_eq!(s.next().await["type"], "welcome");
    assert_eq!(s.next().await["type"], "snapshot");
    let synced = s.next().await;
    (s, synced["version"].as_u64().unwrap())
}

/// Toggles the flag on `writer` and returns how long `reader` took to see it.
async fn propagation(writer: &TestApp, reader: &mut Stream, on: bool) -> Duration {
    let start = Instant::now();
    writer.toggle("f", "production", on).await.expect(200);
    let patch = reader.next().await;
    assert_eq!(patch["type"], "patch", "{patch}");
    assert_eq!(patch["doc"]["on"], on);
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_node_reaches_sdks_on_another_over_redis() {
    if !harness::services_available("two-node fan-out") {
        return;
    }
    let redis = std::env::var("DAYLIGHT_TEST_REDIS_URL").unwrap();
    // Each test run uses its own channel on the shared Redis.
    let channel = format!("daylight-test:{:x}", rand::random::<u64>());
    // Polling is slowed right down, so only Redis can be this fast.
    let nodes = spawn_nodes(2, |s| {
        s.redis_url = Some(redis.clone());
        s.redis_channel = channel.clone();
        s.poll_ms = 30_000;
    })
    .await;
    let (a, b) = (&nodes[0], &nodes[1]);
    a.create_flag(json!({ "key": "f" })).await;
    let key = a.sdk_key("production", "server").await;
    // Give both subscriptions a moment to be established.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut on_b, _) = synced_stream(b, &key).await;
    for round in 0..5 {
        let took = propagation(a, &mut on_b, round % 2 == 0).await;
        assert!(took < Duration::from_secs(2), "round {round}: {took:?}");
        eprintln!("redis fan-out, round {round}: {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_converge_through_the_change_log_while_redis_is_down() {
    if !harness::services_available("fan-out without Redis") {
        return;
    }
    let mut redis = ThrowawayRedis::start();
    let url = redis.url();
    let nodes = spawn_nodes(2, |s| {
        s.redis_url = Some(url.clone());
        s.redis_channel = "daylight-test".into();
        s.poll_ms = 1_500;
    })
    .await;
    let (a, b) = (&nodes[0], &nodes[1]);
    a.create_flag(json!({ "key": "f" })).await;
    let key = a.sdk_key("production", "server").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut on_b, _) = synced_stream(b, &key).await;
    let fast = propagation(a, &mut on_b, true).await;
    assert!(fast < Duration::from_secs(1), "with Redis: {fast:?}");

    redis.stop();
    let mut slow = Vec::new();
    for round in 0..3 {
        slow.push(propagation(a, &mut on_b, round % 2 == 1).await);
    }
    eprintln!("without Redis (polling every 1.5 s): {slow:?}");

    redis.restart();
    // Back to the fast path once the subscription is re-established.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut on = true;
    loop {
        let took = propagation(a, &mut on_b, on).await;
        on = !on;
        if took < Duration::from_millis(500) {
            eprintln!("Redis back: {took:?}");
            break;
        }
        assert!(Instant::now() < deadline, "Redis never became the fast path again");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
