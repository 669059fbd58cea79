//! The routing endpoint behind a real nginx running the documented config
//! (`docs/recipes/blue-green.conf`, `nginx.rs`): segment and rollout routing
//! by the bucketing formula, a switch under load, and Daylight stopped during
//! traffic; `hardened.rs` the failure modes and what a client can forge,
//! `release.rs` two releases with `daylight routing release`. Without nginx
//! the nginx tests are skipped, except with `DAYLIGHT_REQUIRE_SERVICES=1`
//! (CI), where they fail.

mod hardened;
mod nginx;
mod release;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use self::nginx::{nginx_binary, port_of, uid_cookie, visit, Nginx, SECRET};
use crate::harness::{free_port, spawn_app, spawn_app_with, Backend, ServerProcess, TestApp, ADMIN};

const FLAG: &str = "web-pool";

/// A Daylight in this process with the routing secret.
async fn spawn_routed(configure: impl FnOnce(&mut daylight_server::Settings)) -> TestApp {
    spawn_app_with(Backend::Sqlite, |s| {
        s.route_secret = vec![SECRET.into()];
        configure(s)
    })
    .await
}

/// A `daylight serve` process with the routing secret (its own `/metrics`).
async fn serve_routed(db: &str, port: u16) -> ServerProcess {
    ServerProcess::start_with(db, port, &[("DAYLIGHT_ROUTE_SECRET", SECRET)]).await
}

/// The pool the bucketing contract puts `user` in when the rollout gives
/// blue `100_000 - thousandths` and green `thousandths`, in that order: the
/// first variation whose running sum of weights exceeds the bucket.
fn expected(user: &str, thousandths: u32) -> &'static str {
    if daylight::bucket::bucket_of(FLAG, user) >= 100_000 - thousandths {
        "green"
    } else {
        "blue"
    }
}

/// `web-pool` (blue, green): on, the `staff` segment and `/beta/` paths go to
/// green, everyone else by a rollout of `thousandths` green.
async fn create_pool_flag(app: &TestApp) {
    app.create_flag(json!({ "key": FLAG, "variations": ["blue", "green"] }))
        .await;
    app.edit_config(FLAG, "production", |c| {
        c["on"] = json!(true);
        c["rules"] = json!([
            { "id": "staff", "clauses": [{ "op": "in_segment", "values": ["staff"] }], "serve": { "variation": 1 } },
            { "id": "beta", "clauses": [{ "attribute": "path", "op": "starts_with", "values": ["/beta/"] }], "serve": { "variation": 1 } }
        ]);
        c["fallthrough"] = json!({ "variation": 0 });
    })
    .await
    .expect(200);
}

async fn set_rollout(app: &TestApp, thousandths: u32) {
    app.edit_config(FLAG, "production", |c| {
        c["fallthrough"] = json!({ "rollout": { "variations": [
            { "variation": 0, "weight": 100_000 - thousandths }, { "variation": 1, "weight": thousandths }
        ] } });
    })
    .await
    .expect(200);
}

async fn create_staff(app: &TestApp, keys: &[&str]) {
    app.post(
        "/api/v1/environments/production/segments",
        json!({ "key": "staff", "name": "Staff" }),
    )
    .await
    .expect(201);
    app.request(
        Method::PUT,
        "/api/v1/environments/production/segments/staff/included",
        Some(ADMIN),
        Some(json!(keys)),
        &[],
    )
    .await
    .expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_routes_staff_and_the_rollout_by_the_bucketing_formula() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let app = spawn_routed(|_| {}).await;
    let staff = ["staff-ann", "staff-bo", "staff-cy"];
    create_staff(&app, &staff).await;
    create_pool_flag(&app).await;
    let key = app.sdk_key("production", "server").await;
    let nginx = Nginx::start(&binary, port_of(&app.url), &key).await;
    let http = reqwest::Client::new();
    let page = format!("{}/", nginx.url);
    let users: Vec<String> = (0..400).map(|i| format!("user-{i}")).collect();

    // Dark launch: staff (and /beta/ pages) on green, everyone else on blue.
    for user in &staff {
        assert_eq!(visit(&http, &page, Some(user), None).await.1, "green", "{user}");
    }
    for user in &users {
        assert_eq!(visit(&http, &page, Some(user), None).await.1, "blue", "{user}");
    }
    let beta = format!("{}/beta/new-checkout?x=1", nginx.url);
    assert_eq!(visit(&http, &beta, Some("user-0"), None).await.1, "green");

    // 5 %, then 25 %: exactly the users the formula predicts, and everyone
    // already on green stays there.
    let mut green_before: Vec<&String> = Vec::new();
    for thousandths in [5_000, 25_000] {
        set_rollout(&app, thousandths).await;
        let mut green = Vec::new();
        for user in &users {
            let pool = visit(&http, &page, Some(user), None).await.1;
            assert_eq!(pool, expected(user, thousandths), "{user} at {thousandths}");
            if pool == "green" {
                green.push(user);
            }
        }
        assert!(
            green_before.iter().all(|u| green.contains(u)),
            "a user left green when the rollout grew"
        );
        assert!(
            green.len() > green_before.len(),
            "raising to {thousandths} moved nobody"
        );
        green_before = green;
        for user in &staff {
            assert_eq!(visit(&http, &page, Some(user), None).await.1, "green");
        }
    }

    // Anonymous visitors: a sticky id once, then bucketed by it.
    let (status, first_pool, set_cookie) = visit(&http, &page, None, None).await;
    assert_eq!(status, 200);
    let set_cookie = uid_cookie(&set_cookie).expect("a sticky cookie for an anonymous visitor");
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("Path=/"),
        "{set_cookie}"
    );
    let value = set_cookie
        .strip_prefix("dl_uid=")
        .and_then(|rest| rest.split(';').next())
        .expect("dl_uid=ID.SIG; ...")
        .to_owned();
    let (id, _signature) = value.split_once('.').expect("a signed id");
    assert_eq!(first_pool, expected(id, 25_000));
    for _ in 0..5 {
        let (_, pool, again) = visit(&http, &page, None, Some(&format!("dl_uid={value}"))).await;
        assert_eq!(pool, first_pool, "the sticky id keeps its pool");
        assert!(uid_cookie(&again).is_none(), "no new cookie once one is sent");
    }

    // The kill switch: everyone back on blue from the next request on. The
    // toggle answers once this node's memory holds the change (the writer
    // catches up before it answers) and nginx caches no `auth_request`
    // answer, so no wait is needed and none is allowed.
    app.toggle(FLAG, "production", false).await.expect(200);
    for user in green_before.iter().take(20) {
        assert_eq!(
            visit(&http, &page, Some(user), None).await.1,
            "blue",
            "{user} still on green after the kill switch"
        );
    }
    for user in staff.iter().map(|s| s.to_string()).chain(users.iter().cloned()) {
        assert_eq!(visit(&http, &page, Some(&user), None).await.1, "blue");
    }
}

/// One request as the load loop saw it.
struct Seen {
    user: usize,
    sent: Instant,
    done: Instant,
    status: u16,
    pool: String,
}

/// Users (each owned by one task, so its requests are in order) requesting
/// the page as fast as nginx answers until `stop`; `count` counts answers.
fn load(
    url: String,
    users: usize,
    tasks: usize,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<Vec<Seen>>> {
    let http = reqwest::Client::new();
    (0..tasks)
        .map(|t| {
            let (http, url, stop, count) = (http.clone(), url.clone(), stop.clone(), count.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mine: Vec<usize> = (t..users).step_by(tasks).collect();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let user = mine[i % mine.len()];
                    i += 1;
                    let sent = Instant::now();
                    let (status, pool, _) = visit(&http, &url, Some(&format!("user-{user}")), None).await;
                    seen.push(Seen {
                        user,
                        sent,
                        done: Instant::now(),
                        status,
                        pool,
                    });
                    count.fetch_add(1, Ordering::Relaxed);
                }
                seen
            })
        })
        .collect()
}

/// Waits until `n` more answers arrived (a phase long enough for every user
/// to be served a few times, however loaded the machine is).
async fn answers(count: &AtomicUsize, n: usize) {
    let target = count.load(Ordering::Relaxed) + n;
    let deadline = Instant::now() + Duration::from_secs(30);
    while count.load(Ordering::Relaxed) < target {
        assert!(Instant::now() < deadline, "the load made no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn collect(tasks: Vec<tokio::task::JoinHandle<Vec<Seen>>>) -> Vec<Seen> {
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("a load task"));
    }
    all
}

fn assert_no_failures(seen: &[Seen], nginx: &Nginx) {
    let failed: Vec<_> = seen
        .iter()
        .filter(|s| s.status != 200 || !(s.pool == "blue" || s.pool == "green"))
        .map(|s| format!("{} {}", s.status, s.pool))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed, e.g. {:?}; nginx log: {}",
        failed.len(),
        seen.len(),
        &failed[..failed.len().min(5)],
        nginx.error_log()
    );
}

/// Every request wholly inside (from, to) landed on `pool`; returns how many.
fn all_on(seen: &[Seen], from: Instant, to: Instant, pool: &str) -> usize {
    let inside: Vec<&Seen> = seen.iter().filter(|s| s.sent > from && s.done < to).collect();
    let wrong = inside.iter().filter(|s| s.pool != pool).count();
    assert_eq!(wrong, 0, "{wrong} of {} requests missed {pool}", inside.len());
    inside.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_under_load_loses_no_request_and_moves_each_user_once() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    // Beside a proxy on shared cores the work-stealing scheduler is the
    // recommended setting (docs/benchmarks.md); this test serves with it.
    let app = spawn_routed(|s| s.thread_per_core = false).await;
    create_staff(&app, &[]).await;
    create_pool_flag(&app).await;
    let key = app.sdk_key("production", "server").await;
    let nginx = Nginx::start(&binary, port_of(&app.url), &key).await;
    let users = 64;
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks = load(format!("{}/", nginx.url), users, 8, stop.clone(), count.clone());
    // Each phase: every user served about five times.
    let phase = users * 5;

    answers(&count, phase).await;
    let to_green = Instant::now();
    app.edit_config(FLAG, "production", |c| c["fallthrough"] = json!({ "variation": 1 }))
        .await
        .expect(200);
    let green_done = Instant::now();
    answers(&count, phase).await;
    // Back to blue in one click: the kill switch.
    let to_blue = Instant::now();
    app.toggle(FLAG, "production", false).await.expect(200);
    let blue_done = Instant::now();
    answers(&count, phase).await;
    stop.store(true, Ordering::Relaxed);
    let end = Instant::now();
    let seen = collect(tasks).await;

    assert_no_failures(&seen, &nginx);
    let before = all_on(&seen, start, to_green, "blue");
    let during = all_on(&seen, green_done, to_blue, "green");
    let after = all_on(&seen, blue_done, end, "blue");
    assert!(
        before >= users && during >= users && after >= users,
        "too little traffic: {before} / {during} / {after}"
    );
    // Each user: blue…, green…, blue… (at most two moves, in that order).
    let mut by_user: HashMap<usize, Vec<&str>> = HashMap::new();
    for s in &seen {
        let pools = by_user.entry(s.user).or_default();
        if pools.last() != Some(&s.pool.as_str()) {
            pools.push(&s.pool);
        }
    }
    assert_eq!(by_user.len(), users, "every user was served");
    for (user, pools) in by_user {
        assert_eq!(pools, ["blue", "green", "blue"], "user-{user} moved: {pools:?}");
    }
    eprintln!(
        "switch under load: {} requests, 0 failed ({before} before, {during} on green, {after} after)",
        seen.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_falls_back_to_the_default_pool_while_daylight_is_stopped() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/daylight.db", dir.path().display());
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = serve_routed(&db, port).await;
    let app = TestApp::remote(url.clone());
    create_staff(&app, &[]).await;
    create_pool_flag(&app).await;
    // Everyone on green; nginx's default (known-good) pool is blue.
    app.edit_config(FLAG, "production", |c| c["fallthrough"] = json!({ "variation": 1 }))
        .await
        .expect(200);
    let key = app.sdk_key("production", "server").await;
    let nginx = Nginx::start(&binary, port, &key).await;
    let http = reqwest::Client::new();
    let page = format!("{}/", nginx.url);
    // nginx remembers the pool in a cookie (`dl_pool`).
    let (_, pool, set_cookie) = visit(&http, &page, Some("canary"), None).await;
    assert_eq!(pool, "green");
    let remembered = set_cookie
        .iter()
        .find(|c| c.starts_with("dl_pool=green;"))
        .unwrap_or_else(|| panic!("no dl_pool cookie: {set_cookie:?}"));
    let remembered = remembered.split(';').next().unwrap().to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks = load(format!("{}/", nginx.url), 32, 8, stop.clone(), count.clone());
    answers(&count, 200).await;
    let killed = Instant::now();
    drop(server);
    let gone = Instant::now();
    answers(&count, 500).await;
    // Meanwhile a browser that was on green stays there (its cookie), and
    // one without the cookie goes to the default pool.
    assert_eq!(visit(&http, &page, Some("canary"), Some(&remembered)).await.1, "green");
    assert_eq!(visit(&http, &page, Some("canary"), None).await.1, "blue");
    // Back up on the same database: traffic returns to green (once nginx
    // tries Daylight again: within `fail_timeout`).
    let restarting = Instant::now();
    server = serve_routed(&db, port).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while visit(&http, &page, Some("canary"), None).await.1 != "green" {
        assert!(Instant::now() < deadline, "traffic did not return to green");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let back = Instant::now();
    answers(&count, 200).await;
    stop.store(true, Ordering::Relaxed);
    let end = Instant::now();
    let seen = collect(tasks).await;
    drop(server);

    assert_no_failures(&seen, &nginx);
    let before = all_on(&seen, start, killed, "green");
    let down = all_on(&seen, gone, restarting, "blue");
    let after = all_on(&seen, back, end, "green");
    assert!(
        before >= 100 && down >= 300 && after >= 100,
        "too little traffic: {before} / {down} / {after}"
    );
    eprintln!(
        "daylight stopped: {} requests, 0 failed ({before} before on green, {down} on the fallback, {after} after)",
        seen.len()
    );
}

async fn route(app: &TestApp, path: &str, key: Option<&str>, headers: &[(&str, &str)]) -> crate::harness::Reply {
    app.request(Method::GET, path, key, None, headers).await
}

/// The endpoint alone: authentication, bad input as JSON errors naming the
/// field, and answers from memory while the database is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_answers_from_memory_and_rejects_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let settings =
        daylight_server::Settings::for_tests(format!("sqlite://{}/daylight.db", dir.path().display()), ADMIN);
    let built = daylight_server::Application::build(settings)
        .await
        .expect("the server starts");
    let state = built.state().clone();
    let url = format!("http://127.0.0.1:{}", built.port());
    tokio::spawn(built.run_until(std::future::pending()));
    let app = TestApp::remote(url);
    create_staff(&app, &["staff-ann"]).await;
    create_pool_flag(&app).await;
    app.create_flag(json!({ "key": "bool-flag" })).await;
    let server = app.sdk_key("production", "server").await;
    let client = app.sdk_key("production", "client").await;
    let r = route(&app, "/route/v1/web-pool", Some(&server), &[("x-user-id", "staff-ann")])
        .await
        .expect(200);
    assert_eq!(r.headers["x-daylight-pool"], "green");
    assert_eq!(r.headers["x-daylight-variation"], "1");
    assert_eq!(r.headers["x-daylight-reason"], "TARGETING_MATCH");
    assert_eq!(r.headers["cache-control"], "no-store");
    // Key and attributes from the places the query names.
    let r = route(
        &app,
        "/route/v1/web-pool?key=cookie:sid&attr.path=header:x-app-path",
        Some(&server),
        &[("cookie", "a=b; sid=staff-ann"), ("x-app-path", "/x")],
    )
    .await
    .expect(200);
    assert_eq!(r.headers["x-daylight-pool"], "green");
    let r = route(
        &app,
        "/route/v1/web-pool",
        Some(&server),
        &[("x-original-uri", "/beta/checkout?step=2")],
    )
    .await
    .expect(200);
    assert_eq!(r.headers["x-daylight-pool"], "green", "path prefix rule");
    let r = route(
        &app,
        "/route/v1/web-pool",
        Some(&server),
        &[("x-original-uri", "/shop")],
    )
    .await
    .expect(200);
    assert_eq!(r.headers["x-daylight-pool"], "blue");
    assert!(
        r.headers.get("x-daylight-set-cookie").is_none(),
        "no cookie unless asked"
    );

    // Credentials: none, unknown, a client key (public) are refused.
    route(&app, "/route/v1/web-pool", None, &[]).await.expect(401);
    route(&app, "/route/v1/web-pool", Some("dl_server_nope"), &[])
        .await
        .expect(401);
    let r = route(&app, "/route/v1/web-pool", Some(&client), &[]).await.expect(403);
    assert_eq!(r.body["error"], "forbidden");
    // Bad input: JSON errors that name the field.
    route(&app, "/route/v1/nope", Some(&server), &[]).await.expect(404);
    route(&app, "/route/v1/bool-flag", Some(&server), &[])
        .await
        .expect_field_error(400, "flag");
    route(&app, "/route/v1/web-pool?key=bogus:x", Some(&server), &[])
        .await
        .expect_field_error(400, "key");
    route(&app, "/route/v1/web-pool?key=header:", Some(&server), &[])
        .await
        .expect_field_error(400, "key");
    route(&app, "/route/v1/web-pool?attr.country=nowhere", Some(&server), &[])
        .await
        .expect_field_error(400, "attr.country");
    route(&app, "/route/v1/web-pool?cookie=a%3Bb", Some(&server), &[])
        .await
        .expect_field_error(400, "cookie");
    route(&app, "/route/v1/web-pool?cookie_max_age=-1", Some(&server), &[])
        .await
        .expect_field_error(400, "cookie_max_age");
    route(&app, "/route/v1/web-pool?target=green", Some(&server), &[])
        .await
        .expect_field_error(400, "target");

    // The database goes away: routing goes on from memory with the known key;
    // a key never seen before cannot be checked (503, so nginx falls back).
    state.db.pool.close().await;
    for _ in 0..3 {
        let r = route(&app, "/route/v1/web-pool", Some(&server), &[("x-user-id", "staff-ann")])
            .await
            .expect(200);
        assert_eq!(r.headers["x-daylight-pool"], "green");
    }
    let r = route(&app, "/route/v1/web-pool", Some("dl_server_unknown"), &[]).await;
    assert_eq!(r.status.as_u16(), 503, "{}", r.body);
}

/// What the proxy sets (`X-Real-IP`, `X-Original-*`, and the route's
/// `attr.NAME`) wins over `X-Daylight-Attr-*` headers, which the client may
/// have sent: a visitor cannot claim an internal address or a beta path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attributes_set_by_the_proxy_win_over_client_headers() {
    let app = spawn_app(Backend::Sqlite).await;
    app.create_flag(json!({ "key": "office", "variations": ["public", "internal"] }))
        .await;
    app.edit_config("office", "production", |c| {
        c["on"] = json!(true);
        c["rules"] = json!([
            { "id": "lan", "clauses": [{ "attribute": "ip", "op": "starts_with", "values": ["10."] }], "serve": { "variation": 1 } },
            { "id": "beta", "clauses": [{ "attribute": "path", "op": "starts_with", "values": ["/beta/"] }], "serve": { "variation": 1 } },
            { "id": "country", "clauses": [{ "attribute": "country", "op": "in", "values": ["XX"] }], "serve": { "variation": 1 } }
        ]);
    })
    .await
    .expect(200);
    let server = app.sdk_key("production", "server").await;
    let pool = |path: &'static str, headers: Vec<(&'static str, &'static str)>| {
        let (app, server) = (&app, &server);
        async move {
            let r = route(app, path, Some(server), &headers).await.expect(200);
            r.headers["x-daylight-pool"].to_str().unwrap().to_owned()
        }
    };
    let outside = ("x-real-ip", "203.0.113.9");
    assert_eq!(
        pool("/route/v1/office", vec![("x-real-ip", "10.0.0.1")]).await,
        "internal"
    );
    assert_eq!(pool("/route/v1/office", vec![outside]).await, "public");
    let forged = vec![
        outside,
        ("x-original-uri", "/shop"),
        ("x-daylight-attr-ip", "10.0.0.1"),
        ("x-daylight-attr-path", "/beta/x"),
    ];
    assert_eq!(pool("/route/v1/office", forged).await, "public");
    // The route's own attributes win too.
    let country = vec![outside, ("cf-ipcountry", "AU"), ("x-daylight-attr-country", "XX")];
    assert_eq!(
        pool("/route/v1/office?attr.country=header:cf-ipcountry", country.clone()).await,
        "public"
    );
    // Without anything from the proxy, the header still provides the attribute.
    assert_eq!(pool("/route/v1/office", country).await, "internal");
}

/// The recipe shows the config the tests run, byte for byte.
#[test]
fn the_recipe_shows_the_tested_config() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/recipes/");
    let conf = std::fs::read_to_string(format!("{dir}blue-green.conf")).expect("the config");
    let doc = std::fs::read_to_string(format!("{dir}blue-green.md")).expect("the recipe");
    assert!(
        doc.contains(&format!("```nginx\n{conf}```")),
        "docs/recipes/blue-green.md must quote blue-green.conf verbatim"
    );
}
