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
