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
    if !harness::services_available() {
        return;
    }
    let redis = std::env::var("DAYLIGHT_TEST_REDIS_URL").unwrap();
    // Each test run uses its own channel on the shared Redis.
    let channel = format!("daylight-test:{:x}", rand::random::<u64>());
    // Polling is slowed right down (its first poll is ten minutes away,
    // `next` gives up after 5 s), so only Redis can deliver a change.
    let nodes = spawn_nodes(2, |s| {
        s.redis_url = Some(redis.clone());
        s.redis_channel = channel.clone();
        s.poll_ms = 600_000;
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
        eprintln!("redis fan-out, round {round}: {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_converge_through_the_change_log_while_redis_is_down() {
    if !harness::services_available() {
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

/// Two nodes that hear nothing from each other for a long time (no Redis,
/// polling slowed right down): B's memory stays behind A's writes.
async fn stale_pair() -> Vec<TestApp> {
    spawn_nodes(2, |s| {
        s.redis_url = None;
        s.poll_ms = 600_000;
    })
    .await
}

fn prerequisite(on: &str, variation: usize) -> serde_json::Value {
    json!({ "on": true, "off_variation": 0, "prerequisites": [{ "flag": on, "variation": variation }],
            "targets": [], "rules": [], "fallthrough": { "variation": 1 } })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_behind_the_database_refuses_a_prerequisite_cycle() {
    if !harness::services_available() {
        return;
    }
    let nodes = stale_pair().await;
    let (a, b) = (&nodes[0], &nodes[1]);
    a.create_flag(json!({ "key": "f1" })).await;
    a.create_flag(json!({ "key": "f2" })).await;
    // B catches up on its own only every ten minutes: make it read once.
    let key = a.sdk_key("production", "server").await;
    let _ = synced_stream(b, &key).await;
    b.edit_config("f1", "production", |c| *c = prerequisite("f2", 1)).await;
    // B knows f1 → f2 now (it wrote it); A does not until it polls.
    let r = a.edit_config("f2", "production", |c| *c = prerequisite("f1", 1)).await;
    assert_eq!(r.status.as_u16(), 400, "a cycle was stored: {}", r.body);
    assert!(
        r.body["message"].as_str().unwrap_or_default().contains("cycle"),
        "{}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_behind_the_database_refuses_to_delete_a_segment_in_use() {
    if !harness::services_available() {
        return;
    }
    let nodes = stale_pair().await;
    let (a, b) = (&nodes[0], &nodes[1]);
    a.create_flag(json!({ "key": "f" })).await;
    a.post(
        "/api/v1/environments/production/segments",
        json!({ "key": "vip", "included": ["u-1"] }),
    )
    .await
    .expect(201);
    let key = a.sdk_key("production", "server").await;
    let _ = synced_stream(b, &key).await;
    a.edit_config("f", "production", |c| {
        c["rules"] = json!([{ "id": "vip", "clauses": [{ "attribute": "key", "op": "in_segment", "values": ["vip"] }],
                              "serve": { "variation": 1 } }]);
    })
    .await
    .expect(200);
    let r = b
        .request(
            reqwest::Method::DELETE,
            "/api/v1/environments/production/segments/vip",
            Some(harness::ADMIN),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status.as_u16(), 409, "a segment in use was deleted: {}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sdk_ahead_of_its_node_never_gets_older_data() {
    if !harness::services_available() {
        return;
    }
    let nodes = stale_pair().await;
    let (a, b) = (&nodes[0], &nodes[1]);
    a.create_flag(json!({ "key": "f" })).await;
    let key = a.sdk_key("production", "server").await;
    // A write through B brings B's memory up to date.
    b.create_flag(json!({ "key": "g" })).await;
    // B serves (and caches) a snapshot, then falls behind A's writes.
    let (_, behind) = synced_stream(b, &key).await;
    a.toggle("f", "production", true).await.expect(200);
    let (_, ahead) = synced_stream(a, &key).await;
    assert!(ahead > behind);
    // An SDK that got `ahead` from A fails over to B.
    let mut s = b
        .stream(json!({ "type": "hello", "protocols": [1], "key": key, "version": ahead }))
        .await;
    assert_eq!(s.next().await["type"], "welcome");
    let mut msg = s.next().await;
    while msg["type"] == "patch" || msg["type"] == "snapshot" {
        assert!(
            msg["version"].as_u64() >= Some(ahead),
            "the SDK at version {ahead} was sent older data: {msg}"
        );
        msg = s.next().await;
    }
    assert_eq!(msg["type"], "synced");
    assert_eq!(msg["version"].as_u64(), Some(ahead), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_change_after_a_redis_restart_is_not_left_to_polling() {
    if !harness::services_available() {
        return;
    }
    let mut redis = ThrowawayRedis::start();
    let url = redis.url();
    // Polling so slow that only a notification can deliver in time.
    let nodes = spawn_nodes(2, |s| {
        s.redis_url = Some(url.clone());
        s.redis_channel = "daylight-test".into();
        s.poll_ms = 60_000;
    })
    .await;
    let (a, b) = (&nodes[0], &nodes[1]);
    a.create_flag(json!({ "key": "f" })).await;
    let key = a.sdk_key("production", "server").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut on_b, _) = synced_stream(b, &key).await;
    // A's publishing connection is up and used.
    propagation(a, &mut on_b, true).await;

    redis.stop();
    redis.restart();
    // B subscribes again (its back-off starts at 200 ms).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let start = Instant::now();
    a.toggle("f", "production", false).await.expect(200);
    // Polling would take a minute; `next` gives up after 5 s.
    let patch = on_b.next().await;
    assert_eq!(patch["doc"]["on"], false, "{patch}");
    eprintln!("first change after the Redis restart: {:?}", start.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_on_one_node_ends_its_streams_on_another() {
    if !harness::services_available() {
        return;
    }
    let redis = std::env::var("DAYLIGHT_TEST_REDIS_URL").unwrap();
    let channel = format!("daylight-test:{:x}", rand::random::<u64>());
    // Polling is slowed right down: the notice travels over Redis.
    let nodes = spawn_nodes(2, |s| {
        s.redis_url = Some(redis.clone());
        s.redis_channel = channel.clone();
        s.poll_ms = 60_000;
    })
    .await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let (server_id, server) = a.sdk_key_with_id("production", "server").await;
    let (client_id, client) = a.sdk_key_with_id("production", "client").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut rules, _) = synced_stream(b, &server).await;
    let mut sse = reqwest::get(format!("{}/ofrep/v1/event-stream?key={client}", b.url))
        .await
        .expect("the event stream opens");
    assert_eq!(sse.status(), 200);

    a.revoke_key("production", server_id).await;
    a.revoke_key("production", client_id).await;
    let error = rules.next_or_closed().await.expect("an error message");
    assert_eq!(error["code"], "revoked", "{error}");
    assert!(rules.next_or_closed().await.is_none(), "then the server closes");
    crate::stream::read_sse_until(&mut sse, None).await;
}
