//! `/api/v1/cohorts`: named cohorts (a salt and `bucket_by` with a share per
//! environment) and what references each (`docs/cohorts.md`).

use std::collections::BTreeMap;

use axum::extract::FromRef;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{etag, Body, Editing};
use crate::auth::{Admin, Role};
use crate::cohorts::{Cohort, Reference};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::limits::{check_length, DESCRIPTION_CHARS, KEY_CHARS, NAME_CHARS};
use crate::state::{AdminState, BodyLimit};
use crate::store::cohorts as rows;
use crate::writes::cohorts::{references, Moved};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AdminState: FromRef<S>,
    crate::auth::Credentials: FromRef<S>,
    BodyLimit: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, remove))
        .routes(routes!(set_weight))
}

/// A cohort with what references it.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct CohortItem {
    #[serde(flatten)]
    pub cohort: Cohort,
    /// Flag rollouts and bundle canaries that take their share from it.
    pub references: Vec<Reference>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct CohortList {
    pub cohorts: Vec<CohortItem>,
}

/// Every cohort, its share per environment and what references it.
#[utoipa::path(operation_id = "cohorts_list", get, path = "/api/v1/cohorts", tag = "cohorts",
    responses((status = 200, body = CohortList), (status = 401, body = ErrorBody)))]
async fn list(State(state): State<AdminState>, admin: Admin) -> ApiResult<Json<CohortList>> {
    admin.require(Role::Viewer)?;
    let mut refs = references(&state.db).await?;
    let cohorts = rows::all(&state.db)
        .await?
        .into_values()
        .map(|cohort| CohortItem {
            references: refs.remove(&cohort.key).unwrap_or_default(),
            cohort,
        })
        .collect();
    Ok(Json(CohortList { cohorts }))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct CreateCohort {
    #[schema(max_length = 100)]
    pub key: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: String,
    /// Default `cohort.<key>`. Give a flag's key to adopt the people a
    /// rollout salted by that flag already holds.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub salt: Option<String>,
    /// Default `key` (the targeting key).
    #[serde(default)]
    #[schema(max_length = 100)]
    pub bucket_by: Option<String>,
    /// Share per environment in thousandths of a percent (0–100000).
    #[serde(default)]
    pub weights: BTreeMap<String, u32>,
}

/// Creates a cohort (nothing references it yet).
#[utoipa::path(operation_id = "cohorts_create", post, path = "/api/v1/cohorts", tag = "cohorts", request_body = CreateCohort,
    params(("X-Audit-Comment" = Option<String>, Header, description = "Recorded in the audit log")),
    responses((status = 201, body = Cohort), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create(edit: Editing<(), Body<CreateCohort>>) -> ApiResult<impl IntoResponse> {
    let Editing {
        body: Body(req),
        author,
        ..
    } = edit;
    check_length("key", &req.key, KEY_CHARS)?;
    check_length("name", &req.name, NAME_CHARS)?;
    check_length("description", &req.description, DESCRIPTION_CHARS)?;
    crate::limits::check_key_shape("key", &req.key, "a cohort")?;
    let salt = req.salt.unwrap_or_else(|| Cohort::default_salt(&req.key));
    check_length("salt", &salt, KEY_CHARS)?;
    if salt.is_empty() {
        return Err(ApiError::invalid("salt", "a salt is not empty"));
    }
    let bucket_by = req.bucket_by.unwrap_or_else(|| "key".into());
    check_length("bucket_by", &bucket_by, KEY_CHARS)?;
    if bucket_by.is_empty() {
        return Err(ApiError::invalid(
            "bucket_by",
            "name an attribute (`key` is the targeting key)",
        ));
    }
    let cohort = Cohort {
        name: if req.name.is_empty() { req.key.clone() } else { req.name },
        key: req.key,
        description: req.description,
        salt,
        bucket_by,
        weights: req.weights,
        version: 0,
        created_at: 0,
        updated_at: 0,
    };
    let stored = crate::writes::cohorts::create(&author.writer(), cohort).await?;
    Ok((StatusCode::CREATED, etag(stored.version), Json(stored)))
}

/// A cohort and what references it; its `ETag` is the version for `If-Match`.
#[utoipa::path(operation_id = "cohorts_read", get, path = "/api/v1/cohorts/{key}", tag = "cohorts", params(("key" = String, Path)),
    responses((status = 200, body = CohortItem), (status = 404, body = ErrorBody)))]
async fn read(State(state): State<AdminState>, admin: Admin, Path(key): Path<String>) -> ApiResult<impl IntoResponse> {
    admin.require(Role::Viewer)?;
    let cohort = rows::get(&state.db, &key).await?;
    let references = references(&state.db).await?.remove(&key).unwrap_or_default();
    Ok((etag(cohort.version), Json(CohortItem { cohort, references })))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct SetWeight {
    /// The share inside, in thousandths of a percent (25% = 25000).
    #[schema(maximum = 100000)]
    pub weight: u32,
}

/// Sets a cohort's share in one environment, rewriting every flag rollout
/// and bundle canary that references it there in the same transaction.
/// `If-Match` is optional (the request states the outcome).
#[utoipa::path(operation_id = "cohorts_set_weight", put, path = "/api/v1/cohorts/{key}/environments/{env}", tag = "cohorts", request_body = SetWeight,
    params(("key" = String, Path), ("env" = String, Path), ("If-Match" = Option<String>, Header), ("X-Audit-Comment" = Option<String>, Header)),
    responses((status = 200, body = Moved), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn set_weight(
    edit: Editing<Path<(String, String)>, Body<SetWeight>, Option<i64>>,
) -> ApiResult<impl IntoResponse> {
    let Editing {
        path: Path((key, env)),
        body: Body(req),
        expected,
        author,
        ..
    } = edit;
    let moved = crate::writes::cohorts::set_weight(&author.writer(), &key, &env, req.weight, expected).await?;
    Ok((etag(moved.cohort.version), Json(moved)))
}

/// Deletes a cohort; refused (409, listing them) while anything references it.
#[utoipa::path(operation_id = "cohorts_remove", delete, path = "/api/v1/cohorts/{key}", tag = "cohorts",
    params(("key" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn remove(edit: Editing<Path<String>, (), Option<i64>>) -> ApiResult<StatusCode> {
    let Editing {
        path: Path(key),
        expected,
        author,
        ..
    } = edit;
    crate::writes::cohorts::delete(&author.writer(), &key, expected).await?;
    Ok(StatusCode::NO_CONTENT)
}
