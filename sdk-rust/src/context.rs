//! The evaluation context: a targeting key plus attributes.

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
        let object = value.as_object().ok_or(ContextError::NotAnObject)?;
        Context::from_json_object(object.clone())
    }

    /// Like `from_json`, but takes the object's members by value, so strings
    /// move into the context instead of being copied (OFREP requests).
    pub fn from_json_object(object: serde_json::Map<String, Value>) -> Result<Context, ContextError> {
        let mut context = Context::anonymous();
        for (name, value) in object {
            if name == "key" {
                let Value::String(key) = value else {
                    return Err(ContextError::KeyNotAString);
                };
                context.key = Some(key);
            } else if let Some(value) = AttrValue::from_json(value) {
                context.attributes.push((name, value));
            }
        }
        Ok(context)
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

impl AttrValue {
    fn from_json(value: Value) -> Option<AttrValue> {
        match value {
            Value::String(s) => Some(AttrValue::String(s)),
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => Some(s),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .map(AttrValue::List),
            Value::Number(n) => n.as_f64().map(AttrValue::Number),
            Value::Bool(b) => Some(AttrValue::Bool(b)),
            Value::Null | Value::Object(_) => None,
        }
    }

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
