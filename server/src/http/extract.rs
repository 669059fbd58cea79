//! Request extractors shared by the API handlers: a JSON body that names the
//! offending field on error and refuses unknown fields, `If-Match`, the
//! audit comment header, and `Editing`, the preamble of every admin write.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::extract::{FromRef, FromRequest, FromRequestParts, Path, Request};
use axum::http::header::{CONTENT_TYPE, IF_MATCH};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::auth::{Admin, Role};
use crate::error::{ApiError, ApiResult};
use crate::state::{AdminState, BodyLimit};

/// A JSON body of type `T`. Malformed JSON, a wrong type or an unknown field
/// gets a 400 whose `field` is the path of the offending member.
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    BodyLimit: FromRef<S>,
    T: DeserializeOwned + Serialize,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> ApiResult<Self> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::bad_request(
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = read_body(req.into_body(), BodyLimit::from_ref(state)).await?;
        parse_json(&bytes).map(Body)
    }
}

/// The whole request body, up to the configured limit
/// (`DAYLIGHT_MAX_BODY_BYTES`; 413 beyond it). Read here rather than through
/// axum's `Bytes` extractor so that the OFREP endpoints, served before the
/// router (`super::direct`, on hyper's own body), and every other handler
/// share one reader.
pub(crate) fn read_body<B>(body: B, BodyLimit(limit): BodyLimit) -> Reading<B> {
    Reading {
        body,
        limit,
        read: 0,
        first: Bytes::new(),
        joined: None,
    }
}

/// The future of [`read_body`]. A named type rather than an `async fn`, so
/// an evaluation's future (`super::ofrep::Evaluating`) holds it inline: no
/// allocation, and nothing moved but its few fields.
pub(crate) struct Reading<B> {
    body: B,
    limit: usize,
    /// Bytes read so far (a chunked body declares no length).
    read: usize,
    /// A body is nearly always one frame, kept as it is: no copy, and none
    /// of `collect`'s buffer list (docs/benchmarks.md, "Sixteenth session").
    first: Bytes,
    /// The frames so far, once there is more than one.
    joined: Option<bytes::BytesMut>,
}

impl<B> Future for Reading<B>
where
    B: axum::body::HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Output = ApiResult<Bytes>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            // A declared length over the limit is refused without reading
            // (the rest of) it.
            if this.read as u64 + this.body.size_hint().lower() > this.limit as u64 {
                return Poll::Ready(Err(ApiError::TooLarge(this.limit)));
            }
            let Some(frame) = ready!(Pin::new(&mut this.body).poll_frame(cx)) else {
                let first = std::mem::take(&mut this.first);
                return Poll::Ready(Ok(this.joined.take().map_or(first, bytes::BytesMut::freeze)));
            };
            let data = match frame {
                Ok(frame) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue, // trailers
                },
                Err(e) => {
                    return Poll::Ready(Err(ApiError::bad_request(
                        "bad_body",
                        format!("the request body could not be read: {}", e.into()),
                    )))
                }
            };
            this.read += data.len();
            if this.read > this.limit {
                return Poll::Ready(Err(ApiError::TooLarge(this.limit)));
            }
            match &mut this.joined {
                None if this.first.is_empty() => this.first = data,
                None => {
                    let mut all = bytes::BytesMut::with_capacity(this.read);
                    all.extend_from_slice(&this.first);
                    all.extend_from_slice(&data);
                    this.joined = Some(all);
                }
                Some(all) => all.extend_from_slice(&data),
            }
        }
    }
}

/// Parses `bytes` as a `T`, naming the field of any error.
pub fn parse_json<T: DeserializeOwned + Serialize>(bytes: &[u8]) -> ApiResult<T> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}")))?;
    let parsed: T = serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        ApiError::invalid(field, e.into_inner().to_string())
    })?;
    // Whatever did not survive a round trip was not a field of `T`.
    let back = serde_json::to_value(&parsed).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Some(path) = unknown_field(&value, &back, String::new()) {
        return Err(ApiError::invalid(path, "unknown field"));
    }
    Ok(parsed)
}

fn unknown_field(input: &Value, parsed: &Value, path: String) -> Option<String> {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match (input, parsed) {
        (Value::Object(i), Value::Object(p)) => i.iter().find_map(|(k, v)| match p.get(k) {
            _ if v.is_null() => None,
            None => Some(join(k)),
            Some(pv) => unknown_field(v, pv, join(k)),
        }),
        (Value::Array(i), Value::Array(p)) => i
            .iter()
            .zip(p)
            .enumerate()
            .find_map(|(n, (iv, pv))| unknown_field(iv, pv, format!("{path}[{n}]"))),
        _ => None,
    }
}

/// The version from `If-Match` (`"7"`, `7` or `W/"7"`), if any.
pub struct IfMatch(pub Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> ApiResult<Self> {
        let Some(value) = parts.headers.get(IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let text = value.to_str().unwrap_or_default().trim();
        if text == "*" {
            return Ok(IfMatch(None));
        }
        let digits = text.trim_start_matches("W/").trim_matches('"');
        digits
            .parse()
            .map(|v| IfMatch(Some(v)))
            .map_err(|_| ApiError::invalid("If-Match", "expected the version you read, e.g. \"7\""))
    }
}

impl IfMatch {
    /// For replacing writes, which must say what they replace.
    pub fn required(self) -> ApiResult<i64> {
        self.0.ok_or(ApiError::PreconditionRequired)
    }
}

/// The optional `X-Audit-Comment` header, recorded in the audit log.
pub struct Comment(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Comment {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> ApiResult<Self> {
        Ok(Comment(
            parts
                .headers
                .get("x-audit-comment")
                // UTF-8 bytes, not just ASCII: comments are written by people.
                .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
                .unwrap_or_default()
                .to_owned(),
        ))
    }
}

/// The preamble of an admin write, as one extractor. In this order: the
/// caller (`Admin`: 401), the path `P`, `If-Match` when `V` reads it (400
/// when malformed), the audit comment, the body `B`; then the role `R`
/// (403), the version `V` demands (428 without), and the environment the
/// path names, if it names one that must exist (404). It yields the path,
/// the body, the version and the `Author` that hands out the writer.
///
/// It wraps the path and the body rather than sitting beside them because
/// axum runs extractors in argument order and the body goes last, while the
/// role is checked after the body is read: so the answers stay what the
/// handlers gave when each spelled the preamble out (a malformed body is a
/// 400 even for a viewer; no token is a 401 before a bad path is a 400).
///
/// - `P`: `()`, `Path<…>`, or `FlagInEnvironment` (whose environment must exist).
/// - `B`: `()`, `Body<…>`, or the `Request` for a handler that reads the
///   body itself, after the role check.
/// - `V`: `()` (`If-Match` not read), `Option<i64>` (optional) or `i64`
///   (required: replacing writes).
/// - `R`: `EditorRole` (default) or `AdminRole`.
pub struct Editing<P = (), B = (), V = (), R = EditorRole> {
    pub path: P,
    pub body: B,
    /// The version `If-Match` named.
    pub expected: V,
    pub author: Author,
    role: PhantomData<fn() -> R>,
}

/// Who writes: what the audit log records, and the writer.
pub struct Author {
    /// `token:<name>` of the caller.
    pub actor: String,
    /// The `X-Audit-Comment` header (empty without).
    pub comment: String,
    /// The caller, whose role the writer checks in each environment.
    pub admin: Admin,
    state: AdminState,
}

impl Author {
    /// The admin API's state the write goes through (for checks that read).
    pub fn state(&self) -> &AdminState {
        &self.state
    }

    /// A writer on behalf of the caller (see `writes`).
    pub fn writer(&self) -> crate::writes::Writer<'_> {
        self.state.writer(&self.actor, &self.comment).by(&self.admin)
    }

    /// A writer whose audit entries carry no comment: environments and SDK
    /// keys never recorded the header.
    pub fn writer_without_comment(&self) -> crate::writes::Writer<'_> {
        self.state.writer(&self.actor, "").by(&self.admin)
    }
}

/// The role a kind of write needs.
pub trait NeededRole {
    const ROLE: Role;
}

/// Flags, segments, releases, bundles: editors and admins.
pub struct EditorRole;

impl NeededRole for EditorRole {
    const ROLE: Role = Role::Editor;
}

/// Environments: admins only.
pub struct AdminRole;

impl NeededRole for AdminRole {
    const ROLE: Role = Role::Admin;
}

/// What a write makes of `If-Match`.
pub trait Precondition: Sized {
    /// Whether the header is read at all (a malformed one is then a 400).
    const READ: bool;
    /// From the version the header named, after the role check.
    fn from_if_match(version: Option<i64>) -> ApiResult<Self>;
}

/// Writes that ignore `If-Match`.
impl Precondition for () {
    const READ: bool = false;
    fn from_if_match(_: Option<i64>) -> ApiResult<()> {
        Ok(())
    }
}

/// Writes that state their outcome (a toggle, a delete, a plan action):
/// `If-Match` optional; with it, a stale read gets 409.
impl Precondition for Option<i64> {
    const READ: bool = true;
    fn from_if_match(version: Option<i64>) -> ApiResult<Option<i64>> {
        Ok(version)
    }
}

/// Replacing writes: they must say what they replace (428 without).
impl Precondition for i64 {
    const READ: bool = true;
    fn from_if_match(version: Option<i64>) -> ApiResult<i64> {
        IfMatch(version).required()
    }
}

/// The environment a write's path names, when it must exist before the
/// write (the writes that look it up themselves need no check here).
pub trait Scope {
    fn environment(&self) -> Option<&str> {
        None
    }
}

impl Scope for () {}

impl<T> Scope for Path<T> {}

/// `{key}/environments/{env}` of a write to one flag's config in one
/// environment, which must exist.
pub struct FlagInEnvironment {
    pub key: String,
    pub env: String,
}

impl<S: Send + Sync> FromRequestParts<S> for FlagInEnvironment {
    type Rejection = <Path<(String, String)> as FromRequestParts<S>>::Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((key, env)) = Path::from_request_parts(parts, state).await?;
        Ok(FlagInEnvironment { key, env })
    }
}

impl Scope for FlagInEnvironment {
    fn environment(&self) -> Option<&str> {
        Some(&self.env)
    }
}

/// What an edit's body may be: none (`()`), a JSON document (`Body<T>`), or
/// the request itself (for handlers that read it their own way).
pub trait EditBody<S>: Sized + Send {
    fn read(req: Request, state: &S) -> impl std::future::Future<Output = Result<Self, Response>> + Send;
}

impl<S: Send + Sync> EditBody<S> for () {
    async fn read(_: Request, _: &S) -> Result<(), Response> {
        Ok(())
    }
}

impl<S: Send + Sync> EditBody<S> for Request {
    async fn read(req: Request, _: &S) -> Result<Request, Response> {
        Ok(req)
    }
}

impl<S, T> EditBody<S> for Body<T>
where
    S: Send + Sync,
    BodyLimit: FromRef<S>,
    T: DeserializeOwned + Serialize + Send,
{
    async fn read(req: Request, state: &S) -> Result<Body<T>, Response> {
        Body::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)
    }
}

impl<S, P, B, V, R> FromRequest<S> for Editing<P, B, V, R>
where
    S: Send + Sync,
    crate::auth::Credentials: FromRef<S>,
    AdminState: FromRef<S>,
    P: FromRequestParts<S> + Scope + Send,
    B: EditBody<S>,
    V: Precondition + Send,
    R: NeededRole,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let admin = Admin::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let path = P::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let if_match = if V::READ {
            IfMatch::from_request_parts(&mut parts, state)
                .await
                .map_err(IntoResponse::into_response)?
                .0
        } else {
            None
        };
        let Comment(comment) = Comment::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let body = B::read(Request::from_parts(parts, body), state).await?;
        // An editor's write is checked in the environment it names, or,
        // when it names none yet, in each environment it touches as it
        // locks them (`Writer::lock`); here it needs the role somewhere.
        match (R::ROLE, path.environment()) {
            (Role::Editor, Some(env)) => admin.require_in(env, Role::Editor),
            (Role::Editor, None) => admin.require_somewhere(Role::Editor),
            (role, _) => admin.require(role),
        }
        .map_err(IntoResponse::into_response)?;
        let expected = V::from_if_match(if_match).map_err(IntoResponse::into_response)?;
        let writes = AdminState::from_ref(state);
        if let Some(env) = path.environment() {
            crate::store::environments::get(&writes.db, env)
                .await
                .map_err(IntoResponse::into_response)?;
        }
        Ok(Editing {
            path,
            body,
            expected,
            author: Author {
                actor: admin.actor(),
                comment,
                admin,
                state: writes,
            },
            role: PhantomData,
        })
    }
}

pub fn etag(version: i64) -> [(axum::http::HeaderName, String); 1] {
    [(axum::http::header::ETAG, format!("\"{version}\""))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[tokio::test]
    async fn bodies_are_read_to_the_limit_with_or_without_a_declared_length() {
        let chunks = |n: usize| {
            let parts = (0..n).map(|i| Ok::<_, std::io::Error>(Bytes::from(vec![b'a' + i as u8; 100])));
            axum::body::Body::from_stream(futures_util::stream::iter(parts.collect::<Vec<_>>()))
        };
        // No declared length (chunked): counted as it comes, the frames joined in order.
        let read = read_body(chunks(3), BodyLimit(300)).await.unwrap();
        assert_eq!(read.len(), 300);
        assert_eq!((read[0], read[100], read[299]), (b'a', b'b', b'c'));
        assert_eq!(
            &read_body(chunks(1), BodyLimit(300)).await.unwrap()[..],
            &[b'a'; 100][..]
        );
        assert!(read_body(chunks(0), BodyLimit(300)).await.unwrap().is_empty());
        assert!(matches!(
            read_body(chunks(4), BodyLimit(300)).await,
            Err(ApiError::TooLarge(300))
        ));
        // A declared length: refused before reading over the limit, read whole within it.
        let declared = |n: usize| axum::body::Body::from(vec![b'x'; n]);
        assert_eq!(read_body(declared(300), BodyLimit(300)).await.unwrap().len(), 300);
        assert!(matches!(
            read_body(declared(301), BodyLimit(300)).await,
            Err(ApiError::TooLarge(300))
        ));
    }

    #[derive(Debug, Serialize, Deserialize)]
    struct Outer {
        name: String,
        #[serde(default)]
        inner: Vec<Inner>,
    }
    #[derive(Debug, Serialize, Deserialize)]
    struct Inner {
        n: u32,
    }

    #[test]
    fn names_the_field_of_a_type_error() {
        let err = parse_json::<Outer>(br#"{"name": "a", "inner": [{"n": 1}, {"n": "x"}]}"#).unwrap_err();
        assert!(matches!(err, ApiError::Invalid { field: Some(f), .. } if f == "inner[1].n"));
    }

    #[test]
    fn refuses_unknown_fields_with_their_path() {
        let err = parse_json::<Outer>(br#"{"name": "a", "inner": [{"n": 1, "m": 2}]}"#).unwrap_err();
        assert!(matches!(err, ApiError::Invalid { field: Some(f), .. } if f == "inner[0].m"));
    }

    #[test]
    fn refuses_malformed_json() {
        let err = parse_json::<Outer>(b"{\"name\": ").unwrap_err();
        assert!(matches!(
            err,
            ApiError::Invalid {
                code: "malformed_json",
                ..
            }
        ));
    }
}
