use reqwest::Method;
use serde_json::json;

use crate::harness::ADMIN;

on_each_backend!(a_new_flag_ships_dark_in_every_environment, |app| {
    let flag = app.create_flag(json!({ "key": "new-lobby", "tags": ["lobby"] })).await;
    assert_eq!(flag["version"], 1);
    assert_eq!(flag["name"], "new-lobby");
    for env in ["production", "staging"] {
        let config = app
            .get(&format!("/api/v1/flags/new-lobby/environments/{env}"))
            .await
            .expect(200);
        assert_eq!(config.body["on"], false, "{env}");
        assert_eq!(config.etag(), "\"1\"");
    }
    app.post("/api/v1/flags", json!({ "key": "new-lobby" }))
        .await
        .expect(409);
    let listed = app.get("/api/v1/flags?tag=lobby").await.expect(200);
    assert_eq!(listed.body["flags"].as_array().unwrap().len(), 1);
    let none = app.get("/api/v1/flags?tag=other").await.expect(200);
    assert_eq!(none.body["flags"].as_array().unwrap().len(), 0);
    let searched = app.get("/api/v1/flags?q=LOBBY").await.expect(200);
    assert_eq!(searched.body["flags"].as_array().unwrap().len(), 1);
});

on_each_backend!(toggles_rules_and_rollouts_change_evaluation, |app| {
    app.create_flag(json!({ "key": "new-lobby" })).await;
    app.edit_config("new-lobby", "staging", |c| {
        c["rules"] = json!([{ "id": "omaha", "clauses": [{ "attribute": "game", "op": "in", "values": ["omaha"], "case_insensitive": true }], "serve": { "variation": 1 } }]);
        c["fallthrough"] = json!({ "rollout": { "bucket_by": "table_id", "variations": [{ "variation": 0, "weight": 75000 }, { "variation": 1, "weight": 25000 }] } });
    })
    .await
    .expect(200);
    let explain = |ctx: serde_json::Value| {
        let app = &app;
        async move {
            app.post(
                "/api/v1/flags/new-lobby/environments/staging/evaluate",
                json!({ "context": ctx }),
            )
            .await
            .expect(200)
            .body
        }
    };
    assert_eq!(
        explain(json!({ "key": "p1", "game": "Omaha" })).await["reason"]["kind"],
        "OFF"
    );
    app.toggle("new-lobby", "staging", true).await.expect(200);
    let hit = explain(json!({ "key": "p1", "game": "Omaha" })).await;
    assert_eq!(hit["value"], true);
    assert_eq!(hit["reason"]["rule_id"], "omaha");
    // The rollout buckets by table: every player at one table gets one answer.
    let table = |id: i64| explain(json!({ "key": format!("p{id}"), "game": "poker", "table_id": 1017 }));
    let first = table(1).await["value"].clone();
    for id in 2..6 {
        assert_eq!(table(id).await["value"], first);
    }
    // Production is untouched.
    let prod = app
        .get("/api/v1/flags/new-lobby/environments/production")
        .await
        .expect(200);
    assert_eq!(prod.body["on"], false);
    assert_eq!(prod.body["rules"], json!([]));
});

on_each_backend!(stale_writes_get_409_and_never_lose_an_update, |app| {
    app.create_flag(json!({ "key": "f" })).await;
    let path = "/api/v1/flags/f/environments/staging";
    let read = app.get(path).await.expect(200);
    let etag = read.etag();
    // Two editors start from the same version; exactly one wins.
    let mut a = read.body.clone();
    a["fallthrough"] = json!({ "variation": 1 });
    let mut b = read.body.clone();
    b["off_variation"] = json!(1);
    let (ra, rb) = tokio::join!(app.put_if_match(path, &etag, a), app.put_if_match(path, &etag, b));
    let mut statuses = [ra.status.as_u16(), rb.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "bodies: {} / {}", ra.body, rb.body);
    // The loser's change is not there; the winner's is.
    let now = app.get(path).await.expect(200).body;
    let a_won = ra.status.as_u16() == 200;
    assert_eq!(now["fallthrough"]["variation"], if a_won { 1 } else { 0 });
    assert_eq!(now["off_variation"], if a_won { 0 } else { 1 });
    // A replacing write must say what it replaces.
    app.request(Method::PUT, path, Some(ADMIN), Some(now.clone()), &[])
        .await
        .expect(428);
    app.request(
        Method::PATCH,
        "/api/v1/flags/f",
        Some(ADMIN),
        Some(json!({ "name": "x" })),
        &[("if-match", "\"99\"")],
    )
    .await
    .expect(409);
});

on_each_backend!(archive_and_delete, |app| {
    app.create_flag(json!({ "key": "old" })).await;
    let flag = app.get("/api/v1/flags/old").await.expect(200);
    let etag = flag.etag();
    app.request(
        Method::PATCH,
        "/api/v1/flags/old",
        Some(ADMIN),
        Some(json!({ "archived": true })),
        &[("if-match", &etag)],
    )
    .await
    .expect(200);
    assert_eq!(
        app.get("/api/v1/flags").await.body["flags"].as_array().unwrap().len(),
        0
    );
    assert_eq!(
        app.get("/api/v1/flags?archived=true").await.body["flags"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let explained = app
        .post(
            "/api/v1/flags/old/environments/staging/evaluate",
            json!({ "context": { "key": "k" } }),
        )
        .await;
    assert_eq!(explained.body["reason"]["error_kind"], "FLAG_NOT_FOUND");
    app.request(Method::DELETE, "/api/v1/flags/old", Some(ADMIN), None, &[])
        .await
        .expect(204);
    app.get("/api/v1/flags/old").await.expect(404);
});

on_each_backend!(prerequisites_are_checked_across_flags, |app| {
    app.create_flag(json!({ "key": "parent" })).await;
    app.create_flag(json!({ "key": "child" })).await;
    app.edit_config("child", "staging", |c| {
        c["prerequisites"] = json!([{ "flag": "nope", "variation": 1 }])
    })
    .await
    .expect_field_error(400, "environments.staging.prerequisites[0].flag");
    app.edit_config("child", "staging", |c| {
        c["prerequisites"] = json!([{ "flag": "parent", "variation": 1 }])
    })
    .await
    .expect(200);
    app.edit_config("parent", "staging", |c| {
        c["prerequisites"] = json!([{ "flag": "child", "variation": 1 }])
    })
    .await
    .expect(400);
    app.request(Method::DELETE, "/api/v1/flags/parent", Some(ADMIN), None, &[])
        .await
        .expect(409);
});

on_each_backend!(every_write_is_audited_and_logged_in_order, |app| {
    app.create_flag(json!({ "key": "f" })).await;
    app.request(
        Method::POST,
        "/api/v1/flags/f/environments/production/toggle",
        Some(ADMIN),
        Some(json!({ "on": true, "comment": "kill switch test" })),
        &[],
    )
    .await
    .expect(200);
    let audit = app
        .get("/api/v1/audit?resource_kind=flag&resource_key=f")
        .await
        .expect(200)
        .body;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["action"], "flag.on");
    assert_eq!(entries[0]["comment"], "kill switch test");
    assert_eq!(entries[0]["actor"], "token:bootstrap");
    assert_eq!(entries[0]["environment"], "production");
    assert_eq!(entries[0]["before"]["environments"]["production"]["on"], false);
    assert_eq!(entries[0]["after"]["environments"]["production"]["on"], true);
    assert_eq!(entries[1]["action"], "flag.create");
    // The change log of production: create, then the toggle, without gaps.
    let key = app.sdk_key("production", "server").await;
    let changes = app
        .request(Method::GET, "/sdk/v1/changes?after=0", Some(&key), None, &[])
        .await
        .expect(200)
        .body;
    let versions: Vec<i64> = changes["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, vec![1, 2]);
    assert_eq!(changes["changes"][1]["doc"]["on"], true);
    let snapshot = app
        .request(Method::GET, "/sdk/v1/ruleset", Some(&key), None, &[])
        .await
        .expect(200)
        .body;
    assert_eq!(snapshot["version"], 2);
    assert_eq!(snapshot["flags"]["f"]["on"], true);
});

on_each_backend!(health_readiness_and_metrics, |app| {
    app.request(Method::GET, "/healthz", None, None, &[]).await.expect(200);
    app.request(Method::GET, "/readyz", None, None, &[]).await.expect(200);
    app.get("/api/v1/flags").await.expect(200);
    let metrics = app.request(Method::GET, "/metrics", None, None, &[]).await.expect(200);
    let text = metrics.body.as_str().unwrap_or_default().to_owned();
    assert!(text.contains("daylight_http_requests_total"), "metrics: {text}");
    assert!(
        text.contains(r#"daylight_http_request_duration_seconds_bucket{route="/api/v1/flags",le="0.005"}"#),
        "request latency is a histogram with buckets: {text}"
    );
    let any = app.request(Method::GET, "/healthz", None, None, &[]).await;
    assert!(
        any.headers.contains_key("x-request-id"),
        "every response carries a request id"
    );
});
