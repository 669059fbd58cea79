//! OFREP, the OpenFeature Remote Evaluation Protocol, under `/ofrep/v1/`
//! (open-feature/protocol `service/openapi.yaml`): any OpenFeature SDK can
//! evaluate Daylight flags with its stock OFREP provider. Evaluation reads the
//! in-memory ruleset; it never touches the database.

use std::hash::{BuildHasher, Hasher};

use axum::extract::{Request, State};
use axum::http::header::{
    ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH, RETRY_AFTER, VARY,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use daylight::{Context, Detail, ErrorKind, Ruleset};
use serde_json::json;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use self::context::read_context;
use super::extract::{read_body, Reading};
use crate::auth::{KeyKind, SdkKey};
use crate::error::ApiError;
use crate::state::AppState;

/// The OFREP routes. POSTs to the two evaluation paths are answered before
/// the router (`super::direct`) by the same [`evaluate`]; here they give the
/// other methods their 405 and preflights their CORS answer.
pub fn router(origins: std::sync::Arc<crate::limits::Origins>) -> Router<AppState> {
    Router::new()
        .route("/ofrep/v1/evaluate/flags/{key}", post(routed))
        .route("/ofrep/v1/evaluate/flags", post(routed))
        .route("/ofrep/v1/configuration", get(configuration))
        .route("/ofrep/v1/event-stream", get(super::stream::event_stream))
        .layer(cors(origins.clone()))
        .layer(super::origin::guard(origins))
}

/// CORS answers the origins of `DAYLIGHT_ALLOWED_ORIGINS` (any when unset);
/// `super::origin` refuses the others before they get here.
pub fn cors(origins: std::sync::Arc<crate::limits::Origins>) -> CorsLayer {
    let any_origin = origins.allows_any();
    let allow_origin = if any_origin {
        AllowOrigin::from(Any)
    } else {
        AllowOrigin::predicate(move |origin, _| origins.allows(origin.as_bytes()))
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            AUTHORIZATION,
            CONTENT_TYPE,
            IF_NONE_MATCH,
            HeaderName::from_static("x-api-key"),
        ])
        .max_age(std::time::Duration::from_secs(600))
        // `Retry-After`, so a browser provider can back off on a 429.
        .expose_headers([ETAG, RETRY_AFTER])
        // Answers vary by origin only when the origin is echoed back; with
        // `*` they never vary (and an empty list costs nothing per request).
        .vary(if any_origin {
            vec![]
        } else {
            vec![axum::http::header::ORIGIN]
        })
}

/// The bulk evaluation's path; a single flag's key follows it after a `/`.
const BULK: &str = "/ofrep/v1/evaluate/flags";

/// An evaluation request: every flag, or one flag (its key is the path
/// after `BULK` and a `/`). Found once per request by [`evaluation`] and
/// passed on, so the path is matched once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluation {
    Bulk,
    Single,
}

impl Evaluation {
    /// The route template, the label of the request metrics.
    pub fn route(self) -> &'static str {
        match self {
            Evaluation::Bulk => "/ofrep/v1/evaluate/flags",
            Evaluation::Single => "/ofrep/v1/evaluate/flags/{key}",
        }
    }
}

/// The evaluation a request asks for; `None` for any other request (which
/// the router answers). Matches exactly what the two routes above match.
pub fn evaluation(method: &Method, path: &str) -> Option<Evaluation> {
    if method != Method::POST {
        return None;
    }
    // On bytes: `str`'s pattern searcher cost more than the rest of this
    // check on every request.
    match path.as_bytes().strip_prefix(BULK.as_bytes())? {
        [] => Some(Evaluation::Bulk),
        [b'/', key @ ..] if !key.is_empty() && key.iter().all(|&b| b != b'/') => Some(Evaluation::Single),
        _ => None,
    }
}

/// Answers an OFREP evaluation request, single or bulk (on `AppState`, see
/// `crate::state`), with axum's body (the routes) or hyper's (`super::direct`);
/// `asked` is what [`evaluation`] found for it.
/// All but reading the body is done here or once it is read, so the future
/// ([`Evaluating`]) keeps only what the answer needs across that wait.
/// Answers in this order: a flag key that is not UTF-8 (400), the key
/// (401), the key's rate limit (429), the body (413, 400), the evaluation.
pub fn evaluate<B>(state: AppState, req: axum::http::Request<B>, asked: Evaluation) -> Evaluating<B> {
    let (parts, body) = req.into_parts();
    let flag = match asked {
        Evaluation::Bulk => Flag::All,
        // Decoded as axum's `Path` would (most keys have nothing to decode).
        Evaluation::Single if parts.uri.path().bytes().any(|b| b == b'%') => {
            match percent_encoding::percent_decode_str(&parts.uri.path()[BULK.len() + 1..]).decode_utf8() {
                Ok(flag) => Flag::Decoded(flag.into_owned()),
                Err(_) => {
                    return Evaluating::Answered(Some(failure(
                        StatusCode::BAD_REQUEST,
                        None,
                        "GENERAL",
                        "the flag key in the path is not UTF-8",
                    )))
                }
            }
        }
        Evaluation::Single => Flag::InPath(parts.uri),
    };
    let Some(secret) = crate::auth::sdk_secret(&parts.headers) else {
        return Evaluating::Answered(Some(auth_failure(ApiError::Unauthorized)));
    };
    let key = match state.keys.fresh(secret) {
        Some(key) => {
            if let Some(limited) = rate_limited(&state, &key, flag.key()) {
                return Evaluating::Answered(Some(limited));
            }
            Key::Known(key)
        }
        // Not in the cache (or stale): the database is asked, boxed so that
        // the query's future does not make every evaluation's larger.
        None => {
            let (looking, secret) = (state.clone(), secret.to_owned());
            Key::Looking(Box::pin(async move { looking.keys.lookup(&looking.db, &secret).await }))
        }
    };
    // A context is small (`ContextLimits`): a larger body is refused before
    // it is read to the end or parsed, so it holds no worker thread.
    let limit = state.max_body_bytes.min(crate::limits::CONTEXT_BODY_BYTES);
    Evaluating::Pending(Pending {
        state,
        key,
        asked: Asked {
            flag,
            headers: parts.headers,
        },
        body: read_body(body, crate::state::BodyLimit(limit)),
    })
}

/// The future of [`evaluate`]: a named type rather than an `async` block,
/// so that it is stored in place, with no allocation, and moves only what
/// it holds (the `async` version was about 1.7 KB, allocated and moved
/// several times per request: docs/benchmarks.md, "Seventeenth session").
pub enum Evaluating<B> {
    /// Answered before the body was read (`None` once given).
    Answered(Option<Response>),
    Pending(Pending<B>),
}

/// An evaluation waiting for its key (a cache miss) or its body.
pub struct Pending<B> {
    state: AppState,
    key: Key,
    asked: Asked,
    body: Reading<B>,
}

enum Key {
    Known(SdkKey),
    Looking(std::pin::Pin<Box<dyn std::future::Future<Output = Result<SdkKey, ApiError>> + Send>>),
}

/// What the request asks: one flag or all, and the headers the bulk
/// answer reads (`If-None-Match`, `Accept-Encoding`, the host for
/// `eventStreams`).
struct Asked {
    flag: Flag,
    headers: HeaderMap,
}

enum Flag {
    All,
    /// The key as it is in the path (after `BULK` and a `/`).
    InPath(axum::http::Uri),
    /// The key, percent-decoded.
    Decoded(String),
}

impl Flag {
    /// The flag's key; `None` for every flag.
    fn key(&self) -> Option<&str> {
        match self {
            Flag::All => None,
            Flag::InPath(uri) => Some(&uri.path()[BULK.len() + 1..]),
            Flag::Decoded(key) => Some(key),
        }
    }
}

impl<B> std::future::Future for Evaluating<B>
where
    B: axum::body::HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Output = Response;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Response> {
        use std::task::{ready, Poll};
        let pending = match &mut *self {
            Evaluating::Answered(answer) => return Poll::Ready(answer.take().expect("an evaluation is answered once")),
            Evaluating::Pending(pending) => pending,
        };
        let flag = pending.asked.flag.key();
        if let Key::Looking(looking) = &mut pending.key {
            let key = match ready!(looking.as_mut().poll(cx)) {
                Ok(key) => key,
                Err(e) => return Poll::Ready(auth_failure(e)),
            };
            if let Some(limited) = rate_limited(&pending.state, &key, flag) {
                return Poll::Ready(limited);
            }
            pending.key = Key::Known(key);
        }
        let read = ready!(std::pin::Pin::new(&mut pending.body).poll(cx));
        let Key::Known(key) = &pending.key else {
            unreachable!("the key is known before the body is read")
        };
        let answered = answer(&pending.state, key, &pending.asked, read);
        // What it held goes now; polled again, it says it has answered.
        *self = Evaluating::Answered(None);
        Poll::Ready(answered)
    }
}

/// The 429 for a key over its rate limit, if it is.
fn rate_limited(state: &AppState, key: &SdkKey, flag: Option<&str>) -> Option<Response> {
    let wait = state.limits.check(key.id).err()?;
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut response = failure(
        StatusCode::TOO_MANY_REQUESTS,
        flag,
        "GENERAL",
        format!("rate limit reached for this key; retry in {seconds} s"),
    );
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
    Some(response)
}

/// The answer once the body is read: its context, then one flag or all.
fn answer(state: &AppState, key: &SdkKey, asked: &Asked, read: Result<Bytes, ApiError>) -> Response {
    let flag = asked.flag.key();
    let body = match read {
        Ok(body) => body,
        Err(ApiError::TooLarge(limit)) => {
            return failure(
                StatusCode::PAYLOAD_TOO_LARGE,
                flag,
                "INVALID_CONTEXT",
                format!("the request body is over {limit} bytes, more than any context may hold"),
            )
        }
        Err(e) => return e.into_response(),
    };
    let ctx = match read_context(&body) {
        Ok(ctx) => ctx,
        Err((code, details)) => return failure(StatusCode::BAD_REQUEST, flag, code, details),
    };
    let Some(rules) = state.live.get(&key.environment) else {
        return failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "GENERAL",
            "environment not loaded",
        );
    };
    state.learned.record(&key.environment, &ctx);
    match flag {
        Some(flag) => single(&rules, key, &ctx, flag),
        None => bulk(&rules, key, &ctx, &body, &asked.headers),
    }
}

async fn routed(State(state): State<AppState>, req: Request) -> Response {
    match evaluation(req.method(), req.uri().path()) {
        Some(asked) => evaluate(state, req, asked).await,
        None => ApiError::NotFound("route".into()).into_response(),
    }
}

/// One flag's successful evaluation, written straight into its buffer:
/// `{"key","value","reason","variant","metadata"}` in that order, with
/// `flagMetadata` for OpenFeature in alphabetical order: the bucket when a
/// rollout picked the variation (explaining one flag; the bulk answer
/// leaves it out), which prerequisite failed (server keys only,
/// [`super::disclosed_prerequisite`]), which rule matched, and the flag's
/// version. Written by hand rather than by serde: member names are
/// constants, and a small answer is most of what this endpoint does
/// (docs/benchmarks.md, "Fifteenth session"); the bytes are pinned by
/// `tests/api/ofrep.rs`.
fn single_answer(
    rules: &Ruleset,
    key: &str,
    detail: &Detail<'_>,
    bucket: Option<u32>,
    kind: KeyKind,
) -> Option<Vec<u8>> {
    let (value, variation) = (detail.value?, detail.variation?);
    let mut out = Vec::with_capacity(128 + key.len());
    let mut number = itoa::Buffer::new();
    out.extend_from_slice(br#"{"key":"#);
    json_str(&mut out, key);
    out.extend_from_slice(br#","value":"#);
    serde_json::to_writer(&mut out, value).ok()?;
    out.extend_from_slice(br#","reason":""#);
    out.extend_from_slice(detail.reason.openfeature_reason().as_bytes());
    out.extend_from_slice(br#"","variant":""#);
    out.extend_from_slice(number.format(variation).as_bytes());
    out.extend_from_slice(br#"","metadata":{"#);
    if let Some(bucket) = bucket {
        out.extend_from_slice(br#""bucket":"#);
        out.extend_from_slice(number.format(bucket).as_bytes());
        out.push(b',');
    }
    if let Some(prerequisite) = super::disclosed_prerequisite(&detail.reason, kind) {
        out.extend_from_slice(br#""prerequisite_key":"#);
        json_str(&mut out, prerequisite);
        out.push(b',');
    }
    if let daylight::Reason::RuleMatch {
        rule_index, rule_id, ..
    } = detail.reason
    {
        out.extend_from_slice(br#""rule_id":"#);
        json_str(&mut out, rule_id);
        out.extend_from_slice(br#","rule_index":"#);
        out.extend_from_slice(number.format(rule_index).as_bytes());
        out.push(b',');
    }
    out.extend_from_slice(br#""version":"#);
    out.extend_from_slice(number.format(rules.flag_version(key).unwrap_or_default()).as_bytes());
    out.extend_from_slice(b"}}");
    Some(out)
}

/// `s` as a JSON string.
fn json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("a string serialises");
}

/// An OFREP error body: `key` and `errorCode` are what stock clients read.
fn failure(status: StatusCode, key: Option<&str>, code: &str, details: impl Into<String>) -> Response {
    let mut body = json!({ "errorCode": code, "errorDetails": details.into() });
    if let Some(key) = key {
        body["key"] = json!(key);
    }
    (status, Json(body)).into_response()
}

/// Auth failures carry no body in the spec; we add a short JSON one.
fn auth_failure(e: ApiError) -> Response {
    e.into_response()
}

fn visible(rules: &Ruleset, key: &SdkKey, flag: &str) -> bool {
    key.kind == KeyKind::Server || rules.is_client_side(flag)
}

fn not_found(flag: &str) -> Response {
    failure(
        StatusCode::NOT_FOUND,
        Some(flag),
        "FLAG_NOT_FOUND",
        format!("flag `{flag}` was not found"),
    )
}

fn single(rules: &Ruleset, sdk_key: &SdkKey, ctx: &Context, flag: &str) -> Response {
    if !visible(rules, sdk_key, flag) {
        return not_found(flag);
    }
    let (detail, bucket) = rules.evaluate_with_bucket(flag, ctx);
    evaluations().increment(1);
    match detail.reason {
        daylight::Reason::Error {
            error_kind: ErrorKind::FlagNotFound,
        } => not_found(flag),
        _ => match single_answer(rules, flag, &detail, bucket, sdk_key.kind) {
            Some(answer) => {
                let mut response = Response::new(axum::body::Body::from(answer));
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                response
            }
            None => failure(
                StatusCode::BAD_REQUEST,
                Some(flag),
                "GENERAL",
                "the flag served no value",
            ),
        },
    }
}

fn bulk(
    rules: &std::sync::Arc<Ruleset>,
    sdk_key: &SdkKey,
    ctx: &Context,
    request: &Bytes,
    headers: &HeaderMap,
) -> Response {
    let if_none_match = headers.get(IF_NONE_MATCH);
    let streams = event_streams(headers, sdk_key);
    // The visible flags' pieces, serialised once per ruleset, and the
    // answers given lately (`super::ofrep_bulk`): a client that polls with
    // the same context gets the same bytes without an evaluation.
    let kept = super::ofrep_bulk::kept(rules, sdk_key.kind);
    let answer = kept.answer(rules, ctx, sdk_key.kind, streams.as_deref(), request);
    evaluations().increment(kept.len() as u64);
    let not_modified = if_none_match
        .and_then(|v| v.to_str().ok())
        // Weak comparison (RFC 9110 13.1.2): a proxy may have weakened our tag.
        .is_some_and(|v| {
            v.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t.as_bytes() == answer.etag.as_bytes() || t == "*")
        });
    // The answer depends on `Accept-Encoding`; caches must know.
    let vary = (VARY, HeaderValue::from_static("accept-encoding"));
    // The gzip form is another representation of the same answer: it
    // carries a weak ETag (RFC 9110 8.8.1), which `If-None-Match` matches
    // either way; a 304 carries the tag the 200 would have.
    let gzip = accepts_gzip(headers) && answer.compressible();
    let etag = if gzip { &answer.weak_etag } else { &answer.etag }.clone();
    if not_modified {
        return (StatusCode::NOT_MODIFIED, [(ETAG, etag), vary]).into_response();
    }
    let mut response = Response::new(axum::body::Body::from(if gzip {
        answer.gzip().clone()
    } else {
        answer.body.clone()
    }));
    let headers = response.headers_mut();
    headers.reserve(8);
    headers.insert(ETAG, etag);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(vary.0, vary.1);
    if gzip {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// Whether `Accept-Encoding` takes gzip (RFC 9110 12.5.3): named, or `*`
/// when not named, with a quality above zero.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut star = false;
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim();
            let wanted = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .all(|q| q.trim().parse::<f32>().is_ok_and(|q| q > 0.0));
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                return wanted;
            }
            if coding == "*" {
                star = wanted;
            }
        }
    }
    star
}

/// The `eventStreams` extension: where a browser provider listens for
/// "re-fetch" notices instead of polling. Offered to client keys, whose key is
/// public and may travel in the URL (a server key never goes into a URL).
/// The member's JSON value, written directly: every piece is checked or
/// encoded to characters a JSON string holds as they are.
fn event_streams(headers: &HeaderMap, key: &SdkKey) -> Option<String> {
    if key.kind != KeyKind::Client {
        return None;
    }
    let secret = crate::auth::sdk_secret(headers)?;
    // Both come from the client (or a proxy passing them on): a URL built
    // from them must not be able to point anywhere but a host of ours, so
    // anything unexpected gets no `eventStreams` (the provider polls).
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| is_host(h))?;
    let scheme = match headers.get("x-forwarded-proto").map(HeaderValue::as_bytes) {
        None => "http",
        Some(proto) => ["http", "https", "ws", "wss"]
            .into_iter()
            .find(|s| s.as_bytes().eq_ignore_ascii_case(proto))?,
    };
    let mut out = String::with_capacity(96 + host.len() + secret.len());
    out.push_str(r#"[{"inactivityDelaySec":120,"type":"sse","url":""#);
    out.push_str(scheme);
    out.push_str("://");
    out.push_str(host);
    out.push_str("/ofrep/v1/event-stream?key=");
    out.extend(url::form_urlencoded::byte_serialize(secret.trim().as_bytes()));
    out.push_str(r#""}]"#);
    Some(out)
}

/// `host[:port]` as a `Host` header may carry it: a name, an IPv4 address
/// or a bracketed IPv6 address; no user info, path, query or fragment.
fn is_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 261
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']'))
}

/// `daylight_evaluations_total{api="ofrep"}`, registered once: the macro
/// looks the counter up in the registry on every call.
fn evaluations() -> &'static metrics::Counter {
    static COUNTER: std::sync::OnceLock<metrics::Counter> = std::sync::OnceLock::new();
    COUNTER.get_or_init(|| metrics::counter!("daylight_evaluations_total", "api" => "ofrep"))
}

/// A stable 64-bit hash of the body (the same on every node).
pub(super) fn content_hash(bytes: &[u8]) -> u64 {
    let mut hasher = foldhash::quality::FixedState::with_seed(0x0da7_1147).build_hasher();
    hasher.write(bytes);
    hasher.finish()
}

async fn configuration(key: Result<SdkKey, ApiError>) -> Response {
    if let Err(e) = key {
        return auth_failure(e);
    }
    Json(json!({
        "name": "Daylight",
        "capabilities": {
            "cacheInvalidation": { "polling": { "enabled": true, "minPollingIntervalMs": 1000 } },
            "flagEvaluation": { "supportedTypes": ["int", "float", "string", "boolean", "object"] }
        }
    }))
    .into_response()
}

mod context;
#[cfg(test)]
mod tests;
