//! `GET /ofrep/v1/event-stream`: server-sent events telling OFREP browser
//! providers to re-fetch (the `eventStreams` extension, `docs/api.md`).
//!
//! Under the same controls as the WebSocket stream: the key's connect rate
//! and open-stream limit, the connection gauge, and the end of the stream
//! when its key is revoked. A client key may travel in the URL (it is
//! public); a server key never does.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tokio::time::Interval;

use super::{admit, stopped, ticker, Connected};
use crate::auth::{KeyKind, SdkKey};
use crate::error::ApiError;
use crate::limits::StreamPermit;
use crate::live::Applied;
use crate::state::AppState;

#[derive(serde::Deserialize)]
pub struct EventStreamQuery {
    key: Option<String>,
}

/// `refetchEvaluation` whenever the key's environment changes. The event id
/// is the environment's version, so a reconnect with `Last-Event-ID` behind
/// the current version gets a notice at once.
pub async fn event_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<EventStreamQuery>,
) -> Response {
    let (secret, in_url) = match (query.key, crate::auth::bearer(&headers)) {
        (Some(secret), _) => (secret, true),
        (None, Some(secret)) => (secret.to_owned(), false),
        (None, None) => return ApiError::Unauthorized.into_response(),
    };
    let key = match state.keys.lookup(&state.db, &secret).await {
        Ok(key) => key,
        Err(e) => return e.into_response(),
    };
    if in_url && key.kind != KeyKind::Client {
        // It would land in proxy and access logs.
        return ApiError::Forbidden("a server key never goes into a URL: send it in the Authorization header".into())
            .into_response();
    }
    let permit = match admit(&state, &key) {
        Ok(permit) => permit,
        Err(refused) => return refused.into_response(),
    };
    let changes = state.live.subscribe();
    let revocations = state.keys.revocations();
    let current = state.live.get(&key.environment).map_or(0, |r| r.version());
    let behind = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|seen| seen < current);
    let first = behind.then(|| refetch_event(current));
    let heartbeat = state.stream.heartbeat;
    let watch = Watch {
        tick: ticker(heartbeat),
        stopping: state.stopping.watch(),
        state,
        key,
        secret,
        changes,
        revocations,
        _permit: permit,
        _connected: Connected::new("sse"),
    };
    let rest = futures_util::stream::unfold(watch, |mut watch| async move {
        watch.next().await.map(|event| (event, watch))
    });
    let stream = futures_util::stream::iter(first)
        .chain(rest)
        .map(Ok::<_, std::convert::Infallible>);
    // Keep-alive comments also tell the server when the client has gone.
    let keep_alive = KeepAlive::new().interval(heartbeat);
    Sse::new(stream).keep_alive(keep_alive).into_response()
}

/// One open event stream: what it waits on, and its slot and gauge (freed
/// when the client goes and axum drops the stream).
struct Watch {
    state: AppState,
    key: SdkKey,
    secret: String,
    changes: broadcast::Receiver<Arc<Applied>>,
    revocations: broadcast::Receiver<i64>,
    tick: Interval,
    stopping: watch::Receiver<bool>,
    _permit: StreamPermit,
    _connected: Connected,
}

impl Watch {
    /// The next event, or `None` to end the stream (the key was revoked, or
    /// the server is stopping).
    async fn next(&mut self) -> Option<Event> {
        loop {
            tokio::select! {
                change = self.changes.recv() => match change {
                    Ok(applied) if *applied.environment == *self.key.environment => {
                        return Some(refetch_event(applied.version));
                    }
                    Ok(_) => {}
                    // Missed some: one notice covers them all.
                    Err(RecvError::Lagged(_)) => return Some(refetch_event(0)),
                    Err(RecvError::Closed) => return None,
                },
                revocation = self.revocations.recv() => match revocation {
                    Ok(id) if id == self.key.id => return None,
                    Ok(_) | Err(RecvError::Closed) => {}
                    Err(RecvError::Lagged(_)) => {
                        if !self.key_is_valid().await {
                            return None;
                        }
                    }
                },
                _ = stopped(&mut self.stopping) => return None,
                // The safety net under revocation notices, as on the WebSocket.
                _ = self.tick.tick() => {
                    if !self.key_is_valid().await {
                        return None;
                    }
                }
            }
        }
    }

    async fn key_is_valid(&self) -> bool {
        !matches!(
            self.state
                .keys
                .lookup_without_waiting(&self.state.db, &self.secret)
                .await,
            Err(ApiError::Unauthorized)
        )
    }
}

/// The event's data (OFREP's, not a stream protocol message); members in
/// alphabetical order, as they have always been sent.
#[derive(serde::Serialize)]
struct RefetchEvaluation {
    #[serde(rename = "lastModified")]
    last_modified: u64,
    r#type: &'static str,
}

fn refetch_event(version: u64) -> Event {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let data = RefetchEvaluation {
        last_modified: now,
        r#type: "refetchEvaluation",
    };
    let event = Event::default()
        .event("message")
        .data(serde_json::to_string(&data).unwrap_or_default());
    if version > 0 {
        event.id(version.to_string())
    } else {
        event
    }
}
