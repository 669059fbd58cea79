//! Change requests: where an environment requires approvals, a change there
//! (a flag's config, a segment's keys and rules, an app's bundle config, a
//! release plan's start, resume or skip) is proposed, reviewed by other
//! people and applied once approved, and only onto the version it was
//! proposed against (docs/people.md). Turning flags off never waits (the
//! kill switch).
//!
//! What differs between subjects is only how a proposal is read, checked
//! and written ([`Proposed`]); opening, revising, reviewing and applying
//! once are the same for all. A request may carry a time (`apply_at`): the
//! scheduler then applies it at that time if it is approved by then
//! ([`apply_due`]), and settles it `expired` or `failed` otherwise.

mod scheduled;

use daylight::model::{FlagConfig, SegmentRules};
use sqlx::{Any, Transaction};

use super::releases::{self as plans, Step, Written};
use super::{bundles, flags, segments, Writer};
use crate::bundles::BundleConfig;
use crate::error::{ApiError, ApiResult};
use crate::store::change_requests::{self as rows, ChangeRequest, NewRequest, Revised};
use crate::store::flags::{config_for, StoredFlag};
use crate::store::{append_audit, environments, AuditEntry};

pub use scheduled::{apply_due, Due};

/// What a change request changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A flag's config in the environment.
    Flag,
    /// A segment's included and excluded keys and rules there.
    Segment,
    /// An app's bundle config there (e.g. a publish).
    Bundle,
    /// A command for a release plan there (its key is the plan's id).
    Release,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Flag => "flag",
            Subject::Segment => "segment",
            Subject::Bundle => "bundle",
            Subject::Release => "release",
        }
    }

    pub fn parse(s: &str) -> Option<Subject> {
        match s {
            "flag" => Some(Subject::Flag),
            "segment" => Some(Subject::Segment),
            "bundle" => Some(Subject::Bundle),
            "release" => Some(Subject::Release),
            _ => None,
        }
    }
}

/// A proposed document, as its subject's type (a segment's `version` is
/// the server's and ignored).
pub enum Proposed {
    Flag(FlagConfig),
    Segment(SegmentRules),
    Bundle(BundleConfig),
    Release(Step),
}

impl Proposed {
    pub fn subject(&self) -> Subject {
        match self {
            Proposed::Flag(_) => Subject::Flag,
            Proposed::Segment(_) => Subject::Segment,
            Proposed::Bundle(_) => Subject::Bundle,
            Proposed::Release(_) => Subject::Release,
        }
    }

    fn doc(&self) -> ApiResult<String> {
        match self {
            Proposed::Flag(c) => serde_json::to_string(c),
            Proposed::Segment(r) => serde_json::to_string(r),
            Proposed::Bundle(c) => serde_json::to_string(c),
            Proposed::Release(s) => serde_json::to_string(s),
        }
        .map_err(|e| ApiError::Internal(e.to_string()))
    }
}

/// The edit a flag request makes: its config in its environment (the
/// server keeps the config's version).
fn flag_edit(config: FlagConfig, env: String) -> impl FnMut(&mut StoredFlag) -> ApiResult<()> {
    move |f: &mut StoredFlag| {
        let mut config = config.clone();
        config.version = config_for(&f.flag, &env).version;
        f.flag.environments.insert(env.clone(), config);
        Ok(())
    }
}

/// A proposal checked the way its write would be, ready to write onto
/// version `base` of its subject.
enum Prepared {
    Flag(flags::PendingUpdate),
    Segment(segments::PendingUpdate),
    Bundle(bundles::PendingConfig),
    Release(Box<plans::PendingAct>),
}

/// Prepares `proposed` for `key` in `env`: checked like the write itself
/// (validation, references), refused when it changes nothing; with
/// `expected`, only onto that version of the subject (409 otherwise).
async fn prepare(
    w: &Writer<'_>,
    key: &str,
    env: &str,
    proposed: Proposed,
    expected: Option<i64>,
) -> ApiResult<(Prepared, i64)> {
    environments::get(w.db, env).await?;
    w.may_edit(env)?;
    let unchanged = || ApiError::invalid("config", "this is what it is already: nothing to change");
    match proposed {
        Proposed::Flag(config) => {
            let pending = flags::prepare(w, key, expected, &mut flag_edit(config, env.to_owned())).await?;
            if pending.changed.is_empty() {
                return Err(unchanged());
            }
            let base = pending.before.version;
            Ok((Prepared::Flag(pending), base))
        }
        Proposed::Segment(rules) => {
            let pending = segments::prepare(w, env, key, expected, |s| {
                s.rules = SegmentRules {
                    version: s.rules.version,
                    ..rules
                };
                Ok(())
            })
            .await?;
            let mut same = pending.after.rules.clone();
            same.version = pending.before.rules.version;
            if same == pending.before.rules {
                return Err(unchanged());
            }
            let base = pending.before.rules.version as i64;
            Ok((Prepared::Segment(pending), base))
        }
        Proposed::Bundle(config) => {
            let before = crate::store::bundles::get(w.db, key, env).await?;
            if let Some(expected) = expected {
                if before.version != expected {
                    return Err(ApiError::Conflict(format!(
                        "the bundle config of `{key}` in `{env}` changed since you read it"
                    )));
                }
            }
            let base = before.version;
            let pending = bundles::prepare(w, before, config).await?;
            if pending.config == pending.before.config {
                return Err(unchanged());
            }
            Ok((Prepared::Bundle(pending), base))
        }
        Proposed::Release(step) => {
            let id: i64 = key
                .parse()
                .map_err(|_| ApiError::invalid("release", "a release plan's id"))?;
            let plan = crate::store::releases::get(w.db, id).await?;
            if plan.environment != env {
                return Err(ApiError::invalid(
                    "environment",
                    format!("release plan {id} is in `{}`", plan.environment),
                ));
            }
            let pending = plans::prepare_act(w, id, step.action(), expected, w.clock.now_ms()).await?;
            Ok((Prepared::Release(Box::new(pending)), plan.version))
        }
    }
}

impl Prepared {
    /// Writes it in `tx`; the environments whose rulesets changed.
    async fn write(&self, tx: &mut Transaction<'_, Any>, w: &Writer<'_>, env: &str) -> ApiResult<Vec<String>> {
        match self {
            Prepared::Flag(pending) => {
                if !flags::write(tx, w, pending, "flag.config", Some(env)).await? {
                    return Err(ApiError::Conflict(format!(
                        "flag `{}` changed since this request was opened; open a new one on the current version",
                        pending.before.flag.key
                    )));
                }
                Ok(pending.changed.clone())
            }
            Prepared::Segment(pending) => {
                segments::write(tx, w, pending, "segment.update").await?;
                Ok(vec![env.to_owned()])
            }
            Prepared::Bundle(pending) => {
                bundles::write(tx, w, pending, "bundle.config").await?;
                Ok(vec![env.to_owned()])
            }
            Prepared::Release(act) => match plans::write_act(tx, w, act).await? {
                Written::Done => Ok(act.pending.changed.clone()),
                Written::PlanMoved | Written::FlagMoved => Err(ApiError::Conflict(format!(
                    "release plan {} or its flag changed since this request was opened",
                    act.plan.id
                ))),
            },
        }
    }
}

/// Refuses a time that is not in the future: a request scheduled for the
/// past would expire unseen at the next tick.
fn check_apply_at(w: &Writer<'_>, apply_at: Option<i64>) -> ApiResult<()> {
    match apply_at {
        Some(at) if at <= w.clock.now_ms() => Err(ApiError::invalid(
            "apply_at",
            "must be in the future (leave it out to apply by hand once approved)",
        )),
        _ => Ok(()),
    }
}

/// Proposes `proposed` for `key` in `env` against the subject's version
/// now (409 when that is not `expected`, the version the proposer read);
/// with `apply_at`, the scheduler applies it then if approved by then.
pub async fn open(
    w: &Writer<'_>,
    key: &str,
    env: &str,
    proposed: Proposed,
    comment: &str,
    apply_at: Option<i64>,
    expected: Option<i64>,
) -> ApiResult<ChangeRequest> {
    let subject = proposed.subject();
    let doc = proposed.doc()?;
    check_apply_at(w, apply_at)?;
    let (_, base_version) = prepare(w, key, env, proposed, expected).await?;
    let now = w.clock.now_ms();
    let mut tx = w.begin().await?;
    let id = rows::insert(
        &mut tx,
        &NewRequest {
            subject: subject.as_str(),
            key,
            environment: env,
            base_version,
            config: &doc,
            comment,
            author: w.actor,
            now,
            apply_at,
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

/// Proposes `proposed` for `key` in `env` against version `base` inside the
/// caller's transaction, with the writer's comment: for a batch (`daylight
/// apply`) that checked it as a whole and writes other rows with it.
pub async fn open_in(
    tx: &mut Transaction<'_, Any>,
    w: &Writer<'_>,
    env: &str,
    key: &str,
    proposed: &Proposed,
    base_version: i64,
) -> ApiResult<i64> {
    let doc = proposed.doc()?;
    let id = rows::insert(
        tx,
        &NewRequest {
            subject: proposed.subject().as_str(),
            key,
            environment: env,
            base_version,
            config: &doc,
            comment: w.comment,
            author: w.actor,
            now: w.clock.now_ms(),
            apply_at: None,
        },
    )
    .await?;
    append_audit(
        tx,
        AuditEntry {
            after: Some(doc),
            ..audit(w, "change_request.open", &id.to_string(), env)
        },
    )
    .await?;
    Ok(id)
}

pub async fn get(w: &Writer<'_>, id: i64) -> ApiResult<ChangeRequest> {
    rows::get(w.db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("change request {id}")))
}

/// The subject of a stored request.
pub fn subject_of(request: &ChangeRequest) -> ApiResult<Subject> {
    Subject::parse(&request.subject)
        .ok_or_else(|| ApiError::Internal(format!("change request {} has subject {}", request.id, request.subject)))
}

async fn open_request(w: &Writer<'_>, id: i64) -> ApiResult<ChangeRequest> {
    let request = get(w, id).await?;
    if request.state != "open" {
        return Err(ApiError::Conflict(format!("change request {id} is {}", request.state)));
    }
    Ok(request)
}

/// The author replaces the proposal (of the request's subject; `None`
/// keeps it), its comment and its time: a new revision, so earlier
/// approvals no longer count.
pub async fn revise(
    w: &Writer<'_>,
    id: i64,
    proposed: Option<Proposed>,
    comment: Option<&str>,
    apply_at: Option<i64>,
) -> ApiResult<ChangeRequest> {
    let request = open_request(w, id).await?;
    let comment = comment.unwrap_or(&request.comment).to_owned();
    if request.author != w.actor {
        return Err(ApiError::Forbidden("only its author may edit a change request".into()));
    }
    let proposed = match proposed {
        Some(p) => p,
        None => stored_proposal(&request)?,
    };
    if proposed.subject() != subject_of(&request)? {
        return Err(ApiError::invalid(
            "config",
            format!("change request {id} changes a {}", request.subject),
        ));
    }
    check_apply_at(w, apply_at)?;
    let doc = proposed.doc()?;
    prepare(w, &request.key, &request.environment, proposed, None).await?;
    let mut tx = w.begin().await?;
    let new = Revised {
        config: &doc,
        comment: &comment,
        apply_at,
    };
    if !rows::revise(&mut tx, id, request.revision, &new, w.clock.now_ms()).await? {
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

/// The proposal a stored request holds, as its subject's type.
fn stored_proposal(request: &ChangeRequest) -> ApiResult<Proposed> {
    let id = request.id;
    let unreadable = || ApiError::Internal(format!("change request {id} holds no readable proposal"));
    let doc = request.config.clone().ok_or_else(unreadable)?;
    match subject_of(request)? {
        Subject::Flag => serde_json::from_value(doc).map(Proposed::Flag),
        Subject::Segment => serde_json::from_value(doc).map(Proposed::Segment),
        Subject::Bundle => serde_json::from_value(doc).map(Proposed::Bundle),
        Subject::Release => serde_json::from_value(doc).map(Proposed::Release),
    }
    .map_err(|_| unreadable())
}

/// Applies an approved request, once across nodes, and only if its subject
/// is still at the version it was proposed against. A scheduled request is
/// the scheduler's to apply at its time (409 here).
pub async fn apply(w: &Writer<'_>, id: i64) -> ApiResult<ChangeRequest> {
    let request = open_request(w, id).await?;
    w.may_edit(&request.environment)?;
    if let Some(at) = request.apply_at {
        return Err(ApiError::Conflict(format!(
            "change request {id} is scheduled: it applies at {} if approved by then \
             (edit it without a time to apply it by hand)",
            jiff::Timestamp::from_millisecond(at).map_or_else(|_| at.to_string(), |t| format!("{t:.0}"))
        )));
    }
    let approvers = approved_enough(w, &request, None).await?;
    apply_approved(w, &request, &approvers).await?;
    get(w, id).await
}

/// The approvers of `request`'s current revision (those given by `by`, when
/// set), or 409 when they are fewer than its environment requires.
async fn approved_enough(w: &Writer<'_>, request: &ChangeRequest, by: Option<i64>) -> ApiResult<Vec<String>> {
    let required = environments::approvals_required(&w.db.pool, &request.environment).await?;
    let mut reviews = rows::reviews(w.db, request.id).await?;
    reviews.retain(|r| by.is_none_or(|by| r.at <= by));
    let approvers = approvals(request, &reviews);
    if (approvers.len() as i64) < required {
        return Err(ApiError::Conflict(format!(
            "change request {} has {} of the {required} approvals `{}` requires",
            request.id,
            approvers.len(),
            request.environment
        )));
    }
    Ok(approvers)
}

/// Writes `request` (approved by `approvers`) and settles it `applied` in
/// one transaction: 409 when another node settled it first or its subject
/// moved from the base version.
async fn apply_approved(w: &Writer<'_>, request: &ChangeRequest, approvers: &[String]) -> ApiResult<()> {
    let (id, subject) = (request.id, subject_of(request)?);
    let proposed = stored_proposal(request)?;
    let approved = Writer { approved: true, ..*w };
    let env = request.environment.clone();
    let stale = || {
        ApiError::Conflict(format!(
            "{} `{}` changed since this request was opened (version {}); open a new one on the current version",
            subject.as_str(),
            request.key,
            request.base_version
        ))
    };
    let (prepared, _) = prepare(&approved, &request.key, &env, proposed, Some(request.base_version))
        .await
        .map_err(|e| match e {
            ApiError::Conflict(_) => stale(),
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
    let changed = prepared.write(&mut tx, &applying, &env).await.map_err(|e| match e {
        ApiError::Conflict(_) => stale(),
        e => e,
    })?;
    append_audit(&mut tx, audit(w, "change_request.apply", &id.to_string(), &env)).await?;
    applying.commit(tx, &changed).await?;
    Ok(())
}

fn audit<'b>(w: &'b Writer<'_>, action: &'b str, id: &'b str, env: &'b str) -> AuditEntry<'b> {
    w.audit(action, "change_request", id, Some(env))
}
