//! `Ocr::read` against real tesseract and poppler: which source text comes from, and how bad
//! input fails (permanently, never by panicking); plus the pool's bound, with a stand-in engine.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cashflow_domain::invoice::ContentKind;
use cashflow_ocr::{Ocr, OcrConfig, OcrEngine, OcrError, Recognised, TextSource};
use image::GrayImage;
use support::{Encoding, Face, Look};

const RECEIPT: &str = "^CAFETERIA CENTRAL\nFecha 14/03/2024\nCafe con leche|1,50\nTostada|2,20\nTOTAL|3,70 EUR";

fn look() -> Look {
    Look { face: Face::DejaVuSans, px: 26.0, width: 560, rotation: 0.0, noise: 0, blur: false }
}

fn ocr() -> Ocr {
    Ocr::new(OcrConfig { threads: 2, ..OcrConfig::default() }).unwrap()
}

fn image_of(encoding: Encoding) -> Bytes {
    Bytes::from(support::encode(&support::render(RECEIPT, look()), encoding))
}

fn assert_unreadable(result: Result<impl std::fmt::Debug, OcrError>, what: &str) {
    match result {
        Err(OcrError::Unreadable(_)) => {}
        other => panic!("{what}: expected Unreadable, got {other:?}"),
    }
}

#[tokio::test]
async fn every_image_kind_is_read_by_ocr_with_a_confidence() {
    let ocr = ocr();
    for encoding in [Encoding::Png, Encoding::Jpeg(85), Encoding::Webp, Encoding::Tiff] {
        let read = ocr.read(image_of(encoding), encoding.kind()).await.unwrap();
        assert_eq!(read.source, TextSource::ImageOcr);
        assert!(read.text.contains("TOTAL 3,70"), "{encoding:?}: {}", read.text);
        assert!(read.text.contains("14/03/2024"), "{encoding:?}: {}", read.text);
        let confidence = read.mean_confidence.unwrap();
        assert!(confidence > 50.into() && confidence <= 100.into(), "{confidence}");
    }
}

#[tokio::test]
async fn a_pdf_with_a_text_layer_is_read_without_ocr() {
    let pdf = support::pdf::with_text("SUPERMERCADO EL SOL\nFecha 02/01/2024\nTOTAL|23,45 €");
    let read = ocr().read(Bytes::from(pdf), ContentKind::Pdf).await.unwrap();
    assert_eq!(read.source, TextSource::PdfTextLayer);
    assert_eq!(read.mean_confidence, None);
    assert!(read.text.contains("SUPERMERCADO EL SOL"), "{}", read.text);
    assert!(read.text.contains("23,45 €"), "{}", read.text);
}

#[tokio::test]
async fn a_pdf_holding_only_a_scan_is_rasterised_and_read_by_ocr() {
    let image = support::render(RECEIPT, look());
    let jpeg = support::encode(&image, Encoding::Jpeg(90));
    let pdf = support::pdf::with_jpeg(&jpeg, image.width(), image.height(), 200);
    let read = ocr().read(Bytes::from(pdf), ContentKind::Pdf).await.unwrap();
    assert_eq!(read.source, TextSource::PdfOcr);
    assert!(read.text.contains("TOTAL 3,70"), "{}", read.text);
    assert!(read.mean_confidence.is_some());
}

#[tokio::test]
async fn an_encrypted_pdf_is_unreadable() {
    let error = ocr().read(Bytes::from(support::pdf::encrypted()), ContentKind::Pdf).await.unwrap_err();
    assert_eq!(error, OcrError::Unreadable("the PDF is encrypted".into()));
}

#[tokio::test]
async fn corrupt_and_truncated_pdfs_are_unreadable() {
    let ocr = ocr();
    let pdf = support::pdf::with_text("TOTAL|23,45");
    for cut in [0, 5, 9, 40, pdf.len() / 2] {
        assert_unreadable(ocr.read(Bytes::copy_from_slice(&pdf[..cut]), ContentKind::Pdf).await, &format!("cut {cut}"));
    }
    assert_unreadable(ocr.read(Bytes::from_static(b"%PDF-1.7\ngarbage"), ContentKind::Pdf).await, "garbage");
}

#[tokio::test]
async fn a_blank_image_has_no_text_and_is_unreadable() {
    let blank = GrayImage::from_pixel(400, 300, image::Luma([250]));
    let error = ocr().read(Bytes::from(support::encode(&blank, Encoding::Png)), ContentKind::Png).await.unwrap_err();
    assert_eq!(error, OcrError::Unreadable("no text found".into()));
}

/// Headers declaring 30000×30000 pixels, followed by garbage: each must be refused from the header
/// alone, quickly, before a decoder allocates the 858 MiB (gray) to 3.4 GiB (RGBA) it would take.
fn bomb_headers() -> Vec<(ContentKind, Vec<u8>)> {
    let side = 30_000u32;
    let garbage = vec![0x5A; 4096];
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    png.extend(side.to_be_bytes());
    png.extend(side.to_be_bytes());
    png.extend([8, 0, 0, 0, 0]);
    png.extend(&garbage);
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08];
    jpeg.extend((side as u16).to_be_bytes());
    jpeg.extend((side as u16).to_be_bytes());
    jpeg.extend([0x01, 0x01, 0x11, 0x00]);
    jpeg.extend(&garbage);
    let mut webp = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
    webp.extend(&(side - 1).to_le_bytes()[..3]);
    webp.extend(&(side - 1).to_le_bytes()[..3]);
    webp.extend(&garbage);
    let mut tiff = b"II*\0\x08\0\0\0\x02\0".to_vec();
    for tag in [256u16, 257] {
        tiff.extend(tag.to_le_bytes());
        tiff.extend(4u16.to_le_bytes());
        tiff.extend(1u32.to_le_bytes());
        tiff.extend(side.to_le_bytes());
    }
    tiff.extend(&garbage);
    vec![(ContentKind::Png, png), (ContentKind::Jpeg, jpeg), (ContentKind::Webp, webp), (ContentKind::Tiff, tiff)]
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_decompression_bomb_is_refused_from_its_header() {
    let ocr = ocr();
    for (kind, bytes) in bomb_headers() {
        assert_eq!(cashflow_domain::invoice::image_dimensions(&bytes), Some((30_000, 30_000)), "{kind:?}");
        let before = peak_rss_kib();
        let started = Instant::now();
        let error = ocr.read(Bytes::from(bytes), kind).await.unwrap_err();
        assert!(
            matches!(&error, OcrError::Unreadable(reason) if reason.contains("30000×30000")),
            "{kind:?}: {error:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2), "{kind:?} took {:?}", started.elapsed());
        // Coarse: untouched allocations don't count, and tests running alongside do; the
        // kernel's RSS counters are approximate per CPU, so a second reading may even be lower.
        let grown_mib = peak_rss_kib().saturating_sub(before) / 1024;
        assert!(grown_mib < 512, "{kind:?}: peak memory grew {grown_mib} MiB");
    }
}

#[tokio::test]
async fn truncated_and_corrupt_images_of_every_kind_fail_as_unreadable_never_as_panics() {
    let ocr = ocr();
    for encoding in [Encoding::Png, Encoding::Jpeg(85), Encoding::Webp, Encoding::Tiff] {
        let kind = encoding.kind();
        let good = image_of(encoding);
        assert_unreadable(ocr.read(Bytes::new(), kind).await, &format!("{kind:?} zero bytes"));
        for cut in [1, 4, 8, 16, 30, 64, good.len() / 3] {
            // A cut-off JPEG may still decode, grey below the cut: any answer but a panic or an
            // engine error will do.
            let result = ocr.read(good.slice(..cut), kind).await;
            assert!(!matches!(result, Err(OcrError::Engine(_))), "{kind:?} cut at {cut}: {result:?}");
        }
        let mut flipped = good.to_vec();
        let mut rng = support::Xorshift(0xC0FFEE);
        for _ in 0..32 {
            let at = 8 + (rng.next() as usize) % (flipped.len() - 8);
            flipped[at] ^= 0xFF;
        }
        let result = ocr.read(Bytes::from(flipped), kind).await;
        assert!(!matches!(result, Err(OcrError::Engine(_))), "{kind:?} flipped: {result:?}");
        let garbage: Vec<u8> = (0..2000).map(|_| rng.next() as u8).collect();
        assert_unreadable(ocr.read(Bytes::from(garbage), kind).await, &format!("{kind:?} garbage"));
    }
    // Bytes of one kind declared as another.
    assert_unreadable(ocr.read(image_of(Encoding::Png), ContentKind::Jpeg).await, "PNG declared as JPEG");
    assert_unreadable(ocr.read(image_of(Encoding::Png), ContentKind::Pdf).await, "PNG declared as PDF");
}

#[tokio::test]
async fn an_image_past_the_pixel_limit_is_unreadable() {
    let ocr = Ocr::new(OcrConfig { threads: 1, max_pixels: 10_000, ..OcrConfig::default() }).unwrap();
    let error = ocr.read(image_of(Encoding::Png), ContentKind::Png).await.unwrap_err();
    assert!(matches!(&error, OcrError::Unreadable(reason) if reason.contains("10000 allowed")), "{error:?}");
}

/// Sleeps instead of reading, counting how many run at once.
struct Sleeper {
    running: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

impl OcrEngine for Sleeper {
    fn recognise(&mut self, _: &GrayImage) -> Result<Recognised, OcrError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300));
        self.running.fetch_sub(1, Ordering::SeqCst);
        Ok(Recognised { text: "TOTAL 1,00".into(), mean_confidence: None })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_images_are_read_at_once_than_the_pool_has_threads() {
    let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (r, m) = (Arc::clone(&running), Arc::clone(&most));
    let config = OcrConfig { threads: 2, ..OcrConfig::default() };
    let ocr = Ocr::with_engine(config, move || Ok(Sleeper { running: Arc::clone(&r), most: Arc::clone(&m) })).unwrap();
    // Tiny, so decoding takes no time beside the engine's.
    let png = Bytes::from(support::encode(&GrayImage::from_pixel(40, 20, image::Luma([255])), Encoding::Png));
    let started = Instant::now();
    let reads: Vec<_> = (0..6)
        .map(|_| {
            let (ocr, png) = (ocr.clone(), png.clone());
            tokio::spawn(async move { ocr.read(png, ContentKind::Png).await })
        })
        .collect();
    for read in reads {
        assert_eq!(read.await.unwrap().unwrap().text, "TOTAL 1,00");
    }
    assert_eq!(most.load(Ordering::SeqCst), 2);
    assert!(started.elapsed() >= Duration::from_millis(900), "6 reads of 300 ms, two at a time");
}

#[tokio::test]
async fn an_engine_that_cannot_start_is_a_transient_error_and_is_retried() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&attempts);
    let config = OcrConfig { threads: 1, ..OcrConfig::default() };
    let ocr = Ocr::with_engine(config, move || -> Result<Sleeper, OcrError> {
        counted.fetch_add(1, Ordering::SeqCst);
        Err(OcrError::Engine("no language data".into()))
    })
    .unwrap();
    for _ in 0..2 {
        let error = ocr.read(image_of(Encoding::Png), ContentKind::Png).await.unwrap_err();
        assert_eq!(error, OcrError::Engine("no language data".into()));
        assert!(!error.is_permanent());
    }
    // Once when the thread started, once for each read.
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn tesseract_without_its_language_data_fails_to_start_as_an_engine_error() {
    let ocr = Ocr::new(OcrConfig { threads: 1, languages: "xxx".into(), ..OcrConfig::default() }).unwrap();
    let error = ocr.read(image_of(Encoding::Png), ContentKind::Png).await.unwrap_err();
    assert!(matches!(&error, OcrError::Engine(reason) if reason.contains("failed to start")), "{error:?}");
}

/// Panics on its first image, then reads.
struct Fragile {
    calls: usize,
}

impl OcrEngine for Fragile {
    fn recognise(&mut self, _: &GrayImage) -> Result<Recognised, OcrError> {
        self.calls += 1;
        assert!(self.calls > 1, "a bug in the engine");
        Ok(Recognised { text: "TOTAL 2,00".into(), mean_confidence: None })
    }
}

#[tokio::test]
async fn a_panic_while_reading_fails_that_input_and_the_pool_carries_on() {
    let started = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&started);
    let ocr = Ocr::with_engine(OcrConfig { threads: 1, ..OcrConfig::default() }, move || {
        // The first engine panics; the one that replaces it has seen a call already.
        Ok(Fragile { calls: counted.fetch_add(1, Ordering::SeqCst) })
    })
    .unwrap();
    assert_unreadable(ocr.read(image_of(Encoding::Png), ContentKind::Png).await, "the panicking read");
    assert_eq!(ocr.read(image_of(Encoding::Png), ContentKind::Png).await.unwrap().text, "TOTAL 2,00");
}
