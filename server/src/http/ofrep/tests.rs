use serde::Serialize;
use serde_json::{json, Value};

use super::*;

/// The answer as the serde structs wrote it before `single_answer`.
#[derive(Serialize)]
struct Reference<'a> {
    key: &'a str,
    value: &'a Value,
    reason: &'static str,
    variant: String,
    metadata: ReferenceMetadata<'a>,
}

#[derive(Serialize)]
struct ReferenceMetadata<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    bucket: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prerequisite_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_index: Option<usize>,
    version: u64,
}

#[test]
fn a_single_answer_is_byte_for_byte_what_serde_wrote() {
    let rules = super::super::ofrep_bulk::tests::ruleset();
    let mut answered = 0;
    for kind in [KeyKind::Client, KeyKind::Server] {
        for ctx in [
            json!({ "key": "u1", "game": "omaha" }),
            json!({ "key": "u2" }),
            json!({}),
        ] {
            let ctx = Context::from_json(&ctx).unwrap();
            for key in rules.flag_keys() {
                let (detail, bucket) = rules.evaluate_with_bucket(key, &ctx);
                let got = single_answer(&rules, key, &detail, bucket, kind);
                let want = detail.value.zip(detail.variation).map(|(value, variation)| {
                    let (rule_id, rule_index) = match detail.reason {
                        daylight::Reason::RuleMatch {
                            rule_index, rule_id, ..
                        } => (Some(rule_id), Some(rule_index)),
                        _ => (None, None),
                    };
                    serde_json::to_vec(&Reference {
                        key,
                        value,
                        reason: detail.reason.openfeature_reason(),
                        variant: variation.to_string(),
                        metadata: ReferenceMetadata {
                            bucket: rules.rollout_bucket(key, &detail.reason, &ctx),
                            prerequisite_key: super::super::disclosed_prerequisite(&detail.reason, kind),
                            rule_id,
                            rule_index,
                            version: rules.flag_version(key).unwrap_or_default(),
                        },
                    })
                    .unwrap()
                });
                assert_eq!(
                    got.as_deref().map(String::from_utf8_lossy),
                    want.as_deref().map(String::from_utf8_lossy),
                    "{key} for {kind:?}"
                );
                answered += usize::from(got.is_some());
            }
        }
    }
    assert!(answered > 20, "most flags serve a value: {answered}");
}

#[test]
fn event_streams_are_the_json_serde_wrote() {
    let client = SdkKey {
        id: 1,
        environment: "production".into(),
        kind: KeyKind::Client,
    };
    for (host, proto, secret) in [
        ("127.0.0.1:8080", None, "dl_client_0123abcd"),
        ("shop.example", Some("HTTPS"), "odd+key/=~"),
        ("[::1]:9", Some("wss"), "k"),
    ] {
        let mut headers = HeaderMap::new();
        headers.insert(axum::http::header::HOST, HeaderValue::from_str(host).unwrap());
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {secret}")).unwrap(),
        );
        if let Some(proto) = proto {
            headers.insert("x-forwarded-proto", HeaderValue::from_str(proto).unwrap());
        }
        let scheme = proto.unwrap_or("http").to_ascii_lowercase();
        let key = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>();
        let want = json!([{ "inactivityDelaySec": 120, "type": "sse",
            "url": format!("{scheme}://{host}/ofrep/v1/event-stream?key={key}") }]);
        let got = event_streams(&headers, &client).expect("offered to a client key");
        assert_eq!(got, want.to_string(), "{host}");
    }
    let mut server = client.clone();
    server.kind = KeyKind::Server;
    let mut headers = HeaderMap::new();
    headers.insert(axum::http::header::HOST, HeaderValue::from_static("shop.example"));
    headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer dl_server_x"));
    assert_eq!(event_streams(&headers, &server), None, "never a server key in a URL");
}
