//! Outgoing webhooks against a receiver in the test: signed deliveries of
//! audit entries matching the filters, retries after failures with the
//! attempts logged, giving up after the last attempt, several nodes
//! delivering each entry once, and bad input.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::harness::{self, TestApp};

pub(crate) const SECRET: &str = "whsec-test-0123456789";

/// The receivers here listen on loopback, which webhooks may reach only
/// when allowed.
pub(crate) fn allow_loopback(s: &mut daylight_server::Settings) {
    s.webhook_allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
}

/// One request the receiver got: headers, raw body, and what it answered.
#[derive(Clone)]
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
    answered: u16,
}

/// A receiver answering 500 to its first `fail_first` requests, then 200.
pub(crate) struct Receiver {
    pub(crate) url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub(crate) async fn start(fail_first: usize) -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let failures = Arc::new(AtomicUsize::new(fail_first));
        let (g, f) = (got.clone(), failures.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (got, failures) = (g.clone(), f.clone());
                async move {
                    let fail = failures
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    let status = if fail {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    };
                    got.lock().unwrap().push(Received {
                        headers,
                        body: body.to_vec(),
                        answered: status.as_u16(),
                    });
                    status
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, got }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Successful deliveries by audit action.
    pub(crate) fn delivered(&self) -> Vec<Value> {
        self.received()
            .into_iter()
            .filter(|r| r.answered == 200)
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }
}

pub(crate) async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn verify(r: &Received) {
    let header = |name: &str| {
        r.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&r.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(
        header("x-daylight-signature"),
        expected,
        "the signature covers the raw body"
    );
    let at: i64 = header("x-daylight-timestamp")
        .parse()
        .expect("a timestamp header in ms");
    assert!((daylight_server::db::now_ms() - at).abs() < 60_000);
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(header("x-daylight-event"), body["event"].as_str().unwrap());
    assert_eq!(body["event"], body["entry"]["action"]);
}

on_each_backend!(webhooks_deliver_signed_audit_entries_and_retry, allow_loopback, |app| {
    let receiver = Receiver::start(2).await;
    let hook = app
        .post(
            "/api/v1/webhooks",
            json!({ "url": receiver.url, "secret": SECRET, "events": ["flag.*"], "environments": ["production"] }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(hook["secret"], SECRET, "the secret is shown once");
    let id = hook["id"].as_i64().unwrap();
    let listed = app.get("/api/v1/webhooks").await.expect(200).body;
    assert_eq!(listed["webhooks"][0]["id"], id);
    assert!(listed["webhooks"][0].get("secret").is_none(), "{listed}");

    app.create_flag(json!({ "key": "checkout" })).await; // flag.create (no environment): sent
    app.toggle("checkout", "staging", true).await.expect(200); // another environment: not sent
    app.post("/api/v1/environments/production/segments", json!({ "key": "vip" }))
        .await
        .expect(201); // another event: not sent
    app.toggle("checkout", "production", true).await.expect(200); // sent

    eventually("two deliveries", async || receiver.delivered().len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let received = receiver.received();
    received.iter().for_each(verify);
    let mut delivered: Vec<(String, Option<String>)> = receiver
        .delivered()
        .iter()
        .map(|b| {
            (
                b["event"].as_str().unwrap().to_owned(),
                b["entry"]["environment"].as_str().map(str::to_owned),
            )
        })
        .collect();
    delivered.sort();
    assert_eq!(
        delivered,
        [
            ("flag.create".to_owned(), None),
            ("flag.on".to_owned(), Some("production".to_owned()))
        ],
        "each matching entry is delivered once"
    );
    assert_eq!(received.len(), 4, "two answers of 500, then one success per delivery");

    let log = app
        .get(&format!("/api/v1/webhooks/{id}/deliveries"))
        .await
        .expect(200)
        .body;
    let log = log["deliveries"].as_array().unwrap();
    assert_eq!(log.len(), 2);
    assert!(log
        .iter()
        .all(|d| d["status"] == "delivered" && d["response_code"] == 200));
    assert_eq!(log.iter().map(|d| d["attempts"].as_i64().unwrap()).sum::<i64>(), 4);
    let retried = log.iter().find(|d| d["attempts"].as_i64().unwrap() > 1).unwrap();
    assert!(retried["last_error"].as_str().unwrap().contains("500"), "{retried}");
    let pending = app
        .get(&format!("/api/v1/webhooks/{id}/deliveries?status=pending"))
        .await
        .expect(200);
    assert_eq!(pending.body["deliveries"], json!([]));

    app.request(
        reqwest::Method::DELETE,
        &format!("/api/v1/webhooks/{id}"),
        Some(harness::ADMIN),
        None,
        &[],
    )
    .await
    .expect(204);
    app.get(&format!("/api/v1/webhooks/{id}/deliveries")).await.expect(404);
});

on_each_backend!(bad_webhooks_get_a_4xx_naming_the_field, allow_loopback, |app| {
    let bad = [
        (json!({ "url": "ftp://example.com/x" }), "url"),
        (json!({ "url": "not a url" }), "url"),
        (json!({ "url": "http://127.0.0.1:9/x", "secret": "short" }), "secret"),
        (
            json!({ "url": "http://127.0.0.1:9/x", "events": ["flag on"] }),
            "events[0]",
        ),
        (
            json!({ "url": "http://127.0.0.1:9/x", "environments": ["nowhere"] }),
            "environments[0]",
        ),
        (json!({ "url": "http://127.0.0.1:9/x", "colour": "red" }), "colour"),
    ];
    for (body, field) in bad {
        app.post("/api/v1/webhooks", body).await.expect_field_error(400, field);
    }
    let editor = app.token("editor").await;
    app.request(
        reqwest::Method::POST,
        "/api/v1/webhooks",
        Some(&editor),
        Some(json!({ "url": "http://127.0.0.1:9/x" })),
        &[],
    )
    .await
    .expect(403);
    app.get("/api/v1/webhooks/999/deliveries").await.expect(404);
    let hook = app
        .post("/api/v1/webhooks", json!({ "url": "http://127.0.0.1:9/x" }))
        .await
        .expect(201)
        .body;
    assert!(
        hook["secret"].as_str().unwrap().starts_with("dl_whsec_"),
        "a secret is generated"
    );
    app.get(&format!("/api/v1/webhooks/{}/deliveries?status=lost", hook["id"]))
        .await
        .expect_field_error(400, "status");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_gives_up_after_the_last_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings =
        daylight_server::Settings::for_tests(format!("sqlite://{}/daylight.db", dir.path().display()), harness::ADMIN);
    settings.webhook_max_attempts = 3;
    allow_loopback(&mut settings);
    let app = harness::start(settings, harness::Backend::Sqlite).await;
    let receiver = Receiver::start(usize::MAX).await;
    let hook = app
        .post(
            "/api/v1/webhooks",
            json!({ "url": receiver.url, "secret": SECRET, "events": ["flag.create"] }),
        )
        .await
        .expect(201)
        .body;
    app.create_flag(json!({ "key": "f" })).await;
    let path = format!("/api/v1/webhooks/{}/deliveries", hook["id"]);
    eventually("the delivery to fail", async || {
        app.get(&path).await.body["deliveries"][0]["status"] == "failed"
    })
    .await;
    let d = app.get(&path).await.body["deliveries"][0].clone();
    assert_eq!(d["attempts"], 3);
    assert_eq!(d["response_code"], 500);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 3, "no attempt after the last");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_nodes_deliver_each_entry_once() {
    if !harness::services_available() {
        return;
    }
    let nodes = harness::spawn_nodes(3, allow_loopback).await;
    let receiver = Receiver::start(0).await;
    nodes[0]
        .post(
            "/api/v1/webhooks",
            json!({ "url": receiver.url, "secret": SECRET, "events": ["flag.on", "flag.off"] }),
        )
        .await
        .expect(201);
    // One flag per node: concurrent writes to one flag would conflict (409).
    for i in 0..3 {
        nodes[1].create_flag(json!({ "key": format!("f{i}") })).await;
    }
    let writes = 12;
    let mut tasks = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let url = node.url.clone();
        tasks.push(tokio::spawn(async move {
            let node = TestApp::remote(url);
            for n in 0..writes / 3 {
                node.toggle(&format!("f{i}"), "production", n % 2 == 0)
                    .await
                    .expect(200);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    eventually("every toggle delivered", async || receiver.delivered().len() >= writes).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut per_entry: BTreeMap<i64, usize> = BTreeMap::new();
    for body in receiver.delivered() {
        *per_entry.entry(body["audit_id"].as_i64().unwrap()).or_default() += 1;
    }
    assert_eq!(per_entry.len(), writes);
    assert!(
        per_entry.values().all(|n| *n == 1),
        "delivered more than once: {per_entry:?}"
    );
    receiver.received().iter().for_each(verify);
}

// Without an allowed network, webhooks may not target loopback, private or
// link-local addresses, however they are written; a name is checked by what
// it resolves to. Userinfo in the URL stays out of the audit log.
on_each_backend!(webhooks_refuse_non_public_destinations, |app| {
    for url in [
        "http://127.0.0.1:9/x",
        "http://[::1]:9/x",
        "http://2130706433:9/x",
        "http://0x7f000001:9/x",
        "http://0177.0.0.1:9/x",
        "http://[::ffff:127.0.0.1]:9/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/x",
        "http://10.0.0.1/x",
        "http://192.168.1.1/x",
        "http://localhost:9/x",
    ] {
        let r = app
            .post("/api/v1/webhooks", json!({ "url": url }))
            .await
            .expect_field_error(400, "url");
        assert!(
            r.body["message"].as_str().unwrap().contains("public"),
            "{url}: {}",
            r.body
        );
    }
    // A public address is fine; its password never reaches the audit log.
    app.post(
        "/api/v1/webhooks",
        json!({ "url": "http://bot:s3cret-pass@93.184.216.34:9/x", "events": ["nothing.matches"] }),
    )
    .await
    .expect(201);
    let viewer = app.token("viewer").await;
    let audit = app
        .request(
            reqwest::Method::GET,
            "/api/v1/audit?resource_kind=webhook",
            Some(&viewer),
            None,
            &[],
        )
        .await
        .expect(200);
    let text = audit.body.to_string();
    assert!(text.contains("93.184.216.34"), "{text}");
    assert!(!text.contains("s3cret-pass") && !text.contains("bot:"), "{text}");
});

/// The destination is checked again at delivery: a webhook whose address is
/// no longer allowed (a name re-pointed at loopback, say; here the row is
/// changed by hand) fails without a request, for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_to_a_destination_no_longer_allowed_fails_without_a_request() {
    let app = harness::spawn_app(harness::Backend::Sqlite).await;
    let receiver = Receiver::start(0).await;
    let hook = app
        .post(
            "/api/v1/webhooks",
            json!({ "url": "http://93.184.216.34:9/hook", "secret": SECRET, "events": ["flag.create"] }),
        )
        .await
        .expect(201)
        .body;
    let db = daylight_server::db::Db::connect(&app.database_url).await.unwrap();
    sqlx::query("UPDATE webhooks SET url = $1")
        .bind(&receiver.url)
        .execute(&db.pool)
        .await
        .unwrap();
    app.create_flag(json!({ "key": "f" })).await;
    let path = format!("/api/v1/webhooks/{}/deliveries", hook["id"]);
    eventually("the delivery to fail", async || {
        app.get(&path).await.body["deliveries"][0]["status"] == "failed"
    })
    .await;
    let d = app.get(&path).await.body["deliveries"][0].clone();
    assert_eq!(d["attempts"], 1, "refused for good: {d}");
    assert!(d["last_error"].as_str().unwrap().contains("public"), "{d}");
    assert!(receiver.received().is_empty());
}
