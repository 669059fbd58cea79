//! The `.php` snapshot file of `docs/sdk-php.md`, byte for byte what the PHP
//! SDK's `SnapshotWriter::php` writes for the same document: PHP's
//! `var_export` of `['format' => 1, 'etag' => …, 'ruleset' => …]`, with each
//! segment's `included` and `excluded` lists turned into sets.

use std::fmt::Write;

use serde_json::{Map, Value};

/// The snapshot format this writes (`SnapshotLoader::FORMAT`).
pub const FORMAT: u32 = 1;

/// The PHP source of a snapshot of `ruleset` (a `RulesetDocument` as JSON).
pub fn snapshot(ruleset: &Value, etag: &str) -> String {
    let mut out = format!("<?php /* daylight-snapshot {FORMAT} {etag} */\n\nreturn array (\n");
    out.push_str("  'format' => 1,\n");
    out.push_str("  'etag' => ");
    string(&mut out, etag);
    out.push_str(",\n");
    element(&mut out, 1, &Key::Str("ruleset"), &Item::Ruleset(ruleset));
    out.push_str(");\n");
    out
}

/// What is being exported, for the places where the file departs from the
/// JSON shape (segment key lists become sets).
enum Item<'a> {
    Ruleset(&'a Value),
    Segments(&'a Value),
    Segment(&'a Value),
    /// `array_fill_keys($list, true)`.
    Set(&'a [Value]),
    True,
    Plain(&'a Value),
}

/// A PHP array key: a string that reads as a canonical 64-bit integer
/// ("42", "-7", not "042" or "-0") becomes that integer, as PHP arrays do.
enum Key<'a> {
    Int(i64),
    Str(&'a str),
}

impl<'a> Key<'a> {
    fn of(s: &'a str) -> Key<'a> {
        match s.parse::<i64>() {
            Ok(n) if n.to_string() == s => Key::Int(n),
            _ => Key::Str(s),
        }
    }

    fn same(&self, other: &Key<'_>) -> bool {
        match (self, other) {
            (Key::Int(a), Key::Int(b)) => a == b,
            (Key::Str(a), Key::Str(b)) => a == b,
            _ => false,
        }
    }
}

fn pad(out: &mut String, level: usize) {
    out.extend(std::iter::repeat_n("  ", level));
}

/// `KEY => VALUE,` at `level`, as `var_export` writes an array element.
fn element(out: &mut String, level: usize, key: &Key<'_>, item: &Item<'_>) {
    pad(out, level);
    match key {
        Key::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Key::Str(s) => string(out, s),
    }
    out.push_str(" => ");
    value(out, level, item);
    out.push_str(",\n");
}

/// A value whose key is already written at `level`.
fn value(out: &mut String, level: usize, item: &Item<'_>) {
    let json = match item {
        Item::True => return out.push_str("true"),
        Item::Set(list) => {
            let mut keys: Vec<Key<'_>> = Vec::with_capacity(list.len());
            for key in list.iter().filter_map(Value::as_str).map(Key::of) {
                // A repeated key keeps its first place, as array_fill_keys does.
                if !keys.iter().any(|k| k.same(&key)) {
                    keys.push(key);
                }
            }
            return array(out, level, keys.iter().map(|k| (k, Item::True)));
        }
        Item::Ruleset(v) | Item::Segments(v) | Item::Segment(v) | Item::Plain(v) => *v,
    };
    match json {
        Value::Null => out.push_str("NULL"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            // PHP cannot write its smallest integer as a literal.
            (Some(i64::MIN), _) => out.push_str("-9223372036854775807-1"),
            (Some(i), _) => {
                let _ = write!(out, "{i}");
            }
            (None, Some(f)) => out.push_str(&float(f)),
            (None, None) => out.push_str("NULL"),
        },
        Value::String(s) => string(out, s),
        Value::Array(list) => {
            let keys: Vec<Key<'_>> = (0..list.len()).map(|i| Key::Int(i as i64)).collect();
            array(out, level, keys.iter().zip(list).map(|(k, v)| (k, Item::Plain(v))));
        }
        Value::Object(map) => object(out, level, item, map),
    }
}

fn object(out: &mut String, level: usize, item: &Item<'_>, map: &Map<String, Value>) {
    let keys: Vec<Key<'_>> = map.keys().map(|k| Key::of(k)).collect();
    let items = keys.iter().zip(map).map(|(key, (name, v))| {
        let child = match (item, name.as_str(), v) {
            (Item::Ruleset(_), "segments", _) => Item::Segments(v),
            (Item::Segments(_), _, _) => Item::Segment(v),
            (Item::Segment(_), "included" | "excluded", Value::Array(list)) => Item::Set(list),
            _ => Item::Plain(v),
        };
        (key, child)
    });
    array(out, level, items);
}

/// `\n{pad}array (\n` … `{pad})`: a nested array starts on its own line.
fn array<'k, 'v>(out: &mut String, level: usize, items: impl Iterator<Item = (&'k Key<'k>, Item<'v>)>) {
    if level > 0 {
        out.push('\n');
        pad(out, level);
    }
    out.push_str("array (\n");
    for (key, item) in items {
        element(out, level + 1, key, &item);
    }
    pad(out, level);
    out.push(')');
}

/// A single-quoted PHP string: `\` and `'` escaped, NUL bytes spliced in
/// as `"\0"` (what `var_export` does).
fn string(out: &mut String, s: &str) {
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("' . \"\\0\" . '"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// A float as `var_export` writes it (`serialize_precision = -1`): the
/// shortest digits that read back the same; `E` notation below 1e-4 and
/// from 1e17; always a `.` so PHP reads a float.
fn float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    let sign = if f < 0.0 { "-" } else { "" };
    let sci = format!("{:e}", f.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits = mantissa.replace('.', "");
    if !(-4..17).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{first}.{rest}E{exp_sign}{}", exponent.abs())
    } else if exponent < 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-exponent - 1) as usize))
    } else {
        let int_len = exponent as usize + 1;
        if digits.len() <= int_len {
            format!("{sign}{digits}{}.0", "0".repeat(int_len - digits.len()))
        } else {
            format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_read_as_php_writes_them() {
        let cases = [
            (2.0, "2.0"),
            (-0.0, "-0.0"),
            (1e15, "1000000000000000.0"),
            (1e16, "10000000000000000.0"),
            (1e17, "1.0E+17"),
            (1.5e25, "1.5E+25"),
            (0.0001, "0.0001"),
            (0.00001, "1.0E-5"),
            (1.2345678901234568e29, "1.2345678901234568E+29"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-1.5e-7, "-1.5E-7"),
            (123.456, "123.456"),
            (1e100, "1.0E+100"),
        ];
        for (f, php) in cases {
            assert_eq!(float(f), php, "{f}");
        }
    }

    #[test]
    fn keys_strings_and_sets() {
        let doc = json!({"flags": {"12": {"v": "it's \\ a\u{0}b"}}, "segments": {"s": {"included": ["b", "7", "b"], "excluded": []}}});
        let php = snapshot(&doc, "3-abc");
        let expected = "<?php /* daylight-snapshot 1 3-abc */\n\nreturn array (\n  'format' => 1,\n  'etag' => '3-abc',\n  'ruleset' => \n  array (\n    'flags' => \n    array (\n      12 => \n      array (\n        'v' => 'it\\'s \\\\ a' . \"\\0\" . 'b',\n      ),\n    ),\n    'segments' => \n    array (\n      's' => \n      array (\n        'excluded' => \n        array (\n        ),\n        'included' => \n        array (\n          'b' => true,\n          7 => true,\n        ),\n      ),\n    ),\n  ),\n);\n";
        assert_eq!(php, expected);
    }
}
