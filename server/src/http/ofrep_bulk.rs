//! The OFREP bulk answer from pieces serialised once per ruleset: for each
//! flag a key may see, in key order, the JSON before its metadata, each
//! rule's `rule_id`/`rule_index`, its version, each variation's `value` and
//! `variant`, and its failure entry. A request evaluates every flag and
//! concatenates the pieces its results pick; the bytes (and so the ETags)
//! are those the serde structs wrote before (pinned by the test below).
//!
//! The pieces are built by the first request on each worker thread after a
//! ruleset is published, and kept in a small thread-local cache (one
//! thread per CPU serves requests: no lock). Beside them each thread keeps
//! the answers it gave lately, by the request's bytes: a polling client
//! sends the same context again and again until the ruleset changes, and
//! then gets the same bytes, ETag and gzip form without evaluating.

use std::cell::{OnceCell, RefCell};
use std::io::Write as _;
use std::rc::Rc;
use std::sync::Arc;

use axum::http::HeaderValue;
use bytes::Bytes;
use daylight::{Context, Reason, Ruleset};

use crate::auth::KeyKind;

/// How many (ruleset, key kind) pairs each thread keeps pieces for.
const CACHED: usize = 8;

/// One flag's pieces.
struct Piece {
    key: Box<str>,
    /// `{"key":"…","metadata":{`
    open: Box<str>,
    /// Per rule: `"rule_id":"…","rule_index":N,`
    rules: Box<[Box<str>]>,
    /// `"version":N},"reason":"`
    version: Box<str>,
    /// Per variation: `","value":…,"variant":"N"}`
    values: Box<[Box<str>]>,
    /// The entry when the flag serves no value.
    failed: Box<str>,
}

/// The pieces of every flag a key of one kind may see in one ruleset.
pub struct Pieces {
    flags: Box<[Piece]>,
    /// About the size of an answer (the buffer's first allocation).
    capacity: usize,
}

fn json(value: &(impl serde::Serialize + ?Sized)) -> String {
    serde_json::to_string(value).expect("JSON values and strings serialise")
}

impl Pieces {
    fn build(rules: &Ruleset, kind: KeyKind) -> Pieces {
        let mut keys: Vec<&str> = rules
            .flag_keys()
            .filter(|k| kind == KeyKind::Server || rules.is_client_side(k))
            .collect();
        keys.sort_unstable();
        let flags: Box<[Piece]> = keys
            .into_iter()
            .map(|key| Piece {
                key: key.into(),
                open: format!(r#"{{"key":{},"metadata":{{"#, json(key)).into(),
                rules: rules
                    .rule_ids(key)
                    .enumerate()
                    .map(|(i, id)| format!(r#""rule_id":{},"rule_index":{i},"#, json(id)).into())
                    .collect(),
                version: format!(
                    r#""version":{}}},"reason":""#,
                    rules.flag_version(key).unwrap_or_default()
                )
                .into(),
                values: rules
                    .variations(key)
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                    .map(|(i, v)| format!(r#"","value":{},"variant":"{i}"}}"#, json(v)).into())
                    .collect(),
                failed: format!(
                    r#"{{"errorCode":"GENERAL","errorDetails":"the flag served no value","key":{}}}"#,
                    json(key)
                )
                .into(),
            })
            .collect();
        let capacity = 64
            + flags
                .iter()
                .map(|f| f.open.len() + f.version.len() + f.values.iter().map(|v| v.len()).max().unwrap_or(0) + 48)
                .sum::<usize>();
        Pieces { flags, capacity }
    }

    /// How many flags an answer lists.
    pub fn len(&self) -> usize {
        self.flags.len()
    }

    /// The answer's bytes for `ctx`, after `event_streams` (the
    /// serialised `eventStreams` member's value, if offered).
    pub fn answer(&self, rules: &Ruleset, ctx: &Context, kind: KeyKind, event_streams: Option<&str>) -> Vec<u8> {
        let mut out = String::with_capacity(self.capacity + event_streams.map_or(0, str::len));
        out.push('{');
        if let Some(streams) = event_streams {
            out.push_str(r#""eventStreams":"#);
            out.push_str(streams);
            out.push(',');
        }
        out.push_str(r#""flags":["#);
        for (i, flag) in self.flags.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let detail = rules.evaluate(&flag.key, ctx);
            let (Some(value), Some(variation)) = (detail.value, detail.variation) else {
                out.push_str(&flag.failed);
                continue;
            };
            out.push_str(&flag.open);
            if let Some(pre) = super::disclosed_prerequisite(&detail.reason, kind) {
                out.push_str(r#""prerequisite_key":"#);
                out.push_str(&json(pre));
                out.push(',');
            }
            if let Reason::RuleMatch {
                rule_index, rule_id, ..
            } = detail.reason
            {
                match flag.rules.get(rule_index) {
                    Some(piece) => out.push_str(piece),
                    None => out.push_str(&format!(r#""rule_id":{},"rule_index":{rule_index},"#, json(rule_id))),
                }
            }
            out.push_str(&flag.version);
            out.push_str(detail.reason.openfeature_reason());
            match flag.values.get(variation) {
                Some(piece) => out.push_str(piece),
                None => out.push_str(&format!(r#"","value":{},"variant":"{variation}"}}"#, json(value))),
            }
        }
        out.push_str("]}");
        out.into_bytes()
    }
}

/// How many bytes of answers a thread keeps per ruleset and key kind
/// (answer, request and an allowance for the gzip form).
const ANSWER_BYTES: u64 = 4 << 20;
/// Shorter answers go out as they are: gzip would save a few hundred bytes
/// for more CPU than the answer took.
const GZIP_FROM: usize = 1024;

/// An answer as sent: its bytes, ETag and, made on first demand, gzip form.
pub struct Answer {
    pub body: Bytes,
    pub etag: HeaderValue,
    /// `W/` and the ETag, for the gzip form.
    pub weak_etag: HeaderValue,
    gzip: OnceCell<Bytes>,
}

impl Answer {
    fn new(body: Vec<u8>) -> Answer {
        let tag = format!("\"{:016x}\"", super::ofrep::content_hash(&body));
        Answer {
            body: body.into(),
            etag: HeaderValue::from_str(&tag).expect("hex is a valid header value"),
            weak_etag: HeaderValue::from_str(&format!("W/{tag}")).expect("hex is a valid header value"),
            gzip: OnceCell::new(),
        }
    }

    /// Whether the answer is long enough for gzip to be worth it.
    pub fn compressible(&self) -> bool {
        self.body.len() >= GZIP_FROM
    }

    /// The gzip form, made on first demand and kept.
    pub fn gzip(&self) -> &Bytes {
        self.gzip.get_or_init(|| {
            let mut out =
                flate2::write::GzEncoder::new(Vec::with_capacity(self.body.len() / 8), flate2::Compression::fast());
            out.write_all(&self.body).expect("writing to memory");
            out.finish().expect("writing to memory").into()
        })
    }
}

#[derive(Clone)]
struct AnswerWeight;

impl quick_cache::Weighter<Box<[u8]>, Rc<Answer>> for AnswerWeight {
    fn weight(&self, request: &Box<[u8]>, answer: &Rc<Answer>) -> u64 {
        (request.len() + answer.body.len() + answer.body.len() / 4) as u64
    }
}

/// Keyed by the request's bytes, hashed with foldhash: std's SipHash cost
/// a polled answer a few percent of its instructions.
type Answers = quick_cache::unsync::Cache<Box<[u8]>, Rc<Answer>, AnswerWeight, foldhash::fast::RandomState>;

/// What a thread keeps for one ruleset and key kind: the pieces, and the
/// answers it gave lately by request.
pub struct Kept {
    pieces: Pieces,
    answers: RefCell<Answers>,
}

impl Kept {
    /// How many flags an answer lists.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// The answer for `ctx`, parsed from `request` (the body as sent), after
    /// `event_streams`: the one given before to the same bytes, or a new
    /// one.
    pub fn answer(
        &self,
        rules: &Ruleset,
        ctx: &Context,
        kind: KeyKind,
        event_streams: Option<&str>,
        request: &[u8],
    ) -> Rc<Answer> {
        // The body, then the `eventStreams` value after a byte no UTF-8 holds.
        let mut key = Vec::with_capacity(request.len() + 1 + event_streams.map_or(0, str::len));
        key.extend_from_slice(request);
        key.push(0xff);
        key.extend_from_slice(event_streams.unwrap_or_default().as_bytes());
        if let Some(answer) = self.answers.borrow().get(key.as_slice()) {
            return answer.clone();
        }
        let answer = Rc::new(Answer::new(self.pieces.answer(rules, ctx, kind, event_streams)));
        self.answers.borrow_mut().insert(key.into(), answer.clone());
        answer
    }
}

/// A thread's pieces and answers, by ruleset and key kind.
type Cache = Vec<(Arc<Ruleset>, KeyKind, Rc<Kept>)>;

thread_local! {
    static CACHE: RefCell<Cache> = const { RefCell::new(Vec::new()) };
}

/// What this thread keeps for keys of `kind` in `rules` (built on first
/// use; an environment's older ruleset is dropped, answers and all).
pub fn kept(rules: &Arc<Ruleset>, kind: KeyKind) -> Rc<Kept> {
    CACHE.with_borrow_mut(|cache| {
        if let Some((_, _, kept)) = cache.iter().find(|(r, k, _)| *k == kind && Arc::ptr_eq(r, rules)) {
            return kept.clone();
        }
        let kept = Rc::new(Kept {
            pieces: Pieces::build(rules, kind),
            answers: RefCell::new(Answers::with(
                256,
                ANSWER_BYTES,
                AnswerWeight,
                Default::default(),
                Default::default(),
            )),
        });
        cache.retain(|(r, k, _)| !(*k == kind && r.environment() == rules.environment()));
        if cache.len() >= CACHED {
            cache.remove(0);
        }
        cache.push((rules.clone(), kind, kept.clone()));
        kept
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use daylight::{Detail, RulesetDocument};
    use serde_json::{json, Value};

    /// The answer as the serde structs wrote it before the pieces.
    fn reference(rules: &Ruleset, ctx: &Context, kind: KeyKind) -> String {
        let mut keys: Vec<&str> = rules
            .flag_keys()
            .filter(|k| kind == KeyKind::Server || rules.is_client_side(k))
            .collect();
        keys.sort_unstable();
        let item = |k: &str, d: Detail<'_>| -> Value {
            let (Some(value), Some(variation)) = (d.value, d.variation) else {
                return json!({ "errorCode": "GENERAL", "errorDetails": "the flag served no value", "key": k });
            };
            let mut metadata = json!({ "version": rules.flag_version(k).unwrap() });
            if let Some(pre) = crate::http::disclosed_prerequisite(&d.reason, kind) {
                metadata["prerequisite_key"] = json!(pre);
            }
            if let Reason::RuleMatch {
                rule_index, rule_id, ..
            } = d.reason
            {
                metadata["rule_id"] = json!(rule_id);
                metadata["rule_index"] = json!(rule_index);
            }
            json!({ "key": k, "metadata": metadata, "reason": d.reason.openfeature_reason(),
                    "value": value, "variant": variation.to_string() })
        };
        let flags: Vec<Value> = keys.iter().map(|k| item(k, rules.evaluate(k, ctx))).collect();
        json!({ "flags": flags }).to_string()
    }

    /// Flags with keys, values and rule ids that need escaping, rules,
    /// a rollout, a prerequisite and no off variation.
    pub(in crate::http) fn ruleset() -> Ruleset {
        let doc: RulesetDocument = serde_json::from_value(json!({
            "environment": "production",
            "version": 7,
            "flags": {
                "plain": { "variations": [false, true], "on": true, "off_variation": 0, "client_side": true,
                           "fallthrough": { "variation": 1 }, "version": 3 },
                "quo\"ted\\ key ü": { "variations": ["a\"b", "c\n"], "on": false, "off_variation": 1, "client_side": true,
                           "fallthrough": { "variation": 0 }, "version": 12 },
                "ruled": { "variations": [{ "size": 1.5, "tags": ["x", "é"] }, { "size": 2 }, {}], "on": true, "off_variation": 0,
                           "client_side": true, "version": 2,
                           "rules": [
                             { "id": "nobody", "clauses": [{ "attribute": "game", "op": "in", "values": ["chess"] }], "serve": { "variation": 2 } },
                             { "id": "r\"omaha", "clauses": [{ "attribute": "game", "op": "in", "values": ["omaha"] }], "serve": { "variation": 0 } }
                           ],
                           "fallthrough": { "rollout": { "variations": [{ "variation": 1, "weight": 50000 }, { "variation": 2, "weight": 50000 }] } } },
                "gated": { "variations": [1, 2], "on": true, "off_variation": 0, "client_side": true,
                           "prerequisites": [{ "flag": "server-only", "variation": 1 }], "fallthrough": { "variation": 1 } },
                "server-only": { "variations": [false, true], "on": true, "off_variation": 0, "fallthrough": { "variation": 0 } },
                "no-off": { "variations": [false, true], "on": false, "client_side": true, "fallthrough": { "variation": 0 } },
            },
            "segments": {}
        }))
        .unwrap();
        Ruleset::compile(&doc).unwrap()
    }

    #[test]
    fn the_answer_is_byte_for_byte_what_serde_wrote() {
        let rules = ruleset();
        for kind in [KeyKind::Client, KeyKind::Server] {
            let pieces = Pieces::build(&rules, kind);
            for ctx in [
                json!({ "key": "u1", "game": "omaha" }),
                json!({ "key": "u2" }),
                json!({}),
            ] {
                let ctx = Context::from_json(&ctx).unwrap();
                let got = String::from_utf8(pieces.answer(&rules, &ctx, kind, None)).unwrap();
                assert_eq!(got, reference(&rules, &ctx, kind), "{kind:?}");
            }
        }
        let client = Pieces::build(&rules, KeyKind::Client);
        assert_eq!(client.len(), 5, "server-only flags are left out for client keys");
        let ctx = Context::from_json(&json!({ "key": "u1", "game": "omaha" })).unwrap();
        let with_streams = String::from_utf8(client.answer(&rules, &ctx, KeyKind::Client, Some("[1]"))).unwrap();
        assert!(
            with_streams.starts_with(r#"{"eventStreams":[1],"flags":[{"key":"gated""#),
            "{with_streams}"
        );
        let server =
            String::from_utf8(Pieces::build(&rules, KeyKind::Server).answer(&rules, &ctx, KeyKind::Server, None))
                .unwrap();
        assert!(server.contains(r#""prerequisite_key":"server-only""#), "{server}");
        assert!(server.contains(r#""rule_id":"r\"omaha","rule_index":1"#), "{server}");
    }
}
