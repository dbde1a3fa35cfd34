//! Rendering a [`ReportDocument`](crate::ReportDocument): pure functions from figures to bytes.
//!
//! - [`render_csv`] (`csv.rs`): the movements as RFC 4180 CSV.
//! - [`render_pdf`] (`pdf.rs`): the A4 report; `layout.rs` is its page builder (text, rules,
//!   paginated tables, page numbers) and `chart.rs` draws its two charts with plotters through a
//!   drawing backend that emits printpdf operations (ADR 0023).
//! - [`Fonts`] (`fonts.rs`): the faces the PDF embeds, loaded once; `subset.rs` cuts them down
//!   to the glyphs a report uses before it is saved.
//! - [`format`](mod@format): amounts, percentages and dates as the report writes them.

mod chart;
mod csv;
mod fonts;
pub mod format;
mod layout;
mod pdf;
mod subset;

use std::path::PathBuf;

pub use self::csv::{CSV_HEADER, render_csv};
pub use self::fonts::{Fonts, SYSTEM_FONT_FAMILIES};
pub use self::pdf::render_pdf;

/// Why a PDF could not be rendered. None of these depends on the report's figures except
/// [`RenderError::Chart`]; the font errors mean the deployment lacks a font package.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// No font family was installed: install `fonts-dejavu-core` (or `fonts-liberation`) or pass
    /// fonts with [`Fonts::from_bytes`].
    #[error("no font found for PDF reports; tried {}", display_paths(tried))]
    FontsNotFound { tried: Vec<PathBuf> },
    /// A font file exists but could not be read.
    #[error("could not read font file {}", path.display())]
    FontRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The bytes given as a face are not a TrueType/OpenType font with a Unicode character map.
    #[error("the {which} font is not a usable TrueType/OpenType font")]
    InvalidFont { which: &'static str },
    /// plotters refused to lay out a chart: a bug here, not a property of the data.
    #[error("could not draw the {chart} chart: {reason}")]
    Chart { chart: &'static str, reason: String },
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}
