//! Every write, one shape: a validated command → one transaction → lock the
//! environments it touches → catch this node's memory up → cross-flag
//! checks against that memory → store rows, change log and audit → commit
//! → `committed` (memory, streams and the other nodes). `store` holds the
//! SQL; `live` holds memory; this layer is the only one that knows both.

pub mod bundles;
pub mod change_requests;
pub mod credentials;
pub mod environments;
pub mod flagfile;
pub mod flags;
pub mod freezes;
pub mod people;
pub mod releases;
pub mod schedule;
pub mod segments;
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
}

impl Writer<'_> {
    pub async fn begin(&self) -> ApiResult<Transaction<'static, Any>> {
        Ok(self.db.pool.begin().await?)
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
    /// An environment in a freeze window refuses the write (423 `frozen`);
    /// only [`Writer::lock_for_kill_switch`] goes through.
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

    /// [`Writer::lock`] for a write that only turns flags off: it goes
    /// through freeze windows.
    pub async fn lock_for_kill_switch(&self, tx: &mut Transaction<'_, Any>, environments: &[String]) -> ApiResult<()> {
        self.lock_all(tx, environments).await
    }

    async fn lock_all(&self, tx: &mut Transaction<'_, Any>, environments: &[String]) -> ApiResult<()> {
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
        }
    }
}
