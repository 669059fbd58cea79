//! Named cohorts: one share moves a flag's rollout, a routing flag's rule
//! and a bundle canary together (`docs/cohorts.md`).

use daylight::{Context, Ruleset};
use daylight_server::bundles::BundleConfig;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::TestApp;

const KEYS: usize = 10_000;

/// Sets up cohort `beta` at 25% in production, a feature flag whose
/// fallthrough, a routing flag whose rule, and a canary of app `web`, each
/// referencing it.
async fn referenced_cohort(app: &TestApp) {
    let created = app
        .post(
            "/api/v1/cohorts",
            json!({ "key": "beta", "weights": { "production": 25_000 } }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(created["salt"], "cohort.beta");
    assert_eq!(created["bucket_by"], "key");
    app.create_flag(json!({ "key": "new-lobby" })).await;
    let config = app
        .edit_config("new-lobby", "production", |c| {
            c["on"] = json!(true);
            c["fallthrough"] = json!({ "rollout": { "cohort": "beta", "in": 1, "out": 0 } });
        })
        .await
        .expect(200)
        .body;
    assert_eq!(
        config["fallthrough"]["rollout"],
        json!({
            "cohort": "beta", "in": 1, "out": 0, "salt": "cohort.beta", "bucket_by": "key",
            "variations": [{ "variation": 1, "weight": 25_000 }, { "variation": 0, "weight": 75_000 }]
        })
    );
    app.create_flag(json!({ "key": "pool", "variations": ["blue", "green"] }))
        .await;
    app.edit_config("pool", "production", |c| {
        c["on"] = json!(true);
        c["rules"] = json!([{
            "id": "site",
            "clauses": [{ "attribute": "path", "op": "starts_with", "values": ["/"] }],
            "serve": { "rollout": { "cohort": "beta", "in": 1, "out": 0 } }
        }]);
    })
    .await
    .expect(200);
    let publish = |body: Value| async move { app.post("/api/v1/environments/production/apps/web/publish", body).await };
    publish(json!({ "version": "1.0.0" })).await.expect(200);
    let canary = publish(json!({ "version": "1.1.0", "canary_cohort": "beta" }))
        .await
        .expect(200)
        .body;
    assert_eq!(
        canary["canary"],
        json!({ "version": "1.1.0", "weight": 25_000, "salt": "cohort.beta", "bucket_by": "key", "cohort": "beta" })
    );
}

/// For each of 10,000 keys: inside the cohort ⇔ the feature flag serves its
/// inside variation ⇔ the routing flag picks green ⇔ the bundle canary.
/// Returns how many are inside.
async fn assert_membership(app: &TestApp, server_key: &str, weight: u32) -> usize {
    let doc = app
        .request(Method::GET, "/sdk/v1/ruleset", Some(server_key), None, &[])
        .await
        .expect(200)
        .body;
    // SDKs get an ordinary rollout: no cohort reference.
    let published = &doc["flags"]["new-lobby"]["fallthrough"]["rollout"];
    assert!(
        published.get("cohort").is_none() && published.get("in").is_none(),
        "{published}"
    );
    assert_eq!(published["salt"], "cohort.beta");
    let doc: daylight::RulesetDocument = serde_json::from_value(doc).unwrap();
    let rules = Ruleset::compile(&doc).unwrap();
    let bundle: BundleConfig = serde_json::from_value(
        app.get("/api/v1/environments/production/apps/web/bundle")
            .await
            .expect(200)
            .body,
    )
    .unwrap();
    let mut inside = 0;
    for i in 0..KEYS {
        let key = format!("player-{i}");
        let member = daylight::bucket::bucket_of("cohort.beta", &key) < weight;
        let ctx = Context::from_json(&json!({ "key": key, "path": "/lobby" })).unwrap();
        assert_eq!(
            rules.evaluate("new-lobby", &ctx).variation == Some(1),
            member,
            "{key} flag"
        );
        assert_eq!(
            rules.evaluate("pool", &ctx).value == Some(&json!("green")),
            member,
            "{key} pool"
        );
        assert_eq!(
            bundle.target("web", &ctx, Some(&rules)) == Some("1.1.0"),
            member,
            "{key} bundle"
        );
        inside += usize::from(member);
    }
    inside
}

on_each_backend!(one_cohort_moves_flags_and_the_bundle_canary_together, |app| {
    referenced_cohort(&app).await;
    let server_key = app.sdk_key("production", "server").await;
    let before = assert_membership(&app, &server_key, 25_000).await;
    assert!((2_200..2_800).contains(&before), "{before} of {KEYS} inside at 25%");
    let cohort = app.get("/api/v1/cohorts/beta").await.expect(200);
    let mut references: Vec<String> = cohort.body["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {} {} {}", r["kind"], r["key"], r["environment"], r["at"]))
        .collect();
    references.sort();
    assert_eq!(
        references,
        [
            r#""bundle" "web" "production" "canary""#,
            r#""flag" "new-lobby" "production" "fallthrough""#,
            r#""flag" "pool" "production" "rules[0]""#,
        ]
    );

    // One raise moves all three, in one audited write.
    let raised = app
        .request(
            Method::PUT,
            "/api/v1/cohorts/beta/environments/production",
            Some(crate::harness::ADMIN),
            Some(json!({ "weight": 40_000 })),
            &[("if-match", &cohort.etag()), ("x-audit-comment", "widen the beta")],
        )
        .await
        .expect(200)
        .body;
    assert_eq!(raised["moved"].as_array().unwrap().len(), 3, "{raised}");
    assert_eq!(raised["cohort"]["weights"]["production"], 40_000);
    let after = assert_membership(&app, &server_key, 40_000).await;
    assert!(after > before + 1_000, "{before} → {after}");
    let audit = app.get("/api/v1/audit?resource_kind=cohort").await.expect(200).body;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "create and one raise: {audit}");
    assert_eq!(entries[0]["action"], "cohort.weight");
    assert_eq!(entries[0]["comment"], "widen the beta");
    assert_eq!(entries[0]["after"]["moved"].as_array().unwrap().len(), 3);
    // A stale raise is refused; the list shows the share.
    app.request(
        Method::PUT,
        "/api/v1/cohorts/beta/environments/production",
        Some(crate::harness::ADMIN),
        Some(json!({ "weight": 50_000 })),
        &[("if-match", &cohort.etag())],
    )
    .await
    .expect(409);
    let list = app.get("/api/v1/cohorts").await.expect(200).body;
    assert_eq!(list["cohorts"][0]["weights"]["production"], 40_000);
    assert_eq!(list["cohorts"][0]["references"].as_array().unwrap().len(), 3);
});

on_each_backend!(
    cohort_owned_configs_refuse_direct_edits_and_a_referenced_cohort_stays,
    |app| {
        referenced_cohort(&app).await;
        // The weights of a cohort-owned rollout are the cohort's.
        let refused = app
            .edit_config("new-lobby", "production", |c| {
                c["fallthrough"]["rollout"]["variations"][0]["weight"] = json!(50_000);
                c["fallthrough"]["rollout"]["variations"][1]["weight"] = json!(50_000);
            })
            .await
            .expect_field_error(400, "environments.production.fallthrough.rollout");
        assert!(
            refused.body["message"].as_str().unwrap().contains("cohort `beta`"),
            "{}",
            refused.body
        );
        // Dropping the reference but keeping a rollout is the same edit.
        app.edit_config("new-lobby", "production", |c| {
            c["fallthrough"]["rollout"].as_object_mut().unwrap().remove("cohort");
        })
        .await
        .expect_field_error(400, "environments.production.fallthrough.rollout");
        app.edit_config("pool", "production", |c| {
            c["rules"][0]["serve"] = json!({ "rollout": { "cohort": "gamma", "in": 1, "out": 0 } });
        })
        .await
        .expect_field_error(400, "environments.production.rules[0].serve.rollout.cohort");
        app.edit_config("pool", "production", |c| {
            c["rules"][0]["serve"] = json!({ "rollout": { "cohort": "beta", "in": 1, "out": 1 } });
        })
        .await
        .expect_field_error(400, "environments.production.rules[0].serve.rollout.out");
        // The canary's share is the cohort's too.
        let bundle = app
            .get("/api/v1/environments/production/apps/web/bundle")
            .await
            .expect(200);
        let mut body = bundle.body.clone();
        body["canary"]["weight"] = json!(90_000);
        for field in ["app", "environment", "version"] {
            body.as_object_mut().unwrap().remove(field);
        }
        app.put_if_match("/api/v1/environments/production/apps/web/bundle", &bundle.etag(), body)
            .await
            .expect_field_error(400, "canary");
        app.request(
            Method::PUT,
            "/api/v1/cohorts/beta/environments/production",
            Some(crate::harness::ADMIN),
            Some(json!({ "weight": 100_001 })),
            &[],
        )
        .await
        .expect_field_error(400, "weight");

        // Deleting a referenced cohort is refused, naming each reference.
        let refused = app
            .request(
                Method::DELETE,
                "/api/v1/cohorts/beta",
                Some(crate::harness::ADMIN),
                None,
                &[],
            )
            .await
            .expect(409);
        let message = refused.body["message"].as_str().unwrap();
        for reference in ["flag `new-lobby`", "flag `pool`", "bundle `web`"] {
            assert!(message.contains(reference), "{message}");
        }
        // Serving fixed variations and going live detaches; then it may go.
        app.edit_config("new-lobby", "production", |c| {
            c["fallthrough"] = json!({ "variation": 1 })
        })
        .await
        .expect(200);
        app.edit_config("pool", "production", |c| c["rules"] = json!([]))
            .await
            .expect(200);
        app.post(
            "/api/v1/environments/production/apps/web/publish",
            json!({ "version": "1.1.0" }),
        )
        .await
        .expect(200);
        app.request(
            Method::DELETE,
            "/api/v1/cohorts/beta",
            Some(crate::harness::ADMIN),
            None,
            &[],
        )
        .await
        .expect(204);
        app.get("/api/v1/cohorts/beta").await.expect(404);
    }
);

/// `daylight cohorts …` from a deploy script: create, canary a bundle on
/// it, raise it, list it; a referenced cohort is not deleted (exit 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_raises_and_lists_cohorts() {
    use crate::cli::{daylight, ok};
    let app = crate::harness::spawn_app(crate::harness::Backend::Sqlite).await;
    ok(&app, &["cohorts", "create", "green-release"]).await;
    ok(&app, &["bundles", "publish", "web", "1.0.0", "--env", "production"]).await;
    ok(
        &app,
        &[
            "bundles",
            "publish",
            "web",
            "2.0.0",
            "--env",
            "production",
            "--canary-cohort",
            "green-release",
        ],
    )
    .await;
    let set = ok(
        &app,
        &[
            "cohorts",
            "set",
            "green-release",
            "--env",
            "production",
            "--percent",
            "5",
            "--comment",
            "first 5%",
        ],
    )
    .await;
    assert!(
        set.contains("5%") && set.contains("bundle web (production, canary)"),
        "{set}"
    );
    let canary = app
        .get("/api/v1/environments/production/apps/web/bundle")
        .await
        .expect(200)
        .body;
    assert_eq!(canary["canary"]["weight"], 5_000);
    assert_eq!(canary["canary"]["salt"], "cohort.green-release");
    let list = ok(&app, &["cohorts", "list"]).await;
    assert!(
        list.contains("green-release") && list.contains("production=5%"),
        "{list}"
    );
    let refused = daylight(&app, &["cohorts", "delete", "green-release"]).await;
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("bundle `web`"), "{}", refused.stderr);
    let bad = daylight(
        &app,
        &[
            "cohorts",
            "set",
            "green-release",
            "--env",
            "production",
            "--percent",
            "120",
        ],
    )
    .await;
    assert_eq!(bad.code, 1, "{}", bad.stdout);
}
