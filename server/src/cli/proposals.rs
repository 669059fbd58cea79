//! What `daylight change-requests open` proposes for a segment or an app's
//! bundle: the `config` (or `publish`) of the `POST /api/v1/change-requests`
//! body, read from a file or built from the current state and flags.

use std::path::Path;

use serde_json::{json, Value};

use super::client::Client;
use crate::store::bundles::Publish;
use crate::store::segments::StoredSegment;

/// A segment's proposed `included`, `excluded` and `rules`: the whole set
/// from `config` (JSON or YAML), or the current ones with the included or
/// excluded keys replaced by files of keys (one a line, as `segments
/// upload` reads them).
pub async fn segment(
    c: &Client,
    env: &str,
    key: &str,
    config: Option<&str>,
    included: Option<&Path>,
    excluded: Option<&Path>,
) -> Result<Value, String> {
    if let Some(source) = config {
        return read_document(source, "a segment's keys and rules");
    }
    if included.is_none() && excluded.is_none() {
        return Err("say what to propose for the segment: --config FILE, --included FILE or --excluded FILE".into());
    }
    let current: StoredSegment = c
        .get(&format!("/api/v1/environments/{env}/segments/{key}"))
        .send()
        .await?
        .parse()?;
    let mut rules = current.rules;
    if let Some(file) = included {
        rules.included = keys(file)?;
    }
    if let Some(file) = excluded {
        rules.excluded = keys(file)?;
    }
    Ok(json!({ "included": rules.included, "excluded": rules.excluded, "rules": rules.rules }))
}

/// An app's proposed bundle: its whole config from `config` (JSON or
/// YAML), as `(Some(config), None)`, or a publish as `bundles publish`
/// takes it, as `(None, Some(publish))`.
pub fn bundle(config: Option<&str>, publish: Option<Publish>) -> Result<(Option<Value>, Option<Publish>), String> {
    match (config, publish) {
        (Some(source), None) => Ok((Some(read_document(source, "a bundle config")?), None)),
        (None, Some(publish)) => Ok((None, Some(publish))),
        _ => Err(
            "say what to propose for the bundle: --publish VERSION (live, or with --canary …) or --config FILE".into(),
        ),
    }
}

/// A JSON or YAML document from a file, or from stdin for `-`.
pub fn read_document(source: &str, what: &str) -> Result<Value, String> {
    let text = super::change_requests::read_source(source)?;
    serde_yaml_ng::from_str(&text).map_err(|e| format!("{source} is not {what} (JSON or YAML): {e}"))
}

/// Keys, one a line; blank lines skipped.
fn keys(file: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}
