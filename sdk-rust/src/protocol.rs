//! The streaming protocol (`docs/protocol.md`) as serde types, both
//! directions, for the server and the SDKs alike. Unknown message types
//! read as `Unknown` and unknown fields are ignored, so either side can
//! talk to a newer peer. Serde only: no I/O, no runtime.

use std::collections::BTreeMap;

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
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
        /// This SDK sends `applied` receipts (an SDK that does not say so
        /// is counted as unknown).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        receipts: bool,
    },
    Heartbeat,
    /// A receipt: this SDK now evaluates with the ruleset at `version`
    /// (after a `patch`, or the `snapshot` before `synced`).
    Applied {
        version: u64,
    },
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
///
/// Serialised by hand (see the `Serialize` impl): protocol v1's bytes have
/// every object's members in alphabetical order, `type` among them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Welcome {
        protocol: u32,
        #[serde(default)]
        environment: String,
        /// `server` or `client`: which kind of key the stream serves.
        #[serde(default)]
        kind: Option<String>,
        #[serde(default)]
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
        #[serde(default)]
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
        #[serde(default)]
        running: Option<String>,
        status: String,
        /// `null` when nothing is live yet.
        #[serde(default)]
        target: Option<String>,
        #[serde(default)]
        reload: Option<Value>,
    },
    /// Sent before the server closes the connection.
    Error {
        code: String,
        #[serde(default)]
        message: String,
        /// `unsupported_protocol`: the versions the server speaks.
        #[serde(default)]
        supported: Option<Vec<u32>>,
    },
    #[serde(other)]
    Unknown,
}

/// Members in alphabetical order, `type` included: the bytes v1 servers
/// have always sent (their messages were `serde_json::Value` maps, which
/// sort their keys), so the server's output stays byte for byte the same.
/// `None` members are left out, except `bundle.target` (`null`: nothing is
/// live yet) and `patch.doc` (`null`: removed).
impl Serialize for ServerMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        const NAME: &str = "ServerMessage";
        match self {
            ServerMessage::Welcome {
                protocol,
                environment,
                kind,
                heartbeat_ms,
            } => {
                let mut m = serializer.serialize_struct(NAME, 5)?;
                m.serialize_field("environment", environment)?;
                if let Some(heartbeat_ms) = heartbeat_ms {
                    m.serialize_field("heartbeat_ms", heartbeat_ms)?;
                }
                if let Some(kind) = kind {
                    m.serialize_field("kind", kind)?;
                }
                m.serialize_field("protocol", protocol)?;
                m.serialize_field("type", "welcome")?;
                m.end()
            }
            ServerMessage::Snapshot { version, ruleset } => {
                let mut m = serializer.serialize_struct(NAME, 3)?;
                m.serialize_field("ruleset", ruleset)?;
                m.serialize_field("type", "snapshot")?;
                m.serialize_field("version", version)?;
                m.end()
            }
            ServerMessage::Synced { version } => {
                let mut m = serializer.serialize_struct(NAME, 2)?;
                m.serialize_field("type", "synced")?;
                m.serialize_field("version", version)?;
                m.end()
            }
            ServerMessage::Patch {
                version,
                kind,
                key,
                doc,
            } => {
                let mut m = serializer.serialize_struct(NAME, 5)?;
                m.serialize_field("doc", doc)?;
                m.serialize_field("key", key)?;
                m.serialize_field("kind", kind)?;
                m.serialize_field("type", "patch")?;
                m.serialize_field("version", version)?;
                m.end()
            }
            ServerMessage::Heartbeat { version } => {
                let mut m = serializer.serialize_struct(NAME, 2)?;
                m.serialize_field("type", "heartbeat")?;
                if let Some(version) = version {
                    m.serialize_field("version", version)?;
                }
                m.end()
            }
            ServerMessage::Values { version, flags } => {
                let mut m = serializer.serialize_struct(NAME, 3)?;
                m.serialize_field("flags", flags)?;
                m.serialize_field("type", "values")?;
                m.serialize_field("version", version)?;
                m.end()
            }
            ServerMessage::Changed {
                version,
                flags,
                removed,
            } => {
                let mut m = serializer.serialize_struct(NAME, 4)?;
                m.serialize_field("flags", flags)?;
                m.serialize_field("removed", removed)?;
                m.serialize_field("type", "changed")?;
                m.serialize_field("version", version)?;
                m.end()
            }
            ServerMessage::Bundle {
                app,
                running,
                status,
                target,
                reload,
            } => {
                let mut m = serializer.serialize_struct(NAME, 6)?;
                m.serialize_field("app", app)?;
                if let Some(reload) = reload {
                    m.serialize_field("reload", reload)?;
                }
                if let Some(running) = running {
                    m.serialize_field("running", running)?;
                }
                m.serialize_field("status", status)?;
                m.serialize_field("target", target)?;
                m.serialize_field("type", "bundle")?;
                m.end()
            }
            ServerMessage::Error {
                code,
                message,
                supported,
            } => {
                let mut m = serializer.serialize_struct(NAME, 4)?;
                m.serialize_field("code", code)?;
                m.serialize_field("message", message)?;
                if let Some(supported) = supported {
                    m.serialize_field("supported", supported)?;
                }
                m.serialize_field("type", "error")?;
                m.end()
            }
            ServerMessage::Unknown => {
                let mut m = serializer.serialize_struct(NAME, 1)?;
                m.serialize_field("type", "unknown")?;
                m.end()
            }
        }
    }
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
            receipts: false,
        };
        assert_eq!(
            hello.to_json(),
            r#"{"type":"hello","protocols":[1],"key":"k","sdk":"s"}"#
        );
        assert_eq!(
            ClientMessage::Applied { version: 7 }.to_json(),
            r#"{"type":"applied","version":7}"#
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

    /// Every server message is written exactly as the `serde_json::json!`
    /// maps the server sent before it used these types (sorted members),
    /// and reads back as itself.
    #[test]
    fn server_messages_keep_their_v1_bytes() {
        use serde_json::json;
        let flags: BTreeMap<String, Value> = [(
            "lobby".to_owned(),
            json!({ "value": true, "variation": 1, "reason": { "kind": "FALLTHROUGH", "in_rollout": false } }),
        )]
        .into();
        let cases = [
            (
                ServerMessage::Welcome {
                    protocol: 1,
                    environment: "production".into(),
                    kind: Some("server".into()),
                    heartbeat_ms: Some(15000),
                },
                json!({ "type": "welcome", "protocol": 1, "environment": "production", "kind": "server", "heartbeat_ms": 15000 }),
            ),
            (
                ServerMessage::Snapshot {
                    version: 57,
                    ruleset: json!({ "environment": "production", "version": 57, "flags": {}, "segments": {} }),
                },
                json!({ "type": "snapshot", "version": 57, "ruleset": { "environment": "production", "version": 57, "flags": {}, "segments": {} } }),
            ),
            (
                ServerMessage::Synced { version: 57 },
                json!({ "type": "synced", "version": 57 }),
            ),
            (
                ServerMessage::Patch {
                    version: 58,
                    kind: "flag".into(),
                    key: "lobby".into(),
                    doc: json!({ "variations": [false, true], "on": true }),
                },
                json!({ "type": "patch", "version": 58, "kind": "flag", "key": "lobby", "doc": { "variations": [false, true], "on": true } }),
            ),
            (
                ServerMessage::Patch {
                    version: 59,
                    kind: "segment".into(),
                    key: "vip".into(),
                    doc: Value::Null,
                },
                json!({ "type": "patch", "version": 59, "kind": "segment", "key": "vip", "doc": null }),
            ),
            (
                ServerMessage::Heartbeat { version: Some(58) },
                json!({ "type": "heartbeat", "version": 58 }),
            ),
            (
                ServerMessage::Values {
                    version: 57,
                    flags: flags.clone(),
                },
                json!({ "type": "values", "version": 57, "flags": flags }),
            ),
            (
                ServerMessage::Changed {
                    version: 58,
                    flags: flags.clone(),
                    removed: vec!["gone".into()],
                },
                json!({ "type": "changed", "version": 58, "flags": flags, "removed": ["gone"] }),
            ),
            (
                ServerMessage::Bundle {
                    app: "web".into(),
                    running: Some("1.0.0".into()),
                    status: "unsupported".into(),
                    target: Some("1.0.2".into()),
                    reload: Some(json!({ "soft": "next_navigation", "jitter_ms": 60000 })),
                },
                json!({ "type": "bundle", "app": "web", "running": "1.0.0", "status": "unsupported", "target": "1.0.2",
                        "reload": { "soft": "next_navigation", "jitter_ms": 60000 } }),
            ),
            (
                ServerMessage::Bundle {
                    app: "web".into(),
                    running: Some("1.0.0".into()),
                    status: "current".into(),
                    target: None,
                    reload: Some(json!({ "soft": "when_hidden", "jitter_ms": 0 })),
                },
                json!({ "type": "bundle", "app": "web", "running": "1.0.0", "status": "current", "target": null,
                        "reload": { "soft": "when_hidden", "jitter_ms": 0 } }),
            ),
            (
                ServerMessage::Error {
                    code: "unauthorized".into(),
                    message: "unknown or revoked key".into(),
                    supported: None,
                },
                json!({ "type": "error", "code": "unauthorized", "message": "unknown or revoked key" }),
            ),
            (
                ServerMessage::Error {
                    code: "unsupported_protocol".into(),
                    message: "this server speaks protocols [1]".into(),
                    supported: Some(vec![1]),
                },
                json!({ "type": "error", "code": "unsupported_protocol", "message": "this server speaks protocols [1]", "supported": [1] }),
            ),
        ];
        for (message, v1) in cases {
            assert_eq!(message.to_json(), v1.to_string());
            let back: ServerMessage = serde_json::from_str(&message.to_json()).unwrap();
            assert_eq!(back, message);
        }
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
