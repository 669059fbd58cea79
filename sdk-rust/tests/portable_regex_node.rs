//! Cross-engine check of `daylight::portable_regex`: every pattern it accepts
//! must compile in JavaScript (`new RegExp(p, "u" | "iu")`) and give the same
//! `test(input)` answer as Rust's `is_match` for every input.
//!
//! Needs the real `node` binary on PATH; without it these tests fail.

use std::io::Write;
use std::process::{Command, Stdio};

use daylight::portable_regex::compile;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use serde_json::{json, Value};

/// Runs `script` in node with `input` bound to a JSON value; returns what
/// the script printed, parsed as JSON. Node reads the script from stdin.
fn node(script: &str, input: &Value) -> Value {
    let mut child = Command::new("node")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "could not run `node` ({e}): this cross-engine test needs Node.js on PATH \
                 (e.g. `apt-get install nodejs`)"
            )
        });
    // JSON is valid JavaScript, so the input is pasted in as a literal.
    let program = format!("const input = {input};\n{script}");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(program.as_bytes())
        .expect("write script to node");
    let out = child.wait_with_output().expect("wait for node");
    assert!(
        out.status.success(),
        "node failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("node printed JSON")
}

/// For each `{pattern, case_insensitive, inputs}`: `{error}` if JS rejects
/// the pattern, else `{matches: [bool per input]}`.
const MATCH_SCRIPT: &str = r#"
const results = input.map(({ pattern, case_insensitive, inputs }) => {
  let re;
  try {
    re = new RegExp(pattern, case_insensitive ? "iu" : "u");
  } catch (e) {
    return { error: String(e.message) };
  }
  return { matches: inputs.map((s) => re.test(s)) };
});
process.stdout.write(JSON.stringify(results));
"#;

#[derive(Debug, Clone)]
struct Case {
    pattern: String,
    case_insensitive: bool,
    inputs: Vec<String>,
}

/// Compares Rust and JS on every case; returns one line per disagreement.
/// Every case must be accepted by `compile`.
fn disagreements(cases: &[Case]) -> Vec<String> {
    let request: Vec<Value> = cases
        .iter()
        .map(|c| json!({"pattern": c.pattern, "case_insensitive": c.case_insensitive, "inputs": c.inputs}))
        .collect();
    let results = node(MATCH_SCRIPT, &Value::Array(request));
    let results = results.as_array().expect("an array of results");
    assert_eq!(results.len(), cases.len());

    let mut problems = Vec::new();
    for (case, js) in cases.iter().zip(results) {
        let (p, ci) = (&case.pattern, case.case_insensitive);
        let rust = match compile(p, ci) {
            Ok(re) => re,
            Err(e) => {
                problems.push(format!("{p:?} (ci={ci}): rejected by Rust: {e}"));
                continue;
            }
        };
        if let Some(error) = js.get("error") {
            problems.push(format!("{p:?} (ci={ci}): accepted, but JS rejects it: {error}"));
            continue;
        }
        for (input, js_match) in case.inputs.iter().zip(js["matches"].as_array().unwrap()) {
            let rust_match = rust.is_match(input);
            if Some(rust_match) != js_match.as_bool() {
                problems.push(format!(
                    "{p:?} (ci={ci}) on {input:?}: Rust {rust_match}, JS {js_match}"
                ));
            }
        }
    }
    problems
}

/// Inputs every table pattern is tried on: line terminators, non-ASCII
/// digits, letters with tricky case folding, Unicode spaces, astral chars.
const TRICKY_INPUTS: &[&str] = &[
    "",
    "a",
    "A",
    "b",
    "abc",
    "ABC",
    "xabcx",
    "aa",
    "aaa",
    "ab",
    "a\nb",
    "\n",
    "\r",
    "\r\n",
    "\u{2028}",
    "\u{2029}",
    "\u{85}",
    "\0",
    "0",
    "7",
    "٣",
    "\u{FF11}",
    "é",
    "É",
    "e\u{301}",
    "ſ",
    "s",
    "S",
    "k",
    "K",
    "\u{212A}",
    "\u{212B}",
    "å",
    "\u{A0}",
    " ",
    "\t",
    "\u{B}",
    "\u{C}",
    "\u{FEFF}",
    "\u{3000}",
    "\u{200B}",
    "\u{1680}",
    "_",
    "-",
    "/",
    "\\",
    ".",
    "*",
    "{",
    "}",
    "[",
    "]",
    "😀",
    "a😀b",
    "😀😀",
    "ß",
    "ẞ",
    "SS",
    "straße",
    "STRASSE",
    "İ",
    "ı",
    "i",
    "I",
    "σ",
    "ς",
    "Σ",
    "ǅ",
    "ǆ",
    "µ",
    "μ",
    "foo@example.com",
    "user-42",
    "v1.2.3",
];

/// Patterns the subset accepts (at least without case_insensitive); each is
/// checked in both case modes in which `compile` accepts it.
const TABLE: &[&str] = &[
    "",
    "a",
    "abc",
    "^abc$",
    "^$",
    "^a",
    "c$",
    "^a$",
    ".",
    "^.$",
    "^..$",
    "a.b",
    "^.*$",
    "^.{3}$",
    "^[\\s\\S]*$",
    "\\d",
    "^\\d+$",
    "^\\D$",
    "\\w",
    "^\\w+$",
    "^\\w*$",
    "^\\W$",
    "\\w\\W",
    "\\s",
    "^\\s$",
    "^\\S$",
    "^\\S+$",
    "[\\d_]",
    "^[\\w-]+$",
    "^[\\s\\S]$",
    "^[\\D]$",
    "^[^\\d]$",
    "^[^\\W]$",
    "^[\\W]$",
    "^[^\\s]$",
    "^[\\S\\d]$",
    "^[^a]$",
    "[a-z]",
    "^[a-z]+$",
    "^[A-Z]$",
    "^[^A-Z]$",
    "^[k-s]$",
    "^[ß]$",
    "^ß$",
    "^ẞ$",
    "^σ$",
    "^ς$",
    "^[α-ω]$",
    "^é$",
    "^e\\u0301$",
    "\\u00e9",
    "\\u{1F600}",
    "\\x41",
    "^[\\u{1F600}-\\u{1F64F}]$",
    "😀",
    "^\\u{212A}$",
    "^[ſ]$",
    "^İ$",
    "^ı$",
    "^i$",
    "^µ$",
    "^ǅ$",
    "^\\p{L}$",
    "^\\p{Lu}$",
    "^\\p{Ll}$",
    "^\\p{Lt}$",
    "^\\p{LC}$",
    "^\\p{Nd}$",
    "^\\p{N}+$",
    "^\\P{L}$",
    "^[\\P{Lu}]$",
    "^[^\\p{Lu}]$",
    "^[^\\p{Ll}]$",
    "^[\\p{L}\\p{N}]+$",
    "^\\p{Zs}$",
    "\\p{So}",
    "^\\p{Cc}$",
    "^\\p{Cf}$",
    "^[\\p{P}\\p{S}]$",
    "a|b",
    "^(?:a|b)$",
    "(a)(b)?",
    "^(?<user>\\w+)@(?<host>[\\w.]+)$",
    "a*",
    "^a+$",
    "^a?$",
    "^a{2}$",
    "^a{2,}$",
    "^a{1,2}$",
    "^a{01}$",
    "^(?:ab)*$",
    "^a+?$",
    "^(?:a|)?$",
    "(?:)*",
    "\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\/\\^\\$\\\\",
    "^[.*+?()|{}$^/]$",
    "^[\\-\\]\\[\\\\]$",
    "^[-]$",
    "^[a-]$",
    "^[-a]$",
    "^[^-]$",
    "^[--]$",
    "\\t|\\v|\\f",
    "^\\n$",
    "^\\r?\\n$",
    "\\u2028",
    "a\nb",
    "^\u{2028}$",
    "^[^\\n]$",
    "^[\\x00-\\x1F]$",
    "^\\u{0}$",
    "straße",
    "STRASSE",
    "^[^\\u{0}-\\u{7F}]+$",
    "^v\\d+\\.\\d+\\.\\d+$",
    "^[\\w.+-]+@[\\w-]+\\.[\\w.-]+$",
];

/// The accepted patterns of the shared cases (`tests/vectors/regex/subset.json`).
fn shared_accepted_patterns() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/regex/subset.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["accepted"] == true && c["case_insensitive"] != true)
        .map(|c| c["pattern"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn table_patterns_agree_with_javascript() {
    let shared = shared_accepted_patterns();
    let mut cases = Vec::new();
    for pattern in TABLE.iter().copied().chain(shared.iter().map(String::as_str)) {
        if let Err(e) = compile(pattern, false) {
            panic!("table pattern {pattern:?} should be accepted: {e}");
        }
        for ci in [false, true] {
            if compile(pattern, ci).is_ok() {
                cases.push(Case {
                    pattern: pattern.to_string(),
                    case_insensitive: ci,
                    inputs: TRICKY_INPUTS.iter().map(|s| s.to_string()).collect(),
                });
            }
        }
    }
    assert!(TABLE.len() >= 60 && cases.len() > TABLE.len());
    let problems = disagreements(&cases);
    assert!(
        problems.is_empty(),
        "{} disagreements:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// For each `[pattern, case_insensitive]`, the maximal runs of the string of
/// all scalar values (in order) that `pattern` matches, as `[first, last]`.
const CODE_POINT_SCRIPT: &str = r#"
let all = "";
for (let c = 0; c <= 0x10ffff; c++) if (c < 0xd800 || c > 0xdfff) all += String.fromCodePoint(c);
const results = input.map(([pattern, ci]) =>
  [...all.matchAll(new RegExp(pattern, ci ? "giu" : "gu"))].map((m) => {
    const chars = [...m[0]];
    return [chars[0].codePointAt(0), chars[chars.length - 1].codePointAt(0)];
  }));
process.stdout.write(JSON.stringify(results));
"#;

/// The rewritten `.`, `\d`, `\w`, `\s` (and their negations, also inside
/// classes) match exactly JavaScript's sets, in both case modes.
#[test]
fn rewritten_shorthands_agree_on_every_code_point() {
    let patterns = [
        ".", "\\d", "\\D", "\\w", "\\W", "\\s", "\\S", "[\\w]", "[^\\w]", "[\\W]", "[^\\W]", "[\\D\\s]",
    ];
    // `(?:P)+` finds maximal runs, so each engine reports a few hundred
    // ranges rather than a million single-character matches.
    let specs: Vec<(String, bool)> = patterns
        .iter()
        .flat_map(|p| [false, true].map(|ci| (format!("(?:{p})+"), ci)))
        .collect();
    let js = node(CODE_POINT_SCRIPT, &json!(specs));
    let all: String = (0..=0x10FFFF).filter_map(char::from_u32).collect();
    for ((pattern, ci), js_runs) in specs.iter().zip(js.as_array().unwrap()) {
        let runs: Vec<[u32; 2]> = compile(pattern, *ci)
            .unwrap()
            .find_iter(&all)
            .map(|m| {
                let s = &all[m.range()];
                [s.chars().next(), s.chars().next_back()].map(|c| c.unwrap() as u32)
            })
            .collect();
        assert_eq!(&json!(runs), js_runs, "{pattern:?} (ci={ci})");
    }
}

// Random patterns from a grammar of portable pieces.

/// One-character matchers usable outside a class (plus `\P{..}` when the
/// case is significant).
#[rustfmt::skip]
const ATOMS: &[&str] = &[
    "a", "b", "k", "s", "é", "ß", "σ", "😀", "0", "٣", " ", "ſ", "\u{212A}",
    "\\.", "\\*", "\\/", "\\$", "\\n", "\\r", "\\t", "\\u2028", "\\x41", "\\u{1F600}",
    ".", "\\d", "\\D", "\\w", "\\W", "\\s", "\\S",
    "\\p{L}", "\\p{Lu}", "\\p{Ll}", "\\p{Nd}", "\\p{Zs}",
];

/// Bracket class items; none is a bare `-`.
#[rustfmt::skip]
const CLASS_ITEMS: &[&str] = &[
    "a", "z", "é", "ſ", "0", ".", "*", "$", "(", "|", "\\]", "\\-", "\\\\",
    "a-z", "A-Z", "0-9", "k-s", "α-ω", "\\u{1F600}-\\u{1F64F}",
    "\\d", "\\D", "\\w", "\\W", "\\s", "\\S", "\\p{L}", "\\p{Lu}",
];

#[rustfmt::skip]
const INPUT_CHARS: &[char] = &[
    'a', 'b', 'k', 's', 'z', 'A', 'K', 'S', 'é', 'É', 'ß', 'σ', 'ς', 'Σ', '0', '9', '٣', '_',
    '-', '.', '*', '$', '/', '(', ']', '\\', ' ', '\t', '\n', '\r', '\u{2028}', '\u{A0}',
    '\u{FEFF}', 'ſ', '\u{212A}', '😀',
];

fn pick(options: &'static [&'static str]) -> BoxedStrategy<String> {
    proptest::sample::select(options).prop_map(str::to_string).boxed()
}

fn atom(case_insensitive: bool) -> BoxedStrategy<String> {
    let mut options = ATOMS.to_vec();
    if !case_insensitive {
        options.extend(["\\P{L}", "\\P{Lu}"]);
    }
    let atoms = proptest::sample::select(options).prop_map(str::to_string);
    prop_oneof![3 => atoms, 1 => class()].boxed()
}

/// A bracket class; a bare `-` only ever comes first or last.
fn class() -> BoxedStrategy<String> {
    let item = pick(CLASS_ITEMS);
    let dash = pick(&["", "", "-"]);
    (any::<bool>(), dash, vec(item, 1..4))
        .prop_map(|(negated, dash, items)| format!("[{}{dash}{}]", if negated { "^" } else { "" }, items.concat()))
        .boxed()
}

fn quantifier() -> BoxedStrategy<String> {
    pick(&["*", "+", "?", "{2}", "{1,}", "{0,2}", "*?", "+?", "??", "{1,2}?"])
}

/// A few atoms in a row: what a repeated group may hold.
fn plain(case_insensitive: bool) -> BoxedStrategy<String> {
    vec(atom(case_insensitive), 1..4).prop_map(|v| v.concat()).boxed()
}

fn pattern(case_insensitive: bool) -> BoxedStrategy<String> {
    let quantified = (atom(case_insensitive), quantifier()).prop_map(|(a, q)| a + &q);
    let repeated_group = (plain(case_insensitive), quantifier()).prop_map(|(r, q)| format!("(?:{r}){q}"));
    let leaf = prop_oneof![
        4 => atom(case_insensitive),
        2 => quantified,
        1 => repeated_group,
        1 => pick(&["^", "$"]),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            3 => vec(inner.clone(), 1..4).prop_map(|v| v.concat()),
            1 => vec(inner.clone(), 2..4).prop_map(|v| format!("(?:{})", v.join("|"))),
            // Only `?` may hold quantifiers and alternations (a repeated
            // group may not: docs/regex-subset.md).
            1 => inner.clone().prop_map(|r| format!("(?:{r})?")),
            1 => inner.prop_map(|r| format!("({r})")),
        ]
    })
    .boxed()
}

fn input() -> BoxedStrategy<String> {
    let chars = proptest::sample::select(INPUT_CHARS);
    vec(chars, 0..6).prop_map(|cs| cs.into_iter().collect()).boxed()
}

fn case() -> impl Strategy<Value = Case> {
    any::<bool>().prop_flat_map(|ci| {
        (pattern(ci), vec(input(), 8)).prop_map(move |(pattern, inputs)| Case {
            pattern,
            case_insensitive: ci,
            inputs,
        })
    })
}

proptest! {
    // Each proptest case is one node run over a batch of random patterns.
    #![proptest_config(Config {
        cases: 4,
        max_shrink_iters: 200,
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn random_portable_patterns_agree_with_javascript(cases in vec(case(), 80)) {
        let problems = disagreements(&cases);
        if !problems.is_empty() {
            return Err(TestCaseError::fail(problems.join("\n")));
        }
    }
}
