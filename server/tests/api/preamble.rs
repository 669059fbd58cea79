//! The order in which an admin write refuses a request (`http::extract::
//! Editing`): credentials (401), the path and a malformed `If-Match` (400),
//! the body (400), the role (403), a missing `If-Match` (428), an unknown
//! environment (404). Pinned because a client sees only the first answer.

use reqwest::Method;
use serde_json::json;

use crate::harness::ADMIN;

on_each_backend!(an_admin_write_refuses_in_a_fixed_order, |app| {
    app.create_flag(json!({ "key": "f" })).await;
    let viewer = app.token("viewer").await;
    let editor = app.token("editor").await;
    let config = app.get("/api/v1/flags/f/environments/staging").await.expect(200).body;
    let put = |token: Option<String>,
               path: &'static str,
               body: serde_json::Value,
               headers: Vec<(&'static str, &'static str)>| {
        let app = &app;
        async move {
            app.request(Method::PUT, path, token.as_deref(), Some(body), &headers)
                .await
        }
    };
    let malformed = json!("not a config");
    // No credentials come first, even before a path that does not parse.
    app.request(Method::POST, "/api/v1/releases/abc/start", None, None, &[])
        .await
        .expect(401);
    app.request(Method::POST, "/api/v1/releases/abc/start", Some(&editor), None, &[])
        .await
        .expect(400);
    // A malformed If-Match and a malformed body: 400, even for a viewer.
    let r = put(
        Some(viewer.clone()),
        "/api/v1/flags/f/environments/staging",
        config.clone(),
        vec![("if-match", "seven")],
    )
    .await
    .expect(400);
    assert_eq!(r.body["field"], "If-Match");
    put(
        Some(viewer.clone()),
        "/api/v1/flags/f/environments/staging",
        malformed.clone(),
        vec![],
    )
    .await
    .expect(400);
    // Then the role, before If-Match is required and the environment looked up.
    put(
        Some(viewer.clone()),
        "/api/v1/flags/f/environments/nowhere",
        config.clone(),
        vec![],
    )
    .await
    .expect(403);
    put(
        Some(editor.clone()),
        "/api/v1/flags/f/environments/nowhere",
        config.clone(),
        vec![],
    )
    .await
    .expect(428);
    let r = put(
        Some(editor.clone()),
        "/api/v1/flags/f/environments/nowhere",
        config.clone(),
        vec![("if-match", "\"1\"")],
    )
    .await
    .expect(404);
    assert_eq!(r.body["error"], "not_found");
    // A toggle needs no If-Match, only the environment.
    app.request(
        Method::POST,
        "/api/v1/flags/f/environments/nowhere/toggle",
        Some(&editor),
        Some(json!({ "on": true })),
        &[],
    )
    .await
    .expect(404);
    // Environments are for admins.
    app.request(
        Method::POST,
        "/api/v1/environments",
        Some(&editor),
        Some(json!({ "key": "qa" })),
        &[],
    )
    .await
    .expect(403);
    // A segment's key list is read after the role check.
    app.post("/api/v1/environments/staging/segments", json!({ "key": "s" }))
        .await
        .expect(201);
    let r = app
        .raw(
            Method::PUT,
            "/api/v1/environments/staging/segments/s/included",
            &viewer,
            "application/json",
            "[not json",
        )
        .await;
    assert_eq!(r.status.as_u16(), 403, "{}", r.body);
});

on_each_backend!(the_audit_log_records_the_comment_each_write_gives, |app| {
    app.create_flag(json!({ "key": "f" })).await;
    let last = |key: &'static str| {
        let app = &app;
        async move {
            app.get(&format!("/api/v1/audit?resource_key={key}&limit=1"))
                .await
                .expect(200)
                .body["entries"][0]
                .clone()
        }
    };
    // A toggle's own comment wins over the header's.
    let comment = [("x-audit-comment", "from the header")];
    let toggle = "/api/v1/flags/f/environments/staging/toggle";
    app.request(Method::POST, toggle, Some(ADMIN), Some(json!({ "on": true })), &comment)
        .await
        .expect(200);
    let entry = last("f").await;
    assert_eq!(entry["comment"], "from the header");
    assert_eq!(entry["actor"], "token:bootstrap");
    app.request(
        Method::POST,
        toggle,
        Some(ADMIN),
        Some(json!({ "on": false, "comment": "from the body" })),
        &comment,
    )
    .await
    .expect(200);
    assert_eq!(last("f").await["comment"], "from the body");
    // A new environment records none.
    app.request(
        Method::POST,
        "/api/v1/environments",
        Some(ADMIN),
        Some(json!({ "key": "qa" })),
        &comment,
    )
    .await
    .expect(201);
    assert_eq!(last("qa").await["comment"], "");
});
