use reqwest::Method;
use serde_json::json;

use crate::harness::ADMIN;

on_each_backend!(a_100k_key_cohort_uploads_and_targets, |app| {
    app.post(
        "/api/v1/environments/production/segments",
        json!({ "key": "beta", "name": "Beta testers" }),
    )
    .await
    .expect(201);
    let keys: String = (0..100_000).map(|i| format!("user-{i}\n")).collect();
    let r = app
        .raw(
            Method::PUT,
            "/api/v1/environments/production/segments/beta/included",
            ADMIN,
            "text/plain",
            keys,
        )
        .await
        .expect(200);
    assert_eq!(r.body["included_count"], 100_000);
    app.create_flag(json!({ "key": "beta-feature" })).await;
    app.edit_config("beta-feature", "production", |c| {
        c["on"] = json!(true);
        c["rules"] = json!([{ "id": "beta", "clauses": [{ "op": "in_segment", "values": ["beta"] }], "serve": { "variation": 1 } }]);
    })
    .await
    .expect(200);
    let key = app.sdk_key("production", "server").await;
    let member = app
        .ofrep(
            &key,
            Some("beta-feature"),
            json!({ "context": { "targetingKey": "user-99999" } }),
        )
        .await
        .expect(200);
    assert_eq!(member.body["value"], true);
    let outsider = app
        .ofrep(
            &key,
            Some("beta-feature"),
            json!({ "context": { "targetingKey": "user-100000" } }),
        )
        .await
        .expect(200);
    assert_eq!(outsider.body["value"], false);
    // A segment in use cannot be deleted.
    app.request(
        Method::DELETE,
        "/api/v1/environments/production/segments/beta",
        Some(ADMIN),
        None,
        &[],
    )
    .await
    .expect(409);
    let listed = app.get("/api/v1/environments/production/segments").await.expect(200);
    assert_eq!(listed.body["segments"][0]["in_use"], true);
    assert_eq!(listed.body["segments"][0]["included_count"], 100_000);
});

on_each_backend!(segment_rules_and_exclusions, |app| {
    app.post(
        "/api/v1/environments/staging/segments",
        json!({ "key": "aussies", "included": ["vip"], "excluded": ["banned"], "rules": [{ "clauses": [{ "attribute": "country", "op": "in", "values": ["AU"] }] }] }),
    )
    .await
    .expect(201);
    app.post(
        "/api/v1/environments/staging/segments",
        json!({ "key": "bad", "rules": [{ "clauses": [{ "op": "in_segment", "values": ["aussies"] }] }] }),
    )
    .await
    .expect_field_error(400, "rules[0].clauses[0].op");
    app.create_flag(json!({ "key": "f" })).await;
    app.edit_config("f", "staging", |c| {
        c["on"] = json!(true);
        c["rules"] =
            json!([{ "clauses": [{ "op": "in_segment", "values": ["aussies"] }], "serve": { "variation": 1 } }]);
    })
    .await
    .expect(200);
    let key = app.sdk_key("staging", "server").await;
    let eval = |ctx: serde_json::Value| {
        let (app, key) = (&app, key.clone());
        async move {
            app.ofrep(&key, Some("f"), json!({ "context": ctx }))
                .await
                .expect(200)
                .body["value"]
                .clone()
        }
    };
    assert_eq!(eval(json!({ "targetingKey": "a", "country": "AU" })).await, true);
    assert_eq!(eval(json!({ "targetingKey": "banned", "country": "AU" })).await, false);
    assert_eq!(eval(json!({ "targetingKey": "vip", "country": "NZ" })).await, true);
    // Editing the segment changes evaluation at once; a stale edit is refused.
    let seg = app
        .get("/api/v1/environments/staging/segments/aussies")
        .await
        .expect(200);
    let etag = seg.etag();
    app.request(
        Method::PATCH,
        "/api/v1/environments/staging/segments/aussies",
        Some(ADMIN),
        Some(json!({ "excluded": [] })),
        &[("if-match", &etag)],
    )
    .await
    .expect(200);
    app.request(
        Method::PATCH,
        "/api/v1/environments/staging/segments/aussies",
        Some(ADMIN),
        Some(json!({ "excluded": ["x"] })),
        &[("if-match", &etag)],
    )
    .await
    .expect(409);
    assert_eq!(eval(json!({ "targetingKey": "banned", "country": "AU" })).await, true);
});
