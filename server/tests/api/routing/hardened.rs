//! What the recipe's config does when things go wrong or a client lies: a
//! WebSocket keeps its pool across a switch; TLS headers reach the browser
//! and the pools whatever a location sets; a forged id or pool cookie does
//! not reach the dark pool; a revoked key is logged by nginx and counted in
//! `/metrics`; a hung or dead Daylight costs at most the timeout, and only a
//! few error-log lines; a reload applies at once and ends old WebSockets at
//! `worker_shutdown_timeout`.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::nginx::{curl, nginx_binary, port_of, signed, uid_cookie, visit, Nginx, Options};
use super::{create_pool_flag, create_staff, serve_routed, spawn_routed, FLAG};
use crate::harness::{free_port, TestApp};

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket to the realtime location as signed-in `user`.
async fn realtime(nginx: &Nginx, user: &str) -> Ws {
    let url = format!("{}/realtime/socket", nginx.url.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("cookie", format!("dl_uid={}", signed(user)).parse().unwrap());
    let (ws, response) = tokio_tungstenite::connect_async(request)
        .await
        .unwrap_or_else(|e| panic!("the WebSocket handshake failed: {e}; {}", nginx.error_log()));
    assert_eq!(response.status().as_u16(), 101);
    ws
}

/// The pool a realtime socket is connected to (it answers its name).
async fn ask(ws: &mut Ws) -> String {
    ws.send("which pool?".into()).await.expect("send");
    let answer = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("an answer in time")
        .expect("the socket is open")
        .expect("a message");
    answer.into_text().expect("text").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_stays_on_its_pool_across_a_switch() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let app = spawn_routed(|_| {}).await;
    create_staff(&app, &[]).await;
    create_pool_flag(&app).await;
    let key = app.sdk_key("production", "server").await;
    let nginx = Nginx::start(&binary, port_of(&app.url), &key).await;
    let mut before = realtime(&nginx, "player-1").await;
    assert_eq!(ask(&mut before).await, "blue");

    app.edit_config(FLAG, "production", |c| c["fallthrough"] = json!({ "variation": 1 }))
        .await
        .expect(200);
    // New connections go to green; the open one stays on blue.
    let mut after = realtime(&nginx, "player-1").await;
    assert_eq!(ask(&mut after).await, "green");
    assert_eq!(ask(&mut before).await, "blue", "the open socket moved");
    let http = reqwest::Client::new();
    assert_eq!(
        visit(&http, &format!("{}/", nginx.url), Some("player-1"), None).await.1,
        "green"
    );
}

/// The values of the head lines for header `name` (lower case).
fn head_values<'a>(head: &'a str, name: &str) -> Vec<&'a str> {
    head.lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_hsts_and_the_scheme_reach_browser_and_pool_and_a_client_header_changes_nothing() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let app = spawn_routed(|_| {}).await;
    create_staff(&app, &[]).await;
    create_pool_flag(&app).await;
    let key = app.sdk_key("production", "server").await;
    let tls = Nginx::start_with(
        &binary,
        port_of(&app.url),
        &key,
        Options {
            tls: true,
            ..Options::default()
        },
    )
    .await;
    // The client claims plain HTTP; nginx's own scheme wins.
    for path in ["/", "/build/app.js"] {
        let (head, body) = curl(&format!("{}{path}", tls.url), &["X-Forwarded-Proto: http"]);
        assert_eq!(body, "blue", "{path}");
        assert_eq!(
            head_values(&head, "strict-transport-security"),
            ["max-age=31536000"],
            "{path}: {head}"
        );
        assert_eq!(head_values(&head, "x-seen-proto"), ["https"], "{path}: {head}");
    }
    let (head, _) = curl(&format!("{}/", tls.url), &[]);
    let cookies = head_values(&head, "set-cookie");
    assert_eq!(cookies.len(), 2, "dl_uid and dl_pool: {head}");
    for cookie in &cookies {
        assert!(cookie.ends_with("; secure"), "{cookie}");
    }

    // Plain HTTP: a client that claims HTTPS gets no `Secure` cookie.
    let plain = Nginx::start(&binary, port_of(&app.url), &key).await;
    let resp = reqwest::Client::new()
        .get(format!("{}/", plain.url))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-seen-proto"], "http");
    let cookies: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let uid = uid_cookie(&cookies).expect("a sticky cookie");
    assert!(!uid.to_lowercase().contains("secure"), "{uid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_id_or_pool_does_not_reach_the_dark_pool() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let app = spawn_routed(|_| {}).await;
    create_staff(&app, &["staff-ann"]).await;
    create_pool_flag(&app).await;
    let key = app.sdk_key("production", "server").await;
    let nginx = Nginx::start(&binary, port_of(&app.url), &key).await;
    let http = reqwest::Client::new();
    let page = format!("{}/", nginx.url);
    // The real staff member: the site signed their id.
    assert_eq!(visit(&http, &page, Some("staff-ann"), None).await.1, "green");
    let other_secret = daylight_server::http::RouteIds::new(&["some-other-secret-0123456789abcdef".into()])
        .unwrap()
        .sign("staff-ann");
    let unsigned = "dl_uid=staff-ann".to_owned();
    let wrong = format!("dl_uid={other_secret}");
    let tampered = format!("dl_uid={}", signed("user-7").replace("user-7", "staff-ann"));
    for forged in [&unsigned, &wrong, &tampered, &"dl_pool=green".to_owned()] {
        let (status, pool, set_cookie) = visit(&http, &page, None, Some(forged)).await;
        assert_eq!((status, pool.as_str()), (200, "blue"), "{forged}");
        if forged.starts_with("dl_uid=") {
            let fresh = uid_cookie(&set_cookie).expect("a new signed id replaces the forged one");
            assert!(!fresh.starts_with("dl_uid=staff-ann"), "{fresh}");
        }
    }
    let forged_header = http.get(&page).header("x-user-id", "staff-ann").send().await.unwrap();
    assert_eq!(forged_header.text().await.unwrap(), "blue", "X-User-Id is not read");
}

/// The value of the first sample of `name` whose labels include all of `labels`.
fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_shows_in_the_nginx_log_and_in_metrics() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    // A process of its own: its `/metrics` counts only this test's requests.
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/daylight.db", dir.path().display());
    let port = free_port();
    let _server = serve_routed(&db, port).await;
    let app = TestApp::remote(format!("http://127.0.0.1:{port}"));
    create_staff(&app, &[]).await;
    create_pool_flag(&app).await;
    app.edit_config(FLAG, "production", |c| c["fallthrough"] = json!({ "variation": 1 }))
        .await
        .expect(200);
    let (id, key) = app.sdk_key_with_id("production", "server").await;
    let nginx = Nginx::start(&binary, port, &key).await;
    let http = reqwest::Client::new();
    let page = format!("{}/", nginx.url);
    assert_eq!(visit(&http, &page, Some("user-1"), None).await.1, "green");
    nginx.wait_for_line("site.log", "pool=green daylight=200").await;
    assert_eq!(nginx.log("daylight-failures.log"), "", "nothing failed yet");

    app.revoke_key("production", id).await;
    let (status, pool, _) = visit(&http, &page, Some("user-1"), None).await;
    assert_eq!((status, pool.as_str()), (200, "blue"), "the default pool");
    let line = nginx.wait_for_line("daylight-failures.log", "daylight=401").await;
    assert!(line.contains("pool=blue"), "{line}");
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metric(&text, "daylight_route_errors_total", &[r#"reason="unauthorized""#]) >= 1.0,
        "{text}"
    );
    let served = [r#"flag="web-pool""#, r#"pool="green""#, r#"environment="production""#];
    assert_eq!(metric(&text, "daylight_route_answers_total", &served), 1.0, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_or_dead_daylight_costs_at_most_the_timeout_and_a_few_log_lines() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    // The recipe's `proxy_read_timeout` for the sub-request, and what a
    // loaded machine may add to a request through nginx.
    let timeout = Duration::from_millis(200);
    let slack = Duration::from_millis(150);
    // Accepts connections and never answers.
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hung_port = hung.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hung.accept().await {
            held.push(socket);
        }
    });
    // `free_port()`: nothing listens there (connection refused).
    for (what, port, status, error_line) in [
        ("hung", hung_port, "504, 204", "upstream timed out"),
        ("dead", free_port(), "502, 204", "connect() failed"),
    ] {
        let nginx = Nginx::start(&binary, port, "dl_server_whatever").await;
        let http = reqwest::Client::new();
        let page = format!("{}/", nginx.url);
        let (mut slowest, mut slow) = (Duration::ZERO, 0);
        let started = Instant::now();
        for i in 0..40 {
            let sent = Instant::now();
            let (code, pool, _) = visit(&http, &page, Some(&format!("user-{i}")), None).await;
            let took = sent.elapsed();
            assert_eq!((code, pool.as_str()), (200, "blue"), "{what}: request {i}");
            slowest = slowest.max(took);
            slow += usize::from(took >= timeout / 2);
        }
        let elapsed = started.elapsed();
        // A canary keeps its pool meanwhile.
        let (_, pool, _) = visit(&http, &page, Some("canary"), Some("dl_pool=green")).await;
        assert_eq!(pool, "green", "{what}: the remembered pool");
        assert!(slowest <= timeout + slack, "{what}: a request took {slowest:?}");
        // `max_fails=3`: then the stand-in answers for `fail_timeout` (5 s).
        assert!(elapsed < Duration::from_secs(5), "{what}: the loop took {elapsed:?}");
        assert!(slow <= 3, "{what}: {slow} requests waited for Daylight");
        nginx
            .wait_for_line("daylight-failures.log", &format!("daylight={status}"))
            .await;
        let errors = nginx.error_log().lines().filter(|l| l.contains(error_line)).count();
        assert!(
            (1..=3).contains(&errors),
            "{what}: {errors} error lines for 41 requests: {}",
            nginx.error_log()
        );
        eprintln!("{what} Daylight: 41 requests, slowest {slowest:?}, {slow} waited, {errors} error-log lines");
    }
    holder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_moves_the_default_at_once_and_ends_open_websockets_at_the_shutdown_timeout() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let app = spawn_routed(|_| {}).await;
    create_staff(&app, &[]).await;
    create_pool_flag(&app).await;
    let key = app.sdk_key("production", "server").await;
    let shutdown = Duration::from_secs(2);
    let options = Options {
        master: Some(shutdown),
        ..Options::default()
    };
    let nginx = Nginx::start_with(&binary, port_of(&app.url), &key, options).await;
    let http = reqwest::Client::new();
    // Assets without a `dl_pool` cookie come from the map's default.
    let asset = format!("{}/build/app.js", nginx.url);
    assert_eq!(visit(&http, &asset, None, None).await.1, "blue");
    let mut open = realtime(&nginx, "player-1").await;
    assert_eq!(ask(&mut open).await, "blue");

    // The end of a release: the known-good pool is green now.
    let reloaded = Instant::now();
    nginx.reload(|site| {
        let from = "    default blue;\n}\n\n# The pool Daylight named";
        assert!(site.contains(from), "the recipe's default moved");
        site.replace(from, "    default green;\n}\n\n# The pool Daylight named")
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while visit(&http, &asset, None, None).await.1 != "green" {
        assert!(
            Instant::now() < deadline,
            "the reload did not apply: {}",
            nginx.error_log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The socket opened before the reload lives on in the old worker until
    // `worker_shutdown_timeout` ends it; then the client reconnects.
    assert_eq!(ask(&mut open).await, "blue");
    let ended = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match open.next().await {
                None | Some(Err(_)) => break,
                Some(Ok(msg)) if msg.is_close() => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    let lasted = reloaded.elapsed();
    assert!(ended.is_ok(), "the old worker kept the socket: {}", nginx.error_log());
    assert!(
        lasted >= shutdown - Duration::from_millis(200),
        "closed after {lasted:?}"
    );
    let mut again = realtime(&nginx, "player-1").await;
    assert_eq!(ask(&mut again).await, "blue", "Daylight still names blue");
    eprintln!("reload: the open WebSocket ended {lasted:?} after it ({shutdown:?} shutdown timeout)");
}

/// A routing secret too short to sign with stops the server at start, naming
/// the setting, rather than signing ids anyone could forge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_route_secret_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_daylight"))
        .arg("serve")
        .env(
            "DAYLIGHT_DATABASE_URL",
            format!("sqlite://{}/d.db", dir.path().display()),
        )
        .env("DAYLIGHT_LISTEN", "127.0.0.1:0")
        .env("DAYLIGHT_ADMIN_TOKEN", crate::harness::ADMIN)
        .env("DAYLIGHT_ROUTE_SECRET", "too-short")
        .output()
        .await
        .expect("the server binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("DAYLIGHT_ROUTE_SECRET"), "{stderr}");
}
