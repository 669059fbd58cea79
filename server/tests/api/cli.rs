//! The CLI (`daylight flags …`) run as a process against a real server:
//! tables and readable times for people, the API's JSON as sent for
//! `--json`, errors on stderr with exit code 1, and edits that land.

use serde_json::{json, Value};

use crate::harness::{spawn_app, Backend, TestApp, ADMIN};

/// What one run of the CLI printed, and its exit code.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub async fn daylight(app: &TestApp, args: &[&str]) -> Run {
    daylight_as(app, ADMIN, args).await
}

/// Runs the CLI with `token` in `DAYLIGHT_TOKEN`.
pub async fn daylight_as(app: &TestApp, token: &str, args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_daylight"))
        .args(args)
        .env("DAYLIGHT_URL", &app.url)
        .env("DAYLIGHT_TOKEN", token)
        .output()
        .await
        .expect("the CLI runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8"),
    }
}

/// Runs a command that must succeed; returns its stdout.
pub async fn ok(app: &TestApp, args: &[&str]) -> String {
    ok_as(app, ADMIN, args).await
}

/// [`ok`] with `token`.
pub async fn ok_as(app: &TestApp, token: &str, args: &[&str]) -> String {
    let run = daylight_as(app, token, args).await;
    assert_eq!(run.code, 0, "daylight {args:?} failed: {}", run.stderr);
    run.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_are_tables_with_readable_times() {
    let app = spawn_app(Backend::Sqlite).await;
    ok(
        &app,
        &["flags", "create", "new-lobby", "--name", "New lobby", "--tag", "games"],
    )
    .await;
    ok(
        &app,
        &[
            "schedule",
            "create",
            "new-lobby",
            "on",
            "--env",
            "production",
            "--at",
            "2030-01-02T03:04:05Z",
        ],
    )
    .await;

    let flags = ok(&app, &["flags", "list"]).await;
    let lines: Vec<&str> = flags.lines().collect();
    assert_eq!(lines.len(), 2, "{flags}");
    assert_eq!(lines[0], "KEY        NAME       TAGS   VERSION  UPDATED");
    let row: Vec<&str> = lines[1].split("  ").filter(|c| !c.is_empty()).map(str::trim).collect();
    assert_eq!(row[..4], ["new-lobby", "New lobby", "games", "1"]);
    assert!(
        is_iso_8601_utc(row[4]),
        "UPDATED is a readable time, not Unix ms: {}",
        row[4]
    );

    let changes = ok(&app, &["schedule", "list", "--flag", "new-lobby"]).await;
    assert_eq!(
        changes,
        "ID  FLAG       ENVIRONMENT  AT                    CHANGE  STATE\n\
         1   new-lobby  production   2030-01-02T03:04:05Z  on      pending\n"
    );

    // One object: `field: value` lines, its times readable too.
    let change = ok(&app, &["schedule", "cancel", "1"]).await;
    assert!(change.lines().any(|l| l == "at: 2030-01-02T03:04:05Z"), "{change}");
    assert!(change.lines().any(|l| l == "state: cancelled"), "{change}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_is_the_apis_answer_as_sent() {
    let app = spawn_app(Backend::Sqlite).await;
    let created = ok(&app, &["flags", "create", "new-lobby", "--json"]).await;
    let listed = ok(&app, &["flags", "list", "--json"]).await;
    let got = ok(&app, &["flags", "get", "new-lobby", "--json"]).await;

    let pretty = |v: &Value| format!("{}\n", serde_json::to_string_pretty(v).unwrap());
    let stored = app.get("/api/v1/flags/new-lobby").await.expect(200).body;
    assert_eq!(got, pretty(&stored));
    assert_eq!(created, pretty(&stored));
    assert_eq!(listed, pretty(&app.get("/api/v1/flags").await.expect(200).body));
    // Fields in the order the API's JSON sorts them, as scripts have seen.
    assert!(got.starts_with("{\n  \"archived\": false,\n  \"client_side\": false,\n  \"created_at\": "));

    // A write with nothing to say.
    let id = app
        .post("/api/v1/tokens", json!({ "name": "ci", "role": "viewer" }))
        .await
        .expect(201)
        .body["id"]
        .to_string();
    assert_eq!(ok(&app, &["tokens", "revoke", &id, "--json"]).await, "null\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_go_to_stderr_with_exit_code_1() {
    let app = spawn_app(Backend::Sqlite).await;
    let missing = daylight(&app, &["flags", "get", "nope"]).await;
    assert_eq!((missing.code, missing.stdout.as_str()), (1, ""));
    assert_eq!(missing.stderr, "error: 404 flag `nope` not found\n");

    ok(&app, &["flags", "create", "a"]).await;
    let again = daylight(&app, &["flags", "create", "a"]).await;
    assert_eq!(again.stderr, "error: 409 flag `a` already exists [409 conflict]\n");

    let bad_op = daylight(
        &app,
        &[
            "flags",
            "set-rule",
            "a",
            "--env",
            "staging",
            "--id",
            "r",
            "--attribute",
            "x",
            "--op",
            "bogus",
            "--values",
            "1",
        ],
    )
    .await;
    assert_eq!(bad_op.code, 1);
    assert!(
        bad_op.stderr.starts_with("error: 400 unknown operator"),
        "{}",
        bad_op.stderr
    );
    assert!(bad_op.stderr.contains("(field "), "{}", bad_op.stderr);

    let usage = daylight(&app, &["releases", "jump", "1"]).await;
    assert_eq!(usage.code, 1);
    assert!(
        usage.stderr.starts_with("error: unknown command `jump`"),
        "{}",
        usage.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_and_rollout_edits_land_in_the_environment_config() {
    let app = spawn_app(Backend::Sqlite).await;
    ok(&app, &["flags", "create", "new-lobby"]).await;
    let set_rule = |values: &'static str, serve: &'static str| {
        let app = &app;
        async move {
            ok(
                app,
                &[
                    "flags",
                    "set-rule",
                    "new-lobby",
                    "--env",
                    "staging",
                    "--id",
                    "omaha",
                    "--attribute",
                    "game",
                    "--values",
                    values,
                    "--serve",
                    serve,
                    "--case-insensitive",
                ],
            )
            .await
        }
    };
    set_rule("omaha,7,true", "1").await;
    // The same id replaces the rule instead of adding one.
    set_rule("holdem", "0").await;
    ok(
        &app,
        &[
            "flags",
            "set-rollout",
            "new-lobby",
            "25",
            "--env",
            "staging",
            "--bucket-by",
            "table_id",
            "--comment",
            "a quarter",
        ],
    )
    .await;

    let config = app
        .get("/api/v1/flags/new-lobby/environments/staging")
        .await
        .expect(200)
        .body;
    assert_eq!(
        config["rules"],
        json!([{ "id": "omaha", "description": "", "serve": { "variation": 0 }, "clauses": [
            { "attribute": "game", "op": "in", "values": ["holdem"], "negate": false, "case_insensitive": true }
        ] }])
    );
    assert_eq!(
        config["fallthrough"],
        json!({ "rollout": { "bucket_by": "table_id", "variations": [
            { "variation": 0, "weight": 75_000 }, { "variation": 1, "weight": 25_000 }
        ] } })
    );
    let audit = app.get("/api/v1/audit").await.expect(200).body;
    assert_eq!(audit["entries"][0]["comment"], "a quarter");
}

/// `2026-12-06T05:10:00Z`: a date, a time to the second, UTC.
fn is_iso_8601_utc(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && s.chars().enumerate().all(|(i, c)| match i {
            4 | 7 => c == '-',
            10 => c == 'T',
            13 | 16 => c == ':',
            19 => c == 'Z',
            _ => c.is_ascii_digit(),
        })
}
