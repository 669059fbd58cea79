//! OFREP per open-feature/protocol `service/openapi.yaml`.

use reqwest::Method;
use serde_json::json;

on_each_backend!(ofrep_single_and_bulk, |app| {
    app.create_flag(json!({ "key": "public", "client_side": true, "variations": ["blue", "green"] }))
        .await;
    app.create_flag(json!({ "key": "secret-algo", "variations": [1, 2.5] }))
        .await;
    app.create_flag(json!({ "key": "config", "client_side": true, "variations": [{ "size": 1 }, { "size": 2 }] }))
        .await;
    for key in ["public", "secret-algo", "config"] {
        app.edit_config(key, "production", |c| {
            c["on"] = json!(true);
            c["fallthrough"] = json!({ "variation": 1 });
        })
        .await
        .expect(200);
    }
    let server = app.sdk_key("production", "server").await;
    let client = app.sdk_key("production", "client").await;
    let staging = app.sdk_key("staging", "server").await;

    let r = app
        .ofrep(
            &server,
            Some("secret-algo"),
            json!({ "context": { "targetingKey": "u1" } }),
        )
        .await
        .expect(200);
    assert_eq!(r.body["key"], "secret-algo");
    assert_eq!(r.body["value"], 2.5);
    assert_eq!(r.body["variant"], "1");
    assert_eq!(r.body["reason"], "DEFAULT");
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    // No targetingKey: still evaluated.
    app.ofrep(&server, Some("config"), json!({ "context": { "game": "omaha" } }))
        .await
        .expect(200);
    app.ofrep(&server, Some("config"), json!({})).await.expect(200);
    // Errors carry key and errorCode.
    let r = app
        .ofrep(&server, Some("missing"), json!({ "context": {} }))
        .await
        .expect(404);
    assert_eq!(
        r.body,
        json!({ "key": "missing", "errorCode": "FLAG_NOT_FOUND", "errorDetails": "flag `missing` was not found" })
    );
    let r = app
        .ofrep(&server, Some("config"), json!({ "context": [1] }))
        .await
        .expect(400);
    assert_eq!(r.body["errorCode"], "INVALID_CONTEXT");
    assert_eq!(r.body["key"], "config");
    let r = app
        .ofrep(&server, Some("config"), json!({ "context": { "targetingKey": 5 } }))
        .await
        .expect(400);
    assert_eq!(r.body["errorCode"], "INVALID_CONTEXT");
    let r = app
        .raw(
            Method::POST,
            "/ofrep/v1/evaluate/flags/config",
            &server,
            "application/json",
            "{",
        )
        .await
        .expect(400);
    assert_eq!(r.body["errorCode"], "PARSE_ERROR");
    // A client key sees client_side flags only; another environment's key sees its own.
    app.ofrep(&client, Some("secret-algo"), json!({ "context": {} }))
        .await
        .expect(404);
    app.ofrep(&client, Some("public"), json!({ "context": {} }))
        .await
        .expect(200);
    let r = app
        .ofrep(&staging, Some("public"), json!({ "context": {} }))
        .await
        .expect(200);
    assert_eq!(r.body["value"], "blue", "staging is still off");
    // Auth: none, wrong, via X-API-Key.
    app.request(
        Method::POST,
        "/ofrep/v1/evaluate/flags/public",
        None,
        Some(json!({})),
        &[],
    )
    .await
    .expect(401);
    app.ofrep("dl_server_wrong", Some("public"), json!({}))
        .await
        .expect(401);
    app.request(
        Method::POST,
        "/ofrep/v1/evaluate/flags/public",
        None,
        Some(json!({})),
        &[("x-api-key", &client)],
    )
    .await
    .expect(200);

    // Bulk: every visible flag, an ETag, 304 when unchanged.
    let bulk = app
        .ofrep(&client, None, json!({ "context": { "targetingKey": "u1" } }))
        .await
        .expect(200);
    let keys: Vec<&str> = bulk.body["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, vec!["config", "public"]);
    let etag = bulk.etag();
    assert!(!etag.is_empty());
    // The same request with the ETag: 304 until a flag changes.
    let if_none_match = [("if-none-match", etag.as_str())];
    let conditional = || {
        app.ofrep_with(
            &client,
            None,
            json!({ "context": { "targetingKey": "u1" } }),
            &if_none_match,
        )
    };
    let again = conditional().await.expect(304);
    assert_eq!(again.etag(), etag);
    app.toggle("public", "production", false).await.expect(200);
    let changed = conditional().await.expect(200);
    assert_ne!(changed.etag(), etag);
    let public = changed.body["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "public")
        .unwrap()
        .clone();
    assert_eq!(public["reason"], "DISABLED");
    assert_eq!(public["value"], "blue");
    // The server key sees all three.
    let all = app.ofrep(&server, None, json!({})).await.expect(200);
    assert_eq!(all.body["flags"].as_array().unwrap().len(), 3);
});

// The evaluation routes are answered before the router (`http::direct`):
// they must keep everything the router and the layers give other routes.
on_each_backend!(ofrep_evaluations_keep_request_ids_cors_metrics_and_errors, |app| {
    app.create_flag(json!({ "key": "new-lobby", "client_side": true }))
        .await;
    let client = app.sdk_key("production", "client").await;
    // A percent-encoded key is decoded, as a path parameter is.
    let r = app
        .ofrep(&client, Some("new%2Dlobby"), json!({ "context": {} }))
        .await
        .expect(200);
    assert_eq!(r.body["key"], "new-lobby");
    let r = app
        .ofrep(&client, Some("new%FFlobby"), json!({ "context": {} }))
        .await
        .expect(400);
    assert_eq!(r.body["errorCode"], "GENERAL");
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    assert_eq!(r.headers["access-control-expose-headers"], "etag,retry-after");
    let id = r.headers["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a generated request id: {id}");
    // The caller's request id is kept.
    let r = app
        .ofrep_with(&client, None, json!({}), &[("x-request-id", "trace-42")])
        .await
        .expect(200);
    assert_eq!(r.headers["x-request-id"], "trace-42");
    // Other methods, an empty key and a deeper path are the router's: JSON errors.
    let r = app
        .request(
            Method::GET,
            "/ofrep/v1/evaluate/flags/new-lobby",
            Some(&client),
            None,
            &[],
        )
        .await
        .expect(405);
    assert_eq!(r.body["error"], "method_not_allowed");
    for path in ["/ofrep/v1/evaluate/flags/", "/ofrep/v1/evaluate/flags/a/b"] {
        let r = app
            .request(Method::POST, path, Some(&client), Some(json!({})), &[])
            .await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.body["error"], "not_found", "{path}");
    }
    // The body limit holds here too (an OFREP body: 1 MiB), answered from
    // the declared length.
    let answer = app
        .post_head_only("/ofrep/v1/evaluate/flags/new-lobby", &client, 9 * 1024 * 1024)
        .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#""errorCode":"INVALID_CONTEXT""#), "{answer}");
    assert!(answer.contains(r#""key":"new-lobby""#), "{answer}");
    // Requests are counted under their route templates.
    let metrics = app.request(Method::GET, "/metrics", None, None, &[]).await.expect(200);
    let text = metrics.body.as_str().unwrap_or_default();
    for route in ["/ofrep/v1/evaluate/flags/{key}", "/ofrep/v1/evaluate/flags"] {
        let line = format!(r#"daylight_http_requests_total{{route="{route}",method="POST",status="200"}}"#);
        assert!(text.contains(&line), "{line} in {text}");
    }
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_rate_limit_gets_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = daylight_server::Settings::for_tests(
        format!("sqlite://{}/daylight.db", dir.path().display()),
        crate::harness::ADMIN,
    );
    // One request a second: the second follows the first well within it
    // (local round trips of milliseconds, even on two busy cores). The wait
    // and the refill are tested on a fake clock (`limits::tests`).
    settings.rate_limit = 1;
    let app = crate::harness::start(settings, crate::harness::Backend::Sqlite).await;
    app.create_flag(json!({ "key": "f" })).await;
    let (a, b) = (
        app.sdk_key("production", "server").await,
        app.sdk_key("production", "server").await,
    );
    app.ofrep(&a, Some("f"), json!({})).await.expect(200);
    let limited = app.ofrep(&a, Some("f"), json!({})).await.expect(429);
    let retry: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After: {retry}");
    assert_eq!(limited.body["key"], "f");
    assert!(limited.body["errorDetails"].as_str().unwrap().contains("rate limit"));
    app.ofrep(&b, None, json!({})).await.expect(200);
}

/// `metadata` (OpenFeature's `flagMetadata`) says which rule matched, as
/// docs/sdk-js.md promises; a failed prerequisite is named to server keys
/// only (a client key is public, the prerequisite may be server-only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ofrep_metadata_names_the_matched_rule() {
    let app = crate::harness::spawn_app(crate::harness::Backend::Sqlite).await;
    app.create_flag(json!({ "key": "lobby", "client_side": true })).await;
    app.create_flag(json!({ "key": "secret-gate" })).await;
    app.create_flag(json!({ "key": "gated", "client_side": true })).await;
    app.edit_config("lobby", "production", |c| {
        c["on"] = json!(true);
        c["rules"] = json!([
            { "id": "poker", "clauses": [{ "attribute": "game", "op": "in", "values": ["poker"] }], "serve": { "variation": 0 } },
            { "id": "omaha", "clauses": [{ "attribute": "game", "op": "in", "values": ["omaha"] }], "serve": { "variation": 1 } }
        ]);
    })
    .await
    .expect(200);
    app.edit_config("gated", "production", |c| {
        c["on"] = json!(true);
        c["prerequisites"] = json!([{ "flag": "secret-gate", "variation": 1 }]);
    })
    .await
    .expect(200);
    let server = app.sdk_key("production", "server").await;
    let client = app.sdk_key("production", "client").await;
    let omaha = json!({ "context": { "targetingKey": "u1", "game": "omaha" } });

    let r = app.ofrep(&client, Some("lobby"), omaha.clone()).await.expect(200);
    assert_eq!(r.body["reason"], "TARGETING_MATCH");
    assert_eq!(r.body["metadata"]["rule_id"], "omaha");
    assert_eq!(r.body["metadata"]["rule_index"], 1);
    assert!(r.body["metadata"]["version"].is_u64());
    let bulk = app.ofrep(&client, None, omaha.clone()).await.expect(200);
    let lobby = bulk.body["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "lobby")
        .unwrap()
        .clone();
    assert_eq!(lobby["metadata"]["rule_id"], "omaha");
    assert_eq!(lobby["metadata"]["rule_index"], 1);
    // No rule matched: no rule in the metadata.
    let r = app.ofrep(&client, Some("lobby"), json!({})).await.expect(200);
    assert!(r.body["metadata"].get("rule_id").is_none(), "{}", r.body);

    // A rollout says which bucket picked the variation (docs/flag-format.md:
    // murmur3 of `salt.value` mod 100,000); a rule or the fallthrough
    // serving one variation has no bucket.
    app.create_flag(json!({ "key": "tables", "client_side": true })).await;
    app.edit_config("tables", "production", |c| {
        c["on"] = json!(true);
        c["fallthrough"] = json!({ "rollout": { "bucket_by": "table_id", "salt": "cohort", "variations": [
            { "variation": 0, "weight": 50000 }, { "variation": 1, "weight": 50000 }] } });
    })
    .await
    .expect(200);
    let table = json!({ "context": { "targetingKey": "u1", "table_id": "t-17" } });
    let r = app.ofrep(&client, Some("tables"), table.clone()).await.expect(200);
    assert_eq!(r.body["reason"], "SPLIT");
    let expected = daylight::bucket::bucket_of("cohort", "t-17");
    assert_eq!(r.body["metadata"]["bucket"], expected, "{}", r.body);
    assert_eq!(r.body["variant"], if expected < 50000 { "0" } else { "1" });
    // The bulk answer leaves the bucket out (explaining is per flag).
    let bulk = app.ofrep(&client, None, table).await.expect(200);
    let tables = bulk.body["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "tables")
        .unwrap();
    assert!(tables["metadata"].get("bucket").is_none(), "{tables}");
    assert!(tables["metadata"]["version"].is_u64(), "{tables}");
    let r = app.ofrep(&client, Some("lobby"), omaha.clone()).await.expect(200);
    assert!(r.body["metadata"].get("bucket").is_none(), "{}", r.body);

    let r = app.ofrep(&server, Some("gated"), omaha.clone()).await.expect(200);
    assert_eq!(r.body["metadata"]["prerequisite_key"], "secret-gate");
    for answer in [
        app.ofrep(&client, Some("gated"), omaha.clone()).await.expect(200).body,
        app.ofrep(&client, None, omaha).await.expect(200).body,
    ] {
        assert!(!answer.to_string().contains("secret-gate"), "{answer}");
    }
}

/// docs/api.md: 401 for no or unknown credentials, 403 for a valid one of
/// the wrong kind (an admin token as an OFREP key, a client key on the admin
/// API).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ofrep_and_the_admin_api_refuse_the_wrong_kind_of_credential_with_403() {
    let app = crate::harness::spawn_app(crate::harness::Backend::Sqlite).await;
    app.create_flag(json!({ "key": "f", "client_side": true })).await;
    let admin = crate::harness::ADMIN;
    let r = app.ofrep(admin, Some("f"), json!({})).await.expect(403);
    assert_eq!(r.body["error"], "forbidden");
    app.ofrep(admin, None, json!({})).await.expect(403);
    app.ofrep("dl_admin_unknown", Some("f"), json!({})).await.expect(401);
    let client = app.sdk_key("production", "client").await;
    let r = app
        .request(Method::GET, "/api/v1/flags", Some(&client), None, &[])
        .await
        .expect(403);
    assert_eq!(r.body["error"], "forbidden");
    app.request(Method::GET, "/api/v1/flags", Some("dl_client_unknown"), None, &[])
        .await
        .expect(401);
}

/// A bulk request as bytes: status, headers and the body as sent.
async fn bulk_bytes(
    app: &crate::harness::TestApp,
    key: &str,
    context: serde_json::Value,
    accept_encoding: Option<&str>,
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/ofrep/v1/evaluate/flags", app.url))
        .bearer_auth(key)
        .json(&json!({ "context": context }));
    if let Some(accept) = accept_encoding {
        req = req.header("accept-encoding", accept);
    }
    let resp = req.send().await.expect("the server answers");
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip stream");
    out
}

/// The value of `key` in a bulk answer.
fn value_of(answer: &[u8], key: &str) -> serde_json::Value {
    let answer: serde_json::Value = serde_json::from_slice(answer).expect("JSON");
    answer["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == key)
        .unwrap()["value"]
        .clone()
}

on_each_backend!(ofrep_bulk_answers_in_gzip_when_asked_and_per_context, |app| {
    // Enough flags for an answer over a kibibyte; one reads the context.
    for i in 0..12 {
        let key = format!("flag-{i:02}");
        app.create_flag(json!({ "key": key, "client_side": true })).await;
    }
    app.edit_config("flag-00", "production", |c| {
        c["on"] = json!(true);
        c["rules"] = json!([{ "clauses": [{ "attribute": "game", "op": "in", "values": ["omaha"] }], "serve": { "variation": 1 } }]);
        c["fallthrough"] = json!({ "variation": 0 });
    })
    .await
    .expect(200);
    let client = app.sdk_key("production", "client").await;
    let omaha = json!({ "targetingKey": "u1", "game": "omaha" });
    let chess = json!({ "targetingKey": "u1", "game": "chess" });

    let (status, plain_headers, plain) = bulk_bytes(&app, &client, omaha.clone(), None).await;
    assert_eq!(status, 200);
    assert!(plain.len() > 1024, "{} bytes", plain.len());
    assert!(plain_headers.get("content-encoding").is_none());
    let vary: Vec<String> = plain_headers
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
        .collect();
    assert!(vary.iter().any(|v| v.contains("accept-encoding")), "vary: {vary:?}");
    assert_eq!(value_of(&plain, "flag-00"), json!(true));

    // gzip when asked, the same bytes and ETag inside; refused or absent
    // codings get the bytes as they are.
    for accept in ["gzip", "br, gzip;q=0.5", "*", "deflate, *;q=1", "GZIP"] {
        let (status, headers, body) = bulk_bytes(&app, &client, omaha.clone(), Some(accept)).await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-encoding"], "gzip", "{accept}");
        assert!(body.len() < plain.len() / 2, "{accept}: {} bytes", body.len());
        assert_eq!(gunzip(&body), plain, "{accept}");
        // The same answer in another form: the weak form of its ETag.
        let etag = plain_headers["etag"].to_str().unwrap();
        assert_eq!(headers["etag"].to_str().unwrap(), format!("W/{etag}"), "{accept}");
    }
    for accept in ["br", "gzip;q=0", "identity", "*;q=0", "gzip;q=0, *"] {
        let (_, headers, body) = bulk_bytes(&app, &client, omaha.clone(), Some(accept)).await;
        assert!(headers.get("content-encoding").is_none(), "{accept}");
        assert_eq!(body, plain, "{accept}");
    }

    // Either form's ETag gets 304 for the other (weak comparison).
    let weak = format!("W/{}", plain_headers["etag"].to_str().unwrap());
    app.ofrep_with(&client, None, json!({ "context": omaha }), &[("if-none-match", &weak)])
        .await
        .expect(304);

    // Answers kept per context: alternating contexts each get their own.
    for _ in 0..3 {
        let (_, _, body) = bulk_bytes(&app, &client, chess.clone(), Some("gzip")).await;
        assert_eq!(value_of(&gunzip(&body), "flag-00"), json!(false));
        let (_, _, body) = bulk_bytes(&app, &client, omaha.clone(), Some("gzip")).await;
        assert_eq!(value_of(&gunzip(&body), "flag-00"), json!(true));
    }
    // A change is answered at once, in both forms.
    app.toggle("flag-00", "production", false).await.expect(200);
    let (_, headers, body) = bulk_bytes(&app, &client, omaha.clone(), Some("gzip")).await;
    assert_ne!(headers["etag"], plain_headers["etag"]);
    assert_eq!(value_of(&gunzip(&body), "flag-00"), json!(false));
    let (_, _, body) = bulk_bytes(&app, &client, omaha.clone(), None).await;
    assert_eq!(value_of(&body, "flag-00"), json!(false));
});
