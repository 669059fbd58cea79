//! Change requests: where an environment requires approvals, a change to a
//! flag's config there is proposed, reviewed by other people and applied
//! once approved, and only onto the version it was proposed against
//! (docs/people.md). Turning flags off never waits (the kill switch).

use daylight::model::FlagConfig;

use super::{flags, Writer};
use crate::error::{ApiError, ApiResult};
use crate::store::change_requests::{self as rows, ChangeRequest, NewRequest};
use crate::store::flags::{config_for, StoredFlag};
use crate::store::{append_audit, environments, AuditEntry};

/// The edit a request makes: its config in its environment (the server
/// keeps the config's version).
fn edit(config: FlagConfig, env: String) -> impl FnMut(&mut StoredFlag) -> ApiResult<()> {
    move |f: &mut StoredFlag| {
        let mut config = config.clone();
        config.version = config_for(&f.flag, &env).version;
        f.flag.environments.insert(env.clone(), config);
        Ok(())
    }
}

/// Checks a proposal the way the write itself would (validation, references)
/// without writing; returns the flag's current version.
async fn check(w: &Writer<'_>, key: &str, env: &str, config: &FlagConfig) -> ApiResult<i64> {
    environments::get(w.db, env).await?;
    w.may_edit(env)?;
    let pending = flags::prepare(w, key, None, &mut edit(config.clone(), env.to_owned())).await?;
    if pending.changed.is_empty() {
        return Err(ApiError::invalid(
            "config",
            "this is the flag's config already: nothing to change",
        ));
    }
    Ok(pending.before.version)
}

pub async fn open(w: &Writer<'_>, key: &str, env: &str, config: FlagConfig, comment: &str) -> ApiResult<ChangeRequest> {
    let base_version = check(w, key, env, &config).await?;
    let doc = serde_json::to_string(&config).map_err(|e| ApiError::Internal(e.to_string()))?;
    let now = w.clock.now_ms();
    let mut tx = w.begin().await?;
    let id = rows::insert(
        &mut tx,
        &NewRequest {
            flag_key: key,
            environment: env,
            base_version,
            config: &doc,
            comment,
            author: w.actor,
            now,
        },
    )
    .await?;
    append_audit(
        &mut tx,
        AuditEntry {
            after: Some(doc),
            ..audit(w, "change_request.open", &id.to_string(), env)
        },
    )
    .await?;
    w.commit(tx, &[]).await?;
    get(w, id).await
}

pub async fn get(w: &Writer<'_>, id: i64) -> ApiResult<ChangeRequest> {
    rows::get(w.db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("change request {id}")))
}

async fn open_request(w: &Writer<'_>, id: i64) -> ApiResult<ChangeRequest> {
    let request = get(w, id).await?;
    if request.state != "open" {
        return Err(ApiError::Conflict(format!("change request {id} is {}", request.state)));
    }
    Ok(request)
}

/// The author replaces the proposal: a new revision, so earlier approvals
/// no longer count.
pub async fn revise(w: &Writer<'_>, id: i64, config: FlagConfig, comment: &str) -> ApiResult<ChangeRequest> {
    let request = open_request(w, id).await?;
    if request.author != w.actor {
        return Err(ApiError::Forbidden("only its author may edit a change request".into()));
    }
    check(w, &request.flag_key, &request.environment, &config).await?;
    let doc = serde_json::to_string(&config).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut tx = w.begin().await?;
    if !rows::revise(&mut tx, id, request.revision, &doc, comment, w.clock.now_ms()).await? {
        return Err(ApiError::Conflict(format!(
            "change request {id} changed meanwhile; read it again"
        )));
    }
    append_audit(
        &mut tx,
        AuditEntry {
            after: Some(doc),
            ..audit(w, "change_request.revise", &id.to_string(), &request.environment)
        },
    )
    .await?;
    w.commit(tx, &[]).await?;
    get(w, id).await
}

/// `approve`, `reject` or `comment` on the current revision. Authors never
/// approve their own request; a rejection settles it.
pub async fn review(w: &Writer<'_>, id: i64, verdict: &str, comment: &str) -> ApiResult<ChangeRequest> {
    let request = open_request(w, id).await?;
    // Reviewing is taking part in the change: an editor's, in that environment.
    w.may_edit(&request.environment)?;
    if !matches!(verdict, "approve" | "reject" | "comment") {
        return Err(ApiError::invalid("verdict", "expected approve, reject or comment"));
    }
    if verdict == "approve" && request.author == w.actor {
        return Err(ApiError::Forbidden(
            "authors cannot approve their own change request".into(),
        ));
    }
    let now = w.clock.now_ms();
    let mut tx = w.begin().await?;
    rows::insert_review(&mut tx, id, request.revision, w.actor, verdict, comment, now).await?;
    if verdict == "reject" && !rows::settle(&mut tx, id, request.revision, "rejected", w.actor, now).await? {
        return Err(ApiError::Conflict(format!(
            "change request {id} changed meanwhile; read it again"
        )));
    }
    let action = format!("change_request.{verdict}");
    append_audit(&mut tx, audit(w, &action, &id.to_string(), &request.environment)).await?;
    w.commit(tx, &[]).await?;
    get(w, id).await
}

/// Distinct people other than the author who approved `revision`.
pub fn approvals(request: &ChangeRequest, reviews: &[rows::Review]) -> Vec<String> {
    let mut approvers: Vec<String> = reviews
        .iter()
        .filter(|r| r.revision == request.revision && r.verdict == "approve" && r.reviewer != request.author)
        .map(|r| r.reviewer.clone())
        .collect();
    approvers.sort();
    approvers.dedup();
    approvers
}

/// Applies an approved request, once across nodes, and only if the flag is
/// still at the version it was proposed against.
pub async fn apply(w: &Writer<'_>, id: i64) -> ApiResult<ChangeRequest> {
    let request = open_request(w, id).await?;
    w.may_edit(&request.environment)?;
    let required = environments::approvals_required(&w.db.pool, &request.environment).await?;
    let approvers = approvals(&request, &rows::reviews(w.db, id).await?);
    if (approvers.len() as i64) < required {
        return Err(ApiError::Conflict(format!(
            "change request {id} has {} of the {required} approvals `{}` requires",
            approvers.len(),
            request.environment
        )));
    }
    let config: FlagConfig = request
        .config
        .clone()
        .and_then(|c| serde_json::from_value(c).ok())
        .ok_or_else(|| ApiError::Internal(format!("change request {id} holds no readable config")))?;
    let approved = Writer { approved: true, ..*w };
    let env = request.environment.clone();
    let pending = flags::prepare(
        &approved,
        &request.flag_key,
        Some(request.base_version),
        &mut edit(config, env.clone()),
    )
    .await
    .map_err(|e| match e {
        ApiError::Conflict(_) => ApiError::Conflict(format!(
            "flag `{}` changed since this request was opened (version {}); open a new one on the current version",
            request.flag_key, request.base_version
        )),
        e => e,
    })?;
    let now = w.clock.now_ms();
    let mut tx = w.begin().await?;
    if !rows::settle(&mut tx, id, request.revision, "applied", w.actor, now).await? {
        return Err(ApiError::Conflict(format!(
            "change request {id} was settled or revised meanwhile"
        )));
    }
    let comment = format!(
        "change request {id}: {} (approved by {})",
        request.comment,
        approvers.join(", ")
    );
    let applying = Writer {
        comment: &comment,
        ..approved
    };
    if !flags::write(&mut tx, &applying, &pending, "flag.config", Some(&env)).await? {
        return Err(ApiError::Conflict(format!(
            "flag `{}` changed since this request was opened; open a new one on the current version",
            request.flag_key
        )));
    }
    append_audit(&mut tx, audit(w, "change_request.apply", &id.to_string(), &env)).await?;
    applying.commit(tx, &pending.changed).await?;
    get(w, id).await
}

fn audit<'b>(w: &'b Writer<'_>, action: &'b str, id: &'b str, env: &'b str) -> AuditEntry<'b> {
    w.audit(action, "change_request", id, Some(env))
}
