//! Freeze windows, the rows (SQL only). What a window means is
//! `crate::freeze`; refusing writes inside one is `writes::Writer::lock`.

use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};

use crate::error::ApiResult;
use crate::freeze::Schedule;
use crate::store::column::JsonText;

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct FreezeWindow {
    pub id: i64,
    pub environment: String,
    pub name: String,
    #[sqlx(try_from = "JsonText")]
    pub schedule: Schedule,
    pub created_by: String,
    pub created_at: i64,
}

const WINDOW: &str = "SELECT id, environment, name, schedule, created_by, created_at FROM freeze_windows";

/// An environment's windows (through the pool, or a writer's transaction).
pub async fn of<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    environment: &str,
) -> ApiResult<Vec<FreezeWindow>> {
    Ok(sqlx::query_as(&format!("{WINDOW} WHERE environment = $1 ORDER BY id"))
        .bind(environment)
        .fetch_all(executor)
        .await?)
}

pub async fn insert(
    tx: &mut Transaction<'_, Any>,
    environment: &str,
    name: &str,
    schedule: &str,
    created_by: &str,
    created_at: i64,
) -> ApiResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO freeze_windows (environment, name, schedule, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(environment)
    .bind(name)
    .bind(schedule)
    .bind(created_by)
    .bind(created_at)
    .fetch_one(&mut **tx)
    .await?)
}

pub async fn delete(tx: &mut Transaction<'_, Any>, environment: &str, id: i64) -> ApiResult<bool> {
    let n = sqlx::query("DELETE FROM freeze_windows WHERE environment = $1 AND id = $2")
        .bind(environment)
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(n > 0)
}
