//! Change requests: where an environment requires approvals, a flag's config
//! changes only through an approved request, onto the version it was
//! proposed against, once; the kill switch goes straight through.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{Reply, TestApp};

async fn editor(app: &TestApp, name: &str) -> String {
    app.post("/api/v1/tokens", json!({ "name": name, "role": "editor" }))
        .await
        .expect(201)
        .body["secret"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn call(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
    app.request(method, path, Some(token), body, &[]).await
}

fn config_on(on: bool) -> Value {
    json!({ "on": on, "off_variation": 0, "fallthrough": { "variation": 1 } })
}

on_each_backend!(changes_to_production_need_another_persons_approval, |app| {
    app.create_flag(json!({ "key": "f" })).await;
    app.toggle("f", "production", true).await.expect(200);
    app.request(
        Method::PUT,
        "/api/v1/environments/production/approvals",
        Some(crate::harness::ADMIN),
        Some(json!({ "required": 1 })),
        &[],
    )
    .await
    .expect(200);
    let (ana, bo) = (editor(&app, "ana").await, editor(&app, "bo").await);

    // Direct changes are refused and say how to proceed; the kill switch
    // goes straight through, marked; staging needs no approval.
    let refused = call(
        &app,
        &ana,
        Method::POST,
        "/api/v1/flags/f/environments/production/toggle",
        Some(json!({ "on": false, "comment": "incident" })),
    )
    .await
    .expect(200);
    assert_eq!(refused.body["on"], false);
    let audit = app.get("/api/v1/audit?resource_key=f").await.body;
    assert_eq!(audit["entries"][0]["kill_switch"], true, "{audit}");
    let refused = call(
        &app,
        &ana,
        Method::POST,
        "/api/v1/flags/f/environments/production/toggle",
        Some(json!({ "on": true })),
    )
    .await
    .expect(409);
    assert_eq!(refused.body["error"], "approval_required");
    assert!(refused.body["message"].as_str().unwrap().contains("change request"));
    call(
        &app,
        &ana,
        Method::POST,
        "/api/v1/flags/f/environments/staging/toggle",
        Some(json!({ "on": true })),
    )
    .await
    .expect(200);

    // Ana proposes turning it back on; she cannot approve it herself, and
    // it cannot apply without an approval.
    let opened = call(
        &app,
        &ana,
        Method::POST,
        "/api/v1/change-requests",
        Some(json!({
        "flag": "f", "environment": "production", "config": config_on(true), "comment": "incident over" })),
    )
    .await
    .expect(201)
    .body;
    let id = opened["id"].as_i64().unwrap();
    assert_eq!(opened["state"], "open");
    assert_eq!(opened["author"], "token:ana");
    let path = format!("/api/v1/change-requests/{id}");
    call(
        &app,
        &ana,
        Method::POST,
        &format!("{path}/reviews"),
        Some(json!({ "verdict": "approve" })),
    )
    .await
    .expect(403);
    call(&app, &ana, Method::POST, &format!("{path}/apply"), None)
        .await
        .expect(409);

    // Bo approves; then Ana edits the request, which voids the approval.
    call(
        &app,
        &bo,
        Method::POST,
        &format!("{path}/reviews"),
        Some(json!({ "verdict": "approve", "comment": "ok" })),
    )
    .await
    .expect(200);
    let view = app.get(&path).await.expect(200).body;
    assert_eq!(view["approved_by"], json!(["token:bo"]), "{view}");
    assert_eq!(view["current"]["on"], false);
    assert_eq!(view["config"]["on"], true);
    let mut revised = config_on(true);
    revised["fallthrough"] = json!({ "variation": 0 });
    call(
        &app,
        &bo,
        Method::PUT,
        &path,
        Some(json!({ "config": revised, "comment": "x" })),
    )
    .await
    .expect(403);
    call(
        &app,
        &ana,
        Method::PUT,
        &path,
        Some(json!({ "config": config_on(true), "comment": "incident over, for real" })),
    )
    .await
    .expect(200);
    let view = app.get(&path).await.expect(200).body;
    assert_eq!(view["revision"], 2);
    assert_eq!(view["approved_by"], json!([]), "an edit voids approvals: {view}");
    call(&app, &ana, Method::POST, &format!("{path}/apply"), None)
        .await
        .expect(409);
    call(
        &app,
        &bo,
        Method::POST,
        &format!("{path}/reviews"),
        Some(json!({ "verdict": "approve" })),
    )
    .await
    .expect(200);

    // Two applies at once: exactly one wins.
    let apply = format!("{path}/apply");
    let (a, b) = tokio::join!(
        call(&app, &ana, Method::POST, &apply, None),
        call(&app, &bo, Method::POST, &apply, None)
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{} {}", a.body, b.body);
    assert_eq!(app.get(&path).await.body["state"], "applied");
    assert_eq!(
        app.get("/api/v1/flags/f/environments/production").await.body["on"],
        true
    );
    let audit = app.get("/api/v1/audit?resource_key=f").await.body;
    let applied = &audit["entries"][0];
    assert_eq!(applied["action"], "flag.config", "{audit}");
    assert!(
        applied["comment"].as_str().unwrap().contains("approved by token:bo"),
        "{applied}"
    );

    // A request whose flag changed since it was opened cannot apply, and
    // nothing is written.
    let stale = call(
        &app,
        &ana,
        Method::POST,
        "/api/v1/change-requests",
        Some(json!({
        "flag": "f", "environment": "production", "config": config_on(false), "comment": "" })),
    )
    .await
    .expect(201)
    .body;
    let stale_path = format!("/api/v1/change-requests/{}", stale["id"]);
    call(
        &app,
        &bo,
        Method::POST,
        &format!("{stale_path}/reviews"),
        Some(json!({ "verdict": "approve" })),
    )
    .await
    .expect(200);
    call(
        &app,
        &ana,
        Method::POST,
        "/api/v1/flags/f/environments/staging/toggle",
        Some(json!({ "on": false })),
    )
    .await
    .expect(200);
    let refused = call(&app, &ana, Method::POST, &format!("{stale_path}/apply"), None)
        .await
        .expect(409);
    assert!(
        refused.body["message"].as_str().unwrap().contains("changed since"),
        "{}",
        refused.body
    );
    assert_eq!(app.get(&stale_path).await.body["state"], "open");
    assert_eq!(
        app.get("/api/v1/flags/f/environments/production").await.body["on"],
        true
    );

    // A rejection settles a request.
    call(
        &app,
        &bo,
        Method::POST,
        &format!("{stale_path}/reviews"),
        Some(json!({ "verdict": "reject", "comment": "no" })),
    )
    .await
    .expect(200);
    assert_eq!(app.get(&stale_path).await.body["state"], "rejected");
    call(&app, &ana, Method::POST, &format!("{stale_path}/apply"), None)
        .await
        .expect(409);
    let inbox = app.get("/api/v1/change-requests?state=open").await.expect(200).body;
    assert_eq!(inbox["change_requests"], json!([]));
});
