//! Staged rollouts and scheduled changes, end to end through the API, with
//! the scheduler's clock moved by hand.

use std::sync::Arc;
use std::time::{Duration, Instant};

use daylight_server::clock::{Clock, ManualClock};
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{self, spawn_app_clocked, TestApp, Tick};

const HOUR: i64 = 3_600_000;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(1_800_000_000_000))
}

fn dyn_clock(c: &Arc<ManualClock>) -> Option<Arc<dyn Clock>> {
    Some(c.clone() as Arc<dyn Clock>)
}

/// 1% → 5% → 25% → 100%, an hour each, bucketed by table.
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

async fn audit_actions(app: &TestApp, kind: &str) -> Vec<String> {
    let log = app
        .get(&format!("/api/v1/audit?resource_kind={kind}&limit=1000"))
        .await
        .expect(200);
    let mut actions: Vec<String> = log.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    actions.reverse();
    actions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_runs_its_stages_on_schedule_pauses_and_rolls_back() {
    for backend in harness::backends() {
        let clock = clock();
        let app = spawn_app_clocked(backend, dyn_clock(&clock)).await;
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
            audit_actions(&app, "release").await,
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
        let clock = clock();
        let app = spawn_app_clocked(backend, dyn_clock(&clock)).await;
        app.create_flag(json!({ "key": "new-lobby" })).await;
        let id = app
            .post("/api/v1/flags/new-lobby/environments/staging/releases", plan())
            .await
            .expect(201)
            .body["id"]
            .as_i64()
            .unwrap();
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
        let clock = clock();
        let app = spawn_app_clocked(backend, dyn_clock(&clock)).await;
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
async fn scheduled_changes_apply_once_on_time_and_can_be_cancelled() {
    for backend in harness::backends() {
        let clock = clock();
        let app = spawn_app_clocked(backend, dyn_clock(&clock)).await;
        app.create_flag(json!({ "key": "tournament" })).await;
        let path = "/api/v1/flags/tournament/environments/production/scheduled-changes";
        let at = |ms: i64| {
            let secs = (clock.now_ms() + ms) / 1000;
            // RFC 3339 by hand: the test avoids a date crate.
            let (days, rem) = (secs / 86_400, secs % 86_400);
            let (y, m, d) = civil(days);
            format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
                rem / 3600,
                rem % 3600 / 60,
                rem % 60
            )
        };
        let on = app
            .post(path, json!({ "at": at(HOUR), "change": { "on": true } }))
            .await
            .expect(201)
            .body;
        let off = app
            .post(path, json!({ "at": at(2 * HOUR), "change": { "on": false } }))
            .await
            .expect(201)
            .body;
        app.post(path, json!({ "at": "soon", "change": { "on": true } }))
            .await
            .expect_field_error(400, "at");
        app.post(path, json!({ "at": at(HOUR), "change": {} }))
            .await
            .expect_field_error(400, "change");
        app.post(path, json!({ "at": at(HOUR), "change": { "config": { "on": true, "off_variation": 0, "fallthrough": { "variation": 9 } } } }))
            .await
            .expect(400);

        // Not due yet: a tick applies nothing.
        assert_eq!(app.tick().await, Tick::default());
        assert_eq!(
            app.get("/api/v1/flags/tournament/environments/production").await.body["on"],
            false
        );
        clock.advance(HOUR);
        assert_eq!(app.tick().await.applied_changes, 1);
        assert_eq!(
            app.get("/api/v1/flags/tournament/environments/production").await.body["on"],
            true,
            "the change was not applied"
        );
        let cancelled = app
            .request(
                Method::DELETE,
                &format!("/api/v1/scheduled-changes/{}", off["id"]),
                Some(harness::ADMIN),
                None,
                &[],
            )
            .await
            .expect(200);
        assert_eq!(cancelled.body["state"], "cancelled");
        app.request(
            Method::DELETE,
            &format!("/api/v1/scheduled-changes/{}", on["id"]),
            Some(harness::ADMIN),
            None,
            &[],
        )
        .await
        .expect(409);
        clock.advance(2 * HOUR);
        assert_eq!(app.tick().await, Tick::default(), "cancelled changes never apply");
        assert_eq!(
            app.get("/api/v1/flags/tournament/environments/production").await.body["on"],
            true,
            "cancelled changes never apply"
        );
        let listed = app.get(path).await.expect(200).body;
        let states: Vec<&str> = listed["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["state"].as_str().unwrap())
            .collect();
        assert_eq!(states, ["applied", "cancelled"]);
        assert_eq!(
            audit_actions(&app, "scheduled_change").await,
            [
                "schedule.create",
                "schedule.create",
                "schedule.apply",
                "schedule.cancel"
            ]
        );
    }
}

/// A scheduled change that became invalid after it was scheduled (here: it
/// would close a prerequisite cycle made meanwhile) is marked `failed` with
/// its error, and the other due changes are applied in the same tick. The
/// tick is driven by hand with the manual clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_no_longer_validates_fails_alone_and_the_others_apply() {
    let clock = clock();
    let dir = tempfile::tempdir().unwrap();
    let mut settings =
        daylight_server::Settings::for_tests(format!("sqlite://{}/daylight.db", dir.path().display()), harness::ADMIN);
    // The background scheduler ticks once at start; this test ticks itself.
    settings.scheduler_tick_ms = 24 * HOUR as u64;
    let built = daylight_server::Application::build(settings)
        .await
        .expect("the server starts")
        .with_clock(clock.clone());
    let state = built.state().clone();
    let url = format!("http://127.0.0.1:{}", built.port());
    tokio::spawn(built.run_until(std::future::pending()));
    let app = TestApp::remote(url);
    for key in ["a", "b", "c"] {
        app.create_flag(json!({ "key": key })).await;
    }
    let at = {
        let secs = (clock.now_ms() + HOUR) / 1000;
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = civil(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    };
    let schedule = |flag: &'static str, change: Value| {
        let (app, at) = (&app, at.clone());
        async move {
            app.post(
                &format!("/api/v1/flags/{flag}/environments/production/scheduled-changes"),
                json!({ "at": at, "change": change }),
            )
            .await
            .expect(201)
            .body
        }
    };
    let config = |prerequisite: &str| {
        json!({ "on": true, "off_variation": 0, "fallthrough": { "variation": 1 },
                "prerequisites": [{ "flag": prerequisite, "variation": 1 }] })
    };
    // a will need b; then b is made to need a: a's change now closes a cycle.
    let poisoned = schedule("a", json!({ "config": config("b") })).await;
    app.edit_config("b", "production", |c| {
        c["prerequisites"] = json!([{ "flag": "a", "variation": 1 }]);
    })
    .await
    .expect(200);
    let fine = schedule("c", json!({ "on": true })).await;

    clock.advance(HOUR);
    let tick = daylight_server::releases::scheduler::tick(&state, clock.as_ref())
        .await
        .expect("one bad change does not fail the tick");
    assert_eq!((tick.applied_changes, tick.failed_changes), (1, 1), "{tick:?}");
    let change = |id: &Value| {
        let app = &app;
        let path = format!("/api/v1/scheduled-changes?flag={}", id["flag_key"].as_str().unwrap());
        async move { app.get(&path).await.expect(200).body["changes"][0].clone() }
    };
    let failed = change(&poisoned).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(
        failed["error"].as_str().is_some_and(|e| e.contains("cycle")),
        "{failed}"
    );
    assert_eq!(change(&fine).await["state"], "applied");
    assert_eq!(
        app.get("/api/v1/flags/c/environments/production").await.body["on"],
        true
    );
    // The next tick has nothing left to do, and fails nothing.
    let tick = daylight_server::releases::scheduler::tick(&state, clock.as_ref())
        .await
        .expect("a quiet tick");
    assert_eq!(tick, Default::default());
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
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
    a.create_flag(json!({ "key": "new-lobby" })).await;
    let id = a
        .post("/api/v1/flags/new-lobby/environments/staging/releases", plan())
        .await
        .expect(201)
        .body["id"]
        .as_i64()
        .unwrap();
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
    let actions = audit_actions(&nodes[0], "release").await;
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
    first.create_flag(json!({ "key": "new-lobby" })).await;
    let id = first
        .post("/api/v1/flags/new-lobby/environments/staging/releases", plan())
        .await
        .expect(201)
        .body["id"]
        .as_i64()
        .unwrap();
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
