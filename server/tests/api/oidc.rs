//! OpenID Connect sign-in against a real provider: the npm `oidc-provider`
//! (`tests/oidc/provider.js`), started on a free loopback port. Two nodes
//! on one database: the sign-in starts on one and finishes on the other,
//! and a session revoked on one is refused by the other.

use std::process::{Child, Command, Stdio};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{self, skip, Backend, TestApp};

const CLIENT_ID: &str = "daylight";
const CLIENT_SECRET: &str = "a-client-secret-of-some-length-0123456789";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The provider process, ended with the test.
struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the provider, or `None` (a skip) without node or its packages.
fn provider(redirect_uris: &[String]) -> Option<Provider> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/oidc");
    if Command::new("node").arg("--version").output().is_err() {
        skip("node is not installed");
        return None;
    }
    if !dir.join("node_modules/oidc-provider").exists() {
        skip("tests/oidc has no node_modules (run `npm --prefix tests/oidc ci`)");
        return None;
    }
    let port = free_port();
    let mut child = Command::new("node")
        .arg("provider.js")
        .current_dir(&dir)
        .env("PORT", port.to_string())
        .env("CLIENT_ID", CLIENT_ID)
        .env("CLIENT_SECRET", CLIENT_SECRET)
        .env("REDIRECT_URIS", redirect_uris.join(","))
        .stdout(Stdio::piped())
        .spawn()
        .expect("node starts");
    // Serving once it says so.
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).expect("the provider's first line");
    assert!(line.starts_with("listening "), "the provider said {line:?}");
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Some(Provider {
        child,
        issuer: line["listening ".len()..].trim().to_owned(),
    })
}

/// Two nodes on one database, each listening on `ports` and sending people
/// back to the second node's callback.
async fn two_nodes(backend: Backend, issuer: &str, ports: [u16; 2], dir: &tempfile::TempDir) -> Vec<TestApp> {
    let configure = |s: &mut daylight_server::Settings, port: u16| {
        s.listen = format!("127.0.0.1:{port}").parse().unwrap();
        s.oidc_issuer = Some(issuer.to_owned());
        s.oidc_client_id = Some(CLIENT_ID.into());
        s.oidc_client_secret = Some(CLIENT_SECRET.into());
        s.oidc_name = "Test IdP".into();
        s.oidc_roles = vec!["daylight-admins=admin".into(), "daylight-editors=editor".into()];
        s.oidc_scopes = vec!["email".into(), "profile".into(), "groups".into()];
        s.public_url = Some(format!("http://127.0.0.1:{}", ports[1]));
    };
    match backend {
        Backend::Postgres => {
            let next = std::sync::atomic::AtomicUsize::new(0);
            harness::spawn_nodes(2, |s| {
                configure(s, ports[next.fetch_add(1, std::sync::atomic::Ordering::SeqCst)])
            })
            .await
        }
        Backend::Sqlite => {
            let url = format!("sqlite://{}", dir.path().join("daylight.db").display());
            let mut nodes = Vec::new();
            for port in ports {
                let mut s = daylight_server::Settings::for_tests(url.clone(), harness::ADMIN);
                configure(&mut s, port);
                nodes.push(harness::start(s, Backend::Sqlite).await);
            }
            nodes
        }
    }
}

/// Signs `login` in: starts on `start`, goes through the provider's login
/// and consent forms, and comes back to the callback. The callback's answer.
async fn sign_in(start: &TestApp, login: &str, return_to: &str) -> reqwest::Response {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut next = browser
        .get(format!("{}/api/v1/session/oidc/start", start.url))
        .query(&[("return_to", return_to)])
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    for _ in 0..20 {
        let url = next.url().clone();
        if url.path() == "/api/v1/session/oidc/callback" {
            return next;
        }
        if next.status().is_redirection() {
            let location = next.headers()["location"].to_str().unwrap();
            let to = url.join(location).unwrap();
            next = browser.get(to).header("accept", "text/html").send().await.unwrap();
            continue;
        }
        let status = next.status();
        let page = next.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "at {url}: {page}");
        let action = page
            .split("action=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no form at {url}: {page}"))
            .to_owned();
        // The development interactions: a login form, then a consent form.
        let form: Vec<(&str, &str)> = if page.contains("name=\"login\"") {
            vec![("prompt", "login"), ("login", login), ("password", "anything")]
        } else {
            vec![("prompt", "consent")]
        };
        next = browser
            .post(url.join(&action).unwrap())
            .form(&form)
            .send()
            .await
            .unwrap();
    }
    panic!("the sign-in went round in circles");
}

fn session_cookie(callback: &reqwest::Response) -> String {
    let set = callback
        .headers()
        .get("set-cookie")
        .unwrap_or_else(|| panic!("no session cookie; status {}", callback.status()))
        .to_str()
        .unwrap();
    assert!(set.contains("HttpOnly"), "{set}");
    set.split(';').next().unwrap().to_owned()
}

async fn set_groups(provider: &Provider, subject: &str, groups: Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/test/groups/{subject}", provider.issuer))
        .body(groups.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_through_a_real_provider_on_two_nodes() {
    for backend in harness::backends() {
        let ports = [free_port(), free_port()];
        let redirect = format!("http://127.0.0.1:{}/api/v1/session/oidc/callback", ports[1]);
        let Some(provider) = provider(&[redirect]) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let nodes = two_nodes(backend, &provider.issuer, ports, &dir).await;
        let (a, b) = (&nodes[0], &nodes[1]);

        let providers = a.get("/api/v1/session/providers").await.expect(200).body;
        assert_eq!(providers, json!({ "local": true, "oidc": { "name": "Test IdP" } }));
        // Only paths on this site are return targets.
        a.request(
            Method::GET,
            "/api/v1/session/oidc/start?return_to=https://evil.example/",
            None,
            None,
            &[],
        )
        .await
        .expect_field_error(400, "return_to");

        // Not in any mapped group: refused, and no account is made.
        set_groups(&provider, "ana", json!(["staff"])).await;
        let refused = sign_in(a, "ana", "/").await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert!(refused.text().await.unwrap().contains("gives no role"));
        assert_eq!(a.get("/api/v1/accounts").await.expect(200).body["accounts"], json!([]));

        // An editor: started on node A, finished on node B.
        set_groups(&provider, "ana", json!(["staff", "daylight-editors"])).await;
        let back = sign_in(a, "ana", "/#/flags").await;
        assert_eq!(back.status(), StatusCode::FOUND);
        assert_eq!(back.headers()["location"], "/#/flags");
        let cookie = session_cookie(&back);
        let accounts = a.get("/api/v1/accounts").await.expect(200).body;
        assert_eq!(accounts["accounts"][0]["email"], "ana@example.com", "{accounts}");
        assert_eq!(accounts["accounts"][0]["name"], "Person ana", "{accounts}");
        assert_eq!(accounts["accounts"][0]["role"], "editor", "{accounts}");
        let me = a
            .request(Method::GET, "/api/v1/session", None, None, &[("cookie", &cookie)])
            .await
            .expect(200)
            .body;
        assert_eq!(me["role"], "editor");
        let csrf = me["csrf_token"].as_str().unwrap().to_owned();
        let with = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
        a.request(
            Method::POST,
            "/api/v1/flags",
            None,
            Some(json!({ "key": "sso-made" })),
            &with,
        )
        .await
        .expect(201);
        let audit = a.get("/api/v1/audit?resource_kind=flag").await.expect(200).body;
        assert_eq!(audit["entries"][0]["actor"], "person:ana@example.com", "{audit}");
        // An editor may not manage people.
        a.request(Method::GET, "/api/v1/accounts", None, None, &with)
            .await
            .expect(403);

        // The state is used once: replaying the callback finds nothing.
        let replay = b
            .request(
                Method::GET,
                &format!("/api/v1/session/oidc/callback?{}", back.url().query().unwrap()),
                None,
                None,
                &[],
            )
            .await;
        replay.expect_field_error(400, "state");

        // A second sign-in takes the role the claim gives now.
        set_groups(&provider, "ana", json!(["daylight-admins"])).await;
        let again = sign_in(b, "ana", "/").await;
        let admin_cookie = session_cookie(&again);
        let me = b
            .request(Method::GET, "/api/v1/session", None, None, &[("cookie", &admin_cookie)])
            .await
            .expect(200)
            .body;
        assert_eq!(me["role"], "admin");
        let accounts = a.get("/api/v1/accounts").await.expect(200).body;
        assert_eq!(accounts["accounts"].as_array().unwrap().len(), 1, "{accounts}");

        // Signed out on node A: node B refuses the session at once.
        a.request(Method::DELETE, "/api/v1/session", None, None, &with)
            .await
            .expect(204);
        b.request(Method::GET, "/api/v1/session", None, None, &[("cookie", &cookie)])
            .await
            .expect(401);
        b.request(Method::GET, "/api/v1/flags", None, None, &[("cookie", &cookie)])
            .await
            .expect(401);
        // The other session is still live.
        b.request(Method::GET, "/api/v1/session", None, None, &[("cookie", &admin_cookie)])
            .await
            .expect(200);
        drop(nodes);
    }
}
