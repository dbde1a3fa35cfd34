//! The ledger's tables, created by the SQL files in `migrations/`.

use sqlx::PgPool;
use sqlx::SqlSafeStr;
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};

/// Where the ledger's applied migrations are recorded, apart from other crates' in the same database.
pub const MIGRATIONS_TABLE: &str = "_sqlx_migrations_ledger";

fn migrator() -> Migrator {
    let migrations = vec![Migration::new(
        1,
        "ledger read model".into(),
        MigrationType::Simple,
        include_str!("../migrations/0001_ledger.sql").into_sql_str(),
        false,
    )];
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// Creates or upgrades the ledger's tables. Idempotent: run it at every start.
#[tracing::instrument(name = "ledger.migrate", skip_all, err)]
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    migrator().run(pool).await
}
