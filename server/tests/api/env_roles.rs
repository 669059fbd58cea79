//! Roles per environment: an account, an invitation or a token may have
//! another role in some environments (an editor who is a viewer in
//! production, a viewer who is an editor in staging); every write to an
//! environment checks the role there (docs/people.md).

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{Reply, TestApp};

const PASSWORD: &str = "correct horse battery";

async fn token(app: &TestApp, name: &str, role: &str, env_roles: Value) -> String {
    let made = app
        .post(
            "/api/v1/tokens",
            json!({ "name": name, "role": role, "env_roles": env_roles }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(made["env_roles"], env_roles, "{made}");
    made["secret"].as_str().unwrap().to_owned()
}

/// A 403 that names the role needed and the environment.
fn refused_in(reply: Reply, env: &str) {
    let body = reply.expect(403).body;
    assert_eq!(body["error"], "forbidden", "{body}");
    assert_eq!(body["role"], "editor", "{body}");
    assert_eq!(body["environment"], env, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("editor") && message.contains(env), "{message}");
}

on_each_backend!(an_editor_in_staging_writes_there_and_not_in_production, |app| {
    app.create_flag(json!({ "key": "f" })).await;
    let stager = token(&app, "stager", "viewer", json!({ "staging": "editor" })).await;
    let me = app
        .call_as(&stager, Method::GET, "/api/v1/me", None)
        .await
        .expect(200)
        .body;
    assert_eq!(me["role"], "viewer");
    assert_eq!(me["env_roles"], json!({ "staging": "editor" }));

    let toggle = |env: &str, on: bool| {
        let (app, stager, path) = (&app, &stager, format!("/api/v1/flags/f/environments/{env}/toggle"));
        async move {
            app.call_as(stager, Method::POST, &path, Some(json!({ "on": on })))
                .await
        }
    };
    assert_eq!(toggle("staging", true).await.expect(200).body["on"], true);
    refused_in(toggle("production", true).await, "production");
    // Not even the kill switch: a viewer changes nothing there.
    app.toggle("f", "production", true).await.expect(200);
    refused_in(toggle("production", false).await, "production");
    let flag = app.get("/api/v1/flags/f").await.body;
    assert_eq!(flag["environments"]["production"]["on"], true, "{flag}");

    // Segments, bundles, release plans and scheduled changes alike.
    let segment = |env: &str| format!("/api/v1/environments/{env}/segments");
    app.call_as(
        &stager,
        Method::POST,
        &segment("staging"),
        Some(json!({ "key": "beta" })),
    )
    .await
    .expect(201);
    refused_in(
        app.call_as(
            &stager,
            Method::POST,
            &segment("production"),
            Some(json!({ "key": "beta" })),
        )
        .await,
        "production",
    );
    let publish = |env: &str| format!("/api/v1/environments/{env}/apps/web/publish");
    app.call_as(
        &stager,
        Method::POST,
        &publish("staging"),
        Some(json!({ "version": "1.0.0" })),
    )
    .await
    .expect(200);
    refused_in(
        app.call_as(
            &stager,
            Method::POST,
            &publish("production"),
            Some(json!({ "version": "1.0.0" })),
        )
        .await,
        "production",
    );
    let plan = json!({ "variation": 1, "stages": [{ "weight": 1000, "hold_seconds": 60 }, { "weight": 100000, "hold_seconds": 60 }] });
    refused_in(
        app.call_as(
            &stager,
            Method::POST,
            "/api/v1/flags/f/environments/production/releases",
            Some(plan.clone()),
        )
        .await,
        "production",
    );
    app.call_as(
        &stager,
        Method::POST,
        "/api/v1/flags/f/environments/staging/releases",
        Some(plan),
    )
    .await
    .expect(201);
    refused_in(
        app.call_as(
            &stager,
            Method::POST,
            "/api/v1/flags/f/environments/production/scheduled-changes",
            Some(json!({ "at": "2099-01-01T00:00:00Z", "change": { "on": false } })),
        )
        .await,
        "production",
    );
    // A flag-wide change (archiving) touches production too.
    let etag = app.get("/api/v1/flags/f").await.etag();
    let archive = app
        .request(
            Method::PATCH,
            "/api/v1/flags/f",
            Some(&stager),
            Some(json!({ "archived": true })),
            &[
                ("if-match", etag.as_str()),
                ("x-confirm", "f"),
                ("x-audit-comment", "gone"),
            ],
        )
        .await;
    refused_in(archive, "production");

    // The other way round: an editor who is a viewer in production.
    let careful = token(&app, "careful", "editor", json!({ "production": "viewer" })).await;
    app.call_as(
        &careful,
        Method::POST,
        "/api/v1/flags/f/environments/staging/toggle",
        Some(json!({ "on": false })),
    )
    .await
    .expect(200);
    refused_in(
        app.call_as(
            &careful,
            Method::POST,
            "/api/v1/flags/f/environments/production/toggle",
            Some(json!({ "on": false })),
        )
        .await,
        "production",
    );
    // A plain viewer is still refused before anything is read.
    let viewer = token(&app, "viewer", "viewer", json!({})).await;
    app.call_as(
        &viewer,
        Method::POST,
        "/api/v1/flags/f/environments/staging/toggle",
        Some(json!({ "on": true })),
    )
    .await
    .expect(403);
});

on_each_backend!(per_environment_roles_are_checked_when_given, |app| {
    for (body, field) in [
        (
            json!({ "name": "a", "role": "admin", "env_roles": { "production": "viewer" } }),
            "env_roles",
        ),
        (
            json!({ "name": "b", "role": "editor", "env_roles": { "production": "admin" } }),
            "env_roles.production",
        ),
        (
            json!({ "name": "c", "role": "editor", "env_roles": { "nowhere": "viewer" } }),
            "env_roles.nowhere",
        ),
        (
            json!({ "name": "d", "role": "editor", "env_roles": { "production": "boss" } }),
            "env_roles.production",
        ),
    ] {
        app.post("/api/v1/tokens", body).await.expect_field_error(400, field);
    }
    app.post(
        "/api/v1/invitations",
        json!({ "email": "x@example.com", "role": "admin", "env_roles": { "staging": "viewer" } }),
    )
    .await
    .expect_field_error(400, "env_roles");
    let listed = app.get("/api/v1/tokens").await.expect(200).body;
    assert_eq!(
        listed["tokens"].as_array().unwrap().len(),
        1,
        "nothing half made: {listed}"
    );
});

on_each_backend!(a_persons_session_shows_and_follows_their_roles_per_environment, |app| {
    app.create_flag(json!({ "key": "f" })).await;
    let invited = app
        .post(
            "/api/v1/invitations",
            json!({ "email": "ana@example.com", "role": "editor", "env_roles": { "production": "viewer" } }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(invited["invitation"]["env_roles"], json!({ "production": "viewer" }));
    let accepted = app
        .request(
            Method::POST,
            "/api/v1/invitations/accept",
            None,
            Some(json!({ "code": invited["code"], "name": "Ana", "password": PASSWORD })),
            &[],
        )
        .await
        .expect(201);
    assert_eq!(accepted.body["env_roles"], json!({ "production": "viewer" }));
    let cookie = accepted.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = accepted.body["csrf_token"].as_str().unwrap().to_owned();
    let ana = |method: Method, path: String, body: Option<Value>| {
        let (app, cookie, csrf) = (&app, cookie.clone(), csrf.clone());
        async move {
            app.request(
                method,
                &path,
                None,
                body,
                &[("cookie", &cookie), ("x-csrf-token", &csrf)],
            )
            .await
        }
    };
    let session = ana(Method::GET, "/api/v1/session".into(), None).await.expect(200).body;
    assert_eq!(session["role"], "editor");
    assert_eq!(session["env_roles"], json!({ "production": "viewer" }));
    let toggle = |env: &str| format!("/api/v1/flags/f/environments/{env}/toggle");
    refused_in(
        ana(Method::POST, toggle("production"), Some(json!({ "on": true }))).await,
        "production",
    );
    ana(Method::POST, toggle("staging"), Some(json!({ "on": true })))
        .await
        .expect(200);

    // An admin makes her an editor in production too: from her next request.
    let accounts = app.get("/api/v1/accounts").await.expect(200).body;
    let id = accounts["accounts"][0]["id"].as_i64().unwrap();
    assert_eq!(accounts["accounts"][0]["env_roles"], json!({ "production": "viewer" }));
    let changed = app
        .request(
            Method::PATCH,
            &format!("/api/v1/accounts/{id}"),
            Some(crate::harness::ADMIN),
            Some(json!({ "env_roles": {} })),
            &[],
        )
        .await
        .expect(200)
        .body;
    assert_eq!(changed["env_roles"], json!({}));
    assert_eq!(changed["role"], "editor");
    ana(Method::POST, toggle("production"), Some(json!({ "on": true })))
        .await
        .expect(200);
    let session = ana(Method::GET, "/api/v1/session".into(), None).await.body;
    assert_eq!(session["env_roles"], json!({}));
    let audit = app.get("/api/v1/audit?resource_kind=account").await.body;
    let entry = &audit["entries"][0];
    assert_eq!(
        entry["before"]["env_roles"],
        json!({ "production": "viewer" }),
        "{audit}"
    );
    assert_eq!(entry["after"]["env_roles"], json!({}), "{audit}");

    // A viewer who is an editor in staging only.
    app.request(
        Method::PATCH,
        &format!("/api/v1/accounts/{id}"),
        Some(crate::harness::ADMIN),
        Some(json!({ "role": "viewer", "env_roles": { "staging": "editor" } })),
        &[],
    )
    .await
    .expect(200);
    refused_in(
        ana(Method::POST, toggle("production"), Some(json!({ "on": false }))).await,
        "production",
    );
    ana(Method::POST, toggle("staging"), Some(json!({ "on": false })))
        .await
        .expect(200);
});

on_each_backend!(reviewing_a_change_request_needs_an_editor_in_its_environment, |app| {
    app.create_flag(json!({ "key": "f" })).await;
    app.require_approvals("production", 1).await;
    let ana = token(&app, "ana", "editor", json!({})).await;
    let watcher = token(&app, "watcher", "editor", json!({ "production": "viewer" })).await;
    let bo = token(&app, "bo", "viewer", json!({ "production": "editor" })).await;
    let config = json!({ "on": true, "off_variation": 0, "fallthrough": { "variation": 1 } });
    refused_in(
        app.call_as(
            &watcher,
            Method::POST,
            "/api/v1/change-requests",
            Some(json!({ "flag": "f", "environment": "production", "config": config })),
        )
        .await,
        "production",
    );
    let id = app
        .call_as(
            &ana,
            Method::POST,
            "/api/v1/change-requests",
            Some(json!({ "flag": "f", "environment": "production", "config": config })),
        )
        .await
        .expect(201)
        .body["id"]
        .as_i64()
        .unwrap();
    let reviews = format!("/api/v1/change-requests/{id}/reviews");
    refused_in(
        app.call_as(&watcher, Method::POST, &reviews, Some(json!({ "verdict": "approve" })))
            .await,
        "production",
    );
    app.call_as(&bo, Method::POST, &reviews, Some(json!({ "verdict": "approve" })))
        .await
        .expect(200);
    refused_in(
        app.call_as(
            &watcher,
            Method::POST,
            &format!("/api/v1/change-requests/{id}/apply"),
            None,
        )
        .await,
        "production",
    );
    let applied = app
        .call_as(&ana, Method::POST, &format!("/api/v1/change-requests/{id}/apply"), None)
        .await
        .expect(200)
        .body;
    assert_eq!(applied["state"], "applied");
});
