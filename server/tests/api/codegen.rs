//! `daylight codegen --lang ts|rust`: offline, stdout or `--out`, exit codes.
//! The generated text itself is checked by the golden tests in
//! `server/src/flagfile/codegen/tests.rs`.

use std::path::Path;
use std::process::Command;

/// Runs `daylight codegen ARGS` in `dir`: exit code, stdout, stderr.
fn codegen(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_daylight"))
        .arg("codegen")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run daylight");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn sample_dir() -> std::path::PathBuf {
    repo().join("server/tests/flagfile/codegen")
}

#[test]
fn prints_the_golden_modules() {
    for (lang, golden) in [
        ("rust", "sdk-rust/tests/codegen/flags.rs"),
        ("ts", "sdk-js/test/codegen/flags.ts"),
    ] {
        let (code, out, err) = codegen(&sample_dir(), &["--lang", lang, "flags.yaml"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, std::fs::read_to_string(repo().join(golden)).unwrap(), "{lang}");
    }
}

#[test]
fn writes_the_module_to_out() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("flags.ts");
    let target_s = target.to_str().unwrap();
    let (code, out, err) = codegen(&sample_dir(), &["--lang", "ts", "flags.yaml", "--out", target_s]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    let written = std::fs::read_to_string(&target).unwrap();
    assert_eq!(
        written,
        std::fs::read_to_string(repo().join("sdk-js/test/codegen/flags.ts")).unwrap()
    );
}

#[test]
fn invalid_files_exit_one_with_the_messages_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "version: 1\nflags:\n  - key: a\n    variations: [1, 2]\n    enviroments: {}\n",
    )
    .unwrap();
    let (code, out, err) = codegen(dir.path(), &["--lang", "rust", "bad.yaml", "--out", "flags.rs"]);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert!(err.starts_with("bad.yaml:"), "{err}");
    assert!(
        err.contains("flags[0].enviroments: unknown field `enviroments`"),
        "{err}"
    );
    assert!(!dir.path().join("flags.rs").exists());

    std::fs::write(
        dir.path().join("clash.yaml"),
        "version: 1\nflags:\n  - key: new-lobby\n    variations: [1, 2]\n  - key: newLobby\n    variations: [1, 2]\n",
    )
    .unwrap();
    let (code, out, err) = codegen(dir.path(), &["--lang", "ts", "clash.yaml"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(
        err.contains("flags `new-lobby` and `newLobby` both map to the getter `newLobby`; rename one"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_two() {
    let dir = sample_dir();
    assert_eq!(codegen(&dir, &["flags.yaml"]).0, 2, "--lang is required");
    assert_eq!(codegen(&dir, &["--lang", "go", "flags.yaml"]).0, 2);
    assert_eq!(codegen(&dir, &["--lang", "ts", "no-such-file.yaml"]).0, 2);
    assert_eq!(codegen(&dir, &["--lang", "ts"]).0, 2);
}
