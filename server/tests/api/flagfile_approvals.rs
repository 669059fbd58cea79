//! `daylight apply` to an environment that requires approvals: new flags
//! and segments and descriptive fields are written at once, each config (or
//! segment's keys and rules) that changes is proposed as a change request,
//! in one transaction; variations are refused (docs/flags-as-code.md).

use serde_json::{json, Value};

use crate::flagfile::against_a_server::{daylight_apply, daylight_plan, edit_yaml, exported, flag_index, written};
use crate::harness::TestApp;

const FILE: &str = "version: 1
flags:
  - key: new-checkout
    name: New checkout
    description: The one-page checkout
    owner: team-pay
    variations: [false, true]
    manage:
      production: [targeting]
    environments:
      production:
        on: true
        off_variation: 0
        rules:
          - id: beta
            clauses: [{ attribute: key, op: in_segment, values: [beta] }]
            serve: { variation: 1 }
        fallthrough:
          rollout:
            variations:
              - { variation: 0, weight: 90000 }
              - { variation: 1, weight: 10000 }
segments:
  - key: beta
    name: Beta testers
    environments:
      production:
        included: [u-1]
";

async fn open_requests(app: &TestApp) -> Vec<Value> {
    let open = app.get("/api/v1/change-requests?state=open").await.expect(200).body;
    open["change_requests"].as_array().unwrap().clone()
}

on_each_backend!(a_new_flag_and_segment_are_written_and_the_config_proposed, |app| {
    let (_dir, file) = written("flags.yaml", FILE);
    let file_s = file.to_str().unwrap();
    app.require_approvals("production", 1).await;

    let applied = daylight_apply(&app, file_s, "production", "abc123").await;
    assert_eq!(applied.code, 0, "{}{}", applied.stdout, applied.stderr);
    assert!(applied.stdout.contains("Written at once"), "{}", applied.stdout);
    assert!(
        applied.stdout.contains("proposed 1 change request(s)"),
        "{}",
        applied.stdout
    );

    // The flag exists with its shared fields, off in production; the segment
    // exists; one request carries the flag's config there.
    let flag = app.get("/api/v1/flags/new-checkout").await.expect(200).body;
    assert_eq!(flag["description"], "The one-page checkout");
    assert_eq!(flag["owner"], "team-pay");
    let production = &flag["environments"]["production"];
    assert_eq!(production["on"], false, "{flag}");
    assert!(production["rules"].as_array().is_none_or(|r| r.is_empty()), "{flag}");
    let segment = app
        .get("/api/v1/environments/production/segments/beta")
        .await
        .expect(200)
        .body;
    assert_eq!(segment["included"], json!(["u-1"]));
    let open = open_requests(&app).await;
    assert_eq!(open.len(), 1, "{open:?}");
    let (request, id) = (&open[0], open[0]["id"].as_i64().unwrap());
    assert_eq!(
        (request["subject"].as_str(), request["key"].as_str()),
        (Some("flag"), Some("new-checkout"))
    );
    assert_eq!(request["base_version"], flag["version"]);
    assert_eq!(request["comment"], "abc123");
    assert!(applied.stdout.contains(&format!("#{id}")), "{}", applied.stdout);
    let actions = app.audit_actions("limit=1000").await;
    for action in ["flag.create", "segment.create", "change_request.open"] {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }

    // Until it applies, the plan shows the change, proposed; applying
    // again proposes nothing new and writes nothing.
    let plan = daylight_plan(&app, file_s, "production").await;
    assert_eq!(plan.code, 2, "{}", plan.stdout);
    assert!(
        plan.stdout.contains(&format!("proposed as change request #{id}")),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("drift:"), "{}", plan.stdout);
    let heads = app.history().await.1;
    let again = daylight_apply(&app, file_s, "production", "abc123").await;
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("Already proposed"), "{}", again.stdout);
    assert_eq!(open_requests(&app).await.len(), 1);
    assert_eq!(app.history().await.1, heads);

    // Approved by someone else and applied, production serves the rollout.
    let bo = app.editor_token("bo").await;
    app.approve_and_apply(&bo, id).await;
    let config = app
        .get("/api/v1/flags/new-checkout/environments/production")
        .await
        .expect(200)
        .body;
    assert_eq!(config["on"], true, "{config}");
    assert_eq!(
        config["fallthrough"]["rollout"]["variations"][1]["weight"], 10000,
        "{config}"
    );
    assert_eq!(config["rules"][0]["clauses"][0]["values"], json!(["beta"]));
    let plan = daylight_plan(&app, file_s, "production").await;
    assert_eq!(plan.code, 0, "{}", plan.stdout);
    // The file manages that targeting from the next apply on (not while
    // the request carrying it waited: it could not have applied).
    let applied = daylight_apply(&app, file_s, "production", "abc124").await;
    assert!(applied.stdout.contains("Nothing to apply."), "{}", applied.stdout);
    let flag = app.get("/api/v1/flags/new-checkout").await.expect(200).body;
    assert_eq!(
        flag["managed_by"]["production"]["parts"],
        json!(["targeting"]),
        "{flag}"
    );
});

on_each_backend!(descriptive_fields_are_written_and_targeting_proposed, |app| {
    let (_dir, file) = exported(&app).await;
    let file_s = file.to_str().unwrap();
    edit_yaml(&file, |doc| {
        let i = flag_index(doc, "checkout");
        doc["flags"][i]["description"] = json!("Checkout, redone");
        doc["flags"][i]["environments"]["production"]["off_variation"] = json!(1);
        doc["segments"][0]["name"] = json!("Very important");
        doc["segments"][0]["environments"]["production"]["included"] = json!(["u-1", "u-2"]);
    });
    app.require_approvals("production", 1).await;
    let flag_version = app.get("/api/v1/flags/checkout").await.body["version"]
        .as_i64()
        .unwrap();
    let applied = daylight_apply(&app, file_s, "production", "ship it").await;
    assert_eq!(applied.code, 0, "{}{}", applied.stdout, applied.stderr);
    assert!(
        applied.stdout.contains("proposed 2 change request(s)"),
        "{}",
        applied.stdout
    );

    // Descriptions written; what production serves waits in two requests,
    // against the versions the direct writes left.
    let flag = app.get("/api/v1/flags/checkout").await.body;
    assert_eq!(flag["description"], "Checkout, redone");
    assert_eq!(flag["version"], flag_version + 1);
    assert_eq!(flag["environments"]["production"]["off_variation"], 0);
    let segment = app.get("/api/v1/environments/production/segments/vip").await.body;
    assert_eq!(segment["name"], "Very important");
    assert_eq!(segment["included"], json!(["u-1"]));
    let open = open_requests(&app).await;
    assert_eq!(open.len(), 2, "{open:?}");
    let flag_request = open.iter().find(|r| r["subject"] == "flag").unwrap();
    let segment_request = open.iter().find(|r| r["subject"] == "segment").unwrap();
    assert_eq!(flag_request["key"], "checkout");
    assert_eq!(flag_request["base_version"], flag_version + 1);
    assert_eq!(segment_request["key"], "vip");
    assert_eq!(segment_request["base_version"], 2);

    // The file now wants something else: the open request would be
    // duplicated, so the apply is refused naming it; nothing written.
    edit_yaml(&file, |doc| {
        let i = flag_index(doc, "checkout");
        doc["flags"][i]["environments"]["production"]["off_variation"] = json!(0);
        doc["flags"][i]["environments"]["production"]["on"] = json!(true);
    });
    let before = app.history().await;
    let refused = daylight_apply(&app, file_s, "production", "r").await;
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    let flag_id = flag_request["id"].as_i64().unwrap();
    assert!(refused.stderr.contains(&format!("#{flag_id}")), "{}", refused.stderr);
    assert_eq!(app.history().await, before);
    assert_eq!(open_requests(&app).await.len(), 2);
    edit_yaml(&file, |doc| {
        let i = flag_index(doc, "checkout");
        doc["flags"][i]["environments"]["production"]["off_variation"] = json!(1);
        doc["flags"][i]["environments"]["production"]["on"] = json!(false);
    });

    let bo = app.editor_token("bo").await;
    for r in &open {
        app.approve_and_apply(&bo, r["id"].as_i64().unwrap()).await;
    }
    let config = app.get("/api/v1/flags/checkout/environments/production").await.body;
    assert_eq!(config["off_variation"], 1, "{config}");
    let segment = app.get("/api/v1/environments/production/segments/vip").await.body;
    assert_eq!(segment["included"], json!(["u-1", "u-2"]));
    let plan = daylight_plan(&app, file_s, "production").await;
    assert_eq!(plan.code, 0, "{}", plan.stdout);
});

on_each_backend!(a_variations_change_is_refused_naming_the_field, |app| {
    let (_dir, file) = exported(&app).await;
    let file_s = file.to_str().unwrap();
    edit_yaml(&file, |doc| {
        let i = flag_index(doc, "checkout");
        doc["flags"][i]["variations"] = json!(["old", "new", "newer"]);
        let i = flag_index(doc, "new-lobby");
        doc["flags"][i]["description"] = json!("would be written alone");
    });
    app.require_approvals("production", 1).await;
    let before = app.history().await;
    let applied = daylight_apply(&app, file_s, "production", "r").await;
    assert_eq!(applied.code, 1, "{}", applied.stdout);
    assert!(applied.stderr.contains("requires 1 approval"), "{}", applied.stderr);
    assert!(
        applied.stderr.contains("flag `checkout`: variations"),
        "{}",
        applied.stderr
    );
    assert_eq!(app.history().await, before, "nothing written");
    assert!(open_requests(&app).await.is_empty(), "nothing proposed");
    let flag = app.get("/api/v1/flags/new-lobby").await.body;
    assert_eq!(flag["description"], "The lobby");
});

on_each_backend!(variations_applied_elsewhere_do_not_bypass_approvals, |app| {
    let (_dir, file) = exported(&app).await;
    let file_s = file.to_str().unwrap();
    edit_yaml(&file, |doc| {
        let i = flag_index(doc, "checkout");
        doc["flags"][i]["variations"] = json!(["old", "newer"]);
    });
    app.require_approvals("production", 1).await;
    let before = app.history().await;
    let applied = daylight_apply(&app, file_s, "staging", "r").await;
    assert_eq!(applied.code, 1, "{}", applied.stdout);
    assert!(
        applied
            .stderr
            .contains("`production` requires 1 approval(s): flag `checkout`"),
        "{}",
        applied.stderr
    );
    assert_eq!(app.history().await, before, "nothing written");
    // Without approvals there, the same apply goes through.
    app.require_approvals("production", 0).await;
    let applied = daylight_apply(&app, file_s, "staging", "r").await;
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let flag = app.get("/api/v1/flags/checkout").await.body;
    assert_eq!(flag["variations"], json!(["old", "newer"]));
});
