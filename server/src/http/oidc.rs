//! OpenID Connect sign-in: `/api/v1/session/providers` (what the console's
//! sign-in page offers), `/api/v1/session/oidc/start` (off to the provider)
//! and `/api/v1/session/oidc/callback` (back: the account, the session
//! cookie). See docs/people.md.

use axum::extract::{FromRef, Query, State};
use axum::http::header::{ACCEPT, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::oidc::LOGIN_MS;
use crate::auth::session::set_cookie;
use crate::auth::{digest, Credentials};
use crate::error::{ApiError, ErrorBody};
use crate::state::AdminState;
use crate::store::people::{self as rows, OidcLogin};
use crate::writes;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AdminState: FromRef<S>,
    Credentials: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(providers))
        .routes(routes!(start))
        .routes(routes!(callback))
}

/// The ways to sign in.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Providers {
    /// Email and password (always).
    pub local: bool,
    /// The OpenID provider, when one is set up.
    pub oidc: Option<OidcProvider>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OidcProvider {
    /// For the sign-in button (`DAYLIGHT_OIDC_NAME`).
    pub name: String,
}

/// The ways the console offers to sign in.
#[utoipa::path(operation_id = "session_providers", get, path = "/api/v1/session/providers", tag = "people", security(()),
    responses((status = 200, body = Providers)))]
async fn providers(State(creds): State<Credentials>) -> Json<Providers> {
    Json(Providers {
        local: true,
        oidc: creds.oidc.as_ref().map(|o| OidcProvider { name: o.name.clone() }),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct StartQuery {
    /// Where to go once signed in: a path on this site (default `/`).
    return_to: Option<String>,
}

/// Starts a sign-in with the OpenID provider: 302 to it. 404 when none is
/// set up.
#[utoipa::path(operation_id = "session_oidc_start", get, path = "/api/v1/session/oidc/start", tag = "people", security(()),
    params(StartQuery),
    responses((status = 302, description = "to the provider"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn start(State(creds): State<Credentials>, headers: HeaderMap, Query(q): Query<StartQuery>) -> Response {
    let result = async {
        let oidc = creds.oidc.as_ref().ok_or_else(not_set_up)?;
        let return_to = match q.return_to.as_deref() {
            None | Some("") => "/".to_owned(),
            Some(path) if is_local_path(path) => path.to_owned(),
            Some(_) => {
                return Err(ApiError::invalid(
                    "return_to",
                    "expected a path on this site, such as /#/flags",
                ))
            }
        };
        let started = oidc.start().await?;
        let now = creds.clock.now_ms();
        let login = OidcLogin {
            nonce: started.nonce,
            pkce_verifier: started.pkce_verifier,
            return_to,
        };
        rows::insert_oidc_login(&creds.db, &digest(&started.state), &login, now, now + LOGIN_MS).await?;
        Ok(redirect(&started.url))
    }
    .await;
    result.unwrap_or_else(|e| error_page(&headers, e))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    /// The provider's error code, when it did not sign the person in.
    error: Option<String>,
    error_description: Option<String>,
}

/// The provider sends the person back here: the account is created on the
/// first sign-in (its role from the role claim, updated on every sign-in),
/// the `dl_session` cookie is set, and 302 to where the sign-in started.
#[utoipa::path(operation_id = "session_oidc_callback", get, path = "/api/v1/session/oidc/callback", tag = "people", security(()),
    params(CallbackQuery),
    responses((status = 302, description = "signed in: to `return_to`"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn callback(
    State(state): State<AdminState>,
    State(creds): State<Credentials>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let result = async {
        let oidc = creds.oidc.as_ref().ok_or_else(not_set_up)?;
        if let Some(error) = q.error.as_deref() {
            let detail = q.error_description.as_deref().unwrap_or("");
            return Err(ApiError::Forbidden(format!(
                "the identity provider did not sign you in: {error} {detail}"
            )));
        }
        let code = q
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ApiError::invalid("code", "the provider sent no code"))?;
        let sent_state = q
            .state
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::invalid("state", "the provider sent no state"))?;
        let now = creds.clock.now_ms();
        let login = rows::take_oidc_login(&creds.db, &digest(sent_state), now)
            .await?
            .ok_or_else(|| {
                ApiError::invalid(
                    "state",
                    "this sign-in is unknown, used or expired (over 10 minutes); start again",
                )
            })?;
        let who = oidc.finish(code, &login.nonce, &login.pkce_verifier).await?;
        let writer = state.writer("", "");
        let secret = writes::people::oidc_sign_in(&writer, &who, now, creds.sessions.max_ms).await?;
        let mut response = redirect(&login.return_to);
        response
            .headers_mut()
            .insert(SET_COOKIE, set_cookie(&secret, &creds.sessions));
        Ok(response)
    }
    .await;
    result.unwrap_or_else(|e| error_page(&headers, e))
}

fn not_set_up() -> ApiError {
    ApiError::NotFound("OpenID Connect sign-in (no DAYLIGHT_OIDC_ISSUER is set)".into())
}

/// Only a path on this site: `/…`, not `//host` or `/\host` (which
/// browsers take for another site), and no scheme.
fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && !path.chars().any(|c| c.is_control())
        && path.len() <= 2048
}

fn redirect(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(location) => (StatusCode::FOUND, [(LOCATION, location)]).into_response(),
        Err(_) => ApiError::Internal(format!("an unusable redirect: {to}")).into_response(),
    }
}

/// A browser (which asked for HTML) gets a short page saying what went
/// wrong, with a way back; anything else the usual JSON error.
fn error_page(headers: &HeaderMap, error: ApiError) -> Response {
    let wants_html = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let response = error.into_response();
    if !wants_html {
        return response;
    }
    let status = response.status();
    let message = match &error_message(response) {
        Some(m) => escape(m),
        None => "the sign-in failed".into(),
    };
    let page = format!(
        "<!doctype html><meta charset=utf-8><title>Sign-in failed</title>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\">\
         <h1>Sign-in failed</h1><p>{message}</p><p><a href=\"/\">Back to Daylight</a></p>"
    );
    (status, Html(page)).into_response()
}

fn error_message(response: Response) -> Option<String> {
    // The JSON error's body is already built; its message is what we show.
    let body = response.into_body();
    let bytes = futures_util::FutureExt::now_or_never(axum::body::to_bytes(body, 64 * 1024))?.ok()?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    json.get("message").and_then(|m| m.as_str()).map(str::to_owned)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::is_local_path;

    #[test]
    fn only_paths_on_this_site_are_return_targets() {
        for ok in ["/", "/#/flags/new-lobby", "/console?x=1"] {
            assert!(is_local_path(ok), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "flags",
            "/a\nb",
            "",
        ] {
            assert!(!is_local_path(bad), "{bad}");
        }
    }
}
