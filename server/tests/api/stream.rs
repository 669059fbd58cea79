//! The WebSocket stream (`docs/protocol.md`).

use serde_json::json;

on_each_backend!(server_keys_get_a_snapshot_then_patches_and_resume, |app| {
    app.create_flag(json!({ "key": "f" })).await;
    let key = app.sdk_key("production", "server").await;
    let mut s = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": key, "sdk": "test/1" }))
        .await;
    let welcome = s.next().await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["protocol"], 1);
    assert_eq!(welcome["environment"], "production");
    assert_eq!(welcome["kind"], "server");
    let snapshot = s.next().await;
    assert_eq!(snapshot["type"], "snapshot");
    let v0 = snapshot["version"].as_u64().unwrap();
    assert_eq!(snapshot["ruleset"]["flags"]["f"]["on"], false);
    assert_eq!(s.next().await, json!({ "type": "synced", "version": v0 }));

    // A change in another environment is not sent: the next patch is
    // production's (staging's would say `on: false`).
    app.edit_config("f", "staging", |c| c["fallthrough"] = json!({ "variation": 1 }))
        .await
        .expect(200);
    app.toggle("f", "production", true).await.expect(200);
    let patch = s.next().await;
    assert_eq!(patch["type"], "patch");
    assert_eq!(patch["version"], v0 + 1);
    assert_eq!(patch["kind"], "flag");
    assert_eq!(patch["key"], "f");
    assert_eq!(patch["doc"]["on"], true);

    // Resume: an SDK at v0 gets just the patch it missed, not a snapshot.
    let mut again = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": key, "version": v0 }))
        .await;
    assert_eq!(again.next().await["type"], "welcome");
    let missed = again.next().await;
    assert_eq!(missed["type"], "patch");
    assert_eq!(missed["version"], v0 + 1);
    assert_eq!(again.next().await, json!({ "type": "synced", "version": v0 + 1 }));
    // Up to date: nothing to send but `synced`.
    let mut current = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": key, "version": v0 + 1 }))
        .await;
    assert_eq!(current.next().await["type"], "welcome");
    assert_eq!(current.next().await, json!({ "type": "synced", "version": v0 + 1 }));
});

on_each_backend!(client_keys_get_only_their_evaluated_client_side_flags, |app| {
    app.create_flag(json!({ "key": "public", "client_side": true })).await;
    app.create_flag(json!({ "key": "private" })).await;
    app.edit_config("public", "production", |c| {
        c["on"] = json!(true);
        c["rules"] = json!([{ "id": "omaha", "clauses": [{ "attribute": "game", "op": "in", "values": ["omaha"] }], "serve": { "variation": 1 } }]);
    })
    .await
    .expect(200);
    let key = app.sdk_key("production", "client").await;
    let mut s = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": key, "context": { "key": "u1", "game": "omaha" } }))
        .await;
    assert_eq!(s.next().await["kind"], "client");
    let values = s.next().await;
    assert_eq!(values["type"], "values");
    assert_eq!(
        values["flags"].as_object().unwrap().len(),
        1,
        "only client_side flags: {values}"
    );
    assert_eq!(values["flags"]["public"]["value"], true);
    assert_eq!(values["flags"]["public"]["reason"]["kind"], "RULE_MATCH");
    // Server-only flags never show; a change that does not alter this
    // context's value sends nothing.
    app.toggle("private", "production", true).await.expect(200);
    app.edit_config("public", "production", |c| c["fallthrough"] = json!({ "variation": 1 }))
        .await
        .expect(200);
    // A change that does: only that flag, and it is the next frame.
    app.toggle("public", "production", false).await.expect(200);
    let changed = s.next().await;
    assert_eq!(changed["type"], "changed");
    assert_eq!(changed["flags"].as_object().unwrap().len(), 1, "{changed}");
    assert_eq!(changed["flags"]["public"]["value"], false);
    assert_eq!(changed["flags"]["public"]["reason"]["kind"], "OFF");
    // identify: a full set of values for the new context.
    app.toggle("public", "production", true).await.expect(200);
    assert_eq!(s.next().await["flags"]["public"]["value"], true);
    s.send(json!({ "type": "identify", "context": { "key": "u2", "game": "holdem" } }))
        .await;
    let values = s.next().await;
    assert_eq!(values["type"], "values");
    assert_eq!(values["flags"]["public"]["value"], true, "fallthrough serves 1 now");
    // No longer client_side: listed as removed.
    let flag = app.get("/api/v1/flags/public").await;
    app.request(
        reqwest::Method::PATCH,
        "/api/v1/flags/public",
        Some(crate::harness::ADMIN),
        Some(json!({ "client_side": false })),
        &[("if-match", &flag.etag())],
    )
    .await
    .expect(200);
    let changed = s.next().await;
    assert_eq!(changed["removed"], json!(["public"]));
});

on_each_backend!(bad_handshakes_get_an_error_and_a_close, |app| {
    let mut s = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": "dl_server_nope" }))
        .await;
    let error = s.next().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "unauthorized");
    let key = app.sdk_key("production", "server").await;
    let mut s = app
        .stream(json!({ "type": "hello", "protocols": [99], "key": key }))
        .await;
    let error = s.next().await;
    assert_eq!(error["code"], "unsupported_protocol");
    let mut s = app.stream(json!("not a hello")).await;
    assert_eq!(s.next().await["code"], "bad_message");
    let client = app.sdk_key("production", "client").await;
    let mut s = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": client }))
        .await;
    assert_eq!(
        s.next().await["kind"],
        "client",
        "welcome first: the SDK learns its key's kind"
    );
    assert_eq!(s.next().await["code"], "bad_message", "a client key needs a context");
});
