//! SDK usage reports' limits: counts capped per entry, distinct event names
//! capped per key and flag, and the rate limit per key (429, `Retry-After`).

use serde_json::{json, Value};

use crate::usage::report;

on_each_backend!(usage_counts_are_capped_per_entry, |app| {
    app.create_flag(json!({ "key": "checkout", "client_side": true })).await;
    let server = app.sdk_key("production", "server").await;
    let client = app.sdk_key("production", "client").await;
    let eval = |count: i64| json!({ "evaluations": [{ "flag": "checkout", "variation": 0, "count": count }] });
    let event =
        |count: i64| json!({ "events": [{ "event": "e", "flag": "checkout", "variation": 0, "count": count }] });
    // Server keys: at most 10^9 per entry; client keys: at most 100,000.
    report(&app, &server, eval(1_000_000_000)).await.expect(200);
    report(&app, &server, eval(1_000_000_001))
        .await
        .expect_field_error(400, "evaluations[0].count");
    report(&app, &server, event(1_000_000_000_000))
        .await
        .expect_field_error(400, "events[0].count");
    report(&app, &client, eval(100_000)).await.expect(200);
    report(&app, &client, eval(100_001))
        .await
        .expect_field_error(400, "evaluations[0].count");
    report(&app, &client, event(1_000_000))
        .await
        .expect_field_error(400, "events[0].count");
});

// Issue 26, item 12: a client key added 6,000 made-up event names in 60 s,
// each a row kept for the retention.
on_each_backend!(distinct_event_names_are_capped_per_key_and_per_flag, |app| {
    for i in 0..6 {
        app.create_flag(json!({ "key": format!("f{i}"), "client_side": true }))
            .await;
    }
    let client = app.sdk_key("production", "client").await;
    // 120 new names on each of six flags: at most 100 per flag and 500 per
    // key (the defaults) are kept.
    let events: Vec<Value> = (0..6)
        .flat_map(|f| {
            (0..120).map(move |n| json!({ "event": format!("made-up-{f}-{n}"), "flag": format!("f{f}"), "variation": 0, "count": 1 }))
        })
        .collect();
    let r = report(&app, &client, json!({ "events": events })).await.expect(200);
    assert_eq!(r.body, json!({ "accepted": 500, "dropped": 220 }));
    // Names already kept still count; new ones do not.
    let known: Vec<Value> = events.iter().take(120).cloned().collect();
    let r = report(&app, &client, json!({ "events": known })).await.expect(200);
    let accepted = r.body["accepted"].as_i64().unwrap();
    assert!((1..=100).contains(&accepted), "{}", r.body);
    let r = report(
        &app,
        &client,
        json!({ "events": [{ "event": "one-more", "flag": "f5", "variation": 0, "count": 1 }] }),
    )
    .await
    .expect(200);
    assert_eq!(r.body, json!({ "accepted": 0, "dropped": 1 }));
    // Another key has its own budget, within the flags' caps.
    let other = app.sdk_key("production", "server").await;
    let r = report(
        &app,
        &other,
        json!({ "events": [{ "event": "checkout_error", "flag": "f5", "variation": 0, "count": 1 }] }),
    )
    .await
    .expect(200);
    assert_eq!(r.body["accepted"], 1);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_reports_over_the_rate_get_429_with_retry_after() {
    for backend in crate::harness::backends() {
        let app = crate::harness::spawn_app_with(backend, |s| s.usage_rate_limit = 2).await;
        app.create_flag(json!({ "key": "checkout", "client_side": true })).await;
        let client = app.sdk_key("production", "client").await;
        let other = app.sdk_key("production", "client").await;
        let body = json!({ "evaluations": [{ "flag": "checkout", "variation": 0, "count": 1 }] });
        let mut limited = None;
        for _ in 0..10 {
            let r = report(&app, &client, body.clone()).await;
            if r.status.as_u16() == 429 {
                limited = Some(r);
                break;
            }
            r.expect(200);
        }
        let r = limited.expect("ten reports in a row, none limited");
        assert_eq!(r.body["error"], "rate_limited");
        let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry >= 1);
        // Keys have separate budgets.
        report(&app, &other, body.clone()).await.expect(200);
    }
}

#[test]
fn usage_reports_are_rate_limited_by_default() {
    use clap::Parser;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        settings: daylight_server::Settings,
    }
    let cli = Cli::try_parse_from(["daylight"]).unwrap();
    assert!(cli.settings.usage_rate_limit > 0);
    assert!(cli.settings.usage_max_events_per_key > 0);
    assert!(cli.settings.usage_max_events_per_flag > 0);
}
