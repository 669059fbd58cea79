//! What a ruleset of large `matches` patterns costs in memory: builds an
//! environment of `RULES` rules of one pattern, either in one flag or one
//! rule per flag, compiles it as the server and the Rust SDK do, and prints
//! the outcome and the resident memory before and after.
//!
//! ```sh
//! cargo run -p daylight-sdk --no-default-features --example regex_memory -- '.{5000}' 150 one-flag
//! cargo run -p daylight-sdk --no-default-features --example regex_memory -- '.{650}' 150 flag-per-rule
//! ```
//!
//! Linux only (reads `/proc/self/status`).

use daylight::{Ruleset, RulesetDocument};
use serde_json::{json, Map, Value};

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmRSS in kB");
    kib / 1024.0
}

fn flag(rules: usize, pattern: &str) -> Value {
    let rules: Vec<Value> = (0..rules)
        .map(|i| json!({"id": format!("r{i}"), "clauses": [{"attribute": "a", "op": "matches", "values": [pattern]}], "serve": {"variation": 1}}))
        .collect();
    json!({"variations": [false, true], "on": true, "off_variation": 0, "rules": rules, "fallthrough": {"variation": 0}})
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [pattern, rules, layout] = &args[..] else {
        eprintln!("usage: regex_memory PATTERN RULES one-flag|flag-per-rule");
        std::process::exit(2);
    };
    let rules: usize = rules.parse().expect("RULES is a number");
    let flags: Map<String, Value> = match layout.as_str() {
        "one-flag" => [("f".to_string(), flag(rules, pattern))].into_iter().collect(),
        "flag-per-rule" => (0..rules).map(|i| (format!("f{i:03}"), flag(1, pattern))).collect(),
        other => panic!("unknown layout {other}"),
    };
    let doc: RulesetDocument =
        serde_json::from_value(json!({"environment": "e", "version": 1, "flags": flags})).expect("a document");
    let before = rss_mib();
    let outcome = Ruleset::compile(&doc);
    let after = rss_mib();
    match &outcome {
        Ok(_) => println!("{rules} rules of {pattern:?} ({layout}): compiled"),
        Err(e) => println!("{rules} rules of {pattern:?} ({layout}): refused: {e}"),
    }
    println!("resident memory: {before:.0} MiB before, {after:.0} MiB after");
}
