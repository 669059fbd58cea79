//! `/api/v1/apps` and `/api/v1/environments/{env}/apps/{app}/…`: bundle
//! versions, publishing (live or canary), and who runs which version.

use axum::extract::FromRef;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{etag, Body, Editing};
use crate::auth::{Admin, Role};
use crate::bundles::BundleConfig;
use crate::db::now_ms;
use crate::error::{ApiResult, ErrorBody};
use crate::state::{AdminState, BundleState};
use crate::store::bundles::{self, Publish, StoredBundleConfig};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AdminState: FromRef<S>,
    BundleState: FromRef<S>,
    crate::auth::Credentials: FromRef<S>,
    crate::state::BodyLimit: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_apps))
        .routes(routes!(read_config, replace_config))
        .routes(routes!(publish))
        .routes(routes!(status))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppList {
    pub apps: Vec<AppVersions>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppVersions {
    pub key: String,
    /// Published versions, oldest first.
    pub versions: Vec<String>,
}

#[utoipa::path(operation_id = "bundles_list_apps", get, path = "/api/v1/apps", tag = "bundles",
    responses((status = 200, body = AppList), (status = 401, body = ErrorBody)))]
async fn list_apps(State(state): State<BundleState>, admin: Admin) -> ApiResult<Json<AppList>> {
    admin.require(Role::Viewer)?;
    let apps = bundles::list_apps(&state.db)
        .await?
        .into_iter()
        .map(|(key, versions)| AppVersions { key, versions })
        .collect();
    Ok(Json(AppList { apps }))
}

#[utoipa::path(operation_id = "bundles_read_config", get, path = "/api/v1/environments/{env}/apps/{app}/bundle", tag = "bundles",
    params(("env" = String, Path), ("app" = String, Path)),
    responses((status = 200, body = StoredBundleConfig), (status = 404, body = ErrorBody)))]
async fn read_config(
    State(state): State<BundleState>,
    admin: Admin,
    Path((env, app)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    admin.require(Role::Viewer)?;
    let config = bundles::get(&state.db, &app, &env).await?;
    Ok((etag(config.version), Json(config)))
}

/// Replaces the live version, canary, minimum supported version and reload
/// policy; needs `If-Match`.
#[utoipa::path(operation_id = "bundles_replace_config", put, path = "/api/v1/environments/{env}/apps/{app}/bundle", tag = "bundles",
    request_body = BundleConfig,
    params(("env" = String, Path), ("app" = String, Path), ("If-Match" = String, Header)),
    responses((status = 200, body = StoredBundleConfig), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 428, body = ErrorBody)))]
async fn replace_config(
    edit: Editing<Path<(String, String)>, Body<BundleConfig>, i64>,
) -> ApiResult<impl IntoResponse> {
    let Editing {
        path: Path((env, app)),
        body: Body(config),
        expected,
        author,
        ..
    } = edit;
    let stored = crate::writes::bundles::replace(&author.writer(), &app, &env, expected, config).await?;
    Ok((etag(stored.version), Json(stored)))
}

/// Publishes a bundle version: live for everyone, or a canary for a share of
/// contexts (`canary_percent`) or a segment; optionally raises the minimum
/// supported version. Deploy scripts call this (`daylight bundles publish`).
#[utoipa::path(operation_id = "bundles_publish", post, path = "/api/v1/environments/{env}/apps/{app}/publish", tag = "bundles",
    request_body = Publish,
    params(("env" = String, Path), ("app" = String, Path)),
    responses((status = 200, body = StoredBundleConfig), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn publish(edit: Editing<Path<(String, String)>, Body<Publish>>) -> ApiResult<impl IntoResponse> {
    let Editing {
        path: Path((env, app)),
        body: Body(req),
        author,
        ..
    } = edit;
    let stored = crate::writes::bundles::publish(&author.writer(), &app, &env, &req).await?;
    Ok((etag(stored.version), Json(stored)))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct BundleStatus {
    #[serde(flatten)]
    pub config: StoredBundleConfig,
    /// Browsers connected to every server node, by the version they run
    /// (other nodes' counts are at most about a second old).
    pub clients: Vec<VersionCount>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct VersionCount {
    pub version: String,
    pub connected: i64,
}

#[utoipa::path(operation_id = "bundles_status", get, path = "/api/v1/environments/{env}/apps/{app}/status", tag = "bundles",
    params(("env" = String, Path), ("app" = String, Path)),
    responses((status = 200, body = BundleStatus), (status = 404, body = ErrorBody)))]
async fn status(
    State(state): State<BundleState>,
    admin: Admin,
    Path((env, app)): Path<(String, String)>,
) -> ApiResult<Json<BundleStatus>> {
    admin.require(Role::Viewer)?;
    let config = bundles::get(&state.db, &app, &env).await?;
    // This node's counts as they are now, plus every other node's as it
    // last stored them.
    let mut counts: std::collections::BTreeMap<String, i64> = state.presence.counts(&env, &app).into_iter().collect();
    let others = crate::store::presence::others(&state.db, state.presence.node(), &env, &app, now_ms()).await?;
    for (version, n) in others {
        *counts.entry(version).or_default() += n;
    }
    let clients = counts
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(version, connected)| VersionCount { version, connected })
        .collect();
    Ok(Json(BundleStatus { config, clients }))
}
