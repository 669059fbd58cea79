//! Bounded history (issue 26, item 11): the change log compacted behind the
//! snapshot, audit-log retention, and a stale-flag report whose cost does not
//! depend on how much history is kept.

use daylight_server::db::{now_ms, Db};
use daylight_server::store::retention;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::TestApp;

async fn changes_after(app: &TestApp, key: &str, after: i64) -> crate::harness::Reply {
    app.request(
        Method::GET,
        &format!("/sdk/v1/changes?after={after}"),
        Some(key),
        None,
        &[],
    )
    .await
}

on_each_backend!(
    an_sdk_resuming_from_a_compacted_version_gets_a_snapshot_never_a_gap,
    |app| {
        app.create_flag(json!({ "key": "f" })).await;
        for i in 0..6 {
            app.toggle("f", "production", i % 2 == 0).await.expect(200);
        }
        let key = app.sdk_key("production", "server").await;
        let current = app
            .request(Method::GET, "/sdk/v1/ruleset", Some(&key), None, &[])
            .await
            .expect(200)
            .body["version"]
            .as_i64()
            .unwrap();
        assert_eq!(current, 7);
        let db = Db::connect(&app.database_url).await.unwrap();
        // Keep the newest three versions of each environment (5, 6, 7 here).
        assert!(retention::compact_changes(&db, 3).await.unwrap() >= 4);
        let kept: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM changes WHERE environment = 'production' ORDER BY version")
                .fetch_all(&db.pool)
                .await
                .unwrap();
        assert_eq!(kept, vec![5, 6, 7]);

        // From a kept version: just the patches it missed.
        let mut s = app
            .stream(json!({ "type": "hello", "protocols": [1], "key": key, "version": 5 }))
            .await;
        assert_eq!(s.next().await["type"], "welcome");
        assert_eq!(s.next().await["version"], 6);
        assert_eq!(s.next().await["version"], 7);
        assert_eq!(s.next().await, json!({ "type": "synced", "version": 7 }));
        // From a compacted one: a snapshot, never the patches after the hole.
        for from in [0, 1, 3] {
            let mut s = app
                .stream(json!({ "type": "hello", "protocols": [1], "key": key, "version": from }))
                .await;
            assert_eq!(s.next().await["type"], "welcome");
            let first = s.next().await;
            assert_eq!(first["type"], "snapshot", "resuming from {from}: {first}");
            assert_eq!(first["version"], 7);
            assert_eq!(s.next().await, json!({ "type": "synced", "version": 7 }));
        }
        // Over HTTP: 410 for a range the log no longer holds.
        let versions = |r: crate::harness::Reply| -> Vec<i64> {
            r.body["changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["version"].as_i64().unwrap())
                .collect()
        };
        assert_eq!(versions(changes_after(&app, &key, 4).await.expect(200)), vec![5, 6, 7]);
        assert_eq!(
            versions(changes_after(&app, &key, 7).await.expect(200)),
            Vec::<i64>::new()
        );
        for after in [0, 3] {
            let r = changes_after(&app, &key, after).await.expect(410);
            assert_eq!(r.body["error"], "gone");
        }
        // The newest row always stays, and writes go on numbering without gaps.
        assert_eq!(retention::compact_changes(&db, 1).await.unwrap(), 2);
        app.toggle("f", "production", true).await.expect(200);
        assert_eq!(versions(changes_after(&app, &key, 6).await.expect(200)), vec![7, 8]);
        // 0 keeps everything.
        assert_eq!(retention::compact_changes(&db, 0).await.unwrap(), 0);
    }
);

on_each_backend!(the_stale_report_does_not_read_the_change_log, |app| {
    app.create_flag(json!({ "key": "rolled-out" })).await;
    app.edit_config("rolled-out", "production", |c| {
        c["on"] = json!(true);
        c["fallthrough"] = json!({ "variation": 1 });
    })
    .await
    .expect(200);
    // Created 40 days ago, configured just now; then the change log is
    // compacted away entirely.
    let db = Db::connect(&app.database_url).await.unwrap();
    sqlx::query("UPDATE flags SET created_at = $1")
        .bind(now_ms() - 40 * 86_400_000)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM changes").execute(&db.pool).await.unwrap();
    let r = app
        .get("/api/v1/environments/production/stale-flags?days=30")
        .await
        .expect(200)
        .body;
    let rolled: Vec<&Value> = r["flags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["flag"] == "rolled-out")
        .collect();
    // Not evaluated for 30 days, but its config changed today: not a
    // single_variation candidate, whatever the log still holds.
    assert_eq!(rolled.len(), 1, "{r}");
    assert_eq!(rolled[0]["reasons"], json!(["not_evaluated"]));
    assert!(rolled[0]["unchanged_since"].as_i64().unwrap() > now_ms() - 3_600_000);
});

on_each_backend!(audit_entries_older_than_the_retention_are_deleted, |app| {
    for key in ["a", "b", "c"] {
        app.create_flag(json!({ "key": key })).await;
    }
    let db = Db::connect(&app.database_url).await.unwrap();
    sqlx::query("UPDATE audit_log SET at = $1 WHERE resource_key IN ('a', 'b')")
        .bind(now_ms() - 31 * 86_400_000)
        .execute(&db.pool)
        .await
        .unwrap();
    // 0 (the default) keeps everything.
    assert_eq!(retention::prune_audit(&db, 0).await.unwrap(), 0);
    assert_eq!(retention::prune_audit(&db, 30).await.unwrap(), 2);
    let log = app.get("/api/v1/audit?resource_kind=flag").await.expect(200).body;
    let keys: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, vec!["c"]);
});

#[test]
fn history_settings_default_to_a_bounded_change_log_and_a_kept_audit_log() {
    use clap::Parser;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        settings: daylight_server::Settings,
    }
    let cli = Cli::try_parse_from(["daylight"]).unwrap();
    assert_eq!(cli.settings.change_log_keep, 10_000);
    assert_eq!(cli.settings.audit_retention_days, 0);
}

on_each_backend!(the_audit_log_filters_by_part_of_the_actor_and_by_time, |app| {
    for key in ["a", "b"] {
        app.create_flag(json!({ "key": key })).await;
    }
    let db = Db::connect(&app.database_url).await.unwrap();
    sqlx::query("UPDATE audit_log SET at = $1 WHERE resource_key = 'a'")
        .bind(now_ms() - 2 * 86_400_000)
        .execute(&db.pool)
        .await
        .unwrap();
    let keys = |log: Value| -> Vec<String> {
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource_key"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = app.get("/api/v1/audit").await.expect(200).body;
    let actor = all["entries"][0]["actor"].as_str().unwrap().to_owned();
    // Part of the name, in another case, finds it; LIKE's wildcards are plain characters.
    let part: String = actor.chars().skip(1).take(3).collect::<String>().to_uppercase();
    let found = app.get(&format!("/api/v1/audit?actor={part}")).await.expect(200).body;
    assert_eq!(keys(found), vec!["b", "a"]);
    let none = app.get("/api/v1/audit?actor=%25_").await.expect(200).body;
    assert_eq!(keys(none), Vec::<String>::new());
    let day_ago = now_ms() - 86_400_000;
    let recent = app.get(&format!("/api/v1/audit?from={day_ago}")).await.expect(200).body;
    assert_eq!(keys(recent), vec!["b"]);
    let older = app.get(&format!("/api/v1/audit?to={day_ago}")).await.expect(200).body;
    assert_eq!(keys(older), vec!["a"]);
});
