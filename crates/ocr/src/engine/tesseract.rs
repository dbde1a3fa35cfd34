//! The OCR engine port over libtesseract, through the `tesseract` binding crate's safe API.

use ::tesseract::{PageSegMode, Tesseract};
use image::GrayImage;
use rust_decimal::Decimal;

use crate::OcrError;
use crate::engine::{OcrEngine, Recognised};

/// How tesseract splits a page into lines before reading them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Segmentation {
    /// Fully automatic (PSM 3).
    Auto,
    /// One column of text of varying sizes (PSM 4).
    SingleColumn,
    /// One uniform block of text (PSM 6): keeps a receipt's label and amount on one line, where
    /// PSM 4 and 3 split wide rows into columns (measured in the accuracy suite).
    #[default]
    SingleBlock,
    /// As much text as can be found, in no order (PSM 11).
    Sparse,
}

impl Segmentation {
    fn mode(self) -> PageSegMode {
        match self {
            Self::Auto => PageSegMode::PsmAuto,
            Self::SingleColumn => PageSegMode::PsmSingleColumn,
            Self::SingleBlock => PageSegMode::PsmSingleBlock,
            Self::Sparse => PageSegMode::PsmSparseText,
        }
    }
}

/// The resolution tesseract is told the page has: preprocessing scales text to about what a
/// 300 dpi scan shows. 70, 150 and 300 read the accuracy suite alike; left unset, tesseract warns
/// on every page.
const ASSUMED_DPI: i32 = 300;

/// One libtesseract instance with its language models loaded, reused across images.
///
/// Starting one loads the eng+spa models, which costs more than reading a receipt (BENCHMARKS.md,
/// OCR), so a pool thread keeps it. The binding's builder API
/// consumes the instance on every step, so a failed step loses it; the next call starts a new one.
pub struct TesseractEngine {
    api: Option<Tesseract>,
    languages: String,
    segmentation: Segmentation,
}

impl TesseractEngine {
    /// Starts tesseract with `languages` (such as `"eng+spa"`) and the default segmentation.
    pub fn new(languages: &str) -> Result<Self, OcrError> {
        Self::with_segmentation(languages, Segmentation::default())
    }

    pub fn with_segmentation(languages: &str, segmentation: Segmentation) -> Result<Self, OcrError> {
        let api = start(languages, segmentation)?;
        Ok(Self { api: Some(api), languages: languages.to_owned(), segmentation })
    }
}

fn start(languages: &str, segmentation: Segmentation) -> Result<Tesseract, OcrError> {
    let failed = |e: &dyn std::fmt::Display| OcrError::engine(format!("tesseract ({languages}) failed to start: {e}"));
    let mut api = Tesseract::new(None, Some(languages)).map_err(|e| failed(&e))?;
    api.set_page_seg_mode(segmentation.mode());
    // Light-on-dark lines are rare on receipts: skipping tesseract's inverted retry of every
    // doubtful line saved a third of the time and nothing in the accuracy suite.
    api.set_variable("tessedit_do_invert", "0").map_err(|e| failed(&e))
}

impl OcrEngine for TesseractEngine {
    fn recognise(&mut self, image: &GrayImage) -> Result<Recognised, OcrError> {
        let (width, height) = image.dimensions();
        // The binding multiplies height by the row length in an i32.
        let fits = |n: u64| i32::try_from(n).ok();
        let (Some(w), Some(h), Some(_)) =
            (fits(u64::from(width)), fits(u64::from(height)), fits(u64::from(width) * u64::from(height)))
        else {
            return Err(OcrError::unreadable(format!("a {width}×{height} image is too large for tesseract")));
        };
        if w == 0 || h == 0 {
            return Err(OcrError::unreadable("the image has no pixels"));
        }
        let api = match self.api.take() {
            Some(api) => api,
            None => start(&self.languages, self.segmentation)?,
        };
        let api = api
            .set_frame(image.as_raw(), w, h, 1, w)
            .map_err(|e| OcrError::engine(format!("tesseract refused the image: {e}")))?
            .set_source_resolution(ASSUMED_DPI);
        let mut api = api.recognize().map_err(|e| OcrError::engine(format!("tesseract failed: {e}")))?;
        let text = api.get_text().map_err(|e| OcrError::engine(format!("tesseract gave no text: {e}")))?;
        let confidence = api.mean_text_conf();
        self.api = Some(api);
        Ok(Recognised { text, mean_confidence: (0..=100).contains(&confidence).then(|| Decimal::from(confidence)) })
    }
}
