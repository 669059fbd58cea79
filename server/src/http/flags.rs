//! `/api/v1/flags`: create, read, list, edit, archive, delete; the
//! per-environment config and the toggle (kill switch). Explaining an
//! evaluation is `super::explain`.

use axum::extract::FromRef;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use daylight::model::{Flag, FlagConfig};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{etag, Body, Editing, FlagInEnvironment};
use super::served::{confirm_destructive, Confirm};
use crate::auth::{Admin, Role};
use crate::error::{ApiResult, ErrorBody};
use crate::limits::{check_length, DESCRIPTION_CHARS, KEY_CHARS, NAME_CHARS};
use crate::state::AdminState;
use crate::store::flags::{self, config_for, StoredFlag};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AdminState: FromRef<S>,
    crate::auth::Credentials: FromRef<S>,
    crate::state::BodyLimit: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(read_config, replace_config))
        .routes(routes!(toggle))
}

#[derive(Debug, Deserialize, Serialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only flags with this tag.
    pub tag: Option<String>,
    /// Substring of the key or name (case-insensitive).
    pub q: Option<String>,
    /// Include archived flags (default false).
    #[serde(default)]
    pub archived: bool,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct FlagList {
    pub flags: Vec<StoredFlag>,
}

/// Lists flags, filtered by tag or text.
#[utoipa::path(operation_id = "flags_list", get, path = "/api/v1/flags", tag = "flags", params(ListQuery),
    responses((status = 200, body = FlagList), (status = 401, body = ErrorBody)))]
async fn list(
    State(state): State<AdminState>,
    admin: Admin,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<FlagList>> {
    admin.require(Role::Viewer)?;
    let needle = query.q.as_deref().map(str::to_lowercase);
    let flags: Vec<StoredFlag> = flags::list(&state.db)
        .await?
        .into_iter()
        .filter(|f| query.archived || !f.archived)
        .filter(|f| query.tag.as_ref().is_none_or(|t| f.flag.tags.contains(t)))
        .filter(|f| {
            needle
                .as_ref()
                .is_none_or(|n| f.flag.key.to_lowercase().contains(n) || f.flag.name.to_lowercase().contains(n))
        })
        .collect();
    Ok(Json(FlagList { flags }))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct CreateFlag {
    #[schema(max_length = 100)]
    pub key: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Defaults to `[false, true]`.
    #[serde(default = "bool_variations")]
    pub variations: Vec<Value>,
    #[serde(default)]
    pub client_side: bool,
    /// Who answers for the flag (a person or team).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub owner: Option<String>,
    /// The date (`YYYY-MM-DD`, UTC) after which the flag should be gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "2027-03-31")]
    pub expires: Option<String>,
}

/// What a flag created without variations has (the CLI sends it too).
pub(crate) fn bool_variations() -> Vec<Value> {
    vec![json!(false), json!(true)]
}

/// Creates a flag, off in every environment (it ships dark).
#[utoipa::path(operation_id = "flags_create", post, path = "/api/v1/flags", tag = "flags", request_body = CreateFlag,
    params(("X-Audit-Comment" = Option<String>, Header, description = "Recorded in the audit log")),
    responses((status = 201, body = StoredFlag), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create(edit: Editing<(), Body<CreateFlag>>) -> ApiResult<impl IntoResponse> {
    let Editing {
        body: Body(req),
        author,
        ..
    } = edit;
    check_length("key", &req.key, KEY_CHARS)?;
    check_length("name", &req.name, NAME_CHARS)?;
    check_length("description", &req.description, DESCRIPTION_CHARS)?;
    let flag = Flag {
        name: if req.name.is_empty() { req.key.clone() } else { req.name },
        key: req.key,
        description: req.description,
        tags: req.tags,
        variations: req.variations,
        client_side: req.client_side,
        environments: Default::default(),
    };
    let meta = crate::writes::flags::FlagMeta {
        owner: req.owner,
        expires: req.expires,
    };
    let stored = crate::writes::flags::create(&author.writer(), flag, meta).await?;
    Ok((StatusCode::CREATED, etag(stored.version), Json(stored)))
}

/// A flag as read, with what flags-as-code files manage of it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FlagRead {
    #[serde(flatten)]
    pub stored: StoredFlag,
    /// Per environment, the parts of the config a file manages (`manage:`
    /// in the file; only `daylight apply` writes them, other writes get 409
    /// `owned_by_file`) and that file. Absent when no file manages any.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub managed_by: std::collections::BTreeMap<String, crate::store::flagfile::Owned>,
}

/// Reads a flag; its `ETag` is the version to send back in `If-Match`.
#[utoipa::path(operation_id = "flags_read", get, path = "/api/v1/flags/{key}", tag = "flags", params(("key" = String, Path)),
    responses((status = 200, body = FlagRead), (status = 404, body = ErrorBody)))]
async fn read(State(state): State<AdminState>, admin: Admin, Path(key): Path<String>) -> ApiResult<impl IntoResponse> {
    admin.require(Role::Viewer)?;
    let stored = flags::get(&state.db, &key).await?;
    let managed_by = crate::store::flagfile::owned(&state.db, &key).await?;
    Ok((etag(stored.version), Json(FlagRead { stored, managed_by })))
}

/// The shared fields of a flag; absent fields stay as they are.
#[derive(Debug, Deserialize, Serialize, Default, ToSchema)]
pub struct UpdateFlag {
    #[schema(max_length = 200)]
    pub name: Option<String>,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub variations: Option<Vec<Value>>,
    pub client_side: Option<bool>,
    /// Who answers for the flag; `""` clears it.
    #[schema(max_length = 200)]
    pub owner: Option<String>,
    /// `YYYY-MM-DD` (UTC); `""` clears it.
    pub expires: Option<String>,
    /// Archived flags disappear from SDKs but keep their history.
    pub archived: Option<bool>,
}

/// Edits the shared fields (or archives); needs `If-Match`. Archiving a
/// flag still served somewhere needs `X-Confirm: KEY` and a comment.
#[utoipa::path(operation_id = "flags_update", patch, path = "/api/v1/flags/{key}", tag = "flags", request_body = UpdateFlag,
    params(("key" = String, Path), ("If-Match" = String, Header, description = "The version you read")),
    responses((status = 200, body = StoredFlag), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 428, body = ErrorBody)))]
async fn update(confirm: Confirm, edit: Editing<Path<String>, Body<UpdateFlag>, i64>) -> ApiResult<impl IntoResponse> {
    let Editing {
        path: Path(key),
        body: Body(req),
        expected,
        author,
        ..
    } = edit;
    if let Some(name) = &req.name {
        check_length("name", name, NAME_CHARS)?;
    }
    if let Some(description) = &req.description {
        check_length("description", description, DESCRIPTION_CHARS)?;
    }
    if req.archived == Some(true) {
        let state = author.state();
        let stored = flags::get(&state.db, &key).await?;
        confirm_destructive(
            &state.db,
            state.clock.as_ref(),
            &stored,
            &confirm,
            &author.comment,
            "archive",
        )
        .await?;
    }
    let action = match req.archived {
        Some(true) => "flag.archive",
        Some(false) => "flag.restore",
        None => "flag.update",
    };
    let stored = crate::writes::flags::update(&author.writer(), &key, Some(expected), action, None, |f| {
        if let Some(name) = &req.name {
            f.flag.name = name.clone();
        }
        if let Some(description) = &req.description {
            f.flag.description = description.clone();
        }
        if let Some(tags) = &req.tags {
            f.flag.tags = tags.clone();
        }
        if let Some(variations) = &req.variations {
            f.flag.variations = variations.clone();
        }
        if let Some(client_side) = req.client_side {
            f.flag.client_side = client_side;
        }
        if let Some(owner) = &req.owner {
            f.owner = Some(owner.clone()).filter(|o| !o.is_empty());
        }
        if let Some(expires) = &req.expires {
            f.expires = Some(expires.clone()).filter(|e| !e.is_empty());
        }
        if let Some(archived) = req.archived {
            f.archived = archived;
        }
        Ok(())
    })
    .await?;
    Ok((etag(stored.version), Json(stored)))
}

/// Deletes a flag (refused while it is another flag's prerequisite; a flag
/// still served somewhere needs `X-Confirm: KEY` and a comment).
#[utoipa::path(operation_id = "flags_remove", delete, path = "/api/v1/flags/{key}", tag = "flags",
    params(("key" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn remove(confirm: Confirm, edit: Editing<Path<String>, (), Option<i64>>) -> ApiResult<StatusCode> {
    let Editing {
        path: Path(key),
        expected,
        author,
        ..
    } = edit;
    let state = author.state();
    let stored = flags::get(&state.db, &key).await?;
    confirm_destructive(
        &state.db,
        state.clock.as_ref(),
        &stored,
        &confirm,
        &author.comment,
        "delete",
    )
    .await?;
    crate::writes::flags::delete(&author.writer(), &key, expected).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A flag's config in one environment.
#[utoipa::path(operation_id = "flags_read_config", get, path = "/api/v1/flags/{key}/environments/{env}", tag = "flags",
    params(("key" = String, Path), ("env" = String, Path)),
    responses((status = 200, body = FlagConfig), (status = 404, body = ErrorBody)))]
async fn read_config(
    State(state): State<AdminState>,
    admin: Admin,
    Path((key, env)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    admin.require(Role::Viewer)?;
    crate::store::environments::get(&state.db, &env).await?;
    let stored = flags::get(&state.db, &key).await?;
    Ok((etag(stored.version), Json(config_for(&stored.flag, &env))))
}

/// Replaces a flag's config in one environment; needs `If-Match`.
#[utoipa::path(operation_id = "flags_replace_config", put, path = "/api/v1/flags/{key}/environments/{env}", tag = "flags", request_body = FlagConfig,
    params(("key" = String, Path), ("env" = String, Path), ("If-Match" = String, Header)),
    responses((status = 200, body = FlagConfig), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 428, body = ErrorBody)))]
async fn replace_config(edit: Editing<FlagInEnvironment, Body<FlagConfig>, i64>) -> ApiResult<impl IntoResponse> {
    let Editing {
        path: FlagInEnvironment { key, env },
        body: Body(config),
        expected,
        author,
        ..
    } = edit;
    let stored = crate::writes::flags::update(&author.writer(), &key, Some(expected), "flag.config", Some(&env), |f| {
        let mut config = config.clone();
        // The server owns the version.
        config.version = config_for(&f.flag, &env).version;
        f.flag.environments.insert(env.clone(), config);
        Ok(())
    })
    .await?;
    Ok((etag(stored.version), Json(config_for(&stored.flag, &env))))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct Toggle {
    pub on: bool,
    #[serde(default)]
    pub comment: Option<String>,
}

/// Turns a flag on or off in one environment. `If-Match` is optional: a
/// toggle states the wanted outcome, so it is safe to apply to any version
/// (this is the one-click kill switch).
#[utoipa::path(operation_id = "flags_toggle", post, path = "/api/v1/flags/{key}/environments/{env}/toggle", tag = "flags", request_body = Toggle,
    params(("key" = String, Path), ("env" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 200, body = FlagConfig), (status = 404, body = ErrorBody)))]
async fn toggle(edit: Editing<FlagInEnvironment, Body<Toggle>, Option<i64>>) -> ApiResult<impl IntoResponse> {
    let Editing {
        path: FlagInEnvironment { key, env },
        body: Body(req),
        expected,
        mut author,
        ..
    } = edit;
    // The body's comment, if any, over the header's.
    if let Some(comment) = req.comment {
        author.comment = comment;
    }
    let action = if req.on { "flag.on" } else { "flag.off" };
    let stored = crate::writes::flags::update(&author.writer(), &key, expected, action, Some(&env), |f| {
        let mut config = config_for(&f.flag, &env);
        config.on = req.on;
        f.flag.environments.insert(env.clone(), config);
        Ok(())
    })
    .await?;
    Ok((etag(stored.version), Json(config_for(&stored.flag, &env))))
}
