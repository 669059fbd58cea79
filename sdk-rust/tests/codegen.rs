//! The module `daylight codegen --lang rust` generates for the sample
//! `server/tests/flagfile/codegen/flags.yaml` (a golden file the server's
//! tests keep equal to fresh output), compiled against this crate and read
//! through an offline client. That a misspelt getter or key does not compile
//! is checked by the `compile_fail` examples in the server's
//! `flagfile::codegen::rust` docs.

#![cfg(feature = "client")]

// Included, not a `mod` file, so that rustfmt leaves the generated text as
// generated (the golden test compares it byte for byte).
mod flags {
    include!("codegen/flags.rs");
}

use daylight::client::Client;
use daylight::{Context, RulesetDocument};
use serde_json::json;

use flags::{FlagKey, Theme, Type};

/// The sample's flags as a server would send them, with some values the
/// files do not have.
fn client(flags: serde_json::Value) -> Client {
    let doc: RulesetDocument =
        serde_json::from_value(json!({ "environment": "production", "version": 1, "flags": flags })).unwrap();
    Client::offline().bootstrap(doc).send_usage(false).start().unwrap()
}

fn serving(variations: serde_json::Value, variation: usize) -> serde_json::Value {
    json!({ "variations": variations, "on": true, "off_variation": 0, "fallthrough": { "variation": variation } })
}

#[test]
fn each_getter_reads_its_flag_with_its_type() {
    let client = client(json!({
        "new-lobby": serving(json!([false, true]), 1),
        "theme": serving(json!(["light", "dark", "high-contrast"]), 2),
        "table-limit": serving(json!([4, 8, 12.5]), 2),
        "lobby-config": serving(json!([{ "columns": 3 }, { "columns": 4 }]), 1),
        "type": serving(json!(["classic", "turbo"]), 1),
        "greeting": serving(json!(["Hello!", "hello"]), 1),
    }));
    let ctx = Context::new("u-1");
    let flags = flags::flags(&client);
    assert!(flags.new_lobby(&ctx));
    assert_eq!(flags.theme(&ctx), Theme::HighContrast);
    assert_eq!(flags.table_limit(&ctx, 1.0), 12.5);
    assert_eq!(flags.lobby_config(&ctx), json!({ "columns": 4 }));
    assert_eq!(flags.r#type(&ctx), Type::Turbo);
    assert_eq!(flags.greeting(&ctx), "hello");
}

#[test]
fn getters_fall_back_on_the_files_default_or_the_callers() {
    // `theme` serves a value added on the server after the module was
    // generated; `new-lobby` is a string flag there; the rest are missing.
    let client = client(json!({
        "theme": serving(json!(["light", "dark", "sepia"]), 2),
        "new-lobby": serving(json!(["a", "b"]), 1),
    }));
    let ctx = Context::new("u-1");
    let flags = flags::Flags::from(&client);
    assert!(!flags.new_lobby(&ctx));
    assert_eq!(flags.theme(&ctx), Theme::Light);
    assert_eq!(flags.table_limit(&ctx, 7.0), 7.0);
    assert_eq!(flags.lobby_config(&ctx), json!({ "banner": null, "columns": 3 }));
    assert_eq!(flags.r#type(&ctx), Type::Classic);
    assert_eq!(flags.greeting(&ctx), "Hello!");
}

#[test]
fn flag_keys_and_string_values_are_typed() {
    assert_eq!(FlagKey::ALL.len(), 6);
    assert_eq!(FlagKey::NewLobby.as_str(), "new-lobby");
    assert_eq!(FlagKey::TableLimit.to_string(), "table-limit");
    assert_eq!(Theme::from_value("high-contrast"), Some(Theme::HighContrast));
    assert_eq!(Theme::from_value("sepia"), None);
    assert_eq!(Theme::Dark.as_str(), "dark");
    let keys: Vec<&str> = FlagKey::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        ["greeting", "lobby-config", "new-lobby", "table-limit", "theme", "type"]
    );
}
