//! `daylight validate`: offline (no server), exit codes and `--format json`.

use std::process::Command;

fn validate(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_daylight"))
        .arg("validate")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run daylight");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn valid_files_exit_zero() {
    let (code, out) = validate(&["tests/flagfile/valid"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 file(s) valid"), "{out}");
}

#[test]
fn invalid_files_exit_one_with_json_problems() {
    let (code, out) = validate(&["tests/flagfile/invalid/schema.yaml", "--format", "json"]);
    assert_eq!(code, 1);
    let problems: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(problems[0]["file"], "tests/flagfile/invalid/schema.yaml");
    assert_eq!(problems[0]["line"], 5);
    assert_eq!(problems[0]["path"], "flags[0].enviroments");
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(validate(&["tests/flagfile/no-such-file.yaml"]).0, 2);
    assert_eq!(validate(&[]).0, 2);
    assert_eq!(validate(&["tests/flagfile/valid", "--format", "xml"]).0, 2);
}

// ---- export, plan, apply against a running server ----

pub(crate) mod against_a_server {
    use std::path::PathBuf;

    use reqwest::Method;
    use serde_json::{json, Value};

    use crate::cli::{daylight, Run};
    use crate::harness::{TestApp, ADMIN};

    /// A server with two flags (one with targeting in production, owner
    /// and expiry) and a segment the targeting uses.
    pub(crate) async fn seeded(app: &TestApp) {
        app.post(
            "/api/v1/environments/production/segments",
            json!({ "key": "vip", "name": "VIPs", "included": ["u-1"] }),
        )
        .await
        .expect(201);
        app.create_flag(json!({
            "key": "new-lobby", "name": "New lobby", "description": "The lobby", "tags": ["lobby"],
            "owner": "team-lobby", "expires": "2099-03-31", "client_side": true
        }))
        .await;
        app.edit_config("new-lobby", "production", |c| {
            c["on"] = json!(true);
            c["rules"] = json!([{ "id": "vips", "clauses": [{ "attribute": "key", "op": "in_segment", "values": ["vip"] }],
                                  "serve": { "variation": 1 } }]);
            c["fallthrough"] = json!({ "rollout": { "variations": [
                { "variation": 0, "weight": 95000 }, { "variation": 1, "weight": 5000 } ] } });
        })
        .await
        .expect(200);
        app.create_flag(json!({ "key": "checkout", "variations": ["old", "new"] }))
            .await;
    }

    pub(crate) async fn run(app: &TestApp, args: &[&str]) -> Run {
        daylight(app, args).await
    }

    /// A new temp dir holding file `name` with `text`: the dir (the file
    /// lives as long as it) and the file.
    pub(crate) fn written(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        (dir, file)
    }

    /// A [`seeded`] server exported to `flags.yaml` in a new temp dir: the
    /// dir (the file lives as long as it) and the file.
    pub(crate) async fn exported(app: &TestApp) -> (tempfile::TempDir, PathBuf) {
        seeded(app).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("flags.yaml");
        let exported = run(app, &["export", "--out", file.to_str().unwrap()]).await;
        assert_eq!(exported.code, 0, "{}", exported.stderr);
        (dir, file)
    }

    /// `daylight plan FILE --env ENV`.
    pub(crate) async fn daylight_plan(app: &TestApp, file: &str, env: &str) -> Run {
        run(app, &["plan", file, "--env", env]).await
    }

    /// `daylight apply FILE --env ENV --reason REASON`.
    pub(crate) async fn daylight_apply(app: &TestApp, file: &str, env: &str, reason: &str) -> Run {
        run(app, &["apply", file, "--env", env, "--reason", reason]).await
    }

    /// Edits a YAML file as JSON.
    pub(crate) fn edit_yaml(path: &std::path::Path, edit: impl FnOnce(&mut Value)) {
        let mut doc: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        edit(&mut doc);
        std::fs::write(path, serde_yaml_ng::to_string(&doc).unwrap()).unwrap();
    }

    pub(crate) fn flag_index(doc: &Value, key: &str) -> usize {
        doc["flags"]
            .as_array()
            .unwrap()
            .iter()
            .position(|f| f["key"] == key)
            .unwrap()
    }

    async fn patch_flag(app: &TestApp, key: &str, body: Value) {
        let path = format!("/api/v1/flags/{key}");
        let etag = app.get(&path).await.expect(200).etag();
        app.request(Method::PATCH, &path, Some(ADMIN), Some(body), &[("if-match", &etag)])
            .await
            .expect(200);
    }

    on_each_backend!(owner_and_expiry_are_stored_and_checked, |app| {
        let created = app
            .create_flag(json!({ "key": "f", "owner": "team-a", "expires": "2027-03-31" }))
            .await;
        assert_eq!(created["owner"], "team-a");
        assert_eq!(created["expires"], "2027-03-31");
        patch_flag(&app, "f", json!({ "owner": "team-b", "expires": "" })).await;
        let read = app.get("/api/v1/flags/f").await.expect(200).body;
        assert_eq!(read["owner"], "team-b");
        assert_eq!(read["expires"], Value::Null);
        app.post("/api/v1/flags", json!({ "key": "g", "expires": "31/03/2027" }))
            .await
            .expect_field_error(400, "expires");
    });

    on_each_backend!(export_validates_and_applies_as_a_no_op, |app| {
        let (dir, file) = exported(&app).await;
        let file_s = file.to_str().unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("owner: team-lobby"), "{text}");
        assert!(text.contains("expires: 2099-03-31"), "{text}");
        assert!(!text.contains("version: 2"), "config versions are the server's: {text}");

        let valid = run(&app, &["validate", file_s]).await;
        assert_eq!(valid.code, 0, "{}", valid.stdout);

        let before = app.history().await;
        let plan = daylight_plan(&app, file_s, "production").await;
        assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
        assert!(
            plan.stdout
                .contains("Plan for `production`: 0 to create, 0 to change, 0 drifted, 3 unchanged."),
            "{}",
            plan.stdout
        );
        let applied = daylight_apply(&app, file_s, "production", "r1").await;
        assert_eq!(applied.code, 0, "{}", applied.stderr);
        assert!(applied.stdout.contains("Nothing to apply."), "{}", applied.stdout);
        assert_eq!(
            app.history().await,
            before,
            "a no-op apply writes no audit or change-log row"
        );

        // JSON export reads back as the same model.
        let json_file = dir.path().join("flags.json");
        let exported = run(
            &app,
            &["export", "--format", "json", "--out", json_file.to_str().unwrap()],
        )
        .await;
        assert_eq!(exported.code, 0, "{}", exported.stderr);
        let plan = run(
            &app,
            &[
                "plan",
                json_file.to_str().unwrap(),
                "--env",
                "staging",
                "--format",
                "json",
            ],
        )
        .await;
        assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
        let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
        assert!(plan["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["action"] == "unchanged"));
    });

    on_each_backend!(a_changed_default_is_planned_applied_and_then_settled, |app| {
        let (_dir, file) = exported(&app).await;
        let file_s = file.to_str().unwrap();
        edit_yaml(&file, |doc| {
            let i = flag_index(doc, "checkout");
            doc["flags"][i]["environments"]["production"]["off_variation"] = json!(1);
            // Console-owned once edited: a rule here is not the file's.
            let j = flag_index(doc, "new-lobby");
            doc["flags"][j]["environments"]["production"]["rules"] = json!([]);
        });
        let plan = daylight_plan(&app, file_s, "production").await;
        assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
        assert!(
            plan.stdout.contains("~ flag checkout: change (version 1)"),
            "{}",
            plan.stdout
        );
        assert!(
            plan.stdout.contains("    environments.production.off_variation: 0 → 1"),
            "{}",
            plan.stdout
        );
        assert!(
            !plan.stdout.contains("new-lobby"),
            "targeting is the console's: {}",
            plan.stdout
        );

        let (audit_before, _) = app.history().await;
        let applied = run(
            &app,
            &["apply", file_s, "--env", "production", "--reason", "commit abc123"],
        )
        .await;
        assert_eq!(applied.code, 0, "{}", applied.stderr);
        let flag = app.get("/api/v1/flags/checkout").await.expect(200).body;
        assert_eq!(flag["environments"]["production"]["off_variation"], 1);
        let lobby = app.get("/api/v1/flags/new-lobby").await.expect(200).body;
        assert_eq!(
            lobby["environments"]["production"]["rules"].as_array().unwrap().len(),
            1
        );
        let audit = app.get("/api/v1/audit?limit=1000").await.expect(200).body;
        let entries = audit["entries"].as_array().unwrap();
        assert_eq!(entries.len(), audit_before + 1, "one audit entry per change");
        assert_eq!(entries[0]["resource_key"], "checkout");
        assert_eq!(entries[0]["comment"], "commit abc123");
        assert!(entries[0]["actor"].as_str().is_some_and(|a| !a.is_empty()));

        let again = daylight_plan(&app, file_s, "production").await;
        assert_eq!(again.code, 0, "{}", again.stdout);
    });

    on_each_backend!(an_edit_in_the_console_after_an_apply_is_drift, |app| {
        let (_dir, file) = exported(&app).await;
        let file_s = file.to_str().unwrap();
        assert_eq!(daylight_apply(&app, file_s, "production", "baseline").await.code, 0);
        // The file's description, edited in the console.
        patch_flag(&app, "checkout", json!({ "description": "edited by hand" })).await;
        // Targeting edited in the console is not drift: the console owns it.
        app.toggle("new-lobby", "production", false).await.expect(200);

        let plan = run(&app, &["plan", file_s, "--env", "production", "--format", "json"]).await;
        assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
        let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
        let items = plan["items"].as_array().unwrap();
        let checkout = items.iter().find(|i| i["key"] == "checkout").unwrap();
        assert_eq!(checkout["action"], "drift");
        assert_eq!(
            checkout["changes"],
            json!([{ "path": "description", "old": "edited by hand", "new": "" }])
        );
        let lobby = items.iter().find(|i| i["key"] == "new-lobby").unwrap();
        assert_eq!(lobby["action"], "unchanged");

        let text = daylight_plan(&app, file_s, "production").await;
        assert!(text.stdout.contains("! flag checkout: drift"), "{}", text.stdout);
    });

    on_each_backend!(a_stale_plan_is_refused_and_nothing_is_applied, |app| {
        let (dir, file) = exported(&app).await;
        let file_s = file.to_str().unwrap();
        edit_yaml(&file, |doc| {
            let i = flag_index(doc, "checkout");
            doc["flags"][i]["description"] = json!("from the file");
            let j = flag_index(doc, "new-lobby");
            doc["flags"][j]["description"] = json!("from the file");
        });
        let plan_file = dir.path().join("plan.json");
        let plan_s = plan_file.to_str().unwrap();
        let plan = run(&app, &["plan", file_s, "--env", "production", "--out", plan_s]).await;
        assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
        // The second flag of the plan changes meanwhile (in key order:
        // checkout, then new-lobby).
        app.toggle("new-lobby", "staging", true).await.expect(200);
        let before = app.history().await;

        let apply_plan = [
            "apply",
            file_s,
            "--env",
            "production",
            "--plan",
            plan_s,
            "--reason",
            "r",
        ];
        let applied = run(&app, &apply_plan).await;
        assert_eq!(applied.code, 1, "{}", applied.stdout);
        assert!(applied.stderr.contains("nothing was applied"), "{}", applied.stderr);
        assert!(
            applied.stderr.contains("flag `new-lobby` changed on the server"),
            "{}",
            applied.stderr
        );
        assert!(!applied.stderr.contains("flag `checkout`"), "{}", applied.stderr);
        assert_eq!(app.history().await, before, "no audit or change-log row");
        for key in ["checkout", "new-lobby"] {
            let flag = app.get(&format!("/api/v1/flags/{key}")).await.expect(200).body;
            assert_ne!(flag["description"], "from the file", "{key} was applied");
        }

        // A plan of files edited since is refused too.
        edit_yaml(&file, |doc| doc["flags"][0]["description"] = json!("later"));
        let applied = run(&app, &apply_plan).await;
        assert_eq!(applied.code, 1);
        assert!(
            applied.stderr.contains("the files changed since the plan"),
            "{}",
            applied.stderr
        );
    });

    on_each_backend!(a_new_flag_and_the_segment_it_uses_are_created_together, |app| {
        let (_dir, file) = written(
            "flags.yaml",
            "version: 1\n\
             flags:\n  - key: beta-ui\n    owner: team-ui\n    variations: [false, true]\n    environments:\n      \
             production:\n        off_variation: 0\n        rules:\n          - id: testers\n            clauses: \
             [{ attribute: key, op: in_segment, values: [testers] }]\n            serve: { variation: 1 }\n        \
             fallthrough: { variation: 0 }\n\
             segments:\n  - key: testers\n    environments:\n      production:\n        included: [u-7]\n",
        );
        let file_s = file.to_str().unwrap();
        let plan = daylight_plan(&app, file_s, "production").await;
        assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
        assert!(plan.stdout.contains("+ flag beta-ui: create"), "{}", plan.stdout);
        assert!(plan.stdout.contains("+ segment testers: create"), "{}", plan.stdout);
        let applied = daylight_apply(&app, file_s, "production", "new").await;
        assert_eq!(applied.code, 0, "{}", applied.stderr);
        let flag = app.get("/api/v1/flags/beta-ui").await.expect(200).body;
        assert_eq!(flag["owner"], "team-ui");
        assert_eq!(flag["environments"]["production"]["rules"][0]["id"], "testers");
        assert_eq!(flag["environments"]["production"]["on"], false, "a new flag ships dark");
        app.get("/api/v1/environments/production/segments/testers")
            .await
            .expect(200);
        assert_eq!(daylight_plan(&app, file_s, "production").await.code, 0);
    });

    on_each_backend!(
        a_file_that_manages_targeting_owns_it_and_other_writes_are_refused,
        |app| {
            let (_dir, file) = written(
                "lobby.yaml",
                "version: 1\n\
             flags:\n  - key: new-lobby\n    variations: [false, true]\n    manage:\n      production: [targeting]\n    \
             environments:\n      production: { on: true, off_variation: 0, fallthrough: { variation: 1 } }\n",
            );
            let file_s = file.to_str().unwrap();
            let applied = daylight_apply(&app, file_s, "production", "r").await;
            assert_eq!(applied.code, 0, "{}", applied.stderr);
            let flag = app.get("/api/v1/flags/new-lobby").await.expect(200).body;
            assert_eq!(flag["managed_by"]["production"]["file"], file_s);
            assert_eq!(flag["managed_by"]["production"]["parts"], json!(["targeting"]));
            assert!(flag["managed_by"].get("staging").is_none(), "{flag}");
            let version = flag["version"].clone();

            // Console and API writes to what the file manages are refused,
            // naming the file and the field; nothing is written.
            let refused = app
                .edit_config("new-lobby", "production", |c| {
                    c["rules"] = json!([{ "id": "r",
                "clauses": [{ "attribute": "country", "op": "in", "values": ["AU"] }], "serve": { "variation": 0 } }])
                })
                .await
                .expect_field_error(409, "environments.production.rules");
            assert_eq!(refused.body["error"], "owned_by_file");
            assert!(
                refused.body["message"].as_str().unwrap().contains(file_s),
                "{}",
                refused.body
            );
            let promote = app
                .post(
                    "/api/v1/environments/staging/promote/plan",
                    json!({ "from": "production", "flags": ["new-lobby"], "parts": ["fallthrough"] }),
                )
                .await
                .expect(200);
            assert_eq!(promote.body["plan"]["items"][0]["action"], "change", "{}", promote.body);
            let from_staging = app
                .post(
                    "/api/v1/environments/production/promote/plan",
                    json!({ "from": "staging", "flags": ["new-lobby"], "parts": ["fallthrough"] }),
                )
                .await
                .expect(200)
                .body;
            let mut body = json!({ "from": "staging", "flags": ["new-lobby"], "parts": ["fallthrough"] });
            body["plan"] = json!(from_staging["plan"]["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| json!({ "kind": i["kind"], "key": i["key"], "action": i["action"], "version": i["version"] }))
                .collect::<Vec<_>>());
            app.post("/api/v1/environments/production/promote/apply", body)
                .await
                .expect_field_error(409, "environments.production.fallthrough");
            assert_eq!(
                app.get("/api/v1/flags/new-lobby").await.expect(200).body["version"],
                version
            );

            // The kill switch still works; the next apply turns it back on.
            app.toggle("new-lobby", "production", false).await.expect(200);
            app.toggle("new-lobby", "production", true)
                .await
                .expect_field_error(409, "environments.production.on");
            // Other environments are the console's.
            app.toggle("new-lobby", "staging", true).await.expect(200);
            let applied = daylight_apply(&app, file_s, "production", "r2").await;
            assert_eq!(applied.code, 0, "{}", applied.stderr);
            let config = app
                .get("/api/v1/flags/new-lobby/environments/production")
                .await
                .expect(200)
                .body;
            assert_eq!(config["on"], true);

            // A file that stops managing it gives it back to the console.
            edit_yaml(&file, |doc| {
                doc["flags"][0].as_object_mut().unwrap().remove("manage");
            });
            let applied = daylight_apply(&app, file_s, "production", "r3").await;
            assert_eq!(applied.code, 0, "{}", applied.stderr);
            let flag = app.get("/api/v1/flags/new-lobby").await.expect(200).body;
            assert!(flag.get("managed_by").is_none(), "{flag}");
            app.toggle("new-lobby", "production", false).await.expect(200);
        }
    );
}
