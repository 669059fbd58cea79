//! The evaluation context: a targeting key plus attributes.

mod limits;
mod reader;
#[cfg(test)]
mod tests;

use serde::de::DeserializeSeed;
use serde_json::Value;

use limits::Budget;
pub use limits::{ContextError, ContextLimits};
pub use reader::ContextReader;

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
