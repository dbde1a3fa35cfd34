//! The identity tables, created by the SQL files in `migrations/`.

use sqlx::PgPool;
use sqlx::SqlSafeStr;
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};

/// Where identity's applied migrations are recorded, apart from other crates' in the same database.
pub const MIGRATIONS_TABLE: &str = "_sqlx_migrations_identity";

fn migrator() -> Migrator {
    let simple = |version, description: &'static str, sql: &'static str| {
        Migration::new(version, description.into(), MigrationType::Simple, sql.into_sql_str(), false)
    };
    let migrations = vec![
        simple(1, "users and refresh tokens", include_str!("../migrations/0001_identity.sql")),
        simple(2, "refresh-token families", include_str!("../migrations/0002_refresh_families.sql")),
    ];
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// Creates or upgrades the identity tables. Idempotent: run it at every start.
#[tracing::instrument(name = "identity.migrate", skip_all, err)]
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    migrator().run(pool).await
}

/// Applies the migrations up to `version` only: tests of what a later one does to existing rows.
#[cfg(test)]
pub(crate) async fn migrate_to(pool: &PgPool, version: i64) -> Result<(), MigrateError> {
    migrator().run_to(version, pool).await
}
