//! PDFs through poppler's programs: the text layer from `pdftotext`, else the first pages
//! rasterised by `pdftoppm` for OCR. Each runs with the PDF on stdin, under a timeout.

use std::io::ErrorKind;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use image::GrayImage;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::OcrError;

const TEXT_TIMEOUT: Duration = Duration::from_secs(30);
const INFO_TIMEOUT: Duration = Duration::from_secs(10);
const RASTER_TIMEOUT: Duration = Duration::from_secs(90);
/// More text than any invoice has; past it the rest is dropped.
const MAX_TEXT_BYTES: u64 = 4 << 20;
/// Pages are rendered at this resolution unless the pixel limit asks for less.
pub const RASTER_DPI: u32 = 300;
/// Below this a page is too large to render legibly within the pixel limit.
const MIN_RASTER_DPI: u32 = 50;

/// The text layer of the first `pages` pages, laid out as on the page (`pdftotext -layout`).
/// Empty or near-empty for a scan without one; see [`is_meaningful`].
#[tracing::instrument(name = "ocr.pdf.text_layer", skip(pdf), fields(bytes = pdf.len()))]
pub async fn text_layer(pdf: &Bytes, pages: u32) -> Result<String, OcrError> {
    let last = pages.to_string();
    let args = ["-layout", "-enc", "UTF-8", "-f", "1", "-l", &last, "-", "-"];
    let output = run("pdftotext", &args, pdf, TEXT_TIMEOUT).await?;
    Ok(String::from_utf8_lossy(&output).replace('\u{c}', "\n"))
}

/// Whether a text layer holds enough to be worth reading rather than OCR'ing the page: a scan
/// may carry a stray page number or a producer's stamp and nothing else.
pub fn is_meaningful(text: &str) -> bool {
    text.chars().filter(|c| c.is_alphanumeric()).count() >= 12
}

/// The first `pages` pages in gray, at [`RASTER_DPI`] or less so that no page exceeds
/// `max_pixels`. Pages come as PGM: poppler 22 writes `-gray -png` as RGB, and PNG encoding took
/// most of a page's rasterising time.
///
/// pdfinfo reports each page's CropBox, so pdftoppm draws the CropBox (`-cropbox`) too: without
/// it, a page cropped to an inch of a 10,000-point MediaBox was drawn whole, 1.7 GB at the
/// resolution chosen for the inch. Each page file's size is checked before it is read.
#[tracing::instrument(name = "ocr.pdf.rasterise", skip(pdf), fields(bytes = pdf.len(), dpi))]
pub async fn rasterise(pdf: &Bytes, pages: u32, max_pixels: u64) -> Result<Vec<GrayImage>, OcrError> {
    let last = pages.to_string();
    let info = run("pdfinfo", &["-f", "1", "-l", &last, "-"], pdf, INFO_TIMEOUT).await?;
    let sizes = page_sizes(&String::from_utf8_lossy(&info));
    if sizes.is_empty() {
        return Err(OcrError::unreadable("the PDF has no pages"));
    }
    let dpi = sizes.iter().map(|&(w, h)| dpi_within(w, h, max_pixels)).min().unwrap_or(RASTER_DPI);
    tracing::Span::current().record("dpi", dpi);
    if dpi < MIN_RASTER_DPI {
        return Err(OcrError::unreadable("a PDF page is too large to render within the pixel limit"));
    }
    let dir =
        tempfile::tempdir().map_err(|e| OcrError::engine(format!("no temporary directory for PDF pages: {e}")))?;
    let prefix = dir.path().join("page");
    let prefix = prefix.to_str().ok_or_else(|| OcrError::engine("the temporary directory's path is not UTF-8"))?;
    let dpi_arg = dpi.to_string();
    let args = ["-r", &dpi_arg, "-cropbox", "-gray", "-f", "1", "-l", &last, "-", prefix];
    run("pdftoppm", &args, pdf, RASTER_TIMEOUT).await?;

    // pdftoppm names pages `page-1.pgm` or `page-01.pgm`…, padded to the page count's digits.
    let mut files = Vec::new();
    let mut entries =
        tokio::fs::read_dir(dir.path()).await.map_err(|e| OcrError::engine(format!("reading PDF pages: {e}")))?;
    while let Some(entry) =
        entries.next_entry().await.map_err(|e| OcrError::engine(format!("reading PDF pages: {e}")))?
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let number =
            name.strip_prefix("page-").and_then(|n| n.strip_suffix(".pgm")).and_then(|n| n.parse::<u32>().ok());
        if let Some(number) = number {
            files.push((number, entry.path()));
        }
    }
    files.sort();
    let mut rendered = Vec::with_capacity(files.len());
    for (_, path) in files {
        let pgm = read_page(&path, max_pixels).await?;
        rendered.push(parse_pgm(pgm, max_pixels)?);
    }
    if rendered.is_empty() {
        return Err(OcrError::unreadable("the PDF's pages could not be rendered"));
    }
    Ok(rendered)
}

/// Room for a PGM header (`P5\n41667 41667\n255\n` and a comment) beside the pixels.
const PGM_HEADER_BYTES: u64 = 1024;

/// A page file pdftoppm wrote, refused from its size before it is read when it holds more than
/// `max_pixels` pixels, and read with that cap (the file cannot grow past what was checked).
async fn read_page(path: &std::path::Path, max_pixels: u64) -> Result<Vec<u8>, OcrError> {
    let failed = |e: std::io::Error| OcrError::engine(format!("reading a PDF page: {e}"));
    let file = tokio::fs::File::open(path).await.map_err(failed)?;
    let size = file.metadata().await.map_err(failed)?.len();
    let cap = max_pixels.saturating_add(PGM_HEADER_BYTES);
    if size > cap {
        return Err(OcrError::unreadable(format!(
            "a rendered page of {size} bytes passes the pixel limit of {max_pixels}"
        )));
    }
    let mut pgm = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(cap).read_to_end(&mut pgm).await.map_err(failed)?;
    Ok(pgm)
}

/// A binary 8-bit PGM (`P5`, as pdftoppm writes it) as a gray image, in the file's own buffer.
fn parse_pgm(mut pgm: Vec<u8>, max_pixels: u64) -> Result<GrayImage, OcrError> {
    let bad = || OcrError::unreadable("pdftoppm wrote a page that is not an 8-bit PGM");
    let mut at = 0;
    // Magic, width, height and maximum value, separated by whitespace and `#` comments; one
    // whitespace byte then ends the header.
    let mut field = || -> Option<&[u8]> {
        loop {
            match pgm.get(at)? {
                b'#' => at += pgm[at..].iter().position(|&b| b == b'\n')?,
                b if b.is_ascii_whitespace() => at += 1,
                _ => break,
            }
        }
        let start = at;
        at += pgm[at..].iter().position(|b| b.is_ascii_whitespace())?;
        Some(&pgm[start..at])
    };
    let mut header: [&[u8]; 4] = [&[]; 4];
    for part in &mut header {
        *part = field().ok_or_else(bad)?;
    }
    let number = |part: &[u8]| std::str::from_utf8(part).ok().and_then(|n| n.parse::<u32>().ok()).ok_or_else(bad);
    let (width, height, max) = (number(header[1])?, number(header[2])?, number(header[3])?);
    if header[0] != b"P5" || max != 255 {
        return Err(bad());
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels == 0 || pixels > max_pixels {
        return Err(OcrError::unreadable(format!("a rendered {width}×{height} page passes the pixel limit")));
    }
    let start = at + 1;
    if pgm.len().saturating_sub(start) < pixels as usize {
        return Err(bad());
    }
    pgm.drain(..start);
    pgm.truncate(pixels as usize);
    GrayImage::from_raw(width, height, pgm).ok_or_else(bad)
}

/// Page sizes in points from pdfinfo's `Page    1 size:  612 x 792 pts (letter)` lines.
fn page_sizes(info: &str) -> Vec<(f64, f64)> {
    info.lines()
        .filter(|line| line.starts_with("Page") && line.contains("size:"))
        .filter_map(|line| {
            let (_, size) = line.split_once("size:")?;
            let mut words = size.split_whitespace();
            let width = words.next()?.parse::<f64>().ok()?;
            (words.next()? == "x").then_some(())?;
            let height = words.next()?.parse::<f64>().ok()?;
            (width > 0.0 && height > 0.0).then_some((width, height))
        })
        .collect()
}

/// The highest resolution, at most [`RASTER_DPI`], at which a page of `width`×`height` points
/// stays within `max_pixels` and tesseract's longest side.
fn dpi_within(width: f64, height: f64, max_pixels: u64) -> u32 {
    let (inches_w, inches_h) = (width / 72.0, height / 72.0);
    let by_area = (max_pixels as f64 / (inches_w * inches_h)).sqrt();
    let by_side = f64::from(crate::preprocess::MAX_SIDE) / inches_w.max(inches_h);
    by_area.min(by_side).min(f64::from(RASTER_DPI)).floor() as u32
}

/// Runs `program` with `input` on stdin and returns its stdout, up to [`MAX_TEXT_BYTES`]. A
/// missing program is an engine error (install poppler-utils, retry); a failure or a timeout is
/// the PDF's fault.
async fn run(program: &str, args: &[&str], input: &Bytes, timeout: Duration) -> Result<Vec<u8>, OcrError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => OcrError::engine(format!("{program} is not installed (poppler-utils)")),
            _ => OcrError::engine(format!("{program} could not start: {e}")),
        })?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(OcrError::engine(format!("{program} started without its pipes")));
    };
    let finished = async {
        let write = async move {
            // A program that stops reading early (a broken file) closes the pipe: its exit
            // status says what happened, not this write.
            let _ = stdin.write_all(input).await;
        };
        let (_, out, err) = tokio::join!(write, read_capped(stdout, MAX_TEXT_BYTES), read_capped(stderr, 64 << 10));
        (out, err, child.wait().await)
    };
    let (out, err, status) = tokio::time::timeout(timeout, finished)
        .await
        .map_err(|_| OcrError::unreadable(format!("{program} took longer than {}s on this PDF", timeout.as_secs())))?;
    let status = status.map_err(|e| OcrError::engine(format!("waiting for {program}: {e}")))?;
    if status.success() {
        return Ok(out);
    }
    let err = String::from_utf8_lossy(&err);
    Err(if err.contains("Incorrect password") {
        OcrError::unreadable("the PDF is encrypted")
    } else {
        let said = err.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or("no message");
        OcrError::unreadable(format!("not a readable PDF ({program} {status}: {said})"))
    })
}

/// Reads at most `cap` bytes, then drops the pipe so a program with more to say gets EPIPE
/// rather than blocking forever.
async fn read_capped(pipe: impl AsyncRead + Unpin, cap: u64) -> Vec<u8> {
    let mut buffer = Vec::new();
    let _ = pipe.take(cap).read_to_end(&mut buffer).await;
    buffer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdfinfo_page_sizes_are_read_with_and_without_page_numbers() {
        let info = "Pages:           2\nPage    1 size:  612 x 792 pts (letter)\nPage    1 rot:   0\n\
                    Page    2 size:  226.77 x 566.93 pts\nPage size:       595.276 x 841.89 pts (A4)\n";
        assert_eq!(page_sizes(info), vec![(612.0, 792.0), (226.77, 566.93), (595.276, 841.89)]);
        assert!(page_sizes("Pages: 0\nPage size: x\n").is_empty());
    }

    #[test]
    fn pages_render_at_300_dpi_unless_that_passes_the_pixel_limit() {
        assert_eq!(dpi_within(595.0, 842.0, 40_000_000), 300);
        let dpi = dpi_within(14_400.0, 14_400.0, 40_000_000);
        assert!(dpi < 40, "a 200-inch page gets {dpi} dpi");
        let dpi = f64::from(dpi_within(2000.0, 3000.0, 40_000_000));
        assert!((2000.0 / 72.0 * dpi) * (3000.0 / 72.0 * dpi) <= 40_000_000.0);
    }

    #[test]
    fn pgm_pages_are_read_with_their_header_checked() {
        let mut pgm = b"P5\n# pdftoppm\n3 2\n255\n".to_vec();
        pgm.extend([0, 50, 100, 150, 200, 250]);
        let image = parse_pgm(pgm.clone(), 100).unwrap();
        assert_eq!(image.dimensions(), (3, 2));
        assert_eq!(image.as_raw(), &[0, 50, 100, 150, 200, 250]);

        assert!(parse_pgm(pgm.clone(), 5).is_err(), "past the pixel limit");
        assert!(parse_pgm(pgm[..pgm.len() - 1].to_vec(), 100).is_err(), "short raster");
        assert!(parse_pgm(b"P6\n3 2\n255\n".to_vec(), 100).is_err(), "colour");
        assert!(parse_pgm(b"P5\n3 2\n65535\n".to_vec(), 100).is_err(), "16-bit");
        assert!(parse_pgm(b"P5 3".to_vec(), 100).is_err(), "truncated header");
        assert!(parse_pgm(Vec::new(), 100).is_err());
    }

    #[tokio::test]
    async fn a_page_file_past_the_pixel_limit_is_refused_from_its_size_without_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("page-1.pgm");
        // 41,667² pixels as pdftoppm wrote the whole MediaBox of the PDF bomb: 1.7 GB, sparse.
        let file = std::fs::File::create(&path).unwrap();
        std::io::Write::write_all(&mut &file, b"P5\n41667 41667\n255\n").unwrap();
        file.set_len(20 + 41_667 * 41_667).unwrap();
        let started = std::time::Instant::now();
        let error = read_page(&path, 40_000_000).await.unwrap_err();
        assert!(matches!(&error, OcrError::Unreadable(reason) if reason.contains("1736138909 bytes")), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(1), "read for {:?}", started.elapsed());

        file.set_len(20 + 300 * 300).unwrap();
        assert_eq!(read_page(&path, 40_000_000).await.unwrap().len(), 20 + 300 * 300);
    }

    #[test]
    fn a_stray_page_number_is_not_a_text_layer() {
        assert!(!is_meaningful("  1  \n"));
        assert!(!is_meaningful("Scanned by X"));
        assert!(is_meaningful("TOTAL 23,45 EUR\n12/03/2024"));
    }
}
