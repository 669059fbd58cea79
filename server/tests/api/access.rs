//! Roles and credentials.

use reqwest::Method;
use serde_json::json;

on_each_backend!(roles_limit_what_a_token_may_do, |app| {
    app.create_flag(json!({ "key": "f" })).await;
    let viewer = app.token("viewer").await;
    let editor = app.token("editor").await;
    // A pasted token says what it may do: `dl_admin_` only for admins.
    assert!(viewer.starts_with("dl_viewer_"), "{viewer}");
    assert!(editor.starts_with("dl_editor_"), "{editor}");
    assert!(app.token("admin").await.starts_with("dl_admin_"));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_bootstrap_token_replaces_the_old_one_and_short_ones_are_refused() {
    use crate::harness::{start, Backend, ADMIN};
    use daylight_server::Settings;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/daylight.db", dir.path().display());
    let mut first = start(Settings::for_tests(url.clone(), ADMIN), Backend::Sqlite).await;
    // Another admin token, made by hand, outlives the change.
    let other = first.token("admin").await;
    first.stop();

    let custom = "our_own_secret_for_the_admin_api_2026";
    let second = start(Settings::for_tests(url.clone(), custom), Backend::Sqlite).await;
    let old = second
        .request(Method::GET, "/api/v1/flags", Some(ADMIN), None, &[])
        .await;
    assert_eq!(old.status, 401, "the old DAYLIGHT_ADMIN_TOKEN still works");
    second
        .request(Method::GET, "/api/v1/flags", Some(custom), None, &[])
        .await
        .expect(200);
    let tokens = second
        .request(Method::GET, "/api/v1/tokens", Some(&other), None, &[])
        .await
        .expect(200);
    // The hint of a secret with underscores shows its last four, not the rest.
    let listed = tokens.body.to_string();
    assert!(!listed.contains("our_own_secret"), "{listed}");
    assert!(listed.contains("…2026"), "{listed}");
    // `bootstrap` is the configured token's name.
    second
        .request(
            Method::POST,
            "/api/v1/tokens",
            Some(custom),
            Some(json!({ "name": "bootstrap", "role": "viewer" })),
            &[],
        )
        .await
        .expect_field_error(400, "name");
    drop(second);

    // Too short to be a secret: the server does not start, and says why
    // without printing the value.
    let refused = daylight_server::Application::build(Settings::for_tests(url, "dl_admin_short"))
        .await
        .err()
        .expect("a short admin token is refused");
    let message = refused.to_string();
    assert!(
        message.contains("DAYLIGHT_ADMIN_TOKEN") && message.contains("32"),
        "{message}"
    );
    assert!(!message.contains("dl_admin_short"), "{message}");
}

on_each_backend!(wrong_admin_credentials_are_throttled_per_address, |app| {
    // 60 wrong secrets a minute per address; then 429 before any lookup,
    // for every secret from that address, until failures are forgiven.
    // One failure is forgiven per second, so on a slow machine a guess or
    // two more than 60 may still get their 401 before the 429.
    let start = std::time::Instant::now();
    let mut i = 0;
    let r = loop {
        let r = app
            .request(Method::GET, "/api/v1/flags", Some(&format!("guess-{i}")), None, &[])
            .await;
        if r.status != 401 {
            break r;
        }
        i += 1;
        assert!(i < 1000, "wrong guesses are never throttled");
    };
    let forgiven = start.elapsed().as_secs() + 1;
    assert!(
        (60..=60 + forgiven).contains(&i),
        "{i} wrong guesses got 401 in {forgiven} s, then {}",
        r.status
    );
    let r = r.expect(429);
    assert_eq!(r.body["error"], "rate_limited");
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    // No secret at all costs nothing and is still a plain 401.
    app.request(Method::GET, "/api/v1/flags", None, None, &[])
        .await
        .expect(401);
});

// Credential and webhook writes (`writes::credentials`, `writes::webhooks`)
// leave one audit entry each, keyed by the credential's or webhook's id; no
// secret is ever in one.
on_each_backend!(
    credential_and_webhook_writes_are_audited,
    |s: &mut daylight_server::Settings| s.webhook_allowed_networks = vec!["127.0.0.0/8".parse().unwrap()],
    |app| {
        let audit = |kind: &'static str| {
            let app = &app;
            async move {
                let entries = app
                    .get(&format!("/api/v1/audit?resource_kind={kind}"))
                    .await
                    .expect(200)
                    .body["entries"]
                    .clone();
                // Oldest first.
                let mut entries = entries.as_array().unwrap().clone();
                entries.reverse();
                entries
            }
        };
        let token = app
            .post("/api/v1/tokens", json!({ "name": "ci", "role": "editor" }))
            .await
            .expect(201)
            .body;
        let token_id = token["id"].as_i64().unwrap();
        app.request(
            Method::DELETE,
            &format!("/api/v1/tokens/{token_id}"),
            Some(crate::harness::ADMIN),
            None,
            &[],
        )
        .await
        .expect(204);
        let (key_id, key_secret) = app.sdk_key_with_id("staging", "client").await;
        app.revoke_key("staging", key_id).await;
        let hook = app
            .post(
                "/api/v1/webhooks",
                json!({ "url": "http://user:hunter2pass@127.0.0.1:9/hook", "events": ["flag.*"] }),
            )
            .await
            .expect(201)
            .body;
        let hook_id = hook["id"].as_i64().unwrap();
        let hook_secret = hook["secret"].as_str().unwrap().to_owned();
        app.request(
            Method::DELETE,
            &format!("/api/v1/webhooks/{hook_id}"),
            Some(crate::harness::ADMIN),
            None,
            &[],
        )
        .await
        .expect(204);

        let shape = |e: &serde_json::Value| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["resource_key"].as_str().unwrap().to_owned(),
                e["environment"].clone(),
                e["after"].clone(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        };
        let actor = "token:bootstrap".to_owned();
        let tokens: Vec<_> = audit("token").await.iter().map(shape).collect();
        assert_eq!(
            tokens,
            vec![
                (
                    "token.create".to_owned(),
                    token_id.to_string(),
                    json!(null),
                    json!({ "kind": "editor" }),
                    actor.clone()
                ),
                (
                    "token.revoke".to_owned(),
                    token_id.to_string(),
                    json!(null),
                    json!(null),
                    actor.clone()
                ),
            ]
        );
        let keys: Vec<_> = audit("key").await.iter().map(shape).collect();
        assert_eq!(
            keys,
            vec![
                (
                    "key.create".to_owned(),
                    key_id.to_string(),
                    json!("staging"),
                    json!({ "kind": "client" }),
                    actor.clone()
                ),
                (
                    "key.revoke".to_owned(),
                    key_id.to_string(),
                    json!("staging"),
                    json!(null),
                    actor.clone()
                ),
            ]
        );
        let hooks = audit("webhook").await;
        let shapes: Vec<_> = hooks.iter().map(shape).collect();
        assert_eq!(
            shapes,
            vec![
                (
                    "webhook.create".to_owned(),
                    hook_id.to_string(),
                    json!(null),
                    json!({
                        "id": hook_id,
                        "url": "http://***:***@127.0.0.1:9/hook",
                        "events": ["flag.*"],
                        "environments": [],
                    }),
                    actor.clone()
                ),
                (
                    "webhook.delete".to_owned(),
                    hook_id.to_string(),
                    json!(null),
                    json!(null),
                    actor
                ),
            ]
        );
        let everything = app.get("/api/v1/audit").await.expect(200).body.to_string();
        for secret in [
            token["secret"].as_str().unwrap(),
            &key_secret,
            &hook_secret,
            "hunter2pass",
        ] {
            assert!(!everything.contains(secret), "a secret in the audit log");
        }
        app.request(
            Method::DELETE,
            &format!("/api/v1/webhooks/{hook_id}"),
            Some(crate::harness::ADMIN),
            None,
            &[],
        )
        .await
        .expect(404);
    }
);
