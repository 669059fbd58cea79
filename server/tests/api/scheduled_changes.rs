//! Scheduled changes, end to end through the API, with the scheduler's
//! clock moved by hand: applied once on time, cancelled, and a change that
//! no longer validates failing alone.

use daylight_server::clock::Clock;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{self, clocked, rfc3339, Backend, Tick, HOUR};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_changes_apply_once_on_time_and_can_be_cancelled() {
    for backend in harness::backends() {
        let (clock, app) = clocked(backend).await;
        app.create_flag(json!({ "key": "tournament" })).await;
        let path = "/api/v1/flags/tournament/environments/production/scheduled-changes";
        let at = |ms: i64| rfc3339(clock.now_ms() + ms);
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
            app.audit_actions("resource_kind=scheduled_change&limit=1000").await,
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
    let (clock, app) = clocked(Backend::Sqlite).await;
    for key in ["a", "b", "c"] {
        app.create_flag(json!({ "key": key })).await;
    }
    let at = rfc3339(clock.now_ms() + HOUR);
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
    // One bad change does not fail the tick.
    let tick = app.tick().await;
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
    assert_eq!(app.tick().await, Tick::default());
}
