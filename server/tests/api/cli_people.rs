//! The CLI for people, freeze windows, approvals and change requests
//! (`daylight people|freezes|approvals|change-requests …`) run as a process
//! against a real server: each flow end to end, checked in the output and
//! in the server's state.

use reqwest::Method;
use serde_json::{json, Value};

use crate::cli::{daylight, daylight_as, ok, ok_as};
use crate::harness::{spawn_app, Backend, TestApp};

/// The `field: value` line of `field` in a record's output.
fn field<'a>(out: &'a str, name: &str) -> &'a str {
    let prefix = format!("{name}: ");
    out.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no `{name}` in:\n{out}"))
}

/// A table's row whose first column is `id`, split into its columns.
fn row(table: &str, id: &str) -> Vec<String> {
    table
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .find(|cols| cols.first().map(String::as_str) == Some(id))
        .unwrap_or_else(|| panic!("no row {id} in:\n{table}"))
}

async fn account(app: &TestApp, email: &str) -> Value {
    let accounts = app.get("/api/v1/accounts").await.expect(200).body;
    accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == email)
        .cloned()
        .unwrap_or_else(|| panic!("no account {email}: {accounts}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_are_invited_listed_and_managed_from_the_cli() {
    let app = spawn_app(Backend::Sqlite).await;
    let invited = ok(&app, &["people", "invite", "ana@example.com", "--role", "editor"]).await;
    assert!(
        invited.starts_with("invited ana@example.com as editor (until "),
        "{invited}"
    );
    let code = field(&invited, "code").to_owned();
    assert!(code.starts_with("dl_invite_"), "{invited}");
    assert_eq!(field(&invited, "link"), format!("{}/#/accept/{code}", app.url));

    let pending = ok(&app, &["people", "invitations"]).await;
    let pending = row(&pending, "1");
    assert_eq!(pending[1..4], ["ana@example.com", "editor", "token:bootstrap"]);
    assert_eq!(pending[5], "-", "not accepted yet");

    // The code the CLI printed is the one that works.
    app.request(
        Method::POST,
        "/api/v1/invitations/accept",
        None,
        Some(json!({ "code": code, "name": "Ana Lima", "password": "a long enough password" })),
        &[],
    )
    .await
    .expect(201);
    let accepted = ok(&app, &["people", "invitations"]).await;
    assert_ne!(row(&accepted, "1")[5], "-", "{accepted}");

    let id = account(&app, "ana@example.com").await["id"].to_string();
    let list = ok(&app, &["people", "list"]).await;
    assert!(list.starts_with("ID  EMAIL"), "{list}");
    let ana = row(&list, &id);
    assert_eq!(ana[1..4], ["ana@example.com", "Ana Lima", "editor"]);
    assert_eq!(ana[5], "-", "not disabled");

    let changed = ok(&app, &["people", "set-role", &id, "viewer"]).await;
    assert_eq!(field(&changed, "role"), "viewer");
    assert_eq!(account(&app, "ana@example.com").await["role"], "viewer");

    // Roles per environment: replaced as a whole, shown in the list.
    ok(&app, &["people", "env-roles", &id, "staging=editor"]).await;
    assert_eq!(
        account(&app, "ana@example.com").await["env_roles"],
        json!({ "staging": "editor" })
    );
    assert_eq!(row(&ok(&app, &["people", "list"]).await, &id)[6], "staging=editor");
    let unknown = daylight(&app, &["people", "env-roles", &id, "nowhere=viewer"]).await;
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("(field env_roles.nowhere)"),
        "{}",
        unknown.stderr
    );
    ok(&app, &["people", "env-roles", &id]).await;
    assert_eq!(account(&app, "ana@example.com").await["env_roles"], json!({}));

    let disabled = ok(&app, &["people", "disable", &id]).await;
    assert_ne!(field(&disabled, "disabled_at"), "null");
    assert!(account(&app, "ana@example.com").await["disabled_at"].is_i64());
    assert_ne!(row(&ok(&app, &["people", "list"]).await, &id)[5], "-");
    ok(&app, &["people", "enable", &id]).await;
    assert!(account(&app, "ana@example.com").await["disabled_at"].is_null());

    let bad = daylight(&app, &["people", "invite", "bo@example.com", "--role", "boss"]).await;
    assert_eq!((bad.code, bad.stdout.as_str()), (1, ""));
    assert!(bad.stderr.starts_with("error: 400 "), "{}", bad.stderr);
    assert!(bad.stderr.contains("(field role)"), "{}", bad.stderr);
    let editor = app.token("editor").await;
    let refused = daylight_as(&app, &editor, &["people", "list"]).await;
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.starts_with("error: 403 "), "{}", refused.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_window_added_from_the_cli_refuses_changes_until_removed() {
    let app = spawn_app(Backend::Sqlite).await;
    ok(&app, &["flags", "create", "f"]).await;
    let now = jiff::Timestamp::now();
    let from = (now - jiff::SignedDuration::from_mins(1)).to_string();
    let until = (now + jiff::SignedDuration::from_mins(60)).to_string();
    let added = ok(
        &app,
        &[
            "freezes",
            "add",
            "--env",
            "production",
            "--name",
            "final",
            "--from",
            &from,
            "--until",
            &until,
        ],
    )
    .await;
    assert_eq!(field(&added, "name"), "final");
    let once_id = field(&added, "id").to_owned();

    let list = ok(&app, &["freezes", "list", "--env", "production"]).await;
    assert!(list.ends_with("\n\nproduction is frozen now by: final\n"), "{list}");
    assert_eq!(
        row(&list, &once_id)[1..],
        ["final", &format!("{from} to {until}"), "now"]
    );
    assert!(ok(&app, &["freezes", "list", "--env", "staging"])
        .await
        .ends_with("staging is not frozen now\n"));

    let refused = daylight(&app, &["flags", "toggle", "f", "on", "--env", "production"]).await;
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.starts_with("error: 423 "), "{}", refused.stderr);
    assert!(refused.stderr.contains("final"), "names the window: {}", refused.stderr);
    // The kill switch still goes through.
    ok(&app, &["flags", "toggle", "f", "off", "--env", "production"]).await;

    let weekly = |zone: &'static str| {
        let app = &app;
        async move {
            daylight(
                app,
                &[
                    "freezes",
                    "add",
                    "--env",
                    "production",
                    "--name",
                    "evenings",
                    "--weekly",
                    "mon,fri",
                    "--at",
                    "18:00",
                    "--minutes",
                    "240",
                    "--time-zone",
                    zone,
                ],
            )
            .await
        }
    };
    let bad = weekly("Mars/Olympus").await;
    assert_eq!((bad.code, bad.stdout.as_str()), (1, ""));
    assert!(bad.stderr.starts_with("error: 400 "), "{}", bad.stderr);
    assert!(bad.stderr.contains("(field schedule.time_zone)"), "{}", bad.stderr);
    let added = weekly("Europe/Paris").await;
    assert_eq!(added.code, 0, "{}", added.stderr);
    let weekly_id = field(&added.stdout, "id").to_owned();
    let list = ok(&app, &["freezes", "list", "--env", "production"]).await;
    assert_eq!(row(&list, &weekly_id)[2], "mon,fri 18:00 for 240 min (Europe/Paris)");

    let neither = daylight(&app, &["freezes", "add", "--env", "production", "--name", "x"]).await;
    assert_eq!(neither.code, 1);
    assert!(neither.stderr.contains("--from and --until"), "{}", neither.stderr);

    for id in [&once_id, &weekly_id] {
        assert_eq!(ok(&app, &["freezes", "rm", "--env", "production", id]).await, "done\n");
    }
    let left = app
        .get("/api/v1/environments/production/freezes")
        .await
        .expect(200)
        .body;
    assert_eq!(left["windows"], json!([]), "{left}");
    ok(&app, &["flags", "toggle", "f", "on", "--env", "production"]).await;
    let config = app
        .get("/api/v1/flags/f/environments/production")
        .await
        .expect(200)
        .body;
    assert_eq!(config["on"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_request_goes_from_the_cli_through_another_persons_approval() {
    let app = spawn_app(Backend::Sqlite).await;
    ok(&app, &["flags", "create", "f"]).await;
    assert_eq!(
        ok(&app, &["approvals", "set", "--env", "production", "1"]).await,
        "required: 1\n"
    );
    assert_eq!(
        ok(&app, &["approvals", "show", "--env", "production"]).await,
        "required: 1\n"
    );
    assert_eq!(
        ok(&app, &["approvals", "show", "--env", "staging"]).await,
        "required: 0\n"
    );
    let (ana, bo) = (app.editor_token("ana").await, app.editor_token("bo").await);

    let direct = daylight_as(&app, &ana, &["flags", "toggle", "f", "on", "--env", "production"]).await;
    assert_eq!(direct.code, 1);
    assert!(direct.stderr.starts_with("error: 409 "), "{}", direct.stderr);
    assert!(direct.stderr.contains("change request"), "{}", direct.stderr);

    let opened = ok_as(
        &app,
        &ana,
        &[
            "change-requests",
            "open",
            "f",
            "--env",
            "production",
            "--on",
            "--comment",
            "launch",
        ],
    )
    .await;
    let id = field(&opened, "id").to_owned();
    assert_eq!(field(&opened, "state"), "open");
    assert_eq!(field(&opened, "author"), "token:ana");

    let inbox = ok(&app, &["change-requests", "list", "--state", "open"]).await;
    assert_eq!(row(&inbox, &id)[1..6], ["f", "production", "open", "1", "token:ana"]);
    let shown = ok(&app, &["change-requests", "show", &id]).await;
    assert!(
        shown.contains("\napprovals: 0 of 1 required (approved by nobody)\n"),
        "{shown}"
    );
    assert!(shown.contains("\n-   \"on\": false,\n+   \"on\": true,\n"), "{shown}");
    assert!(
        shown.contains("\n    \"off_variation\": 0,\n"),
        "unchanged lines kept: {shown}"
    );

    // Not her own approval, and no apply without one.
    let own = daylight_as(&app, &ana, &["change-requests", "approve", &id]).await;
    assert_eq!(own.code, 1);
    assert!(own.stderr.starts_with("error: 403 "), "{}", own.stderr);
    let early = daylight_as(&app, &ana, &["change-requests", "apply", &id]).await;
    assert_eq!(early.code, 1);
    assert!(early.stderr.starts_with("error: 409 "), "{}", early.stderr);

    ok_as(&app, &bo, &["change-requests", "comment", &id, "looks fine"]).await;
    ok_as(&app, &bo, &["change-requests", "approve", &id, "--comment", "lgtm"]).await;
    let shown = ok(&app, &["change-requests", "show", &id]).await;
    assert!(
        shown.contains("\napprovals: 1 of 1 required (approved by token:bo)\n"),
        "{shown}"
    );
    assert!(
        shown.contains("  token:bo  comment (revision 1): looks fine"),
        "{shown}"
    );
    assert!(shown.contains("  token:bo  approve (revision 1): lgtm"), "{shown}");

    let applied = ok_as(&app, &ana, &["change-requests", "apply", &id]).await;
    assert_eq!(field(&applied, "state"), "applied");
    assert_eq!(field(&applied, "settled_by"), "token:ana");
    let config = app
        .get("/api/v1/flags/f/environments/production")
        .await
        .expect(200)
        .body;
    assert_eq!(config["on"], true);

    // A whole config from a file; a rejection closes the request.
    let mut proposed = config.clone();
    proposed["fallthrough"] = json!({ "variation": 1 });
    let file = std::env::temp_dir().join(format!("daylight-cr-{}.json", std::process::id()));
    std::fs::write(&file, proposed.to_string()).unwrap();
    let opened = ok_as(
        &app,
        &ana,
        &[
            "change-requests",
            "open",
            "f",
            "--env",
            "production",
            "--config",
            file.to_str().unwrap(),
        ],
    )
    .await;
    std::fs::remove_file(&file).ok();
    let second = field(&opened, "id").to_owned();
    let stored = app
        .get(&format!("/api/v1/change-requests/{second}"))
        .await
        .expect(200)
        .body;
    assert_eq!(stored["config"]["fallthrough"], json!({ "variation": 1 }), "{stored}");
    // `--config -` reads the config from stdin.
    proposed["fallthrough"] = json!({ "variation": 0 });
    proposed["off_variation"] = json!(1);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_daylight"))
        .args(["change-requests", "open", "f", "--env", "production", "--config", "-"])
        .env("DAYLIGHT_URL", &app.url)
        .env("DAYLIGHT_TOKEN", &ana)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, proposed.to_string().as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success());
    let third = field(&String::from_utf8(out.stdout).unwrap(), "id").to_owned();
    let stored = app
        .get(&format!("/api/v1/change-requests/{third}"))
        .await
        .expect(200)
        .body;
    assert_eq!(stored["config"]["off_variation"], 1, "{stored}");
    ok_as(&app, &bo, &["change-requests", "reject", &third]).await;

    let rejected = ok_as(&app, &bo, &["change-requests", "reject", &second, "--comment", "no"]).await;
    assert_eq!(field(&rejected, "state"), "rejected");
    let open = ok(&app, &["change-requests", "list", "--state", "open"]).await;
    assert_eq!(open.lines().count(), 1, "only the header is left: {open}");
    let missing = daylight(&app, &["change-requests", "show", "99"]).await;
    assert_eq!(
        (missing.code, missing.stderr.as_str()),
        (1, "error: 404 change request 99 not found\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_and_release_change_requests_from_the_cli() {
    let app = spawn_app(Backend::Sqlite).await;
    ok(&app, &["flags", "create", "f"]).await;
    ok(&app, &["approvals", "set", "--env", "production", "1"]).await;
    let (ana, bo) = (app.editor_token("ana").await, app.editor_token("bo").await);

    // `--at`: applied by the server at that time if approved by then.
    let opened = ok_as(
        &app,
        &ana,
        &[
            "change-requests",
            "open",
            "f",
            "--env",
            "production",
            "--on",
            "--at",
            "2099-01-01T06:00:00Z",
        ],
    )
    .await;
    let id = field(&opened, "id").to_owned();
    assert_eq!(field(&opened, "apply_at"), "2099-01-01T06:00:00Z");
    let shown = ok(&app, &["change-requests", "show", &id]).await;
    assert!(
        shown.contains("\nscheduled: applies at 2099-01-01T06:00:00Z if approved by then\n"),
        "{shown}"
    );
    let past = daylight_as(
        &app,
        &ana,
        &["change-requests", "schedule", &id, "--at", "2001-01-01T00:00:00Z"],
    )
    .await;
    assert_eq!(past.code, 1);
    assert!(past.stderr.contains("apply_at"), "{}", past.stderr);
    ok_as(&app, &ana, &["change-requests", "schedule", &id, "--by-hand"]).await;
    let stored = app.get(&format!("/api/v1/change-requests/{id}")).await.expect(200).body;
    assert_eq!(stored["apply_at"], Value::Null, "{stored}");
    assert_eq!(stored["revision"], 2);
    assert_eq!(stored["config"]["on"], true, "the proposal stays: {stored}");

    // A release plan's start, proposed, approved by another, applied.
    let plan = app
        .post(
            "/api/v1/flags/f/environments/production/releases",
            json!({ "variation": 1, "stages": [{ "weight": 100000, "hold_seconds": 60 }] }),
        )
        .await
        .expect(201)
        .body["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let opened = ok_as(
        &app,
        &ana,
        &[
            "change-requests",
            "release",
            &plan,
            "start",
            "--env",
            "production",
            "--comment",
            "go",
        ],
    )
    .await;
    assert_eq!(field(&opened, "subject"), "release");
    assert_eq!(field(&opened, "key"), plan);
    let release = field(&opened, "id").to_owned();
    ok_as(&app, &bo, &["change-requests", "approve", &release]).await;
    let applied = ok_as(&app, &ana, &["change-requests", "apply", &release]).await;
    assert_eq!(field(&applied, "state"), "applied");
    let plan = app.get(&format!("/api/v1/releases/{plan}")).await.expect(200).body;
    assert_eq!(plan["state"], "running", "{plan}");
}
