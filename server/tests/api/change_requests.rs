//! Change requests: where an environment requires approvals, a flag's config
//! changes only through an approved request, onto the version it was
//! proposed against, once; the kill switch goes straight through.

use reqwest::Method;
use serde_json::{json, Value};

fn config_on(on: bool) -> Value {
    json!({ "on": on, "off_variation": 0, "fallthrough": { "variation": 1 } })
}

on_each_backend!(changes_to_production_need_another_persons_approval, |app| {
    app.create_flag(json!({ "key": "f" })).await;
    app.toggle("f", "production", true).await.expect(200);
    app.require_approvals("production", 1).await;
    let (ana, bo) = (app.editor_token("ana").await, app.editor_token("bo").await);

    // Direct changes are refused and say how to proceed; the kill switch
    // goes straight through, marked; staging needs no approval.
    let refused = app
        .call_as(
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
    let refused = app
        .call_as(
            &ana,
            Method::POST,
            "/api/v1/flags/f/environments/production/toggle",
            Some(json!({ "on": true })),
        )
        .await
        .expect(409);
    assert_eq!(refused.body["error"], "approval_required");
    assert!(refused.body["message"].as_str().unwrap().contains("change request"));
    app.call_as(
        &ana,
        Method::POST,
        "/api/v1/flags/f/environments/staging/toggle",
        Some(json!({ "on": true })),
    )
    .await
    .expect(200);

    // Ana proposes turning it back on; she cannot approve it herself, and
    // it cannot apply without an approval.
    let opened = app
        .call_as(
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
    app.call_as(
        &ana,
        Method::POST,
        &format!("{path}/reviews"),
        Some(json!({ "verdict": "approve" })),
    )
    .await
    .expect(403);
    app.call_as(&ana, Method::POST, &format!("{path}/apply"), None)
        .await
        .expect(409);

    // Bo approves; then Ana edits the request, which voids the approval.
    app.call_as(
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
    app.call_as(
        &bo,
        Method::PUT,
        &path,
        Some(json!({ "config": revised, "comment": "x" })),
    )
    .await
    .expect(403);
    app.call_as(
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
    app.call_as(&ana, Method::POST, &format!("{path}/apply"), None)
        .await
        .expect(409);
    app.call_as(
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
        app.call_as(&ana, Method::POST, &apply, None),
        app.call_as(&bo, Method::POST, &apply, None)
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
    let stale = app
        .call_as(
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
    app.call_as(
        &bo,
        Method::POST,
        &format!("{stale_path}/reviews"),
        Some(json!({ "verdict": "approve" })),
    )
    .await
    .expect(200);
    app.call_as(
        &ana,
        Method::POST,
        "/api/v1/flags/f/environments/staging/toggle",
        Some(json!({ "on": false })),
    )
    .await
    .expect(200);
    let refused = app
        .call_as(&ana, Method::POST, &format!("{stale_path}/apply"), None)
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
    app.call_as(
        &bo,
        Method::POST,
        &format!("{stale_path}/reviews"),
        Some(json!({ "verdict": "reject", "comment": "no" })),
    )
    .await
    .expect(200);
    assert_eq!(app.get(&stale_path).await.body["state"], "rejected");
    app.call_as(&ana, Method::POST, &format!("{stale_path}/apply"), None)
        .await
        .expect(409);
    let inbox = app.get("/api/v1/change-requests?state=open").await.expect(200).body;
    assert_eq!(inbox["change_requests"], json!([]));
});

fn keys(included: &[&str]) -> Value {
    json!({ "included": included, "excluded": [], "rules": [] })
}

on_each_backend!(
    segment_changes_go_through_change_requests_where_approvals_are_required,
    |app| {
        app.post("/api/v1/environments/production/segments", json!({ "key": "beta" }))
            .await
            .expect(201);
        app.require_approvals("production", 1).await;
        let (ana, bo) = (app.editor_token("ana").await, app.editor_token("bo").await);
        let segment = "/api/v1/environments/production/segments/beta";

        // Direct edits are refused there, key lists included; staging is direct.
        let refused = app
            .request(
                Method::PATCH,
                segment,
                Some(&ana),
                Some(json!({ "included": ["u1"] })),
                &[("if-match", "\"1\"")],
            )
            .await
            .expect(409);
        assert_eq!(refused.body["error"], "approval_required");
        app.call_as(&ana, Method::PUT, &format!("{segment}/included"), Some(json!(["u1"])))
            .await
            .expect(409);
        app.post("/api/v1/environments/staging/segments", json!({ "key": "beta" }))
            .await
            .expect(201);
        app.call_as(
            &ana,
            Method::PUT,
            "/api/v1/environments/staging/segments/beta/included",
            Some(json!(["u1"])),
        )
        .await
        .expect(200);

        // A proposal is checked like the write: an unknown field is named.
        let propose = |who: &str, doc: Value, comment: &str| {
            let body = json!({ "segment": "beta", "environment": "production", "config": doc, "comment": comment });
            let (app, who) = (&app, who.to_owned());
            async move {
                app.call_as(&who, Method::POST, "/api/v1/change-requests", Some(body))
                    .await
            }
        };
        propose(&ana, json!({ "included": ["u1"], "bogus": 1 }), "x")
            .await
            .expect_field_error(400, "config.bogus");
        propose(&ana, keys(&[]), "nothing")
            .await
            .expect_field_error(400, "config");
        let first = propose(&ana, keys(&["u1"]), "add u1").await.expect(201).body;
        assert_eq!(first["subject"], "segment");
        assert_eq!(first["key"], "beta");
        assert_eq!(first["base_version"], 1);
        let id = first["id"].as_i64().unwrap();
        let path = format!("/api/v1/change-requests/{id}");
        let approve = |who: &str, id: i64| {
            let (app, who) = (&app, who.to_owned());
            async move {
                app.call_as(
                    &who,
                    Method::POST,
                    &format!("/api/v1/change-requests/{id}/reviews"),
                    Some(json!({ "verdict": "approve" })),
                )
                .await
            }
        };
        let apply = |who: &str, id: i64| {
            let (app, who) = (&app, who.to_owned());
            async move {
                app.call_as(&who, Method::POST, &format!("/api/v1/change-requests/{id}/apply"), None)
                    .await
            }
        };

        // The author never approves her own; an edit voids approvals.
        approve(&ana, id).await.expect(403);
        apply(&ana, id).await.expect(409);
        approve(&bo, id).await.expect(200);
        let view = app.get(&path).await.expect(200).body;
        assert_eq!(view["approved_by"], json!(["token:bo"]), "{view}");
        assert_eq!(view["current"]["included"], json!([]), "{view}");
        assert_eq!(view["config"]["included"], json!(["u1"]), "{view}");
        app.call_as(
            &ana,
            Method::PUT,
            &path,
            Some(json!({ "config": keys(&["u1", "u2"]), "comment": "two" })),
        )
        .await
        .expect(200);
        assert_eq!(app.get(&path).await.body["approved_by"], json!([]));
        apply(&ana, id).await.expect(409);
        approve(&bo, id).await.expect(200);

        // Another request applies first: the first is now stale and says so.
        let other = propose(&bo, keys(&["u9"]), "other").await.expect(201).body["id"]
            .as_i64()
            .unwrap();
        approve(&ana, other).await.expect(200);
        apply(&bo, other).await.expect(200);
        let stale = apply(&ana, id).await.expect(409).body;
        assert!(
            stale["message"]
                .as_str()
                .unwrap()
                .contains("segment `beta` changed since"),
            "{stale}"
        );
        let stored = app.get(segment).await.body;
        assert_eq!(stored["included"], json!(["u9"]));
        assert_eq!(stored["version"], 2);

        // A proposal naming the version its author read is refused when that
        // moved on (it would undo u9), and opens nothing.
        let open_before = app.get("/api/v1/change-requests?state=open").await.body;
        let read_v1 = json!({ "segment": "beta", "environment": "production", "config": keys(&["u1", "u2"]),
            "comment": "from a stale page", "base_version": 1 });
        let refused = app
            .call_as(&ana, Method::POST, "/api/v1/change-requests", Some(read_v1))
            .await
            .expect(409)
            .body;
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains("you sent version 1, it is now at 2"),
            "{refused}"
        );
        assert_eq!(app.get("/api/v1/change-requests?state=open").await.body, open_before);

        // A fresh request on the current version (named) applies, once, even
        // when two people click at the same time.
        let read_v2 = json!({ "segment": "beta", "environment": "production", "config": keys(&["u1", "u2"]),
            "comment": "again", "base_version": 2 });
        let fresh = app
            .call_as(&ana, Method::POST, "/api/v1/change-requests", Some(read_v2))
            .await
            .expect(201)
            .body;
        assert_eq!(fresh["base_version"], 2);
        let fresh = fresh["id"].as_i64().unwrap();
        approve(&bo, fresh).await.expect(200);
        let (a, b) = tokio::join!(apply(&ana, fresh), apply(&bo, fresh));
        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 409]);
        let stored = app.get(segment).await.body;
        assert_eq!(stored["included"], json!(["u1", "u2"]));
        assert_eq!(stored["version"], 3, "applied once: {stored}");
        let audit = app
            .get("/api/v1/audit?resource_kind=segment&resource_key=beta&environment=production")
            .await
            .body;
        let updates: Vec<&Value> = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "segment.update")
            .collect();
        assert_eq!(updates.len(), 2, "{audit}");
        assert!(
            updates[0]["comment"]
                .as_str()
                .unwrap()
                .starts_with(&format!("change request {fresh}: again (approved by token:bo)")),
            "{audit}"
        );

        // A name and description alone are not served: they go straight
        // through; with a rules change too, the whole edit is refused.
        let renamed = app
            .request(
                Method::PATCH,
                segment,
                Some(&ana),
                Some(json!({ "name": "Beta testers", "description": "opted in" })),
                &[("if-match", "\"3\"")],
            )
            .await
            .expect(200)
            .body;
        assert_eq!(
            (renamed["name"].as_str(), renamed["included"].clone()),
            (Some("Beta testers"), json!(["u1", "u2"]))
        );
        let both = app
            .request(
                Method::PATCH,
                segment,
                Some(&ana),
                Some(json!({ "name": "Beta", "included": ["u3"] })),
                &[("if-match", &format!("\"{}\"", renamed["version"]))],
            )
            .await
            .expect(409);
        assert_eq!(both.body["error"], "approval_required");
        assert_eq!(app.get(segment).await.body["name"], "Beta testers");
    }
);

on_each_backend!(
    a_bundle_publish_goes_through_a_change_request_where_approvals_are_required,
    |app| {
        let publish = |env: &str, version: &str| {
            let (app, path) = (&app, format!("/api/v1/environments/{env}/apps/web/publish"));
            let body = json!({ "version": version });
            async move { app.post(&path, body).await }
        };
        publish("production", "1.0.0").await.expect(200);
        app.require_approvals("production", 1).await;
        let (ana, bo) = (app.editor_token("ana").await, app.editor_token("bo").await);

        let refused = publish("production", "1.1.0").await.expect(409);
        assert_eq!(refused.body["error"], "approval_required");
        publish("staging", "1.1.0").await.expect(200);
        let bundle = "/api/v1/environments/production/apps/web/bundle";
        assert_eq!(app.get(bundle).await.body["live"], "1.0.0");

        let opened = app.call_as(&ana,
        Method::POST,
        "/api/v1/change-requests",
        Some(json!({ "app": "web", "environment": "production", "publish": { "version": "1.1.0" }, "comment": "ship" })),
    )
    .await
    .expect(201)
    .body;
        assert_eq!(opened["subject"], "bundle");
        assert_eq!(opened["config"]["live"], "1.1.0");
        let id = opened["id"].as_i64().unwrap();
        let view = app.get(&format!("/api/v1/change-requests/{id}")).await.body;
        assert_eq!(view["current"]["live"], "1.0.0", "{view}");
        app.call_as(
            &ana,
            Method::POST,
            &format!("/api/v1/change-requests/{id}/reviews"),
            Some(json!({ "verdict": "approve" })),
        )
        .await
        .expect(403);
        app.call_as(
            &bo,
            Method::POST,
            &format!("/api/v1/change-requests/{id}/reviews"),
            Some(json!({ "verdict": "approve" })),
        )
        .await
        .expect(200);
        let applied = app
            .call_as(&ana, Method::POST, &format!("/api/v1/change-requests/{id}/apply"), None)
            .await
            .expect(200)
            .body;
        assert_eq!(applied["state"], "applied");
        assert_eq!(app.get(bundle).await.body["live"], "1.1.0");

        // Naming two subjects, or a publish for a flag, is refused by field.
        app.call_as(
            &ana,
            Method::POST,
            "/api/v1/change-requests",
            Some(json!({ "app": "web", "segment": "x", "environment": "production", "config": {} })),
        )
        .await
        .expect_field_error(400, "flag");
        app.call_as(
            &ana,
            Method::POST,
            "/api/v1/change-requests",
            Some(json!({ "flag": "f", "environment": "production", "publish": { "version": "2" } })),
        )
        .await
        .expect_field_error(400, "publish");
    }
);

on_each_backend!(the_change_request_list_comes_a_page_at_a_time, |app| {
    app.create_flag(json!({ "key": "f" })).await;
    app.require_approvals("production", 1).await;
    let ana = app.editor_token("ana").await;
    let mut opened = Vec::new();
    for i in 0..5 {
        let request = app
            .call_as(
                &ana,
                Method::POST,
                "/api/v1/change-requests",
                Some(json!({ "flag": "f", "environment": "production", "config": config_on(i % 2 == 0), "comment": format!("step {i}") })),
            )
            .await
            .expect(201);
        opened.push(request.body["id"].as_i64().unwrap());
    }
    // Newest first, two at a time, until no `next_before_id`.
    let seen = app
        .read_pages("/api/v1/change-requests?state=open&limit=2", "change_requests", 2)
        .await;
    opened.reverse();
    assert_eq!(seen, opened);
    // Unset, the limit is 500: all of them, and no next page.
    let all = app.get("/api/v1/change-requests").await.expect(200).body;
    assert_eq!(all["change_requests"].as_array().unwrap().len(), 5);
    assert_eq!(all["next_before_id"], Value::Null);
    for bad in ["0", "501", "-1"] {
        let refused = app
            .get(&format!("/api/v1/change-requests?limit={bad}"))
            .await
            .expect(400);
        assert_eq!(refused.body["field"], "limit", "{bad}: {}", refused.body);
    }
});
