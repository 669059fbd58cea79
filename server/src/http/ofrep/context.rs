//! An OFREP request's body: the evaluation context, read as the JSON is
//! parsed.

use daylight::{Context, ContextError, ContextReader};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

/// The request context as a Daylight context: `targetingKey` is the key.
/// Read as the JSON is parsed (`Body`), with no `serde_json::Value` between.
pub(super) fn read_context(body: &[u8]) -> Result<Context, (&'static str, String)> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Context::anonymous());
    }
    let context = serde_json::from_slice::<Body>(body).map_err(|e| match e.classify() {
        // The only data error `Body` raises: a document that is no object.
        serde_json::error::Category::Data => ("PARSE_ERROR", "the body must be a JSON object".into()),
        _ => ("PARSE_ERROR", format!("the body is not valid JSON: {e}")),
    })?;
    // Over-limit contexts (`ContextLimits::DEFAULT`) land here too, their
    // message naming the attribute.
    context.0.map_err(|e| match e {
        ContextError::NotAnObject => ("INVALID_CONTEXT", "context must be an object".into()),
        e => ("INVALID_CONTEXT", format!("context: {e}")),
    })
}

/// An OFREP request body: an object whose `context` (absent or `null`: an
/// anonymous context) is read; other members are skipped.
struct Body(Result<Context, ContextError>);

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(BodyVisitor)
    }
}

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = Body;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Body, A::Error> {
        let mut context = Ok(Context::anonymous());
        while let Some(is_context) = map.next_key_seed(IsContext)? {
            if is_context {
                context = map
                    .next_value_seed(OptionalContext)?
                    .unwrap_or_else(|| Ok(Context::anonymous()));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Body(context))
    }
}

/// Whether a member name is `context` (read without copying it).
struct IsContext;

impl<'de> DeserializeSeed<'de> for IsContext {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for IsContext {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, name: &str) -> Result<bool, E> {
        Ok(name == "context")
    }
}

/// `null` or a context object.
struct OptionalContext;

impl<'de> DeserializeSeed<'de> for OptionalContext {
    type Value = Option<Result<Context, ContextError>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        Option::<WithTargetingKey>::deserialize(deserializer).map(|found| found.map(|c| c.0))
    }
}

struct WithTargetingKey(Result<Context, ContextError>);

impl<'de> Deserialize<'de> for WithTargetingKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ContextReader {
            targeting_key: Some("targetingKey"),
            ..ContextReader::default()
        }
        .deserialize(deserializer)
        .map(WithTargetingKey)
    }
}
