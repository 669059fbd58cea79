//! `/api/v1/webhooks`: create, list, read and delete outgoing webhooks
//! (admin role), and each webhook's delivery log.

use axum::extract::FromRef;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Body;
use crate::auth::{Admin, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::{AdminState, WebhookState};
use crate::store::webhooks::{self, Delivery, Webhook};
use crate::writes;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AdminState: FromRef<S>,
    WebhookState: FromRef<S>,
    crate::auth::Credentials: FromRef<S>,
    crate::state::BodyLimit: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, remove))
        .routes(routes!(deliveries))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct CreateWebhook {
    /// Where deliveries are POSTed (`http://`).
    pub url: String,
    /// The HMAC-SHA256 signing key (at least 16 characters); generated when absent.
    pub secret: Option<String>,
    /// Audit actions to send, exact (`flag.on`) or by prefix (`flag.*`); empty or absent: all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Environments to send entries of; empty or absent: all.
    #[serde(default)]
    pub environments: Vec<String>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<Webhook>,
}

#[utoipa::path(operation_id = "webhooks_list", get, path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = WebhookList), (status = 403, body = ErrorBody)))]
async fn list(State(state): State<AdminState>, admin: Admin) -> ApiResult<Json<WebhookList>> {
    admin.require(Role::Admin)?;
    Ok(Json(WebhookList {
        webhooks: webhooks::list(&state.db).await?,
    }))
}

/// Creates a webhook (admin); the response holds the secret, once. It
/// receives audit entries written from now on.
#[utoipa::path(operation_id = "webhooks_create", post, path = "/api/v1/webhooks", tag = "webhooks", request_body = CreateWebhook,
    responses((status = 201, body = Webhook), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create(
    State(state): State<AdminState>,
    State(webhooks): State<WebhookState>,
    admin: Admin,
    Body(req): Body<CreateWebhook>,
) -> ApiResult<impl IntoResponse> {
    admin.require(Role::Admin)?;
    let actor = admin.actor();
    let hook = writes::webhooks::create(
        &state.writer(&actor, ""),
        &webhooks.destinations,
        writes::webhooks::CreateWebhook {
            url: &req.url,
            secret: req.secret.as_deref(),
            events: &req.events,
            environments: &req.environments,
            description: &req.description,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(hook)))
}

#[utoipa::path(operation_id = "webhooks_read", get, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 200, body = Webhook), (status = 404, body = ErrorBody)))]
async fn read(State(state): State<AdminState>, admin: Admin, Path(id): Path<i64>) -> ApiResult<Json<Webhook>> {
    admin.require(Role::Admin)?;
    Ok(Json(webhooks::get(&state.db, id).await?))
}

/// Deletes a webhook and its delivery log; pending deliveries are dropped.
#[utoipa::path(operation_id = "webhooks_delete", delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn remove(State(state): State<AdminState>, admin: Admin, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    admin.require(Role::Admin)?;
    let actor = admin.actor();
    writes::webhooks::delete(&state.writer(&actor, ""), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// `pending`, `delivered` or `failed`.
    pub status: Option<String>,
    /// At most this many, newest first (default 100, up to 1000).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<Delivery>,
}

/// The delivery log: status, attempts, last error and response code.
#[utoipa::path(operation_id = "webhooks_deliveries", get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = i64, Path), DeliveryQuery),
    responses((status = 200, body = DeliveryList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn deliveries(
    State(state): State<AdminState>,
    admin: Admin,
    Path(id): Path<i64>,
    Query(q): Query<DeliveryQuery>,
) -> ApiResult<Json<DeliveryList>> {
    admin.require(Role::Admin)?;
    if let Some(s) = q.status.as_deref() {
        if !matches!(s, "pending" | "delivered" | "failed") {
            return Err(ApiError::invalid("status", "`pending`, `delivered` or `failed`"));
        }
    }
    webhooks::get(&state.db, id).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(DeliveryList {
        deliveries: webhooks::deliveries(&state.db, id, q.status.as_deref(), limit).await?,
    }))
}
