//! The frames an SDK sends on the stream (`docs/protocol.md`) and how the
//! server reads them. Self-contained (serde and the evaluator only): the
//! fuzz targets compile this very file.

use daylight::Context;
use serde::Deserialize;
use serde_json::Value;

/// Protocol versions this server speaks, newest last.
pub const PROTOCOLS: &[u32] = &[1];

/// The first frame: who the SDK is and what it has.
#[derive(Debug, Deserialize)]
pub struct Hello {
    #[serde(default)]
    pub protocols: Vec<u32>,
    pub key: Option<String>,
    pub version: Option<u64>,
    pub context: Option<Value>,
    /// Client keys: the app and the bundle version this page runs.
    pub bundle: Option<RunningBundle>,
    /// The SDK sends `applied` receipts.
    #[serde(default)]
    pub receipts: bool,
}

#[derive(Debug, Deserialize, Clone)]
pub struct RunningBundle {
    pub app: String,
    pub version: String,
}

/// A frame after the hello.
#[derive(Deserialize)]
struct Incoming {
    #[serde(rename = "type")]
    kind: String,
    context: Option<Value>,
    version: Option<u64>,
}

/// What a frame after the hello asks for.
#[derive(Debug)]
pub enum ClientFrame {
    /// `identify`: evaluate for this context from now on.
    Identify(Context),
    /// `usage`: evaluation and event counts (read by `http::usage`).
    Usage,
    /// `applied`: a receipt for the ruleset version the SDK now has.
    Applied(u64),
    /// A heartbeat, or a type this server does not know (ignored).
    Other,
}

/// Reads the hello; the error is the `bad_message` text.
pub fn parse_hello(text: &str) -> Result<Hello, String> {
    serde_json::from_str::<Hello>(text).map_err(|e| format!("expected hello: {e}"))
}

/// The highest protocol version both sides speak.
pub fn negotiate(offered: &[u32]) -> Option<u32> {
    PROTOCOLS.iter().rev().find(|p| offered.contains(p)).copied()
}

/// A client key's evaluation context.
pub fn parse_context(context: &Value) -> Result<Context, String> {
    Context::from_json(context).map_err(|e| format!("context: {e}"))
}

/// Reads a frame sent after the hello.
pub fn parse_client_frame(text: &str) -> Result<ClientFrame, String> {
    let msg: Incoming = serde_json::from_str(text).map_err(|e| e.to_string())?;
    match msg.kind.as_str() {
        "identify" => {}
        "usage" => return Ok(ClientFrame::Usage),
        "applied" => {
            return msg
                .version
                .map(ClientFrame::Applied)
                .ok_or_else(|| "applied needs a version".to_owned())
        }
        _ => return Ok(ClientFrame::Other),
    }
    let context = msg.context.ok_or_else(|| "identify needs a context".to_owned())?;
    parse_context(&context).map(ClientFrame::Identify)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_read_as_the_protocol_says() {
        let hello = parse_hello(r#"{"type":"hello","protocols":[1,2],"key":"k","version":4,"sdk":"x/1"}"#).unwrap();
        assert_eq!(negotiate(&hello.protocols), Some(1));
        assert_eq!(hello.version, Some(4));
        assert!(negotiate(&[2, 3]).is_none());
        assert!(parse_hello("[]").is_err());
        assert!(matches!(
            parse_client_frame(r#"{"type":"identify","context":{"key":"u"}}"#),
            Ok(ClientFrame::Identify(_))
        ));
        assert!(matches!(
            parse_client_frame(r#"{"type":"heartbeat"}"#),
            Ok(ClientFrame::Other)
        ));
        assert!(matches!(
            parse_client_frame(r#"{"type":"usage","evaluations":[]}"#),
            Ok(ClientFrame::Usage)
        ));
        assert!(matches!(
            parse_client_frame(r#"{"type":"applied","version":9}"#),
            Ok(ClientFrame::Applied(9))
        ));
        assert!(parse_client_frame(r#"{"type":"applied"}"#).is_err());
        assert!(parse_client_frame(r#"{"type":"identify"}"#).is_err());
        assert!(parse_client_frame(r#"{"type":"identify","context":{"key":5}}"#).is_err());
    }
}
