//! The bounded OCR pool: a few long-lived threads, each with its own engine, fed by a bounded
//! queue so that CPU-bound recognition never runs on the async runtime.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use cashflow_domain::invoice::ContentKind;
use image::GrayImage;
use rust_decimal::Decimal;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::Span;

use crate::engine::tesseract::TesseractEngine;
use crate::engine::{OcrEngine, Recognised};
use crate::preprocess::{self, Preprocessing};
use crate::{OcrError, pdf};

/// How the pool runs; the defaults suit a receipt service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcrConfig {
    /// Threads recognising at once, each with its own engine. Default: the available cores.
    pub threads: usize,
    /// Tesseract languages, `+`-separated. Default `eng+spa`.
    pub languages: String,
    /// Images (and rendered PDF pages) with more pixels are refused. Default 40 megapixels.
    pub max_pixels: u64,
    /// Only the first pages of a PDF are read. Default 3.
    pub max_pdf_pages: u32,
    pub preprocessing: Preprocessing,
}

impl Default for OcrConfig {
    fn default() -> Self {
        Self {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            languages: "eng+spa".to_owned(),
            max_pixels: 40_000_000,
            max_pdf_pages: 3,
            preprocessing: Preprocessing::default(),
        }
    }
}

/// Where the text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextSource {
    ImageOcr,
    PdfTextLayer,
    PdfOcr,
}

impl TextSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ImageOcr => "image_ocr",
            Self::PdfTextLayer => "pdf_text_layer",
            Self::PdfOcr => "pdf_ocr",
        }
    }
}

/// The text read from one invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadText {
    /// Lines as laid out on the page, trailing spaces trimmed; pages separated by a blank line.
    pub text: String,
    pub source: TextSource,
    /// The engine's mean word confidence, 0..=100; `None` for a PDF text layer.
    pub mean_confidence: Option<Decimal>,
}

/// Reads invoices on a bounded pool of OCR threads. Cheap to clone; the threads stop once the
/// last clone is dropped and the queue is drained.
#[derive(Clone)]
pub struct Ocr {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Ocr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ocr").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

struct Inner {
    jobs: mpsc::Sender<Job>,
    /// Bounds the poppler programs run at once, as the threads bound recognition.
    programs: Semaphore,
    config: OcrConfig,
}

struct Job {
    input: Input,
    span: Span,
    reply: oneshot::Sender<Result<Recognised, OcrError>>,
}

impl Ocr {
    /// A pool of tesseract engines. Each thread starts its engine at once; one that fails to
    /// start answers [`OcrError::Engine`] and tries again on its next job.
    ///
    /// Start the process with `OMP_THREAD_LIMIT=1`: Debian's libtesseract is built with OpenMP,
    /// whose extra threads spin against the pool's and made each receipt ~6× slower on two cores.
    /// OpenMP reads the variable when the library loads, so the process cannot set it itself.
    pub fn new(config: OcrConfig) -> Result<Self, OcrError> {
        if std::env::var_os("OMP_THREAD_LIMIT").is_none() {
            tracing::warn!("OMP_THREAD_LIMIT is not set: tesseract's OpenMP threads will slow OCR several times over");
        }
        let languages = config.languages.clone();
        Self::with_engine(config, move || TesseractEngine::new(&languages))
    }

    /// A pool whose threads each run an engine made by `start`.
    pub fn with_engine<E, F>(config: OcrConfig, start: F) -> Result<Self, OcrError>
    where
        E: OcrEngine + 'static,
        F: Fn() -> Result<E, OcrError> + Send + Sync + 'static,
    {
        let config = OcrConfig { threads: config.threads.max(1), max_pdf_pages: config.max_pdf_pages.max(1), ..config };
        let (jobs, queue) = mpsc::channel(config.threads);
        let queue = Arc::new(Mutex::new(queue));
        let start = Arc::new(start);
        for n in 0..config.threads {
            let (queue, start) = (Arc::clone(&queue), Arc::clone(&start));
            let settings = Settings { max_pixels: config.max_pixels, preprocessing: config.preprocessing };
            std::thread::Builder::new()
                .name(format!("ocr-{n}"))
                .spawn(move || work(&queue, &*start, settings))
                .map_err(|e| OcrError::engine(format!("could not start an OCR thread: {e}")))?;
        }
        let programs = Semaphore::new(config.threads);
        Ok(Self { inner: Arc::new(Inner { jobs, programs, config }) })
    }

    pub fn config(&self) -> &OcrConfig {
        &self.inner.config
    }

    /// Reads the text of one invoice: an image through OCR; a PDF through its text layer, or,
    /// when it has none worth reading, its first pages rendered and OCR'd. Text with no letter or
    /// digit in it is [`OcrError::Unreadable`].
    ///
    /// Waits for a free place in the pool's queue. Dropping the future abandons a job not yet
    /// started; one already recognising finishes on its thread unseen. The poppler programs run
    /// under timeouts, recognition under none: a caller that needs one wraps this call.
    #[tracing::instrument(
        name = "ocr.read",
        skip(self, bytes),
        fields(kind = ?kind, bytes = bytes.len(), source = tracing::field::Empty, chars = tracing::field::Empty),
        err(Display, level = "warn")
    )]
    pub async fn read(&self, bytes: Bytes, kind: ContentKind) -> Result<ReadText, OcrError> {
        let read = match kind {
            ContentKind::Pdf => self.read_pdf(bytes).await?,
            _ => {
                let page = self.recognise(Input::Encoded { bytes, kind }).await?.await?;
                ReadText { text: page.text, source: TextSource::ImageOcr, mean_confidence: page.mean_confidence }
            }
        };
        let text = tidy(&read.text);
        if !text.chars().any(char::is_alphanumeric) {
            return Err(OcrError::unreadable("no text found"));
        }
        let span = Span::current();
        span.record("source", read.source.as_str());
        span.record("chars", text.chars().count());
        Ok(ReadText { text, ..read })
    }

    async fn read_pdf(&self, pdf: Bytes) -> Result<ReadText, OcrError> {
        let (pages, max_pixels) = (self.inner.config.max_pdf_pages, self.inner.config.max_pixels);
        let permit = self.inner.programs.acquire().await.map_err(|_| shut_down())?;
        let layer = pdf::text_layer(&pdf, pages).await?;
        if pdf::is_meaningful(&layer) {
            return Ok(ReadText { text: layer, source: TextSource::PdfTextLayer, mean_confidence: None });
        }
        let rendered = pdf::rasterise(&pdf, pages, max_pixels).await?;
        drop(permit);
        // Queue every page before waiting on any, so free threads read them side by side.
        let mut pending = Vec::with_capacity(rendered.len());
        for page in rendered {
            pending.push(self.recognise(Input::Gray(page)).await?);
        }
        let mut pages = Vec::with_capacity(pending.len());
        for page in pending {
            pages.push(page.await?);
        }
        let text = pages.iter().map(|p| p.text.trim_end()).collect::<Vec<_>>().join("\n\n");
        Ok(ReadText { text, source: TextSource::PdfOcr, mean_confidence: weighted_confidence(&pages) })
    }

    /// Queues one image; the returned future resolves when a pool thread has read it.
    async fn recognise(
        &self,
        input: Input,
    ) -> Result<impl Future<Output = Result<Recognised, OcrError>> + use<>, OcrError> {
        let (reply, answer) = oneshot::channel();
        let job = Job { input, span: Span::current(), reply };
        self.inner.jobs.send(job).await.map_err(|_| shut_down())?;
        Ok(async move { answer.await.unwrap_or_else(|_| Err(shut_down())) })
    }
}

fn shut_down() -> OcrError {
    OcrError::engine("the OCR pool is shut down")
}

/// Pages' confidences weighted by how much text each holds.
fn weighted_confidence(pages: &[Recognised]) -> Option<Decimal> {
    let (mut weight, mut sum) = (Decimal::ZERO, Decimal::ZERO);
    for page in pages {
        if let Some(confidence) = page.mean_confidence {
            let chars = Decimal::from(page.text.chars().filter(|c| !c.is_whitespace()).count());
            weight += chars;
            sum += confidence * chars;
        }
    }
    (!weight.is_zero()).then(|| (sum / weight).round_dp(2))
}

/// Trailing spaces trimmed from each line, runs of blank lines kept to one.
fn tidy(text: &str) -> String {
    let mut tidy = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.trim().lines().map(str::trim_end) {
        blank_run = if line.is_empty() { blank_run + 1 } else { 0 };
        if blank_run <= 1 {
            tidy.push_str(line);
            tidy.push('\n');
        }
    }
    tidy.truncate(tidy.trim_end().len());
    tidy
}

#[derive(Clone, Copy)]
struct Settings {
    max_pixels: u64,
    preprocessing: Preprocessing,
}

/// What a job reads: an uploaded image, or a PDF page poppler rendered.
enum Input {
    Encoded { bytes: Bytes, kind: ContentKind },
    Gray(GrayImage),
}

/// One pool thread: takes jobs until every sender is gone.
fn work<E: OcrEngine>(queue: &Mutex<mpsc::Receiver<Job>>, start: &dyn Fn() -> Result<E, OcrError>, settings: Settings) {
    let mut engine = start().ok();
    loop {
        // The lock is held only while waiting, so idle threads queue behind one another.
        let job = queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).blocking_recv();
        let Some(Job { input, span, reply }) = job else { return };
        if reply.is_closed() {
            continue;
        }
        let _entered = span.enter();
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| read_image(&mut engine, start, input, settings)));
        let outcome = outcome.unwrap_or_else(|_| {
            // The same bytes would crash it again: a permanent failure, and a fresh engine.
            engine = None;
            tracing::error!("OCR panicked on an input");
            Err(OcrError::unreadable("reading this image crashed the OCR engine"))
        });
        let _ = reply.send(outcome);
    }
}

fn read_image<E: OcrEngine>(
    engine: &mut Option<E>,
    start: &dyn Fn() -> Result<E, OcrError>,
    input: Input,
    settings: Settings,
) -> Result<Recognised, OcrError> {
    let image = match input {
        Input::Encoded { bytes, kind } => {
            tracing::info_span!("ocr.decode").in_scope(|| preprocess::decode(&bytes, kind, settings.max_pixels))?
        }
        Input::Gray(image) => image,
    };
    let image = tracing::info_span!("ocr.preprocess", width = image.width(), height = image.height())
        .in_scope(|| preprocess::prepare(image, settings.preprocessing, settings.max_pixels));
    let engine = match engine {
        Some(engine) => engine,
        None => engine.insert(start()?),
    };
    tracing::info_span!("ocr.recognise", width = image.width(), height = image.height())
        .in_scope(|| engine.recognise(&image))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_trims_line_ends_and_blank_runs() {
        assert_eq!(tidy("  \nA  \n\n\n\nB\t\n\n"), "A\n\nB");
        assert_eq!(tidy("\n \n"), "");
    }

    #[test]
    fn page_confidences_weigh_by_text() {
        let page = |text: &str, confidence: Option<i32>| Recognised {
            text: text.to_owned(),
            mean_confidence: confidence.map(Decimal::from),
        };
        let pages = [page("abc", Some(90)), page("a", Some(50)), page("zzzz", None)];
        assert_eq!(weighted_confidence(&pages), Some(Decimal::from(80)));
        assert_eq!(weighted_confidence(&[page("", Some(10))]), None);
    }
}
