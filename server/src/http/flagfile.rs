//! `/api/v1/environments/{env}/flagfile/…`: flags-as-code files planned
//! against and applied to one environment (`daylight plan`, `daylight
//! apply`; docs/flags-as-code.md).

use axum::extract::FromRef;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Body, Editing};
use super::planned;
use crate::auth::Admin;
use crate::error::{ApiResult, ErrorBody};
use crate::flagfile::plan::Plan;
use crate::flagfile::{FileFlag, FileSegment};
use crate::state::AdminState;
use crate::writes::flagfile::{self, Applied, Expected};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AdminState: FromRef<S>,
    crate::auth::Credentials: FromRef<S>,
    crate::state::BodyLimit: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(plan)).routes(routes!(apply))
}

/// The flags and segments of every file, merged.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct Files {
    #[serde(default)]
    pub flags: Vec<FileFlag>,
    #[serde(default)]
    pub segments: Vec<FileSegment>,
}

/// What applying the files to the environment would change: per flag and
/// segment `create`, `change`, `unchanged` or `drift`, with the fields that
/// differ and the version read.
#[utoipa::path(operation_id = "flagfile_plan", post, path = "/api/v1/environments/{env}/flagfile/plan", tag = "flags",
    params(("env" = String, Path)), request_body = Files,
    responses((status = 200, body = Plan), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn plan(
    State(state): State<AdminState>,
    admin: Admin,
    Path(env): Path<String>,
    Body(files): Body<Files>,
) -> ApiResult<Json<Plan>> {
    planned::plan(&admin, flagfile::plan(&state.db, &env, &files.flags, &files.segments)).await
}

/// The files and the plan shown for them.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ApplyRequest {
    #[serde(flatten)]
    pub files: Files,
    /// Every item of the plan as it was shown (kind, key, action, version).
    pub plan: Vec<Expected>,
    /// The file each flag is in, by key (the path as the CLI was given
    /// it): named when a write to what the file manages (`manage:`) is
    /// refused.
    #[serde(default)]
    pub sources: std::collections::BTreeMap<String, String>,
}

/// Applies the files to the environment in one transaction, if the server
/// is still as the plan read it (409 naming what moved otherwise; nothing
/// is written). One audit entry per change, with `X-Audit-Comment` (the
/// reason). Where the environment needs approvals, new flags (off there)
/// and segments and descriptive fields are written (`written`) and each
/// flag config or segment's keys and rules that changes there becomes a
/// change request (the reason as its comment), listed in `change_requests`,
/// in the same transaction; a change of variations or `client_side` is
/// refused (409 `approval_required`), as is one an open request already
/// covers differently (409 naming it).
#[utoipa::path(operation_id = "flagfile_apply", post, path = "/api/v1/environments/{env}/flagfile/apply", tag = "flags",
    params(("env" = String, Path), ("X-Audit-Comment" = Option<String>, Header, description = "The reason, recorded in the audit log")),
    request_body = ApplyRequest,
    responses((status = 200, body = Applied, description = "The plan, what was written and the change requests proposed"), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 423, body = ErrorBody)))]
async fn apply(edit: Editing<Path<String>, Body<ApplyRequest>>) -> ApiResult<Json<Applied>> {
    planned::apply(edit, async |w, env, req: ApplyRequest| {
        flagfile::apply(w, env, &req.files.flags, &req.files.segments, &req.plan, &req.sources).await
    })
    .await
}
