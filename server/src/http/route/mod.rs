//! Routing for load balancers: `/route/v1/{flag}` answers which upstream pool
//! a request goes to, for nginx `auth_request` (or any proxy that can make a
//! sub-request). The flag is a string flag whose variations name the pools
//! (`blue`, `green`); the answer is `200` with the pool in `X-Daylight-Pool`.
//!
//! The context is read from the sub-request: the original request's headers
//! and cookies (nginx passes them on), `X-Original-URI`, `X-Original-Method`,
//! `X-Original-Host`, `X-Real-IP`, and the query string, which says where the
//! targeting key and extra attributes come from (`docs/recipes/blue-green.md`).
//! Everything is read from memory: the rules from `live`, the key from the
//! key cache without waiting for the database. Sticky ids may be signed
//! (`ids.rs`). Every answer is counted in `/metrics`: pools served per flag
//! (`daylight_route_answers_total`), refusals by reason
//! (`daylight_route_errors_total`), ids whose signature failed
//! (`daylight_route_forged_ids_total`).

mod ids;

pub use ids::RouteIds;

use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, COOKIE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use daylight::{Context, ContextLimits, ErrorKind, Reason};

use crate::auth::KeyKind;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    // Any method: a sub-request may carry the original request's method.
    Router::new().route("/route/v1/{flag}", any(route))
}

/// Where a value is read from in the sub-request.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// A request header (names are case-insensitive).
    Header(HeaderName),
    /// A cookie of the original request.
    Cookie(String),
    /// A query parameter of the original URI (`X-Original-URI`).
    Query(String),
    /// The client address (`X-Real-IP`, else the first `X-Forwarded-For`).
    Ip,
    /// The original path (`X-Original-URI` without its query).
    Path,
}

impl Source {
    fn parse(field: &str, text: &str) -> ApiResult<Source> {
        let bad = |why: &str| ApiError::invalid(field, format!("`{text}`: {why}"));
        let (kind, name) = text.split_once(':').unwrap_or((text, ""));
        match (kind, name) {
            ("ip", "") => Ok(Source::Ip),
            ("path", "") => Ok(Source::Path),
            ("header" | "cookie" | "query", "") => Err(bad("needs a name after the colon")),
            ("header", name) => HeaderName::try_from(name)
                .map(Source::Header)
                .map_err(|_| bad("not a valid header name")),
            ("cookie", name) => Ok(Source::Cookie(name.to_owned())),
            ("query", name) => Ok(Source::Query(name.to_owned())),
            _ => Err(bad("a source is header:NAME, cookie:NAME, query:NAME, ip or path")),
        }
    }
}

/// What the query string of the route asks for.
#[derive(Debug, Default)]
struct Plan {
    /// Where the targeting key comes from, in order; the first present wins.
    key: Vec<Source>,
    /// Extra attributes and where they come from.
    attributes: Vec<(String, Source)>,
    /// The sticky cookie for requests without a key.
    cookie: Option<String>,
    cookie_max_age: u64,
}

/// The default targeting key: the `X-User-Id` header.
const DEFAULT_KEY_HEADER: &str = "x-user-id";
/// A sticky cookie lives a year unless the route says otherwise.
const DEFAULT_COOKIE_MAX_AGE: u64 = 365 * 24 * 3600;
/// Header names parsed once, not on every request.
const X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
const X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
const X_ORIGINAL_HOST: HeaderName = HeaderName::from_static("x-original-host");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
const X_DAYLIGHT_POOL: HeaderName = HeaderName::from_static("x-daylight-pool");
const X_DAYLIGHT_VARIATION: HeaderName = HeaderName::from_static("x-daylight-variation");
const X_DAYLIGHT_REASON: HeaderName = HeaderName::from_static("x-daylight-reason");
const X_DAYLIGHT_SET_COOKIE: HeaderName = HeaderName::from_static("x-daylight-set-cookie");

/// Headers named `X-Daylight-Attr-NAME` become attribute `name`.
const ATTR_HEADER_PREFIX: &str = "x-daylight-attr-";

fn plan(query: Option<&str>) -> ApiResult<Plan> {
    let mut plan = Plan {
        cookie_max_age: DEFAULT_COOKIE_MAX_AGE,
        ..Plan::default()
    };
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "key" => plan.key.push(Source::parse("key", &value)?),
            "cookie" => {
                if !is_token(&value) {
                    return Err(ApiError::invalid(
                        "cookie",
                        "a cookie name is letters, digits, `-` and `_`",
                    ));
                }
                plan.cookie = Some(value.into_owned());
            }
            "cookie_max_age" => {
                plan.cookie_max_age = value
                    .parse()
                    .map_err(|_| ApiError::invalid("cookie_max_age", "a number of seconds"))?;
            }
            other => match other.strip_prefix("attr.") {
                Some(attr) if !attr.is_empty() && attr != "key" => {
                    plan.attributes.push((attr.to_owned(), Source::parse(other, &value)?));
                }
                _ => {
                    return Err(ApiError::invalid(
                        other,
                        "unknown parameter: use key, attr.NAME, cookie or cookie_max_age",
                    ))
                }
            },
        }
    }
    // A route that names neither reads `X-User-Id`; one that names a cookie
    // reads only what it names (a client can send any header).
    if plan.key.is_empty() && plan.cookie.is_none() {
        plan.key
            .push(Source::Header(HeaderName::from_static(DEFAULT_KEY_HEADER)));
    }
    Ok(plan)
}

/// The plan for a query string, parsed once: a proxy sends the same few
/// query strings (one per `location`) on every request. At most
/// `PLAN_CACHE_SIZE` are kept; others are parsed each time.
fn cached_plan(query: Option<&str>) -> ApiResult<std::sync::Arc<Plan>> {
    use std::sync::{Arc, OnceLock, RwLock};
    const PLAN_CACHE_SIZE: usize = 64;
    type Plans = foldhash::HashMap<Box<str>, Arc<Plan>>;
    static PLANS: OnceLock<RwLock<Plans>> = OnceLock::new();
    let plans = PLANS.get_or_init(Default::default);
    let query = query.unwrap_or("");
    if let Some(found) = plans.read().unwrap_or_else(|e| e.into_inner()).get(query) {
        return Ok(found.clone());
    }
    let parsed = Arc::new(plan(Some(query))?);
    let mut plans = plans.write().unwrap_or_else(|e| e.into_inner());
    if plans.len() < PLAN_CACHE_SIZE {
        plans.insert(query.into(), parsed.clone());
    }
    Ok(parsed)
}

/// Cookie names, minted ids and pool names: a safe, small alphabet.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The parts of the sub-request a source can read.
struct Request<'a> {
    headers: &'a HeaderMap,
    /// `X-Original-URI` split into path and query.
    path: Option<&'a str>,
    query: Option<&'a str>,
}

impl<'a> Request<'a> {
    fn new(headers: &'a HeaderMap) -> Self {
        let original = header(headers, &X_ORIGINAL_URI);
        let (path, query) = match original.map(|uri| uri.split_once('?')) {
            Some(Some((path, query))) => (Some(path), Some(query)),
            Some(None) => (original, None),
            None => (None, None),
        };
        Request { headers, path, query }
    }

    fn read(&self, source: &Source) -> Option<String> {
        let value: std::borrow::Cow<'_, str> = match source {
            Source::Header(name) => self.headers.get(name).and_then(|v| v.to_str().ok())?.into(),
            Source::Cookie(name) => cookie(self.headers, name)?.into(),
            Source::Query(name) => url::form_urlencoded::parse(self.query?.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v)?,
            Source::Ip => client_ip(self.headers)?.into(),
            Source::Path => self.path?.into(),
        };
        let value = value.trim();
        (!value.is_empty()).then(|| value.to_owned())
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn client_ip(headers: &HeaderMap) -> Option<&str> {
    header(headers, &X_REAL_IP).or_else(|| {
        header(headers, &X_FORWARDED_FOR)
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    })
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// What became of the sticky cookie.
#[derive(Debug, PartialEq)]
enum Sticky {
    /// Not used: the key came from elsewhere, or the route names no cookie.
    Unused,
    /// A valid cookie was sent.
    Kept,
    /// A new id was minted; the cookie value to set (signed with a secret).
    Minted(String),
}

/// The evaluation context, what became of the sticky cookie, and whether a
/// cookie was refused (a bad signature).
fn context(plan: &Plan, req: &Request<'_>, ids: &RouteIds) -> (Context, Sticky, bool) {
    let mut ctx = Context::anonymous();
    // `X-Daylight-Attr-*` first: the client may have sent them, so what the
    // proxy sets (`X-Original-*`, `X-Real-IP`) and what the route's query
    // names, set after, replace them.
    for (name, value) in req.headers {
        if let Some(attr) = name.as_str().strip_prefix(ATTR_HEADER_PREFIX) {
            if let Ok(value) = value.to_str() {
                if !attr.is_empty() && attr != "key" && !value.trim().is_empty() {
                    ctx.set(attr, value.trim());
                }
            }
        }
    }
    if let Some(path) = req.path {
        ctx.set("path", path);
    }
    for (name, attr) in [
        ("method", header(req.headers, &X_ORIGINAL_METHOD)),
        (
            "host",
            header(req.headers, &X_ORIGINAL_HOST).or_else(|| header(req.headers, &X_FORWARDED_HOST)),
        ),
        ("ip", client_ip(req.headers)),
    ] {
        if let Some(value) = attr {
            ctx.set(name, value);
        }
    }
    for (name, source) in &plan.attributes {
        if let Some(value) = req.read(source) {
            ctx.set(name.as_str(), value);
        }
    }
    let mut sticky = Sticky::Unused;
    let mut refused = false;
    let key = plan.key.iter().find_map(|s| req.read(s)).or_else(|| {
        let name = plan.cookie.as_deref()?;
        let sent = cookie(req.headers, name);
        match sent.and_then(|v| ids.verify(v)) {
            Some(id) => {
                sticky = Sticky::Kept;
                Some(id.to_owned())
            }
            None => {
                refused = sent.is_some() && ids.signs();
                let id = new_id();
                sticky = Sticky::Minted(ids.sign(&id));
                Some(id)
            }
        }
    });
    if let Some(key) = key {
        ctx.set("key", key);
    }
    (ctx, sticky, refused)
}

/// A random anonymous id (128 bits, hex).
fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// On `AppState`, like OFREP: it sits in front of every page view, and one
/// clone of `AppState` costs less than a narrow state's several `Arc`s.
async fn route(State(state): State<AppState>, Path(flag): Path<String>, req: axum::extract::Request) -> Response {
    match answer(&state, &flag, req.uri(), req.headers()).await {
        Ok(response) => response,
        Err(e) => {
            metrics::counter!("daylight_route_errors_total", "reason" => e.code()).increment(1);
            if matches!(e, ApiError::Unauthorized | ApiError::Forbidden(_)) {
                warn_refused_key(&e);
            }
            e.into_response()
        }
    }
}

/// A refused key sends every visitor to nginx's default pool: say so in the
/// log, at most once a minute per node (the metric counts every one).
fn warn_refused_key(e: &ApiError) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST.load(Ordering::Relaxed);
    if now >= last + 60
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(
            error = %e,
            "routing refused the proxy's key (unknown, revoked or not a server key): \
             the proxy sends every request to its default pool"
        );
    }
}

async fn answer(state: &AppState, flag: &str, uri: &Uri, headers: &HeaderMap) -> ApiResult<Response> {
    // Only `Authorization`: nginx sets it in the internal location, replacing
    // whatever the client sent; other headers come from the client as is.
    let secret = crate::auth::bearer(headers).ok_or(ApiError::Unauthorized)?;
    let key = state.keys.lookup_without_waiting(&state.db, secret).await?;
    if key.kind != KeyKind::Server {
        return Err(ApiError::Forbidden("routing needs a server key".into()));
    }
    let plan = cached_plan(uri.query())?;
    let rules = state
        .live
        .get(&key.environment)
        .ok_or_else(|| ApiError::Internal(format!("environment `{}` is not loaded", key.environment)))?;
    let (ctx, sticky, refused) = context(&plan, &Request::new(headers), &state.route_ids);
    if refused {
        metrics::counter!("daylight_route_forged_ids_total").increment(1);
    }
    // Headers, cookies and the URI are the client's: bounded as OFREP's are.
    ctx.check(&ContextLimits::DEFAULT)
        .map_err(crate::limits::context_error)?;
    let detail = rules.evaluate(flag, &ctx);
    metrics::counter!("daylight_evaluations_total", "api" => "route").increment(1);
    if let Reason::Error {
        error_kind: ErrorKind::FlagNotFound,
    } = detail.reason
    {
        return Err(ApiError::NotFound(format!("flag `{flag}`")));
    }
    let pool = match detail.value {
        Some(serde_json::Value::String(pool)) if is_token(pool) => pool,
        Some(serde_json::Value::String(_)) => {
            return Err(ApiError::invalid(
                "flag",
                "a pool name is letters, digits, `-` and `_` (at most 128)",
            ))
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "flag",
                format!("flag `{flag}` does not serve strings; its variations must name pools"),
            ))
        }
        None => return Err(ApiError::invalid("flag", format!("flag `{flag}` served no value"))),
    };
    metrics::counter!(
        "daylight_route_answers_total",
        "environment" => key.environment.to_string(),
        "flag" => flag.to_owned(),
        "pool" => pool.to_owned()
    )
    .increment(1);
    let mut response = StatusCode::OK.into_response();
    let out = response.headers_mut();
    out.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Checked by `is_token`: always a valid header value.
    out.insert(X_DAYLIGHT_POOL, HeaderValue::from_str(pool).expect("a token"));
    if let Some(variation) = detail.variation {
        out.insert(X_DAYLIGHT_VARIATION, HeaderValue::from(variation));
    }
    out.insert(
        X_DAYLIGHT_REASON,
        HeaderValue::from_static(detail.reason.openfeature_reason()),
    );
    // No cookie while the flag is off: nobody is bucketed, nothing to keep.
    let minted = match sticky {
        Sticky::Minted(value) if !matches!(detail.reason, Reason::Off) => Some(value),
        _ => None,
    };
    if let (Some(id), Some(name)) = (minted, plan.cookie.as_deref()) {
        // nginx sets `X-Forwarded-Proto` from its own `$scheme` in the
        // sub-request location, replacing whatever the client sent.
        let secure = header(headers, &X_FORWARDED_PROTO) == Some("https");
        let cookie = format!(
            "{name}={id}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}",
            plan.cookie_max_age,
            if secure { "; Secure" } else { "" }
        );
        out.insert(
            X_DAYLIGHT_SET_COOKIE,
            HeaderValue::from_str(&cookie).expect("tokens and digits"),
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(HeaderName::try_from(*k).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn sources_parse_and_reject() {
        assert_eq!(Source::parse("key", "ip").unwrap(), Source::Ip);
        assert_eq!(
            Source::parse("key", "cookie:sid").unwrap(),
            Source::Cookie("sid".into())
        );
        for bad in ["header:", "cookie:", "bogus:x", "header:bad name", ""] {
            let err = Source::parse("key", bad).unwrap_err();
            assert!(
                matches!(err, ApiError::Invalid { field: Some(ref f), .. } if f == "key"),
                "{bad}"
            );
        }
        assert!(plan(Some("nope=1")).is_err());
        assert!(plan(Some("cookie=a;b")).is_err());
        assert!(plan(Some("attr.key=ip")).is_err());
        let p = plan(None).unwrap();
        assert_eq!(p.key, vec![Source::Header(HeaderName::from_static("x-user-id"))]);
    }

    #[test]
    fn the_first_present_source_is_the_key_and_attributes_are_read() {
        let p = plan(Some(
            "key=header:x-user-id&key=cookie:uid&key=query:u&attr.country=header:cf-ipcountry&attr.q=query:x",
        ))
        .unwrap();
        let h = headers(&[
            ("cookie", "a=1; uid=cookie-user"),
            ("x-original-uri", "/beta/page?u=query-user&x=a%20b"),
            ("x-original-method", "POST"),
            ("x-original-host", "shop.example"),
            ("x-forwarded-for", "10.1.2.3, 10.0.0.1"),
            ("cf-ipcountry", "AU"),
            ("x-daylight-attr-platform", "ios"),
        ]);
        let (ctx, sticky, _) = context(&p, &Request::new(&h), &RouteIds::default());
        assert_eq!(ctx.key(), Some("cookie-user"));
        assert_eq!(sticky, Sticky::Unused);
        let expect = Context::from_json(&serde_json::json!({
            "key": "cookie-user", "path": "/beta/page", "method": "POST", "host": "shop.example",
            "ip": "10.1.2.3", "platform": "ios", "country": "AU", "q": "a b"
        }))
        .unwrap();
        // Contexts keep attributes in insertion order: compare them one by one.
        for attr in ["path", "method", "host", "ip", "platform", "country", "q"] {
            let one = |c: &Context| daylight::bucket::context_bucket("s", c, attr);
            assert_eq!(one(&ctx), one(&expect), "attribute {attr}");
            assert!(one(&ctx).is_some(), "attribute {attr} is set");
        }
        // Without the cookie, the query parameter is next.
        let h = headers(&[("x-original-uri", "/?u=query-user")]);
        assert_eq!(
            context(&p, &Request::new(&h), &RouteIds::default()).0.key(),
            Some("query-user")
        );
    }

    #[test]
    fn a_sticky_id_is_minted_only_without_a_key_or_a_valid_cookie() {
        let open = RouteIds::default();
        let p = plan(Some("cookie=dl_uid")).unwrap();
        let (ctx, sticky, _) = context(&p, &Request::new(&headers(&[])), &open);
        let Sticky::Minted(id) = sticky else {
            panic!("minted: {sticky:?}")
        };
        assert_eq!(ctx.key(), Some(id.as_str()));
        assert_eq!(id.len(), 32);
        let (ctx, sticky, _) = context(&p, &Request::new(&headers(&[("cookie", "dl_uid=abc123")])), &open);
        assert_eq!((ctx.key(), sticky), (Some("abc123"), Sticky::Kept));
        let (_, sticky, _) = context(&p, &Request::new(&headers(&[("cookie", "dl_uid=<bad>")])), &open);
        assert!(matches!(sticky, Sticky::Minted(_)), "an invalid cookie is replaced");
        // A route that names a cookie does not read `X-User-Id` (the client's).
        let (ctx, _, _) = context(&p, &Request::new(&headers(&[("x-user-id", "staff-ann")])), &open);
        assert_ne!(ctx.key(), Some("staff-ann"));
        let p = plan(Some("key=header:x-user-id&cookie=dl_uid")).unwrap();
        let (ctx, sticky, _) = context(&p, &Request::new(&headers(&[("x-user-id", "u1")])), &open);
        assert_eq!((ctx.key(), sticky), (Some("u1"), Sticky::Unused));
        // No cookie configured: anonymous.
        let (ctx, sticky, _) = context(&plan(None).unwrap(), &Request::new(&headers(&[])), &open);
        assert_eq!((ctx.key(), sticky), (None, Sticky::Unused));
    }

    #[test]
    fn with_a_secret_only_signed_cookies_are_ids() {
        let ids = RouteIds::new(&["a-route-secret-of-at-least-32-chars".into()]).unwrap();
        let p = plan(Some("cookie=dl_uid")).unwrap();
        let signed = format!("dl_uid={}", ids.sign("staff-ann"));
        let (ctx, sticky, refused) = context(&p, &Request::new(&headers(&[("cookie", &signed)])), &ids);
        assert_eq!((ctx.key(), sticky, refused), (Some("staff-ann"), Sticky::Kept, false));
        let (ctx, sticky, refused) = context(&p, &Request::new(&headers(&[("cookie", "dl_uid=staff-ann")])), &ids);
        assert_ne!(ctx.key(), Some("staff-ann"));
        assert!(refused);
        let Sticky::Minted(value) = sticky else {
            panic!("a new id replaces the forged one")
        };
        assert_eq!(ids.verify(&value), ctx.key(), "the new cookie is signed");
    }
}
