//! The first start: with no admin token configured and no one to sign in,
//! the server makes a one-time setup link instead of printing a token; the
//! first admin gives an email, a name and a password there.

use daylight_server::{Application, Settings};
use serde_json::{json, Value};

/// Starts a server on `url` with no admin token; its setup code, if any.
async fn start(url: &str) -> (String, Option<String>, tokio::sync::oneshot::Sender<()>) {
    let mut settings = Settings::for_tests(url.to_owned(), "unused_admin_token_0123456789abcdef");
    settings.admin_token = None;
    let app = Application::build(settings).await.expect("the server starts");
    let code = app.setup_code.clone();
    let base = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    (base, code, tx)
}

async fn accept(base: &str, body: Value) -> (u16, Value, Option<String>) {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/invitations/accept"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let cookie = r
        .headers()
        .get("set-cookie")
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned());
    (status, r.json().await.unwrap_or(Value::Null), cookie)
}

#[tokio::test]
async fn a_fresh_install_makes_a_setup_link_that_creates_the_first_admin_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/daylight.db", dir.path().display());
    let (base, code, stop) = start(&url).await;
    let code = code.expect("no token and no account: a setup link");
    assert!(code.starts_with("dl_setup"), "{code}");
    // Nothing works without a credential meanwhile.
    let r = reqwest::get(format!("{base}/api/v1/flags")).await.unwrap();
    assert_eq!(r.status(), 401);

    // The setup link's invitation has no email: the first admin gives one.
    let password = "a long enough password";
    let (status, body, _) = accept(&base, json!({ "code": code, "name": "Ana", "password": password })).await;
    assert_eq!((status, &body["field"]), (400, &json!("email")), "{body}");
    let (status, body, _) = accept(
        &base,
        json!({ "code": code, "name": "Ana", "password": password, "email": "not an email" }),
    )
    .await;
    assert_eq!((status, &body["field"]), (400, &json!("email")), "{body}");
    let (status, body, cookie) = accept(
        &base,
        json!({ "code": code, "name": "Ana", "password": password, "email": "Ana@Example.com" }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let session = reqwest::Client::new()
        .get(format!("{base}/api/v1/session"))
        .header("cookie", cookie.expect("signed in"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(session["role"], "admin", "{session}");
    assert_eq!(session["email"], "ana@example.com", "{session}");

    // Once only.
    let (status, body, _) = accept(
        &base,
        json!({ "code": code, "name": "Eve", "password": password, "email": "eve@example.com" }),
    )
    .await;
    assert_eq!((status, &body["field"]), (400, &json!("code")), "{body}");
    let _ = stop.send(());

    // Someone can sign in now: a restart makes no new link.
    let (_, again, stop) = start(&url).await;
    assert!(again.is_none(), "an account exists: no setup link");
    let _ = stop.send(());
}

#[tokio::test]
async fn a_restart_before_setup_makes_a_new_link_and_the_old_one_stops_working() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/daylight.db", dir.path().display());
    let (_, first, stop) = start(&url).await;
    let _ = stop.send(());
    let (base, second, stop) = start(&url).await;
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_ne!(first, second);
    let body = |code: &str| json!({ "code": code, "name": "Ana", "password": "a long enough password", "email": "ana@example.com" });
    let (status, reply, _) = accept(&base, body(&first)).await;
    assert_eq!((status, &reply["field"]), (400, &json!("code")), "{reply}");
    let (status, reply, _) = accept(&base, body(&second)).await;
    assert_eq!(status, 201, "{reply}");
    let _ = stop.send(());
}
