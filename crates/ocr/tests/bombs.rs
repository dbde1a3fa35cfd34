//! Decompression bombs against real poppler and tesseract: refused, or read within bounds, with
//! this process's peak memory measured around each.

mod support;

use bytes::Bytes;
use cashflow_domain::invoice::ContentKind;
use cashflow_ocr::{Ocr, OcrConfig, OcrError, pdf};

const MIB: u64 = 1 << 20;

/// Peak RSS since the last [`reset_peak`], in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

fn current_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// Sets the peak back to the current RSS (Linux's `clear_refs` 5), so that making the bomb does
/// not count.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

fn ocr() -> Ocr {
    Ocr::new(OcrConfig { threads: 1, ..OcrConfig::default() }).unwrap()
}

// One test, so that no other test's memory lands in the peak.
#[tokio::test]
async fn bombs_are_refused_or_read_within_bounds() {
    let ocr = ocr();

    // 6000×6600 16-bit RGBA: 39.6 megapixels, within the 40 million allowed, but 317 MB decoded
    // where 160 MB (4 bytes a pixel) are.
    let png = Bytes::from(support::png_bomb());
    assert!(png.len() < 2 * MIB as usize, "the PNG bomb is {} bytes", png.len());
    reset_peak();
    let before = current_rss();
    let error = ocr.read(png, ContentKind::Png).await.unwrap_err();
    let grown = peak_rss().saturating_sub(before);
    eprintln!("PNG bomb: {error:?}; peak RSS grew {} MiB", grown / MIB);
    assert!(
        matches!(&error, OcrError::Unreadable(reason) if reason.contains("decodes to 316800000 bytes")),
        "{error:?}"
    );
    assert!(grown < 64 * MIB, "decoding began: peak RSS grew {} MiB", grown / MIB);

    // An inch of CropBox on a 10,000-point MediaBox is drawn as the inch: 300×300 at 300 dpi.
    let pdf_bomb = Bytes::from(support::pdf::cropped_to_an_inch());
    reset_peak();
    let before = current_rss();
    let pages = pdf::rasterise(&pdf_bomb, 1, OcrConfig::default().max_pixels).await;
    let grown = peak_rss().saturating_sub(before);
    eprintln!("PDF bomb: {:?}; peak RSS grew {} MiB", pages.as_ref().map(|p| p[0].dimensions()), grown / MIB);
    let pages = pages.expect("the CropBox rendered");
    assert_eq!(pages.iter().map(|p| p.dimensions()).collect::<Vec<_>>(), [(300, 300)]);
    assert!(grown < 64 * MIB, "peak RSS grew {} MiB", grown / MIB);
    // Blank: nothing to read, and said so.
    assert_eq!(ocr.read(pdf_bomb, ContentKind::Pdf).await.unwrap_err(), OcrError::Unreadable("no text found".into()));
}
