//! Explaining evaluations to a person: one flag for one context with a
//! trace of every step (against the live rules or an unsaved draft of the
//! flag's config), the attribute names apps send (`crate::learned`), and
//! the playground: every flag for one context in every environment.
//! All of it evaluates with the one evaluator (`daylight::Ruleset`).

use std::collections::BTreeMap;

use axum::extract::{FromRef, Path, State};
use axum::Json;
use daylight::model::FlagConfig;
use daylight::trace::Step;
use daylight::{Context, Detail, Trace};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Body;
use crate::auth::{Admin, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::ExplainState;
use crate::store::{environments, flags};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    ExplainState: FromRef<S>,
    crate::auth::Credentials: FromRef<S>,
    crate::state::BodyLimit: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(explain))
        .routes(routes!(attributes))
        .routes(routes!(playground))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct ExplainRequest {
    pub context: Value,
    /// An unsaved config for this environment (the console's "try my
    /// unsaved draft"): checked as saving it would be (400 naming the field
    /// under `config`), then explained instead of the live rules. Nothing
    /// is written.
    #[serde(default)]
    pub config: Option<FlagConfig>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Explanation {
    pub key: String,
    pub value: Option<Value>,
    pub variation: Option<usize>,
    /// As in `docs/flag-format.md`, e.g. `{"kind": "RULE_MATCH", ...}`.
    pub reason: Value,
    /// Every step the evaluator took, in order (`docs/api.md`, "Explain").
    pub trace: Trace,
    /// The answer is for the draft sent in `config`, not the live rules.
    pub draft: bool,
}

/// Evaluates the flag for a context with the live rules (or the draft in
/// `config`) and says why, step by step.
#[utoipa::path(operation_id = "flags_explain", post, path = "/api/v1/flags/{key}/environments/{env}/evaluate", tag = "flags", request_body = ExplainRequest,
    params(("key" = String, Path), ("env" = String, Path)),
    responses((status = 200, body = Explanation), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn explain(
    State(state): State<ExplainState>,
    admin: Admin,
    Path((key, env)): Path<(String, String)>,
    Body(req): Body<ExplainRequest>,
) -> ApiResult<Json<Explanation>> {
    admin.require(Role::Viewer)?;
    let live = state
        .live
        .get(&env)
        .ok_or_else(|| ApiError::NotFound(format!("environment `{env}`")))?;
    let ctx = Context::from_json(&req.context).map_err(crate::limits::context_error)?;
    // An unknown flag is explained too (FLAG_NOT_FOUND), unless a draft
    // needs its document.
    let stored = match flags::get(&state.db, &key).await {
        Ok(stored) => Some(stored),
        Err(ApiError::NotFound(_)) if req.config.is_none() => None,
        Err(e) => return Err(e),
    };
    let draft = req.config.is_some();
    let (rules, config) = match (req.config, &stored) {
        (Some(config), Some(stored)) => (
            crate::writes::flags::draft(&state.db, &state.live, stored, &env, config.clone()).await?,
            Some(config),
        ),
        _ => (live, stored.as_ref().map(|s| flags::config_for(&s.flag, &env))),
    };
    let (detail, mut trace) = rules.evaluate_traced(&key, &ctx);
    if let Some(config) = &config {
        trace.add_clause_values(config);
    }
    if stored.as_ref().is_some_and(|s| s.archived) {
        for step in &mut trace.steps {
            if *step == Step::NotFound {
                *step = Step::Archived;
            }
        }
    }
    let answer = Answer::of(&detail);
    Ok(Json(Explanation {
        key,
        value: answer.value,
        variation: answer.variation,
        reason: answer.reason,
        trace,
        draft,
    }))
}

/// One evaluation's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Answer {
    pub value: Option<Value>,
    pub variation: Option<usize>,
    /// As in `docs/flag-format.md`, e.g. `{"kind": "RULE_MATCH", ...}`.
    pub reason: Value,
}

impl Answer {
    fn of(detail: &Detail<'_>) -> Answer {
        Answer {
            value: detail.value.cloned(),
            variation: detail.variation,
            reason: serde_json::to_value(detail.reason).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttributeNames {
    /// Attribute names (never values) in contexts this node evaluated in
    /// the environment (OFREP, browser streams), most recently first seen
    /// first; at most 50, kept in memory.
    pub attributes: Vec<String>,
}

/// The attribute names apps send in this environment, for the explain form.
#[utoipa::path(operation_id = "environments_attributes", get, path = "/api/v1/environments/{env}/attributes", tag = "environments",
    params(("env" = String, Path)),
    responses((status = 200, body = AttributeNames), (status = 404, body = ErrorBody)))]
async fn attributes(
    State(state): State<ExplainState>,
    admin: Admin,
    Path(env): Path<String>,
) -> ApiResult<Json<AttributeNames>> {
    admin.require(Role::Viewer)?;
    environments::get(&state.db, &env).await?;
    Ok(Json(AttributeNames {
        attributes: state.learned.names_in(&env),
    }))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct PlaygroundRequest {
    pub context: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Playground {
    /// Environment keys, in order.
    pub environments: Vec<String>,
    /// Every flag that is not archived, by key.
    pub flags: Vec<PlaygroundFlag>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlaygroundFlag {
    pub key: String,
    pub name: String,
    /// The answer per environment key.
    pub results: BTreeMap<String, Answer>,
}

/// Evaluates every flag for one context in every environment, with the
/// live rules.
#[utoipa::path(operation_id = "playground", post, path = "/api/v1/playground", tag = "flags", request_body = PlaygroundRequest,
    responses((status = 200, body = Playground), (status = 400, body = ErrorBody)))]
async fn playground(
    State(state): State<ExplainState>,
    admin: Admin,
    Body(req): Body<PlaygroundRequest>,
) -> ApiResult<Json<Playground>> {
    admin.require(Role::Viewer)?;
    let ctx = Context::from_json(&req.context).map_err(crate::limits::context_error)?;
    let envs: Vec<String> = environments::list(&state.db)
        .await?
        .into_iter()
        .map(|e| e.key)
        .collect();
    let rulesets: Vec<_> = envs.iter().map(|e| (e, state.live.get(e))).collect();
    let mut listed = flags::list(&state.db).await?;
    listed.retain(|f| !f.archived);
    listed.sort_by(|a, b| a.flag.key.cmp(&b.flag.key));
    let flags = listed
        .into_iter()
        .map(|stored| {
            let results = rulesets
                .iter()
                .filter_map(|(env, rules)| {
                    let rules = rules.as_ref()?;
                    Some(((*env).clone(), Answer::of(&rules.evaluate(&stored.flag.key, &ctx))))
                })
                .collect();
            PlaygroundFlag {
                key: stored.flag.key,
                name: stored.flag.name,
                results,
            }
        })
        .collect();
    Ok(Json(Playground {
        environments: envs,
        flags,
    }))
}
