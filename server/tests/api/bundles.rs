//! Client-bundle version negotiation over the browser stream.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Stream, TestApp};

async fn browser(app: &TestApp, key: &str, ctx_key: &str, version: &str) -> Stream {
    let mut s = app
        .stream(json!({
            "type": "hello", "protocols": [1], "key": key, "context": { "key": ctx_key },
            "bundle": { "app": "web", "version": version }
        }))
        .await;
    assert_eq!(s.next().await["type"], "welcome");
    assert_eq!(s.next().await["type"], "values");
    s
}

on_each_backend!(a_publish_tells_stale_pages_to_reload, |app| {
    let publish = |body: serde_json::Value| {
        let app = &app;
        async move { app.post("/api/v1/environments/production/apps/web/publish", body).await }
    };
    publish(json!({ "version": "1.0.0" })).await.expect(200);
    let key = app.sdk_key("production", "client").await;
    let mut page = browser(&app, &key, "u1", "1.0.0").await;
    let answer = page.next().await;
    assert_eq!(answer["type"], "bundle");
    assert_eq!(answer["status"], "current");
    assert_eq!(answer["target"], "1.0.0");
    let status = app
        .get("/api/v1/environments/production/apps/web/status")
        .await
        .expect(200)
        .body;
    assert_eq!(status["clients"], json!([{ "version": "1.0.0", "connected": 1 }]));

    // A soft update, then a hard one.
    publish(json!({ "version": "1.0.1" })).await.expect(200);
    let soft = page.next().await;
    assert_eq!(soft["status"], "update_available");
    assert_eq!(soft["target"], "1.0.1");
    publish(json!({ "version": "1.0.2", "min_supported": "1.0.2" }))
        .await
        .expect(200);
    let hard = page.next().await;
    assert_eq!(hard["status"], "unsupported");
    assert_eq!(hard["target"], "1.0.2");
    assert!(hard["reload"]["jitter_ms"].as_u64().is_some());
    // The reloaded page announces the new version and is current.
    drop(page);
    let mut reloaded = browser(&app, &key, "u1", "1.0.2").await;
    assert_eq!(reloaded.next().await["status"], "current");

    // Bad input names the field; nothing changes.
    publish(json!({ "version": "1.0.3", "min_supported": "9.9.9" }))
        .await
        .expect_field_error(400, "min_supported");
    publish(json!({ "version": "", }))
        .await
        .expect_field_error(400, "version");
    publish(json!({ "version": "2.0.0", "canary_percent": 120 }))
        .await
        .expect_field_error(400, "canary_percent");
    let config = app
        .get("/api/v1/environments/production/apps/web/bundle")
        .await
        .expect(200)
        .body;
    assert_eq!(config["live"], "1.0.2");
    assert_eq!(config["min_supported"], "1.0.2");
    let audit = app.get("/api/v1/audit?resource_kind=bundle").await.expect(200).body;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 3);
});

on_each_backend!(a_canary_goes_to_the_contexts_the_formula_predicts, |app| {
    app.post(
        "/api/v1/environments/production/apps/web/publish",
        json!({ "version": "1.0.0" }),
    )
    .await
    .expect(200);
    app.post(
        "/api/v1/environments/production/apps/web/publish",
        json!({ "version": "1.1.0", "canary_percent": 50 }),
    )
    .await
    .expect(200);
    let key = app.sdk_key("production", "client").await;
    let mut on_canary = 0;
    for i in 0..20 {
        let ctx = format!("player-{i}");
        let mut page = browser(&app, &key, &ctx, "1.0.0").await;
        let answer = page.next().await;
        let predicted = daylight::bucket::bucket_of("web.bundle", &ctx) < 50_000;
        assert_eq!(answer["target"] == "1.1.0", predicted, "{ctx}: {answer}");
        assert_eq!(answer["status"], if predicted { "update_available" } else { "current" });
        on_canary += usize::from(predicted);
    }
    assert!((3..18).contains(&on_canary), "{on_canary} of 20");
    // A page outside the canary that already runs the canary version is
    // told to go back to the live one (what the console says before a publish).
    let outside = (0..)
        .map(|i| format!("player-{i}"))
        .find(|ctx| daylight::bucket::bucket_of("web.bundle", ctx) >= 50_000)
        .unwrap();
    let mut page = browser(&app, &key, &outside, "1.1.0").await;
    let answer = page.next().await;
    assert_eq!(
        (&answer["status"], &answer["target"]),
        (&json!("update_available"), &json!("1.0.0")),
        "{answer}"
    );
});

on_each_backend!(reload_notices_are_paced, |app| {
    app.post(
        "/api/v1/environments/production/apps/web/publish",
        json!({ "version": "1.0.0" }),
    )
    .await
    .expect(200);
    let config = app
        .get("/api/v1/environments/production/apps/web/bundle")
        .await
        .expect(200);
    let mut body = config.body.clone();
    body["reload"]["rate_per_second"] = json!(4);
    for field in ["app", "environment", "version"] {
        body.as_object_mut().unwrap().remove(field);
    }
    app.put_if_match("/api/v1/environments/production/apps/web/bundle", &config.etag(), body)
        .await
        .expect(200);
    let key = app.sdk_key("production", "client").await;
    let mut pages = Vec::new();
    for i in 0..10 {
        let mut page = browser(&app, &key, &format!("p{i}"), "1.0.0").await;
        assert_eq!(page.next().await["status"], "current");
        pages.push(page);
    }
    let start = Instant::now();
    app.post(
        "/api/v1/environments/production/apps/web/publish",
        json!({ "version": "1.0.1", "min_supported": "1.0.1" }),
    )
    .await
    .expect(200);
    let mut arrivals = Vec::new();
    for page in &mut pages {
        assert_eq!(page.next().await["status"], "unsupported");
        arrivals.push(start.elapsed());
    }
    arrivals.sort();
    // 4 per second with a burst of 4: ten notices need at least 1.5 s.
    let spread = arrivals[9];
    assert!(
        spread >= Duration::from_millis(1_300),
        "ten notices in {spread:?}: not paced"
    );
    eprintln!("ten reload notices at 4/s took {spread:?}");
});

async fn shop_clients(app: &TestApp) -> serde_json::Value {
    clients_of(app, "shop").await
}

/// The `daylight_bundle_clients` lines of `/metrics` for app `app`.
async fn bundle_gauges(app: &TestApp, name: &str) -> Vec<String> {
    let text = reqwest::get(format!("{}/metrics", app.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("daylight_bundle_clients{") && l.contains(&format!("app=\"{name}\"")))
        .map(str::to_owned)
        .collect()
}

// Issue 26, item 7: made-up `hello.bundle.version`s each became a gauge that
// outlived its connection (4,000 short connections: /metrics at 210 MB).
on_each_backend!(bundle_metrics_label_published_versions_only_and_drop_at_zero, |app| {
    app.post(
        "/api/v1/environments/production/apps/shop/publish",
        json!({ "version": "1.0.0" }),
    )
    .await
    .expect(200);
    let key = app.sdk_key("production", "client").await;
    let hello = |ctx: String, app_name: &str, version: String| {
        json!({
            "type": "hello", "protocols": [1], "key": key, "context": { "key": ctx },
            "bundle": { "app": app_name, "version": version }
        })
    };
    let mut pages = Vec::new();
    for i in 0..30 {
        let version = if i == 0 {
            "1.0.0".to_owned()
        } else {
            format!("made-up-{i}-{}", "x".repeat(200))
        };
        let mut s = app.stream(hello(format!("u{i}"), "shop", version)).await;
        assert_eq!(s.next().await["type"], "welcome");
        pages.push(s);
    }
    // An app without bundle settings is not counted at all.
    let mut unknown = app.stream(hello("v".into(), "nowhere", "1.0.0".into())).await;
    assert_eq!(unknown.next().await["type"], "welcome");
    let deadline = Instant::now() + Duration::from_secs(10);
    while shop_clients(&app).await
        != json!([{ "version": "1.0.0", "connected": 1 }, { "version": "other", "connected": 29 }])
    {
        assert!(Instant::now() < deadline, "presence: {}", shop_clients(&app).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut gauges = bundle_gauges(&app, "shop").await;
    gauges.sort();
    assert_eq!(
        gauges,
        vec![
            "daylight_bundle_clients{environment=\"production\",app=\"shop\",version=\"1.0.0\"} 1".to_owned(),
            "daylight_bundle_clients{environment=\"production\",app=\"shop\",version=\"other\"} 29".to_owned(),
        ]
    );
    assert!(bundle_gauges(&app, "nowhere").await.is_empty());
    // Every page leaves: no series is left behind.
    drop(pages);
    drop(unknown);
    while shop_clients(&app).await != json!([]) {
        assert!(Instant::now() < deadline, "presence: {}", shop_clients(&app).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(bundle_gauges(&app, "shop").await, Vec::<String>::new());
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_metrics_token_when_one_is_set() {
    let backend = crate::harness::Backend::Sqlite;
    let app = crate::harness::spawn_app_with(backend, |s| s.metrics_token = Some("metrics-secret-1".into())).await;
    let http = reqwest::Client::new();
    let url = format!("{}/metrics", app.url);
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    for wrong in [
        "Bearer metrics-secret-2",
        "Bearer metrics-secret-1x",
        "metrics-secret-1",
        "Bearer ",
    ] {
        let r = http.get(&url).header("authorization", wrong).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{wrong}");
    }
    let r = http
        .get(&url)
        .header("authorization", "Bearer metrics-secret-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("# TYPE"));
    // Without the setting /metrics stays open (the default).
    let open = crate::harness::spawn_app(backend).await;
    let r = reqwest::get(format!("{}/metrics", open.url)).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// The browsers of `app` in production as `node`'s status API counts them.
async fn clients_of(node: &TestApp, app: &str) -> serde_json::Value {
    node.get(&format!("/api/v1/environments/production/apps/{app}/status"))
        .await
        .expect(200)
        .body["clients"]
        .clone()
}

/// Polls `node`'s status until its counts are `expected` (each node writes
/// its counts within about a second).
async fn wait_for_clients(node: &TestApp, expected: serde_json::Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = clients_of(node, "web").await;
        if now == expected {
            return;
        }
        assert!(Instant::now() < deadline, "{} counts {now}, not {expected}", node.url);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Each node's status counts the browsers connected to every node, and a
/// node that stops no longer counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connected_browsers_add_up_across_nodes() {
    if !crate::harness::services_available() {
        return;
    }
    let redis = std::env::var("DAYLIGHT_TEST_REDIS_URL").unwrap();
    let channel = format!("daylight-test:{:x}", rand::random::<u64>());
    let mut nodes = crate::harness::spawn_nodes(2, |s| {
        s.redis_url = Some(redis.clone());
        s.redis_channel = channel.clone();
    })
    .await;
    let (a, b) = (&nodes[0], &nodes[1]);
    a.post(
        "/api/v1/environments/production/apps/web/publish",
        json!({ "version": "1.0.0" }),
    )
    .await
    .expect(200);
    let key = a.sdk_key("production", "client").await;
    let mut on_a = browser(a, &key, "u1", "1.0.0").await;
    assert_eq!(on_a.next().await["status"], "current");
    // A page on b is counted once b has the bundle settings (from Redis).
    let deadline = Instant::now() + Duration::from_secs(10);
    let on_b = loop {
        let mut page = browser(b, &key, "u2", "1.0.0").await;
        if page.next().await["target"] == "1.0.0" {
            break page;
        }
        assert!(Instant::now() < deadline, "b never learned of the bundle");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut old_on_b = browser(b, &key, "u3", "0.9.0").await;
    assert_eq!(old_on_b.next().await["type"], "bundle");
    let both = json!([{ "version": "1.0.0", "connected": 2 }, { "version": "other", "connected": 1 }]);
    wait_for_clients(a, both.clone()).await;
    wait_for_clients(b, both).await;

    // b stops (its pages are told to move): a counts its own browser only.
    nodes[1].stop();
    wait_for_clients(&nodes[0], json!([{ "version": "1.0.0", "connected": 1 }])).await;
    drop((on_a, on_b, old_on_b));
}

/// Stored counts: the other nodes' fresh rows add up; a node that stopped
/// refreshing its rows stops counting after `FRESH_MS`, and the clean-up
/// removes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_browser_counts_expire_when_a_node_stops_refreshing() {
    use daylight_server::db::Db;
    use daylight_server::store::presence::{self, FRESH_MS};
    for backend in crate::harness::backends() {
        let app = crate::harness::spawn_app(backend).await;
        let db = Db::connect(&app.database_url).await.unwrap();
        let t = 1_800_000_000_000;
        let count = |version: &str, n: i64| (("production".to_owned(), "web".to_owned(), version.to_owned()), n);
        presence::replace(&db, "n1", &[count("1.0.0", 2), count("other", 1)], t)
            .await
            .unwrap();
        presence::replace(&db, "n2", &[count("1.0.0", 3)], t).await.unwrap();
        let seen = |from: &'static str, at: i64| {
            let db = db.clone();
            async move { presence::others(&db, from, "production", "web", at).await.unwrap() }
        };
        assert_eq!(
            seen("me", t + 1).await,
            [("1.0.0".to_owned(), 5), ("other".to_owned(), 1)]
        );
        // A node's own rows are not added to its live counts twice.
        assert_eq!(seen("n1", t + 1).await, [("1.0.0".to_owned(), 3)]);
        // n2 keeps refreshing, n1 stopped: after FRESH_MS only n2 counts.
        presence::refresh(&db, "n2", t + FRESH_MS - 1).await.unwrap();
        assert_eq!(seen("me", t + FRESH_MS).await, [("1.0.0".to_owned(), 3)]);
        // A node's new counts replace its old ones.
        presence::replace(&db, "n2", &[count("1.0.1", 4)], t + FRESH_MS)
            .await
            .unwrap();
        assert_eq!(seen("me", t + FRESH_MS).await, [("1.0.1".to_owned(), 4)]);
        presence::forget_stale(&db, t + FRESH_MS).await.unwrap();
        presence::refresh(&db, "n1", t + FRESH_MS).await.unwrap();
        assert_eq!(
            seen("me", t + FRESH_MS).await,
            [("1.0.1".to_owned(), 4)],
            "n1's rows are gone"
        );
        presence::forget(&db, "n2").await.unwrap();
        assert!(seen("me", t + FRESH_MS).await.is_empty());
    }
}
