//! The PostgreSQL pool, and the migrations of every crate that owns tables.

use crate::config::Config;
use anyhow::Context;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;
use std::time::Duration;

/// A session that sits idle inside a transaction holds locks every writer and reader may wait
/// on (ADR 0001): PostgreSQL ends it after this long.
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "15s";

/// Creates the database if it does not exist, connects, and runs every migration. Safe to run
/// from several processes at once.
#[tracing::instrument(name = "database.prepare", skip_all, err)]
pub async fn prepare(config: &Config) -> anyhow::Result<PgPool> {
    cashflow_eventstore::postgres::create_database_if_missing(&config.database_url)
        .await
        .context("creating the database")?;
    let pool = connect(config).await?;
    cashflow_eventstore::PgEventStore::migrate(&pool).await.context("event store migrations")?;
    cashflow_projection::migrate(&pool).await.context("projection checkpoint migrations")?;
    cashflow_bus::migrate(&pool).await.context("bus migrations")?;
    cashflow_projection_ledger::migrate(&pool).await.context("ledger migrations")?;
    cashflow_projection_invoices::migrate(&pool).await.context("invoices migrations")?;
    cashflow_projection_search::migrate(&pool).await.context("search migrations")?;
    cashflow_projection_notifications::migrate(&pool).await.context("notifications migrations")?;
    cashflow_projection_reports::migrate(&pool).await.context("reports migrations")?;
    cashflow_identity::migrate(&pool).await.context("identity migrations")?;
    Ok(pool)
}

/// Connects to a database `cashflow migrate` has prepared, running no DDL (`serve --no-migrate`).
/// Refuses a database without the event store, which would fail every call later.
#[tracing::instrument(name = "database.connect_existing", skip_all, err)]
pub async fn connect_existing(config: &Config) -> anyhow::Result<PgPool> {
    let pool = connect(config).await?;
    let migrated: bool = sqlx::query_scalar("SELECT to_regclass('events') IS NOT NULL")
        .fetch_one(&pool)
        .await
        .context("checking for the event store's tables")?;
    anyhow::ensure!(
        migrated,
        "the database has no event store tables: run `cashflow migrate` first (serve --no-migrate runs no DDL)"
    );
    Ok(pool)
}

/// The pool every role of this process shares.
pub async fn connect(config: &Config) -> anyhow::Result<PgPool> {
    let options = connect_options(&config.database_url)?;
    cashflow_eventstore::postgres::pool_options()
        .max_connections(config.db_max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL")
}

/// [`cashflow_eventstore::postgres::connect_options`] (no TLS to a loopback host unless the URL
/// asks, ADR 0008), named `cashflow`, with the idle-in-transaction timeout.
pub(crate) fn connect_options(url: &str) -> anyhow::Result<PgConnectOptions> {
    Ok(cashflow_eventstore::postgres::connect_options(url)
        .context("CASHFLOW_DATABASE_URL is not a PostgreSQL URL")?
        .application_name("cashflow")
        .options([("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION_TIMEOUT)]))
}
