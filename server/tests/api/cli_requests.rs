//! `daylight change-requests open` for a segment and an app's bundle, run
//! as a process on each backend: opened by one token, approved by another,
//! applied, and the segment or bundle changed.

use serde_json::{json, Value};

use crate::cli::{daylight_as, ok, ok_as};
use crate::harness::TestApp;

/// The value of a record's `name: value` line.
fn field(out: &str, name: &str) -> String {
    let prefix = format!("{name}: ");
    out.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no `{name}` in:\n{out}"))
        .to_owned()
}

fn id(out: &str) -> String {
    field(out, "id")
}

/// A temporary file holding `text`, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("daylight-cr-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        std::fs::remove_file(&self.0).ok();
    }
}

/// `change-requests open` in production as `ana`, proposing what `args`
/// say; the request's record.
async fn open(app: &TestApp, ana: &str, args: &[&str]) -> String {
    let mut all = vec!["change-requests", "open", "--env", "production"];
    all.extend_from_slice(args);
    ok_as(app, ana, &all).await
}

/// Bo approves request `id` and ana applies it; the applied record.
async fn approve_and_apply(app: &TestApp, (ana, bo): (&str, &str), id: &str) -> String {
    ok_as(app, bo, &["change-requests", "approve", id]).await;
    ok_as(app, ana, &["change-requests", "apply", id]).await
}

on_each_backend!(segment_and_bundle_change_requests_are_opened_from_the_cli, |app| {
    app.post("/api/v1/environments/production/segments", json!({ "key": "beta" }))
        .await
        .expect(201);
    app.post(
        "/api/v1/environments/production/apps/web/publish",
        json!({ "version": "1.0.0" }),
    )
    .await
    .expect(200);
    app.require_approvals("production", 1).await;
    let (ana, bo) = (app.editor_token("ana").await, app.editor_token("bo").await);
    let segment = "/api/v1/environments/production/segments/beta";
    let bundle = "/api/v1/environments/production/apps/web/bundle";

    // A segment's keys and rules from a YAML file.
    let rules = TempFile::new(
        "beta.yaml",
        "included: [u1, u2]\nexcluded: [u3]\nrules:\n  - id: dutch\n    clauses:\n      - {attribute: country, op: in, values: [NL]}\n",
    );
    let opened = open(
        &app,
        &ana,
        &[
            "--segment",
            "beta",
            "--config",
            rules.path(),
            "--comment",
            "beta testers",
        ],
    )
    .await;
    assert_eq!(field(&opened, "subject"), "segment");
    let first = id(&opened);
    // Not applied before the approval.
    assert_eq!(app.get(segment).await.expect(200).body["included"], json!([]));
    let applied = approve_and_apply(&app, (&ana, &bo), &first).await;
    assert_eq!(field(&applied, "state"), "applied");
    let now = app.get(segment).await.expect(200).body;
    assert_eq!(
        (&now["included"], &now["excluded"]),
        (&json!(["u1", "u2"]), &json!(["u3"])),
        "{now}"
    );
    assert_eq!(now["rules"][0]["clauses"][0]["values"], json!(["NL"]), "{now}");

    // The included keys replaced from a file of keys: the rest stays.
    let keys = TempFile::new("beta.txt", "u7\n\nu8\n");
    let opened = open(&app, &ana, &["--segment", "beta", "--included", keys.path()]).await;
    let second = id(&opened);
    approve_and_apply(&app, (&ana, &bo), &second).await;
    let now = app.get(segment).await.expect(200).body;
    assert_eq!(
        (&now["included"], &now["excluded"]),
        (&json!(["u7", "u8"]), &json!(["u3"])),
        "{now}"
    );
    assert_eq!(now["rules"].as_array().map(Vec::len), Some(1), "{now}");

    // A bundle: a canary publish, then the whole config from a JSON file.
    let opened = open(&app, &ana, &["--app", "web", "--publish", "1.1.0", "--canary", "10"]).await;
    assert_eq!(field(&opened, "subject"), "bundle");
    let third = id(&opened);
    assert_eq!(app.get(bundle).await.body["canary"], Value::Null);
    approve_and_apply(&app, (&ana, &bo), &third).await;
    let now = app.get(bundle).await.expect(200).body;
    assert_eq!(
        (&now["live"], &now["canary"]["version"]),
        (&json!("1.0.0"), &json!("1.1.0")),
        "{now}"
    );
    assert_eq!(now["canary"]["weight"], 10_000, "{now}");

    // The bundle config's own fields, without the canary: 1.1.0 live for everyone.
    let whole = json!({ "live": "1.1.0", "reload": now["reload"], "versions": now["versions"] });
    let config = TempFile::new("web.json", &whole.to_string());
    let opened = open(&app, &ana, &["--app", "web", "--config", config.path()]).await;
    let fourth = id(&opened);
    approve_and_apply(&app, (&ana, &bo), &fourth).await;
    let now = app.get(bundle).await.expect(200).body;
    assert_eq!((&now["live"], &now["canary"]), (&json!("1.1.0"), &Value::Null), "{now}");

    // Mixing subjects, or saying nothing to propose, is refused before any call.
    let mixed = daylight_as(
        &app,
        &ana,
        &[
            "change-requests",
            "open",
            "--segment",
            "beta",
            "--env",
            "production",
            "--publish",
            "2",
        ],
    )
    .await;
    assert_eq!(mixed.code, 1);
    assert!(mixed.stderr.contains("are for an app's bundle"), "{}", mixed.stderr);
    let nothing = daylight_as(
        &app,
        &ana,
        &["change-requests", "open", "--app", "web", "--env", "production"],
    )
    .await;
    assert_eq!(nothing.code, 1);
    assert!(nothing.stderr.contains("--publish VERSION"), "{}", nothing.stderr);
    let open = ok(&app, &["change-requests", "list", "--state", "open"]).await;
    assert_eq!(open.lines().count(), 1, "nothing left open: {open}");
});
