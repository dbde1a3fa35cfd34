//! The OCR engine port: one preprocessed page image in, its text out.

pub mod tesseract;

use image::GrayImage;
use rust_decimal::Decimal;

use crate::OcrError;

/// What an engine read from one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recognised {
    pub text: String,
    /// Mean word confidence, 0..=100, when the engine reports one.
    pub mean_confidence: Option<Decimal>,
}

/// Recognises the text in one image.
///
/// The image is 8-bit grayscale with dark text on a light background, already upright and scaled
/// (see [`crate::preprocess`]). An engine is owned by one pool thread and reused for many images,
/// so starting it may be slow, but after any call, failed or not, it must be ready for the next
/// (restarting itself if it has to).
pub trait OcrEngine: Send {
    fn recognise(&mut self, image: &GrayImage) -> Result<Recognised, OcrError>;
}

impl<E: OcrEngine + ?Sized> OcrEngine for Box<E> {
    fn recognise(&mut self, image: &GrayImage) -> Result<Recognised, OcrError> {
        (**self).recognise(image)
    }
}
