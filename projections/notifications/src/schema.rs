//! The notifications read model's tables, created by the SQL files in `migrations/`.

use sqlx::PgPool;
use sqlx::SqlSafeStr;
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};

/// Where this crate's applied migrations are recorded, apart from other crates' in the same database.
pub const MIGRATIONS_TABLE: &str = "_sqlx_migrations_notifications";

fn migrator() -> Migrator {
    let simple = |version, description: &'static str, sql: &'static str| {
        Migration::new(version, description.into(), MigrationType::Simple, sql.into_sql_str(), false)
    };
    let migrations = vec![
        simple(1, "notifications read model", include_str!("../migrations/0001_notifications.sql")),
        // CREATE INDEX CONCURRENTLY cannot run in a transaction.
        Migration::new(
            2,
            "settled deliveries by age".into(),
            MigrationType::Simple,
            include_str!("../migrations/0002_settled_deliveries.sql").into_sql_str(),
            true,
        ),
    ];
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// Creates or upgrades the tables. Idempotent: run it at every start.
#[tracing::instrument(name = "notifications.migrate", skip_all, err)]
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    migrator().run(pool).await
}
