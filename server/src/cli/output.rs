//! What a command prints: the API's JSON exactly as sent for `--json`
//! (scripts parse it), and for people a table for a list or `field: value`
//! lines for one object, with times as UTC ISO 8601.

use comfy_table::{presets, Table};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::client::Answer;

pub struct Reply {
    json: Value,
    /// Rendered from the server's response type; an answer that does not
    /// parse fails only the text, so `--json` still prints it.
    text: Result<String, String>,
}

impl Reply {
    /// The answer, shown to people by `render` from the server's type `T`.
    pub fn new<T: DeserializeOwned>(answer: Answer, render: impl FnOnce(T) -> String) -> Reply {
        Reply {
            text: answer.parse().map(render),
            json: answer.json,
        }
    }

    /// One object of type `T` as `field: value` lines.
    pub fn record<T: DeserializeOwned + Serialize>(answer: Answer) -> Reply {
        Reply::new(answer, |item: T| record(&item))
    }

    /// An answer with no body (`204`).
    pub fn done(answer: Answer) -> Reply {
        Reply {
            json: answer.json,
            text: Ok("done".to_owned()),
        }
    }

    pub fn print(self, json: bool) -> Result<(), String> {
        if json {
            println!("{}", serde_json::to_string_pretty(&self.json).unwrap_or_default());
        } else {
            println!("{}", self.text?);
        }
        Ok(())
    }
}

/// A table with a header, columns two spaces apart, no borders (easy to
/// read, and to `grep` or `awk`).
pub fn table<const N: usize>(header: [&str; N], rows: impl IntoIterator<Item = [String; N]>) -> String {
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_header(header);
    for row in rows {
        table.add_row(row);
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table.trim_fmt()
}

/// `field: value` lines in field order; nested values as compact JSON and
/// times (Unix ms in `at` and `…_at` fields) readable.
pub fn record(item: &impl Serialize) -> String {
    let value = serde_json::to_value(item).unwrap_or_default();
    let Value::Object(fields) = value else {
        return show(&value);
    };
    fields
        .iter()
        .map(|(name, value)| {
            let shown = match value.as_i64() {
                Some(ms) if name == "at" || name.ends_with("_at") => time(ms),
                _ => show(value),
            };
            format!("{name}: {shown}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Unix milliseconds as UTC ISO 8601 to the second, e.g.
/// `2026-12-06T05:10:00Z`.
pub fn time(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => format!("{t:.0}"),
        Err(_) => ms.to_string(),
    }
}

/// [`time`], or `-` when there is none.
pub fn maybe_time(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_owned(), time)
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn times_are_utc_iso_8601_to_the_second() {
        assert_eq!(time(1_796_526_367_247), "2026-12-06T03:06:07Z");
        assert_eq!(time(0), "1970-01-01T00:00:00Z");
        assert_eq!(maybe_time(None), "-");
    }

    #[test]
    fn a_table_has_a_header_and_aligned_columns_without_trailing_spaces() {
        let text = table(
            ["KEY", "NAME"],
            [["new-lobby".into(), "New lobby".into()], ["x".into(), "X".into()]],
        );
        assert_eq!(text, "KEY        NAME\nnew-lobby  New lobby\nx          X");
    }

    #[test]
    fn a_record_shows_times_readable_and_the_rest_as_json() {
        let text = record(&json!({ "key": "a", "created_at": 0, "applied_at": null, "tags": ["x"] }));
        assert_eq!(
            text,
            "applied_at: null\ncreated_at: 1970-01-01T00:00:00Z\nkey: a\ntags: [\"x\"]"
        );
    }
}
