//! The limits of `docs/reliability.md` ("Limits"): contexts over their
//! bounds get a 4xx naming the field on every path a client sends one by
//! (OFREP, the stream, the routing endpoint, the explain endpoint), and the
//! admin API bounds keys, names and descriptions.

use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::harness::{TestApp, ADMIN};

/// Attributes `a0`, `a1`, … with the value `"x"`.
fn attributes(n: usize) -> Map<String, Value> {
    (0..n).map(|i| (format!("a{i}"), json!("x"))).collect()
}

fn with(mut context: Map<String, Value>, name: &str, value: Value) -> Value {
    context.insert(name.to_owned(), value);
    Value::Object(context)
}

/// `f`: a client-side string flag serving `blue` or `green`, on in production.
async fn public_flag(app: &TestApp) {
    app.create_flag(json!({ "key": "f", "client_side": true, "variations": ["blue", "green"] }))
        .await;
    app.edit_config("f", "production", |c| {
        c["on"] = json!(true);
        c["fallthrough"] = json!({ "variation": 1 });
    })
    .await
    .expect(200);
}

/// Asserts an OFREP 400 `INVALID_CONTEXT` whose details say `says`.
#[track_caller]
fn invalid_context(r: crate::harness::Reply, says: &str) {
    let r = r.expect(400);
    assert_eq!(r.body["errorCode"], "INVALID_CONTEXT", "{}", r.body);
    let details = r.body["errorDetails"].as_str().unwrap_or_default();
    assert!(details.contains(says), "`{details}` does not say `{says}`");
}

on_each_backend!(ofrep_refuses_contexts_over_the_limits_naming_the_field, |app| {
    public_flag(&app).await;
    let client = app.sdk_key("production", "client").await;
    let single = |context: Value| app.ofrep(&client, Some("f"), json!({ "context": context }));
    let bulk = |context: Value| app.ofrep(&client, None, json!({ "context": context }));
    // At each limit: evaluated.
    let at_limits = with(attributes(252), "targetingKey", json!("k".repeat(4096)));
    let at_limits = with(at_limits.as_object().unwrap().clone(), "ua", json!("u".repeat(4096)));
    let at_limits = with(at_limits.as_object().unwrap().clone(), &"n".repeat(256), json!(1));
    let at_limits = with(at_limits.as_object().unwrap().clone(), "groups", json!(vec!["g"; 1024]));
    single(at_limits.clone()).await.expect(200);
    bulk(at_limits).await.expect(200);
    // One more of each: 400 naming the attribute.
    let r = single(Value::Object(attributes(257))).await;
    assert_eq!(r.body["key"], "f", "{}", r.body);
    invalid_context(r, "at most 256 attributes");
    invalid_context(bulk(Value::Object(attributes(257))).await, "at most 256 attributes");
    invalid_context(
        single(json!({ "targetingKey": "u", "ua": "u".repeat(4097) })).await,
        "ua: a string is at most 4096 bytes",
    );
    invalid_context(
        single(json!({ "targetingKey": "k".repeat(4097) })).await,
        "targetingKey: a string is at most 4096 bytes",
    );
    invalid_context(
        single(json!({ "n".repeat(257): 1 })).await,
        "an attribute name is at most 256 bytes",
    );
    invalid_context(
        single(json!({ "groups": vec!["g"; 1025] })).await,
        "groups: a list has at most 1024 items",
    );
    let large: Map<String, Value> = (0..20).map(|i| (format!("a{i}"), json!("x".repeat(4000)))).collect();
    invalid_context(single(Value::Object(large)).await, "at most 65536 bytes");

    // Issue 26's inputs with a public key: 120,000 attributes (1.5 MB), and
    // a body of just under the 8 MiB body limit: over the 1 MiB an OFREP
    // body may have, refused before they are parsed.
    // Both are answered from their declared length, before a byte of the
    // body is read; the server then closes the connection, so the client
    // sends only the head (a client still sending would see the connection
    // closed under it, before it reads the answer).
    let body_bytes = serde_json::to_vec(&json!({ "context": attributes(120_000) }))
        .unwrap()
        .len();
    assert!(body_bytes > 1_048_576, "{body_bytes}");
    for declared in [body_bytes, 8 * 1024 * 1024] {
        let answer = app.post_head_only("/ofrep/v1/evaluate/flags", &client, declared).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("INVALID_CONTEXT"), "{answer}");
        assert!(answer.contains("1048576 bytes"), "{answer}");
    }
    // Under 1 MiB, 60,000 attributes: read, and refused at the 257th.
    invalid_context(bulk(Value::Object(attributes(60_000))).await, "at most 256 attributes");
    single(json!({ "targetingKey": "u" })).await.expect(200);
});

on_each_backend!(the_stream_refuses_contexts_over_the_limits, |app| {
    public_flag(&app).await;
    let client = app.sdk_key("production", "client").await;
    let mut s = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": client, "context": attributes(257) }))
        .await;
    let error = first_error(&mut s).await;
    assert_eq!(error["code"], "bad_message", "{error}");
    assert!(error["message"].as_str().unwrap().contains("256 attributes"), "{error}");
    // A later `identify` is bounded the same way.
    let mut s = app
        .stream(json!({ "type": "hello", "protocols": [1], "key": client, "context": { "key": "u1" } }))
        .await;
    s.send(json!({ "type": "identify", "context": { "key": "u2", "ua": "u".repeat(4097) } }))
        .await;
    let error = first_error(&mut s).await;
    assert_eq!(error["code"], "bad_message", "{error}");
    assert!(error["message"].as_str().unwrap().contains("ua:"), "{error}");
});

/// The first `error` message (after the welcome and values).
async fn first_error(s: &mut crate::harness::Stream) -> Value {
    for _ in 0..5 {
        match s.next_or_closed().await {
            Some(msg) if msg["type"] == "error" => return msg,
            Some(_) => continue,
            None => break,
        }
    }
    panic!("no error message before the close");
}

on_each_backend!(routing_and_explain_refuse_contexts_over_the_limits, |app| {
    public_flag(&app).await;
    let server = app.sdk_key("production", "server").await;
    let route = |name: &'static str, value: String| {
        let (app, server) = (&app, &server);
        async move {
            app.request(Method::GET, "/route/v1/f", Some(server), None, &[(name, &value)])
                .await
        }
    };
    let r = route("x-daylight-attr-ua", "u".repeat(4096)).await.expect(200);
    assert_eq!(r.headers["x-daylight-pool"], "green");
    route("x-daylight-attr-ua", "u".repeat(4097))
        .await
        .expect_field_error(400, "context.ua");
    route("x-user-id", "k".repeat(4097))
        .await
        .expect_field_error(400, "context.key");

    let explain = |context: Value| {
        app.post(
            "/api/v1/flags/f/environments/production/evaluate",
            json!({ "context": context }),
        )
    };
    explain(json!({ "key": "u", "ua": "u".repeat(4096) })).await.expect(200);
    explain(json!({ "key": "u", "ua": "u".repeat(4097) }))
        .await
        .expect_field_error(400, "context.ua");
    explain(Value::Object(attributes(257)))
        .await
        .expect_field_error(400, "context");
});

on_each_backend!(keys_names_and_descriptions_have_length_limits, |app| {
    let app = &app;
    let patch = |path: String, etag: String, body: Value| async move {
        app.request(Method::PATCH, &path, Some(ADMIN), Some(body), &[("if-match", &etag)])
            .await
    };
    // Flags: 100-character keys, 200-character names (characters, not
    // bytes), 2,000-character descriptions.
    app.post("/api/v1/flags", json!({ "key": "k".repeat(101) }))
        .await
        .expect_field_error(400, "key");
    let flag = app
        .post(
            "/api/v1/flags",
            json!({ "key": "k".repeat(100), "name": "é".repeat(200), "description": "d".repeat(2000) }),
        )
        .await
        .expect(201);
    app.post("/api/v1/flags", json!({ "key": "g", "name": "n".repeat(201) }))
        .await
        .expect_field_error(400, "name");
    app.post("/api/v1/flags", json!({ "key": "g", "description": "d".repeat(2001) }))
        .await
        .expect_field_error(400, "description");
    // The 7.9 MB name, under the 8 MiB body limit.
    app.post("/api/v1/flags", json!({ "key": "g", "name": "n".repeat(7_900_000) }))
        .await
        .expect_field_error(400, "name");
    let path = format!("/api/v1/flags/{}", "k".repeat(100));
    patch(path.clone(), flag.etag(), json!({ "name": "n".repeat(201) }))
        .await
        .expect_field_error(400, "name");
    patch(path.clone(), flag.etag(), json!({ "description": "d".repeat(2001) }))
        .await
        .expect_field_error(400, "description");
    patch(path, flag.etag(), json!({ "name": "n".repeat(200) }))
        .await
        .expect(200);

    // Segments.
    let segments = "/api/v1/environments/production/segments";
    app.post(segments, json!({ "key": "s".repeat(101) }))
        .await
        .expect_field_error(400, "key");
    app.post(segments, json!({ "key": "s", "name": "n".repeat(201) }))
        .await
        .expect_field_error(400, "name");
    app.post(segments, json!({ "key": "s", "description": "d".repeat(2001) }))
        .await
        .expect_field_error(400, "description");
    let segment = app.post(segments, json!({ "key": "s".repeat(100) })).await.expect(201);
    let path = format!("{segments}/{}", "s".repeat(100));
    patch(path.clone(), segment.etag(), json!({ "name": "n".repeat(201) }))
        .await
        .expect_field_error(400, "name");
    patch(path, segment.etag(), json!({ "description": "d".repeat(2001) }))
        .await
        .expect_field_error(400, "description");

    // Environments and SDK key names.
    app.post("/api/v1/environments", json!({ "key": "e".repeat(101) }))
        .await
        .expect_field_error(400, "key");
    app.post("/api/v1/environments", json!({ "key": "e", "name": "n".repeat(201) }))
        .await
        .expect_field_error(400, "name");
    app.post("/api/v1/environments", json!({ "key": "e".repeat(100) }))
        .await
        .expect(201);
    app.post(
        "/api/v1/environments/production/keys",
        json!({ "kind": "server", "name": "n".repeat(201) }),
    )
    .await
    .expect_field_error(400, "name");
});

on_each_backend!(the_openapi_document_states_the_length_limits, |app| {
    let doc = app.get("/api/v1/openapi.json").await.expect(200).body;
    let schemas = &doc["components"]["schemas"];
    for (schema, field, max) in [
        ("CreateFlag", "key", 100),
        ("CreateFlag", "name", 200),
        ("CreateFlag", "description", 2000),
        ("UpdateFlag", "name", 200),
        ("UpdateFlag", "description", 2000),
        ("CreateSegment", "key", 100),
        ("CreateSegment", "name", 200),
        ("CreateSegment", "description", 2000),
        ("UpdateSegment", "name", 200),
        ("UpdateSegment", "description", 2000),
        ("CreateEnvironment", "key", 100),
        ("CreateEnvironment", "name", 200),
        ("CreateKey", "name", 200),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["maxLength"],
            json!(max),
            "{schema}.{field}: {}",
            schemas[schema]["properties"][field]
        );
    }
});
