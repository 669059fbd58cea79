//! SDK usage: the ingest endpoint SDKs report batched counts to
//! (`POST /sdk/v1/usage`, also accepted as a `usage` message on the stream),
//! and the admin API that reads them: usage per flag, "last evaluated" per
//! flag, and the stale-flag report. Format and choices: `docs/usage-metrics.md`.

use axum::extract::FromRef;
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use axum::extract::{Path, Query, State};
use axum::routing::post;
use axum::{Json, Router};
use daylight::model::{FlagConfig, Serve};
use daylight::Ruleset;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Body;
use crate::auth::{Admin, KeyKind, Role, SdkKey};
use crate::db::now_ms;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::limits::UsageLimits;
use crate::live::Live;
use crate::state::{AdminState, AppState, SdkState};
use crate::store::usage::{self, Batch, EventMinuteCount, MinuteCount};
use crate::store::{environments, flags};

/// The most entries of each kind one report may hold.
const MAX_ENTRIES: usize = 10_000;
/// The largest count one entry may carry with a server key (an app server
/// evaluating one flag 10^8 times a second between two 10 s reports).
pub const MAX_COUNT: i64 = 1_000_000_000;
/// The largest count one entry may carry with a client key (one browser
/// between two reports, or held through an outage).
pub const MAX_CLIENT_COUNT: i64 = 100_000;
const MAX_EVENT_LEN: usize = 100;
/// Distinct event names labelled in Prometheus; later ones count as `other`.
const MAX_EVENT_LABELS: usize = 200;
const DAY_MS: i64 = 86_400_000;

pub fn sdk_router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    SdkState: FromRef<S>,
    crate::auth::Credentials: FromRef<S>,
    crate::state::BodyLimit: FromRef<S>,
{
    Router::new().route("/sdk/v1/usage", post(ingest))
}

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AdminState: FromRef<S>,
    crate::auth::Credentials: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(flag_usage))
        .routes(routes!(environment_usage))
        .routes(routes!(stale_flags))
}

/// What an SDK reports: counts since its last report.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
pub struct UsageReport {
    #[serde(default)]
    pub evaluations: Vec<EvaluationCount>,
    #[serde(default)]
    pub events: Vec<EventCount>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct EvaluationCount {
    pub flag: String,
    /// The variation index served.
    pub variation: i64,
    pub count: i64,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct EventCount {
    /// The app's event name, e.g. `checkout_error` (1–100 of `A-Z a-z 0-9 _ - . :`).
    pub event: String,
    /// The flag and variation the context was served when the event happened.
    pub flag: String,
    pub variation: i64,
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IngestResult {
    /// Entries stored.
    pub accepted: usize,
    /// Entries about flags this key cannot see or variations they do not
    /// have (e.g. a flag deleted since it was evaluated), and events whose
    /// names are over the caps (distinct names per key, per flag).
    pub dropped: usize,
}

/// Checks a report against the key's environment; entries about unknown
/// flags or variations are dropped (counted), malformed ones are a 400.
pub fn validate(report: &UsageReport, ruleset: Option<&Ruleset>, kind: KeyKind) -> ApiResult<(Batch, usize)> {
    if report.evaluations.len() > MAX_ENTRIES {
        return Err(ApiError::invalid(
            "evaluations",
            format!("at most {MAX_ENTRIES} entries per report"),
        ));
    }
    if report.events.len() > MAX_ENTRIES {
        return Err(ApiError::invalid(
            "events",
            format!("at most {MAX_ENTRIES} entries per report"),
        ));
    }
    let known = |flag: &str, variation: i64| {
        ruleset.is_some_and(|r| {
            r.variation_count(flag).is_some_and(|n| (variation as u64) < n as u64)
                && (kind == KeyKind::Server || r.is_client_side(flag))
        })
    };
    let max_count = match kind {
        KeyKind::Server => MAX_COUNT,
        KeyKind::Client => MAX_CLIENT_COUNT,
    };
    let check = |path: String, flag: &str, variation: i64, count: i64| -> ApiResult<()> {
        if flag.is_empty() || flag.len() > 256 {
            return Err(ApiError::invalid(
                format!("{path}.flag"),
                "a flag key of 1 to 256 bytes",
            ));
        }
        if variation < 0 {
            return Err(ApiError::invalid(
                format!("{path}.variation"),
                "a variation index is 0 or more",
            ));
        }
        if !(1..=max_count).contains(&count) {
            return Err(ApiError::invalid(
                format!("{path}.count"),
                format!("a count from 1 to {max_count} (with a {} key)", kind.as_str()),
            ));
        }
        Ok(())
    };
    let mut batch = Batch {
        minute: usage::minute_of(now_ms()),
        from_server: kind == KeyKind::Server,
        ..Batch::default()
    };
    let mut dropped = 0;
    for (i, e) in report.evaluations.iter().enumerate() {
        check(format!("evaluations[{i}]"), &e.flag, e.variation, e.count)?;
        if known(&e.flag, e.variation) {
            batch.evaluations.push((e.flag.clone(), e.variation, e.count));
        } else {
            dropped += 1;
        }
    }
    for (i, e) in report.events.iter().enumerate() {
        let path = format!("events[{i}]");
        let name_ok = !e.event.is_empty()
            && e.event.len() <= MAX_EVENT_LEN
            && e.event
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
        if !name_ok {
            return Err(ApiError::invalid(
                format!("{path}.event"),
                "an event name is 1 to 100 of A-Z a-z 0-9 _ - . :",
            ));
        }
        check(path, &e.flag, e.variation, e.count)?;
        if known(&e.flag, e.variation) {
            batch
                .events
                .push((e.event.clone(), e.flag.clone(), e.variation, e.count));
        } else {
            dropped += 1;
        }
    }
    // Several entries for one row (an SDK may send them) add up.
    batch.evaluations = merge(
        std::mem::take(&mut batch.evaluations),
        |(f, v, _)| (f.clone(), *v),
        |e| &mut e.2,
    );
    batch.events = merge(
        std::mem::take(&mut batch.events),
        |(ev, f, v, _)| (ev.clone(), f.clone(), *v),
        |e| &mut e.3,
    );
    Ok((batch, dropped))
}

fn merge<T, K: Ord>(items: Vec<T>, key: impl Fn(&T) -> K, count: impl Fn(&mut T) -> &mut i64) -> Vec<T> {
    let mut by_key: BTreeMap<K, T> = BTreeMap::new();
    for mut item in items {
        match by_key.entry(key(&item)) {
            std::collections::btree_map::Entry::Occupied(mut o) => {
                let add = *count(&mut item);
                let c = count(o.get_mut());
                *c = c.saturating_add(add);
            }
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(item);
            }
        }
    }
    by_key.into_values().collect()
}

/// A report that came as a `usage` message on the stream (see `admit`).
pub async fn accept(state: &AppState, key: &SdkKey, report: &UsageReport) -> ApiResult<IngestResult> {
    admit(&state.live, &state.usage, &state.usage_limits, key, report)
}

/// Validates one report of `key` against the rules in `live`, queues it
/// in `pending` for the next write (see `store::usage::Pending`) and counts
/// it in Prometheus. A key over its report rate in `limits` gets 429;
/// events with names over the caps are dropped.
fn admit(
    live: &Live,
    pending: &usage::Pending,
    limits: &UsageLimits,
    key: &SdkKey,
    report: &UsageReport,
) -> ApiResult<IngestResult> {
    if let Err(wait) = limits.check_report(key.id) {
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        return Err(ApiError::TooManyRequests {
            message: format!("usage report rate reached for this key; retry in {seconds} s"),
            retry_after_secs: seconds,
        });
    }
    let ruleset = live.get(&key.environment);
    let (mut batch, mut dropped) = validate(report, ruleset.as_deref(), key.kind)?;
    dropped += limits.admit_events(key.id, &key.environment, &mut batch.events, |(event, flag, _, _)| {
        (event.as_str(), flag.as_str())
    });
    pending.add(&key.environment, &batch);
    let env = key.environment.clone();
    for (flag, _, count) in &batch.evaluations {
        metrics::counter!("daylight_sdk_evaluations_total", "environment" => env.clone(), "flag" => flag.clone())
            .increment(*count as u64);
    }
    for (event, _, _, count) in &batch.events {
        metrics::counter!("daylight_sdk_events_total", "environment" => env.clone(), "event" => event_label(event))
            .increment(*count as u64);
    }
    Ok(IngestResult {
        accepted: batch.evaluations.len() + batch.events.len(),
        dropped,
    })
}

/// Event names are the app's to choose (and client keys are public), so
/// the label set is capped.
fn event_label(event: &str) -> String {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let seen = seen.get_or_insert_with(HashSet::new);
    if seen.contains(event) {
        return event.to_owned();
    }
    if seen.len() < MAX_EVENT_LABELS {
        seen.insert(event.to_owned());
        return event.to_owned();
    }
    "other".to_owned()
}

/// `POST /sdk/v1/usage` with a server or client key.
async fn ingest(
    State(state): State<SdkState>,
    key: SdkKey,
    Body(report): Body<UsageReport>,
) -> ApiResult<Json<IngestResult>> {
    Ok(Json(admit(
        &state.live,
        &state.usage,
        &state.usage_limits,
        &key,
        &report,
    )?))
}

#[derive(Debug, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Start (Unix ms, inclusive; default: one hour ago).
    pub from: Option<i64>,
    /// End (Unix ms, exclusive; default: now).
    pub to: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FlagUsage {
    pub environment: String,
    pub flag: String,
    pub from: i64,
    pub to: i64,
    /// When an SDK last reported evaluating the flag (Unix ms).
    pub last_evaluated: Option<i64>,
    /// Evaluations per variation over the range.
    pub totals: BTreeMap<i64, i64>,
    pub evaluations: Vec<MinuteCount>,
    pub events: Vec<EventMinuteCount>,
}

/// Evaluations per variation and minute, and events attributed to the flag.
#[utoipa::path(operation_id = "usage_flag", get, path = "/api/v1/environments/{env}/flags/{key}/usage", tag = "usage",
    params(("env" = String, Path), ("key" = String, Path), RangeQuery),
    responses((status = 200, body = FlagUsage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn flag_usage(
    State(state): State<AdminState>,
    admin: Admin,
    Path((env, key)): Path<(String, String)>,
    Query(q): Query<RangeQuery>,
) -> ApiResult<Json<FlagUsage>> {
    admin.require(Role::Viewer)?;
    environments::get(&state.db, &env).await?;
    flags::get(&state.db, &key).await?;
    let to = q.to.unwrap_or_else(now_ms);
    let from = q.from.unwrap_or_else(|| to.saturating_sub(3_600_000));
    if from < 0 {
        return Err(ApiError::invalid("from", "a Unix time in milliseconds"));
    }
    if to <= from {
        return Err(ApiError::invalid("to", "must be after `from`"));
    }
    if to - from > 31 * DAY_MS {
        return Err(ApiError::invalid("from", "a range spans at most 31 days"));
    }
    let evaluations = usage::evaluations(&state.db, &env, &key, from, to).await?;
    let mut totals = BTreeMap::new();
    for m in &evaluations {
        *totals.entry(m.variation).or_insert(0) += m.count;
    }
    Ok(Json(FlagUsage {
        last_evaluated: usage::last_evaluated(&state.db, &env).await?.remove(&key),
        events: usage::events(&state.db, &env, &key, from, to).await?,
        environment: env,
        flag: key,
        from,
        to,
        totals,
        evaluations,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LastEvaluated {
    pub flag: String,
    /// Unix ms; `null` when never reported.
    pub last_evaluated: Option<i64>,
    /// Evaluations SDKs reported over the last 24 hours (whole minutes).
    pub evaluations_24h: i64,
    /// Evaluations SDKs reported over the last 7 days (as far as usage
    /// retention keeps them).
    pub evaluations_7d: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnvironmentUsage {
    pub environment: String,
    pub flags: Vec<LastEvaluated>,
}

/// When each flag was last evaluated in the environment, and how often
/// over the last 24 hours and 7 days.
#[utoipa::path(operation_id = "usage_environment", get, path = "/api/v1/environments/{env}/usage", tag = "usage",
    params(("env" = String, Path)),
    responses((status = 200, body = EnvironmentUsage), (status = 404, body = ErrorBody)))]
async fn environment_usage(
    State(state): State<AdminState>,
    admin: Admin,
    Path(env): Path<String>,
) -> ApiResult<Json<EnvironmentUsage>> {
    admin.require(Role::Viewer)?;
    environments::get(&state.db, &env).await?;
    let mut last = usage::last_evaluated(&state.db, &env).await?;
    let now = now_ms();
    let recent = usage::recent_totals(&state.db, &env, now - DAY_MS, now - 7 * DAY_MS).await?;
    let flags = flags::list(&state.db)
        .await?
        .into_iter()
        .filter(|f| !f.archived)
        .map(|f| {
            let (evaluations_24h, evaluations_7d) = recent.get(&f.flag.key).copied().unwrap_or_default();
            LastEvaluated {
                last_evaluated: last.remove(&f.flag.key),
                evaluations_24h,
                evaluations_7d,
                flag: f.flag.key,
            }
        })
        .collect();
    Ok(Json(EnvironmentUsage {
        environment: env,
        flags,
    }))
}

#[derive(Debug, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StaleQuery {
    /// Days without evaluations, or serving one variation to everyone (default 30).
    pub days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaleFlag {
    pub flag: String,
    /// `not_evaluated` and/or `single_variation`.
    pub reasons: Vec<String>,
    pub last_evaluated: Option<i64>,
    /// The one variation every context gets, when it does.
    pub serving: Option<usize>,
    /// Since when the flag's config in this environment is unchanged.
    pub unchanged_since: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaleReport {
    pub environment: String,
    pub days: i64,
    pub flags: Vec<StaleFlag>,
}

/// Flags not evaluated for `days`, or serving one variation to every
/// context for `days` (candidates for removal from the code).
#[utoipa::path(operation_id = "usage_stale_flags", get, path = "/api/v1/environments/{env}/stale-flags", tag = "usage",
    params(("env" = String, Path), StaleQuery),
    responses((status = 200, body = StaleReport), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn stale_flags(
    State(state): State<AdminState>,
    admin: Admin,
    Path(env): Path<String>,
    Query(q): Query<StaleQuery>,
) -> ApiResult<Json<StaleReport>> {
    admin.require(Role::Viewer)?;
    let days = q.days.unwrap_or(30);
    if !(1..=3650).contains(&days) {
        return Err(ApiError::invalid("days", "from 1 to 3650"));
    }
    environments::get(&state.db, &env).await?;
    let cutoff = now_ms() - days * DAY_MS;
    let last = usage::last_evaluated(&state.db, &env).await?;
    let changed = usage::last_config_change(&state.db, &env).await?;
    let mut out = Vec::new();
    for f in flags::list(&state.db).await?.into_iter().filter(|f| !f.archived) {
        let key = &f.flag.key;
        let last_evaluated = last.get(key).copied();
        let unchanged_since = changed.get(key).copied().unwrap_or(f.created_at);
        let mut reasons = Vec::new();
        if f.created_at <= cutoff && last_evaluated.is_none_or(|t| t <= cutoff) {
            reasons.push("not_evaluated".to_owned());
        }
        let serving = single_variation(&flags::config_for(&f.flag, &env));
        if serving.is_some() && unchanged_since <= cutoff {
            reasons.push("single_variation".to_owned());
        }
        if !reasons.is_empty() {
            out.push(StaleFlag {
                flag: key.clone(),
                reasons,
                last_evaluated,
                serving,
                unchanged_since,
            });
        }
    }
    Ok(Json(StaleReport {
        environment: env,
        days,
        flags: out,
    }))
}

/// The one variation `config` serves to every context, if it does.
pub fn single_variation(config: &FlagConfig) -> Option<usize> {
    if !config.on {
        return config.off_variation;
    }
    let mut served: Vec<Option<usize>> = Vec::new();
    if !config.prerequisites.is_empty() {
        served.push(config.off_variation);
    }
    served.extend(config.targets.iter().map(|t| Some(t.variation)));
    served.extend(config.rules.iter().map(|r| only(&r.serve)));
    served.push(only(&config.fallthrough));
    let first = served[0]?;
    served.iter().all(|s| *s == Some(first)).then_some(first)
}

/// The variation a serve always gives: a fixed one, or a rollout with all
/// the weight on one variation.
fn only(serve: &Serve) -> Option<usize> {
    match (&serve.variation, &serve.rollout) {
        (Some(v), None) => Some(*v),
        (None, Some(r)) => {
            let mut weighted = r.variations.iter().filter(|w| w.weight > 0);
            let one = weighted.next()?;
            weighted.next().is_none().then_some(one.variation)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_variation_sees_through_rollouts_and_off() {
        let mut c = FlagConfig::dark(1);
        assert_eq!(single_variation(&c), Some(1));
        c.on = true;
        c.fallthrough = serde_json::from_value(serde_json::json!({"rollout": {"variations": [
            {"variation": 0, "weight": 0}, {"variation": 2, "weight": 100000}]}}))
        .unwrap();
        assert_eq!(single_variation(&c), Some(2));
        c.fallthrough = serde_json::from_value(serde_json::json!({"rollout": {"variations": [
            {"variation": 0, "weight": 50000}, {"variation": 2, "weight": 50000}]}}))
        .unwrap();
        assert_eq!(single_variation(&c), None);
        c.fallthrough = Serve::variation(0);
        c.targets = vec![serde_json::from_value(serde_json::json!({"variation": 1, "values": ["a"]})).unwrap()];
        assert_eq!(single_variation(&c), None);
    }
}
