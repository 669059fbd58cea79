//! Nothing destructive by surprise: archiving or deleting a flag still
//! served (on somewhere, or evaluated in the last 7 days) needs its key
//! typed back and a comment.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{TestApp, ADMIN};

async fn patch_archive(app: &TestApp, key: &str, headers: &[(&str, &str)]) -> crate::harness::Reply {
    let etag = app.get(&format!("/api/v1/flags/{key}")).await.expect(200).etag();
    let mut all = vec![("if-match", etag.as_str())];
    all.extend_from_slice(headers);
    app.request(
        Method::PATCH,
        &format!("/api/v1/flags/{key}"),
        Some(ADMIN),
        Some(json!({ "archived": true })),
        &all,
    )
    .await
}

async fn delete(app: &TestApp, key: &str, headers: &[(&str, &str)]) -> crate::harness::Reply {
    app.request(
        Method::DELETE,
        &format!("/api/v1/flags/{key}"),
        Some(ADMIN),
        None,
        headers,
    )
    .await
}

on_each_backend!(a_served_flag_is_archived_or_deleted_only_when_confirmed, |app| {
    for key in ["live", "used", "idle"] {
        app.create_flag(json!({ "key": key })).await;
    }
    app.toggle("live", "production", true).await.expect(200);
    // `used` is off everywhere but an SDK reported evaluating it.
    let server_key = app.sdk_key("staging", "server").await;
    let mut s = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": server_key }))
        .await;
    assert_eq!(s.next().await["type"], "welcome");
    s.send(json!({ "type": "usage", "evaluations": [{ "flag": "used", "variation": 0, "count": 3 }] }))
        .await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let usage: Value = app.get("/api/v1/environments/staging/flags/used/usage").await.body;
        if usage["totals"]["0"] == 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the report was not written: {usage}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Refused without the key typed back and a comment, naming where.
    let refused = patch_archive(&app, "live", &[]).await.expect(409);
    assert_eq!(refused.body["error"], "confirmation_required");
    let message = refused.body["message"].as_str().unwrap();
    assert!(message.contains("production (on)"), "{message}");
    patch_archive(&app, "live", &[("x-confirm", "live")]).await.expect(409);
    patch_archive(&app, "live", &[("x-confirm", "lives"), ("x-audit-comment", "retired")])
        .await
        .expect(409);
    let refused = delete(&app, "used", &[]).await.expect(409);
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("staging (evaluated in the last 7 days)"),
        "{}",
        refused.body
    );
    assert_eq!(app.get("/api/v1/flags/live").await.body["archived"], false);
    app.get("/api/v1/flags/used").await.expect(200);

    // Confirmed: done, with the comment in the audit log.
    patch_archive(
        &app,
        "live",
        &[("x-confirm", "live"), ("x-audit-comment", "retired after the final")],
    )
    .await
    .expect(200);
    let audit = app.get("/api/v1/audit?resource_key=live").await.body;
    assert_eq!(audit["entries"][0]["action"], "flag.archive", "{audit}");
    assert_eq!(audit["entries"][0]["comment"], "retired after the final");
    delete(&app, "used", &[("x-confirm", "used"), ("x-audit-comment", "gone")])
        .await
        .expect(204);
    // A flag nobody uses needs no ceremony.
    delete(&app, "idle", &[]).await.expect(204);
});
