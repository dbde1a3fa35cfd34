//! A fresh PostgreSQL database per test, dropped afterwards (best-effort).

use cashflow_eventstore::PgEventStore;
use cashflow_eventstore::postgres::{create_database_if_missing, drop_database};
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::future::Future;
use uuid::Uuid;

/// The server the tests use; `CASHFLOW_TEST_POSTGRES` overrides it (ending with `/`).
pub fn server_url() -> String {
    std::env::var("CASHFLOW_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/".into())
}

pub fn new_database_url() -> String {
    format!("{}cashflow_test_{}", server_url(), Uuid::now_v7().simple())
}

pub async fn connect(url: &str) -> PgPool {
    PgPoolOptions::new().max_connections(24).connect(url).await.expect("connect to the test database")
}

/// Runs `case` on a migrated store in a database of its own, then drops the database, even
/// when the case panics (the panic is then re-raised).
pub async fn with_store<F, Fut>(case: F)
where
    F: FnOnce(PgEventStore) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let url = new_database_url();
    create_database_if_missing(&url).await.expect("create the test database");
    let pool = connect(&url).await;
    PgEventStore::migrate(&pool).await.expect("migrate");
    let result = tokio::spawn(case(PgEventStore::new(pool.clone()))).await;
    pool.close().await;
    if let Err(error) = drop_database(&url).await {
        eprintln!("could not drop {url}: {error}");
    }
    if let Err(error) = result {
        std::panic::resume_unwind(error.into_panic());
    }
}
