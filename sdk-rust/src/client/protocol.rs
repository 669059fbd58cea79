//! The server-key side of the streaming protocol (`docs/protocol.md`) as
//! serde types. Unknown message types read as [`ServerMessage::Unknown`] and
//! unknown fields are ignored, so a newer server can talk to this SDK.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The protocol versions this SDK speaks, sent in `hello.protocols`.
pub(crate) const PROTOCOLS: &[u32] = &[1];

/// What the SDK sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ClientMessage<'a> {
    Hello {
        protocols: &'a [u32],
        key: &'a str,
        sdk: &'a str,
        /// The last ruleset version received from a server, to resume.
        #[serde(skip_serializing_if = "Option::is_none")]
        version: Option<u64>,
    },
    Heartbeat,
}

impl ClientMessage<'_> {
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("client messages always serialise")
    }
}

/// What the server sends to a server-key SDK.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ServerMessage {
    Welcome {
        protocol: u32,
        #[serde(default)]
        environment: String,
        /// `server` for a server key; `client` would mean the key is a
        /// browser key, which this SDK cannot use.
        #[serde(default)]
        kind: Option<String>,
        #[serde(default)]
        heartbeat_ms: Option<u64>,
    },
    Snapshot {
        version: u64,
        /// A `RulesetDocument`, read entry by entry (see `store.rs`) so that
        /// one entry this SDK cannot read does not lose the others.
        ruleset: Value,
    },
    Synced {
        version: u64,
    },
    Patch {
        version: u64,
        kind: String,
        key: String,
        /// The flag or segment after the change; `null` (or absent) when
        /// it was removed.
        #[serde(default)]
        doc: Value,
    },
    Heartbeat {
        #[serde(default)]
        version: Option<u64>,
    },
    Error {
        code: String,
        #[serde(default)]
        message: String,
    },
    #[serde(other)]
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_omits_an_unknown_version() {
        let hello = ClientMessage::Hello {
            protocols: PROTOCOLS,
            key: "k",
            sdk: "s",
            version: None,
        };
        assert_eq!(
            hello.to_json(),
            r#"{"type":"hello","protocols":[1],"key":"k","sdk":"s"}"#
        );
        assert_eq!(ClientMessage::Heartbeat.to_json(), r#"{"type":"heartbeat"}"#);
    }

    #[test]
    fn unknown_types_and_fields_are_ignored() {
        let msg: ServerMessage = serde_json::from_str(r#"{"type":"values","flags":{}}"#).unwrap();
        assert!(matches!(msg, ServerMessage::Unknown));
        let msg: ServerMessage = serde_json::from_str(r#"{"type":"heartbeat","version":3,"region":"eu"}"#).unwrap();
        assert!(matches!(msg, ServerMessage::Heartbeat { version: Some(3) }));
        let msg: ServerMessage =
            serde_json::from_str(r#"{"type":"patch","version":2,"kind":"flag","key":"a","doc":null}"#).unwrap();
        assert!(matches!(msg, ServerMessage::Patch { doc: Value::Null, .. }));
    }
}
