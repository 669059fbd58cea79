//! Staged rollouts, end to end through the API, with the scheduler's clock
//! moved by hand (scheduled changes: `scheduled_changes.rs`, on the same clock).

use std::sync::Arc;
use std::time::{Duration, Instant};

use daylight_server::clock::{Clock, ManualClock};
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{self, clocked, TestApp, Tick, CLOCK_START, HOUR};

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(CLOCK_START))
}

fn dyn_clock(c: &Arc<ManualClock>) -> Option<Arc<dyn Clock>> {
    Some(c.clone() as Arc<dyn Clock>)
}

/// 1% → 5% → 25% → 100%, an hour each, bucketed by table.
/// Creates flag `new-lobby` and a release plan for it in staging
/// ([`plan`]); the plan's id.
async fn flag_and_plan(app: &harness::TestApp) -> i64 {
    app.create_flag(json!({ "key": "new-lobby" })).await;
    app.post("/api/v1/flags/new-lobby/environments/staging/releases", plan())
        .await
        .expect(201)
        .body["id"]
        .as_i64()
        .unwrap()
}

fn plan() -> Value {
    json!({
        "variation": 1,
        "bucket_by": "table_id",
        "stages": [
            { "weight": 1000, "hold_seconds": 3600 },
            { "weight": 5000, "hold_seconds": 3600 },
            { "weight": 25000, "hold_seconds": 3600 },
            { "weight": 100000, "hold_seconds": 3600 }
        ]
    })
}

/// Polls plan `id` until `check` holds (the scheduler ticks every 200 ms).
async fn wait_for(app: &TestApp, id: i64, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let plan = app.get(&format!("/api/v1/releases/{id}")).await.expect(200).body;
        if check(&plan) {
            return plan;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "waiting for {what}: {plan}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn served_new(app: &TestApp, tables: std::ops::Range<i64>) -> Vec<i64> {
    let mut on = Vec::new();
    for table in tables {
        let r = app
            .post(
                "/api/v1/flags/new-lobby/environments/staging/evaluate",
                json!({ "context": { "key": format!("p{table}"), "table_id": table } }),
            )
            .await
            .expect(200);
        if r.body["value"] == true {
            on.push(table);
        }
    }
    on
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_runs_its_stages_on_schedule_pauses_and_rolls_back() {
    for backend in harness::backends() {
        let (clock, app) = clocked(backend).await;
        app.create_flag(json!({ "key": "new-lobby" })).await;
        let created = app
            .post("/api/v1/flags/new-lobby/environments/staging/releases", plan())
            .await
            .expect(201)
            .body;
        let id = created["id"].as_i64().unwrap();
        assert_eq!(created["state"], "pending");
        assert_eq!(
            created["spec"]["from_variation"], 0,
            "defaults to what the fallthrough serves"
        );
        // One plan in flight per flag and environment.
        app.post("/api/v1/flags/new-lobby/environments/staging/releases", plan())
            .await
            .expect(409);
        // A viewer can read, not act.
        let viewer = app.token("viewer").await;
        let refused = app
            .request(
                Method::POST,
                &format!("/api/v1/releases/{id}/start"),
                Some(&viewer),
                None,
                &[],
            )
            .await;
        assert_eq!(refused.status, 403);

        let started = app
            .post(&format!("/api/v1/releases/{id}/start"), json!(null))
            .await
            .expect(200)
            .body;
        assert_eq!(
            (started["state"].as_str(), started["stage"].as_i64()),
            (Some("running"), Some(0))
        );
        let config = app
            .get("/api/v1/flags/new-lobby/environments/staging")
            .await
            .expect(200)
            .body;
        assert_eq!(config["on"], true);
        assert_eq!(
            config["fallthrough"]["rollout"]["variations"][0],
            json!({ "variation": 1, "weight": 1000 })
        );
        assert_eq!(config["fallthrough"]["rollout"]["bucket_by"], "table_id");
        let at_1 = served_new(&app, 0..400).await;
        assert!(at_1.len() < 20, "about 1% of 400 tables: {}", at_1.len());

        // Not due yet: a tick leaves it alone.
        clock.advance(HOUR - 1000);
        assert_eq!(app.tick().await, Tick::default());
        assert_eq!(app.get(&format!("/api/v1/releases/{id}")).await.body["stage"], 0);
        clock.advance(1000);
        assert_eq!(app.tick().await.advanced, 1);
        assert_eq!(app.get(&format!("/api/v1/releases/{id}")).await.body["stage"], 1);
        let at_5 = served_new(&app, 0..400).await;
        assert!(
            at_1.iter().all(|t| at_5.contains(t)),
            "stickiness: everyone in at 1% is in at 5%"
        );
        assert!(at_5.len() > at_1.len() && at_5.len() < 45, "about 5%: {}", at_5.len());

        // Paused: however late it gets, the stage stays.
        let paused = app
            .post(&format!("/api/v1/releases/{id}/pause"), json!(null))
            .await
            .expect(200)
            .body;
        assert_eq!(paused["paused_remaining_ms"], HOUR);
        clock.advance(10 * HOUR);
        assert_eq!(app.tick().await, Tick::default());
        let still = app.get(&format!("/api/v1/releases/{id}")).await.body;
        assert_eq!(
            (still["state"].as_str(), still["stage"].as_i64()),
            (Some("paused"), Some(1))
        );
        app.post(&format!("/api/v1/releases/{id}/pause"), json!(null))
            .await
            .expect(409);
        app.post(&format!("/api/v1/releases/{id}/resume"), json!(null))
            .await
            .expect(200);
        let skipped = app
            .post(&format!("/api/v1/releases/{id}/skip"), json!(null))
            .await
            .expect(200)
            .body;
        assert_eq!(skipped["stage"], 2);
        // A stale If-Match is refused.
        let stale = app
            .request(
                Method::POST,
                &format!("/api/v1/releases/{id}/pause"),
                Some(harness::ADMIN),
                None,
                &[("if-match", "\"1\"")],
            )
            .await;
        assert_eq!(stale.status, 409);

        // One click back: what the flag served before the plan.
        let rolled = app
            .post(&format!("/api/v1/releases/{id}/rollback"), json!(null))
            .await
            .expect(200)
            .body;
        assert_eq!(rolled["state"], "rolled_back");
        let config = app
            .get("/api/v1/flags/new-lobby/environments/staging")
            .await
            .expect(200)
            .body;
        assert_eq!(config["on"], false);
        assert_eq!(config["fallthrough"], json!({ "variation": 0 }));
        app.post(&format!("/api/v1/releases/{id}/resume"), json!(null))
            .await
            .expect(409);
        // Production was never touched.
        let prod = app.get("/api/v1/flags/new-lobby/environments/production").await.body;
        assert_eq!(prod["version"], 1);

        assert_eq!(
            app.audit_actions("resource_kind=release&limit=1000").await,
            [
                "release.create",
                "release.start",
                "release.advance",
                "release.pause",
                "release.resume",
                "release.skip",
                "release.rollback"
            ]
        );
        // A new plan may follow a finished one.
        app.post("/api/v1/flags/new-lobby/environments/staging/releases", plan())
            .await
            .expect(201);
    }
}

/// A plan's move is one audit entry, the plan's: it carries the flag's
/// before and after (and links to the change's receipt) when the move
/// changed the flag, the plan's state when it did not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_plan_move_is_one_audit_entry_with_the_flag_change() {
    for backend in harness::backends() {
        let (_, app) = clocked(backend).await;
        let id = flag_and_plan(&app).await;
        for action in ["start", "skip", "pause", "resume", "rollback"] {
            app.post(&format!("/api/v1/releases/{id}/{action}"), json!(null))
                .await
                .expect(200);
        }
        let log = app
            .get("/api/v1/audit?resource_key=new-lobby&limit=1000")
            .await
            .expect(200)
            .body;
        let mut entries = log["entries"].as_array().unwrap().clone();
        entries.reverse();
        let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(
            actions,
            [
                "flag.create",
                "release.create",
                "release.start",
                "release.skip",
                "release.pause",
                "release.resume",
                "release.rollback"
            ]
        );
        let doc = |e: &Value, side: &str| e[side].clone();
        let skip = &entries[3];
        assert_eq!(skip["resource_kind"], "release");
        assert_eq!(
            doc(skip, "before")["environments"]["staging"]["fallthrough"]["rollout"]["variations"][0]["weight"],
            1000
        );
        assert_eq!(
            doc(skip, "after")["environments"]["staging"]["fallthrough"]["rollout"]["variations"][0]["weight"],
            5000
        );
        assert!(skip["change_version"].as_i64().is_some(), "{skip}");
        // A pause leaves the flag alone: the entry holds the plan's state.
        let pause = &entries[4];
        assert_eq!(
            (
                doc(pause, "before")["state"].as_str(),
                doc(pause, "after")["state"].as_str()
            ),
            (Some("running"), Some("paused"))
        );
        assert!(pause["change_version"].is_null(), "{pause}");
        let rollback = &entries[6];
        assert_eq!(doc(rollback, "after")["environments"]["staging"]["on"], false);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_completes_and_bad_plans_name_the_field() {
    for backend in harness::backends() {
        let (clock, app) = clocked(backend).await;
        app.create_flag(json!({ "key": "new-lobby" })).await;
        let path = "/api/v1/flags/new-lobby/environments/staging/releases";
        app.post(path, json!({ "variation": 5, "stages": [{ "weight": 1000 }] }))
            .await
            .expect_field_error(400, "variation");
        app.post(
            path,
            json!({ "variation": 1, "stages": [{ "weight": 5000 }, { "weight": 1000 }] }),
        )
        .await
        .expect_field_error(400, "stages[1].weight");
        app.post(path, json!({ "variation": 1, "stages": [{ "segment": "nobody" }] }))
            .await
            .expect_field_error(400, "stages[0].segment");
        app.post(
            path,
            json!({ "variation": 1, "stages": [{ "weight": 1000, "hold": 5 }] }),
        )
        .await
        .expect(400);
        app.post("/api/v1/flags/nope/environments/staging/releases", plan())
            .await
            .expect(404);

        let id = app.post(path, json!({ "variation": 1, "stages": [{ "weight": 50000, "hold_seconds": 60 }, { "weight": 100000, "hold_seconds": 60 }] }))
            .await
            .expect(201)
            .body["id"]
            .as_i64()
            .unwrap();
        app.post(&format!("/api/v1/releases/{id}/start"), json!(null))
            .await
            .expect(200);
        clock.advance(60_000);
        assert_eq!(app.tick().await.advanced, 1);
        assert_eq!(app.get(&format!("/api/v1/releases/{id}")).await.body["stage"], 1);
        clock.advance(60_000);
        assert_eq!(app.tick().await.advanced, 1);
        assert_eq!(
            app.get(&format!("/api/v1/releases/{id}")).await.body["state"],
            "completed"
        );
        let config = app.get("/api/v1/flags/new-lobby/environments/staging").await.body;
        assert_eq!(
            (config["on"].clone(), config["fallthrough"].clone()),
            (json!(true), json!({ "variation": 1 }))
        );
        let listed = app.get("/api/v1/releases?state=completed").await.expect(200).body;
        assert_eq!(listed["plans"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_advance_each_stage_exactly_once() {
    if !harness::services_available() {
        return;
    }
    let clock = clock();
    // Both nodes tick every 10 ms on one clock, so every due stage is raced.
    let mut nodes = harness::spawn_nodes_clocked(2, |s| s.scheduler_tick_ms = 10, dyn_clock(&clock)).await;
    let a = &nodes[0];
    let id = flag_and_plan(a).await;
    nodes[1]
        .post(&format!("/api/v1/releases/{id}/start"), json!(null))
        .await
        .expect(200);
    for stage in 1..4 {
        clock.advance(HOUR);
        wait_for(&nodes[0], id, "the next stage", |p| p["stage"] == stage).await;
        // Once moved, the stage is not due on either node: their next ticks
        // move nothing.
        for node in &nodes {
            assert_eq!(node.tick().await.advanced, 0);
        }
    }
    // A node dies; the other carries the plan to the end.
    nodes[1].stop();
    clock.advance(HOUR);
    let done = wait_for(&nodes[0], id, "completion", |p| p["state"] == "completed").await;
    assert_eq!(done["stage"], 3);
    let actions = nodes[0].audit_actions("resource_kind=release&limit=1000").await;
    assert_eq!(
        actions,
        [
            "release.create",
            "release.start",
            "release.advance",
            "release.advance",
            "release.advance",
            "release.advance"
        ],
        "one audit entry per transition"
    );
    // Each move wrote the flag once: its entry carries the flag's change.
    let entries = nodes[0]
        .get("/api/v1/audit?resource_key=new-lobby&limit=1000")
        .await
        .body["entries"]
        .as_array()
        .unwrap()
        .clone();
    let flag_changes = entries
        .iter()
        .filter(|e| e["resource_kind"] == "release" && e["after"]["environments"].is_object())
        .count();
    assert_eq!(flag_changes, 1 + 4, "start, four advances");
    assert_eq!(
        entries.iter().filter(|e| e["resource_kind"] == "flag").count(),
        1,
        "the flag's own: create"
    );
    nodes.truncate(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_catches_up_one_stage() {
    let clock = clock();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/daylight.db", dir.path().display());
    let settings = || daylight_server::Settings::for_tests(url.clone(), harness::ADMIN);
    let mut first = harness::start_clocked(settings(), harness::Backend::Sqlite, dyn_clock(&clock)).await;
    let id = flag_and_plan(&first).await;
    first
        .post(&format!("/api/v1/releases/{id}/start"), json!(null))
        .await
        .expect(200);
    first.stop();
    // Down for five hours: the restarted server moves one stage, not four.
    clock.advance(5 * HOUR);
    let second = harness::start_clocked(settings(), harness::Backend::Sqlite, dyn_clock(&clock)).await;
    let plan = wait_for(&second, id, "catch-up", |p| p["stage"] == 1).await;
    assert_eq!(plan["next_at"].as_i64(), Some(clock.now_ms() + HOUR));
    // One stage, not four: the next tick finds nothing due.
    assert_eq!(second.tick().await.advanced, 0);
    assert_eq!(second.get(&format!("/api/v1/releases/{id}")).await.body["stage"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guard_rolls_back_a_harmful_release_and_sdks_see_it_within_a_second() {
    use daylight::client::Client;
    use daylight::Context;
    for backend in harness::backends() {
        // The real clock: the usage aggregates are stamped with it.
        let app = harness::spawn_app(backend).await;
        app.create_flag(json!({ "key": "checkout-v2" })).await;
        let id = app
            .post(
                "/api/v1/flags/checkout-v2/environments/production/releases",
                json!({
                    "variation": 1,
                    "stages": [{ "weight": 50000, "hold_seconds": 3600 }, { "weight": 100000 }],
                    "guard": { "event": "checkout_error", "window_seconds": 60, "max_ratio": 2.0,
                               "min_evaluations": 50, "action": "rollback" }
                }),
            )
            .await
            .expect(201)
            .body["id"]
            .as_i64()
            .unwrap();
        app.post(&format!("/api/v1/releases/{id}/start"), json!(null))
            .await
            .expect(200);
        let key = app.sdk_key("production", "server").await;
        // The app's own SDK counts what it serves and the errors it sees,
        // and reports them on its stream.
        let client = Client::builder(app.url.clone(), key.clone())
            .init_timeout(Duration::from_secs(5))
            .usage_interval(Duration::from_millis(100))
            .build()
            .await
            .expect("the SDK connects");

        // The app serves 400 players; checkout fails for one in five on the
        // new variation and never on the old one.
        let mut served = [0i64; 2];
        for player in 0..400 {
            let ctx = Context::new(format!("p{player}"));
            let new = client.bool_variation("checkout-v2", &ctx, false);
            served[usize::from(new)] += 1;
            if new && player % 5 == 0 {
                client.track("checkout_error", &ctx);
            }
        }
        assert!(served[0] > 100 && served[1] > 100, "a 50% stage: {served:?}");

        // The guard trips at the next tick; the SDK sees the rollback.
        let start = Instant::now();
        let everyone_old =
            || (0..400).all(|p| !client.bool_variation("checkout-v2", &Context::new(format!("p{p}")), false));
        while !everyone_old() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "the SDK never saw the rollback"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let seen_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let plan = app.get(&format!("/api/v1/releases/{id}")).await.body;
        assert_eq!(plan["state"], "rolled_back");
        let log = app.get("/api/v1/audit?resource_kind=release&limit=10").await.body;
        let trip = log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "release.guard_tripped")
            .expect("the trip is audit-logged")
            .clone();
        assert_eq!(trip["actor"], "guard");
        assert!(trip["comment"].as_str().unwrap().contains("checkout_error"), "{trip}");
        let lag = seen_at - trip["at"].as_i64().unwrap();
        eprintln!(
            "guard trip to SDK: {lag} ms (errors served to SDK sees the rollback: {:?})",
            start.elapsed()
        );
        assert!(lag < 1000, "the SDK saw the rollback {lag} ms after the trip");
        client.close().await;
    }
}

/// While a plan runs or is paused it owns the fallthrough it moves: a direct
/// edit is refused (it would be overwritten by the next stage, or undo the
/// cohort), the rest of the config stays editable, the kill switch always
/// goes through, and once the plan ends the fallthrough is free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_plan_owns_its_fallthrough_until_it_ends() {
    for backend in harness::backends() {
        let (_clock, app) = clocked(backend).await;
        let id = flag_and_plan(&app).await;
        let serve_true = |c: &mut Value| c["fallthrough"] = json!({ "variation": 1 });
        app.post(&format!("/api/v1/releases/{id}/start"), json!(null))
            .await
            .expect(200);
        for state in ["running", "paused"] {
            let refused = app.edit_config("new-lobby", "staging", serve_true).await.expect(409);
            assert_eq!(refused.body["error"], "owned_by_release", "{state}: {}", refused.body);
            assert_eq!(refused.body["field"], "environments.staging.fallthrough");
            assert!(
                refused.body["message"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("release plan {id}")),
                "{}",
                refused.body
            );
            if state == "running" {
                app.post(&format!("/api/v1/releases/{id}/pause"), json!(null))
                    .await
                    .expect(200);
            }
        }
        // The rest of the config is not the plan's.
        app.edit_config("new-lobby", "staging", |c| {
            c["rules"] = json!([{ "id": "vips", "clauses": [{ "attribute": "tier", "op": "in", "values": ["gold"] }],
                                  "serve": { "variation": 1 } }]);
        })
        .await
        .expect(200);
        // Other environments are not either.
        app.edit_config("new-lobby", "production", serve_true).await.expect(200);
        // The kill switch never waits.
        app.toggle("new-lobby", "staging", false).await.expect(200);
        app.post(&format!("/api/v1/releases/{id}/rollback"), json!(null))
            .await
            .expect(200);
        app.edit_config("new-lobby", "staging", serve_true).await.expect(200);
    }
}

on_each_backend!(release_plans_come_a_page_at_a_time, |app| {
    let mut made = Vec::new();
    for flag in ["a", "b", "c", "d", "e"] {
        app.create_flag(json!({ "key": flag })).await;
        let path = format!("/api/v1/flags/{flag}/environments/staging/releases");
        made.push(app.post(&path, plan()).await.expect(201).body["id"].as_i64().unwrap());
    }
    // Newest first, two at a time, until no `next_before_id`.
    let seen = app
        .read_pages("/api/v1/releases?environment=staging&limit=2", "plans", 2)
        .await;
    made.reverse();
    assert_eq!(seen, made);
    // Unset, the limit is 500; one flag's list is its own plans.
    let all = app.get("/api/v1/releases").await.expect(200).body;
    assert_eq!(
        (all["plans"].as_array().unwrap().len(), &all["next_before_id"]),
        (5, &Value::Null)
    );
    let of_c = app
        .get("/api/v1/flags/c/environments/staging/releases")
        .await
        .expect(200)
        .body;
    assert_eq!(of_c["plans"].as_array().unwrap().len(), 1, "{of_c}");
    assert_eq!(of_c["plans"][0]["flag_key"], "c");
    for bad in ["0", "501"] {
        let refused = app.get(&format!("/api/v1/releases?limit={bad}")).await.expect(400);
        assert_eq!(refused.body["field"], "limit", "{bad}: {}", refused.body);
    }
});
