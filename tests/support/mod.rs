//! The end-to-end tests' harness: the test kit, with the `cashflow` binary this package builds,
//! and what only these tests read (the whole ledger read model, grpc-web by hand).
#![allow(dead_code, unused_imports)] // each test binary uses a different part of the harness

pub mod invoices;
pub mod web;

pub use cashflow_testkit::{
    Authed, Namespace, SECRET, Server, bearer, command_id, open_account, run_cli, run_cli_with, token,
};

/// The binary under test, for [`Server::start`] and [`run_cli`].
pub const CASHFLOW: &str = env!("CARGO_BIN_EXE_cashflow");

/// Every row of the ledger read model, ordered, as text: two dumps are equal exactly when
/// the read models are.
pub async fn dump_ledger(pool: &sqlx::PgPool) -> Vec<String> {
    use sqlx::Row;
    let tables: Vec<String> = sqlx::query(
        "SELECT table_name::text AS name FROM information_schema.tables
         WHERE table_schema = 'public' AND table_name LIKE 'ledger\\_%' ORDER BY table_name",
    )
    .fetch_all(pool)
    .await
    .expect("list ledger tables")
    .iter()
    .map(|row| row.get("name"))
    .collect();
    assert!(!tables.is_empty(), "no ledger tables found");
    let mut dump = Vec::new();
    for table in tables {
        let sql = format!("SELECT t::text AS row FROM \"{table}\" t ORDER BY t::text");
        for row in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await.expect("dump table") {
            dump.push(format!("{table}: {}", row.get::<String, _>("row")));
        }
    }
    dump
}
