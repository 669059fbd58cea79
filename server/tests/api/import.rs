//! `daylight import --from unleash|flagd`: the dry-run report, apply on each
//! backend (a second import plans nothing), and the translation compared
//! with Unleash's own engine (`unleash-yggdrasil`) on generated contexts.
//! flagd's side is compared with `@openfeature/flagd-core` by
//! `tests/ofrep-node/test/flagd-import.test.js`.

use std::collections::HashMap;
use std::process::Command;

use daylight::{Context, Ruleset, RulesetDocument};
use daylight_server::flagfile::import::{import, Fidelity, Imported, Tool};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};
use unleash_yggdrasil::{Context as UnleashContext, EngineState, UpdateMessage};

/// A 350-flag Unleash export (the pattern the peer benchmarks use: default,
/// a game constraint, 100 user ids, a 50% rollout, a 50/50 variant split).
const UNLEASH_350: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/import/unleash-features-350.json");
/// Every strategy, operator and variant form the translation knows.
const UNLEASH_RICH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/import/unleash-features.json");
const FLAGD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/import/flagd-flags.json");

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_daylight"))
        .args(args)
        .output()
        .expect("run daylight");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn translated(tool: Tool, path: &str) -> (String, Imported) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let imported = import(tool, &text, "production").expect("the file translates");
    (text, imported)
}

fn fidelity(imported: &Imported, key: &str) -> Fidelity {
    imported
        .report
        .flag(key)
        .unwrap_or_else(|| panic!("{key} reported"))
        .result
}

#[test]
fn the_350_flag_unleash_export_is_reported_offline() {
    let (code, out, err) = cli(&["import", "--from", "unleash", UNLEASH_350, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let out: Value = serde_json::from_str(&out).unwrap();
    let report = &out["report"];
    // 70 each of: default, game constraint, userWithId (exact); 50% rollout,
    // a 50/50 variant split (approximate).
    assert_eq!(
        (report["exact"].as_u64(), report["approximate"].as_u64()),
        (Some(210), Some(140))
    );
    assert_eq!(report["unmapped"], 0);
    assert_eq!(report["flags"].as_array().unwrap().len(), 350);
    let rollout = report["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "rollout-50")
        .unwrap();
    assert_eq!(rollout["result"], "approximate");
    assert!(
        rollout["notes"][0]
            .as_str()
            .unwrap()
            .contains("same share, different contexts"),
        "{rollout}"
    );
    assert_eq!(out["plan"], Value::Null, "no --env, no server asked");
}

#[test]
fn the_translated_files_validate_and_name_what_does_not_map() {
    let dir = tempfile::tempdir().unwrap();
    for (tool, path, counts) in [
        (
            "unleash",
            UNLEASH_RICH,
            "18 exact, 6 approximate, 2 unmapped (26 flags)",
        ),
        ("flagd", FLAGD, "11 exact, 6 approximate, 2 unmapped (19 flags)"),
    ] {
        let out = dir.path().join(format!("{tool}.yaml"));
        let (code, text, err) = cli(&["import", "--from", tool, path, "--out", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        assert!(text.contains(&format!("into `production`: {counts}")), "{text}");
        let (code, valid, _) = cli(&["validate", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{valid}");
        let written = std::fs::read_to_string(&out).unwrap();
        assert!(written.contains("production:"), "{written}");
        assert!(
            !written.contains("version: 0"),
            "no config versions in a file: {written}"
        );
    }
    let (_, text, _) = cli(&["import", "--from", "unleash", UNLEASH_RICH]);
    assert!(
        text.contains("x flag custom-strategy: unmapped\n    strategy 1 (`myCustomStrategy`)"),
        "{text}"
    );
    let (_, text, _) = cli(&["import", "--from", "flagd", FLAGD]);
    assert!(
        text.contains("x flag caret-unmapped: unmapped\n    `sem_ver` operator `^` does not map"),
        "{text}"
    );
}

#[test]
fn bad_input_is_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"features": [{"enabled": true}]}"#).unwrap();
    let (code, _, err) = cli(&["import", "--from", "unleash", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("not an Unleash feature export") && err.contains("name"),
        "{err}"
    );
    let (code, _, err) = cli(&["import", "--from", "flagd", UNLEASH_350]);
    assert_eq!(code, 1);
    assert!(err.contains("not a flagd flag definitions file"), "{err}");
    let (code, _, _) = cli(&["import", "--from", "unleash", "/no/such/file.json"]);
    assert_eq!(code, 1);
    // --apply needs --env and --reason (a usage error).
    let (code, _, err) = cli(&[
        "import",
        "--from",
        "unleash",
        UNLEASH_350,
        "--apply",
        "--env",
        "production",
    ]);
    assert_eq!(code, 2, "{err}");
}

// ---- against a server, on each backend ----

mod against_a_server {
    use serde_json::Value;

    use super::UNLEASH_350;
    use crate::cli::{daylight, Run};
    use crate::harness::TestApp;

    /// `daylight import` of the 350-flag export into production: the plan,
    /// or with a reason, the apply.
    async fn import_350(app: &TestApp, apply_with_reason: Option<&str>) -> Run {
        let mut args = vec!["import", "--from", "unleash", UNLEASH_350, "--env", "production"];
        if let Some(reason) = apply_with_reason {
            args.extend(["--apply", "--reason", reason]);
        }
        daylight(app, &args).await
    }

    async fn history(app: &TestApp) -> (usize, Value) {
        let audit = app.get("/api/v1/audit?limit=1000").await.expect(200).body;
        let envs = app.get("/api/v1/environments").await.expect(200).body;
        (audit["entries"].as_array().unwrap().len(), envs)
    }

    on_each_backend!(the_350_flag_export_applies_once_and_then_plans_nothing, |app| {
        let dry = import_350(&app, None).await;
        assert_eq!(dry.code, 2, "changes pending: {}{}", dry.stdout, dry.stderr);
        assert!(
            dry.stdout.contains("210 exact, 140 approximate, 0 unmapped"),
            "{}",
            dry.stdout
        );
        assert!(
            dry.stdout
                .contains("Plan for `production`: 350 to create, 0 to change, 0 drifted, 0 unchanged."),
            "{}",
            dry.stdout
        );
        let applied = import_350(&app, Some("from unleash")).await;
        assert_eq!(applied.code, 0, "{}", applied.stderr);
        assert!(applied.stdout.contains("Applied."), "{}", applied.stdout);
        let flag = app.get("/api/v1/flags/game-constraint").await.expect(200).body;
        let production = &flag["environments"]["production"];
        assert_eq!(production["on"], true);
        assert_eq!(
            production["rules"][0]["clauses"][0]["values"],
            serde_json::json!(["omaha", "holdem"])
        );
        let audit = app.get("/api/v1/audit?limit=5").await.expect(200).body;
        assert_eq!(audit["entries"][0]["comment"], "from unleash", "{audit}");

        // Idempotent: a second import plans nothing and writes nothing.
        let before = history(&app).await;
        let again = import_350(&app, None).await;
        assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
        assert!(
            again
                .stdout
                .contains("Plan for `production`: 0 to create, 0 to change, 0 drifted, 350 unchanged."),
            "{}",
            again.stdout
        );
        let reapplied = import_350(&app, Some("again")).await;
        assert_eq!(reapplied.code, 0, "{}", reapplied.stderr);
        assert!(reapplied.stdout.contains("Nothing to apply."), "{}", reapplied.stdout);
        assert_eq!(history(&app).await, before, "no audit entry, no change-log row");
    });
}

// ---- the same answers as Unleash's engine ----

/// A context both engines read: Unleash's (every property a string) and
/// Daylight's (numbers as JSON numbers, as an app sends them).
struct Both {
    unleash: UnleashContext,
    daylight: Context,
    shown: Value,
}

fn pick<'a>(rng: &mut StdRng, options: &[&'a str]) -> Option<&'a str> {
    let i = rng.random_range(0..=options.len());
    options.get(i).copied()
}

fn generated(rng: &mut StdRng) -> Both {
    let mut props: HashMap<String, String> = HashMap::new();
    let mut ours = Map::new();
    let user = (rng.random_range(0..10) > 0).then(|| format!("u-{}", rng.random_range(0..40)));
    if let Some(user) = &user {
        ours.insert("key".into(), json!(user));
    }
    let strings: [(&str, &[&str]); 7] = [
        ("game", &["omaha", "holdem", "Omaha", "blackjack"]),
        ("country", &["AU", "NZ", "US", "DE"]),
        (
            "email",
            &[
                "a@example.com",
                "Tester@Example.com",
                "beta-1@foo.org",
                "beta-2@foo.com",
                "x@tester.net",
            ],
        ),
        (
            "appVersion",
            &["1.0.0", "1.2.0", "1.2.1", "1.10.3", "2.0.0", "2.0.0-rc.1", "2.1.0"],
        ),
        (
            "signupDate",
            &["2023-06-01T00:00:00Z", "2024-06-01T12:30:00Z", "2024-01-01T00:00:00Z"],
        ),
        ("tier", &["gold", "silver"]),
        ("table", &["t-1", "t-2", "t-3", "t-4"]),
    ];
    for (name, options) in strings {
        if let Some(v) = pick(rng, options) {
            props.insert(name.into(), v.into());
            ours.insert(name.into(), json!(v));
        }
    }
    for (name, range) in [("age", 10..30), ("level", 0..10)] {
        if rng.random_range(0..5) > 0 {
            let n: i64 = rng.random_range(range);
            props.insert(name.into(), n.to_string());
            ours.insert(name.into(), json!(n));
        }
    }
    let remote = pick(rng, &["10.1.2.3", "10.1.2.4", "10.9.9.9"]).map(str::to_owned);
    if let Some(ip) = &remote {
        ours.insert("remoteAddress".into(), json!(ip));
    }
    let shown = Value::Object(ours);
    Both {
        unleash: UnleashContext {
            user_id: user,
            remote_address: remote,
            properties: Some(props),
            ..Default::default()
        },
        daylight: Context::from_json(&shown).expect("a valid context"),
        shown,
    }
}

/// Compiles the translated file's `production` configs.
fn ruleset(imported: &Imported) -> Ruleset {
    let mut doc = RulesetDocument::default();
    for flag in &imported.file.flags {
        let rules = flag.to_flag().rules_for("production").expect("a production config");
        doc.flags.insert(flag.key.clone(), rules);
    }
    Ruleset::compile(&doc).expect("the translation compiles")
}

/// Daylight's answer as Unleash states it: on/off and the variant name.
fn daylight_answer(rules: &Ruleset, key: &str, ctx: &Context) -> (bool, Option<String>) {
    let detail = rules.evaluate(key, ctx);
    match detail.value {
        Some(Value::Bool(on)) => (*on, None),
        Some(Value::String(name)) => (name != "disabled", Some(name.clone())),
        other => panic!("{key}: unexpected value {other:?}"),
    }
}

fn compare_with_yggdrasil(path: &str, contexts: usize) -> (usize, Vec<String>) {
    let (text, imported) = translated(Tool::Unleash, path);
    let engine = EngineState::default();
    let message: UpdateMessage = serde_json::from_str(&text).expect("yggdrasil reads the export");
    engine.take_state(message);
    let rules = ruleset(&imported);
    let mut rng = StdRng::seed_from_u64(350);
    let contexts: Vec<Both> = (0..contexts).map(|_| generated(&mut rng)).collect();
    let mut exact = 0;
    let mut approximate = Vec::new();
    for flag in &imported.file.flags {
        let key = flag.key.as_str();
        let with_variants = flag.variations[0].is_string();
        let mut differ = 0;
        for ctx in &contexts {
            let on = engine.is_enabled(key, &ctx.unleash, &None);
            let variant = with_variants.then(|| engine.get_variant(key, &ctx.unleash, &None).name);
            let theirs = (on, variant);
            let ours = daylight_answer(&rules, key, &ctx.daylight);
            if ours != theirs {
                differ += 1;
                assert_ne!(
                    fidelity(&imported, key),
                    Fidelity::Exact,
                    "{key} is reported exact but for {} Unleash says {theirs:?}, Daylight {ours:?}",
                    ctx.shown
                );
            }
        }
        match fidelity(&imported, key) {
            Fidelity::Exact => exact += 1,
            _ => approximate.push(format!("{key}: {differ} of {} contexts differ", contexts.len())),
        }
    }
    (exact, approximate)
}

#[test]
fn exact_unleash_flags_answer_as_yggdrasil_does() {
    let (exact, approximate) = compare_with_yggdrasil(UNLEASH_RICH, 400);
    assert_eq!(exact, 18);
    println!("approximate flags of {UNLEASH_RICH}:\n  {}", approximate.join("\n  "));
    let (exact, approximate) = compare_with_yggdrasil(UNLEASH_350, 300);
    assert_eq!(exact, 210);
    assert_eq!(approximate.len(), 140);
    println!(
        "approximate flags of the 350-flag export (first 4):\n  {}",
        approximate[..4].join("\n  ")
    );
}

#[test]
fn a_50_percent_rollout_keeps_its_share() {
    // Approximate means "same share, different contexts": check the share.
    let (_, imported) = translated(Tool::Unleash, UNLEASH_350);
    let rules = ruleset(&imported);
    let on = (0..10_000)
        .filter(|i| rules.bool_variation("rollout-50", &Context::new(format!("user-{i}")), false))
        .count();
    assert!((4_700..5_300).contains(&on), "{on} of 10000 in a 50% rollout");
}
