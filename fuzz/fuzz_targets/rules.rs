//! Flag and segment documents: parse → validate → compile → evaluate on a
//! few contexts. Nothing may panic; whatever compiles must evaluate.
#![no_main]

use daylight::{Context, Flag, Ruleset, RulesetDocument};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    // A whole environment, as SDKs receive it.
    if let Ok(doc) = serde_json::from_slice::<RulesetDocument>(data) {
        for segment in doc.segments.values() {
            let _ = daylight::validate_segment(segment);
        }
        if let Ok(ruleset) = Ruleset::compile(&doc) {
            let _ = ruleset.validate_references();
            let contexts = [
                Context::anonymous(),
                Context::from_json(&json!({ "key": "u1", "game": "omaha", "country": "DE", "age": 30, "beta": true }))
                    .expect("a valid context"),
                Context::from_json(&json!({ "key": "", "version": "1.2.3", "email": "a@b.example", "tags": ["x", "y"] }))
                    .expect("a valid context"),
            ];
            for key in ruleset.flag_keys() {
                for ctx in &contexts {
                    let detail = ruleset.evaluate(key, ctx);
                    let _ = serde_json::to_string(&detail.reason);
                }
                let _ = ruleset.variation_kind(key);
            }
            for key in doc.segments.keys() {
                let _ = ruleset.in_segment(key, &contexts[1]);
            }
        }
    }
    // A flag as the admin API stores it (every environment, strict).
    if let Ok(flag) = serde_json::from_slice::<Flag>(data) {
        let _ = daylight::validate_flag(&flag, &|_, _| true);
    }
    // A context as SDKs and OFREP read it.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = Context::from_json(&value);
    }
});
