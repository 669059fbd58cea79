//! What a context may hold (`ContextLimits`), the errors past a limit and
//! the budget a context is checked against while it is read.

use thiserror::Error;

use super::AttrValue;

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

/// What is left of a context's [`ContextLimits`] while it is read.
pub(super) struct Budget<'a> {
    limits: &'a ContextLimits,
    members: usize,
    bytes: usize,
}

impl<'a> Budget<'a> {
    pub(super) fn new(limits: &'a ContextLimits) -> Self {
        Budget {
            limits,
            members: 0,
            bytes: 0,
        }
    }

    /// One more member called `name`.
    pub(super) fn member(&mut self, name: &str) -> Result<(), ContextError> {
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
    pub(super) fn string(&mut self, name: &str, len: usize) -> Result<(), ContextError> {
        if len > self.limits.string_bytes {
            return Err(ContextError::StringTooLong {
                name: name.to_owned(),
                max: self.limits.string_bytes,
            });
        }
        self.add(len)
    }

    pub(super) fn value(&mut self, name: &str, value: &AttrValue) -> Result<(), ContextError> {
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
