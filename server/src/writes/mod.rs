//! Every write, one shape: a validated command → one transaction → lock the
//! environments it touches → catch this node's memory up → cross-flag
//! checks against that memory → store rows, change log and audit → commit
//! → `committed` (memory, streams and the other nodes). `store` holds the
//! SQL; `live` holds memory; this layer is the only one that knows both.

pub mod bundles;
pub mod change_requests;
pub mod cohorts;
pub mod credentials;
pub mod environments;
pub mod flagfile;
pub mod flagfile_approvals;
pub mod flags;
pub mod freezes;
pub mod owned;
pub mod people;
pub mod promote;
pub mod releases;
pub mod schedule;
pub mod segments;
pub mod served;
pub mod webhooks;

use sqlx::{Any, Transaction};

use crate::catch_up;
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::live::Live;
use crate::store::AuditEntry;

/// Everything a write needs: where it goes, who makes it and why.
#[derive(Clone, Copy)]
pub struct Writer<'a> {
    pub db: &'a Db,
    /// Caught up after the commit, so the writer's next read sees the change.
    pub live: &'a Live,
    pub actor: &'a str,
    pub comment: &'a str,
    /// What freeze windows are checked against (a manual clock in tests).
    pub clock: &'a dyn crate::clock::Clock,
    /// The write carries its approvals (an approved change request, or a
    /// release plan's own step): environments that require approvals take
    /// it. Otherwise only the kill switch goes through there.
    pub approved: bool,
    /// The person or token writing, whose role is checked in each
    /// environment the write touches; `None` for the server's own writes
    /// (the scheduler, the release guard, sign-in).
    pub caller: Option<&'a crate::auth::Admin>,
}

impl<'a> Writer<'a> {
    /// This writer on behalf of `caller`, whose role is checked per environment.
    pub fn by(self, caller: &'a crate::auth::Admin) -> Writer<'a> {
        Writer {
            caller: Some(caller),
            ..self
        }
    }

    /// Refuses (403 naming the role and the environment) unless the caller
    /// is an editor in `environment`. Every write to an environment checks
    /// this: those that lock it in [`Writer::lock`], the others (bundles,
    /// plans, scheduled changes, reviews) before they write.
    pub fn may_edit(&self, environment: &str) -> ApiResult<()> {
        match self.caller {
            Some(caller) => caller.require_in(environment, crate::auth::Role::Editor),
            None => Ok(()),
        }
    }

    /// A write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then
    /// writes fails at once with "database is locked" when another
    /// connection wrote in between (the busy timeout cannot wait that out),
    /// and background writers (usage, browser counts) write every second.
    pub async fn begin(&self) -> ApiResult<Transaction<'static, Any>> {
        Ok(match self.db.backend {
            crate::db::Backend::Sqlite => self.db.pool.begin_with("BEGIN IMMEDIATE").await?,
            crate::db::Backend::Postgres => self.db.pool.begin().await?,
        })
    }

    /// Locks the rows of `environments` for the rest of `tx` and brings the
    /// node's memory of them up to the database, read through `tx`.
    ///
    /// Writes to one environment queue on its row, so from here until the
    /// commit no other node can change these environments, and every change
    /// committed before is in memory: checks that span flags and segments
    /// (prerequisites, cycles, segments in use) then see exactly the state
    /// the write applies to, even on a node that missed notifications.
    ///
    /// A caller who is not an editor in each of them is refused first
    /// (403). An environment in a freeze window refuses the write (423
    /// `frozen`); only [`Writer::lock_for_kill_switch`] goes through.
    pub async fn lock(&self, tx: &mut Transaction<'_, Any>, environments: &[String]) -> ApiResult<()> {
        self.lock_all(tx, environments).await?;
        let now = self.clock.now_ms();
        for env in environments {
            for window in crate::store::freezes::of(&mut **tx, env).await? {
                if window.schedule.compile().is_ok_and(|w| w.covers(now)) {
                    return Err(ApiError::Frozen(format!(
                        "`{env}` is in the freeze window `{}`: only turning flags off goes through until it ends",
                        window.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// Refuses (409 `approval_required`) a write to `environment` where it
    /// requires approvals, unless the write carries them ([`Writer::approved`]).
    /// `also` ends the message (what else may go through).
    pub async fn check_approvals(&self, tx: &mut Transaction<'_, Any>, environment: &str, also: &str) -> ApiResult<()> {
        if self.approved {
            return Ok(());
        }
        let required = crate::store::environments::approvals_required(&mut **tx, environment).await?;
        if required > 0 {
            return Err(ApiError::ApprovalRequired(format!(
                "`{environment}` requires {required} approval(s): propose this change as a change request \
                 (POST /api/v1/change-requests){also}"
            )));
        }
        Ok(())
    }

    /// [`Writer::lock`] for a write that only turns flags off: it goes
    /// through freeze windows.
    pub async fn lock_for_kill_switch(&self, tx: &mut Transaction<'_, Any>, environments: &[String]) -> ApiResult<()> {
        self.lock_all(tx, environments).await
    }

    /// Locks `environments` and catches up, without the freeze check: for
    /// writes freeze windows do not gate (bundle configs, creating a flag)
    /// that must still be ordered with cohort writes.
    pub async fn lock_rows(&self, tx: &mut Transaction<'_, Any>, environments: &[String]) -> ApiResult<()> {
        self.lock_all(tx, environments).await
    }

    async fn lock_all(&self, tx: &mut Transaction<'_, Any>, environments: &[String]) -> ApiResult<()> {
        for env in environments {
            self.may_edit(env)?;
        }
        let mut sorted = environments.to_vec();
        // One order for every writer, so two never wait on each other.
        sorted.sort();
        sorted.dedup();
        crate::store::lock_environments(tx, &sorted).await?;
        for env in &sorted {
            catch_up::catch_up_in(self.db, self.live, tx, env).await?;
        }
        Ok(())
    }

    /// Commits `tx`, then brings memory, streams and other nodes up to it.
    pub async fn commit(&self, tx: Transaction<'_, Any>, environments: &[String]) -> ApiResult<()> {
        tx.commit().await?;
        catch_up::committed(self.db, self.live, environments).await;
        Ok(())
    }

    /// An audit entry by this writer.
    pub fn audit<'b>(
        &'b self,
        action: &'b str,
        resource_kind: &'b str,
        resource_key: &'b str,
        environment: Option<&'b str>,
    ) -> AuditEntry<'b> {
        AuditEntry {
            actor: self.actor,
            action,
            resource_kind,
            resource_key,
            environment,
            before: None,
            after: None,
            comment: self.comment,
            kill_switch: false,
            // Writes of these kinds append a change before their entry.
            follows_change: matches!(resource_kind, "flag" | "segment" | "bundle"),
        }
    }
}
