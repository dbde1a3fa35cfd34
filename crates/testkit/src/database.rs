//! A PostgreSQL database of a test's own: a unique name, created, and dropped on drop.

use cashflow_eventstore::postgres::{create_database_if_missing, drop_database};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;
use uuid::Uuid;

/// The server tests use, as a URL ending in `/`: `CASHFLOW_TEST_POSTGRES`, or the local one.
pub fn server_url() -> String {
    std::env::var("CASHFLOW_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/".into())
}

/// A database no other test uses. Dropping it drops the database, sessions and all (best
/// effort, also when the test panics). Migrations are the caller's: each crate owns its own.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    name: String,
}

impl TestDatabase {
    /// A new database on [`server_url`].
    pub async fn create() -> Self {
        Self::create_on(&server_url(), "cashflow_test").await
    }

    /// A new database `<prefix>_<uuid>` on `server` (a URL ending in `/`): benches pick both.
    pub async fn create_on(server: &str, prefix: &str) -> Self {
        let database = Self::named(server, prefix);
        create_database_if_missing(&database.url).await.expect("create the test database");
        database
    }

    /// A unique name on [`server_url`], not created: for a process that creates its database
    /// itself, as the binary does at start-up, or a test of that creation. Dropped all the same.
    pub fn reserve() -> Self {
        Self::named(&server_url(), "cashflow_test")
    }

    fn named(server: &str, prefix: &str) -> Self {
        let name = format!("{prefix}_{}", Uuid::now_v7().simple());
        Self { url: format!("{server}{name}"), name }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A pool of at most `max_connections` on this database.
    pub async fn pool(&self, max_connections: u32) -> PgPool {
        connect(&self.url, max_connections).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let url = std::mem::take(&mut self.url);
        crate::clean_up(async move {
            if let Err(error) = drop_database(&url).await {
                eprintln!("testkit: could not drop {url}: {error}");
            }
        });
    }
}

/// A pool of at most `max_connections` on the database at `url`.
pub async fn connect(url: &str, max_connections: u32) -> PgPool {
    PgPoolOptions::new().max_connections(max_connections).connect(url).await.expect("connect to the test database")
}

/// A pool on port 1 of the loopback, where nothing listens: every acquire fails within 2 s.
pub fn unreachable_pool() -> PgPool {
    PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy("postgres://postgres@127.0.0.1:1/nothing")
        .expect("a valid URL")
}
