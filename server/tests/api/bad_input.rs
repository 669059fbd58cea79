//! Bad input gets a 4xx JSON error naming the field, and nothing is applied.

use reqwest::Method;
use serde_json::json;

use crate::harness::ADMIN;

on_each_backend!(bad_flag_documents_name_the_field_and_change_nothing, |app| {
    app.create_flag(json!({ "key": "f", "variations": ["a", "b", "c"] }))
        .await;
    let cases = [
        (
            json!({ "rules": [{ "clauses": [{ "attribute": "game", "op": "in", "values": ["x"] }], "serve": { "variation": 7 } }] }),
            "environments.staging.rules[0].serve.variation",
        ),
        (
            json!({ "rules": [{ "clauses": [{ "attribute": "game", "op": "matches", "values": ["ok", "(?<=x)y"] }], "serve": { "variation": 1 } }] }),
            "environments.staging.rules[0].clauses[0].values[1]",
        ),
        (
            json!({ "rules": [{ "clauses": [{ "attribute": "game", "op": "matches", "values": ["(?i)omaha"] }], "serve": { "variation": 1 } }] }),
            "environments.staging.rules[0].clauses[0].values[0]",
        ),
        (
            json!({ "fallthrough": { "rollout": { "variations": [{ "variation": 0, "weight": 50000 }, { "variation": 1, "weight": 40000 }] } } }),
            "environments.staging.fallthrough.rollout.variations",
        ),
        (
            json!({ "rules": [{ "clauses": [{ "attribute": "n", "op": "lt", "values": ["13"] }], "serve": { "variation": 1 } }] }),
            "environments.staging.rules[0].clauses[0].values[0]",
        ),
        (
            json!({ "rules": [{ "clauses": [{ "attribute": "v", "op": "semver_gt", "values": ["v1.2"] }], "serve": { "variation": 1 } }] }),
            "environments.staging.rules[0].clauses[0].values[0]",
        ),
        (
            json!({ "rules": [{ "clauses": [{ "attribute": "t", "op": "after", "values": ["yesterday"] }], "serve": { "variation": 1 } }] }),
            "environments.staging.rules[0].clauses[0].values[0]",
        ),
        (
            json!({ "rules": [{ "clauses": [{ "attribute": "g", "op": "sounds_like", "values": ["x"] }], "serve": { "variation": 1 } }] }),
            "environments.staging.rules[0].clauses[0].op",
        ),
        (
            json!({ "rules": [{ "clauses": [{ "op": "in_segment", "values": ["nope"] }], "serve": { "variation": 1 } }] }),
            "environments.staging.rules[0].clauses[0].values[0]",
        ),
        (
            json!({ "targets": [{ "variation": 3, "values": ["u1"] }] }),
            "environments.staging.targets[0].variation",
        ),
        (json!({ "off_variation": null }), "environments.staging.off_variation"),
        (
            json!({ "rules": [{ "clauses": [], "serve": { "variation": 1 }, "colour": "red" }] }),
            "rules[0].colour",
        ),
        (
            json!({ "rules": [{ "clauses": [{ "attribute": "g", "op": "in", "values": "x" }], "serve": { "variation": 1 } }] }),
            "rules[0].clauses[0].values",
        ),
    ];
    let path = "/api/v1/flags/f/environments/staging";
    for (patch, field) in cases {
        let current = app.get(path).await.expect(200);
        let mut config = current.body.clone();
        for (k, v) in patch.as_object().unwrap() {
            config[k] = v.clone();
        }
        app.put_if_match(path, &current.etag(), config)
            .await
            .expect_field_error(400, field);
        let after = app.get(path).await.expect(200);
        assert_eq!(
            after.etag(),
            current.etag(),
            "a refused write changed the flag ({field})"
        );
        assert_eq!(after.body, current.body);
    }
    // Shared fields: mixed variation types, unknown fields, wrong types.
    app.post("/api/v1/flags", json!({ "key": "g", "variations": [true, "x"] }))
        .await
        .expect_field_error(400, "variations[1]");
    app.post("/api/v1/flags", json!({ "key": "g", "colour": 1 }))
        .await
        .expect_field_error(400, "colour");
    app.post("/api/v1/flags", json!({ "key": "g", "tags": "x" }))
        .await
        .expect_field_error(400, "tags");
    app.post("/api/v1/flags", json!({ "key": "bad key!" }))
        .await
        .expect_field_error(400, "key");
    app.get("/api/v1/flags/g").await.expect(404);
});

on_each_backend!(malformed_bodies_get_clear_errors, |app| {
    let r = app
        .raw(Method::POST, "/api/v1/flags", ADMIN, "application/json", "{\"key\": ")
        .await
        .expect(400);
    assert_eq!(r.body["error"], "malformed_json");
    let r = app
        .raw(Method::POST, "/api/v1/flags", ADMIN, "text/plain", "{}")
        .await
        .expect(400);
    assert_eq!(r.body["error"], "unsupported_media_type");
    // Over the body limit, answered from the declared length (a client
    // still sending the body could see the connection closed under it).
    let answer = app.post_head_only("/api/v1/flags", ADMIN, 9 * 1024 * 1024).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#""error":"too_large""#), "{answer}");
    let r = app.get("/api/v1/tokens/not-a-number").await;
    assert!(r.status.is_client_error());
    assert!(
        r.body["error"].is_string(),
        "framework rejections are JSON too: {}",
        r.body
    );
    let r = app.get("/api/v1/nothing-here").await.expect(404);
    assert_eq!(r.body["error"], "not_found");
    let r = app.get("/api/v1/audit?limit=abc").await.expect(400);
    assert!(r.body["message"].is_string());
});
