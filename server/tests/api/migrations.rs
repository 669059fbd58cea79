//! The SQLite and PostgreSQL migrations (`migrations/sqlite`,
//! `migrations/postgres`, kept in step by hand) define the same tables with
//! the same columns: sqlx `Any` runs one set of queries on both.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{Connection, Row};

use crate::harness::{self, spawn_app, Backend};

type Tables = BTreeMap<String, BTreeSet<String>>;

/// Every table the migrations made (sqlx's own bookkeeping left out) and its
/// column names, read from the database of a freshly started server.
async fn tables(backend: Backend) -> Tables {
    let app = spawn_app(backend).await;
    let mut conn = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .expect("connect to the migrated database");
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'"
        }
        Backend::Postgres => {
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'"
        }
    };
    let mut tables = Tables::new();
    for row in sqlx::query(sql).fetch_all(&mut conn).await.expect("list columns") {
        let (table, column): (String, String) = (row.get("t"), row.get("c"));
        tables.entry(table).or_default().insert(column);
    }
    tables
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_migrations_define_the_same_tables_and_columns() {
    if std::env::var("DAYLIGHT_TEST_POSTGRES_URL").is_err() {
        harness::skip("it needs PostgreSQL (DAYLIGHT_TEST_POSTGRES_URL is not set)");
        return;
    }
    let sqlite = tables(Backend::Sqlite).await;
    let postgres = tables(Backend::Postgres).await;
    assert!(
        sqlite.contains_key("flags") && sqlite.contains_key("changes"),
        "{sqlite:?}"
    );
    let names = |t: &Tables| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&sqlite),
        names(&postgres),
        "tables: SQLite (left) and PostgreSQL (right)"
    );
    for (table, columns) in &sqlite {
        assert_eq!(
            columns, &postgres[table],
            "columns of `{table}`: SQLite (left) and PostgreSQL (right)"
        );
    }
}
