//! Setting the database up: connection settings, creating and dropping databases, and this
//! store's migrations.

use super::PgEventStore;
use super::rows::map_sqlx;
use crate::StoreError;
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgSslMode};
use sqlx::{AssertSqlSafe, Connection, Row, SqlSafeStr};
use std::borrow::Cow;
use std::str::FromStr;

const MIGRATIONS: [(i64, &str, &str); 4] = [
    (1, "event store", include_str!("../../migrations/0001_event_store.sql")),
    (2, "global chain", include_str!("../../migrations/0002_global_chain.sql")),
    (3, "owner history", include_str!("../../migrations/0003_owner_history.sql")),
    (4, "stream guards", include_str!("../../migrations/0004_stream_guards.sql")),
];

/// The table where this crate's applied migrations are tracked, apart from other crates'.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations_eventstore";

impl PgEventStore {
    /// Creates or upgrades this store's tables. Idempotent, and safe to run from several
    /// processes at once: the migrator holds an advisory lock while it works.
    #[tracing::instrument(name = "eventstore.migrate", skip(pool), err)]
    pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
        let migrations = MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(version, Cow::Borrowed(description), MigrationType::Simple, sql.into_sql_str(), false)
            })
            .collect();
        let mut migrator = Migrator::with_migrations(migrations);
        migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
        migrator.run(pool).await.map_err(|error| match error {
            MigrateError::Execute(error) | MigrateError::ExecuteMigration(error, _) => map_sqlx(error),
            other => StoreError::Corrupt(format!("event store migrations: {other}")),
        })
    }
}

/// The connection settings of `url`. A URL naming a loopback host and no `sslmode` connects
/// without TLS: sqlx's default (`prefer`) negotiates TLS with any server that has it, and on
/// loopback that protects nothing yet cut end-to-end commands by more than half (BENCHMARKS.md,
/// ADR 0008). Any other host, or an explicit `sslmode`, is left as the URL says.
pub fn connect_options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?;
    let loopback = match options.get_host() {
        "localhost" => true,
        host => host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()),
    };
    if loopback && !url.to_ascii_lowercase().contains("sslmode=") {
        return Ok(options.ssl_mode(PgSslMode::Disable));
    }
    Ok(options)
}

/// Pool settings for every pool of this project: no ping before each statement. sqlx's
/// `test_before_acquire` costs a round trip per statement; a connection that died idle fails
/// its next statement instead, which callers handle as `Unavailable` (safe to retry with the
/// same command id).
pub fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new().test_before_acquire(false)
}

/// Creates the database named in `url` unless it exists, connecting to the `postgres`
/// maintenance database on the same server. Tolerates another process creating it meanwhile.
#[tracing::instrument(name = "eventstore.create_database", skip(url), err)]
pub async fn create_database_if_missing(url: &str) -> Result<(), StoreError> {
    let (mut conn, name) = maintenance_connection(url).await?;
    let exists: bool = sqlx::query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
        .bind(&name)
        .fetch_one(&mut conn)
        .await
        .and_then(|row| row.try_get("exists"))
        .map_err(map_sqlx)?;
    if !exists {
        let created =
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {}", quote_identifier(&name)))).execute(&mut conn).await;
        match created {
            Ok(_) => {}
            // 42P04: duplicate_database; 23505: a concurrent CREATE won the catalog's unique index.
            Err(sqlx::Error::Database(error)) if matches!(error.code().as_deref(), Some("42P04" | "23505")) => {}
            Err(error) => return Err(map_sqlx(error)),
        }
    }
    // Best-effort: the server drops the session either way.
    let _ = conn.close().await;
    Ok(())
}

/// Drops the database named in `url`, disconnecting its sessions. For tests.
#[tracing::instrument(name = "eventstore.drop_database", skip(url), err)]
pub async fn drop_database(url: &str) -> Result<(), StoreError> {
    let (mut conn, name) = maintenance_connection(url).await?;
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_identifier(&name))))
        .execute(&mut conn)
        .await
        .map_err(map_sqlx)?;
    let _ = conn.close().await;
    Ok(())
}

async fn maintenance_connection(url: &str) -> Result<(PgConnection, String), StoreError> {
    let options =
        connect_options(url).map_err(|error| StoreError::Unavailable(format!("invalid database url: {error}")))?;
    let name = options
        .get_database()
        .ok_or_else(|| StoreError::Unavailable("the database url names no database".into()))?
        .to_owned();
    let conn = PgConnection::connect_with(&options.database("postgres")).await.map_err(map_sqlx)?;
    Ok((conn, name))
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_without_an_sslmode_skips_tls_and_anything_else_is_kept() {
        let mode = |url| connect_options(url).unwrap().get_ssl_mode();
        assert!(matches!(mode("postgres://postgres@127.0.0.1:5432/cashflow"), PgSslMode::Disable));
        assert!(matches!(mode("postgres://postgres@localhost/cashflow"), PgSslMode::Disable));
        assert!(matches!(mode("postgres://postgres@[::1]:5432/cashflow"), PgSslMode::Disable));
        assert!(matches!(mode("postgres://postgres@127.0.0.1/cashflow?sslmode=require"), PgSslMode::Require));
        assert!(matches!(mode("postgres://postgres@db.internal:5432/cashflow"), PgSslMode::Prefer));
        assert!(matches!(mode("postgres://postgres@10.0.0.7/cashflow"), PgSslMode::Prefer));
    }
}
