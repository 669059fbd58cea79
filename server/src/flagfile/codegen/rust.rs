//! The Rust module: a `FlagKey` enum, one enum per string flag (its
//! variations), and `Flags`, which wraps a `&daylight::client::Client` with
//! one method per flag, named after its key in snake_case, taking the
//! context and returning the flag's type.
//!
//! A typo in a flag's name is then a compile error. With the sample module
//! the tests generate (`sdk-rust/tests/codegen/flags.rs`):
//!
//! ```compile_fail,E0599
//! mod flags {
//!     include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk-rust/tests/codegen/flags.rs"));
//! }
//! fn read(client: &daylight::client::Client, ctx: &daylight::Context) -> bool {
//!     flags::flags(client).new_loby(ctx)
//! }
//! ```
//!
//! and so is a key that is not in the files:
//!
//! ```compile_fail,E0599
//! mod flags {
//!     include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk-rust/tests/codegen/flags.rs"));
//! }
//! const KEY: &str = flags::FlagKey::NewLoby.as_str();
//! ```
//!
//! while the right names compile:
//!
//! ```
//! mod flags {
//!     include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk-rust/tests/codegen/flags.rs"));
//! }
//! fn read(client: &daylight::client::Client, ctx: &daylight::Context) -> bool {
//!     flags::flags(client).new_lobby(ctx)
//! }
//! const KEY: &str = flags::FlagKey::NewLobby.as_str();
//! ```

use std::fmt::Write as _;

use serde_json::Value;

use super::names::{assign, pascal, snake};
use super::{doc_lines, CodegenError, FlagSpec, Kind};

/// Words Rust reserves: a getter named so is written `r#name`.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn", "else", "enum",
    "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "macro", "match", "mod", "move",
    "mut", "override", "priv", "pub", "ref", "return", "static", "struct", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Names that cannot be raw identifiers get a trailing `_` instead.
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate"];

/// The types the module itself declares; a string flag's enum may not take
/// one of these names.
const OWN_TYPES: &[&str] = &["FlagKey", "Flags"];

fn ident(name: String) -> String {
    if NOT_RAW.contains(&name.as_str()) {
        format!("{name}_")
    } else if KEYWORDS.contains(&name.as_str()) {
        format!("r#{name}")
    } else {
        name
    }
}

/// A Rust string literal.
fn lit(text: &str) -> String {
    format!("{text:?}")
}

fn doc(out: &mut String, indent: &str, lines: &[String]) {
    for line in lines {
        // A fence in a description would make a doctest of it.
        let line = if line.trim_start().starts_with("```") {
            format!("\\{}", line.trim_start())
        } else {
            line.clone()
        };
        if line.is_empty() {
            let _ = writeln!(out, "{indent}///");
        } else {
            let _ = writeln!(out, "{indent}/// {line}");
        }
    }
}

/// `value` as `serde_json::json!` input.
fn json_tokens(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => lit(s),
        Value::Array(items) => format!("[{}]", items.iter().map(json_tokens).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", lit(k), json_tokens(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn f64_literal(value: &Value) -> String {
    format!("{:?}", value.as_f64().unwrap_or_default())
}

/// How a string flag is typed: an enum of its variations, or `&'static str`
/// when the values do not give distinct variant names.
enum StringType {
    Enum { name: String, variants: Vec<String> },
    Str,
}

/// One flag's Rust type and how its getter reads it.
struct Getter<'a> {
    flag: &'a FlagSpec,
    method: String,
    strings: Option<StringType>,
}

impl Getter<'_> {
    fn return_type(&self) -> String {
        match (&self.flag.kind, &self.strings) {
            (Kind::Bool, _) => "bool".to_owned(),
            (Kind::Number, _) => "f64".to_owned(),
            (Kind::String(_), Some(StringType::Enum { name, .. })) => name.clone(),
            (Kind::String(_), _) => "&'static str".to_owned(),
            (Kind::Json, _) => "serde_json::Value".to_owned(),
        }
    }

    /// `value` (a variation) as a Rust expression of the return type.
    fn expr(&self, value: &Value) -> String {
        match (&self.flag.kind, &self.strings) {
            (Kind::Bool, _) => value.as_bool().unwrap_or_default().to_string(),
            (Kind::Number, _) => f64_literal(value),
            (Kind::String(values), Some(StringType::Enum { name, variants })) => {
                let i = values
                    .iter()
                    .position(|v| Some(v.as_str()) == value.as_str())
                    .unwrap_or(0);
                format!("{name}::{}", variants[i])
            }
            (Kind::String(_), _) => lit(value.as_str().unwrap_or_default()),
            (Kind::Json, _) => format!("serde_json::json!({})", json_tokens(value)),
        }
    }

    fn body(&self) -> String {
        let key = lit(&self.flag.key);
        let default = match &self.flag.default {
            Some(value) => self.expr(value),
            None => "default".to_owned(),
        };
        match (&self.flag.kind, &self.strings) {
            (Kind::Bool, _) => format!("self.client.bool_variation({key}, ctx, {default})"),
            (Kind::Number, _) => format!("self.client.number_variation({key}, ctx, {default})"),
            (Kind::Json, _) => format!("self.client.json_variation({key}, ctx, {default})"),
            (Kind::String(_), Some(StringType::Enum { name, .. })) => format!(
                "let default = {default};\n        \
                 {name}::from_value(&self.client.string_variation({key}, ctx, default.as_str())).unwrap_or(default)"
            ),
            (Kind::String(values), _) => {
                let mut arms: String = values
                    .iter()
                    .map(|v| format!("            {} => {},\n", lit(v), lit(v)))
                    .collect();
                arms.push_str(&format!("            _ => {default},\n"));
                format!("match self.client.string_variation({key}, ctx, {default}).as_str() {{\n{arms}        }}")
            }
        }
    }
}

/// The module for `flags` (checked, in key order); `from` names the files.
pub fn generate(flags: &[FlagSpec], from: &[&str]) -> Result<String, CodegenError> {
    let keys = || flags.iter().map(|f| f.key.as_str());
    let mut errors = Vec::new();
    let methods = assign(keys(), "method", |k| snake(k).map(ident)).unwrap_or_else(|e| {
        errors.extend(e);
        Vec::new()
    });
    let variants = assign(keys(), "`FlagKey` variant", |k| pascal(k).map(ident)).unwrap_or_else(|e| {
        errors.extend(e);
        Vec::new()
    });
    let string_flags = flags.iter().filter(|f| matches!(f.kind, Kind::String(_)));
    let enum_names = assign(string_flags.clone().map(|f| f.key.as_str()), "type", |k| {
        pascal(k).map(ident)
    })
    .unwrap_or_else(|e| {
        errors.extend(e);
        Vec::new()
    });
    for (flag, name) in string_flags.zip(&enum_names) {
        if OWN_TYPES.contains(&name.as_str()) {
            errors.push(format!(
                "flag `{}` maps to the type `{name}`, which the module declares itself; rename the flag",
                flag.key
            ));
        }
    }
    if !errors.is_empty() {
        return Err(CodegenError(errors));
    }
    let mut enum_names = enum_names.into_iter();
    let getters: Vec<Getter> = flags
        .iter()
        .zip(methods)
        .map(|(flag, method)| {
            let strings = match &flag.kind {
                Kind::String(values) => {
                    let name = enum_names.next().unwrap_or_default();
                    Some(
                        match assign(values.iter().map(String::as_str), "variant", |v| pascal(v).map(ident)) {
                            Ok(variants) => StringType::Enum { name, variants },
                            Err(_) => StringType::Str,
                        },
                    )
                }
                _ => None,
            };
            Getter { flag, method, strings }
        })
        .collect();

    let mut out = String::new();
    let _ = writeln!(out, "// Typed accessors for the flags in {}.", from.join(", "));
    out.push_str(
        "// Generated by `daylight codegen --lang rust`: do not edit; run it again when the files change.\n\n",
    );

    doc(&mut out, "", &["Every flag key in the files.".to_owned()]);
    out.push_str("#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\npub enum FlagKey {\n");
    for (flag, variant) in flags.iter().zip(&variants) {
        let _ = writeln!(out, "    /// `{}`", flag.key);
        let _ = writeln!(out, "    {variant},");
    }
    out.push_str("}\n\n");
    out.push_str("impl FlagKey {\n");
    doc(&mut out, "    ", &["Every key, in key order.".to_owned()]);
    let all: Vec<String> = variants.iter().map(|v| format!("FlagKey::{v}")).collect();
    let _ = writeln!(out, "    pub const ALL: [FlagKey; {}] = [", all.len());
    for item in &all {
        let _ = writeln!(out, "        {item},");
    }
    out.push_str("    ];\n\n");
    doc(&mut out, "    ", &["The key as the server knows it.".to_owned()]);
    out.push_str("    pub const fn as_str(self) -> &'static str {\n        match self {\n");
    for (flag, variant) in flags.iter().zip(&variants) {
        let _ = writeln!(out, "            FlagKey::{variant} => {},", lit(&flag.key));
    }
    out.push_str("        }\n    }\n}\n\n");
    out.push_str(
        "impl std::fmt::Display for FlagKey {\n    \
         fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {\n        \
         f.write_str(self.as_str())\n    }\n}\n\n",
    );

    for getter in &getters {
        let (Kind::String(values), Some(StringType::Enum { name, variants })) = (&getter.flag.kind, &getter.strings)
        else {
            continue;
        };
        doc(&mut out, "", &[format!("The variations of `{}`.", getter.flag.key)]);
        let _ = writeln!(
            out,
            "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]\npub enum {name} {{"
        );
        for (value, variant) in values.iter().zip(variants) {
            let _ = writeln!(out, "    /// `{}`", lit(value));
            let _ = writeln!(out, "    {variant},");
        }
        out.push_str("}\n\n");
        let _ = writeln!(out, "impl {name} {{");
        doc(&mut out, "    ", &["The variation's value.".to_owned()]);
        out.push_str("    pub const fn as_str(self) -> &'static str {\n        match self {\n");
        for (value, variant) in values.iter().zip(variants) {
            let _ = writeln!(out, "            {name}::{variant} => {},", lit(value));
        }
        out.push_str("        }\n    }\n\n");
        doc(
            &mut out,
            "    ",
            &["The variation whose value is `value`, if any.".to_owned()],
        );
        out.push_str("    pub fn from_value(value: &str) -> Option<Self> {\n        match value {\n");
        for (value, variant) in values.iter().zip(variants) {
            let _ = writeln!(out, "            {} => Some({name}::{variant}),", lit(value));
        }
        out.push_str("            _ => None,\n        }\n    }\n}\n\n");
    }

    doc(
        &mut out,
        "",
        &[
            "The flags, read through a client: `flags(&client).new_lobby(&ctx)`. Each getter".to_owned(),
            "returns the default on every error (not ready, flag missing, a value of".to_owned(),
            "another type or, for a string flag, a value not in the files).".to_owned(),
        ],
    );
    out.push_str("#[derive(Clone, Copy)]\npub struct Flags<'a> {\n    client: &'a daylight::client::Client,\n}\n\n");
    doc(&mut out, "", &["Typed getters over `client`.".to_owned()]);
    out.push_str("pub fn flags(client: &daylight::client::Client) -> Flags<'_> {\n    Flags { client }\n}\n\n");
    out.push_str(
        "impl<'a> From<&'a daylight::client::Client> for Flags<'a> {\n    \
         fn from(client: &'a daylight::client::Client) -> Self {\n        Flags { client }\n    }\n}\n\n",
    );
    out.push_str("impl Flags<'_> {\n");
    for (i, getter) in getters.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let default_text = getter.flag.default.as_ref().map(|v| format!("`{}`", getter.expr(v)));
        doc(&mut out, "    ", &doc_lines(getter.flag, default_text));
        let ty = getter.return_type();
        let extra = match getter.flag.default {
            Some(_) => String::new(),
            None => format!(", default: {ty}"),
        };
        let _ = writeln!(
            out,
            "    pub fn {}(&self, ctx: &daylight::Context{extra}) -> {ty} {{\n        {}\n    }}",
            getter.method,
            getter.body()
        );
    }
    out.push_str("}\n");
    Ok(out)
}
