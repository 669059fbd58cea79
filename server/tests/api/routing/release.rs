//! Two releases with `daylight routing release` behind nginx: Blue→Green,
//! then Green→Blue with the roles swapped, each with a staff dark launch and
//! a 5 % canary, and `routing finish` between them; ambiguous forms refused;
//! one audit entry per step.

use serde_json::json;

use super::nginx::{nginx_binary, port_of, uid_cookie, visit, Nginx};
use super::{create_staff, spawn_routed, FLAG};
use crate::harness::{TestApp, ADMIN};

/// What one run of the CLI printed, and its exit code.
async fn daylight(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_daylight"))
        .args(args)
        .env("DAYLIGHT_URL", &app.url)
        .env("DAYLIGHT_TOKEN", ADMIN)
        .output()
        .await
        .expect("the CLI runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn release(app: &TestApp, to: &str, percent: &str) -> String {
    let args = [
        "routing",
        "release",
        FLAG,
        "--to",
        to,
        "--percent",
        percent,
        "--env",
        "production",
    ];
    let (code, stdout, stderr) = daylight(app, &args).await;
    assert_eq!(code, 0, "{args:?}: {stderr}");
    stdout
}

async fn audit_entries(app: &TestApp) -> usize {
    let r = app.get("/api/v1/audit?limit=500").await.expect(200);
    r.body["entries"].as_array().expect("entries").len()
}

/// How many of `users` nginx sends to `pool`.
async fn count_on(nginx: &Nginx, users: &[String], pool: &str) -> usize {
    let http = reqwest::Client::new();
    let page = format!("{}/", nginx.url);
    let mut n = 0;
    for user in users {
        let (status, got, _) = visit(&http, &page, Some(user), None).await;
        assert_eq!(status, 200);
        n += usize::from(got == pool);
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_releases_each_send_the_canary_share_to_the_new_pool() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let app = spawn_routed(|_| {}).await;
    create_staff(&app, &["staff-ann"]).await;
    app.create_flag(json!({ "key": FLAG, "variations": ["blue", "green"] }))
        .await;
    let (code, _, stderr) = daylight(
        &app,
        &[
            "flags",
            "set-rule",
            FLAG,
            "--env",
            "production",
            "--id",
            "staff",
            "--attribute",
            "key",
            "--op",
            "in_segment",
            "--values",
            "staff",
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    let key = app.sdk_key("production", "server").await;
    let nginx = Nginx::start(&binary, port_of(&app.url), &key).await;
    let users: Vec<String> = (0..1000).map(|i| format!("user-{i}")).collect();
    let staff = ["staff-ann".to_owned()];
    // The flag is off: no sticky id is minted for a new visitor.
    let (_, pool, set_cookie) = visit(&reqwest::Client::new(), &format!("{}/", nginx.url), None, None).await;
    assert_eq!(pool, "blue");
    assert!(uid_cookie(&set_cookie).is_none(), "{set_cookie:?}");

    // Release 1: Green is new. Staff first, then 5 %, then everyone.
    let before = audit_entries(&app).await;
    let out = release(&app, "green", "0").await;
    assert!(out.contains("keep the map's `default` on blue"), "{out}");
    assert_eq!(audit_entries(&app).await, before + 1, "one audit entry per step");
    assert_eq!(count_on(&nginx, &staff, "green").await, 1);
    assert_eq!(count_on(&nginx, &users[..200], "green").await, 0);
    release(&app, "green", "5").await;
    let green = count_on(&nginx, &users, "green").await;
    assert!((40..=60).contains(&green), "release 1 at 5%: {green} of 1000 on green");
    let finish = ["routing", "finish", FLAG, "--on", "green", "--env", "production"];
    let (code, _, stderr) = daylight(&app, &finish).await;
    assert_eq!(code, 1, "finished at 5%");
    assert!(stderr.contains("does not serve everyone"), "{stderr}");
    release(&app, "green", "100").await;
    assert_eq!(count_on(&nginx, &users[..200], "green").await, 200);
    // Blue drained and stopped: the kill switch must not send anyone there.
    let (code, _, stderr) = daylight(&app, &finish).await;
    assert_eq!(code, 0, "{stderr}");
    app.toggle(FLAG, "production", false).await.expect(200);
    assert_eq!(count_on(&nginx, &users[..200], "green").await, 200);
    assert_eq!(count_on(&nginx, &staff, "green").await, 1);

    // Release 2: Blue is new; the same command with the other pool.
    release(&app, "blue", "0").await;
    assert_eq!(count_on(&nginx, &staff, "blue").await, 1, "staff follow the release");
    assert_eq!(count_on(&nginx, &users[..200], "blue").await, 0);
    release(&app, "blue", "5").await;
    let blue = count_on(&nginx, &users, "blue").await;
    assert!((40..=60).contains(&blue), "release 2 at 5%: {blue} of 1000 on blue");
    eprintln!("5% canaries over 1000 ids: release 1 {green} on green, release 2 {blue} on blue");
    // The kill switch sends everyone to the old release (Green) now.
    app.toggle(FLAG, "production", false).await.expect(200);
    assert_eq!(count_on(&nginx, &users[..200], "green").await, 200);
    assert_eq!(count_on(&nginx, &staff, "green").await, 1);

    // Ambiguous or wrong forms change nothing.
    let version = app.get(&format!("/api/v1/flags/{FLAG}")).await.expect(200).etag();
    for (args, says) in [
        (vec!["--to", "red", "--percent", "5"], "none of the flag's pools"),
        (vec!["--to", "1", "--percent", "5"], "none of the flag's pools"),
        (vec!["--to", "blue", "--percent", "150"], "--percent"),
        (vec!["--to", "blue", "--percent", "5", "--rule", "vip"], "no rule `vip`"),
    ] {
        let mut all = vec!["routing", "release", FLAG, "--env", "production"];
        all.extend(args);
        let (code, _, stderr) = daylight(&app, &all).await;
        assert_eq!(code, 1, "{all:?}");
        assert!(stderr.contains(says), "{all:?}: {stderr}");
    }
    assert_eq!(
        app.get(&format!("/api/v1/flags/{FLAG}")).await.expect(200).etag(),
        version
    );
}
