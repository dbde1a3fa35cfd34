//! The ledger's tables, created by the SQL files in `migrations/`.

use sqlx::PgPool;
use sqlx::SqlSafeStr;
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};

/// Where the ledger's applied migrations are recorded, apart from other crates' in the same database.
pub const MIGRATIONS_TABLE: &str = "_sqlx_migrations_ledger";

fn migrator() -> Migrator {
    let simple = |version, description: &'static str, sql: &'static str| {
        Migration::new(version, description.into(), MigrationType::Simple, sql.into_sql_str(), false)
    };
    let migrations = vec![
        simple(1, "ledger read model", include_str!("../migrations/0001_ledger.sql")),
        simple(2, "fold balances and totals at commit", include_str!("../migrations/0002_fold_at_commit.sql")),
        simple(3, "categorization rules", include_str!("../migrations/0003_categorization_rules.sql")),
        simple(4, "budgets", include_str!("../migrations/0004_budgets.sql")),
    ];
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// Creates or upgrades the ledger's tables. Idempotent: run it at every start.
#[tracing::instrument(name = "ledger.migrate", skip_all, err)]
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    migrator().run(pool).await
}
