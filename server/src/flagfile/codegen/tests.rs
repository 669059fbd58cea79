//! Golden files: the sample `server/tests/flagfile/codegen/flags.yaml`
//! generated as TypeScript (`sdk-js/test/codegen/flags.ts`, type-checked and
//! run by the JS SDK's tests) and Rust (`sdk-rust/tests/codegen/flags.rs`,
//! compiled and run by the Rust SDK's tests). Regenerate them with
//! `UPDATE_GOLDEN=1 cargo test -p daylight-server --lib flagfile::codegen`.

use std::path::{Path, PathBuf};

use super::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn today() -> jiff::civil::Date {
    jiff::civil::date(2026, 12, 6)
}

fn sample() -> Vec<Source> {
    let text = std::fs::read_to_string(root().join("server/tests/flagfile/codegen/flags.yaml")).unwrap();
    vec![Source {
        name: "flags.yaml".to_owned(),
        text,
    }]
}

fn source(text: &str) -> Vec<Source> {
    vec![Source {
        name: "f.yaml".to_owned(),
        text: text.to_owned(),
    }]
}

fn check_golden(lang: Lang, path: &str) {
    let got = generate(lang, &sample(), today()).unwrap();
    let path = root().join(path);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        golden == got,
        "{} is stale: run UPDATE_GOLDEN=1 cargo test -p daylight-server --lib flagfile::codegen",
        path.display()
    );
}

#[test]
fn the_typescript_sample_matches_the_golden_file() {
    check_golden(Lang::Ts, "sdk-js/test/codegen/flags.ts");
}

#[test]
fn the_rust_sample_matches_the_golden_file() {
    check_golden(Lang::Rust, "sdk-rust/tests/codegen/flags.rs");
}

#[test]
fn output_does_not_depend_on_the_order_of_flags_or_files() {
    let a = "version: 1\nflags:\n  - key: b\n    variations: [1, 2]\n";
    let b = "version: 1\nflags:\n  - key: a\n    variations: [x, y]\n";
    let one = |first: &str, second: &str| {
        let sources = vec![
            Source {
                name: "f.yaml".into(),
                text: first.into(),
            },
            Source {
                name: "f.yaml".into(),
                text: second.into(),
            },
        ];
        generate(Lang::Rust, &sources, today()).unwrap()
    };
    assert_eq!(one(a, b), one(b, a));
    let text = one(a, b);
    assert!(text.find("FlagKey::A =>").unwrap() < text.find("FlagKey::B =>").unwrap());
}

#[test]
fn the_default_is_the_shared_off_variation_or_the_callers() {
    let flags = specs(&sample(), today()).unwrap();
    let default = |key: &str| flags.iter().find(|f| f.key == key).unwrap().default.clone();
    assert_eq!(default("new-lobby"), Some(serde_json::json!(false)));
    // No environment: what a new flag serves while dark, variation 0.
    assert_eq!(default("type"), Some(serde_json::json!("classic")));
    // Production and staging disagree: the caller passes it.
    assert_eq!(default("table-limit"), None);
    let ts = generate(Lang::Ts, &sample(), today()).unwrap();
    assert!(ts.contains(
        "tableLimit(context: Context, defaultValue: FlagValues[\"table-limit\"]): FlagValues[\"table-limit\"];"
    ));
    assert!(
        ts.contains("newLobby(context: Context, defaultValue?: FlagValues[\"new-lobby\"]): FlagValues[\"new-lobby\"];")
    );
    let rust = generate(Lang::Rust, &sample(), today()).unwrap();
    assert!(rust.contains("pub fn table_limit(&self, ctx: &daylight::Context, default: f64) -> f64 {"));
    assert!(rust.contains("pub fn new_lobby(&self, ctx: &daylight::Context) -> bool {"));
}

#[test]
fn invalid_files_give_validates_messages_and_no_output() {
    let err = generate(
        Lang::Ts,
        &source("version: 1\nflags:\n  - key: a\n    variations: [1, \"x\"]\n    environments: { production: { fallthrough: { variation: 0 } } }\n"),
        today(),
    )
    .unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert!(err.0[0].starts_with("f.yaml:3: flags[0].variations"), "{err}");
    // With no environment the evaluator never saw the variations; codegen
    // checks their type itself.
    let err = generate(
        Lang::Rust,
        &source("version: 1\nflags:\n  - key: a\n    variations: [1, \"x\"]\n"),
        today(),
    )
    .unwrap_err();
    assert_eq!(
        err.0,
        ["flag `a`: variations must be two or more values of one type (boolean, string, number or object)"]
    );
    let expired = "version: 1\nflags:\n  - key: a\n    expires: 2026-12-05\n    variations: [1, 2]\n";
    let err = generate(Lang::Rust, &source(expired), today()).unwrap_err();
    assert_eq!(err.0, ["f.yaml:3: flags[0].expires: the flag expired on 2026-12-05"]);
}

#[test]
fn keys_that_map_to_one_name_are_an_error_naming_both() {
    let text =
        "version: 1\nflags:\n  - key: new-lobby\n    variations: [1, 2]\n  - key: new_lobby\n    variations: [1, 2]\n";
    let err = generate(Lang::Ts, &source(text), today()).unwrap_err();
    assert_eq!(
        err.0,
        ["flags `new-lobby` and `new_lobby` both map to the getter `newLobby`; rename one"]
    );
    let err = generate(Lang::Rust, &source(text), today()).unwrap_err();
    assert_eq!(
        err.0,
        [
            "flags `new-lobby` and `new_lobby` both map to the method `new_lobby`; rename one",
            "flags `new-lobby` and `new_lobby` both map to the `FlagKey` variant `NewLobby`; rename one",
        ]
    );
    // A string flag's enum may not shadow the module's own types.
    let text = "version: 1\nflags:\n  - key: flags\n    variations: [a, b]\n";
    let err = generate(Lang::Rust, &source(text), today()).unwrap_err();
    assert_eq!(
        err.0,
        ["flag `flags` maps to the type `Flags`, which the module declares itself; rename the flag"]
    );
}

#[test]
fn rust_names_avoid_keywords() {
    let rust = generate(Lang::Rust, &sample(), today()).unwrap();
    assert!(rust.contains("pub fn r#type(&self, ctx: &daylight::Context) -> Type {"));
    let text = "version: 1\nflags:\n  - key: self\n    variations: [true, false]\n";
    let rust = generate(Lang::Rust, &source(text), today()).unwrap();
    assert!(rust.contains("pub fn self_(&self"), "{rust}");
    assert!(rust.contains("    Self_,\n"), "{rust}");
}
