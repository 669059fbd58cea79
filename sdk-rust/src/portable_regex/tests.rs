//! The regex subset's unit tests: what it accepts, rejects and rewrites, and
//! the cases shared with the JavaScript SDK.

use super::*;

fn accepts(pattern: &str, ci: bool) -> Regex {
    compile(pattern, ci).unwrap_or_else(|e| panic!("{pattern:?} was rejected: {e}"))
}

fn rejection(pattern: &str, ci: bool) -> String {
    match compile(pattern, ci) {
        Ok(_) => panic!("{pattern:?} was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn accepts_the_portable_subset() {
    for p in [
        "",
        "abc",
        "^a.c$",
        "a|b|",
        "(a)(?:b)(?<name_1>c)",
        "a*b+c?d{2}e{2,}f{2,5}",
        "a*?b+?c??d{2}?e{2,}?f{2,5}?",
        "a{01}",
        "\\^\\$\\\\\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\/",
        "[\\-\\]\\[\\\\/]",
        "\\t\\n\\v\\f\\r\\x41\\u0041\\u{1F600}\\u{0000000041}",
        "[-a][a-][-][--][^-a][a-z0-9_]",
        "[{}()|$^.*+?/&~]",
        "\\d\\D\\w\\W\\s\\S[\\d\\D\\w\\W\\s\\S]",
        "\\p{L}\\P{Lu}[\\p{Nd}\\P{Zs}]",
        "é😀",
        "(?:)*",
    ] {
        accepts(p, false);
    }
    accepts("\\p{Lu}[^\\p{Lu}]\\w\\W", true);
}

#[test]
fn rejects_with_a_clear_message() {
    let cases: &[(&str, &str)] = &[
        ("a(?=b)", "look-around"),
        ("a(?!b)", "look-around"),
        ("(?<=a)b", "look-around"),
        ("(?<!a)b", "look-around"),
        ("(a)\\1", "back-references"),
        ("(?<n>a)\\k<n>", "back-references"),
        ("\\0", "octal"),
        ("(?i)a", "inline flags"),
        ("(?i:a)", "inline flags"),
        ("(?s).", "inline flags"),
        ("(?-u:a)", "inline flags"),
        ("[[:alpha:]]", "POSIX"),
        ("[a&&b]", "set operations"),
        ("[a--b]", "set operations"),
        ("[a~~b]", "set operations"),
        ("[+--]", "set operations"),
        ("[a[b]]", "nested classes"),
        ("[]a]", "cannot start a class"),
        ("[^]a]", "cannot start a class"),
        ("\\A", "\\A and \\z"),
        ("\\z", "\\A and \\z"),
        ("\\b", "\\b and \\B"),
        ("\\B", "\\b and \\B"),
        ("\\<", "word-boundary"),
        ("\\>", "word-boundary"),
        ("\\b{start}", "word-boundary"),
        ("\\a", "\\a is not portable"),
        ("\\x{41}", "\\x{...} is not portable"),
        ("\\U00000041", "\\U escapes"),
        ("\\U{41}", "\\U escapes"),
        ("\\pL", "braces"),
        ("\\PL", "braces"),
        ("\\p{Greek}", "general categories"),
        ("\\p{gc=L}", "general categories"),
        ("\\p{Letter}", "general categories"),
        ("\\p{l}", "general categories"),
        ("\\p{ L }", "general categories"),
        ("\\p{^L}", "general categories"),
        ("\\p{Cn}", "general categories"),
        ("a{,3}", "{0,n}"),
        ("a{2, 3}", "without spaces"),
        ("a{ 2}", "without spaces"),
        ("\\#", "not a valid escape"),
        ("\\&", "not a valid escape"),
        ("\\~", "not a valid escape"),
        ("\\-", "not a valid escape"),
        ("\\ ", "not a valid escape"),
        ("[\\&]", "not a valid escape"),
        ("a}", "must be escaped"),
        ("]", "must be escaped"),
        ("{", "nothing to repeat"),
        ("a{", "unclosed counted repetition"),
        ("(?P<n>a)", "(?P<name>...)"),
        ("(?<a.b>x)", "group name"),
        ("(?<1a>x)", "invalid capture group character"),
        ("a**", "another one"),
        ("a{2}{3}", "another one"),
        ("a*??", "another one"),
        ("^*", "cannot follow ^ or $"),
        ("$+", "cannot follow ^ or $"),
        ("[a-b-c]", "first or last"),
        ("[--a]", "first or last"),
        ("[\\d-z]", "invalid range boundary"),
        ("\\uD83D\\uDE00", "surrogate"),
        ("\\cA", "unrecognized escape"),
        ("[\\b]", "invalid escape sequence"),
        ("(", "unclosed group"),
        ("(?<n>a)|(?<n>b)", "duplicate"),
        ("(?:a{1000}){1000}", "cannot contain another quantifier"),
        ("^(a+)+$", "cannot contain another quantifier or `|`"),
        ("^(a|a)*$", "cannot contain another quantifier or `|`"),
        ("a{1001}", "may not exceed 1000"),
        ("a{2,1001}", "may not exceed 1000"),
        ("a{1001,}", "may not exceed 1000"),
        (&format!("{}a{}", "(".repeat(33), ")".repeat(33)), "at most 32 deep"),
        (".{800}", "too large once compiled"),
    ];
    for &(pattern, fragment) in cases {
        let message = rejection(pattern, false);
        assert!(
            message.contains(fragment),
            "{pattern:?}: expected {fragment:?} in {message:?}"
        );
    }
}

/// The cases every evaluator runs (`tests/vectors/regex/subset.json`).
#[test]
fn shared_cases() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/regex/subset.json");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    let mut wrong = Vec::new();
    for case in cases {
        let pattern = case["pattern"].as_str().unwrap();
        let accepted = case["accepted"].as_bool().unwrap();
        let modes = match case["case_insensitive"].as_bool() {
            Some(ci) => vec![ci],
            None => vec![false, true],
        };
        for ci in modes {
            match compile(pattern, ci) {
                Ok(_) if !accepted => wrong.push(format!("{pattern:?} (ci={ci}) was accepted")),
                Err(e) if accepted => wrong.push(format!("{pattern:?} (ci={ci}) was refused: {e}")),
                _ => {}
            }
        }
    }
    assert!(cases.len() > 150, "{} cases", cases.len());
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn repetition_counts_are_capped() {
    accepts("^a{1000}$", false);
    accepts("^a{0,1000}$", false);
    assert!(rejection("a{1001}", false).contains("(`{1001}` at byte 1)"));
}

/// The compiled size is measured, not guessed: the same count of a
/// bigger class costs more, and a pattern over the budget is refused
/// whatever its length in characters.
#[test]
fn compiled_size_is_within_the_clause_budget() {
    let small = accepts(".{100}", false).memory_usage();
    let large = accepts(".{700}", false).memory_usage();
    assert!(small < large && large <= CLAUSE_BUDGET, "{small} {large}");
    assert!(rejection(".{1000}", false).contains("too large once compiled"));
    assert!(rejection("\\p{L}{100}", false).contains("too large once compiled"));
    // A single \p{L} is about 49 KiB: 20 of them fit, 100 do not.
    accepts(&"\\p{L}".repeat(20), false);
    assert!(rejection(&"\\p{L}".repeat(100), false).contains("too large"));
}

#[test]
fn negated_property_classes_need_case_sensitivity() {
    accepts("\\P{Lu}", false);
    assert!(rejection("\\P{Lu}", true).contains("[^\\p{Lu}]"));
    assert!(rejection("[\\P{Lu}]", true).contains("case_insensitive"));
}

#[test]
fn error_reports_where() {
    let e = compile("ab\\Ac", false).unwrap_err();
    assert_eq!(e.span(), Some(2..4));
    assert!(e.message().starts_with("\\A and \\z"));
    assert!(e.to_string().ends_with("(`\\A` at byte 2)"), "{e}");
}

#[test]
fn rewrites_shorthands_into_explicit_classes() {
    assert_eq!(translate("a.b", false).unwrap(), format!("a{DOT}b"));
    assert_eq!(translate("\\d\\W", false).unwrap(), "[0-9][^0-9A-Za-z_]");
    assert_eq!(translate("[\\d_]", false).unwrap(), "[[0-9]_]");
    assert_eq!(translate("[.]", false).unwrap(), "[.]");
    assert_eq!(translate("é\\s", false).unwrap(), format!("é{SPACE}"));
}

#[test]
fn dot_excludes_every_js_line_terminator() {
    let re = accepts("^.$", false);
    for c in ["\n", "\r", "\u{2028}", "\u{2029}"] {
        assert!(!re.is_match(c), "{c:?}");
    }
    for c in ["\u{85}", "\0", "😀", "é"] {
        assert!(re.is_match(c), "{c:?}");
    }
}

#[test]
fn shorthands_are_ascii_like_javascript() {
    assert!(!accepts("\\d", false).is_match("٣"));
    assert!(accepts("\\D", false).is_match("٣"));
    assert!(!accepts("\\w", false).is_match("é"));
    assert!(!accepts("\\w", false).is_match("ſ"));
    // JS `\w` with the `iu` flags also matches ſ and the Kelvin sign.
    assert!(accepts("\\w", true).is_match("ſ"));
    assert!(accepts("\\w", true).is_match("\u{212A}"));
    assert!(!accepts("\\W", true).is_match("ſ"));
    assert!(accepts("\\s", false).is_match("\u{FEFF}"));
    assert!(!accepts("\\s", false).is_match("\u{85}"));
    assert!(accepts("[\\s]", false).is_match("\u{A0}"));
    assert!(!accepts("[^\\D]", false).is_match("٣"));
}

#[test]
fn anchors_mean_whole_input() {
    let re = accepts("^a$", false);
    assert!(re.is_match("a"));
    assert!(!re.is_match("a\n"));
    assert!(!re.is_match("b\na"));
}

#[test]
fn case_insensitive_is_applied() {
    assert!(accepts("abc", true).is_match("xABCx"));
    assert!(!accepts("abc", false).is_match("ABC"));
}
