//! OCR of invoices: the engine port, the tesseract adapter, image preprocessing, PDF text layers, and the OCR worker
//!
//! [`Ocr::read`] turns an invoice's bytes into text on a bounded pool of threads, each keeping one
//! engine alive; what the text says is `cashflow-receipt`'s business.
//!
//! # Layout
//! - [`engine`]: the [`OcrEngine`] port; [`engine::tesseract`] its libtesseract adapter.
//! - [`preprocess`]: bounded decoding (a decompression bomb is refused from its header), grayscale,
//!   deskew, text scaled to a legible size, Otsu binarisation.
//! - [`pdf`]: text layers through `pdftotext`, rasterisation through `pdftoppm` (poppler-utils).
//! - `pool`: [`Ocr`], [`OcrConfig`], [`ReadText`]; `error`: [`OcrError`].
//! - [`worker`]: the OCR worker (role `ocr`): InvoiceUploaded → InvoiceScanned → the movement.
#![forbid(unsafe_code)]

pub mod engine;
mod error;
pub mod pdf;
mod pool;
pub mod preprocess;
pub mod worker;

pub use engine::tesseract::{Segmentation, TesseractEngine};
pub use engine::{OcrEngine, Recognised};
pub use error::OcrError;
pub use pool::{Ocr, OcrConfig, ReadText, TextSource};
pub use preprocess::Preprocessing;
