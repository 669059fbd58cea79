//! Keeping a node's memory (`live`) up to the database's change log: after
//! every commit, on a notification from another node, or by polling. Reads
//! the rows after the version in memory and applies them; when they cannot
//! be applied (a gap it cannot bridge, a corrupt row, too far behind) it
//! reloads the environment whole.

use sqlx::{Any, Transaction};

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::live::{CatchingUp, Live};
use crate::store;

/// How many change rows one catch-up reads before it reloads instead.
const CATCH_UP_LIMIT: i64 = 1_000;

/// Every environment, loaded at start.
pub async fn load(db: &Db) -> ApiResult<Live> {
    let live = Live::new();
    for env in store::environments::list(db).await? {
        let guard = live.catching_up().await;
        reload(db, &live, &guard, &env.key).await?;
    }
    Ok(live)
}

/// After a commit on this node: catch up, and tell the other nodes.
pub async fn committed(db: &Db, live: &Live, environments: &[String]) {
    catch_up_all(db, live, environments).await;
    live.wrote(environments);
}

/// Brings each environment up to the database's change log.
pub async fn catch_up_all(db: &Db, live: &Live, environments: &[String]) {
    for env in environments {
        if let Err(e) = catch_up(db, live, env).await {
            tracing::warn!(environment = %env, error = %e, "catch-up failed; will retry on the next change");
        }
    }
}

pub async fn catch_up(db: &Db, live: &Live, environment: &str) -> ApiResult<()> {
    catch_up_through(db, live, None, environment).await
}

/// [`catch_up`], reading the change log inside `tx` (a writer holding the
/// environment's row lock).
pub async fn catch_up_in(db: &Db, live: &Live, tx: &mut Transaction<'_, Any>, environment: &str) -> ApiResult<()> {
    catch_up_through(db, live, Some(tx), environment).await
}

async fn catch_up_through(
    db: &Db,
    live: &Live,
    tx: Option<&mut Transaction<'_, Any>>,
    environment: &str,
) -> ApiResult<()> {
    let guard = live.catching_up().await;
    let Some(ruleset) = live.get(environment) else {
        return reload(db, live, &guard, environment).await;
    };
    let after = ruleset.version() as i64;
    let changes = match tx {
        Some(tx) => store::changes_after_in(tx, environment, after, CATCH_UP_LIMIT).await?,
        None => store::changes_after(db, environment, after, CATCH_UP_LIMIT).await?,
    };
    apply_or_reload(db, live, &guard, environment, changes).await
}

async fn apply_or_reload(
    db: &Db,
    live: &Live,
    guard: &CatchingUp<'_>,
    environment: &str,
    changes: Vec<store::Change>,
) -> ApiResult<()> {
    if changes.len() as i64 == CATCH_UP_LIMIT {
        return reload(db, live, guard, environment).await;
    }
    if let Err(unapplied) = live.apply(guard, environment, changes) {
        tracing::warn!(
            environment,
            version = unapplied.version,
            "could not apply a change; reloading"
        );
        return reload(db, live, guard, environment).await;
    }
    Ok(())
}

async fn reload(db: &Db, live: &Live, guard: &CatchingUp<'_>, environment: &str) -> ApiResult<()> {
    let doc = store::snapshot::read(db, environment).await?;
    let ruleset = daylight::Ruleset::compile(&doc)
        .map_err(|e| ApiError::Internal(format!("stored rules of `{environment}` do not compile: {e}")))?;
    let bundles = store::bundles::configs_of(db, environment).await?;
    live.replace(guard, environment, ruleset, bundles);
    Ok(())
}
