//! The published JSON Schema of the file format (`docs/flags-file.schema.json`),
//! generated from the model types so it cannot drift from what `validate`
//! reads. A test fails when the checked-in file is stale; regenerate it
//! with `UPDATE_GOLDEN=1 cargo test -p daylight-server --lib flagfile::schema`.

use super::model::FlagFile;

/// The schema as pretty JSON, ending in a newline.
pub fn json_schema() -> String {
    let mut schema = schemars::schema_for!(FlagFile);
    schema.insert(
        "description".to_owned(),
        "A Daylight flags-as-code file (docs/flags-as-code.md). Semantic checks (segments that exist, \
         prerequisite cycles, weights summing to 100000, the portable regex subset, expiry) are \
         `daylight validate`'s."
            .into(),
    );
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_published_schema_is_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/flags-file.schema.json");
        let got = super::json_schema();
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &got).unwrap();
        }
        let published = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            published == got,
            "docs/flags-file.schema.json is stale: run UPDATE_GOLDEN=1 cargo test -p daylight-server --lib flagfile::schema"
        );
    }

    /// The schema accepts the examples (a structural check: required
    /// fields and unknown fields are what the model says).
    #[test]
    fn the_schema_requires_what_the_model_requires() {
        let schema: serde_json::Value = serde_json::from_str(&super::json_schema()).unwrap();
        assert_eq!(schema["required"], serde_json::json!(["version"]));
        assert_eq!(schema["additionalProperties"], false);
        let flag = &schema["$defs"]["FileFlag"];
        assert_eq!(flag["required"], serde_json::json!(["key", "variations"]));
        assert_eq!(flag["additionalProperties"], false);
    }
}
