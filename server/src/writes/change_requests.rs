//! Change requests: where an environment requires approvals, a change there
//! (a flag's config, a segment's keys and rules, an app's bundle config) is
//! proposed, reviewed by other people and applied once approved, and only
//! onto the version it was proposed against (docs/people.md). Turning flags
//! off never waits (the kill switch).
//!
//! What differs between subjects is only how a proposal is read, checked
//! and written ([`Proposed`]); opening, revising, reviewing and applying
//! once are the same for all.

use daylight::model::{FlagConfig, SegmentRules};
use sqlx::{Any, Transaction};

use super::{bundles, flags, segments, Writer};
use crate::bundles::BundleConfig;
use crate::error::{ApiError, ApiResult};
use crate::store::change_requests::{self as rows, ChangeRequest, NewRequest};
use crate::store::flags::{config_for, StoredFlag};
use crate::store::{append_audit, environments, AuditEntry};

/// What a change request changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A flag's config in the environment.
    Flag,
    /// A segment's included and excluded keys and rules there.
    Segment,
    /// An app's bundle config there (e.g. a publish).
    Bundle,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Flag => "flag",
            Subject::Segment => "segment",
            Subject::Bundle => "bundle",
        }
    }

    pub fn parse(s: &str) -> Option<Subject> {
        match s {
            "flag" => Some(Subject::Flag),
            "segment" => Some(Subject::Segment),
            "bundle" => Some(Subject::Bundle),
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
}

impl Proposed {
    fn subject(&self) -> Subject {
        match self {
            Proposed::Flag(_) => Subject::Flag,
            Proposed::Segment(_) => Subject::Segment,
            Proposed::Bundle(_) => Subject::Bundle,
        }
    }

    fn doc(&self) -> ApiResult<String> {
        match self {
            Proposed::Flag(c) => serde_json::to_string(c),
            Proposed::Segment(r) => serde_json::to_string(r),
            Proposed::Bundle(c) => serde_json::to_string(c),
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
        }
    }
}

/// Proposes `proposed` for `key` in `env` against the subject's version now.
pub async fn open(w: &Writer<'_>, key: &str, env: &str, proposed: Proposed, comment: &str) -> ApiResult<ChangeRequest> {
    let subject = proposed.subject();
    let doc = proposed.doc()?;
    let (_, base_version) = prepare(w, key, env, proposed, None).await?;
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

/// The author replaces the proposal (of the request's subject): a new
/// revision, so earlier approvals no longer count.
pub async fn revise(w: &Writer<'_>, id: i64, proposed: Proposed, comment: &str) -> ApiResult<ChangeRequest> {
    let request = open_request(w, id).await?;
    if request.author != w.actor {
        return Err(ApiError::Forbidden("only its author may edit a change request".into()));
    }
    if proposed.subject() != subject_of(&request)? {
        return Err(ApiError::invalid(
            "config",
            format!("change request {id} changes a {}", request.subject),
        ));
    }
    let doc = proposed.doc()?;
    prepare(w, &request.key, &request.environment, proposed, None).await?;
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

/// Applies an approved request, once across nodes, and only if its subject
/// is still at the version it was proposed against.
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
    let subject = subject_of(&request)?;
    let unreadable = || ApiError::Internal(format!("change request {id} holds no readable proposal"));
    let doc = request.config.clone().ok_or_else(unreadable)?;
    let proposed = match subject {
        Subject::Flag => serde_json::from_value(doc).map(Proposed::Flag),
        Subject::Segment => serde_json::from_value(doc).map(Proposed::Segment),
        Subject::Bundle => serde_json::from_value(doc).map(Proposed::Bundle),
    }
    .map_err(|_| unreadable())?;
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
    get(w, id).await
}

fn audit<'b>(w: &'b Writer<'_>, action: &'b str, id: &'b str, env: &'b str) -> AuditEntry<'b> {
    w.audit(action, "change_request", id, Some(env))
}
