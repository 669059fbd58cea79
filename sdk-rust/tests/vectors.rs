//! Runs the shared test vectors in `tests/vectors/` (the contract every SDK
//! passes unchanged; see `docs/flag-format.md`).

use std::path::{Path, PathBuf};

use daylight::bucket::context_bucket;
use daylight::{Context, Ruleset, RulesetDocument};
use serde::Deserialize;
use serde_json::{json, Value};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

#[derive(Deserialize)]
struct VectorFile {
    description: String,
    ruleset: RulesetDocument,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    flag: String,
    context: Value,
    #[serde(rename = "type", default = "json_type")]
    kind: String,
    default: Value,
    expect: Expected,
}

#[derive(Deserialize, Debug)]
struct Expected {
    value: Value,
    variation: Option<usize>,
    reason: Value,
}

fn json_type() -> String {
    "json".into()
}

fn evaluate(rules: &Ruleset, case: &Case) -> (Value, Option<usize>, Value) {
    let ctx = Context::from_json(&case.context).expect("vector contexts are objects");
    macro_rules! run {
        ($detail:expr) => {{
            let d = $detail;
            (json!(d.value), d.variation, serde_json::to_value(d.reason).unwrap())
        }};
    }
    match case.kind.as_str() {
        "bool" => run!(rules.bool_variation_detail(&case.flag, &ctx, case.default.as_bool().unwrap())),
        "string" => run!(rules.string_variation_detail(&case.flag, &ctx, case.default.as_str().unwrap())),
        "number" => run!(rules.number_variation_detail(&case.flag, &ctx, case.default.as_f64().unwrap())),
        "json" => run!(rules.json_variation_detail(&case.flag, &ctx, case.default.clone())),
        other => panic!("{}: unknown type {other}", case.name),
    }
}

/// JSON numbers compare by value (1 and 1.0 are the same JSON number).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn every_evaluation_vector_passes() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .expect("tests/vectors exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let (mut total, mut failures) = (0, Vec::new());
    for path in &files {
        let file: VectorFile = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let rules = Ruleset::compile(&file.ruleset)
            .unwrap_or_else(|e| panic!("{} ({}): {e}", path.display(), file.description));
        for case in &file.cases {
            total += 1;
            let (value, variation, reason) = evaluate(&rules, case);
            let e = &case.expect;
            if !(same(&value, &e.value) && variation == e.variation && same(&reason, &e.reason)) {
                failures.push(format!(
                    "{} / {}: got value={value} variation={variation:?} reason={reason}; expected value={} variation={:?} reason={}",
                    path.file_name().unwrap().to_string_lossy(),
                    case.name,
                    e.value,
                    e.variation,
                    e.reason
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(total >= 300, "expected at least 300 evaluation vectors, found {total}");
}

#[derive(Deserialize)]
struct BucketCase {
    salt: String,
    value: Value,
    bucket: Option<u32>,
}

#[test]
fn every_bucketing_vector_passes() {
    let dir = vectors_dir().join("bucketing");
    let mut total = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/vectors/bucketing exists") {
        let path = entry.unwrap().path();
        let cases: Vec<BucketCase> = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for case in cases {
            total += 1;
            let ctx = Context::from_json(&json!({ "v": case.value })).unwrap();
            assert_eq!(
                context_bucket(&case.salt, &ctx, "v"),
                case.bucket,
                "salt {:?} value {}",
                case.salt,
                case.value
            );
        }
    }
    assert!(total >= 60, "expected at least 60 bucketing vectors, found {total}");
}

#[derive(Deserialize)]
struct RefusedFile {
    cases: Vec<RefusedCase>,
}

#[derive(Deserialize)]
struct RefusedCase {
    name: String,
    ruleset: RulesetDocument,
    path: String,
}

#[test]
fn every_refused_ruleset_is_refused_at_its_field() {
    let path = vectors_dir().join("refused/clauses.json");
    let file: RefusedFile = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(file.cases.len() >= 5, "expected at least 5 refusal vectors");
    for case in &file.cases {
        match Ruleset::compile(&case.ruleset) {
            Ok(_) => panic!("{}: compiled, expected a refusal at {}", case.name, case.path),
            Err(e) => assert_eq!(e.path, case.path, "{}: {e}", case.name),
        }
    }
}
