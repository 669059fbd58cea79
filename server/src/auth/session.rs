//! Console sessions for people: the `dl_session` cookie (HttpOnly,
//! SameSite=Strict), the CSRF token every write with it must carry, and
//! passwords (argon2id). A session is looked up in the database on every
//! request, so a sign-out or a disabled account holds on every node at once.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use subtle::ConstantTimeEq;

use super::{digest, Admin, Credentials, Role};
use crate::error::{ApiError, ApiResult};
use crate::store::people;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "dl_session";
/// The header a write made with the session cookie carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// `last_seen_at` is written at most this often (not on every request).
const TOUCH_EVERY_MS: i64 = 60_000;

/// How long sessions last and how their cookie is marked.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// A session unused this long ends.
    pub idle_ms: i64,
    /// A session ends this long after sign-in, used or not.
    pub max_ms: i64,
    /// Mark the cookie `Secure` (behind TLS).
    pub secure_cookie: bool,
}

/// The session secret of the request's `dl_session` cookie.
pub fn cookie_secret(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE_NAME)
        .map(|c| c.value_raw().unwrap_or_default())
        .filter(|v| !v.is_empty())
}

/// The CSRF token of a session: derived from its secret, so nothing more is
/// stored, and unknown to a page on another site (it cannot read the
/// cookie, nor the answers of this origin that carry the token).
pub fn csrf_token(secret: &str) -> String {
    digest(&format!("csrf:{secret}"))
}

/// The `Set-Cookie` value that starts a session.
pub fn set_cookie(secret: &str, policy: &SessionPolicy) -> HeaderValue {
    let cookie = cookie::Cookie::build((COOKIE_NAME, secret))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(policy.secure_cookie)
        .max_age(cookie::time::Duration::milliseconds(policy.max_ms))
        .build();
    HeaderValue::from_str(&cookie.to_string()).expect("a cookie is a valid header value")
}

/// The `Set-Cookie` value that ends a session in the browser.
pub fn clear_cookie(policy: &SessionPolicy) -> (axum::http::HeaderName, HeaderValue) {
    let cookie = cookie::Cookie::build((COOKIE_NAME, ""))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(policy.secure_cookie)
        .max_age(cookie::time::Duration::ZERO)
        .build();
    (
        SET_COOKIE,
        HeaderValue::from_str(&cookie.to_string()).expect("a cookie is a valid header value"),
    )
}

/// An argon2id hash (PHC string) of a password, with a random salt.
pub fn hash_password(password: &str) -> ApiResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("hashing a password: {e}")))
}

/// Whether `password` matches the stored hash.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// The shortest password a local account may set.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// The person whose session cookie the request carries, if it is live. A
/// request that changes something must also carry the session's CSRF token
/// in `X-CSRF-Token` (403 otherwise), whatever the cookie's SameSite.
pub async fn person(creds: &Credentials, parts: &Parts) -> ApiResult<Option<Admin>> {
    let Some(secret) = cookie_secret(&parts.headers) else {
        return Ok(None);
    };
    let now = creds.clock.now_ms();
    let policy = &creds.sessions;
    let Some(session) = people::live_session(&creds.db, &digest(secret), now, now - policy.idle_ms).await? else {
        return Err(ApiError::Unauthorized);
    };
    if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !bool::from(sent.as_bytes().ct_eq(csrf_token(secret).as_bytes())) {
            return Err(ApiError::Forbidden(
                "a change made with a console session needs its CSRF token in X-CSRF-Token".into(),
            ));
        }
    }
    if now - session.last_seen_at >= TOUCH_EVERY_MS {
        people::touch_session(&creds.db, session.id, now).await?;
    }
    Ok(Some(Admin {
        role: Role::parse(&session.role).ok_or_else(|| ApiError::Internal(format!("bad role {}", session.role)))?,
        env_roles: super::parse_env_roles(&session.env_roles)?,
        name: session.email,
        person: Some(session.name),
    }))
}
