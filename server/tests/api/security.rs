//! Abuse limits and what each credential may reach: stream connect rate and
//! open streams per key, WebSocket message size, browser origins, client keys
//! kept from rules, viewers kept from writes.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{spawn_app_with, Backend};

fn hello(key: &str) -> Value {
    json!({ "type": "hello", "protocols": [1], "key": key })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_connects_over_the_rate_get_429_with_retry_after() {
    // One connect a second: the two refused attempts below follow the first
    // connect well within that second (local round trips of milliseconds,
    // even on two busy cores). The wait and the refill are tested on a fake
    // clock (`limits::tests`).
    let app = spawn_app_with(Backend::Sqlite, |s| s.stream_connect_rate = 1).await;
    let key = app.sdk_key("production", "server").await;
    let auth = format!("Bearer {key}");
    // The key in the upgrade's header: the second connect in a second is refused over HTTP.
    let mut first = app
        .try_stream(&[("authorization", &auth)])
        .await
        .ok()
        .expect("within the rate");
    first.send(json!({ "type": "hello", "protocols": [1] })).await;
    assert_eq!(first.next().await["type"], "welcome");
    let refused = app
        .try_stream(&[("authorization", &auth)])
        .await
        .err()
        .expect("over the rate");
    assert_eq!(refused.status.as_u16(), 429);
    assert_eq!(refused.body["error"], "rate_limited");
    let retry: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    // The key in the hello: refused with the protocol's error message.
    let mut s = app.stream(hello(&key)).await;
    let error = s.next().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "rate_limited");
    assert!(s.next_or_closed().await.is_none(), "then the server closes");
    // Another key has its own budget.
    let other = app.sdk_key("production", "server").await;
    assert_eq!(app.stream(hello(&other)).await.next().await["type"], "welcome");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_per_key_are_limited_and_freed_on_close() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.max_streams_per_key = 2).await;
    let key = app.sdk_key("production", "client").await;
    let client_hello = json!({ "type": "hello", "protocols": [1], "key": key, "context": { "key": "u" } });
    let mut first = app.stream(client_hello.clone()).await;
    assert_eq!(first.next().await["type"], "welcome");
    let mut second = app.stream(client_hello.clone()).await;
    assert_eq!(second.next().await["type"], "welcome");
    let mut third = app.stream(client_hello.clone()).await;
    let error = third.next().await;
    assert_eq!(error["code"], "too_many_connections", "{error}");
    assert!(third.next_or_closed().await.is_none());
    let auth = format!("Bearer {key}");
    let refused = app
        .try_stream(&[("authorization", &auth)])
        .await
        .err()
        .expect("over the limit");
    assert_eq!(refused.status.as_u16(), 429);
    assert!(refused.headers.contains_key("retry-after"));
    // Closing one frees its slot.
    drop(first);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let mut s = app.stream(client_hello.clone()).await;
        if s.next().await["type"] == "welcome" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the slot was not freed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    drop(second);
}

/// The `daylight_stream_connections` gauge of `transport` (0 when absent).
async fn open_streams(app: &crate::harness::TestApp, transport: &str) -> f64 {
    let metrics = app.request(Method::GET, "/metrics", None, None, &[]).await.expect(200);
    let line = format!("daylight_stream_connections{{transport=\"{transport}\"}} ");
    metrics
        .body
        .as_str()
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(&line))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_is_limited_and_counted_like_the_websocket_and_takes_no_server_key_in_its_url() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.max_streams_per_key = 2;
        // Keep-alive comments at this interval notice a client that left.
        s.heartbeat_ms = 200;
    })
    .await;
    let client = app.sdk_key("production", "client").await;
    let server = app.sdk_key("production", "server").await;
    let url = format!("{}/ofrep/v1/event-stream", app.url);
    let http = reqwest::Client::new();
    // A server key never goes into a URL; in the header it may listen.
    let r = http.get(format!("{url}?key={server}")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = http.get(&url).bearer_auth(&server).send().await.unwrap();
    assert_eq!(r.status(), 200);
    drop(r);

    let open = |key: String| {
        let (http, url) = (http.clone(), url.clone());
        async move { http.get(format!("{url}?key={key}")).send().await.unwrap() }
    };
    let first = open(client.clone()).await;
    let second = open(client.clone()).await;
    assert_eq!((first.status().as_u16(), second.status().as_u16()), (200, 200));
    assert!(open_streams(&app, "sse").await >= 2.0, "event streams are counted");
    let third = open(client.clone()).await;
    assert_eq!(third.status(), 429, "the key has two streams open");
    assert!(third.headers().contains_key("retry-after"));
    // The WebSocket shares the key's slots.
    let refused = app
        .try_stream(&[("authorization", &format!("Bearer {client}"))])
        .await
        .err()
        .expect("over the limit");
    assert_eq!(refused.status.as_u16(), 429);
    // Closing one frees its slot.
    drop(first);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while open(client.clone()).await.status() != 200 {
        assert!(tokio::time::Instant::now() < deadline, "the slot was not freed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_websocket_messages_end_the_connection() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.max_ws_message_bytes = 4096).await;
    let key = app.sdk_key("production", "client").await;
    let mut s = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": key, "context": { "key": "u" } }))
        .await;
    assert_eq!(s.next().await["type"], "welcome");
    assert_eq!(s.next().await["type"], "values");
    // Under the limit: answered.
    s.send(json!({ "type": "identify", "context": { "key": "u2", "pad": "x".repeat(3000) } }))
        .await;
    assert_eq!(s.next().await["type"], "values");
    // Over it: an `error` message, then the connection ends (a close, not a reset).
    s.send(json!({ "type": "identify", "context": { "key": "u3", "pad": "x".repeat(5000) } }))
        .await;
    let error = s.next_or_closed().await.expect("an error message");
    assert_eq!(error["code"], "too_large", "{error}");
    assert!(
        s.next_or_closed().await.is_none(),
        "an oversized message closes the stream"
    );
    // Also for a hello.
    let mut big = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": key, "context": { "pad": "x".repeat(5000) } }))
        .await;
    assert_eq!(
        big.next_or_closed().await.expect("an error message")["code"],
        "too_large"
    );
    assert!(big.next_or_closed().await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allowed_origins_may_open_browser_streams_and_use_ofrep_cors() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.allowed_origins = vec!["https://app.example.com".into(), "http://localhost:3000".into()]
    })
    .await;
    app.create_flag(json!({ "key": "public", "client_side": true })).await;
    let key = app.sdk_key("production", "client").await;
    let refused = app
        .try_stream(&[("origin", "https://evil.example.net")])
        .await
        .err()
        .expect("another origin is refused");
    assert_eq!(refused.status.as_u16(), 403);
    assert_eq!(refused.body["error"], "forbidden");
    let mut s = app
        .try_stream(&[("origin", "https://app.example.com")])
        .await
        .ok()
        .expect("an allowed origin");
    s.send(json!({ "type": "hello", "protocols": [1], "key": key, "context": { "key": "u" } }))
        .await;
    assert_eq!(s.next().await["type"], "welcome");
    // Server SDKs send no Origin.
    let server_key = app.sdk_key("production", "server").await;
    assert_eq!(app.stream(hello(&server_key)).await.next().await["type"], "welcome");

    // OFREP CORS answers the same list.
    let ok = app.preflight("/ofrep/v1/evaluate/flags", "http://localhost:3000").await;
    assert_eq!(ok.headers["access-control-allow-origin"], "http://localhost:3000");
    let other = app
        .preflight("/ofrep/v1/evaluate/flags", "https://evil.example.net")
        .await;
    assert!(other.headers.get("access-control-allow-origin").is_none());
    let answer = app
        .ofrep_with(
            &key,
            None,
            json!({ "context": {} }),
            &[("origin", "https://app.example.com")],
        )
        .await
        .expect(200);
    assert_eq!(answer.headers["access-control-allow-origin"], "https://app.example.com");
}

on_each_backend!(
    a_client_key_never_reads_rules_server_only_flags_or_another_environment,
    |app| {
        app.create_flag(json!({ "key": "public", "client_side": true })).await;
        app.create_flag(json!({ "key": "server-only" })).await;
        app.edit_config("public", "production", |c| {
        c["on"] = json!(true);
        c["rules"] = json!([{ "id": "secret-rule", "clauses": [{ "attribute": "email", "op": "ends_with", "values": ["@internal.example"] }], "serve": { "variation": 1 } }]);
        c["fallthrough"] = json!({ "variation": 1 });
    })
    .await
    .expect(200);
        app.toggle("server-only", "production", true).await.expect(200);
        let client = app.sdk_key("production", "client").await;
        let staging_client = app.sdk_key("staging", "client").await;

        // REST: rules and the change log are for server keys.
        for path in ["/sdk/v1/ruleset", "/sdk/v1/changes?after=0"] {
            let r = app
                .request(Method::GET, path, Some(&client), None, &[])
                .await
                .expect(403);
            assert_eq!(r.body["error"], "forbidden");
        }
        // OFREP: values only, of client_side flags only, of the key's environment.
        let single = app
            .ofrep(&client, Some("public"), json!({ "context": { "targetingKey": "u" } }))
            .await
            .expect(200);
        assert!(!single.body.to_string().contains("internal.example"), "{}", single.body);
        app.ofrep(&client, Some("server-only"), json!({ "context": {} }))
            .await
            .expect(404);
        let bulk = app
            .ofrep(&client, None, json!({ "context": { "targetingKey": "u" } }))
            .await
            .expect(200);
        let keys: Vec<&str> = bulk.body["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, ["public"]);
        assert!(!bulk.body.to_string().contains("internal.example"));
        let staging = app
            .ofrep(
                &staging_client,
                Some("public"),
                json!({ "context": { "targetingKey": "u" } }),
            )
            .await
            .expect(200);
        assert_eq!(
            staging.body["value"], false,
            "staging's own config (off), not production's"
        );

        // Stream: evaluated values of client_side flags, never rules.
        let mut s = app
            .stream(
                json!({ "type": "hello", "protocols": [1], "key": client, "context": { "key": "u" }, "version": 0 }),
            )
            .await;
        assert_eq!(s.next().await["kind"], "client");
        let values = s.next().await;
        assert_eq!(values["type"], "values");
        let text = values.to_string();
        assert!(!text.contains("server-only") && !text.contains("internal.example") && !text.contains("clauses"));
        // A later change to the server-only flag or the rules' text never leaks.
        app.edit_config("server-only", "production", |c| {
            c["fallthrough"] = json!({ "variation": 1 })
        })
        .await
        .expect(200);
        // The next frame is the one a later change of `public` sends: the
        // change above sent nothing before it.
        app.toggle("public", "production", false).await.expect(200);
        let changed = s.next().await;
        assert_eq!(changed["type"], "changed", "{changed}");
        let flags: Vec<&String> = changed["flags"].as_object().unwrap().keys().collect();
        assert_eq!(flags, ["public"], "{changed}");
        assert_eq!(changed["flags"]["public"]["value"], false);
        assert!(!changed.to_string().contains("internal.example"), "{changed}");
        let mut staging_stream = app
            .stream(json!({ "type": "hello", "protocols": [1], "key": staging_client, "context": { "key": "u" } }))
            .await;
        assert_eq!(staging_stream.next().await["environment"], "staging");
        assert_eq!(staging_stream.next().await["flags"]["public"]["value"], false);
    }
);

on_each_backend!(a_viewer_cannot_write_anything, |app| {
    app.create_flag(json!({ "key": "f" })).await;
    app.post("/api/v1/environments/production/segments", json!({ "key": "s" }))
        .await
        .expect(201);
    let viewer = app.token("viewer").await;
    let writes: Vec<(Method, &str, Value)> = vec![
        (Method::POST, "/api/v1/flags", json!({ "key": "g" })),
        (Method::PATCH, "/api/v1/flags/f", json!({ "name": "x" })),
        (Method::DELETE, "/api/v1/flags/f", Value::Null),
        (
            Method::PUT,
            "/api/v1/flags/f/environments/production",
            json!({ "on": true, "off_variation": 0, "fallthrough": { "variation": 0 } }),
        ),
        (
            Method::POST,
            "/api/v1/flags/f/environments/production/toggle",
            json!({ "on": true }),
        ),
        (
            Method::POST,
            "/api/v1/environments/production/segments",
            json!({ "key": "t" }),
        ),
        (
            Method::PATCH,
            "/api/v1/environments/production/segments/s",
            json!({ "name": "x" }),
        ),
        (
            Method::DELETE,
            "/api/v1/environments/production/segments/s",
            Value::Null,
        ),
        (
            Method::PUT,
            "/api/v1/environments/production/segments/s/included",
            json!({ "keys": ["u"] }),
        ),
        (Method::POST, "/api/v1/environments", json!({ "key": "eu" })),
        (
            Method::POST,
            "/api/v1/environments/production/keys",
            json!({ "kind": "server" }),
        ),
        (Method::DELETE, "/api/v1/environments/production/keys/1", Value::Null),
        (Method::POST, "/api/v1/tokens", json!({ "name": "x", "role": "viewer" })),
        (Method::DELETE, "/api/v1/tokens/1", Value::Null),
        (
            Method::POST,
            "/api/v1/environments/production/apps/web/publish",
            json!({ "version": "1.0.0" }),
        ),
    ];
    for (method, path, body) in writes {
        let body = (!body.is_null()).then_some(body);
        let r = app
            .request(method.clone(), path, Some(&viewer), body, &[("if-match", "\"1\"")])
            .await;
        assert_eq!(r.status.as_u16(), 403, "{method} {path}: {}", r.body);
        assert_eq!(r.body["error"], "forbidden");
    }
    // Nothing changed.
    assert_eq!(
        app.get("/api/v1/flags/f/environments/production").await.body["on"],
        false
    );
    app.get("/api/v1/environments/production/segments/s").await.expect(200);
});
