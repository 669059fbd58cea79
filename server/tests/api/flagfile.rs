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
