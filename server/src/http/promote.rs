//! `/api/v1/environments/{env}/promote/…`: chosen parts of flags' config
//! copied from another environment into `{env}` (`daylight promote`, the
//! console's "Copy to …"; docs/flags-as-code.md, "Promotion").

use axum::extract::FromRef;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Body, Editing};
use super::planned;
use crate::auth::Admin;
use crate::error::{ApiResult, ErrorBody};
use crate::state::AdminState;
use crate::writes::flagfile::Expected;
use crate::writes::promote::{self, Promote, Promotion};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AdminState: FromRef<S>,
    crate::auth::Credentials: FromRef<S>,
    crate::state::BodyLimit: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(plan)).routes(routes!(apply))
}

/// What copying the flags' chosen parts from `from` would change in the
/// environment: per flag and per segment the copied rules use (copied when
/// missing or different here), `change` or `unchanged` with the fields
/// that differ and the versions read.
#[utoipa::path(operation_id = "promote_plan", post, path = "/api/v1/environments/{env}/promote/plan", tag = "flags",
    params(("env" = String, Path, description = "The target environment")), request_body = Promote,
    responses((status = 200, body = Promotion), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn plan(
    State(state): State<AdminState>,
    admin: Admin,
    Path(env): Path<String>,
    Body(req): Body<Promote>,
) -> ApiResult<Json<Promotion>> {
    planned::plan(&admin, promote::plan(&state.db, &env, &req)).await
}

/// A promotion and the plan shown for it.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct PromoteApply {
    #[serde(flatten)]
    pub promote: Promote,
    /// Every item of the plan as it was shown (kind, key, action, version).
    pub plan: Vec<Expected>,
    /// The plan's `from_segments`, as shown.
    #[serde(default)]
    pub from_segments: BTreeMap<String, i64>,
}

/// Copies the flags' chosen parts from `from` in one transaction, if the
/// target is still as the plan read it and the source's segments are
/// unchanged (409 naming what moved otherwise; nothing is written). Editor
/// role in the environment; one audit entry per flag or segment written,
/// with `X-Audit-Comment` (the reason). Where the environment needs
/// approvals, new segments are written and each flag config or segment's
/// keys and rules that changes is proposed as a change request, as
/// `flagfile/apply` does. Refused in a freeze window (423).
#[utoipa::path(operation_id = "promote_apply", post, path = "/api/v1/environments/{env}/promote/apply", tag = "flags",
    params(("env" = String, Path, description = "The target environment"),
        ("X-Audit-Comment" = Option<String>, Header, description = "The reason, recorded in the audit log")),
    request_body = PromoteApply,
    responses((status = 200, body = Promotion, description = "The plan applied"), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 423, body = ErrorBody)))]
async fn apply(edit: Editing<Path<String>, Body<PromoteApply>>) -> ApiResult<Json<Promotion>> {
    planned::apply(edit, async |w, env, req: PromoteApply| {
        promote::apply(w, env, &req.promote, &req.plan, &req.from_segments).await
    })
    .await
}
