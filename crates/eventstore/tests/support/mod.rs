//! A fresh PostgreSQL database per test, from the test kit, dropped afterwards.

use cashflow_eventstore::PgEventStore;
use cashflow_testkit::TestDatabase;
use std::future::Future;

/// Connections for the concurrency tests' writers.
pub const CONNECTIONS: u32 = 24;

/// Runs `case` on a migrated store in a database of its own, then drops the database, even
/// when the case panics (the panic is then re-raised).
pub async fn with_store<F, Fut>(case: F)
where
    F: FnOnce(PgEventStore) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let database = TestDatabase::create().await;
    let pool = database.pool(CONNECTIONS).await;
    PgEventStore::migrate(&pool).await.expect("migrate");
    let result = tokio::spawn(case(PgEventStore::new(pool.clone()))).await;
    pool.close().await;
    drop(database);
    if let Err(error) = result {
        std::panic::resume_unwind(error.into_panic());
    }
}
