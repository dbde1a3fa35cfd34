//! The search view's tables and extensions, created by the SQL files in `migrations/`.

use sqlx::PgPool;
use sqlx::SqlSafeStr;
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};

/// Where this crate's applied migrations are recorded, apart from other crates' in the same database.
pub const MIGRATIONS_TABLE: &str = "_sqlx_migrations_search";

fn migrations() -> Vec<Migration> {
    let simple = |version, description: &'static str, sql: &'static str| {
        Migration::new(version, description.into(), MigrationType::Simple, sql.into_sql_str(), false)
    };
    vec![
        simple(1, "search view", include_str!("../migrations/0001_search.sql")),
        simple(2, "search angle brackets", include_str!("../migrations/0002_search_angle_brackets.sql")),
    ]
}

fn migrator(migrations: Vec<Migration>) -> Migrator {
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// Creates or upgrades the search view. Idempotent: run it at every start. Creating the
/// extensions needs a role that may (a superuser, or the database's owner: all three are
/// trusted extensions since PostgreSQL 13).
#[tracing::instrument(name = "search.migrate", skip_all, err)]
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    migrator(migrations()).run(pool).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use cashflow_testkit::TestDatabase;
    use sqlx::Row;

    /// A view made by 0001 alone, upgraded: its documents are read again with their brackets as
    /// spaces, and the vocabulary learns the words that were in brackets (ADR 0031).
    #[tokio::test]
    async fn the_upgrade_indexes_the_words_in_angle_brackets_of_existing_documents() {
        let database = TestDatabase::create().await;
        let pool = database.pool(2).await;
        let mut first = migrations();
        first.truncate(1);
        migrator(first).run(&pool).await.unwrap();
        let owner = uuid::Uuid::now_v7();
        // Bound parameters need one statement at a time.
        for statement in [
            "INSERT INTO search_categories (id, owner, name, version) VALUES (gen_random_uuid(), $1, '<Treats>', 1)",
            "INSERT INTO search_documents (movement_id, owner, account_id, direction, amount, currency, occurred_on,
                                           description, counterparty, category_name, version)
             VALUES (gen_random_uuid(), $1, gen_random_uuid(), 'expense', 3, 'EUR', '2026-11-01',
                     'Tea & <cake>', '<b>Bold</b> <Papers>', '<Treats>', 1)",
        ] {
            sqlx::query(statement).bind(owner).execute(&pool).await.unwrap();
        }
        let words = || async {
            let rows = sqlx::query("SELECT word FROM search_words WHERE owner = $1")
                .bind(owner)
                .fetch_all(&pool)
                .await
                .unwrap();
            let mut words: Vec<String> = rows.iter().map(|row| row.get("word")).collect();
            words.sort();
            words
        };
        assert_eq!(words().await, ["bold", "tea"], "0001 dropped what was in brackets");

        migrate(&pool).await.unwrap();
        let document: String = sqlx::query_scalar("SELECT document::text FROM search_documents WHERE owner = $1")
            .bind(owner)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(document, "'/b':5A 'b':3A 'bold':4A 'cake':2A 'papers':6A 'tea':1A 'treats':7B");
        assert_eq!(words().await, ["/b", "b", "bold", "cake", "papers", "tea", "treats"]);
        migrate(&pool).await.unwrap();
        pool.close().await;
    }
}
