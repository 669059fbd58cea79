//! Freeze windows: an environment takes no changes but the kill switch, on
//! an injected clock.

use std::sync::Arc;

use daylight_server::clock::{Clock, ManualClock};
use reqwest::Method;
use serde_json::json;

use crate::harness::{backends, spawn_app_clocked, Tick, ADMIN};

const MINUTE: i64 = 60_000;

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_window_refuses_changes_but_the_kill_switch() {
    for backend in backends() {
        let clock = Arc::new(ManualClock::new(1_800_000_000_000));
        let app = spawn_app_clocked(backend, Some(clock.clone() as Arc<dyn Clock>)).await;
        let now = clock.now_ms();
        app.create_flag(json!({ "key": "f" })).await;
        app.create_flag(json!({ "key": "g" })).await;
        app.toggle("f", "production", true).await.expect(200);
        app.post("/api/v1/environments/production/segments", json!({ "key": "vip" }))
            .await
            .expect(201);
        // Due in the middle of the window: it waits for the window's end.
        let scheduled = app
            .post(
                "/api/v1/flags/g/environments/production/scheduled-changes",
                json!({ "at": rfc3339(now + 30 * MINUTE), "change": { "on": true } }),
            )
            .await
            .expect(201)
            .body;

        let freezes = "/api/v1/environments/production/freezes";
        let once = json!({ "kind": "once", "starts_at": rfc3339(now), "ends_at": rfc3339(now + 60 * MINUTE) });
        app.post(
            freezes,
            json!({ "name": "final", "schedule": {
            "kind": "weekly", "days": ["fri"], "start": "18:00", "minutes": 60, "time_zone": "Mars/Olympus" } }),
        )
        .await
        .expect_field_error(400, "schedule.time_zone");
        let viewer = app.token("viewer").await;
        app.request(
            Method::POST,
            freezes,
            Some(&viewer),
            Some(json!({ "name": "final", "schedule": once })),
            &[],
        )
        .await
        .expect(403);
        app.post(freezes, json!({ "name": "final", "schedule": once }))
            .await
            .expect(201);
        let listed = app.get(freezes).await.expect(200).body;
        assert_eq!(listed["frozen"], true, "{listed}");
        assert_eq!(listed["windows"][0]["active"], true);

        // Inside the window: changes are refused, naming the window; other
        // environments are not frozen.
        let refused = app.toggle("g", "production", true).await.expect(423);
        assert_eq!(refused.body["error"], "frozen");
        assert!(
            refused.body["message"].as_str().unwrap().contains("final"),
            "{}",
            refused.body
        );
        app.request(
            Method::PUT,
            "/api/v1/environments/production/segments/vip/included",
            Some(ADMIN),
            Some(json!(["ana"])),
            &[],
        )
        .await
        .expect(423);
        app.toggle("g", "staging", true).await.expect(200);
        // The kill switch goes through, marked as such in the audit log.
        app.toggle("f", "production", false).await.expect(200);
        let audit = app.get("/api/v1/audit?resource_key=f").await.expect(200).body;
        assert_eq!(audit["entries"][0]["action"], "flag.off", "{audit}");
        assert_eq!(audit["entries"][0]["kill_switch"], true, "{audit}");
        assert!(audit["entries"][1].get("kill_switch").is_none(), "{audit}");
        assert_eq!(
            app.get("/api/v1/flags/f/environments/production").await.body["on"],
            false
        );
        // A scheduled change due inside the window is held, not failed.
        clock.advance(30 * MINUTE);
        assert_eq!(app.tick().await, Tick::default());
        let held = app
            .get("/api/v1/scheduled-changes?flag=g&environment=production")
            .await
            .expect(200)
            .body;
        assert_eq!(held["changes"][0]["state"], "pending", "{held}");

        // After the window: the held change applies and writes go through.
        clock.advance(31 * MINUTE);
        assert_eq!(app.get(freezes).await.body["frozen"], false);
        assert_eq!(app.tick().await.applied_changes, 1);
        assert_eq!(
            app.get("/api/v1/flags/g/environments/production").await.body["on"],
            true
        );
        app.toggle("f", "production", true).await.expect(200);
        assert_eq!(scheduled["flag_key"], "g");
    }
}
