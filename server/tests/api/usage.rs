//! SDK usage: ingest, per-minute aggregates, the usage API, the stale-flag
//! report, Prometheus counters, and `window_counts` (which release guards read).

use daylight_server::db::{now_ms, Db};
use daylight_server::store::usage::{self, window_counts, Batch};
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::TestApp;

pub(crate) async fn report(app: &TestApp, key: &str, body: Value) -> crate::harness::Reply {
    app.request(Method::POST, "/sdk/v1/usage", Some(key), Some(body), &[])
        .await
}

on_each_backend!(usage_reports_add_up_per_flag_variation_and_minute, |app| {
    app.create_flag(json!({ "key": "checkout" })).await;
    app.create_flag(json!({ "key": "banner", "client_side": true, "variations": ["a", "b", "c"] }))
        .await;
    let server = app.sdk_key("production", "server").await;
    let client = app.sdk_key("production", "client").await;

    let r = report(
        &app,
        &server,
        json!({
            "evaluations": [
                { "flag": "checkout", "variation": 1, "count": 40 },
                { "flag": "checkout", "variation": 0, "count": 60 },
                { "flag": "checkout", "variation": 1, "count": 2 },
                { "flag": "gone", "variation": 0, "count": 5 },
                { "flag": "checkout", "variation": 7, "count": 5 }
            ],
            "events": [{ "event": "checkout_error", "flag": "checkout", "variation": 1, "count": 3 }]
        }),
    )
    .await
    .expect(200);
    assert_eq!(r.body, json!({ "accepted": 3, "dropped": 2 }));
    report(
        &app,
        &server,
        json!({ "evaluations": [{ "flag": "checkout", "variation": 1, "count": 8 }],
                "events": [{ "event": "checkout_error", "flag": "checkout", "variation": 1, "count": 1 }] }),
    )
    .await
    .expect(200);
    // A client key may report client_side flags only.
    let r = report(
        &app,
        &client,
        json!({ "evaluations": [{ "flag": "banner", "variation": 2, "count": 4 }, { "flag": "checkout", "variation": 0, "count": 9 }] }),
    )
    .await
    .expect(200);
    assert_eq!(r.body, json!({ "accepted": 1, "dropped": 1 }));
    // Nodes write what they received every flush interval.
    wait_for_totals(&app, "checkout", json!({ "0": 60, "1": 50 })).await;
    wait_for_totals(&app, "banner", json!({ "2": 4 })).await;

    let usage = app
        .get("/api/v1/environments/production/flags/checkout/usage")
        .await
        .expect(200)
        .body;
    assert_eq!(usage["totals"], json!({ "0": 60, "1": 50 }));
    let rows = usage["evaluations"].as_array().unwrap();
    assert!(!rows.is_empty() && rows.len() <= 4, "{usage}");
    let events: i64 = usage["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "checkout_error" && e["variation"] == 1)
        .map(|e| e["count"].as_i64().unwrap())
        .sum();
    assert_eq!(events, 4);
    assert!(usage["last_evaluated"].as_i64().unwrap() > now_ms() - 60_000);
    // Other environments saw nothing.
    let staging = app
        .get("/api/v1/environments/staging/flags/checkout/usage")
        .await
        .expect(200)
        .body;
    assert_eq!(staging["totals"], json!({}));
    assert_eq!(staging["last_evaluated"], Value::Null);

    let last = app.get("/api/v1/environments/production/usage").await.expect(200).body;
    let flags = last["flags"].as_array().unwrap();
    let of = |k: &str| flags.iter().find(|f| f["flag"] == k).unwrap()["last_evaluated"].clone();
    assert!(of("checkout").is_i64() && of("banner").is_i64());

    // Prometheus counters, labelled by flag and event (never by context).
    let metrics = reqwest::get(format!("{}/metrics", app.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("daylight_sdk_evaluations_total") && l.contains("flag=\"checkout\"")),
        "no evaluation counter in /metrics"
    );
    assert!(metrics
        .lines()
        .any(|l| l.starts_with("daylight_sdk_events_total") && l.contains("checkout_error")));
});

on_each_backend!(bad_usage_reports_get_a_4xx_naming_the_field, |app| {
    app.create_flag(json!({ "key": "checkout" })).await;
    let server = app.sdk_key("production", "server").await;
    let bad = [
        (
            json!({ "evaluations": [{ "flag": "checkout", "variation": 0, "count": 0 }] }),
            "evaluations[0].count",
        ),
        (
            json!({ "evaluations": [{ "flag": "checkout", "variation": -1, "count": 1 }] }),
            "evaluations[0].variation",
        ),
        (
            json!({ "evaluations": [{ "flag": "", "variation": 0, "count": 1 }] }),
            "evaluations[0].flag",
        ),
        (
            json!({ "evaluations": [{ "flag": "checkout", "variation": "x", "count": 1 }] }),
            "evaluations[0].variation",
        ),
        (
            json!({ "events": [{ "event": "bad name!", "flag": "checkout", "variation": 0, "count": 1 }] }),
            "events[0].event",
        ),
        (json!({ "evaluations": [], "extra": 1 }), "extra"),
    ];
    for (body, field) in bad {
        report(&app, &server, body).await.expect_field_error(400, field);
    }
    let malformed = app
        .raw(Method::POST, "/sdk/v1/usage", &server, "application/json", "{")
        .await;
    assert_eq!(malformed.status.as_u16(), 400);
    // An admin token is a valid credential of the wrong kind.
    report(&app, crate::harness::ADMIN, json!({})).await.expect(403);
    let r = app.get("/api/v1/environments/production/stale-flags?days=0").await;
    r.expect_field_error(400, "days");
    let r = app
        .get("/api/v1/environments/production/flags/checkout/usage?from=10&to=5")
        .await;
    r.expect_field_error(400, "to");
    app.get("/api/v1/environments/nowhere/usage").await.expect(404);
    app.get("/api/v1/environments/production/flags/nope/usage")
        .await
        .expect(404);
    // Nothing was stored.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let usage = app
        .get("/api/v1/environments/production/flags/checkout/usage")
        .await
        .expect(200)
        .body;
    assert_eq!(usage["totals"], json!({}));
});

on_each_backend!(the_stale_report_finds_unused_and_single_variation_flags, |app| {
    for key in ["fresh", "used", "rolled-out", "split"] {
        app.create_flag(json!({ "key": key })).await;
    }
    app.edit_config("rolled-out", "production", |c| {
        c["on"] = json!(true);
        c["fallthrough"] = json!({ "variation": 1 });
    })
    .await
    .expect(200);
    app.edit_config("split", "production", |c| {
        c["on"] = json!(true);
        c["fallthrough"] = json!({ "rollout": { "variations": [{ "variation": 0, "weight": 50000 }, { "variation": 1, "weight": 50000 }] } });
    })
    .await
    .expect(200);
    let server = app.sdk_key("production", "server").await;
    report(
        &app,
        &server,
        json!({ "evaluations": [{ "flag": "used", "variation": 0, "count": 1 }] }),
    )
    .await
    .expect(200);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let last = app.get("/api/v1/environments/production/usage").await.expect(200).body;
        let used = last["flags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["flag"] == "used")
            .unwrap()
            .clone();
        if used["last_evaluated"].is_i64() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the report was not written");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Everything is younger than a day: nothing is stale.
    let r = app
        .get("/api/v1/environments/production/stale-flags?days=1")
        .await
        .expect(200)
        .body;
    assert_eq!(r["flags"], json!([]));

    // Age the flags and their last config changes by 40 days ("used" was evaluated just now).
    let old = now_ms() - 40 * 86_400_000;
    let db = Db::connect(&app.database_url).await.unwrap();
    sqlx::query("UPDATE flags SET created_at = $1")
        .bind(old)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE flag_last_changes SET at = $1")
        .bind(old)
        .execute(&db.pool)
        .await
        .unwrap();
    let r = app
        .get("/api/v1/environments/production/stale-flags?days=30")
        .await
        .expect(200)
        .body;
    let found: std::collections::BTreeMap<String, Value> = r["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["flag"].as_str().unwrap().to_owned(), f.clone()))
        .collect();
    assert_eq!(found["fresh"]["reasons"], json!(["not_evaluated", "single_variation"]));
    assert_eq!(found["fresh"]["serving"], json!(0));
    assert_eq!(found["rolled-out"]["serving"], json!(1));
    assert_eq!(found["used"]["reasons"], json!(["single_variation"]));
    assert_eq!(found["split"]["reasons"], json!(["not_evaluated"]));
    assert_eq!(found["split"]["serving"], Value::Null);
    // A change restarts the clock for single_variation.
    app.toggle("rolled-out", "production", false).await.expect(200);
    let r = app
        .get("/api/v1/environments/production/stale-flags?days=30")
        .await
        .expect(200)
        .body;
    let rolled = r["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["flag"] == "rolled-out")
        .unwrap()
        .clone();
    assert_eq!(rolled["reasons"], json!(["not_evaluated"]));
});

/// `window_counts` on both backends: sums of the minutes from the one
/// holding `since` on, per flag, variation and event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_counts_sums_the_window() {
    for backend in crate::harness::backends() {
        let app = crate::harness::spawn_app(backend).await;
        let db = Db::connect(&app.database_url).await.unwrap();
        let now = now_ms();
        let this_minute = usage::minute_of(now);
        let batch = |minute: i64, evals: i64, errors: i64| Batch {
            minute,
            from_server: true,
            evaluations: vec![("f".into(), 1, evals), ("f".into(), 0, 1000)],
            events: vec![
                ("err".into(), "f".into(), 1, errors),
                ("other".into(), "f".into(), 1, 50),
            ],
        };
        usage::record(&db, "production", &batch(this_minute - 10 * 60_000, 500, 50))
            .await
            .unwrap();
        usage::record(&db, "production", &batch(this_minute - 60_000, 100, 5))
            .await
            .unwrap();
        usage::record(&db, "production", &batch(this_minute, 20, 2))
            .await
            .unwrap();
        usage::record(&db, "production", &batch(this_minute, 30, 1))
            .await
            .unwrap();
        usage::record(&db, "staging", &batch(this_minute, 7, 7)).await.unwrap();

        assert_eq!(
            window_counts(&db, "production", "f", 1, "err", now).await.unwrap(),
            (50, 3)
        );
        assert_eq!(
            window_counts(&db, "production", "f", 1, "err", this_minute - 60_000 + 1)
                .await
                .unwrap(),
            (150, 8)
        );
        assert_eq!(
            window_counts(&db, "production", "f", 1, "err", now - 3_600_000)
                .await
                .unwrap(),
            (650, 58)
        );
        assert_eq!(
            window_counts(&db, "production", "f", 0, "err", now).await.unwrap(),
            (2000, 0)
        );
        assert_eq!(
            window_counts(&db, "production", "g", 1, "err", 0).await.unwrap(),
            (0, 0)
        );
        assert_eq!(window_counts(&db, "staging", "f", 1, "err", now).await.unwrap(), (7, 7));
        // Counts reported with client keys are not the guards' to read.
        let forged = Batch {
            from_server: false,
            ..batch(this_minute, 1_000, 1_000_000)
        };
        usage::record(&db, "staging", &forged).await.unwrap();
        assert_eq!(window_counts(&db, "staging", "f", 1, "err", now).await.unwrap(), (7, 7));

        // Retention drops whole minutes older than the cut-off.
        assert!(usage::prune(&db, this_minute - 5 * 60_000).await.unwrap() >= 4);
        assert_eq!(
            window_counts(&db, "production", "f", 1, "err", now - 3_600_000)
                .await
                .unwrap(),
            (150, 8)
        );
    }
}

/// Sums of `totals` for `flag` in production.
async fn totals(app: &TestApp, flag: &str) -> Value {
    app.get(&format!("/api/v1/environments/production/flags/{flag}/usage"))
        .await
        .expect(200)
        .body["totals"]
        .clone()
}

/// Waits (10 s at most) until `flag`'s totals in production are `expected`.
async fn wait_for_totals(app: &TestApp, flag: &str, expected: Value) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got = totals(app, flag).await;
        if got == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{flag}: expected {expected}, got {got}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn event_count(app: &TestApp, flag: &str, event: &str, variation: i64) -> i64 {
    let usage = app
        .get(&format!("/api/v1/environments/production/flags/{flag}/usage"))
        .await
        .expect(200)
        .body;
    usage["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == event && e["variation"] == variation)
        .map(|e| e["count"].as_i64().unwrap())
        .sum()
}

on_each_backend!(the_rust_sdk_reports_evaluations_and_events, |app| {
    use daylight::client::Client;
    use daylight::Context;
    app.create_flag(json!({ "key": "checkout" })).await;
    app.create_flag(json!({ "key": "theme", "variations": ["light", "dark"] }))
        .await;
    // checkout: users u0..u9 targeted to true, everyone else false.
    app.edit_config("checkout", "production", |c| {
        c["on"] = json!(true);
        c["targets"] = json!([{ "variation": 1, "values": (0..10).map(|i| format!("u{i}")).collect::<Vec<_>>() }]);
        c["fallthrough"] = json!({ "variation": 0 });
    })
    .await
    .expect(200);
    let key = app.sdk_key("production", "server").await;
    let client = Client::builder(app.url.clone(), key)
        .usage_interval(std::time::Duration::from_millis(200))
        .build()
        .await
        .unwrap();
    assert!(client.is_ready());
    for i in 0..25 {
        let ctx = Context::new(format!("u{i}"));
        client.bool_variation("checkout", &ctx, false);
        client.string_variation("theme", &ctx, "light");
    }
    client.bool_variation("missing", &Context::new("u1"), false);
    // Errors for three targeted users and one other.
    for i in [1, 2, 3, 20] {
        client.track("checkout_error", &Context::new(format!("u{i}")));
    }
    client.track("bad name", &Context::new("u1"));
    wait_for_totals(&app, "checkout", json!({ "0": 15, "1": 10 })).await;
    assert_eq!(totals(&app, "theme").await, json!({ "0": 25 }));
    assert_eq!(event_count(&app, "checkout", "checkout_error", 1).await, 3);
    assert_eq!(event_count(&app, "checkout", "checkout_error", 0).await, 1);
    assert_eq!(event_count(&app, "theme", "checkout_error", 0).await, 4);

    // What is counted after the last report goes out on close.
    for i in 0..7 {
        client.bool_variation("checkout", &Context::new(format!("x{i}")), false);
    }
    client.close().await;
    wait_for_totals(&app, "checkout", json!({ "0": 22, "1": 10 })).await;
});

on_each_backend!(
    usage_ranges_at_the_edges_of_the_integers_are_refused_not_crashed,
    |app| {
        app.create_flag(json!({ "key": "f" })).await;
        for query in [
            "from=-1814&to=-9223372036854775808",
            "to=-9223372036854775808",
            "from=0&to=9223372036854775807",
            "from=9223372036854775807",
        ] {
            let r = app
                .get(&format!("/api/v1/environments/production/flags/f/usage?{query}"))
                .await;
            assert_eq!(r.status.as_u16(), 400, "{query}: {}", r.body);
        }
        // The server is still there.
        app.get("/api/v1/environments/production/flags/f/usage")
            .await
            .expect(200);
    }
);

/// The state of release plan `id`.
async fn plan_state(app: &TestApp, id: i64) -> Value {
    app.get(&format!("/api/v1/releases/{id}")).await.expect(200).body["state"].clone()
}

/// Starts a guarded 50% release of `flag` (variation 1 against 0).
async fn guarded_release(app: &TestApp, flag: &str) -> i64 {
    app.create_flag(json!({ "key": flag, "client_side": true })).await;
    let id = app
        .post(
            &format!("/api/v1/flags/{flag}/environments/production/releases"),
            json!({
                "variation": 1,
                "stages": [{ "weight": 50000, "hold_seconds": 3600 }, { "weight": 100000 }],
                "guard": { "event": "checkout_error", "window_seconds": 600, "max_ratio": 2.0,
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
    id
}

// Issue 26, item 5: a public client key forged a million errors and rolled a
// guarded plan back, or inflated the old variation's errors to hide harm.
on_each_backend!(client_key_reports_neither_trip_nor_hide_a_release_guard, |app| {
    let trip = guarded_release(&app, "trip").await;
    let hide = guarded_release(&app, "hide").await;
    let client = app.sdk_key("production", "client").await;
    let server = app.sdk_key("production", "server").await;
    // Forged: errors on the new variation of `trip`, and on the old
    // variation of `hide` (which would make its real harm look relative).
    report(
        &app,
        &client,
        json!({
            "evaluations": [
                { "flag": "trip", "variation": 1, "count": 1000 },
                { "flag": "trip", "variation": 0, "count": 1000 },
                { "flag": "hide", "variation": 0, "count": 100 }
            ],
            "events": [
                { "event": "checkout_error", "flag": "trip", "variation": 1, "count": 100000 },
                { "event": "checkout_error", "flag": "hide", "variation": 0, "count": 100000 }
            ]
        }),
    )
    .await
    .expect(200);
    // The usage views show what client keys report; wait until it is stored.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while event_count(&app, "hide", "checkout_error", 0).await != 100000
        || event_count(&app, "trip", "checkout_error", 1).await != 100000
    {
        assert!(std::time::Instant::now() < deadline, "the forged report was not stored");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The app servers (server key) see real harm on `hide`'s new variation.
    report(
        &app,
        &server,
        json!({
            "evaluations": [
                { "flag": "hide", "variation": 1, "count": 1000 },
                { "flag": "hide", "variation": 0, "count": 1000 }
            ],
            "events": [
                { "event": "checkout_error", "flag": "hide", "variation": 1, "count": 500 },
                { "event": "checkout_error", "flag": "hide", "variation": 0, "count": 1 }
            ]
        }),
    )
    .await
    .expect(200);
    // The guard of `hide` trips on the server-key counts despite the forged
    // old-variation errors...
    while plan_state(&app, hide).await != "rolled_back" {
        assert!(
            std::time::Instant::now() < deadline,
            "forged client reports hid real harm from the guard"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // ...and the tick that judged it, after the forged errors were stored,
    // left `trip` running.
    assert_eq!(plan_state(&app, trip).await, "running", "a client key tripped a guard");
});

/// The environment's usage list counts each flag's evaluations over the
/// last 24 hours and the last 7 days, per environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usage_list_counts_evaluations_over_a_day_and_a_week() {
    for backend in crate::harness::backends() {
        let app = crate::harness::spawn_app(backend).await;
        app.create_flag(json!({ "key": "lobby" })).await;
        app.create_flag(json!({ "key": "quiet" })).await;
        let db = Db::connect(&app.database_url).await.unwrap();
        let this_minute = usage::minute_of(now_ms());
        let record = |env: &'static str, ago_ms: i64, variation: i64, count: i64| {
            let db = db.clone();
            async move {
                let batch = Batch {
                    minute: this_minute - ago_ms,
                    from_server: true,
                    evaluations: vec![("lobby".into(), variation, count)],
                    events: vec![],
                };
                usage::record(&db, env, &batch).await.unwrap();
            }
        };
        const HOUR: i64 = 3_600_000;
        record("production", 0, 1, 5).await;
        record("production", 2 * HOUR, 0, 7).await;
        record("production", 30 * HOUR, 1, 100).await;
        record("production", 6 * 24 * HOUR, 1, 1000).await;
        record("production", 8 * 24 * HOUR, 1, 10_000).await;
        record("staging", HOUR, 1, 3).await;
        let counts = |body: &Value, flag: &str| {
            let f = body["flags"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["flag"] == flag)
                .unwrap()
                .clone();
            (f["evaluations_24h"].as_i64(), f["evaluations_7d"].as_i64())
        };
        let prod = app.get("/api/v1/environments/production/usage").await.expect(200).body;
        assert_eq!(counts(&prod, "lobby"), (Some(12), Some(1112)), "{prod}");
        assert_eq!(counts(&prod, "quiet"), (Some(0), Some(0)));
        let staging = app.get("/api/v1/environments/staging/usage").await.expect(200).body;
        assert_eq!(counts(&staging, "lobby"), (Some(3), Some(3)));
    }
}
