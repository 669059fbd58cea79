//! OFREP for browsers: CORS, allowed origins, the event streams that tell
//! browsers to refetch and the hosts their URLs are built from.

use serde_json::json;

on_each_backend!(ofrep_cors_for_browsers, |app| {
    let r = app.preflight("/ofrep/v1/evaluate/flags", "https://app.example").await;
    assert!(r.status.is_success(), "preflight: {}", r.status);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    let client = app.sdk_key("production", "client").await;
    let r = app
        .ofrep_with(&client, None, json!({}), &[("origin", "https://app.example")])
        .await
        .expect(200);
    let exposed = r.headers["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(exposed.contains("etag"), "exposed: {exposed}");
});

on_each_backend!(ofrep_event_streams_tell_browsers_to_refetch, |app| {
    app.create_flag(json!({ "key": "banner", "client_side": true })).await;
    let client = app.sdk_key("production", "client").await;
    let server = app.sdk_key("production", "server").await;
    let bulk = app
        .ofrep(&client, None, json!({ "context": { "targetingKey": "u1" } }))
        .await
        .expect(200);
    let streams = bulk.body["eventStreams"]
        .as_array()
        .expect("eventStreams for client keys")
        .clone();
    assert_eq!(streams[0]["type"], "sse");
    let url = streams[0]["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&app.url), "{url}");
    // A server key never travels in a URL.
    let bulk = app.ofrep(&server, None, json!({})).await.expect(200);
    assert!(bulk.body.get("eventStreams").is_none());

    let resp = reqwest::get(&url).await.expect("the event stream opens");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut resp = resp;
    app.toggle("banner", "production", true).await.expect(200);
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !seen.contains("refetchEvaluation") {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .expect("a refetch notice within 5 s")
            .expect("bytes")
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        seen.contains("id: "),
        "events carry the environment version as id: {seen}"
    );
    // A wrong key is refused.
    let bad = reqwest::get(format!("{}/ofrep/v1/event-stream?key=nope", app.url))
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
});

/// With `DAYLIGHT_ALLOWED_ORIGINS` set, other origins get 403 (single, bulk,
/// and their preflights), as the README says; allowed origins and
/// requests without `Origin` (servers) are answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ofrep_refuses_origins_outside_the_allowed_list() {
    let app = crate::harness::spawn_app_with(crate::harness::Backend::Sqlite, |s| {
        s.allowed_origins = vec!["https://app.example".into()]
    })
    .await;
    app.create_flag(json!({ "key": "public", "client_side": true })).await;
    let client = app.sdk_key("production", "client").await;
    for (path, flag) in [
        ("/ofrep/v1/evaluate/flags", None),
        ("/ofrep/v1/evaluate/flags/public", Some("public")),
    ] {
        let refused = app.preflight(path, "https://evil.example").await.expect(403);
        assert!(refused.headers.get("access-control-allow-origin").is_none());
        let ok = app.preflight(path, "https://app.example").await;
        assert!(ok.status.is_success(), "{path}: {}", ok.status);
        assert_eq!(ok.headers["access-control-allow-origin"], "https://app.example");

        let evaluate = |origin: Option<&'static str>| {
            let (app, client) = (&app, &client);
            async move {
                let headers: Vec<(&str, &str)> = origin.map(|o| ("origin", o)).into_iter().collect();
                app.ofrep_with(client, flag, json!({}), &headers).await
            }
        };
        let refused = evaluate(Some("https://evil.example")).await.expect(403);
        assert_eq!(refused.body["error"], "forbidden", "{path}");
        assert!(refused.headers.get("access-control-allow-origin").is_none());
        let ok = evaluate(Some("https://app.example")).await.expect(200);
        assert_eq!(ok.headers["access-control-allow-origin"], "https://app.example");
        let exposed = ok.headers["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        assert!(exposed.contains("retry-after"), "exposed: {exposed}");
        evaluate(None).await.expect(200);
    }
}

/// `eventStreams.url` is built from `Host` and `X-Forwarded-Proto`: values a
/// browser could be handed a hostile URL from get no `eventStreams`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_stream_urls_come_only_from_a_valid_host_and_scheme() {
    let app = crate::harness::spawn_app(crate::harness::Backend::Sqlite).await;
    app.create_flag(json!({ "key": "banner", "client_side": true })).await;
    let client = app.sdk_key("production", "client").await;
    let streams = |headers: Vec<(&'static str, &'static str)>| {
        let (app, client) = (&app, &client);
        async move {
            let r = app.ofrep_with(client, None, json!({}), &headers).await.expect(200);
            r.body["eventStreams"][0]["url"].as_str().map(str::to_owned)
        }
    };
    let url = streams(vec![("x-forwarded-proto", "https"), ("host", "flags.example:8443")])
        .await
        .expect("a valid host and scheme");
    assert!(
        url.starts_with("https://flags.example:8443/ofrep/v1/event-stream?key="),
        "{url}"
    );
    for headers in [
        vec![("x-forwarded-proto", "javascript")],
        vec![("x-forwarded-proto", "javascript://evil.example/")],
        vec![("host", "evil.example/x?")],
        vec![("host", "user@evil.example")],
        vec![("host", "evil.example#")],
    ] {
        assert_eq!(streams(headers.clone()).await, None, "{headers:?}");
    }
}
