//! The WebSocket stream (`docs/protocol.md`).

use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

on_each_backend!(server_keys_get_a_snapshot_then_patches_and_resume, |app| {
    app.create_flag(json!({ "key": "f" })).await;
    let key = app.sdk_key("production", "server").await;
    let mut s = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": key, "sdk": "test/1" }))
        .await;
    let welcome = s.next().await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["protocol"], 1);
    assert_eq!(welcome["environment"], "production");
    assert_eq!(welcome["kind"], "server");
    let snapshot = s.next().await;
    assert_eq!(snapshot["type"], "snapshot");
    let v0 = snapshot["version"].as_u64().unwrap();
    assert_eq!(snapshot["ruleset"]["flags"]["f"]["on"], false);
    assert_eq!(s.next().await, json!({ "type": "synced", "version": v0 }));

    // A change in another environment is not sent: the next patch is
    // production's (staging's would say `on: false`).
    app.edit_config("f", "staging", |c| c["fallthrough"] = json!({ "variation": 1 }))
        .await
        .expect(200);
    app.toggle("f", "production", true).await.expect(200);
    let patch = s.next().await;
    assert_eq!(patch["type"], "patch");
    assert_eq!(patch["version"], v0 + 1);
    assert_eq!(patch["kind"], "flag");
    assert_eq!(patch["key"], "f");
    assert_eq!(patch["doc"]["on"], true);

    // Resume: an SDK at v0 gets just the patch it missed, not a snapshot.
    let mut again = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": key, "version": v0 }))
        .await;
    assert_eq!(again.next().await["type"], "welcome");
    let missed = again.next().await;
    assert_eq!(missed["type"], "patch");
    assert_eq!(missed["version"], v0 + 1);
    assert_eq!(again.next().await, json!({ "type": "synced", "version": v0 + 1 }));
    // Up to date: nothing to send but `synced`.
    let mut current = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": key, "version": v0 + 1 }))
        .await;
    assert_eq!(current.next().await["type"], "welcome");
    assert_eq!(current.next().await, json!({ "type": "synced", "version": v0 + 1 }));
});

on_each_backend!(client_keys_get_only_their_evaluated_client_side_flags, |app| {
    app.create_flag(json!({ "key": "public", "client_side": true })).await;
    app.create_flag(json!({ "key": "private" })).await;
    app.edit_config("public", "production", |c| {
        c["on"] = json!(true);
        c["rules"] = json!([{ "id": "omaha", "clauses": [{ "attribute": "game", "op": "in", "values": ["omaha"] }], "serve": { "variation": 1 } }]);
    })
    .await
    .expect(200);
    let key = app.sdk_key("production", "client").await;
    let mut s = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": key, "context": { "key": "u1", "game": "omaha" } }))
        .await;
    assert_eq!(s.next().await["kind"], "client");
    let values = s.next().await;
    assert_eq!(values["type"], "values");
    assert_eq!(
        values["flags"].as_object().unwrap().len(),
        1,
        "only client_side flags: {values}"
    );
    assert_eq!(values["flags"]["public"]["value"], true);
    assert_eq!(values["flags"]["public"]["reason"]["kind"], "RULE_MATCH");
    // Server-only flags never show; a change that does not alter this
    // context's value sends nothing.
    app.toggle("private", "production", true).await.expect(200);
    app.edit_config("public", "production", |c| c["fallthrough"] = json!({ "variation": 1 }))
        .await
        .expect(200);
    // A change that does: only that flag, and it is the next frame.
    app.toggle("public", "production", false).await.expect(200);
    let changed = s.next().await;
    assert_eq!(changed["type"], "changed");
    assert_eq!(changed["flags"].as_object().unwrap().len(), 1, "{changed}");
    assert_eq!(changed["flags"]["public"]["value"], false);
    assert_eq!(changed["flags"]["public"]["reason"]["kind"], "OFF");
    // identify: a full set of values for the new context.
    app.toggle("public", "production", true).await.expect(200);
    assert_eq!(s.next().await["flags"]["public"]["value"], true);
    s.send(json!({ "type": "identify", "context": { "key": "u2", "game": "holdem" } }))
        .await;
    let values = s.next().await;
    assert_eq!(values["type"], "values");
    assert_eq!(values["flags"]["public"]["value"], true, "fallthrough serves 1 now");
    // No longer client_side: listed as removed.
    let flag = app.get("/api/v1/flags/public").await;
    app.request(
        reqwest::Method::PATCH,
        "/api/v1/flags/public",
        Some(crate::harness::ADMIN),
        Some(json!({ "client_side": false })),
        &[("if-match", &flag.etag())],
    )
    .await
    .expect(200);
    let changed = s.next().await;
    assert_eq!(changed["removed"], json!(["public"]));
});

// Issue 26, item 16: a client key is public. A `client_side` flag whose
// prerequisite is server-only fails it as PREREQUISITE_FAILED without
// naming the prerequisite, in `values` and in `changed` (as OFREP does).
on_each_backend!(a_client_key_is_not_told_a_server_only_prerequisite, |app| {
    app.create_flag(json!({ "key": "secret-gate" })).await;
    app.edit_config("secret-gate", "production", |c| {
        c["fallthrough"] = json!({ "variation": 1 })
    })
    .await
    .expect(200);
    app.create_flag(json!({ "key": "lobby", "client_side": true })).await;
    app.edit_config("lobby", "production", |c| {
        c["on"] = json!(true);
        c["prerequisites"] = json!([{ "flag": "secret-gate", "variation": 1 }]);
        c["fallthrough"] = json!({ "variation": 1 });
    })
    .await
    .expect(200);
    let key = app.sdk_key("production", "client").await;
    let mut s = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": key, "context": { "key": "u1" } }))
        .await;
    assert_eq!(s.next().await["kind"], "client");
    let text = s.next_text().await;
    let values: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(values["type"], "values");
    assert_eq!(
        values["flags"]["lobby"]["reason"]["kind"], "PREREQUISITE_FAILED",
        "{text}"
    );
    assert_eq!(values["flags"]["lobby"]["value"], false);
    assert!(!text.contains("secret-gate"), "a server-only flag's key in {text}");
    // The prerequisite passes, then fails again: the `changed` says so
    // without naming it either.
    app.toggle("secret-gate", "production", true).await.expect(200);
    assert_eq!(s.next().await["flags"]["lobby"]["reason"]["kind"], "FALLTHROUGH");
    app.toggle("secret-gate", "production", false).await.expect(200);
    let text = s.next_text().await;
    let changed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(changed["type"], "changed");
    assert_eq!(
        changed["flags"]["lobby"]["reason"]["kind"], "PREREQUISITE_FAILED",
        "{text}"
    );
    assert!(!text.contains("secret-gate"), "a server-only flag's key in {text}");
});

/// Protocol v1's bytes: every message's members (and its documents') in
/// alphabetical order, as the server has always written them, whatever
/// types build them now. Exact bytes of the small messages too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_keep_their_v1_bytes() {
    let app = crate::harness::spawn_app(crate::harness::Backend::Sqlite).await;
    let sorted = |text: &str| {
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(value.to_string(), text, "members out of order");
        value
    };
    app.create_flag(json!({ "key": "f", "client_side": true })).await;
    let server = app.sdk_key("production", "server").await;
    let mut s = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": server }))
        .await;
    assert_eq!(
        s.next_text().await,
        r#"{"environment":"production","heartbeat_ms":15000,"kind":"server","protocol":1,"type":"welcome"}"#
    );
    let v = sorted(&s.next_text().await)["version"].as_u64().unwrap();
    assert_eq!(s.next_text().await, format!(r#"{{"type":"synced","version":{v}}}"#));
    let client = app.sdk_key("production", "client").await;
    let mut c = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": client, "context": { "key": "u1" } }))
        .await;
    sorted(&c.next_text().await);
    assert_eq!(
        c.next_text().await,
        format!(
            r#"{{"flags":{{"f":{{"reason":{{"kind":"OFF"}},"value":false,"variation":0}}}},"type":"values","version":{v}}}"#
        )
    );
    app.edit_config("f", "production", |c| {
        c["on"] = json!(true);
        c["rules"] = json!([{ "id": "r", "clauses": [{ "attribute": "key", "op": "in", "values": ["u1"] }], "serve": { "variation": 1 } }]);
    })
    .await
    .expect(200);
    let patch = sorted(&s.next_text().await);
    assert_eq!(patch["type"], "patch");
    assert_eq!(
        c.next_text().await,
        format!(
            r#"{{"flags":{{"f":{{"reason":{{"in_rollout":false,"kind":"RULE_MATCH","rule_id":"r","rule_index":0}},"value":true,"variation":1}}}},"removed":[],"type":"changed","version":{}}}"#,
            v + 1
        )
    );
    let mut bad = app
        .stream(json!({ "type": "hello", "protocols": [99], "key": server }))
        .await;
    assert_eq!(
        bad.next_text().await,
        r#"{"code":"unsupported_protocol","message":"this server speaks protocols [1]","supported":[1],"type":"error"}"#
    );
}

on_each_backend!(bad_handshakes_get_an_error_and_a_close, |app| {
    let mut s = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": "dl_server_nope" }))
        .await;
    let error = s.next().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "unauthorized");
    let key = app.sdk_key("production", "server").await;
    let mut s = app
        .stream(json!({ "type": "hello", "protocols": [99], "key": key }))
        .await;
    let error = s.next().await;
    assert_eq!(error["code"], "unsupported_protocol");
    let mut s = app.stream(json!("not a hello")).await;
    assert_eq!(s.next().await["code"], "bad_message");
    let client = app.sdk_key("production", "client").await;
    let mut s = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": client }))
        .await;
    assert_eq!(
        s.next().await["kind"],
        "client",
        "welcome first: the SDK learns its key's kind"
    );
    assert_eq!(s.next().await["code"], "bad_message", "a client key needs a context");
});

/// A stream that sends its hello and then never reads: its receive buffer
/// is small, so the server's writes soon stall. The key travels in the
/// upgrade's header, so the stream holds one of the key's slots.
async fn stalled_stream(
    app: &crate::harness::TestApp,
    key: &str,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let addr = app.url.trim_start_matches("http://").to_owned();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(addr.parse().unwrap()).await.unwrap();
    let mut request = format!("ws://{addr}/sdk/v1/stream").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(request, tcp)
        .await
        .expect("the stream upgrades");
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        json!({ "type": "hello", "protocols": [1] }).to_string(),
    ))
    .await
    .unwrap();
    ws
}

/// Writes ~100 KB segment patches until the server lets go of a stalled
/// stream, which holds the key's only slot (`max_streams_per_key = 1`):
/// the slot is free again once the server has dropped the connection.
async fn a_stalled_stream_is_closed(app: crate::harness::TestApp) {
    use futures_util::StreamExt;
    let key = app.sdk_key("production", "server").await;
    app.post("/api/v1/environments/production/segments", json!({ "key": "big" }))
        .await
        .expect(201);
    let mut stalled = stalled_stream(&app, &key).await;
    let bearer = format!("Bearer {key}");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut patches = 0;
    loop {
        match app.try_stream(&[("authorization", &bearer)]).await {
            Ok(_) => break,
            Err(refused) => assert_eq!(refused.status, 429, "{}", refused.body),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a stream that reads nothing was still open after {patches} patches of 100 KB"
        );
        let keys: String = (0..5_000).map(|i| format!("user-{patches}-{i}-padding\n")).collect();
        app.raw(
            reqwest::Method::PUT,
            "/api/v1/environments/production/segments/big/included",
            crate::harness::ADMIN,
            "text/plain",
            keys,
        )
        .await
        .expect(200);
        patches += 1;
    }
    // The connection is gone: what the kernel buffered ends in a close.
    let drained = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Some(Ok(msg)) = stalled.next().await {
            if msg.is_close() {
                break;
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the stalled stream did not end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_stops_reading_is_closed_past_its_byte_bound() {
    // Only the byte bound can end it: no write timeout within the test.
    let app = crate::harness::spawn_app_with(crate::harness::Backend::Sqlite, |s| {
        s.max_streams_per_key = 1;
        s.stream_max_queued_bytes = 64 * 1024;
        s.stream_write_timeout_ms = 600_000;
    })
    .await;
    a_stalled_stream_is_closed(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_writes_stall_is_closed_after_the_write_timeout() {
    // Only the write timeout can end it: the byte bound is far away.
    let app = crate::harness::spawn_app_with(crate::harness::Backend::Sqlite, |s| {
        s.max_streams_per_key = 1;
        s.stream_max_queued_bytes = 1 << 30;
        s.stream_write_timeout_ms = 1_000;
    })
    .await;
    a_stalled_stream_is_closed(app).await;
}

/// Reads an event stream until its text contains `needle` (`None`: until it
/// ends); fails after 5 s.
pub async fn read_sse_until(resp: &mut reqwest::Response, needle: Option<&str>) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("within 5 s: {needle:?}; got {seen}"));
        match chunk {
            Ok(Some(bytes)) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(None) | Err(_) if needle.is_none() => return seen,
            Ok(None) | Err(_) => panic!("the event stream ended before {needle:?}: {seen}"),
        }
        if needle.is_some_and(|n| seen.contains(n)) {
            return seen;
        }
    }
}

on_each_backend!(revoking_a_key_ends_its_open_streams, |app| {
    app.create_flag(json!({ "key": "f", "client_side": true })).await;
    let (server_id, server) = app.sdk_key_with_id("production", "server").await;
    let (client_id, client) = app.sdk_key_with_id("production", "client").await;
    let other = app.sdk_key("production", "server").await;
    let mut rules = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": server }))
        .await;
    let mut values = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": client, "context": { "key": "u" } }))
        .await;
    let mut kept = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": other }))
        .await;
    for s in [&mut rules, &mut kept] {
        assert_eq!(s.next().await["type"], "welcome");
        assert_eq!(s.next().await["type"], "snapshot");
        assert_eq!(s.next().await["type"], "synced");
    }
    assert_eq!(values.next().await["type"], "welcome");
    assert_eq!(values.next().await["type"], "values");
    let mut sse = reqwest::get(format!("{}/ofrep/v1/event-stream?key={client}", app.url))
        .await
        .expect("the event stream opens");
    assert_eq!(sse.status(), 200);
    app.toggle("f", "production", true).await.expect(200);
    read_sse_until(&mut sse, Some("refetchEvaluation")).await;

    app.revoke_key("production", server_id).await;
    app.revoke_key("production", client_id).await;
    for s in [&mut rules, &mut values] {
        let mut error = s.next_or_closed().await.expect("an error message");
        if error["type"] == "patch" || error["type"] == "changed" {
            error = s.next_or_closed().await.expect("an error message");
        }
        assert_eq!(error["type"], "error", "{error}");
        assert_eq!(error["code"], "revoked", "{error}");
        assert!(s.next_or_closed().await.is_none(), "then the server closes");
    }
    read_sse_until(&mut sse, None).await;
    // Another key's stream goes on.
    app.toggle("f", "production", false).await.expect(200);
    assert_eq!(kept.next().await["type"], "patch");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_interval_is_a_setting() {
    let app = crate::harness::spawn_app_with(crate::harness::Backend::Sqlite, |s| s.heartbeat_ms = 250).await;
    let key = app.sdk_key("production", "server").await;
    let mut s = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": key }))
        .await;
    assert_eq!(s.next().await["heartbeat_ms"], 250);
    s.next().await;
    let synced = s.next().await;
    assert_eq!(synced["type"], "synced");
    assert_eq!(s.next_heartbeat().await["version"], synced["version"]);
}

on_each_backend!(a_long_message_goes_out_as_frames_of_at_most_a_kibibyte, |app| {
    // Sixty client_side flags: the first `values` message is several KB.
    for i in 0..60 {
        let key = format!("a-rather-long-flag-key-for-the-frames-test-{i:02}");
        app.create_flag(json!({ "key": key, "client_side": true })).await;
    }
    let key = app.sdk_key("production", "client").await;
    let addr = app.url.trim_start_matches("http://").to_owned();
    let hello = json!({ "type": "hello", "protocols": [1], "key": key, "context": { "key": "u1" } });
    // A raw client (the RFC's handshake by hand, then frame by frame), so
    // the frames are seen as sent, before any client reassembles them.
    let frames = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameSocket};
        let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        write!(
            tcp,
            "GET /sdk/v1/stream HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") {
            tcp.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 101"), "{head}");
        // RFC 6455's own example key and accept value.
        assert!(
            head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=\r\n"),
            "{head}"
        );
        let mut socket = FrameSocket::new(tcp);
        let mut frame = Frame::message(hello.to_string().into_bytes(), OpCode::Data(Data::Text), true);
        frame.header_mut().mask = Some([7, 1, 2, 9]);
        socket.send(frame).unwrap();
        // Frames until two messages (welcome, values) are complete.
        let mut frames = Vec::new();
        let mut complete = 0;
        while complete < 2 {
            let frame = socket.read(None).unwrap().expect("a frame");
            complete += usize::from(frame.header().is_final);
            frames.push((frame.header().opcode, frame.header().is_final, frame.into_payload()));
        }
        frames
    })
    .await
    .unwrap();
    let (opcode, fin, welcome) = &frames[0];
    assert_eq!((*opcode, *fin), (OpCode::Data(Data::Text), true));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(welcome).unwrap()["type"],
        "welcome"
    );
    let values = &frames[1..];
    assert!(values.len() > 2, "{} frames", values.len());
    for (i, (opcode, fin, payload)) in values.iter().enumerate() {
        let first = if i == 0 { Data::Text } else { Data::Continue };
        assert_eq!(*opcode, OpCode::Data(first));
        assert_eq!(*fin, i == values.len() - 1);
        assert!(payload.len() <= 1024, "frame {i}: {} bytes", payload.len());
    }
    let message: Vec<u8> = values.iter().flat_map(|(_, _, p)| p.iter().copied()).collect();
    let message: serde_json::Value = serde_json::from_slice(&message).unwrap();
    assert_eq!(message["type"], "values");
    assert_eq!(message["flags"].as_object().map(|f| f.len()), Some(60));
});
