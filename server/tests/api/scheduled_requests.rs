//! Scheduled change requests and release plans through change requests:
//! a request with `apply_at` is applied by the scheduler at that time only
//! if approved by then (otherwise settled `expired` or `failed`, audited),
//! once however many runners tick; where approvals are required, starting
//! a plan is a `release` request. All on an injected clock.

use std::sync::Arc;

use daylight_server::clock::{Clock, ManualClock};
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{
    backends, clocked, rfc3339, services_available, spawn_nodes_clocked, Reply, TestApp, CLOCK_START, HOUR,
};

fn config_on() -> Value {
    json!({ "on": true, "off_variation": 0, "fallthrough": { "variation": 1 } })
}

/// Flag `f` (off in production), production requiring one approval, and
/// the editors ana and bo.
async fn setup(app: &TestApp) -> (String, String) {
    app.create_flag(json!({ "key": "f" })).await;
    app.require_approvals("production", 1).await;
    (app.editor_token("ana").await, app.editor_token("bo").await)
}

/// Ana proposes turning `f` on in production at `at`.
async fn propose_at(app: &TestApp, ana: &str, at: i64) -> i64 {
    let body = json!({ "flag": "f", "environment": "production", "config": config_on(),
        "comment": "launch", "apply_at": rfc3339(at) });
    let opened = app
        .call_as(ana, Method::POST, "/api/v1/change-requests", Some(body))
        .await
        .expect(201)
        .body;
    assert_eq!(opened["apply_at"], at, "{opened}");
    opened["id"].as_i64().unwrap()
}

/// Ana proposes turning `f` on at `at` and bo approves it.
async fn approved_at(app: &TestApp, (ana, bo): (&str, &str), at: i64) -> i64 {
    let id = propose_at(app, ana, at).await;
    approve(app, bo, id).await;
    id
}

/// `who` applies request `id` by hand.
async fn apply(app: &TestApp, who: &str, id: i64) -> Reply {
    app.call_as(who, Method::POST, &format!("/api/v1/change-requests/{id}/apply"), None)
        .await
}

async fn approve(app: &TestApp, who: &str, id: i64) {
    app.call_as(
        who,
        Method::POST,
        &format!("/api/v1/change-requests/{id}/reviews"),
        Some(json!({ "verdict": "approve" })),
    )
    .await
    .expect(200);
}

async fn flag_on(app: &TestApp) -> bool {
    app.get("/api/v1/flags/f/environments/production")
        .await
        .expect(200)
        .body["on"]
        == true
}

/// Request `id`'s audit trail, oldest first.
async fn actions(app: &TestApp, id: i64) -> Vec<String> {
    app.audit_actions(&format!("resource_kind=change_request&resource_key={id}"))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_scheduled_request_applies_at_its_time() {
    for backend in backends() {
        let (clock, app) = clocked(backend).await;
        let (ana, bo) = setup(&app).await;

        // A time in the past is refused by field; so is one that is not a time.
        for at in [json!(rfc3339(CLOCK_START - HOUR)), json!("tomorrow")] {
            let body = json!({ "flag": "f", "environment": "production", "config": config_on(), "apply_at": at });
            app.call_as(&ana, Method::POST, "/api/v1/change-requests", Some(body))
                .await
                .expect_field_error(400, "apply_at");
        }
        let id = approved_at(&app, (&ana, &bo), CLOCK_START + HOUR).await;
        // Approved, but it is the scheduler's to apply, at its time.
        let early = apply(&app, &bo, id).await.expect(409);
        assert!(
            early.body["message"].as_str().unwrap().contains("scheduled"),
            "{}",
            early.body
        );
        clock.advance(HOUR - 1);
        assert_eq!(app.tick().await.applied_requests, 0);
        assert!(!flag_on(&app).await);

        clock.advance(1);
        let tick = app.tick().await;
        assert_eq!((tick.applied_requests, tick.unapplied_requests), (1, 0));
        assert!(flag_on(&app).await);
        let view = app.get(&format!("/api/v1/change-requests/{id}")).await.expect(200).body;
        assert_eq!(view["state"], "applied", "{view}");
        assert_eq!(view["settled_by"], "scheduler");
        assert_eq!(view["settled_at"], CLOCK_START + HOUR);
        assert_eq!(
            actions(&app, id).await,
            ["change_request.open", "change_request.approve", "change_request.apply"]
        );
        // Settled: later ticks leave it be.
        clock.advance(HOUR);
        assert_eq!(app.tick().await.applied_requests, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_request_not_approved_is_not_applied() {
    for backend in backends() {
        let (clock, app) = clocked(backend).await;
        let (ana, bo) = setup(&app).await;

        // Approved, then the author moves the time: a new revision, whose
        // approvals are gone by the time it comes.
        let id = approved_at(&app, (&ana, &bo), CLOCK_START + HOUR).await;
        let path = format!("/api/v1/change-requests/{id}");
        let moved = app
            .call_as(
                &ana,
                Method::PUT,
                &path,
                Some(json!({ "apply_at": rfc3339(CLOCK_START + 2 * HOUR) })),
            )
            .await
            .expect(200)
            .body;
        assert_eq!(moved["revision"], 2);
        assert_eq!(moved["comment"], "launch", "the comment stays: {moved}");
        assert_eq!(moved["config"]["on"], true, "the proposal stays: {moved}");
        assert_eq!(app.get(&path).await.body["approved_by"], json!([]));
        // Only its author edits it.
        app.call_as(
            &bo,
            Method::PUT,
            &path,
            Some(json!({ "apply_at": rfc3339(CLOCK_START + 3 * HOUR) })),
        )
        .await
        .expect(403);

        clock.advance(2 * HOUR);
        let tick = app.tick().await;
        assert_eq!((tick.applied_requests, tick.unapplied_requests), (0, 1));
        assert!(!flag_on(&app).await, "not approved: not applied");
        let view = app.get(&path).await.expect(200).body;
        assert_eq!(view["state"], "expired", "{view}");
        assert!(
            view["failure"].as_str().unwrap().contains("0 of the 1 approvals"),
            "{view}"
        );
        assert_eq!(actions(&app, id).await.last().unwrap(), "change_request.expired");
        // Settled: nobody applies or approves it any more.
        app.call_as(
            &bo,
            Method::POST,
            &format!("{path}/reviews"),
            Some(json!({ "verdict": "approve" })),
        )
        .await
        .expect(409);
        let expired = app.get("/api/v1/change-requests?state=expired").await.expect(200).body;
        assert_eq!(expired["change_requests"][0]["id"], id);

        // Approved in time, but the flag moved since it was proposed: it
        // fails with the reason instead of writing over the newer change.
        let stale = approved_at(&app, (&ana, &bo), clock.now_ms() + HOUR).await;
        let other = app
            .call_as(
                &bo,
                Method::POST,
                "/api/v1/change-requests",
                Some(json!({ "flag": "f", "environment": "production",
                "config": { "on": false, "off_variation": 1, "fallthrough": { "variation": 0 } } })),
            )
            .await
            .expect(201)
            .body["id"]
            .as_i64()
            .unwrap();
        approve(&app, &ana, other).await;
        apply(&app, &bo, other).await.expect(200);
        clock.advance(HOUR);
        assert_eq!(app.tick().await.unapplied_requests, 1);
        let view = app.get(&format!("/api/v1/change-requests/{stale}")).await.body;
        assert_eq!(view["state"], "failed", "{view}");
        assert!(view["failure"].as_str().unwrap().contains("changed since"), "{view}");
        assert!(!flag_on(&app).await);
        assert_eq!(actions(&app, stale).await.last().unwrap(), "change_request.failed");

        // An approval given after its time, before the scheduler came
        // round (downtime, say), does not count.
        let late = propose_at(&app, &ana, clock.now_ms() + HOUR).await;
        clock.advance(HOUR + 1);
        approve(&app, &bo, late).await;
        assert_eq!(app.tick().await.unapplied_requests, 1);
        let view = app.get(&format!("/api/v1/change-requests/{late}")).await.body;
        assert_eq!(view["state"], "expired", "{view}");
    }
}

/// One flag write, one `applied` and one apply entry, whoever won.
async fn applied_once(app: &TestApp, id: i64) {
    let flag = app.get("/api/v1/flags/f").await.expect(200).body;
    assert_eq!(flag["environments"]["production"]["on"], true, "{flag}");
    assert_eq!(flag["version"], 2, "one write after the create: {flag}");
    let applies = actions(app, id)
        .await
        .into_iter()
        .filter(|a| a == "change_request.apply")
        .count();
    assert_eq!(applies, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_never_apply_one_scheduled_request_twice() {
    // Two ticks at once over one database, on each backend.
    for backend in backends() {
        let (clock, app) = clocked(backend).await;
        let (ana, bo) = setup(&app).await;
        let id = approved_at(&app, (&ana, &bo), CLOCK_START + HOUR).await;
        clock.advance(HOUR);
        let (a, b) = tokio::join!(app.tick(), app.tick());
        assert_eq!(a.applied_requests + b.applied_requests, 1, "{a:?} {b:?}");
        assert_eq!(a.unapplied_requests + b.unapplied_requests, 0, "{a:?} {b:?}");
        applied_once(&app, id).await;
    }
    // Two nodes sharing one clock and one PostgreSQL database.
    if !services_available() {
        return;
    }
    let clock = Arc::new(ManualClock::new(CLOCK_START));
    let nodes = spawn_nodes_clocked(
        2,
        |s| s.scheduler_tick_ms = 24 * HOUR as u64,
        Some(clock.clone() as Arc<dyn Clock>),
    )
    .await;
    let (ana, bo) = setup(&nodes[0]).await;
    let id = propose_at(&nodes[1], &ana, CLOCK_START + HOUR).await;
    approve(&nodes[0], &bo, id).await;
    clock.advance(HOUR);
    let (a, b) = tokio::join!(nodes[0].tick(), nodes[1].tick());
    assert_eq!(a.applied_requests + b.applied_requests, 1, "{a:?} {b:?}");
    applied_once(&nodes[1], id).await;
}

fn plan() -> Value {
    json!({ "variation": 1, "stages": [
        { "weight": 10000, "hold_seconds": 3600 },
        { "weight": 100000, "hold_seconds": 3600 }
    ] })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_a_release_plan_goes_through_a_change_request() {
    for backend in backends() {
        let (clock, app) = clocked(backend).await;
        let (ana, bo) = setup(&app).await;
        app.toggle("f", "production", true).await.expect(409);
        app.require_approvals("production", 0).await;
        app.toggle("f", "production", true).await.expect(200);
        app.require_approvals("production", 1).await;
        let plan_id = app
            .call_as(
                &ana,
                Method::POST,
                "/api/v1/flags/f/environments/production/releases",
                Some(plan()),
            )
            .await
            .expect(201)
            .body["id"]
            .as_i64()
            .unwrap();

        // Starting it directly is refused and says how to proceed.
        let refused = app
            .call_as(&ana, Method::POST, &format!("/api/v1/releases/{plan_id}/start"), None)
            .await
            .expect(409);
        assert_eq!(refused.body["error"], "approval_required");

        // Bad proposals are named by field.
        let propose = |body: Value| {
            let (app, ana) = (&app, ana.clone());
            async move {
                app.call_as(&ana, Method::POST, "/api/v1/change-requests", Some(body))
                    .await
            }
        };
        propose(json!({ "release": plan_id, "environment": "production", "config": { "command": "launch" } }))
            .await
            .expect_field_error(400, "config.command");
        propose(json!({ "release": plan_id, "environment": "staging", "config": { "command": "start" } }))
            .await
            .expect_field_error(400, "environment");
        // Resuming a pending plan is not a move it can make.
        propose(json!({ "release": plan_id, "environment": "production", "config": { "command": "resume" } }))
            .await
            .expect(409);

        let opened = propose(json!({ "release": plan_id, "environment": "production",
            "config": { "command": "start" }, "comment": "go" }))
        .await
        .expect(201)
        .body;
        assert_eq!(opened["subject"], "release");
        assert_eq!(opened["key"], plan_id.to_string());
        let id = opened["id"].as_i64().unwrap();
        let view = app.get(&format!("/api/v1/change-requests/{id}")).await.expect(200).body;
        assert_eq!(view["current"]["state"], "pending", "{view}");
        assert_eq!(view["current_version"], opened["base_version"]);

        approve(&app, &bo, id).await;
        let applied = apply(&app, &ana, id).await.expect(200).body;
        assert_eq!(applied["state"], "applied");
        let plan = app.get(&format!("/api/v1/releases/{plan_id}")).await.expect(200).body;
        assert_eq!(plan["state"], "running", "{plan}");
        assert_eq!(plan["stage"], 0);
        let config = app.get("/api/v1/flags/f/environments/production").await.body;
        let released = config["fallthrough"]["rollout"]["variations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["variation"] == 1)
            .map(|w| w["weight"].clone());
        assert_eq!(released, Some(json!(10000)), "{config}");

        // The plan's own stages then advance on schedule, as approved.
        clock.advance(HOUR);
        assert_eq!(app.tick().await.advanced, 1);
        let plan = app.get(&format!("/api/v1/releases/{plan_id}")).await.body;
        assert_eq!(plan["stage"], 1, "{plan}");
        // Pausing lowers exposure: direct, no request.
        app.call_as(&ana, Method::POST, &format!("/api/v1/releases/{plan_id}/pause"), None)
            .await
            .expect(200);
        // A request proposed on an older version of the plan is stale.
        let resume = propose(json!({ "release": plan_id, "environment": "production",
            "config": { "command": "resume" } }))
        .await
        .expect(201)
        .body["id"]
            .as_i64()
            .unwrap();
        app.call_as(
            &ana,
            Method::POST,
            &format!("/api/v1/releases/{plan_id}/rollback"),
            None,
        )
        .await
        .expect(200);
        approve(&app, &bo, resume).await;
        let stale = apply(&app, &bo, resume).await.expect(409).body;
        assert!(stale["message"].as_str().unwrap().contains("changed since"), "{stale}");
        let plan = app.get(&format!("/api/v1/releases/{plan_id}")).await.body;
        assert_eq!(plan["state"], "rolled_back", "{plan}");
    }
}

/// A webhook subscribed to `change_request.expired` and `.failed` gets each
/// settled request's id and reason, as the scheduler settles them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_deliver_expired_and_failed_requests_with_the_reason() {
    use crate::webhooks::{allow_loopback, eventually, Receiver, SECRET};
    for backend in backends() {
        let clock = Arc::new(ManualClock::new(CLOCK_START));
        let app = crate::harness::spawn_app_clocked_with(backend, allow_loopback, clock.clone()).await;
        let receiver = Receiver::start(0).await;
        let events = json!(["change_request.expired", "change_request.failed"]);
        app.post(
            "/api/v1/webhooks",
            json!({ "url": receiver.url, "secret": SECRET, "events": events }),
        )
        .await
        .expect(201);
        let (ana, bo) = setup(&app).await;

        // Never approved: it expires. Approved, but the flag moves first: it fails.
        let expired = propose_at(&app, &ana, CLOCK_START + HOUR).await;
        let failed = propose_at(&app, &ana, CLOCK_START + HOUR).await;
        approve(&app, &bo, failed).await;
        app.require_approvals("production", 0).await;
        app.edit_config("f", "production", |c| c["off_variation"] = json!(1))
            .await
            .expect(200);
        app.require_approvals("production", 1).await;

        clock.advance(HOUR);
        assert_eq!(app.tick().await.unapplied_requests, 2);
        eventually("both deliveries", async || receiver.delivered().len() >= 2).await;
        let mut got: Vec<(String, String, String)> = receiver
            .delivered()
            .iter()
            .map(|d| {
                let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                (
                    text(&d["event"]),
                    text(&d["entry"]["resource_key"]),
                    text(&d["entry"]["comment"]),
                )
            })
            .collect();
        got.sort();
        assert_eq!(got.len(), 2, "only the subscribed events: {got:?}");
        assert_eq!(
            (got[0].0.as_str(), got[0].1.clone()),
            ("change_request.expired", expired.to_string())
        );
        assert!(got[0].2.contains("not approved by its time"), "{got:?}");
        assert_eq!(
            (got[1].0.as_str(), got[1].1.clone()),
            ("change_request.failed", failed.to_string())
        );
        assert!(got[1].2.contains("changed since"), "{got:?}");
        for d in receiver.delivered() {
            assert_eq!(d["entry"]["actor"], "scheduler", "{d}");
            assert_eq!(d["entry"]["environment"], "production", "{d}");
        }
    }
}
