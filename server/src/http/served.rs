//! Nothing destructive by surprise: archiving or deleting a flag that any
//! environment still serves (on, or evaluated in the last 7 days per the
//! usage reports) needs the flag's key typed back (`X-Confirm`) and a
//! comment (`X-Audit-Comment`); otherwise 409 `confirmation_required`, naming
//! where it is served (docs/people.md).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::clock::Clock;
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::store::flags::StoredFlag;
use crate::store::{environments, usage};

/// How recent an evaluation counts as "still served".
const RECENT_MS: i64 = 7 * 24 * 3_600_000;

/// The `X-Confirm` header: the key of the flag a destructive write names.
pub struct Confirm(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Confirm {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> ApiResult<Self> {
        Ok(Confirm(
            parts
                .headers
                .get("x-confirm")
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_owned()),
        ))
    }
}

/// Where the flag is served: `production (on)`, `staging (evaluated in the
/// last 7 days)`.
async fn served_in(db: &Db, clock: &dyn Clock, stored: &StoredFlag) -> ApiResult<Vec<String>> {
    let since = clock.now_ms() - RECENT_MS;
    let mut served = Vec::new();
    for env in environments::list(db).await? {
        let on = stored.flag.environments.get(&env.key).is_some_and(|c| c.on);
        let evaluated = usage::last_evaluated(db, &env.key)
            .await?
            .get(&stored.flag.key)
            .is_some_and(|at| *at >= since);
        match (on, evaluated) {
            (true, _) => served.push(format!("{} (on)", env.key)),
            (false, true) => served.push(format!("{} (evaluated in the last 7 days)", env.key)),
            _ => {}
        }
    }
    Ok(served)
}

/// Refuses to `what` ("archive", "delete") a served flag unless the caller
/// typed its key back and said why.
pub async fn confirm_destructive(
    db: &Db,
    clock: &dyn Clock,
    stored: &StoredFlag,
    confirm: &Confirm,
    comment: &str,
    what: &str,
) -> ApiResult<()> {
    if stored.archived && what == "archive" {
        return Ok(());
    }
    let served = served_in(db, clock, stored).await?;
    if served.is_empty() {
        return Ok(());
    }
    let key = &stored.flag.key;
    if confirm.0.as_deref() == Some(key.as_str()) && !comment.trim().is_empty() {
        return Ok(());
    }
    Err(ApiError::ConfirmationRequired(format!(
        "flag `{key}` is still served in {}: SDKs would fall back to their code defaults. \
         To {what} it anyway, send its key in X-Confirm and say why in X-Audit-Comment",
        served.join(", ")
    )))
}
