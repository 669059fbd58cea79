//! The web console's files, served from the binary, and the API features it
//! relies on: following the audit log (`after_id`) and UTF-8 comments.

use reqwest::Method;
use serde_json::json;

use crate::harness::ADMIN;

on_each_backend!(console_page_and_modules_are_served_with_strict_headers, |app| {
    let page = app.request(Method::GET, "/", None, None, &[]).await.expect(200);
    assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.body.as_str().expect("html text");
    assert!(
        html.contains(r#"<script type="module" src="/console/app.js">"#),
        "{html}"
    );
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(page.headers["x-content-type-options"], "nosniff");

    // Every module the page and the modules import is there, as JavaScript.
    for path in [
        "app.js",
        "lib.js",
        "flags.js",
        "flag.js",
        "vendor/preact.js",
        "vendor/hooks.js",
        "vendor/htm.js",
    ] {
        let r = app
            .request(Method::GET, &format!("/console/{path}"), None, None, &[])
            .await
            .expect(200);
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/javascript"),
            "{path}"
        );
        let text = r.body.as_str().expect("module text");
        for import in text.split("from\"").skip(1).chain(text.split("from '").skip(1)) {
            let target = import.split(['"', '\'']).next().unwrap();
            assert!(
                target.starts_with("./"),
                "{path} imports {target}: the console loads no bare or remote modules"
            );
        }
    }

    // Revalidation: the ETag is the content hash.
    let css = app
        .request(Method::GET, "/console/style.css", None, None, &[])
        .await
        .expect(200);
    let etag = css.etag();
    assert_eq!(css.headers["cache-control"], "no-cache");
    app.request(
        Method::GET,
        "/console/style.css",
        None,
        None,
        &[("if-none-match", &etag)],
    )
    .await
    .expect(304);

    // Unknown files are the usual JSON 404; no path escapes the embedded set.
    let missing = app
        .request(Method::GET, "/console/nope.js", None, None, &[])
        .await
        .expect(404);
    assert_eq!(missing.body["error"], "not_found");
    app.request(Method::GET, "/console/../Cargo.toml", None, None, &[])
        .await
        .expect(404);
    app.request(Method::GET, "/console/%2e%2e/src/main.rs", None, None, &[])
        .await
        .expect(404);
});

on_each_backend!(audit_after_id_returns_only_newer_entries, |app| {
    app.create_flag(json!({ "key": "a" })).await;
    let first = app.get("/api/v1/audit?limit=1").await.expect(200).body["entries"][0]["id"]
        .as_i64()
        .expect("an id");
    app.create_flag(json!({ "key": "b" })).await;
    app.toggle("b", "staging", true).await.expect(200);
    let newer = app
        .get(&format!("/api/v1/audit?after_id={first}"))
        .await
        .expect(200)
        .body;
    let actions: Vec<(&str, &str)> = newer["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["resource_key"].as_str().unwrap()))
        .collect();
    assert_eq!(actions, [("flag.on", "b"), ("flag.create", "b")]);
    let last = newer["entries"][0]["id"].as_i64().unwrap();
    let none = app
        .get(&format!("/api/v1/audit?after_id={last}"))
        .await
        .expect(200)
        .body;
    assert_eq!(none["entries"], json!([]));
    app.get("/api/v1/audit?after_id=soon").await.expect(400);
});

on_each_backend!(audit_comments_may_be_utf8, |app| {
    app.create_flag(json!({ "key": "checkout" })).await;
    let comment = "Kill-switch drill — été 🚦";
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/flags/checkout/environments/production/toggle",
            app.url
        ))
        .bearer_auth(ADMIN)
        .header(
            "x-audit-comment",
            reqwest::header::HeaderValue::from_bytes(comment.as_bytes()).unwrap(),
        )
        .json(&json!({ "on": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let entry = &app
        .get("/api/v1/audit?resource_key=checkout&limit=1")
        .await
        .expect(200)
        .body["entries"][0];
    assert_eq!(entry["comment"], comment);
});
