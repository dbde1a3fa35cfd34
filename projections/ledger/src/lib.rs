//! Ledger read model: movements, balances and monthly category totals, projected from events, read per owner.
//!
//! # Layout
//!
//! - [`projection`]: [`LedgerProjection`], the `cashflow_projection::Projection` that folds
//!   account, category (with its categorisation rules) and movement events into the `ledger_*`
//!   tables, a batch at a time: its row cache (`projection/cache.rs`), fold (`fold.rs`) and SQL
//!   (`sql.rs`); with the `oracle` feature, the one-event reference the tests compare it with
//!   (`oracle.rs`).
//! - [`queries`]: [`LedgerQueries`], the owner-scoped reads, with keyset pagination of movements,
//!   and the rules and the movements they may categorise.
//! - `lookups`: the application's [`cashflow_app::LedgerLookups`] port, answered by [`LedgerQueries`].
//! - [`schema`]: [`migrate`], which applies `migrations/` (tracked in `_sqlx_migrations_ledger`).
//! - `columns`: how domain values are stored in columns, shared by both sides.
//!
//! Every row carries its owner and every read filters by it: another user's ids find nothing.
#![forbid(unsafe_code)]

mod columns;
mod lookups;
pub mod projection;
pub mod queries;
pub mod schema;

pub use columns::direction_text;
pub use projection::LedgerProjection;
pub use queries::{
    BalanceView, BudgetView, CategorySummaryRow, CategoryView, DEFAULT_PAGE_SIZE, LedgerQueries, MAX_PAGE_SIZE,
    MovementFilter, MovementPage, MovementView, PageCursor, QueryError, RuleCandidate, movement_view,
};
pub use schema::{MIGRATIONS_TABLE, migrate};

/// The projection's name: its checkpoint's key, and the argument of `cashflow projections rebuild`.
pub const NAME: &str = "ledger";
