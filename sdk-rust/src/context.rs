//! The evaluation context: a targeting key plus attributes.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use thiserror::Error;

/// What the app knows about one request, e.g. `{"key":"u-42","game":"omaha"}`.
///
/// Attributes live in a small vector: contexts hold a handful of attributes,
/// and a linear scan over them beats hashing the name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    key: Option<String>,
    attributes: Vec<(String, AttrValue)>,
}

/// An attribute value. Anything else in a JSON context counts as missing.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    String(String),
    Number(f64),
    Bool(bool),
    List(Vec<String>),
}

/// A borrowed view of one attribute, as clauses see it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Attr<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
    List(&'a [String]),
}

#[derive(Debug, Error, PartialEq)]
pub enum ContextError {
    #[error("a context must be a JSON object")]
    NotAnObject,
    #[error("key: the targeting key must be a string")]
    KeyNotAString,
    #[error("targetingKey must be a string")]
    TargetingKeyNotAString,
}

impl Context {
    /// A context with a targeting key.
    pub fn new(key: impl Into<String>) -> Self {
        Context {
            key: Some(key.into()),
            attributes: Vec::new(),
        }
    }

    /// A context without a targeting key (it matches no target or segment).
    pub fn anonymous() -> Self {
        Context::default()
    }

    /// Sets an attribute (builder style). Setting `key` sets the targeting key
    /// when the value is a string.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<AttrValue>) -> Self {
        self.set(name, value);
        self
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<AttrValue>) {
        let name = name.into();
        let value = value.into();
        if name == "key" {
            if let AttrValue::String(key) = value {
                self.key = Some(key);
            }
            return;
        }
        match self.attributes.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.attributes.push((name, value)),
        }
    }

    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Reads a JSON object. Values that are not a string, number, bool or list
    /// of strings are dropped (they count as missing); `key` must be a string.
    pub fn from_json(value: &Value) -> Result<Context, ContextError> {
        ContextReader::default()
            .deserialize(value)
            .unwrap_or(Err(ContextError::NotAnObject))
    }

    /// Like `from_json`, but takes the object's members by value, so strings
    /// move into the context instead of being copied.
    pub fn from_json_object(object: serde_json::Map<String, Value>) -> Result<Context, ContextError> {
        ContextReader::default()
            .deserialize(Value::Object(object))
            .unwrap_or(Err(ContextError::NotAnObject))
    }

    /// Sets or, with `None`, removes an attribute (a later duplicate in JSON
    /// wins, as in a JSON object read into a map).
    fn put(&mut self, name: String, value: Option<AttrValue>) {
        let slot = self.attributes.iter().position(|(n, _)| *n == name);
        match (slot, value) {
            (Some(i), Some(value)) => self.attributes[i].1 = value,
            (Some(i), None) => {
                self.attributes.swap_remove(i);
            }
            (None, Some(value)) => self.attributes.push((name, value)),
            (None, None) => {}
        }
    }

    /// The attribute called `name`; `key` is the targeting key.
    pub(crate) fn get(&self, name: &str) -> Option<Attr<'_>> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_attr())
    }

    pub(crate) fn get_named_or_key(&self, name: &AttrName) -> Option<Attr<'_>> {
        match name {
            AttrName::Key => self.key.as_deref().map(Attr::Str),
            AttrName::Named(name) => self.get(name),
        }
    }
}

/// A clause's attribute, resolved once at compile time so evaluation does not
/// compare against "key" on every call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AttrName {
    Key,
    Named(Box<str>),
}

impl AttrName {
    pub(crate) fn new(name: &str) -> Self {
        if name == "key" {
            AttrName::Key
        } else {
            AttrName::Named(name.into())
        }
    }
}

/// Reads a context from JSON as it is parsed, with no `serde_json::Value` in
/// between; `Context::from_json` and the server's OFREP requests both read
/// through it, so there is one converter. A JSON error is the outer `Err`; a
/// well-formed document that is not a valid context (a non-string `key`, not
/// an object) is the inner one.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContextReader {
    /// Another member name for the targeting key, which wins over `key` when
    /// both are present and counts as absent when `null` (OpenFeature's
    /// `targetingKey`).
    pub targeting_key: Option<&'static str>,
}

impl<'de> DeserializeSeed<'de> for ContextReader {
    type Value = Result<Context, ContextError>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ContextReader {
    type Value = Result<Context, ContextError>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut context = Context::anonymous();
        // `Some(None)`: present but not a string.
        let mut key: Option<Option<String>> = None;
        let mut alias: Option<Option<String>> = None;
        while let Some(name) = map.next_key::<String>()? {
            if name == "key" {
                key = Some(map.next_value_seed(StringOrOther)?.flatten());
            } else if Some(name.as_str()) == self.targeting_key {
                alias = match map.next_value_seed(StringOrOther)? {
                    None => None,
                    found => Some(found.flatten()),
                };
            } else {
                let value = map.next_value_seed(AttrReader)?;
                context.put(name, value);
            }
        }
        context.key = match (alias, key) {
            (Some(Some(k)), _) => Some(k),
            (Some(None), _) => return Ok(Err(ContextError::TargetingKeyNotAString)),
            (None, Some(Some(k))) => Some(k),
            (None, Some(None)) => return Ok(Err(ContextError::KeyNotAString)),
            (None, None) => None,
        };
        Ok(Ok(context))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err(ContextError::NotAnObject))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Err(ContextError::NotAnObject))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Err(ContextError::NotAnObject))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Err(ContextError::NotAnObject))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Err(ContextError::NotAnObject))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Err(ContextError::NotAnObject))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Err(ContextError::NotAnObject))
    }
}

/// One attribute value: `None` for what a context does not keep (null,
/// objects, lists with anything but strings).
struct AttrReader;

impl<'de> DeserializeSeed<'de> for AttrReader {
    type Value = Option<AttrValue>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AttrReader {
    type Value = Option<AttrValue>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(AttrValue::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(AttrValue::String(v)))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(AttrValue::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(AttrValue::Number(v as f64)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(AttrValue::Number(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(AttrValue::Number(v)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Some(Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64)));
        while let Some(item) = seq.next_element_seed(StringOrOther)? {
            match (item.flatten(), items.as_mut()) {
                (Some(s), Some(list)) => list.push(s),
                _ => items = None,
            }
        }
        Ok(items.map(AttrValue::List))
    }
}

/// A string, or `Some(None)` for any other value, or `None` for `null`.
struct StringOrOther;

impl<'de> DeserializeSeed<'de> for StringOrOther {
    type Value = Option<Option<String>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StringOrOther {
    type Value = Option<Option<String>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Some(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Some(v)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Some(None))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Some(None))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Some(None))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Some(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Some(None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Some(None))
    }
}

impl AttrValue {
    fn as_attr(&self) -> Attr<'_> {
        match self {
            AttrValue::String(s) => Attr::Str(s),
            AttrValue::Number(n) => Attr::Num(*n),
            AttrValue::Bool(b) => Attr::Bool(*b),
            AttrValue::List(items) => Attr::List(items),
        }
    }
}

impl From<&str> for AttrValue {
    fn from(v: &str) -> Self {
        AttrValue::String(v.to_owned())
    }
}
impl From<String> for AttrValue {
    fn from(v: String) -> Self {
        AttrValue::String(v)
    }
}
impl From<f64> for AttrValue {
    fn from(v: f64) -> Self {
        AttrValue::Number(v)
    }
}
impl From<i64> for AttrValue {
    fn from(v: i64) -> Self {
        AttrValue::Number(v as f64)
    }
}
impl From<i32> for AttrValue {
    fn from(v: i32) -> Self {
        AttrValue::Number(v.into())
    }
}
impl From<bool> for AttrValue {
    fn from(v: bool) -> Self {
        AttrValue::Bool(v)
    }
}
impl From<Vec<String>> for AttrValue {
    fn from(v: Vec<String>) -> Self {
        AttrValue::List(v)
    }
}
impl From<Vec<&str>> for AttrValue {
    fn from(v: Vec<&str>) -> Self {
        AttrValue::List(v.into_iter().map(str::to_owned).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn from_json_keeps_supported_types_and_drops_the_rest() {
        let ctx = Context::from_json(&json!({
            "key": "u-1", "game": "omaha", "n": 3, "b": true, "tags": ["a", "b"],
            "nested": {"x": 1}, "nothing": null, "mixed": ["a", 1]
        }))
        .unwrap();
        assert_eq!(ctx.key(), Some("u-1"));
        assert!(matches!(ctx.get("game"), Some(Attr::Str("omaha"))));
        assert!(matches!(ctx.get("n"), Some(Attr::Num(n)) if n == 3.0));
        assert!(matches!(ctx.get("b"), Some(Attr::Bool(true))));
        assert!(matches!(ctx.get("tags"), Some(Attr::List(l)) if l.len() == 2));
        assert!(ctx.get("nested").is_none());
        assert!(ctx.get("nothing").is_none());
        assert!(ctx.get("mixed").is_none());
    }

    #[test]
    fn from_json_rejects_non_objects_and_non_string_keys() {
        assert_eq!(Context::from_json(&json!([1])), Err(ContextError::NotAnObject));
        assert_eq!(Context::from_json(&json!({"key": 5})), Err(ContextError::KeyNotAString));
    }

    fn read(text: &str, targeting_key: Option<&'static str>) -> Result<Context, ContextError> {
        let mut de = serde_json::Deserializer::from_str(text);
        ContextReader { targeting_key }
            .deserialize(&mut de)
            .expect("valid JSON")
    }

    #[test]
    fn reading_json_text_keeps_what_reading_a_value_keeps() {
        let text = r#"{"key":"u-1","game":"omaha","n":3,"big":18446744073709551615,"b":false,
            "tags":["a","b"],"nested":{"x":[1]},"nothing":null,"mixed":["a",1],"empty":[]}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        let mut from_text = read(text, None).unwrap();
        let mut from_value = Context::from_json(&value).unwrap();
        from_text.attributes.sort_by(|a, b| a.0.cmp(&b.0));
        from_value.attributes.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(from_text, from_value);
        assert_eq!(from_text.attributes.len(), 6, "{from_text:?}");
        assert!(matches!(from_text.get("empty"), Some(Attr::List([]))));
    }

    #[test]
    fn a_later_duplicate_wins_even_when_it_is_dropped() {
        let ctx = read(
            r#"{"game":"a","game":"b","gone":"x","gone":{},"key":"k1","key":"k2"}"#,
            None,
        )
        .unwrap();
        assert!(matches!(ctx.get("game"), Some(Attr::Str("b"))));
        assert!(ctx.get("gone").is_none());
        assert_eq!(ctx.key(), Some("k2"));
    }

    #[test]
    fn the_targeting_key_alias_wins_over_key_and_null_means_absent() {
        let alias = Some("targetingKey");
        assert_eq!(read(r#"{"key":5,"targetingKey":"t"}"#, alias).unwrap().key(), Some("t"));
        assert_eq!(
            read(r#"{"targetingKey":null,"key":"k"}"#, alias).unwrap().key(),
            Some("k")
        );
        assert_eq!(read(r#"{"targetingKey":null}"#, alias).unwrap().key(), None);
        assert_eq!(
            read(r#"{"targetingKey":7}"#, alias),
            Err(ContextError::TargetingKeyNotAString)
        );
        assert_eq!(read(r#"{"key":null}"#, alias), Err(ContextError::KeyNotAString));
        // Without the alias it is an ordinary attribute.
        let plain = read(r#"{"targetingKey":"t"}"#, None).unwrap();
        assert_eq!(plain.key(), None);
        assert!(matches!(plain.get("targetingKey"), Some(Attr::Str("t"))));
        assert_eq!(read(r#"[{"key":"k"}]"#, alias), Err(ContextError::NotAnObject));
        assert_eq!(read(r#""k""#, alias), Err(ContextError::NotAnObject));
    }

    #[test]
    fn builder_sets_key_and_replaces_attributes() {
        let ctx = Context::anonymous()
            .with("key", "k")
            .with("game", "a")
            .with("game", "b");
        assert_eq!(ctx.key(), Some("k"));
        assert!(matches!(ctx.get("game"), Some(Attr::Str("b"))));
    }
}
