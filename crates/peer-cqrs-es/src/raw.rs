//! Raw single-row INSERT transactions: what PostgreSQL does with one autocommitted INSERT per
//! operation and nothing else. The table and the statement are those of the `append` bench of
//! `cashflow-eventstore` (a copy of the store's `events` table, every index included), so the
//! two figures agree.

use crate::database::BenchDatabase;
use crate::load::{self, Outcome, Report};
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// The event store's migrations, in order, from the store's own crate: the copy below is
/// `LIKE events INCLUDING ALL`, so it has whatever columns, constraints and indexes they give.
const MIGRATIONS: [&str; 3] = [
    include_str!("../../eventstore/migrations/0001_event_store.sql"),
    include_str!("../../eventstore/migrations/0002_global_chain.sql"),
    include_str!("../../eventstore/migrations/0003_owner_history.sql"),
];

/// As `raw_insert` in `crates/eventstore/benches/append.rs`.
const INSERT: &str = "INSERT INTO bench_raw (position, event_id, stream_id, version, event_type, schema_version, \
     payload, owner, command_id, correlation_id, causation_id, traceparent, recorded_at, hash) \
     VALUES (nextval('bench_raw_position'), $1, $2, 1, $3, 1, $4, $5, $6, $7, NULL, NULL, now(), $8)";

pub async fn run(server: &str, duration: Duration, concurrency: usize, pool_size: u32) -> Result<Report, sqlx::Error> {
    let database = BenchDatabase::create(server, "raw").await?;
    let result = measure(&database, duration, concurrency, pool_size).await;
    database.drop_database().await?;
    result
}

async fn measure(
    database: &BenchDatabase,
    duration: Duration,
    concurrency: usize,
    pool_size: u32,
) -> Result<Report, sqlx::Error> {
    let pool = database.pool(pool_size).await?;
    for migration in MIGRATIONS {
        sqlx::raw_sql(migration).execute(&pool).await?;
    }
    sqlx::query("CREATE TABLE bench_raw (LIKE events INCLUDING ALL)").execute(&pool).await?;
    sqlx::query("CREATE SEQUENCE bench_raw_position").execute(&pool).await?;

    let mut report = load::run("raw INSERT", concurrency, pool.options().get_max_connections(), duration, {
        let pool = pool.clone();
        move |_, n| {
            let pool = pool.clone();
            async move {
                match insert(&pool, n).await {
                    Ok(()) => Outcome::Ok,
                    Err(error) => Outcome::Failed(error.to_string()),
                }
            }
        }
    })
    .await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM bench_raw").fetch_one(&pool).await?;
    report.extra = json!({ "rows": rows });
    pool.close().await;
    Ok(report)
}

/// One autocommitted INSERT of a row shaped like a stored single-event append, with the payload
/// of `cashflow_eventstore::contract::new_events`.
async fn insert(pool: &PgPool, n: u64) -> Result<(), sqlx::Error> {
    let payload = json!({"name": format!("name {n}"), "amount": "12.50", "nested": {"z": [1, 2.5, null], "a": true}});
    sqlx::query(INSERT)
        .bind(Uuid::now_v7())
        .bind(format!("account-{}", Uuid::now_v7()))
        .bind("AccountRenamed")
        .bind(payload)
        .bind(Uuid::now_v7())
        .bind(Uuid::now_v7())
        .bind(Uuid::now_v7())
        .bind(vec![7u8; 32])
        .execute(pool)
        .await?;
    Ok(())
}
