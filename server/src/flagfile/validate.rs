//! `daylight validate`: the offline checks of flags-as-code files. Each file
//! is parsed with field paths and line numbers, then the merged flags and
//! segments go through the evaluator's own validation (`daylight::validate_flag`,
//! `validate_segment`, `Ruleset::compile` and its reference checks), so what
//! validates here is what the server accepts.

use std::collections::{BTreeMap, BTreeSet};

use daylight::{FlagConfig, FlagRules, Ruleset, RulesetDocument};
use serde::Serialize;

use super::model::{FileFlag, FileSegment, FlagFile, FORMAT_VERSION};

/// One file's name (as given) and text.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
}

/// One problem: the file, the line when known, the field path and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}: {}", self.file, line, self.path, self.message),
            None => write!(f, "{}: {}: {}", self.file, self.path, self.message),
        }
    }
}

/// Where a flag or segment came from, for messages.
struct Origin<'a> {
    file: &'a str,
    line: Option<usize>,
    index: usize,
}

/// Parses one file: JSON when its name ends in `.json`, else YAML.
pub fn parse(source: &Source) -> Result<FlagFile, Diagnostic> {
    let error = |line: Option<usize>, path: String, message: String| Diagnostic {
        file: source.name.clone(),
        line,
        path: if path.is_empty() || path == "." {
            "(file)".to_owned()
        } else {
            path
        },
        message,
    };
    if source.name.ends_with(".json") {
        let de = &mut serde_json::Deserializer::from_str(&source.text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let line = Some(inner.line()).filter(|l| *l > 0);
            error(line, path.clone(), strip_location(&inner.to_string(), &path))
        })
    } else {
        let de = serde_yaml_ng::Deserializer::from_str(&source.text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let line = inner.location().map(|l| l.line());
            error(line, path.clone(), strip_location(&inner.to_string(), &path))
        })
    }
}

/// Parser messages may start with the path and end with " at line L column
/// C"; both are reported apart.
fn strip_location(message: &str, path: &str) -> String {
    // The YAML parser prefixes the path of the enclosing value.
    let message = match message.split_once(": ") {
        Some((head, rest)) if !head.contains(' ') && path.starts_with(head) => rest,
        _ => message,
    };
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The 1-based line of the `key:` entry naming `key`, found in the text (the
/// parser keeps no spans for values it accepted).
/// Searching from line `from` (0-based), so a repeated key finds its own entry.
fn key_line(text: &str, key: &str, from: usize) -> Option<usize> {
    let quoted = [format!("\"{key}\""), format!("'{key}'")];
    text.lines()
        .skip(from)
        .position(|line| {
            let t = line.trim_start().trim_start_matches("- ").trim_start();
            let Some(rest) = t.strip_prefix("key:").or_else(|| t.strip_prefix("\"key\":")) else {
                return false;
            };
            let value = rest.trim().trim_end_matches(',').trim();
            value == key || quoted.iter().any(|q| q == value)
        })
        .map(|i| from + i + 1)
}

/// Checks files together (keys are unique across all of them). `today`
/// decides which expiry dates have passed. Returns every problem found.
pub fn validate_sources(sources: &[Source], today: jiff::civil::Date) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut parsed = Vec::new();
    for source in sources {
        match parse(source) {
            Ok(file) => parsed.push((source, file)),
            Err(d) => out.push(d),
        }
    }
    let mut flags: BTreeMap<&str, (&FileFlag, Origin)> = BTreeMap::new();
    let mut segments: BTreeMap<&str, (&FileSegment, Origin)> = BTreeMap::new();
    for (source, file) in &parsed {
        let file_name = source.name.as_str();
        if file.version != FORMAT_VERSION {
            out.push(Diagnostic {
                file: file_name.to_owned(),
                line: key_line_named(&source.text, "version"),
                path: "version".to_owned(),
                message: format!(
                    "unsupported format version {} (this build reads {FORMAT_VERSION})",
                    file.version
                ),
            });
            continue;
        }
        let mut cursor = 0;
        for (index, flag) in file.flags.iter().enumerate() {
            let line = key_line(&source.text, &flag.key, cursor);
            cursor = line.unwrap_or(cursor);
            let origin = Origin {
                file: file_name,
                line,
                index,
            };
            if let Some((_, first)) = flags.get(flag.key.as_str()) {
                out.push(Diagnostic {
                    file: file_name.to_owned(),
                    line: origin.line,
                    path: format!("flags[{index}].key"),
                    message: format!(
                        "duplicate flag key `{}` (first at {}:{})",
                        flag.key,
                        first.file,
                        first.line.unwrap_or(0)
                    ),
                });
                continue;
            }
            flags.insert(&flag.key, (flag, origin));
        }
        let mut cursor = 0;
        for (index, segment) in file.segments.iter().enumerate() {
            let line = key_line(&source.text, &segment.key, cursor);
            cursor = line.unwrap_or(cursor);
            let origin = Origin {
                file: file_name,
                line,
                index,
            };
            if let Some((_, first)) = segments.get(segment.key.as_str()) {
                out.push(Diagnostic {
                    file: file_name.to_owned(),
                    line: origin.line,
                    path: format!("segments[{index}].key"),
                    message: format!(
                        "duplicate segment key `{}` (first at {}:{})",
                        segment.key,
                        first.file,
                        first.line.unwrap_or(0)
                    ),
                });
                continue;
            }
            segments.insert(&segment.key, (segment, origin));
        }
    }

    // Segments, one environment at a time, as the server stores them.
    for (segment, origin) in segments.values() {
        for (env, rules) in &segment.environments {
            if let Err(e) = daylight::validate_segment(rules) {
                out.push(at(
                    origin,
                    "segments",
                    &format!("environments.{env}.{}", e.path),
                    e.message,
                ));
            }
        }
    }
    let segment_exists =
        |env: &str, key: &str| segments.get(key).is_some_and(|(s, _)| s.environments.contains_key(env));

    // Flags: the server's own per-flag validation, then expiry.
    let mut valid: BTreeMap<&str, &FileFlag> = BTreeMap::new();
    for (key, (flag, origin)) in &flags {
        match daylight::validate_flag(&flag.to_flag(), &segment_exists) {
            Ok(()) => {
                valid.insert(key, flag);
            }
            Err(e) => out.push(at(origin, "flags", &e.path, e.message)),
        }
        if let Some(expires) = &flag.expires {
            match expires.parse::<jiff::civil::Date>() {
                Err(_) => out.push(at(origin, "flags", "expires", "not a date (YYYY-MM-DD)".to_owned())),
                Ok(date) if date < today => {
                    out.push(at(origin, "flags", "expires", format!("the flag expired on {date}")))
                }
                Ok(_) => {}
            }
        }
    }

    // Cross-flag checks per environment: prerequisites (unknown flag or
    // variation, cycles). A flag with no config in an environment is there
    // dark, as on the server.
    let environments: BTreeSet<&str> = valid
        .values()
        .flat_map(|f| f.environments.keys())
        .chain(segments.values().flat_map(|(s, _)| s.environments.keys()))
        .map(String::as_str)
        .collect();
    for env in environments {
        let doc = RulesetDocument {
            environment: env.to_owned(),
            version: 0,
            flags: valid
                .iter()
                .map(|(key, flag)| {
                    let config = flag
                        .environments
                        .get(env)
                        .cloned()
                        .unwrap_or_else(|| FlagConfig::dark(0));
                    let rules = FlagRules {
                        variations: flag.variations.clone(),
                        client_side: flag.client_side,
                        config,
                    };
                    ((*key).to_owned(), rules)
                })
                .collect(),
            segments: segments
                .iter()
                .filter_map(|(key, (s, _))| s.environments.get(env).map(|r| ((*key).to_owned(), r.clone())))
                .collect(),
        };
        let errors = match Ruleset::compile(&doc) {
            Ok(ruleset) => ruleset.reference_errors(),
            // The evaluator names whichever flag of a cycle it met first
            // (hash order); name every member, in key order, instead.
            Err(e) if e.message == "prerequisites form a cycle" => in_cycles(&doc)
                .into_iter()
                .map(|key| daylight::ValidationError {
                    path: format!("flags.{key}.prerequisites"),
                    message: e.message.clone(),
                })
                .collect(),
            Err(e) => vec![e],
        };
        for e in errors {
            // Unknown segments were reported by `validate_flag` already.
            if e.message.starts_with("unknown segment") {
                continue;
            }
            let Some(rest) = e.path.strip_prefix("flags.") else {
                continue;
            };
            let Some((key, (_, origin))) = flags.iter().find(|(k, _)| {
                rest.strip_prefix(**k)
                    .is_some_and(|r| r.is_empty() || r.starts_with('.'))
            }) else {
                continue;
            };
            let field = rest[key.len()..].trim_start_matches('.');
            out.push(at(origin, "flags", &format!("environments.{env}.{field}"), e.message));
        }
    }
    out.sort_by(|a, b| (&a.file, a.line, &a.path).cmp(&(&b.file, b.line, &b.path)));
    out.dedup();
    out
}

/// The flags that reach themselves through prerequisites, in key order.
fn in_cycles(doc: &RulesetDocument) -> Vec<&str> {
    let reaches_itself = |start: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![start];
        while let Some(key) = stack.pop() {
            for pre in doc.flags.get(key).iter().flat_map(|f| &f.config.prerequisites) {
                if pre.flag == start {
                    return true;
                }
                if seen.insert(pre.flag.as_str()) {
                    stack.push(&pre.flag);
                }
            }
        }
        false
    };
    doc.flags
        .keys()
        .map(String::as_str)
        .filter(|k| reaches_itself(k))
        .collect()
}

fn key_line_named(text: &str, field: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let t = l.trim_start();
            t.starts_with(&format!("{field}:")) || t.starts_with(&format!("\"{field}\":"))
        })
        .map(|i| i + 1)
}

fn at(origin: &Origin, list: &str, field: &str, message: String) -> Diagnostic {
    let field = field.trim_start_matches('.');
    Diagnostic {
        file: origin.file.to_owned(),
        line: origin.line,
        path: format!("{list}[{}].{field}", origin.index),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(dir: &str) -> Vec<Source> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/flagfile")
            .join(dir);
        let mut names: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        names
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e != "txt"))
            .map(|p| Source {
                name: format!("{dir}/{}", p.file_name().unwrap().to_string_lossy()),
                text: std::fs::read_to_string(&p).unwrap(),
            })
            .collect()
    }

    fn today() -> jiff::civil::Date {
        jiff::civil::date(2026, 12, 6)
    }

    #[test]
    fn the_examples_are_valid() {
        assert_eq!(validate_sources(&sources("valid"), today()), vec![]);
    }

    /// Golden: every message of the invalid examples, file, line and path.
    #[test]
    fn messages_match_the_golden_file() {
        let got: String = validate_sources(&sources("invalid"), today())
            .iter()
            .map(|d| format!("{d}\n"))
            .collect();
        let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/flagfile/invalid/expected.txt");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&golden, &got).unwrap();
        }
        assert_eq!(got, std::fs::read_to_string(golden).unwrap());
    }

    #[test]
    fn expiry_is_judged_against_the_given_day() {
        let file = Source {
            name: "f.yaml".into(),
            text: "version: 1\nflags:\n  - key: x\n    expires: 2026-12-06\n    variations: [1, 2]\n".into(),
        };
        assert_eq!(validate_sources(std::slice::from_ref(&file), today()), vec![]);
        let later = jiff::civil::date(2026, 12, 7);
        let problems = validate_sources(&[file], later);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, Some(3));
        assert_eq!(problems[0].path, "flags[0].expires");
    }

    #[test]
    fn a_file_exported_as_json_parses_as_the_same_model() {
        let yaml = &sources("valid")[0];
        let model = parse(yaml).unwrap();
        let json = Source {
            name: "x.json".into(),
            text: serde_json::to_string(&model).unwrap(),
        };
        assert_eq!(parse(&json).unwrap(), model);
    }
}
