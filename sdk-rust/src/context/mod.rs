//! The evaluation context: a targeting key plus attributes.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use thiserror::Error;

/// What the app knows about one request, e.g. `{"key":"u-42","game":"omaha"}`.
#[derive(Debug, Clone, Default)]
pub struct Context {
    key: Option<String>,
    attributes: Attributes,
}

/// Up to `SCAN_MAX` attributes live in a vector: contexts usually hold a
/// handful, and a scan over a few names beats hashing one. Beyond that they
/// move to a hash map, so adding n attributes costs O(n), not O(n²).
#[derive(Debug, Clone)]
enum Attributes {
    Few(Vec<(String, AttrValue)>),
    Many(foldhash::HashMap<String, AttrValue>),
}

/// Where a scan stops paying (`benches/context.rs`, `lookup/*`).
const SCAN_MAX: usize = 16;

impl Default for Attributes {
    fn default() -> Self {
        Attributes::Few(Vec::new())
    }
}

impl Attributes {
    fn len(&self) -> usize {
        match self {
            Attributes::Few(list) => list.len(),
            Attributes::Many(map) => map.len(),
        }
    }

    fn get(&self, name: &str) -> Option<&AttrValue> {
        match self {
            Attributes::Few(list) => list.iter().find(|(n, _)| compared(n == name)).map(|(_, v)| v),
            Attributes::Many(map) => {
                compared(true);
                map.get(name)
            }
        }
    }

    fn insert(&mut self, name: String, value: AttrValue) {
        match self {
            Attributes::Few(list) => match list.iter().position(|(n, _)| compared(*n == name)) {
                Some(i) => list[i].1 = value,
                None if list.len() < SCAN_MAX => list.push((name, value)),
                None => {
                    let mut map: foldhash::HashMap<_, _> = list.drain(..).collect();
                    map.insert(name, value);
                    *self = Attributes::Many(map);
                }
            },
            Attributes::Many(map) => {
                compared(true);
                map.insert(name, value);
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&String, &AttrValue)> {
        let (few, many) = match self {
            Attributes::Few(list) => (Some(list.iter().map(|(n, v)| (n, v))), None),
            Attributes::Many(map) => (None, Some(map.iter())),
        };
        few.into_iter().flatten().chain(many.into_iter().flatten())
    }

    fn remove(&mut self, name: &str) {
        match self {
            Attributes::Few(list) => {
                if let Some(i) = list.iter().position(|(n, _)| compared(n == name)) {
                    list.swap_remove(i);
                }
            }
            Attributes::Many(map) => {
                compared(true);
                map.remove(name);
            }
        }
    }
}

/// Contexts are equal when they hold the same key and attributes, in any
/// order.
impl PartialEq for Context {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
            && self.attributes.len() == other.attributes.len()
            && self.attributes.iter().all(|(n, v)| other.attributes.get(n) == Some(v))
    }
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

/// Bounds on a context read from JSON ([`ContextReader`],
/// [`Context::from_json`]), so that a request cannot make a reader spend more
/// than a few microseconds or kilobytes on it. The defaults are far above
/// what an app sends (`docs/api.md`, "Limits"). Lengths are in UTF-8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextLimits {
    /// Members besides the targeting key (kept or not).
    pub attributes: usize,
    /// The length of an attribute name.
    pub name_bytes: usize,
    /// The length of the targeting key, a string value or a list item.
    pub string_bytes: usize,
    /// The items of a list.
    pub list_items: usize,
    /// Names, strings and list items together.
    pub total_bytes: usize,
}

impl ContextLimits {
    pub const DEFAULT: ContextLimits = ContextLimits {
        attributes: 256,
        name_bytes: 256,
        string_bytes: 4096,
        list_items: 1024,
        total_bytes: 64 * 1024,
    };

    /// No bounds (for contexts from a trusted source).
    pub const NONE: ContextLimits = ContextLimits {
        attributes: usize::MAX,
        name_bytes: usize::MAX,
        string_bytes: usize::MAX,
        list_items: usize::MAX,
        total_bytes: usize::MAX,
    };
}

impl Default for ContextLimits {
    fn default() -> Self {
        ContextLimits::DEFAULT
    }
}

#[derive(Debug, Error, PartialEq)]
#[non_exhaustive]
pub enum ContextError {
    #[error("a context must be a JSON object")]
    NotAnObject,
    #[error("key: the targeting key must be a string")]
    KeyNotAString,
    #[error("targetingKey must be a string")]
    TargetingKeyNotAString,
    #[error("a context has at most {max} attributes")]
    TooManyAttributes { max: usize },
    /// `name` is the name's first 64 bytes.
    #[error("{name}…: an attribute name is at most {max} bytes")]
    NameTooLong { name: String, max: usize },
    #[error("{name}: a string is at most {max} bytes")]
    StringTooLong { name: String, max: usize },
    #[error("{name}: a list has at most {max} items")]
    ListTooLong { name: String, max: usize },
    #[error("a context's names and strings add up to at most {max} bytes")]
    TooLarge { max: usize },
}

impl ContextError {
    /// The member at fault, when it is one member (`key` for the targeting
    /// key), so that an API error can name the field.
    pub fn attribute(&self) -> Option<&str> {
        match self {
            ContextError::KeyNotAString => Some("key"),
            ContextError::TargetingKeyNotAString => Some("targetingKey"),
            ContextError::NameTooLong { name, .. }
            | ContextError::StringTooLong { name, .. }
            | ContextError::ListTooLong { name, .. } => Some(name),
            _ => None,
        }
    }
}

impl Context {
    /// A context with a targeting key.
    pub fn new(key: impl Into<String>) -> Self {
        Context {
            key: Some(key.into()),
            attributes: Attributes::default(),
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
        self.attributes.insert(name, value);
    }

    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The names of the attributes besides the targeting key, in no set
    /// order.
    pub fn attribute_names(&self) -> impl Iterator<Item = &str> {
        self.attributes.iter().map(|(name, _)| name.as_str())
    }

    /// Reads a JSON object within [`ContextLimits::DEFAULT`]. Values that are
    /// not a string, number, bool or list of strings are dropped (they count
    /// as missing); `key` must be a string.
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

    /// Checks a context built with [`Context::set`] against `limits`, as
    /// [`ContextReader`] checks what it reads (for contexts assembled from
    /// request headers, say).
    pub fn check(&self, limits: &ContextLimits) -> Result<(), ContextError> {
        let mut budget = Budget::new(limits);
        if let Some(key) = &self.key {
            budget.string("key", key.len())?;
        }
        self.attributes.iter().try_for_each(|(name, value)| {
            budget.member(name)?;
            budget.value(name, value)
        })
    }

    /// Sets or, with `None`, removes an attribute (a later duplicate in JSON
    /// wins, as in a JSON object read into a map).
    fn put(&mut self, name: String, value: Option<AttrValue>) {
        match value {
            Some(value) => self.attributes.insert(name, value),
            None => self.attributes.remove(&name),
        }
    }

    /// The attribute called `name`; `key` is the targeting key.
    pub(crate) fn get(&self, name: &str) -> Option<Attr<'_>> {
        self.attributes.get(name).map(AttrValue::as_attr)
    }

    pub(crate) fn get_named_or_key(&self, name: &AttrName) -> Option<Attr<'_>> {
        match name {
            AttrName::Key => self.key.as_deref().map(Attr::Str),
            AttrName::Named(name) => self.get(name),
        }
    }
}

/// What is left of a context's [`ContextLimits`] while it is read.
struct Budget<'a> {
    limits: &'a ContextLimits,
    members: usize,
    bytes: usize,
}

impl<'a> Budget<'a> {
    fn new(limits: &'a ContextLimits) -> Self {
        Budget {
            limits,
            members: 0,
            bytes: 0,
        }
    }

    /// One more member called `name`.
    fn member(&mut self, name: &str) -> Result<(), ContextError> {
        self.members += 1;
        if self.members > self.limits.attributes {
            return Err(ContextError::TooManyAttributes {
                max: self.limits.attributes,
            });
        }
        if name.len() > self.limits.name_bytes {
            return Err(ContextError::NameTooLong {
                name: prefix(name, 64).to_owned(),
                max: self.limits.name_bytes,
            });
        }
        self.add(name.len())
    }

    /// A string of `len` bytes in member `name`.
    fn string(&mut self, name: &str, len: usize) -> Result<(), ContextError> {
        if len > self.limits.string_bytes {
            return Err(ContextError::StringTooLong {
                name: name.to_owned(),
                max: self.limits.string_bytes,
            });
        }
        self.add(len)
    }

    fn value(&mut self, name: &str, value: &AttrValue) -> Result<(), ContextError> {
        match value {
            AttrValue::String(s) => self.string(name, s.len()),
            AttrValue::List(items) => {
                if items.len() > self.limits.list_items {
                    return Err(ContextError::ListTooLong {
                        name: name.to_owned(),
                        max: self.limits.list_items,
                    });
                }
                items.iter().try_for_each(|item| self.string(name, item.len()))
            }
            AttrValue::Number(_) | AttrValue::Bool(_) => Ok(()),
        }
    }

    fn add(&mut self, len: usize) -> Result<(), ContextError> {
        self.bytes = self.bytes.saturating_add(len);
        if self.bytes > self.limits.total_bytes {
            return Err(ContextError::TooLarge {
                max: self.limits.total_bytes,
            });
        }
        Ok(())
    }
}

/// The first `max` bytes of `s`, cut at a character boundary.
fn prefix(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
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
/// an object, over its limits) is the inner one.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContextReader {
    /// Another member name for the targeting key, which wins over `key` when
    /// both are present and counts as absent when `null` (OpenFeature's
    /// `targetingKey`).
    pub targeting_key: Option<&'static str>,
    /// What the context may hold. Past a limit the rest of the object is
    /// skipped unread and the answer is the limit's error.
    pub limits: ContextLimits,
}

/// A context being read.
struct Reading<'a> {
    context: Context,
    budget: Budget<'a>,
    /// `Some(None)`: present but not a string.
    key: Option<Option<String>>,
    alias: Option<Option<String>>,
}

impl ContextReader {
    /// Reads the value of member `name`, always consuming it.
    fn member<'de, A: MapAccess<'de>>(
        &self,
        map: &mut A,
        name: String,
        reading: &mut Reading<'_>,
    ) -> Result<Result<(), ContextError>, A::Error> {
        let is_key = name == "key";
        if is_key || Some(name.as_str()) == self.targeting_key {
            let found = map.next_value_seed(StringOrOther)?;
            if let Some(Some(key)) = &found {
                if let Err(e) = reading.budget.string(&name, key.len()) {
                    return Ok(Err(e));
                }
            }
            if is_key {
                reading.key = Some(found.flatten());
            } else {
                reading.alias = found;
            }
            return Ok(Ok(()));
        }
        if let Err(e) = reading.budget.member(&name) {
            map.next_value::<IgnoredAny>()?;
            return Ok(Err(e));
        }
        let value = match map.next_value_seed(AttrReader {
            limits: &self.limits,
            name: &name,
        })? {
            Ok(value) => value,
            Err(e) => return Ok(Err(e)),
        };
        if let Some(value) = &value {
            if let Err(e) = reading.budget.value(&name, value) {
                return Ok(Err(e));
            }
        }
        reading.context.put(name, value);
        Ok(Ok(()))
    }
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
        let mut reading = Reading {
            context: Context::anonymous(),
            budget: Budget::new(&self.limits),
            key: None,
            alias: None,
        };
        while let Some(name) = map.next_key::<String>()? {
            if let Err(e) = self.member(&mut map, name, &mut reading)? {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                return Ok(Err(e));
            }
        }
        let mut context = reading.context;
        context.key = match (reading.alias, reading.key) {
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

/// The value of attribute `name`: `None` for what a context does not keep
/// (null, objects, lists with anything but strings). A list stops growing at
/// its limit, so a huge one is skipped rather than built.
struct AttrReader<'a> {
    limits: &'a ContextLimits,
    name: &'a str,
}

impl<'de> DeserializeSeed<'de> for AttrReader<'_> {
    type Value = Result<Option<AttrValue>, ContextError>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AttrReader<'_> {
    type Value = Result<Option<AttrValue>, ContextError>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Ok(Some(AttrValue::String(v.to_owned()))))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Ok(Some(AttrValue::String(v))))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Ok(Some(AttrValue::Bool(v))))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Ok(Some(AttrValue::Number(v as f64))))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Ok(Some(AttrValue::Number(v as f64))))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Ok(Some(AttrValue::Number(v))))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Ok(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Ok(None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let max = self.limits.list_items;
        let mut items = Some(Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64)));
        let mut count = 0;
        while count < max {
            let Some(item) = seq.next_element_seed(StringOrOther)? else {
                return Ok(Ok(items.map(AttrValue::List)));
            };
            count += 1;
            match (item.flatten(), items.as_mut()) {
                (Some(s), Some(list)) => list.push(s),
                _ => items = None,
            }
        }
        if seq.next_element::<IgnoredAny>()?.is_none() {
            return Ok(Ok(items.map(AttrValue::List)));
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err(ContextError::ListTooLong {
            name: self.name.to_owned(),
            max,
        }))
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
thread_local! {
    static COMPARISONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}
/// Passes `equal` through, counting name comparisons in tests: they prove
/// that building a context costs linear time without timing it.
#[inline(always)]
fn compared(equal: bool) -> bool {
    #[cfg(test)]
    COMPARISONS.with(|c| c.set(c.get() + 1));
    equal
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
        ContextReader {
            targeting_key,
            ..ContextReader::default()
        }
        .deserialize(&mut de)
        .expect("valid JSON")
    }

    #[test]
    fn reading_json_text_keeps_what_reading_a_value_keeps() {
        let text = r#"{"key":"u-1","game":"omaha","n":3,"big":18446744073709551615,"b":false,
            "tags":["a","b"],"nested":{"x":[1]},"nothing":null,"mixed":["a",1],"empty":[]}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        let from_text = read(text, None).unwrap();
        let from_value = Context::from_json(&value).unwrap();
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

    /// Name comparisons made by `f` (the cost of finding attributes by name).
    fn comparisons(f: impl FnOnce()) -> u64 {
        let before = COMPARISONS.with(|c| c.get());
        f();
        COMPARISONS.with(|c| c.get()) - before
    }

    fn attributes(n: usize) -> String {
        let members: Vec<String> = (0..n).map(|i| format!("\"a{i}\":{i}")).collect();
        format!("{{{}}}", members.join(","))
    }

    fn read_with(text: &str, limits: ContextLimits) -> Result<Context, ContextError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let read = ContextReader {
            limits,
            ..ContextReader::default()
        }
        .deserialize(&mut de)
        .expect("valid JSON");
        de.end().expect("read to the end");
        read
    }

    #[test]
    fn building_a_context_costs_linear_time() {
        const N: u64 = 10_000;
        let built = comparisons(|| {
            let mut ctx = Context::anonymous();
            for i in 0..N {
                ctx.set(format!("a{i}"), i as i64);
            }
            ctx.set("a7", "last");
            assert!(matches!(ctx.get("a7"), Some(Attr::Str("last"))));
        });
        assert!(built <= 20 * N, "{built} comparisons for {N} attributes");
        let text = attributes(N as usize);
        let read_cost = comparisons(|| {
            let ctx = read_with(&text, ContextLimits::NONE).unwrap();
            assert!(matches!(ctx.get("a9999"), Some(Attr::Num(n)) if n == 9999.0));
        });
        assert!(read_cost <= 20 * N, "{read_cost} comparisons to read {N} attributes");
    }

    #[test]
    fn many_attributes_keep_the_last_value_per_name() {
        let n = 100_000;
        let mut members: Vec<String> = (0..n).map(|i| format!("\"a{i}\":\"first\"")).collect();
        members.extend((0..n).step_by(2).map(|i| format!("\"a{i}\":{i}")));
        members.extend((0..n).step_by(3).map(|i| format!("\"a{i}\":null")));
        let ctx = read_with(&format!("{{{}}}", members.join(",")), ContextLimits::NONE).unwrap();
        for i in [0, 1, 2, 3, 4, 5, 99_998, 99_999] {
            let attr = ctx.get(&format!("a{i}"));
            match (i % 3, i % 2) {
                (0, _) => assert!(attr.is_none(), "a{i} was removed"),
                (_, 0) => assert!(matches!(attr, Some(Attr::Num(v)) if v == i as f64), "a{i}"),
                _ => assert!(matches!(attr, Some(Attr::Str("first"))), "a{i}"),
            }
        }
        let kept = (0..n).filter(|i| i % 3 != 0).count();
        assert_eq!(ctx.attributes.len(), kept);
    }

    #[test]
    fn contexts_are_equal_whatever_the_order_and_storage() {
        let forward = (0..40).fold(Context::new("k"), |c, i| c.with(format!("a{i}"), i));
        let backward = (0..40).rev().fold(Context::new("k"), |c, i| c.with(format!("a{i}"), i));
        assert_eq!(forward, backward);
        assert_ne!(forward, backward.clone().with("a3", "x"));
        let small = Context::new("k").with("a", 1).with("b", 2);
        assert_eq!(small, Context::new("k").with("b", 2).with("a", 1));
        assert_ne!(small, Context::new("k").with("a", 1));
    }

    #[test]
    fn each_limit_holds_at_its_value_and_refuses_one_more() {
        let limits = ContextLimits {
            attributes: 3,
            name_bytes: 4,
            string_bytes: 5,
            list_items: 2,
            total_bytes: 26,
        };
        let ok = |text: &str| read_with(text, limits).unwrap();
        let err = |text: &str| read_with(text, limits).unwrap_err();
        ok(r#"{"key":"k","a":1,"b":2,"c":3}"#);
        assert_eq!(
            err(r#"{"key":"k","a":1,"b":2,"c":3,"d":4}"#),
            ContextError::TooManyAttributes { max: 3 }
        );
        // Dropped members count too: they cost the reader as much.
        assert_eq!(
            err(r#"{"a":null,"b":{},"c":[1],"d":null}"#),
            ContextError::TooManyAttributes { max: 3 }
        );
        ok(r#"{"abcd":1}"#);
        let e = err(r#"{"abcde":1}"#);
        assert_eq!(e.attribute(), Some("abcde"));
        assert!(matches!(e, ContextError::NameTooLong { max: 4, .. }));
        ok(r#"{"s":"12345","l":["12345","x"]}"#);
        let e = err(r#"{"s":"123456"}"#);
        assert_eq!(
            (e.attribute(), e.to_string().as_str()),
            (Some("s"), "s: a string is at most 5 bytes")
        );
        assert_eq!(err(r#"{"l":["x","123456"]}"#).attribute(), Some("l"));
        assert_eq!(err(r#"{"key":"123456"}"#).attribute(), Some("key"));
        assert_eq!(
            err(r#"{"l":["a","b","c"]}"#),
            ContextError::ListTooLong {
                name: "l".into(),
                max: 2
            }
        );
        // A list that would be dropped is still bounded.
        assert_eq!(err(r#"{"l":[1,2,3]}"#).attribute(), Some("l"));
        ok(r#"{"key":"kkkk","aaaa":"12345","bbbb":"12345","c":"123"}"#);
        assert_eq!(
            err(r#"{"key":"kkkk","aaaa":"12345","bbbb":"12345","c":"1234"}"#),
            ContextError::TooLarge { max: 26 }
        );
    }

    #[test]
    fn past_a_limit_the_rest_is_skipped_but_must_still_be_json() {
        let text = attributes(100_000);
        assert_eq!(
            read_with(&text, ContextLimits::DEFAULT),
            Err(ContextError::TooManyAttributes { max: 256 })
        );
        assert!(Context::from_json(&serde_json::from_str(&text).unwrap()).is_err());
        let cut = format!("{}{{", &text[..text.len() - 1]);
        let mut de = serde_json::Deserializer::from_str(&cut);
        assert!(
            ContextReader::default().deserialize(&mut de).is_err(),
            "a syntax error stays one"
        );
    }

    #[test]
    fn a_name_too_long_is_named_by_its_start() {
        let name = "é".repeat(200);
        let e = read_with(&format!(r#"{{"{name}":1}}"#), ContextLimits::DEFAULT).unwrap_err();
        assert_eq!(e.attribute(), Some("é".repeat(32).as_str()));
    }

    #[test]
    fn a_built_context_is_checked_like_a_read_one() {
        let limits = ContextLimits::DEFAULT;
        assert_eq!(Context::new("k").with("a", "b").check(&limits), Ok(()));
        let long = "x".repeat(limits.string_bytes + 1);
        assert_eq!(
            Context::new(long.as_str()).check(&limits).unwrap_err().attribute(),
            Some("key")
        );
        let e = Context::anonymous()
            .with("ua", long.as_str())
            .check(&limits)
            .unwrap_err();
        assert_eq!(e.attribute(), Some("ua"));
        let many = (0..=limits.attributes).fold(Context::anonymous(), |c, i| c.with(format!("a{i}"), 1));
        assert_eq!(
            many.check(&limits),
            Err(ContextError::TooManyAttributes { max: limits.attributes })
        );
    }
}
