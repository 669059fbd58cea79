//! `/api/v1/environments/{env}/receipts`: how far each recent change got,
//! added up across nodes (`docs/protocol.md`, "Receipts").

use axum::extract::{FromRef, Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Admin;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::receipts::Summary;
use crate::state::AdminState;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AdminState: FromRef<S>,
    crate::auth::Credentials: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(one))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// How many of the newest changes (1–100, default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptList {
    pub receipts: Vec<Summary>,
}

/// The receipts of the environment's newest changes: SDK connections each
/// reached, how many acknowledged it and how fast.
#[utoipa::path(operation_id = "receipts_list", get, path = "/api/v1/environments/{env}/receipts", tag = "environments",
    params(("env" = String, Path), ListQuery),
    responses((status = 200, body = ReceiptList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list(
    State(state): State<AdminState>,
    _admin: Admin,
    Path(env): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<ReceiptList>> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 100"));
    }
    crate::store::environments::get(&state.db, &env).await?;
    let receipts = crate::store::receipts::summaries(&state.db, &env, None, limit).await?;
    Ok(Json(ReceiptList { receipts }))
}

/// One change's receipt (the change is the environment's ruleset version).
#[utoipa::path(operation_id = "receipts_get", get, path = "/api/v1/environments/{env}/receipts/{version}", tag = "environments",
    params(("env" = String, Path), ("version" = i64, Path, minimum = 1)),
    responses((status = 200, body = Summary), (status = 404, body = ErrorBody)))]
async fn one(
    State(state): State<AdminState>,
    _admin: Admin,
    Path((env, version)): Path<(String, i64)>,
) -> ApiResult<Json<Summary>> {
    crate::store::environments::get(&state.db, &env).await?;
    let none = || ApiError::NotFound(format!("no receipt for version {version} of {env}"));
    if version < 1 {
        return Err(none());
    }
    crate::store::receipts::summaries(&state.db, &env, Some(version), 1)
        .await?
        .pop()
        .map(Json)
        .ok_or_else(none)
}
