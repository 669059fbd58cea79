//! The streaming client against a fake server (`client_support`): the
//! handshake, patches and gaps, heartbeats, reconnects and resume, outages,
//! errors, bootstrap and offline use (`docs/protocol.md`, `docs/sdk-rust.md`).

#![cfg(feature = "client")]

mod client_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::http::StatusCode;

use client_support::{bool_flag, eventually, lobby_ruleset, FakeServer, KEY, PATIENCE};
use daylight::client::{Client, ConnectionState, OwnedReason};
use daylight::{Context, ErrorKind, RulesetDocument};

fn omaha() -> Context {
    Context::new("u-1").with("game", "omaha")
}

fn rule_match() -> OwnedReason {
    OwnedReason::RuleMatch {
        rule_index: 0,
        rule_id: "omaha".to_owned(),
        in_rollout: false,
    }
}

/// A started client in sync at version 5 with `lobby_ruleset`.
async fn synced_client(server: &mut FakeServer) -> (Client, client_support::Conn) {
    let builder = server.client();
    let (client, (conn, _hello)) = tokio::join!(
        async { builder.build().await.unwrap() },
        server.sync_next(5, lobby_ruleset())
    );
    eventually("synced", || client.connection_state() == ConnectionState::Synced).await;
    (client, conn)
}

#[tokio::test]
async fn snapshot_then_synced_makes_the_client_ready() {
    let mut server = FakeServer::start().await;
    let builder = server.client();
    let (client, (_conn, hello)) = tokio::join!(
        async { builder.build().await.unwrap() },
        server.sync_next(5, lobby_ruleset())
    );
    assert_eq!(hello["protocols"], json!([1]));
    assert_eq!(hello["key"], KEY);
    assert!(hello["sdk"].as_str().unwrap().starts_with("daylight-rust/"));
    assert!(
        hello.get("version").is_none(),
        "a first connection does not resume: {hello}"
    );

    assert!(client.is_ready());
    assert_eq!(client.version(), Some(5));
    eventually("synced", || client.connection_state() == ConnectionState::Synced).await;
    let detail = client.bool_variation_detail("new-lobby", &omaha(), false);
    assert_eq!((detail.value, detail.variation), (true, Some(1)));
    assert_eq!(detail.reason, rule_match());
    assert!(!client.bool_variation("new-lobby", &Context::new("u-2"), true));
    assert_eq!(client.string_variation("theme", &omaha(), "light"), "dark");
    assert_eq!(client.json_variation("theme", &omaha(), json!(null)), json!("dark"));
    let missing = client.number_variation_detail("missing", &omaha(), 7.0);
    assert_eq!(missing.value, 7.0);
    assert_eq!(missing.reason.error_kind(), Some(ErrorKind::FlagNotFound));
    let mismatch = client.string_variation_detail("new-lobby", &omaha(), "x");
    assert_eq!(mismatch.value, "x");
    assert_eq!(mismatch.reason.error_kind(), Some(ErrorKind::TypeMismatch));
}

#[tokio::test]
async fn a_patch_changes_values_and_tells_listeners() {
    let mut server = FakeServer::start().await;
    let (client, mut conn) = synced_client(&mut server).await;
    let mut events = client.subscribe();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = heard.clone();
    let _listener = client.on_change(move |event| sink.lock().unwrap().push(event.clone()));

    conn.patch(6, "flag", "new-lobby", bool_flag(1, false)).await;
    let event = tokio::time::timeout(PATIENCE, events.recv()).await.unwrap().unwrap();
    assert_eq!(
        (event.version, event.flags.as_slice()),
        (6, &["new-lobby".to_owned()][..])
    );
    assert_eq!(client.version(), Some(6));
    let detail = client.bool_variation_detail("new-lobby", &Context::new("u-2"), false);
    assert!(detail.value);
    assert_eq!(detail.reason, OwnedReason::Fallthrough { in_rollout: false });

    // Removing a flag: the caller's default, FLAG_NOT_FOUND.
    conn.patch(7, "flag", "theme", Value::Null).await;
    let event = tokio::time::timeout(PATIENCE, events.recv()).await.unwrap().unwrap();
    assert_eq!(event.flags, ["theme"]);
    let theme = client.string_variation_detail("theme", &omaha(), "light");
    assert_eq!(theme.value, "light");
    assert_eq!(theme.reason.error_kind(), Some(ErrorKind::FlagNotFound));

    // A segment change reaches the flags using it.
    let uses_vip = json!({"variations": [false, true], "on": true, "fallthrough": {"variation": 0},
        "rules": [{"id": "vip", "clauses": [{"op": "in_segment", "values": ["vip"]}], "serve": {"variation": 1}}]});
    conn.patch(8, "flag", "vip-lounge", uses_vip).await;
    conn.patch(9, "segment", "vip", json!({"included": ["u-9"]})).await;
    eventually("the segment patch", || client.version() == Some(9)).await;
    assert!(client.bool_variation("vip-lounge", &Context::new("u-9"), false));

    eventually("the listener heard every change", || heard.lock().unwrap().len() == 4).await;
    let heard: Vec<_> = heard
        .lock()
        .unwrap()
        .iter()
        .map(|e| (e.version, e.flags.clone()))
        .collect();
    assert_eq!(
        heard,
        [
            (6, vec!["new-lobby".to_owned()]),
            (7, vec!["theme".to_owned()]),
            (8, vec!["vip-lounge".to_owned()]),
            (9, vec!["vip-lounge".to_owned()]),
        ]
    );
}

#[tokio::test]
async fn a_version_gap_reconnects_and_resumes_from_the_version_held() {
    let mut server = FakeServer::start().await;
    let (client, mut conn) = synced_client(&mut server).await;

    conn.patch(7, "flag", "new-lobby", bool_flag(1, false)).await; // 6 is missing
    conn.expect_closed().await;
    let mut conn = server.next_conn().await;
    let hello = conn.hello().await;
    assert_eq!(hello["version"], 5);
    assert_eq!(client.version(), Some(5), "the patch after the gap was not applied");

    conn.welcome(15_000).await;
    conn.patch(6, "flag", "theme", Value::Null).await;
    conn.patch(7, "flag", "new-lobby", bool_flag(1, false)).await;
    conn.synced(7).await;
    eventually("resumed", || client.connection_state() == ConnectionState::Synced).await;
    assert_eq!(client.version(), Some(7));
    assert!(client.bool_variation("new-lobby", &Context::new("u-2"), false));

    // A heartbeat announcing a newer version is a gap too.
    conn.send(json!({"type": "heartbeat", "version": 9})).await;
    conn.expect_closed().await;
    let mut conn = server.next_conn().await;
    assert_eq!(conn.hello().await["version"], 7);
}

#[tokio::test]
async fn heartbeats_keep_the_connection_alive_and_silence_ends_it() {
    let mut server = FakeServer::start().await;
    let builder = server.client();
    let (client, mut conn) = tokio::join!(async { builder.build().await.unwrap() }, async {
        let mut conn = server.next_conn().await;
        conn.hello().await;
        conn.welcome(100).await;
        conn.snapshot(5, lobby_ruleset()).await;
        conn.synced(5).await;
        conn
    });

    // One second of heartbeats both ways: no reconnect.
    let mut from_client = 0;
    let started = Instant::now();
    let mut last_sent = started;
    while started.elapsed() < Duration::from_secs(1) {
        conn.send(json!({"type": "heartbeat", "version": 5})).await;
        last_sent = Instant::now();
        let window = tokio::time::Instant::now() + Duration::from_millis(100);
        while let Some(message) = conn
            .recv_within(window.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            if message["type"] == "applied" {
                continue;
            }
            assert_eq!(message, json!({"type": "heartbeat"}));
            from_client += 1;
        }
    }
    assert!(
        from_client >= 5,
        "the client sent {from_client} heartbeats in a second at 100 ms"
    );
    assert_eq!(server.accepted(), 1);
    assert_eq!(client.connection_state(), ConnectionState::Synced);

    // Silence for three intervals: the client gives up on the connection
    // and resumes on a new one.
    let mut next = server.next_conn().await;
    let silence = last_sent.elapsed();
    assert!(
        silence >= Duration::from_millis(300),
        "reconnected after {silence:?} of silence"
    );
    assert_eq!(next.hello().await["version"], 5);
    drop(conn);
}

#[tokio::test]
async fn a_closed_connection_is_retried_with_growing_back_off_and_resumed() {
    let mut server = FakeServer::start().await;
    let builder = server
        .client()
        .backoff(Duration::from_millis(100), Duration::from_secs(1));
    let (client, (conn, _)) = tokio::join!(
        async { builder.build().await.unwrap() },
        server.sync_next(5, lobby_ruleset())
    );

    // After a synced connection the back-off starts at its first step
    // (50-100 ms); each connection that fails before `synced` doubles it.
    conn.close().await;
    let mut closed_at = Instant::now();
    for floor_ms in [50, 100, 200] {
        let mut conn = server.next_conn().await;
        let waited = closed_at.elapsed();
        assert!(
            waited >= Duration::from_millis(floor_ms),
            "reconnected after {waited:?}"
        );
        assert_eq!(conn.hello().await["version"], 5);
        conn.close().await;
        closed_at = Instant::now();
    }
    let mut conn = server.next_conn().await;
    assert_eq!(conn.hello().await["version"], 5);
    conn.welcome(15_000).await;
    conn.patch(6, "flag", "new-lobby", bool_flag(1, false)).await;
    conn.synced(6).await;
    eventually("resumed", || client.version() == Some(6)).await;
}

#[tokio::test]
async fn last_known_values_are_served_while_the_server_is_unreachable() {
    let mut server = FakeServer::start().await;
    let (client, conn) = synced_client(&mut server).await;

    // Evaluate in a tight loop on another thread through the whole outage.
    let stop = Arc::new(AtomicBool::new(false));
    let evaluator = {
        let client = client.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let ctx = omaha();
            let (mut evaluations, mut failures) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let detail = client.bool_variation_detail("new-lobby", &ctx, false);
                if !(detail.value && detail.reason == rule_match()) {
                    failures += 1;
                }
                evaluations += 1;
            }
            (evaluations, failures)
        })
    };

    // The outage: the connection drops and every reconnect is cut at once.
    conn.close().await;
    let outage = Instant::now();
    let mut saw_disconnected = false;
    while outage.elapsed() < Duration::from_millis(500) {
        saw_disconnected |= client.connection_state() == ConnectionState::Disconnected;
        if let Some(conn) = server.conn_within(Duration::from_millis(10)).await {
            conn.close().await;
        }
    }
    assert!(saw_disconnected);
    assert!(server.accepted() >= 3, "only {} reconnect attempts", server.accepted());

    // The server is back: the client resumes where it was.
    let mut conn = server.next_conn().await;
    assert_eq!(conn.hello().await["version"], 5);
    conn.welcome(15_000).await;
    conn.synced(5).await;
    eventually("back in sync", || client.connection_state() == ConnectionState::Synced).await;

    stop.store(true, Ordering::Relaxed);
    let (evaluations, failures) = evaluator.join().unwrap();
    assert_eq!(
        failures, 0,
        "{failures} of {evaluations} evaluations did not serve the last known value"
    );
    assert!(evaluations > 1000, "only {evaluations} evaluations");
}

#[tokio::test]
async fn init_timeout_returns_a_client_serving_defaults_until_data_arrives() {
    let mut server = FakeServer::start().await;
    let builder = server.client().init_timeout(Duration::from_millis(200));
    let started = Instant::now();
    // The server accepts but says nothing.
    let (client, mut conn) = tokio::join!(async { builder.build().await.unwrap() }, async {
        let mut conn = server.next_conn().await;
        conn.hello().await;
        conn
    });
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(!client.is_ready());
    assert_eq!(client.version(), None);
    let detail = client.bool_variation_detail("new-lobby", &omaha(), true);
    assert_eq!((detail.value, detail.variation), (true, None));
    assert_eq!(
        detail.reason,
        OwnedReason::Error {
            error_kind: ErrorKind::ProviderNotReady
        }
    );
    assert_eq!(client.string_variation("theme", &omaha(), "light"), "light");

    conn.welcome(15_000).await;
    conn.snapshot(5, lobby_ruleset()).await;
    conn.synced(5).await;
    assert!(client.wait_ready(PATIENCE).await);
    assert!(client.bool_variation("new-lobby", &omaha(), false));
}

fn bootstrap_file(name: &str, ruleset: &Value) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("daylight-{name}-{}.json", std::process::id()));
    std::fs::write(&path, ruleset.to_string()).unwrap();
    path
}

#[test]
fn a_bootstrap_file_works_offline_without_a_runtime() {
    let mut ruleset = lobby_ruleset();
    ruleset["version"] = json!(41);
    let path = bootstrap_file("offline", &ruleset);
    let client = Client::offline().bootstrap_file(&path).start().unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(client.is_ready());
    assert_eq!(client.connection_state(), ConnectionState::Offline);
    assert_eq!(client.version(), Some(41));
    assert_eq!(
        client.bool_variation_detail("new-lobby", &omaha(), false).reason,
        rule_match()
    );

    assert!(matches!(
        Client::offline().start(),
        Err(daylight::client::BuildError::NoData)
    ));
    assert!(matches!(
        Client::offline().bootstrap_file("/nonexistent/flags.json").start(),
        Err(daylight::client::BuildError::BootstrapRead { .. })
    ));
}

#[tokio::test]
async fn bootstrap_data_serves_until_the_server_snapshot_replaces_it() {
    let mut server = FakeServer::start().await;
    let mut doc: RulesetDocument = serde_json::from_value(lobby_ruleset()).unwrap();
    doc.version = 99;
    let client = server.client().bootstrap(doc).start().unwrap();
    assert!(client.is_ready());
    assert_eq!(client.version(), Some(99));
    assert_eq!(client.string_variation("theme", &omaha(), "light"), "dark");

    let mut changes = client.subscribe();
    let mut ruleset = lobby_ruleset();
    ruleset["flags"]["theme"] = json!({"variations": ["light", "dark"], "on": true, "fallthrough": {"variation": 0}});
    let (_conn, hello) = server.sync_next(5, ruleset).await;
    assert!(
        hello.get("version").is_none(),
        "bootstrap data is never resumed from: {hello}"
    );
    let event = tokio::time::timeout(PATIENCE, changes.recv()).await.unwrap().unwrap();
    assert_eq!((event.version, event.flags), (5, vec!["theme".to_owned()]));
    assert_eq!(client.string_variation("theme", &omaha(), "dark"), "light");
}

#[tokio::test]
async fn unauthorized_stops_the_tight_reconnect_loop() {
    let mut server = FakeServer::start().await;
    let builder = server
        .client()
        .backoff(Duration::from_millis(1), Duration::from_millis(2))
        .unauthorized_retry(Duration::from_secs(60));
    let started = Instant::now();
    let (client, ()) = tokio::join!(async { builder.build().await.unwrap() }, async {
        let mut conn = server.next_conn().await;
        conn.hello().await;
        conn.error("unauthorized").await;
    });
    assert!(started.elapsed() < Duration::from_secs(2), "build waited for nothing");
    assert!(!client.is_ready());
    eventually("unauthorized", || {
        client.connection_state() == ConnectionState::Unauthorized
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.accepted(), 1, "the client retried a refused key at once");
}

#[tokio::test]
async fn an_upgrade_refused_with_401_counts_as_unauthorized() {
    let server = FakeServer::refusing_upgrades(StatusCode::UNAUTHORIZED).await;
    let mut doc: RulesetDocument = serde_json::from_value(lobby_ruleset()).unwrap();
    doc.version = 3;
    let client = server
        .client()
        .backoff(Duration::from_millis(1), Duration::from_millis(2))
        .bootstrap(doc)
        .start()
        .unwrap();
    eventually("unauthorized", || {
        client.connection_state() == ConnectionState::Unauthorized
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.accepted(), 1);
    // Still serving what it has.
    assert!(client.bool_variation("new-lobby", &omaha(), false));
}

#[tokio::test]
async fn unsupported_protocol_stops_the_client() {
    let mut server = FakeServer::start().await;
    let client = server
        .client()
        .backoff(Duration::from_millis(1), Duration::from_millis(2))
        .start()
        .unwrap();
    let mut conn = server.next_conn().await;
    conn.hello().await;
    conn.send(json!({"type": "error", "code": "unsupported_protocol", "message": "no", "supported": [2]}))
        .await;
    assert!(!client.wait_ready(PATIENCE).await);
    assert_eq!(client.connection_state(), ConnectionState::Stopped);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn other_server_errors_reconnect_and_resume() {
    let mut server = FakeServer::start().await;
    let (client, mut conn) = synced_client(&mut server).await;
    for (i, code) in ["bad_message", "slow_consumer", "shutting_down", "some_future_code"]
        .into_iter()
        .enumerate()
    {
        conn.error(code).await;
        conn = server.next_conn().await;
        assert_eq!(conn.hello().await["version"], 5, "after {code}");
        conn.welcome(15_000).await;
        conn.synced(5).await;
        eventually("resynced", || client.connection_state() == ConnectionState::Synced).await;
        assert_eq!(server.accepted(), i + 2);
    }
}

#[tokio::test]
async fn unknown_messages_and_kinds_are_ignored() {
    let mut server = FakeServer::start().await;
    let (client, mut conn) = synced_client(&mut server).await;
    conn.send(json!({"type": "values", "version": 5, "flags": {}})).await;
    conn.send(json!({"type": "from_the_future", "x": [1, 2]})).await;
    conn.send_text("not json").await;
    conn.send(json!({"type": "welcome"})).await; // a known type that does not read
    conn.patch(6, "experiment", "e-1", json!({"anything": true})).await; // advances the version
    conn.patch(7, "flag", "new-lobby", bool_flag(1, false)).await;
    eventually("the patch after the unknown kind", || client.version() == Some(7)).await;
    assert!(client.bool_variation("new-lobby", &Context::new("u-2"), false));
    assert_eq!(server.accepted(), 1);
    assert_eq!(client.connection_state(), ConnectionState::Synced);
}

#[tokio::test]
async fn a_client_key_stops_the_client() {
    let mut server = FakeServer::start().await;
    let client = server.client().start().unwrap();
    let mut conn = server.next_conn().await;
    conn.hello().await;
    conn.send(json!({"type": "welcome", "protocol": 1, "kind": "client", "heartbeat_ms": 15000}))
        .await;
    eventually("stopped", || client.connection_state() == ConnectionState::Stopped).await;
}

#[tokio::test]
async fn close_ends_the_connection_and_keeps_the_values() {
    let mut server = FakeServer::start().await;
    let (client, mut conn) = synced_client(&mut server).await;
    client.close().await;
    conn.expect_closed().await;
    assert_eq!(client.connection_state(), ConnectionState::Closed);
    assert!(client.bool_variation("new-lobby", &omaha(), false));
    assert!(server.conn_within(Duration::from_millis(200)).await.is_none());
}

#[tokio::test]
async fn dropping_the_last_clone_closes_the_connection() {
    let mut server = FakeServer::start().await;
    let (client, mut conn) = synced_client(&mut server).await;
    let clone = client.clone();
    drop(client);
    // The clone still has a live connection.
    conn.patch(6, "flag", "theme", Value::Null).await;
    eventually("the patch", || clone.version() == Some(6)).await;
    drop(clone);
    conn.expect_closed().await;
    assert!(server.conn_within(Duration::from_millis(200)).await.is_none());
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn wss_urls_open_with_a_tls_handshake() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("wss://{}", listener.local_addr().unwrap());
    let client = Client::builder(url, KEY).start().unwrap();
    let (tcp, _) = tokio::time::timeout(PATIENCE, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut first = [0u8; 1];
    loop {
        tcp.readable().await.unwrap();
        match tcp.try_read(&mut first) {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(first[0], 0x16, "a TLS handshake record");
    drop(tcp);
    eventually("disconnected", || {
        client.connection_state() == ConnectionState::Disconnected
    })
    .await;
}

#[tokio::test]
async fn receipts_acknowledge_the_synced_version_and_each_patch_applied() {
    let mut server = FakeServer::start().await;
    let builder = server.client();
    let (_client, (mut conn, hello)) = tokio::join!(
        async { builder.build().await.unwrap() },
        server.sync_next(5, lobby_ruleset())
    );
    assert_eq!(hello["receipts"], true, "{hello}");
    assert_eq!(next_receipt(&mut conn).await, 5);
    conn.patch(6, "flag", "new-lobby", bool_flag(1, false)).await;
    // A stale patch is not acknowledged again: the next receipt is 7's.
    conn.patch(6, "flag", "new-lobby", bool_flag(0, false)).await;
    conn.patch(7, "flag", "new-lobby", bool_flag(0, false)).await;
    assert_eq!(next_receipt(&mut conn).await, 6);
    assert_eq!(next_receipt(&mut conn).await, 7);
}

/// The next receipt the client sends, skipping its heartbeats.
async fn next_receipt(conn: &mut client_support::Conn) -> Value {
    loop {
        let message = conn.recv().await;
        if message["type"] == "applied" {
            return message["version"].clone();
        }
    }
}
