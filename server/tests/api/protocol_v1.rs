//! Rolling upgrades: protocol v1 as its SDKs speak it stays answered. The
//! transcript `tests/protocol/v1.json` pins what a v1 SDK sends, byte for
//! byte, and what it expects; the server-key frames received are then fed
//! through the Rust SDK's own frame handler (`replay_server_frames`), which
//! must end with the same ruleset. See docs/protocol.md, "Protocol versions".

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::harness::{spawn_app, Backend, Stream, TestApp};

/// Matches `actual` against a transcript pattern (see the transcript's
/// description), binding `<u64:name>` placeholders in `vars`.
fn matches(pattern: &Value, actual: &Value, vars: &mut HashMap<String, u64>, path: &str) -> Result<(), String> {
    match pattern {
        Value::String(p) if p.starts_with('<') && p.ends_with('>') => {
            let spec = &p[1..p.len() - 1];
            match spec {
                "any" => return Ok(()),
                "str" => {
                    return actual
                        .is_string()
                        .then_some(())
                        .ok_or(format!("{path}: expected a string, got {actual}"))
                }
                "u64" => {
                    return actual
                        .is_u64()
                        .then_some(())
                        .ok_or(format!("{path}: expected a number, got {actual}"))
                }
                _ => {}
            }
            let name = spec
                .strip_prefix("u64:")
                .ok_or(format!("{path}: unknown placeholder {p}"))?;
            let n = actual
                .as_u64()
                .ok_or(format!("{path}: expected a number, got {actual}"))?;
            let (var, offset) = match name.split_once('+') {
                Some((var, k)) => (var, k.parse::<u64>().map_err(|e| e.to_string())?),
                None => (name, 0),
            };
            match vars.get(var) {
                Some(bound) if bound + offset == n => Ok(()),
                Some(bound) => Err(format!("{path}: expected {var}+{offset} = {}, got {n}", bound + offset)),
                None if offset == 0 => {
                    vars.insert(var.to_owned(), n);
                    Ok(())
                }
                None => Err(format!("{path}: {var} is not bound yet")),
            }
        }
        Value::Object(fields) => {
            let object = actual
                .as_object()
                .ok_or(format!("{path}: expected an object, got {actual}"))?;
            for (k, p) in fields {
                let a = object.get(k).ok_or(format!("{path}.{k}: missing in {actual}"))?;
                matches(p, a, vars, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        Value::Array(items) => {
            let array = actual
                .as_array()
                .ok_or(format!("{path}: expected an array, got {actual}"))?;
            if array.len() != items.len() {
                return Err(format!("{path}: expected {} items, got {actual}", items.len()));
            }
            for (i, (p, a)) in items.iter().zip(array).enumerate() {
                matches(p, a, vars, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ if pattern == actual => Ok(()),
        _ => Err(format!("{path}: expected {pattern}, got {actual}")),
    }
}

async fn setup(app: &TestApp) -> (String, String) {
    app.create_flag(json!({ "key": "lobby", "client_side": true })).await;
    app.create_flag(json!({ "key": "internal" })).await;
    app.edit_config("lobby", "production", |c| c["fallthrough"] = json!({ "variation": 1 }))
        .await
        .expect(200);
    (
        app.sdk_key("production", "server").await,
        app.sdk_key("production", "client").await,
    )
}

/// Runs one session; returns the frames received (for the SDK replay).
async fn run_session(app: &TestApp, name: &str, steps: &[Value], keys: &(String, String)) -> Vec<String> {
    let mut vars: HashMap<String, u64> = HashMap::new();
    let mut stream: Option<Stream> = None;
    let mut received = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let at = format!("{name} step {i}");
        if let Some(action) = step["action"].as_str() {
            match action {
                "connect" => stream = Some(app.try_stream(&[]).await.ok().expect("the stream upgrades")),
                "toggle_on" => drop(app.toggle("lobby", "production", true).await.expect(200)),
                "toggle_off" => drop(app.toggle("lobby", "production", false).await.expect(200)),
                other => panic!("{at}: unknown action {other}"),
            }
        } else if let Some(text) = step["send"].as_str() {
            let mut text = text.replace("$SERVER_KEY", &keys.0).replace("$CLIENT_KEY", &keys.1);
            for (var, value) in &vars {
                text = text.replace(&format!("${var}"), &value.to_string());
            }
            stream.as_mut().expect("connected").send_text(text).await;
        } else if let Some(pattern) = step.get("expect") {
            let frame = stream.as_mut().expect("connected").next().await;
            if let Err(e) = matches(pattern, &frame, &mut vars, "frame") {
                panic!("{at}: {e}");
            }
            received.push(frame.to_string());
        } else {
            panic!("{at}: unknown step {step}");
        }
    }
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_v1_transcript_is_still_answered() {
    let transcript: Value = serde_json::from_str(include_str!("../../../tests/protocol/v1.json")).expect("valid JSON");
    let sessions = transcript["sessions"].as_object().expect("sessions");
    assert!(sessions.len() >= 3);
    for (name, steps) in sessions {
        // Each session on a fresh server, so versions start from the setup.
        let app = spawn_app(Backend::Sqlite).await;
        let keys = setup(&app).await;
        let received = run_session(&app, name, steps.as_array().expect("steps"), &keys).await;
        if name.starts_with("server key") {
            // The v1 SDK's own handler reads what the server sent.
            let ruleset = daylight::client::replay_server_frames(received.iter().map(String::as_str))
                .expect("the SDK holds a ruleset");
            let on = ruleset.evaluate("lobby", &daylight::Context::anonymous());
            assert_eq!(on.value, Some(&json!(true)), "the SDK applied the patch");
            assert!(ruleset.flag_keys().any(|k| k == "internal"));
        }
    }
}

#[test]
fn the_transcript_matcher_can_fail() {
    let mut vars = HashMap::new();
    assert!(matches(
        &json!({ "v": "<u64:v>" }),
        &json!({ "v": 3, "extra": 1 }),
        &mut vars,
        "f"
    )
    .is_ok());
    assert!(matches(&json!({ "v": "<u64:v+1>" }), &json!({ "v": 4 }), &mut vars, "f").is_ok());
    assert!(matches(&json!({ "v": "<u64:v+1>" }), &json!({ "v": 5 }), &mut vars, "f").is_err());
    assert!(matches(&json!({ "a": [1] }), &json!({ "a": [1, 2] }), &mut vars, "f").is_err());
    assert!(matches(&json!({ "a": "<str>" }), &json!({}), &mut vars, "f").is_err());
    assert!(matches(&json!({ "a": "x" }), &json!({ "a": "y" }), &mut vars, "f").is_err());
}
