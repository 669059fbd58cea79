//! The typed error for a document that cannot be compiled.

use thiserror::Error;

/// A rejected field: `path` names it (for example
/// `flags.new-lobby.rules[2].clauses[0].values[1]`), `message` says why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{path}: {message}")]
pub struct ValidationError {
    pub path: String,
    pub message: String,
}

impl ValidationError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            path: path.into(),
            message: message.into(),
        }
    }
}
