//! The served OpenAPI document matches the routes that exist, and every
//! operation needs a credential unless it says it is open.

use reqwest::Method;
use serde_json::Value;

on_each_backend!(every_documented_operation_exists_and_needs_a_token, |app| {
    let doc = app
        .request(Method::GET, "/api/v1/openapi.json", None, None, &[])
        .await
        .expect(200)
        .body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().expect("paths");
    for expected in [
        "/api/v1/flags",
        "/api/v1/flags/{key}",
        "/api/v1/flags/{key}/environments/{env}",
        "/api/v1/flags/{key}/environments/{env}/toggle",
        "/api/v1/environments/{env}/segments/{key}/included",
        "/api/v1/environments/{env}/keys",
        "/api/v1/tokens",
        "/api/v1/audit",
        "/api/v1/flags/{key}/environments/{env}/evaluate",
        "/api/v1/environments/{env}/attributes",
        "/api/v1/playground",
        "/api/v1/cohorts",
        "/api/v1/cohorts/{key}/environments/{env}",
    ] {
        assert!(paths.contains_key(expected), "{expected} is not documented");
    }
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path
            .replace("{key}", "k")
            .replace("{env}", "production")
            .replace("{id}", "1");
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            operations += 1;
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} documents no response"
            );
            let body =
                matches!(method, Method::POST | Method::PUT | Method::PATCH).then(|| Value::Object(Default::default()));
            let r = app.request(method.clone(), &concrete, None, body, &[]).await;
            if op["security"] == serde_json::json!([{}]) {
                // Open by design (signing in, accepting an invitation): it
                // exists and judges the body instead; the sign-in page's
                // list of ways in answers anyone, and OpenID sign-in says
                // it is not set up.
                let expected = match path.as_str() {
                    "/api/v1/session/providers" => 200,
                    p if p.starts_with("/api/v1/session/oidc/") => 404,
                    _ => 400,
                };
                assert_eq!(r.status.as_u16(), expected, "{method} {path}: {} {}", r.status, r.body);
                continue;
            }
            assert_eq!(
                r.status.as_u16(),
                401,
                "{method} {path}: documented but answered {} {}",
                r.status,
                r.body
            );
        }
    }
    assert!(operations >= 25, "only {operations} operations documented");
    // Schemas the API returns are in the document.
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "StoredFlag",
        "FlagConfig",
        "Rule",
        "Clause",
        "Op",
        "ErrorBody",
        "StoredSegment",
        "AuditRecord",
        "Cohort",
        "CohortList",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    // Every reference resolves (a type named only in a parameter is easy to
    // leave out of the components).
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r.clone());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(schemas.contains_key(name), "{r} does not resolve");
    }
});
