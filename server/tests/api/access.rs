//! Roles and credentials.

use reqwest::Method;
use serde_json::json;

on_each_backend!(roles_limit_what_a_token_may_do, |app| {
    app.create_flag(json!({ "key": "f" })).await;
    let viewer = app.token("viewer").await;
    let editor = app.token("editor").await;
    let req = |token: &str, method: Method, path: &str, body: Option<serde_json::Value>| {
        let app = &app;
        let (token, path) = (token.to_owned(), path.to_owned());
        async move { app.request(method, &path, Some(&token), body, &[]).await }
    };
    req(&viewer, Method::GET, "/api/v1/flags", None).await.expect(200);
    let r = req(
        &viewer,
        Method::POST,
        "/api/v1/flags/f/environments/staging/toggle",
        Some(json!({ "on": true })),
    )
    .await
    .expect(403);
    assert_eq!(r.body["error"], "forbidden");
    req(&viewer, Method::POST, "/api/v1/flags", Some(json!({ "key": "g" })))
        .await
        .expect(403);
    req(
        &editor,
        Method::POST,
        "/api/v1/flags/f/environments/staging/toggle",
        Some(json!({ "on": true })),
    )
    .await
    .expect(200);
    req(
        &editor,
        Method::POST,
        "/api/v1/tokens",
        Some(json!({ "name": "x", "role": "admin" })),
    )
    .await
    .expect(403);
    req(
        &editor,
        Method::POST,
        "/api/v1/environments/staging/keys",
        Some(json!({ "kind": "server" })),
    )
    .await
    .expect(403);
    let me = req(&editor, Method::GET, "/api/v1/me", None).await.expect(200);
    assert_eq!(me.body["role"], "editor");
    // No token, a wrong token, a revoked token.
    app.request(Method::GET, "/api/v1/flags", None, None, &[])
        .await
        .expect(401);
    req("dl_admin_wrong", Method::GET, "/api/v1/flags", None)
        .await
        .expect(401);
    let tokens = app.get("/api/v1/tokens").await.expect(200).body;
    let id = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "viewer")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert!(
        tokens
            .to_string()
            .find("dl_admin_")
            .is_none_or(|_| !tokens.to_string().contains(&viewer)),
        "secrets are never listed"
    );
    app.request(
        Method::DELETE,
        &format!("/api/v1/tokens/{id}"),
        Some(crate::harness::ADMIN),
        None,
        &[],
    )
    .await
    .expect(204);
    req(&viewer, Method::GET, "/api/v1/flags", None).await.expect(401);
    // An SDK key is not an admin token: valid, but of the wrong kind (403).
    let key = app.sdk_key("staging", "server").await;
    req(&key, Method::GET, "/api/v1/flags", None).await.expect(403);
});

on_each_backend!(environments_can_be_added, |app| {
    app.create_flag(json!({ "key": "f" })).await;
    app.post(
        "/api/v1/environments",
        json!({ "key": "eu-prod", "name": "EU production" }),
    )
    .await
    .expect(201);
    app.post("/api/v1/environments", json!({ "key": "eu-prod" }))
        .await
        .expect(409);
    app.post("/api/v1/environments", json!({ "key": "Bad Env" }))
        .await
        .expect_field_error(400, "key");
    // An existing flag is dark in the new environment and can be turned on there.
    let config = app.get("/api/v1/flags/f/environments/eu-prod").await.expect(200);
    assert_eq!(config.body["on"], false);
    app.toggle("f", "eu-prod", true).await.expect(200);
    let key = app.sdk_key("eu-prod", "server").await;
    let r = app
        .ofrep(&key, Some("f"), json!({ "context": { "targetingKey": "u" } }))
        .await
        .expect(200);
    assert_eq!(r.body["value"], false);
    assert_eq!(r.body["reason"], "DEFAULT");
});
