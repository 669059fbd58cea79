//! What the plan/apply endpoint pairs share (flag files, promotion): a plan
//! is read by a viewer; an apply is written by an editor of the environment
//! its path names, through `Editing`'s checks.

use std::future::Future;

use axum::extract::Path;
use axum::Json;

use super::extract::{Body, Editing};
use crate::auth::{Admin, Role};
use crate::error::ApiResult;
use crate::writes::Writer;

/// Answers `plan` for a viewer (403 before anything is read otherwise).
pub(super) async fn plan<T>(admin: &Admin, plan: impl Future<Output = ApiResult<T>>) -> ApiResult<Json<T>> {
    admin.require(Role::Viewer)?;
    Ok(Json(plan.await?))
}

/// Applies the body to the environment the path names with the author's
/// writer.
pub(super) async fn apply<B, T>(
    edit: Editing<Path<String>, Body<B>>,
    apply: impl AsyncFnOnce(&Writer<'_>, &str, B) -> ApiResult<T>,
) -> ApiResult<Json<T>> {
    let Editing {
        path: Path(env),
        body: Body(req),
        author,
        ..
    } = edit;
    Ok(Json(apply(&author.writer(), &env, req).await?))
}
