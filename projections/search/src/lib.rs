//! Search view: one full-text document per movement, and `SearchMovements` over it with typos, stems, facets and highlights.
//!
//! # Layout
//!
//! - [`projection`]: [`SearchProjection`], the `cashflow_projection::Projection` that keeps one
//!   document per movement (`search_documents`): its description, counterparty, category name,
//!   and the linked invoice's merchant and OCR text, with the categories and invoices those
//!   come from. PostgreSQL keeps each document's `tsvector`, and a trigger each person's
//!   vocabulary (`search_words`).
//! - [`text`]: what a query says: [`SearchText`], its words and amounts, and the forms they take
//!   in SQL; the one-typo distance; highlights made safe to render.
//! - [`queries`]: [`SearchQueries`], the owner-scoped search: words widened to their stems and
//!   typos through the vocabulary, ranked, faceted, highlighted, a keyset page at a time.
//! - [`schema`]: [`migrate`], which applies `migrations/` (tracked in `_sqlx_migrations_search`)
//!   and creates the `unaccent`, `pg_trgm` and `btree_gin` extensions.
//!
//! Every row carries its owner and every read filters by it: another user's words find nothing.
//! ADR 0018 says why PostgreSQL is the engine, and where that stops being the right trade.
#![forbid(unsafe_code)]

pub mod projection;
pub mod queries;
pub mod schema;
pub mod text;

pub use projection::SearchProjection;
pub use queries::{
    CategoryFacet, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MonthFacet, SearchCursor, SearchFilter, SearchHit, SearchPage,
    SearchQueries, SearchRequest,
};
pub use schema::{MIGRATIONS_TABLE, migrate};
pub use text::{MAX_QUERY_CHARS, MAX_QUERY_TERMS, SearchText};

/// The projection's name: its checkpoint's key, and the argument of `cashflow projections rebuild`.
pub const NAME: &str = "search";
