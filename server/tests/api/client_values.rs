//! Client keys on the stream after a change (issue 24): only the flags a
//! change can alter are re-evaluated (the changed flag, the flags naming a
//! changed segment, and whatever has those as prerequisites, however
//! indirectly), and a connection whose results did not change gets nothing.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{Stream, TestApp, ADMIN};

async fn replace_beta(app: &TestApp, keys: &[&str]) {
    app.raw(
        Method::PUT,
        "/api/v1/environments/production/segments/beta/included",
        ADMIN,
        "text/plain",
        keys.join("\n"),
    )
    .await
    .expect(200);
}

async fn browser(app: &TestApp, key: &str, user: &str) -> Stream {
    let mut s = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": key, "context": { "key": user } }))
        .await;
    assert_eq!(s.next().await["kind"], "client");
    s
}

/// The flags a `changed` names, in order.
fn names(changed: &Value) -> Vec<&str> {
    assert_eq!(changed["type"], "changed", "{changed}");
    changed["flags"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

on_each_backend!(
    a_browser_gets_what_a_segment_or_prerequisite_change_alters_and_nothing_else,
    |app| {
        app.post(
            "/api/v1/environments/production/segments",
            json!({ "key": "beta", "name": "Beta" }),
        )
        .await
        .expect(201);
        let in_beta = json!([{ "id": "beta", "clauses": [{ "op": "in_segment", "values": ["beta"] }], "serve": { "variation": 1 } }]);
        for (key, client_side) in [
            ("beta-banner", true),
            ("staff-gate", false),
            ("lobby", true),
            ("plain", true),
            ("root", false),
            ("middle", false),
            ("deep", true),
        ] {
            app.create_flag(json!({ "key": key, "client_side": client_side })).await;
        }
        let on = |rules: Value, prerequisites: Value, fallthrough: u64| {
            move |c: &mut Value| {
                c["on"] = json!(true);
                c["rules"] = rules;
                c["prerequisites"] = prerequisites;
                c["fallthrough"] = json!({ "variation": fallthrough });
            }
        };
        let gate = |flag: &str| json!([{ "flag": flag, "variation": 1 }]);
        for (key, edit) in [
            ("beta-banner", on(in_beta.clone(), json!([]), 0)),
            ("staff-gate", on(in_beta.clone(), json!([]), 0)),
            ("lobby", on(json!([]), gate("staff-gate"), 1)),
            ("plain", on(json!([]), json!([]), 1)),
            ("middle", on(json!([]), gate("root"), 1)),
            ("deep", on(json!([]), gate("middle"), 1)),
        ] {
            app.edit_config(key, "production", edit).await.expect(200);
        }
        // Off for now, serving 1 once on.
        app.edit_config("root", "production", |c| c["fallthrough"] = json!({ "variation": 1 }))
            .await
            .expect(200);
        let key = app.sdk_key("production", "client").await;
        let mut u1 = browser(&app, &key, "u1").await;
        let mut u2 = browser(&app, &key, "u2").await;
        for s in [&mut u1, &mut u2] {
            let values = s.next().await;
            assert_eq!(values["type"], "values");
            let flags = &values["flags"];
            assert_eq!(flags.as_object().unwrap().len(), 4, "{values}");
            assert_eq!(flags["beta-banner"]["value"], false);
            assert_eq!(flags["lobby"]["reason"]["kind"], "PREREQUISITE_FAILED");
            assert_eq!(flags["deep"]["reason"]["kind"], "PREREQUISITE_FAILED");
            assert_eq!(flags["plain"]["value"], true);
        }

        // u1 joins the segment: the flag naming it and the flag behind a
        // server-only prerequisite naming it, in one message; u2 gets nothing.
        replace_beta(&app, &["u1"]).await;
        let changed = u1.next().await;
        assert_eq!(names(&changed), ["beta-banner", "lobby"], "{changed}");
        assert_eq!(changed["flags"]["beta-banner"]["reason"]["kind"], "RULE_MATCH");
        assert_eq!(changed["flags"]["beta-banner"]["value"], true);
        assert_eq!(changed["flags"]["lobby"]["reason"]["kind"], "FALLTHROUGH");
        assert_eq!(changed["removed"], json!([]));

        // Two prerequisites down: `deep` needs `middle`, which needs `root`.
        app.toggle("root", "production", true).await.expect(200);
        let for_u1 = u1.next_text().await;
        let for_u2 = u2.next_text().await;
        let changed: Value = serde_json::from_str(&for_u2).unwrap();
        assert_eq!(names(&changed), ["deep"], "u2 had nothing for the segment change");
        assert_eq!(changed["flags"]["deep"]["reason"]["kind"], "FALLTHROUGH");
        assert_eq!(for_u1, for_u2, "the same result, the same message");

        // Changes that alter no result here send nothing: the next message
        // each gets is the one after them.
        replace_beta(&app, &["u1", "u3"]).await;
        app.edit_config("plain", "production", |c| {
        c["rules"] = json!([{ "id": "u9", "clauses": [{ "attribute": "key", "op": "in", "values": ["u9"] }], "serve": { "variation": 0 } }]);
    })
    .await
    .expect(200);
        app.toggle("staff-gate", "production", false).await.expect(200);
        let changed = u1.next().await;
        assert_eq!(names(&changed), ["lobby"], "{changed}");
        assert_eq!(changed["flags"]["lobby"]["reason"]["kind"], "PREREQUISITE_FAILED");
        app.toggle("plain", "production", false).await.expect(200);
        assert_eq!(names(&u2.next().await), ["plain"], "u2: nothing before this");
        assert_eq!(names(&u1.next().await), ["plain"]);

        // A new client_side flag that sorts first moves every position: the
        // next change still names the right flag for each.
        app.create_flag(json!({ "key": "aaa-new", "client_side": true })).await;
        for s in [&mut u1, &mut u2] {
            let changed = s.next().await;
            assert_eq!(names(&changed), ["aaa-new"]);
            assert_eq!(changed["flags"]["aaa-new"]["reason"]["kind"], "OFF");
        }
        replace_beta(&app, &["u2"]).await;
        let changed = u1.next().await;
        assert_eq!(names(&changed), ["beta-banner"], "{changed}");
        assert_eq!(changed["flags"]["beta-banner"]["value"], false);
        let changed = u2.next().await;
        assert_eq!(names(&changed), ["beta-banner"], "{changed}");
        assert_eq!(changed["flags"]["beta-banner"]["value"], true);
        // No longer client_side: removed, and the flags after it still follow.
        let flag = app.get("/api/v1/flags/beta-banner").await;
        app.request(
            Method::PATCH,
            "/api/v1/flags/beta-banner",
            Some(ADMIN),
            Some(json!({ "client_side": false })),
            &[("if-match", &flag.etag())],
        )
        .await
        .expect(200);
        for s in [&mut u1, &mut u2] {
            let changed = s.next().await;
            assert_eq!(changed["removed"], json!(["beta-banner"]), "{changed}");
            assert!(names(&changed).is_empty(), "{changed}");
        }
        app.toggle("plain", "production", true).await.expect(200);
        for s in [&mut u1, &mut u2] {
            assert_eq!(names(&s.next().await), ["plain"]);
        }
    }
);
