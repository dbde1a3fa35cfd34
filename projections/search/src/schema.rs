//! The search view's tables and extensions, created by the SQL files in `migrations/`.

use sqlx::PgPool;
use sqlx::SqlSafeStr;
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};

/// Where this crate's applied migrations are recorded, apart from other crates' in the same database.
pub const MIGRATIONS_TABLE: &str = "_sqlx_migrations_search";

fn migrator() -> Migrator {
    let simple = |version, description: &'static str, sql: &'static str| {
        Migration::new(version, description.into(), MigrationType::Simple, sql.into_sql_str(), false)
    };
    let migrations = vec![simple(1, "search view", include_str!("../migrations/0001_search.sql"))];
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// Creates or upgrades the search view. Idempotent: run it at every start. Creating the
/// extensions needs a role that may (a superuser, or the database's owner: all three are
/// trusted extensions since PostgreSQL 13).
#[tracing::instrument(name = "search.migrate", skip_all, err)]
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    migrator().run(pool).await
}
