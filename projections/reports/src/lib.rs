//! Reports read model: each person's reports, their status and file, for GetReport and
//! ListReports.
//!
//! # Layout
//!
//! - [`projection`]: [`ReportsProjection`], which folds `report` streams into the `reports` table.
//! - [`queries`]: [`ReportQueries`], the owner-scoped reads, newest first with keyset pages.
//! - [`schema`]: [`migrate`], which applies `migrations/` (tracked in `_sqlx_migrations_reports`).
//!
//! The figures and the file come from the event store and blob storage, never from here: this
//! table only says which reports exist and how far along they are.
#![forbid(unsafe_code)]

pub mod projection;
pub mod queries;
pub mod schema;

pub use projection::ReportsProjection;
pub use queries::{ReportPage, ReportQueries, ReportView};
pub use schema::{MIGRATIONS_TABLE, migrate};

/// The projection's name: its checkpoint's key, and the argument of `cashflow projections rebuild`.
pub const NAME: &str = "reports";
