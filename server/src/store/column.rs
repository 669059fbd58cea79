//! Column types for `#[derive(sqlx::FromRow)]`: how a value is stored when
//! it is not the field's own type. Both backends store JSON as `TEXT` and
//! booleans as `BIGINT` (0 or 1), which read the same way through `Any`.
//! A field says which with `#[sqlx(try_from = "…")]`.

use crate::releases::plan::{PlanSpec, Progress};

/// A `TEXT` column holding a JSON document; a document that does not parse
/// is a decode error of its column.
#[derive(sqlx::Type)]
#[sqlx(transparent)]
pub struct JsonText(String);

macro_rules! from_json_text {
    ($($ty:ty),* $(,)?) => {$(
        impl TryFrom<JsonText> for $ty {
            type Error = serde_json::Error;

            fn try_from(text: JsonText) -> Result<$ty, serde_json::Error> {
                serde_json::from_str(&text.0)
            }
        }
    )*};
}

from_json_text!(
    daylight::model::Flag,
    PlanSpec,
    Progress,
    super::schedule::Change,
    crate::freeze::Schedule,
    std::collections::BTreeMap<String, u32>,
    crate::auth::EnvRoles,
);

/// A nullable `TEXT` column holding a JSON document, read leniently: what
/// does not parse reads as `None` (the audit log's before and after).
#[derive(sqlx::Type)]
#[sqlx(transparent)]
pub struct LenientJson(Option<String>);

impl From<LenientJson> for Option<serde_json::Value> {
    fn from(text: LenientJson) -> Option<serde_json::Value> {
        text.0.and_then(|s| serde_json::from_str(&s).ok())
    }
}

/// A `BIGINT` column holding a boolean: anything but 0 is true.
#[derive(sqlx::Type)]
#[sqlx(transparent)]
pub struct IntBool(i64);

impl From<IntBool> for bool {
    fn from(value: IntBool) -> bool {
        value.0 != 0
    }
}
