//! The reports read model's table, created by the SQL files in `migrations/`.

use sqlx::PgPool;
use sqlx::SqlSafeStr;
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};

/// Where this crate's applied migrations are recorded, apart from other crates' in the same database.
pub const MIGRATIONS_TABLE: &str = "_sqlx_migrations_reports";

fn migrator() -> Migrator {
    let migration = Migration::new(
        1,
        "reports read model".into(),
        MigrationType::Simple,
        include_str!("../migrations/0001_reports.sql").into_sql_str(),
        false,
    );
    let mut migrator = Migrator::with_migrations(vec![migration]);
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// Creates or upgrades the table. Idempotent: run it at every start.
#[tracing::instrument(name = "reports.migrate", skip_all, err)]
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    migrator().run(pool).await
}
