//! Report rendering: turns the figures of a ledger report into a CSV of its movements or an A4 PDF.
//!
//! # Layout
//!
//! - [`document`]: [`ReportDocument`] and its lines, the figures a report is made from, computed
//!   elsewhere from the ledger at one store position.
//! - [`figures`]: the figures of a requested report from the person's books (`cashflow_domain::books`),
//!   folded from the event store up to the request's position.
//! - [`worker`]: [`ReportWorker`], the `reports` role: ReportRequested in, a stored file and
//!   ReportGenerated (or ReportFailed) out.
//! - [`schedule`]: [`MonthlySchedule`], last month's PDF for everyone who asked for it, once.
//! - [`render`]: [`render_csv`], [`render_pdf`] with the [`Fonts`] it embeds, [`RenderError`], and
//!   [`render::format`] (how amounts and dates read).
//!
//! Rendering is pure: no IO but reading font files in [`Fonts::load_system`]. The same document
//! gives the same CSV bytes and the same PDF pages (printpdf draws the PDF's file identifier and
//! font resource names at random). Money never passes through floating point except to size the
//! bars of a chart.
//!
//! # Tests
//!
//! `tests/render.rs` reads the CSV back with `csv::Reader` and the PDF with poppler's `pdftotext`
//! and `pdftoppm`; `tests/support` builds realistic documents.
#![forbid(unsafe_code)]

pub mod document;
pub mod figures;
pub mod render;
pub mod schedule;
pub mod worker;

pub use document::{
    AccountLine, BudgetLine, CategoryLine, CounterpartyLine, CurrencyTotals, MonthLine, MovementLine, ReportDocument,
};
pub use render::{Fonts, RenderError, render_csv, render_pdf};
pub use schedule::{MonthlySchedule, ScheduleConfig};
pub use worker::{NAME, ReportWorker};
