//! Promotion: flags' rules, rollout and targets copied from one environment
//! to another with the segments the rules use, planned then applied only as
//! planned (`/api/v1/environments/{env}/promote/…`, `daylight promote`).

use reqwest::Method;
use serde_json::{json, Value};

use crate::cli::daylight;
use crate::harness::{TestApp, ADMIN};

const PLAN: &str = "/api/v1/environments/production/promote/plan";
const APPLY: &str = "/api/v1/environments/production/promote/apply";

/// `new-lobby` set up in staging: on, a rule on segment `vip` (staging
/// only), a 90/10 rollout and a target; dark in production.
async fn seeded(app: &TestApp) {
    app.post(
        "/api/v1/environments/staging/segments",
        json!({ "key": "vip", "name": "VIPs", "included": ["u-1"] }),
    )
    .await
    .expect(201);
    app.create_flag(json!({ "key": "new-lobby", "name": "New lobby" }))
        .await;
    app.edit_config("new-lobby", "staging", |c| {
        c["on"] = json!(true);
        c["targets"] = json!([{ "variation": 1, "values": ["qa-1"] }]);
        c["rules"] = json!([{ "id": "vips", "clauses": [{ "attribute": "key", "op": "in_segment", "values": ["vip"] }],
                              "serve": { "variation": 1 } }]);
        c["fallthrough"] = json!({ "rollout": { "variations": [
            { "variation": 0, "weight": 90000 }, { "variation": 1, "weight": 10000 } ] } });
    })
    .await
    .expect(200);
}

fn request() -> Value {
    json!({ "from": "staging", "flags": ["new-lobby"] })
}

/// The apply body for a plan as the plan endpoint returned it.
fn apply_body(req: &Value, shown: &Value) -> Value {
    let mut body = req.clone();
    body["plan"] = json!(shown["plan"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| json!({ "kind": i["kind"], "key": i["key"], "action": i["action"], "version": i["version"] }))
        .collect::<Vec<_>>());
    body["from_segments"] = shown["from_segments"].clone();
    body
}

async fn apply(app: &TestApp, body: Value, comment: &str) -> crate::harness::Reply {
    app.request(
        Method::POST,
        APPLY,
        Some(ADMIN),
        Some(body),
        &[("x-audit-comment", comment)],
    )
    .await
}

fn item<'a>(shown: &'a Value, kind: &str, key: &str) -> &'a Value {
    shown["plan"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == kind && i["key"] == key)
        .unwrap_or_else(|| panic!("no {kind} {key} in {shown}"))
}

on_each_backend!(promote_copies_rules_rollout_targets_and_the_segment_they_use, |app| {
    seeded(&app).await;
    let before = app.history().await;
    let shown = app.post(PLAN, request()).await.expect(200).body;
    assert_eq!(app.history().await, before, "a plan writes nothing");
    assert_eq!(shown["from"], "staging");
    assert_eq!(shown["plan"]["environment"], "production");
    assert_eq!(
        shown["parts"],
        json!(["prerequisites", "targets", "rules", "fallthrough"])
    );
    let flag = item(&shown, "flag", "new-lobby");
    assert_eq!(flag["action"], "change");
    let paths: Vec<&str> = flag["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"environments.production.rules"), "{paths:?}");
    assert!(paths.contains(&"environments.production.targets"), "{paths:?}");
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("environments.production.fallthrough")),
        "{paths:?}"
    );
    assert!(
        !paths.iter().any(|p| p.ends_with(".on")),
        "on/off is not copied by default: {paths:?}"
    );
    let segment = item(&shown, "segment", "vip");
    assert_eq!(segment["action"], "create");
    assert_eq!(shown["from_segments"]["vip"], 1);

    let applied = apply(&app, apply_body(&request(), &shown), "promote lobby")
        .await
        .expect(200)
        .body;
    assert_eq!(applied["plan"]["items"], shown["plan"]["items"]);
    let staging = app
        .get("/api/v1/flags/new-lobby/environments/staging")
        .await
        .expect(200)
        .body;
    let production = app
        .get("/api/v1/flags/new-lobby/environments/production")
        .await
        .expect(200)
        .body;
    for part in ["rules", "fallthrough", "targets", "prerequisites"] {
        assert_eq!(production[part], staging[part], "{part}");
    }
    assert_eq!(production["on"], false, "still dark in production");
    let vip = app
        .get("/api/v1/environments/production/segments/vip")
        .await
        .expect(200)
        .body;
    assert_eq!(vip["included"], json!(["u-1"]));
    assert_eq!(vip["name"], "VIPs");

    let audit = app.get("/api/v1/audit?limit=1000").await.expect(200).body;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(
        entries.len(),
        before.0 + 2,
        "one entry for the flag, one for the segment"
    );
    for entry in &entries[..2] {
        assert_eq!(entry["comment"], "promote lobby");
        assert_eq!(entry["environment"], "production");
        assert!(entry["actor"].as_str().is_some_and(|a| !a.is_empty()));
    }

    // Promoting again: nothing to do, nothing written.
    let again = app.post(PLAN, request()).await.expect(200).body;
    assert!(again["plan"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["action"] == "unchanged"));
    let settled = app.history().await;
    apply(&app, apply_body(&request(), &again), "again").await.expect(200);
    assert_eq!(app.history().await, settled);

    // Only the parts asked for: on/off alone.
    let on = json!({ "from": "staging", "flags": ["new-lobby"], "parts": ["on"] });
    let shown = app.post(PLAN, on.clone()).await.expect(200).body;
    assert_eq!(
        item(&shown, "flag", "new-lobby")["changes"],
        json!([{ "path": "environments.production.on", "old": false, "new": true }])
    );
    apply(&app, apply_body(&on, &shown), "turn on").await.expect(200);
    let production = app
        .get("/api/v1/flags/new-lobby/environments/production")
        .await
        .expect(200)
        .body;
    assert_eq!(production["on"], true);
});

on_each_backend!(a_stale_promotion_is_refused_and_nothing_is_written, |app| {
    seeded(&app).await;
    // The target moved since the plan.
    let shown = app.post(PLAN, request()).await.expect(200).body;
    app.toggle("new-lobby", "production", true).await.expect(200);
    let before = app.history().await;
    let refused = apply(&app, apply_body(&request(), &shown), "r").await.expect(409);
    let message = refused.body["message"].as_str().unwrap();
    assert!(message.contains("nothing was applied"), "{message}");
    assert!(message.contains("flag `new-lobby` changed on the server"), "{message}");
    assert_eq!(app.history().await, before, "no audit or change-log row");
    app.get("/api/v1/environments/production/segments/vip")
        .await
        .expect(404);
    let production = app
        .get("/api/v1/flags/new-lobby/environments/production")
        .await
        .expect(200)
        .body;
    assert_eq!(production["rules"], json!([]));

    // The source's segment moved since the plan.
    let shown = app.post(PLAN, request()).await.expect(200).body;
    app.request(
        Method::PUT,
        "/api/v1/environments/staging/segments/vip/included",
        Some(ADMIN),
        Some(json!(["u-1", "u-2"])),
        &[],
    )
    .await
    .expect(200);
    let before = app.history().await;
    let refused = apply(&app, apply_body(&request(), &shown), "r").await.expect(409);
    let message = refused.body["message"].as_str().unwrap();
    assert!(message.contains("segment `vip` in `staging`"), "{message}");
    assert_eq!(app.history().await, before);
    app.get("/api/v1/environments/production/segments/vip")
        .await
        .expect(404);
});

on_each_backend!(a_promotion_respects_freeze_windows, |app| {
    seeded(&app).await;
    let shown = app.post(PLAN, request()).await.expect(200).body;
    let body = apply_body(&request(), &shown);

    // A window from an hour ago to an hour ahead holds now on any clock
    // this test runs on.
    let now = jiff::Timestamp::now().as_millisecond();
    let at = |ms: i64| jiff::Timestamp::from_millisecond(ms).unwrap().to_string();
    app.post(
        "/api/v1/environments/production/freezes",
        json!({ "name": "launch", "schedule": { "kind": "once", "starts_at": at(now - 3_600_000), "ends_at": at(now + 3_600_000) } }),
    )
    .await
    .expect(201);
    let before = app.history().await;
    let refused = apply(&app, body, "r").await.expect(423);
    assert_eq!(refused.body["error"], "frozen");
    assert_eq!(app.history().await, before);
    app.get("/api/v1/environments/production/segments/vip")
        .await
        .expect(404);
});

on_each_backend!(a_promotion_where_approvals_are_required_is_proposed, |app| {
    seeded(&app).await;
    app.require_approvals("production", 1).await;
    // The rollout alone (no segment to create): one change request for the
    // flag's production config, against the version shown; nothing served
    // changes until someone else approves it.
    let only = json!({ "from": "staging", "flags": ["new-lobby"], "parts": ["fallthrough"] });
    let shown = app.post(PLAN, only.clone()).await.expect(200).body;
    let version = item(&shown, "flag", "new-lobby")["version"].clone();
    let heads = app.history().await.1;
    let proposed = apply(&app, apply_body(&only, &shown), "copy the rollout")
        .await
        .expect(200);
    let requests = proposed.body["change_requests"].as_array().unwrap().clone();
    assert_eq!(requests.len(), 1, "{}", proposed.body);
    assert_eq!(requests[0]["subject"], "flag");
    assert_eq!(requests[0]["key"], "new-lobby");
    assert_eq!(requests[0]["comment"], "copy the rollout");
    assert_eq!(requests[0]["base_version"], version);
    assert_eq!(app.history().await.1, heads, "nothing served changed");

    let bo = app.editor_token("bo").await;
    let id = requests[0]["id"].as_i64().unwrap();
    app.approve_and_apply(&bo, id).await;
    let staging = app.get("/api/v1/flags/new-lobby/environments/staging").await.body;
    let production = app.get("/api/v1/flags/new-lobby/environments/production").await.body;
    assert_eq!(production["fallthrough"], staging["fallthrough"]);
    assert!(
        production["rules"].as_array().is_none_or(|r| r.is_empty()),
        "only the rollout was copied: {production}"
    );

    // The rules with the segment they use: the segment is created at once
    // (nothing uses it in production yet), the config proposed.
    let shown = app.post(PLAN, request()).await.expect(200).body;
    assert_eq!(item(&shown, "segment", "vip")["action"], "create");
    let proposed = apply(&app, apply_body(&request(), &shown), "copy the rules")
        .await
        .expect(200);
    let requests = proposed.body["change_requests"].as_array().unwrap().clone();
    assert_eq!(requests.len(), 1, "{}", proposed.body);
    assert_eq!(requests[0]["subject"], "flag");
    assert_eq!(proposed.body["written"][0]["key"], "vip", "{}", proposed.body);
    let segment = app
        .get("/api/v1/environments/production/segments/vip")
        .await
        .expect(200)
        .body;
    assert_eq!(segment["included"], json!(["u-1"]));
    let production = app.get("/api/v1/flags/new-lobby/environments/production").await.body;
    assert!(
        production["rules"].as_array().is_none_or(|r| r.is_empty()),
        "{production}"
    );
    let id = requests[0]["id"].as_i64().unwrap();
    app.approve_and_apply(&bo, id).await;
    let production = app.get("/api/v1/flags/new-lobby/environments/production").await.body;
    assert_eq!(production["rules"], staging["rules"]);
});

on_each_backend!(bad_promotions_name_the_field_and_viewers_cannot_apply, |app| {
    seeded(&app).await;
    app.post(PLAN, json!({ "from": "production", "flags": ["new-lobby"] }))
        .await
        .expect_field_error(400, "from");
    app.post(PLAN, json!({ "from": "qa", "flags": ["new-lobby"] }))
        .await
        .expect_field_error(400, "from");
    app.post(PLAN, json!({ "from": "staging", "flags": [] }))
        .await
        .expect_field_error(400, "flags");
    app.post(PLAN, json!({ "from": "staging", "flags": ["new-lobby", "nope"] }))
        .await
        .expect_field_error(400, "flags[1]");
    app.post(
        "/api/v1/environments/qa/promote/plan",
        json!({ "from": "staging", "flags": ["new-lobby"] }),
    )
    .await
    .expect(404);

    let viewer = app.token("viewer").await;
    let shown = app
        .request(Method::POST, PLAN, Some(&viewer), Some(request()), &[])
        .await
        .expect(200)
        .body;
    app.request(
        Method::POST,
        APPLY,
        Some(&viewer),
        Some(apply_body(&request(), &shown)),
        &[],
    )
    .await
    .expect(403);
});

on_each_backend!(the_cli_shows_the_diff_and_applies_only_with_yes, |app| {
    seeded(&app).await;
    let args = ["promote", "new-lobby", "--from", "staging", "--to", "production"];
    let before = app.history().await;
    let shown = daylight(&app, &args).await;
    assert_eq!(shown.code, 2, "{}{}", shown.stdout, shown.stderr);
    assert!(
        shown.stdout.contains("Promote from `staging` to `production`"),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("~ flag new-lobby: change"), "{}", shown.stdout);
    assert!(shown.stdout.contains("+ segment vip: create"), "{}", shown.stdout);
    assert!(shown.stdout.contains("Not applied"), "{}", shown.stdout);
    assert_eq!(app.history().await, before, "nothing applied without --yes");

    let mut yes = args.to_vec();
    yes.extend(["--yes", "--reason", "ship the lobby"]);
    let applied = daylight(&app, &yes).await;
    assert_eq!(applied.code, 0, "{}{}", applied.stdout, applied.stderr);
    assert!(applied.stdout.contains("Applied."), "{}", applied.stdout);
    let audit = app.get("/api/v1/audit?limit=2").await.expect(200).body;
    assert_eq!(audit["entries"][0]["comment"], "ship the lobby");
    app.get("/api/v1/environments/production/segments/vip")
        .await
        .expect(200);

    let again = daylight(&app, &args).await;
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert!(
        again
            .stdout
            .contains("0 to create, 0 to change, 0 drifted, 2 unchanged"),
        "{}",
        again.stdout
    );

    let mut bad = args.to_vec();
    bad.extend(["--parts", "colour"]);
    assert_eq!(daylight(&app, &bad).await.code, 2, "a bad option is a usage error");
    let unknown = daylight(&app, &["promote", "nope", "--from", "staging", "--to", "production"]).await;
    assert_eq!(unknown.code, 1);
    assert!(unknown.stderr.contains("no flag `nope`"), "{}", unknown.stderr);
});
