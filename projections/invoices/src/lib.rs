//! Invoices read model: uploaded invoices, what OCR read from them, corrections and linked movements
//!
//! # Layout
//!
//! - [`projection`]: [`InvoicesProjection`], the `cashflow_projection::Projection` that folds
//!   invoice events into the `invoices` table.
//! - [`queries`]: [`InvoiceQueries`], the owner-scoped reads, with keyset pagination newest first.
//! - [`schema`]: [`migrate`], which applies `migrations/` (tracked in `_sqlx_migrations_invoices`).
//! - `columns`: how domain values are stored in columns, shared by both sides.
//!
//! Every row carries its owner and every read filters by it: another user's ids find nothing.
#![forbid(unsafe_code)]

mod columns;
pub mod projection;
pub mod queries;
pub mod schema;

pub use projection::InvoicesProjection;
pub use queries::{
    DEFAULT_PAGE_SIZE, InvalidPageToken, InvoiceCursor, InvoicePage, InvoiceQueries, InvoiceView, MAX_PAGE_SIZE,
    QueryError,
};
pub use schema::{MIGRATIONS_TABLE, migrate};

/// The projection's name: its checkpoint's key, and the argument of `cashflow projections rebuild`.
pub const NAME: &str = "invoices";
