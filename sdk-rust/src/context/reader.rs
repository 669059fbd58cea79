//! Reading a context straight from JSON text or a `serde_json::Value`
//! (`ContextReader`), within its limits.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{AttrValue, Budget, Context, ContextError, ContextLimits};

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
        name: Cow<'de, str>,
        reading: &mut Reading<'_>,
    ) -> Result<Result<(), ContextError>, A::Error> {
        let is_key = name == "key";
        if is_key || Some(&*name) == self.targeting_key {
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
        reading.context.put(name.into_owned(), value);
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
        while let Some(name) = map.next_key_seed(MemberName)? {
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

/// A member name, borrowed from the JSON text when it holds no escapes:
/// the names that are not kept (`key`, `targetingKey`, skipped members) cost
/// no allocation.
struct MemberName;

impl<'de> DeserializeSeed<'de> for MemberName {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for MemberName {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
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
