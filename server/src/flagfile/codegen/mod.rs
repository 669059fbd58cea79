//! `daylight codegen --lang ts|rust PATH…`: typed accessors for the flags in
//! flags-as-code files, so that a typo in a flag key, or reading a flag as
//! the wrong type, is a compile error in the app (docs/flags-as-code.md,
//! "Typed accessors").
//!
//! The files are checked first with `daylight validate`'s checks; the
//! generators then work from [`FlagSpec`]s: one per flag, in key order, with
//! the flag's type and the default its getter falls back on. Output is
//! deterministic: the same files give the same text byte for byte.

pub mod names;
pub mod rust;
pub mod ts;

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde_json::Value;

use super::command::collect;
use super::validate::{parse, validate_sources, Source};

/// The language to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// A TypeScript module over the JS SDK's server and browser clients.
    Ts,
    /// A Rust module over the Rust SDK's `daylight::client::Client`.
    Rust,
}

#[derive(Debug, Args)]
pub struct CodegenArgs {
    /// `ts` or `rust`.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// Flag files (`.yaml`, `.yml`, `.json`) or directories holding them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Write to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// What a flag's variations are, hence its getter's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Bool,
    Number,
    /// The variation values, in the file's order.
    String(Vec<String>),
    /// Objects: read as JSON.
    Json,
}

/// One flag as the generators see it.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagSpec {
    pub key: String,
    pub name: String,
    pub description: String,
    pub owner: Option<String>,
    pub expires: Option<String>,
    pub client_side: bool,
    pub kind: Kind,
    pub variations: Vec<Value>,
    /// The value a getter falls back on (SDK not ready, flag missing, a
    /// value of another type): the flag's off variation when every
    /// environment in the files names the same one (variation 0 when there
    /// are none: what a new flag serves while dark); `None` when they
    /// differ or one has none (the server then serves the caller's
    /// default), and the caller passes it.
    pub default: Option<Value>,
}

/// Why nothing was generated: the files' problems, or names that collide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodegenError(pub Vec<String>);

impl std::fmt::Display for CodegenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for CodegenError {}

/// The flags of checked files, in key order. `today` decides expiry, as for
/// `daylight validate`.
pub fn specs(sources: &[Source], today: jiff::civil::Date) -> Result<Vec<FlagSpec>, CodegenError> {
    let problems = validate_sources(sources, today);
    if !problems.is_empty() {
        return Err(CodegenError(problems.iter().map(ToString::to_string).collect()));
    }
    let mut flags = Vec::new();
    for source in sources {
        let file = parse(source).map_err(|d| CodegenError(vec![d.to_string()]))?;
        flags.extend(file.flags);
    }
    flags.sort_by(|a, b| a.key.cmp(&b.key));
    // The evaluator checks variation types when it compiles a config, so a
    // flag with no environment in the files has had none checked.
    let type_of = |v: &Value| match v {
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Object(_) => "object",
        Value::Null | Value::Array(_) => "",
    };
    let mixed: Vec<String> = flags
        .iter()
        .filter(|f| {
            let first = f.variations.first().map(type_of).unwrap_or_default();
            f.variations.len() < 2 || first.is_empty() || f.variations.iter().any(|v| type_of(v) != first)
        })
        .map(|f| {
            format!(
                "flag `{}`: variations must be two or more values of one type (boolean, string, number or object)",
                f.key
            )
        })
        .collect();
    if !mixed.is_empty() {
        return Err(CodegenError(mixed));
    }
    Ok(flags
        .into_iter()
        .map(|flag| {
            let kind = match flag.variations.first() {
                Some(Value::Bool(_)) => Kind::Bool,
                Some(Value::Number(_)) => Kind::Number,
                Some(Value::String(_)) => {
                    // Each value once, in the file's order.
                    let mut values: Vec<String> = Vec::new();
                    for v in flag.variations.iter().filter_map(Value::as_str) {
                        if !values.iter().any(|seen| seen == v) {
                            values.push(v.to_owned());
                        }
                    }
                    Kind::String(values)
                }
                _ => Kind::Json,
            };
            // No environment: dark everywhere, serving variation 0.
            let mut offs = flag.environments.values().map(|c| c.off_variation);
            let first = offs.next().unwrap_or(Some(0));
            let default = first
                .filter(|_| offs.all(|o| o == first))
                .and_then(|i| flag.variations.get(i).cloned());
            FlagSpec {
                key: flag.key,
                name: flag.name,
                description: flag.description,
                owner: flag.owner,
                expires: flag.expires,
                client_side: flag.client_side,
                kind,
                variations: flag.variations,
                default,
            }
        })
        .collect())
}

/// The module for `lang` from the files (their names, as given, go in the
/// header).
pub fn generate(lang: Lang, sources: &[Source], today: jiff::civil::Date) -> Result<String, CodegenError> {
    let flags = specs(sources, today)?;
    let from: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
    match lang {
        Lang::Ts => ts::generate(&flags, &from),
        Lang::Rust => rust::generate(&flags, &from),
    }
}

/// `daylight codegen`: 0 written, 1 invalid files or colliding names, 2 a
/// usage error (an unreadable path, a directory with no flag files).
pub fn run(args: &CodegenArgs, today: jiff::civil::Date) -> i32 {
    let mut sources = Vec::new();
    for path in &args.paths {
        if let Err(e) = collect(path, &mut sources) {
            eprintln!("daylight codegen: {}: {e}", path.display());
            return 2;
        }
    }
    let text = match generate(args.lang, &sources, today) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("daylight codegen: nothing was generated");
            return 1;
        }
    };
    match &args.out {
        Some(path) => match std::fs::write(path, text) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("daylight codegen: {}: {e}", path.display());
                1
            }
        },
        None => {
            print!("{text}");
            0
        }
    }
}

/// The doc comment lines every language shows for a flag: name and
/// description, owner, expiry, variations and the default.
pub(crate) fn doc_lines(flag: &FlagSpec, default_text: Option<String>) -> Vec<String> {
    let mut lines = Vec::new();
    lines.push(if flag.name.is_empty() {
        format!("`{}`", flag.key)
    } else {
        format!("`{}`: {}", flag.key, flag.name)
    });
    if !flag.description.is_empty() {
        lines.push(String::new());
        lines.extend(flag.description.lines().map(|l| l.trim_end().to_owned()));
    }
    lines.push(String::new());
    if let Some(owner) = &flag.owner {
        lines.push(format!("Owner: {owner}."));
    }
    if let Some(expires) = &flag.expires {
        lines.push(format!("Expires: {expires}."));
    }
    let variations: Vec<String> = flag.variations.iter().map(Value::to_string).collect();
    lines.push(format!("Variations: {}.", variations.join(", ")));
    lines.push(match default_text {
        Some(text) => format!("Default (the off variation in the files): {text}."),
        None => "Default: passed by the caller (the files' environments do not share one off variation).".to_owned(),
    });
    lines
}

#[cfg(test)]
mod tests;
