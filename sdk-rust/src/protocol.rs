//! The streaming protocol (`docs/protocol.md`) as serde types, both
//! directions, for the server and the SDKs alike. Unknown message types
//! read as `Unknown` and unknown fields are ignored, so either side can
//! talk to a newer peer. Serde only: no I/O, no runtime.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The protocol versions this crate speaks, newest last.
pub const PROTOCOLS: &[u32] = &[1];

/// What an SDK sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Hello {
        #[serde(default)]
        protocols: Vec<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// Name/version, for logs and metrics.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdk: Option<String>,
        /// Server keys: the last ruleset version received, to resume.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<u64>,
        /// Client keys: the evaluation context.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context: Option<Value>,
        /// Client keys: the app and bundle version this page runs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bundle: Option<RunningBundle>,
    },
    Heartbeat,
    /// Client keys: a new context; the server answers with `values`.
    Identify {
        context: Value,
    },
    /// Counts since the last report (`docs/usage-metrics.md`).
    Usage {
        #[serde(default)]
        evaluations: Vec<Value>,
        #[serde(default)]
        events: Vec<Value>,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningBundle {
    pub app: String,
    pub version: String,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Welcome {
        protocol: u32,
        #[serde(default)]
        environment: String,
        /// `server` or `client`: which kind of key the stream serves.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kind: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        heartbeat_ms: Option<u64>,
    },
    /// Server keys: the whole ruleset (a `RulesetDocument`, kept as JSON so
    /// an SDK can read it entry by entry and lose only what it cannot read).
    Snapshot { version: u64, ruleset: Value },
    /// Server keys: caught up (after a snapshot or the resumed patches).
    Synced { version: u64 },
    /// Server keys: one change; `doc` is `null` when the entry was removed.
    Patch {
        version: u64,
        kind: String,
        key: String,
        #[serde(default)]
        doc: Value,
    },
    Heartbeat {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<u64>,
    },
    /// Client keys: every `client_side` flag's evaluation for the context.
    Values {
        version: u64,
        flags: BTreeMap<String, Value>,
    },
    /// Client keys: what changed for this context.
    Changed {
        version: u64,
        flags: BTreeMap<String, Value>,
        #[serde(default)]
        removed: Vec<String>,
    },
    /// Client keys: the bundle handshake's answer (`docs/bundles.md`).
    Bundle {
        app: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        running: Option<String>,
        status: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reload: Option<Value>,
    },
    /// Sent before the server closes the connection.
    Error {
        code: String,
        #[serde(default)]
        message: String,
        /// `unsupported_protocol`: the versions the server speaks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        supported: Option<Vec<u32>>,
    },
    #[serde(other)]
    Unknown,
}

impl ClientMessage {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("protocol messages always serialise")
    }
}

impl ServerMessage {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("protocol messages always serialise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hello_omits_what_it_does_not_say() {
        let hello = ClientMessage::Hello {
            protocols: PROTOCOLS.to_vec(),
            key: Some("k".into()),
            sdk: Some("s".into()),
            version: None,
            context: None,
            bundle: None,
        };
        assert_eq!(
            hello.to_json(),
            r#"{"type":"hello","protocols":[1],"key":"k","sdk":"s"}"#
        );
        assert_eq!(ClientMessage::Heartbeat.to_json(), r#"{"type":"heartbeat"}"#);
    }

    #[test]
    fn unknown_kinds_and_fields_are_tolerated() {
        let msg: ServerMessage = serde_json::from_str(r#"{"type":"from_the_future","x":1}"#).unwrap();
        assert_eq!(msg, ServerMessage::Unknown);
        let msg: ServerMessage = serde_json::from_str(r#"{"type":"heartbeat","version":3,"new":true}"#).unwrap();
        assert_eq!(msg, ServerMessage::Heartbeat { version: Some(3) });
        let msg: ServerMessage =
            serde_json::from_str(r#"{"type":"patch","version":2,"kind":"flag","key":"a"}"#).unwrap();
        assert!(matches!(msg, ServerMessage::Patch { doc: Value::Null, .. }));
        let msg: ClientMessage = serde_json::from_str(r#"{"type":"telemetry"}"#).unwrap();
        assert_eq!(msg, ClientMessage::Unknown);
    }

    #[test]
    fn a_patch_reads_back_what_it_wrote() {
        let patch = ServerMessage::Patch {
            version: 7,
            kind: "segment".into(),
            key: "vip".into(),
            doc: serde_json::json!({ "included": ["u-1"] }),
        };
        let back: ServerMessage = serde_json::from_str(&patch.to_json()).unwrap();
        assert_eq!(back, patch);
    }
}
