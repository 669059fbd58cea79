//! People: invitations, local accounts, console sessions with CSRF, their
//! expiry and revocation (docs/people.md).

use std::sync::Arc;

use daylight_server::clock::{Clock, ManualClock};
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{self, backends, spawn_app_clocked, spawn_app_with, spawn_nodes, Reply, TestApp};

const PASSWORD: &str = "correct horse battery";
const HOUR: i64 = 3_600_000;

/// A signed-in person: the cookie to send and the CSRF token of writes.
struct Person {
    cookie: String,
    csrf: String,
}

impl Person {
    async fn call(&self, app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Reply {
        let headers = [("cookie", self.cookie.as_str()), ("x-csrf-token", self.csrf.as_str())];
        app.request(method, path, None, body, &headers).await
    }

    /// The same request without the CSRF token.
    async fn call_without_csrf(&self, app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Reply {
        app.request(method, path, None, body, &[("cookie", self.cookie.as_str())])
            .await
    }
}

fn signed_in(r: &Reply) -> Person {
    let set_cookie = r.headers["set-cookie"].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    assert!(cookie.starts_with("dl_session="), "{cookie}");
    Person {
        cookie,
        csrf: r.body["csrf_token"].as_str().expect("a CSRF token").to_owned(),
    }
}

/// Invites `email` with `role` (as the bootstrap admin token) and accepts.
async fn invite_and_accept(app: &TestApp, email: &str, role: &str) -> Person {
    let invited = app
        .post("/api/v1/invitations", json!({ "email": email, "role": role }))
        .await
        .expect(201);
    let code = invited.body["code"].as_str().unwrap().to_owned();
    assert_eq!(invited.body["link"], format!("/#/accept/{code}"));
    let accepted = app
        .request(
            Method::POST,
            "/api/v1/invitations/accept",
            None,
            Some(json!({ "code": code, "name": "Ana", "password": PASSWORD })),
            &[],
        )
        .await
        .expect(201);
    assert_eq!(accepted.body["email"], email);
    assert_eq!(accepted.body["role"], role);
    signed_in(&accepted)
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> Reply {
    app.request(
        Method::POST,
        "/api/v1/session",
        None,
        Some(json!({ "email": email, "password": password })),
        &[],
    )
    .await
}

on_each_backend!(an_invited_person_changes_flags_by_name_with_csrf, |app| {
    // A short password and an unknown code name their field.
    let invited = app
        .post(
            "/api/v1/invitations",
            json!({ "email": "Ana@Example.com", "role": "editor" }),
        )
        .await
        .expect(201);
    assert_eq!(invited.body["invitation"]["email"], "ana@example.com");
    let code = invited.body["code"].as_str().unwrap();
    let accept = |body: Value| {
        let app = &app;
        async move {
            app.request(Method::POST, "/api/v1/invitations/accept", None, Some(body), &[])
                .await
        }
    };
    accept(json!({ "code": code, "name": "Ana", "password": "short" }))
        .await
        .expect_field_error(400, "password");
    accept(json!({ "code": "dl_invite_nope", "name": "Ana", "password": PASSWORD }))
        .await
        .expect_field_error(400, "code");
    let ana = signed_in(
        &accept(json!({ "code": code, "name": "Ana", "password": PASSWORD }))
            .await
            .expect(201),
    );
    // An invitation is used once.
    accept(json!({ "code": code, "name": "Eve", "password": PASSWORD }))
        .await
        .expect_field_error(400, "code");

    let me = ana.call(&app, Method::GET, "/api/v1/me", None).await.expect(200);
    assert_eq!(me.body["role"], "editor");
    // A write with the cookie but without the CSRF token is refused, and
    // nothing is written.
    let refused = ana
        .call_without_csrf(&app, Method::POST, "/api/v1/flags", Some(json!({ "key": "f" })))
        .await
        .expect(403);
    assert!(refused.body["message"].as_str().unwrap().contains("X-CSRF-Token"));
    app.get("/api/v1/flags/f").await.expect(404);
    let wrong = Person {
        cookie: ana.cookie.clone(),
        csrf: "0".repeat(64),
    };
    wrong
        .call(&app, Method::POST, "/api/v1/flags", Some(json!({ "key": "f" })))
        .await
        .expect(403);
    ana.call(&app, Method::POST, "/api/v1/flags", Some(json!({ "key": "f" })))
        .await
        .expect(201);
    // The audit log names the person.
    let audit = app.get("/api/v1/audit?resource_kind=flag").await.expect(200).body;
    assert_eq!(audit["entries"][0]["actor"], "person:ana@example.com", "{audit}");
    // An editor may not invite.
    ana.call(
        &app,
        Method::POST,
        "/api/v1/invitations",
        Some(json!({ "email": "eve@example.com", "role": "admin" })),
    )
    .await
    .expect(403);

    // Sign out: the cookie is cleared and no longer works.
    let out = ana
        .call(&app, Method::DELETE, "/api/v1/session", None)
        .await
        .expect(204);
    assert!(out.headers["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    ana.call(&app, Method::GET, "/api/v1/me", None).await.expect(401);
    // Signing in again works, with a new session.
    let again = signed_in(&sign_in(&app, "ana@example.com", PASSWORD).await.expect(200));
    assert_ne!(again.cookie, ana.cookie);
    again.call(&app, Method::GET, "/api/v1/session", None).await.expect(200);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_rate_limited_per_address() {
    for backend in backends() {
        let app = spawn_app_with(backend, |s| s.auth_failures_per_minute = 3).await;
        invite_and_accept(&app, "ana@example.com", "viewer").await;
        for _ in 0..2 {
            sign_in(&app, "ana@example.com", "not the password").await.expect(401);
        }
        // An unknown email fails the same way, and counts too; then even
        // the right password waits.
        sign_in(&app, "nobody@example.com", PASSWORD).await.expect(401);
        let limited = sign_in(&app, "ana@example.com", PASSWORD).await.expect(429);
        assert!(limited.headers.contains_key("retry-after"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_when_idle_at_their_age_limit_or_with_their_account() {
    for backend in backends() {
        let clock = Arc::new(ManualClock::new(1_800_000_000_000));
        let app = spawn_app_clocked(backend, Some(clock.clone() as Arc<dyn Clock>)).await;
        let ana = invite_and_accept(&app, "ana@example.com", "editor").await;
        let me = |p: &Person| {
            let (app, cookie) = (&app, p.cookie.clone());
            async move {
                app.request(Method::GET, "/api/v1/me", None, None, &[("cookie", cookie.as_str())])
                    .await
                    .status
                    .as_u16()
            }
        };
        // Used every 11 hours, a session outlives the 12-hour idle limit…
        for _ in 0..3 {
            clock.advance(11 * HOUR);
            assert_eq!(me(&ana).await, 200);
        }
        // …and ends 12 hours after its last use.
        clock.advance(12 * HOUR + 1);
        assert_eq!(me(&ana).await, 401);

        // However often it is used, it ends 7 days after sign-in.
        let bo = signed_in(&sign_in(&app, "ana@example.com", PASSWORD).await.expect(200));
        for _ in 0..14 {
            clock.advance(12 * HOUR - 1);
            assert_eq!(me(&bo).await, 200);
        }
        clock.advance(HOUR);
        assert_eq!(me(&bo).await, 401);

        // A role change holds at the next request; disabling the account
        // ends its sessions, and it cannot sign in again.
        let cy = signed_in(&sign_in(&app, "ana@example.com", PASSWORD).await.expect(200));
        let accounts = app.get("/api/v1/accounts").await.expect(200).body;
        let id = accounts["accounts"][0]["id"].as_i64().unwrap();
        let path = format!("/api/v1/accounts/{id}");
        app.request(
            Method::PATCH,
            &path,
            Some(harness::ADMIN),
            Some(json!({ "role": "viewer" })),
            &[],
        )
        .await
        .expect(200);
        cy.call(&app, Method::POST, "/api/v1/flags", Some(json!({ "key": "g" })))
            .await
            .expect(403);
        app.request(
            Method::PATCH,
            &path,
            Some(harness::ADMIN),
            Some(json!({ "disabled": true })),
            &[],
        )
        .await
        .expect(200);
        assert_eq!(me(&cy).await, 401);
        sign_in(&app, "ana@example.com", PASSWORD).await.expect(401);
        let audit = app.get("/api/v1/audit?resource_kind=account").await.expect(200).body;
        assert_eq!(audit["entries"][0]["action"], "account.update", "{audit}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_out_on_one_node_holds_on_the_others() {
    if !harness::services_available() {
        return;
    }
    let nodes = spawn_nodes(2, |_| {}).await;
    let ana = invite_and_accept(&nodes[0], "ana@example.com", "viewer").await;
    ana.call(&nodes[1], Method::GET, "/api/v1/me", None).await.expect(200);
    ana.call(&nodes[0], Method::DELETE, "/api/v1/session", None)
        .await
        .expect(204);
    ana.call(&nodes[1], Method::GET, "/api/v1/me", None).await.expect(401);
}
