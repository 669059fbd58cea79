//! The WebSocket upgrade, done here rather than by axum's `WebSocketUpgrade`
//! so a stream owns a tokio-tungstenite socket: axum's `Message` cannot send
//! a message as several frames, and [`super::outbox`] does, to keep every
//! idle connection's write buffer small (tungstenite's out buffer keeps the
//! capacity of the largest frame it ever wrote).
//!
//! HTTP/1.1 only (RFC 6455): what every SDK, browser and proxy in front of
//! Daylight speaks for WebSockets.

use axum::extract::FromRequestParts;
use axum::http::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::{Role, WebSocketConfig};

/// The socket a stream gets once the upgrade went through.
pub type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// A request to open a WebSocket: checked, not yet answered.
pub struct Upgrade {
    on_upgrade: OnUpgrade,
    key: HeaderValue,
}

/// Whether `name` lists `token` (comma-separated, any case).
fn lists(headers: &HeaderMap, name: axum::http::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Upgrade, Response> {
        // The error body every endpoint answers with (`crate::error`).
        let refuse = |status: StatusCode, message: &str| {
            let body = serde_json::json!({ "error": "not_a_websocket", "message": message, "field": null });
            (status, axum::Json(body)).into_response()
        };
        if !lists(&parts.headers, CONNECTION, "upgrade") || !lists(&parts.headers, UPGRADE, "websocket") {
            return Err(refuse(
                StatusCode::UPGRADE_REQUIRED,
                "this is a WebSocket endpoint: upgrade to websocket",
            ));
        }
        if parts.headers.get(SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13") {
            return Err(refuse(StatusCode::BAD_REQUEST, "Sec-WebSocket-Version must be 13"));
        }
        let Some(key) = parts.headers.get(SEC_WEBSOCKET_KEY).cloned() else {
            return Err(refuse(StatusCode::BAD_REQUEST, "Sec-WebSocket-Key is missing"));
        };
        let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
            return Err(refuse(
                StatusCode::UPGRADE_REQUIRED,
                "this connection cannot be upgraded",
            ));
        };
        Ok(Upgrade { on_upgrade, key })
    }
}

impl Upgrade {
    /// Answers `101 Switching Protocols` and runs `session` on the socket
    /// once the client has it (in a task of its own).
    pub fn on_upgrade<F, Fut>(self, config: WebSocketConfig, session: F) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let accept = tungstenite::handshake::derive_accept_key(self.key.as_bytes());
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let socket =
                        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
                    session(socket).await;
                }
                Err(e) => tracing::debug!(error = %e, "the WebSocket upgrade did not complete"),
            }
        });
        let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let headers = response.headers_mut();
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(
            SEC_WEBSOCKET_ACCEPT,
            HeaderValue::from_str(&accept).expect("base64 is a header value"),
        );
        response
    }
}
