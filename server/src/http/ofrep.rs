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
use daylight::{Context, ContextError, ContextReader, Detail, ErrorKind, Ruleset};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::json;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use super::extract::read_body;
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

/// An evaluation request: every flag, or one flag (its key as it is in the
/// path, percent-encoded).
pub enum Evaluation<'a> {
    Bulk,
    Single(&'a str),
}

impl Evaluation<'_> {
    /// The route template, the label of the request metrics.
    pub fn route(&self) -> &'static str {
        match self {
            Evaluation::Bulk => "/ofrep/v1/evaluate/flags",
            Evaluation::Single(_) => "/ofrep/v1/evaluate/flags/{key}",
        }
    }
}

/// The evaluation a request asks for; `None` for any other request (which
/// the router answers). Matches exactly what the two routes above match.
pub fn evaluation<'a>(method: &Method, path: &'a str) -> Option<Evaluation<'a>> {
    const BULK: &str = "/ofrep/v1/evaluate/flags";
    if method != Method::POST {
        return None;
    }
    // On bytes: `str`'s pattern searcher cost more than the rest of this
    // check on every request.
    match path.as_bytes().strip_prefix(BULK.as_bytes())? {
        [] => Some(Evaluation::Bulk),
        [b'/', key @ ..] if !key.is_empty() && key.iter().all(|&b| b != b'/') => {
            Some(Evaluation::Single(&path[BULK.len() + 1..]))
        }
        _ => None,
    }
}

/// Answers an OFREP evaluation request, single or bulk (on `AppState`, see
/// `crate::state`), with axum's body (the routes) or hyper's (`super::direct`).
/// Not an `async fn`: the request is taken apart before the future is made,
/// so the future holds its parts once (an `async fn` keeps its arguments
/// beside everything it awaits), and the only awaits are the key's (a miss)
/// and the body's. The future is allocated and moved on every request.
pub fn evaluate<B>(state: AppState, req: axum::http::Request<B>) -> impl std::future::Future<Output = Response> + Send
where
    B: axum::body::HttpBody<Data = Bytes> + Send,
    B::Error: Into<axum::BoxError>,
{
    let (parts, body) = req.into_parts();
    async move {
        let Some(evaluation) = evaluation(&parts.method, parts.uri.path()) else {
            return ApiError::NotFound("route".into()).into_response();
        };
        let flag = match evaluation {
            // Decoded as axum's `Path` would (most keys have nothing to decode).
            Evaluation::Single(raw) if raw.bytes().any(|b| b == b'%') => {
                match percent_encoding::percent_decode_str(raw).decode_utf8() {
                    Ok(flag) => Some(flag),
                    Err(_) => {
                        return failure(
                            StatusCode::BAD_REQUEST,
                            None,
                            "GENERAL",
                            "the flag key in the path is not UTF-8",
                        )
                    }
                }
            }
            Evaluation::Single(raw) => Some(std::borrow::Cow::Borrowed(raw)),
            Evaluation::Bulk => None,
        };
        let key = SdkKey::of(&state.db, &state.keys, &parts.headers).await;
        let streams = match (&flag, &key) {
            (None, Ok(key)) => event_streams(&parts.headers, key),
            _ => None,
        };
        let prepared = match prepare(&state, key, body, flag.as_deref()).await {
            Ok(prepared) => prepared,
            Err(response) => return *response,
        };
        match flag {
            Some(flag) => single(prepared, &flag),
            None => bulk(prepared, &parts.headers, streams.as_deref()),
        }
    }
}

async fn routed(State(state): State<AppState>, req: Request) -> Response {
    evaluate(state, req).await
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

/// The request context as a Daylight context: `targetingKey` is the key.
/// Read as the JSON is parsed (`Body`), with no `serde_json::Value` between.
fn read_context(body: &[u8]) -> Result<Context, (&'static str, String)> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Context::anonymous());
    }
    let context = serde_json::from_slice::<Body>(body).map_err(|e| match e.classify() {
        // The only data error `Body` raises: a document that is no object.
        serde_json::error::Category::Data => ("PARSE_ERROR", "the body must be a JSON object".into()),
        _ => ("PARSE_ERROR", format!("the body is not valid JSON: {e}")),
    })?;
    // Over-limit contexts (`ContextLimits::DEFAULT`) land here too, their
    // message naming the attribute.
    context.0.map_err(|e| match e {
        ContextError::NotAnObject => ("INVALID_CONTEXT", "context must be an object".into()),
        e => ("INVALID_CONTEXT", format!("context: {e}")),
    })
}

/// An OFREP request body: an object whose `context` (absent or `null`: an
/// anonymous context) is read; other members are skipped.
struct Body(Result<Context, ContextError>);

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(BodyVisitor)
    }
}

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = Body;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Body, A::Error> {
        let mut context = Ok(Context::anonymous());
        while let Some(is_context) = map.next_key_seed(IsContext)? {
            if is_context {
                context = map
                    .next_value_seed(OptionalContext)?
                    .unwrap_or_else(|| Ok(Context::anonymous()));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Body(context))
    }
}

/// Whether a member name is `context` (read without copying it).
struct IsContext;

impl<'de> DeserializeSeed<'de> for IsContext {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for IsContext {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, name: &str) -> Result<bool, E> {
        Ok(name == "context")
    }
}

/// `null` or a context object.
struct OptionalContext;

impl<'de> DeserializeSeed<'de> for OptionalContext {
    type Value = Option<Result<Context, ContextError>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        Option::<WithTargetingKey>::deserialize(deserializer).map(|found| found.map(|c| c.0))
    }
}

struct WithTargetingKey(Result<Context, ContextError>);

impl<'de> Deserialize<'de> for WithTargetingKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ContextReader {
            targeting_key: Some("targetingKey"),
            ..ContextReader::default()
        }
        .deserialize(deserializer)
        .map(WithTargetingKey)
    }
}

fn ruleset_for(state: &AppState, key: &SdkKey) -> Result<std::sync::Arc<Ruleset>, Box<Response>> {
    state.live.get(&key.environment).ok_or_else(|| {
        Box::new(failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "GENERAL",
            "environment not loaded",
        ))
    })
}

fn visible(rules: &Ruleset, key: &SdkKey, flag: &str) -> bool {
    key.kind == KeyKind::Server || rules.is_client_side(flag)
}

/// What every evaluation request needs: a valid key, a readable context
/// and the key's ruleset; or the OFREP error response to send instead.
async fn prepare<B>(
    state: &AppState,
    key: Result<SdkKey, ApiError>,
    body: B,
    flag: Option<&str>,
) -> Result<Prepared, Box<Response>>
where
    B: axum::body::HttpBody<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    let sdk_key = key.map_err(|e| Box::new(auth_failure(e)))?;
    if let Err(wait) = state.limits.check(sdk_key.id) {
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        let mut response = failure(
            StatusCode::TOO_MANY_REQUESTS,
            flag,
            "GENERAL",
            format!("rate limit reached for this key; retry in {seconds} s"),
        );
        response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
        return Err(Box::new(response));
    }
    // A context is small (`ContextLimits`): a larger body is refused before
    // it is read to the end or parsed, so it holds no worker thread.
    let limit = state.max_body_bytes.min(crate::limits::CONTEXT_BODY_BYTES);
    let body = read_body(body, crate::state::BodyLimit(limit))
        .await
        .map_err(|e| match e {
            ApiError::TooLarge(limit) => Box::new(failure(
                StatusCode::PAYLOAD_TOO_LARGE,
                flag,
                "INVALID_CONTEXT",
                format!("the request body is over {limit} bytes, more than any context may hold"),
            )),
            e => Box::new(e.into_response()),
        })?;
    let ctx = read_context(&body)
        .map_err(|(code, details)| Box::new(failure(StatusCode::BAD_REQUEST, flag, code, details)))?;
    let rules = ruleset_for(state, &sdk_key)?;
    state.learned.record(&sdk_key.environment, &ctx);
    Ok((sdk_key, ctx, rules, body))
}

fn not_found(flag: &str) -> Response {
    failure(
        StatusCode::NOT_FOUND,
        Some(flag),
        "FLAG_NOT_FOUND",
        format!("flag `{flag}` was not found"),
    )
}

/// What [`prepare`] gives: the key, the context, the key's ruleset and the
/// request body.
type Prepared = (SdkKey, Context, std::sync::Arc<Ruleset>, Bytes);

fn single((sdk_key, ctx, rules, _): Prepared, flag: &str) -> Response {
    if !visible(&rules, &sdk_key, flag) {
        return not_found(flag);
    }
    let (detail, bucket) = rules.evaluate_with_bucket(flag, &ctx);
    evaluations().increment(1);
    match detail.reason {
        daylight::Reason::Error {
            error_kind: ErrorKind::FlagNotFound,
        } => not_found(flag),
        _ => match single_answer(&rules, flag, &detail, bucket, sdk_key.kind) {
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

fn bulk((sdk_key, ctx, rules, request): Prepared, headers: &HeaderMap, streams: Option<&str>) -> Response {
    let if_none_match = headers.get(IF_NONE_MATCH);
    // The visible flags' pieces, serialised once per ruleset, and the
    // answers given lately (`super::ofrep_bulk`): a client that polls with
    // the same context gets the same bytes without an evaluation.
    let kept = super::ofrep_bulk::kept(&rules, sdk_key.kind);
    let answer = kept.answer(&rules, &ctx, sdk_key.kind, streams, &request);
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

#[cfg(test)]
mod tests;
