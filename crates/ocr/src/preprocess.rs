//! Image preprocessing: bounded decoding, grayscale, upscaling of small text, deskew and Otsu
//! binarisation, each a plain function on 8-bit gray pixels.

use std::io::Cursor;

use cashflow_domain::invoice::{ContentKind, image_dimensions};
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, ImageDecoder, ImageFormat, ImageReader, Limits, Luma};

use crate::OcrError;

/// Which optional steps [`prepare`] runs; all on by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preprocessing {
    /// Scale the page so its text lines are the size tesseract reads best (small text up, very
    /// large text down).
    pub scale: bool,
    /// Straighten a page photographed or scanned a few degrees askew.
    pub deskew: bool,
    /// Reduce to black and white with Otsu's threshold.
    pub binarise: bool,
}

impl Default for Preprocessing {
    fn default() -> Self {
        Self { scale: true, deskew: true, binarise: true }
    }
}

/// Longest side accepted: leptonica and tesseract refuse larger.
pub const MAX_SIDE: u32 = 32_767;

/// Decoded bytes allowed per pixel of the pixel limit: an image may decode to at most
/// `max_pixels` × 4 bytes, 8-bit RGBA at the limit. A 16-bit RGBA image (8 bytes a pixel) may
/// have half the pixels. The upload check (`cashflow_app::InvoiceFile::check`) applies the same.
pub const DECODED_BYTES_PER_PIXEL: u64 = 4;

/// Decodes an image of `kind` into gray pixels, turning it upright per its EXIF orientation;
/// transparent parts are put on white. Before the decoder allocates anything (the header is
/// read first) it refuses more than `max_pixels` pixels, or pixels that decode to more than
/// `max_pixels` × [`DECODED_BYTES_PER_PIXEL`] bytes (bit depth × channels, as the header says).
pub fn decode(bytes: &[u8], kind: ContentKind, max_pixels: u64) -> Result<GrayImage, OcrError> {
    let format = match kind {
        ContentKind::Jpeg => ImageFormat::Jpeg,
        ContentKind::Png => ImageFormat::Png,
        ContentKind::Webp => ImageFormat::WebP,
        ContentKind::Tiff => ImageFormat::Tiff,
        ContentKind::Pdf => return Err(OcrError::unreadable("a PDF is not an image")),
    };
    if bytes.is_empty() {
        return Err(OcrError::unreadable("the file is empty"));
    }
    if let Some((width, height)) = image_dimensions(bytes) {
        check_size(width, height, max_pixels)?;
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    // The decoded pixels (checked below from the header) plus the decoder's own buffers.
    let budget = max_pixels.saturating_mul(DECODED_BYTES_PER_PIXEL);
    limits.max_alloc = Some(budget.saturating_add(64 << 20));
    reader.limits(limits);
    let corrupt = |e: image::ImageError| OcrError::unreadable(format!("not a readable {}: {e}", kind.media_type()));
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let (width, height) = decoder.dimensions();
    check_size(width, height, max_pixels)?;
    let decoded = decoder.total_bytes();
    if decoded > budget {
        return Err(OcrError::unreadable(format!(
            "a {width}×{height} {:?} image decodes to {decoded} bytes, more than the {budget} allowed",
            decoder.color_type()
        )));
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    // Turned once gray, so a turn copies the smallest image.
    let mut gray = DynamicImage::ImageLuma8(to_gray(image));
    gray.apply_orientation(orientation);
    Ok(gray.into_luma8())
}

fn check_size(width: u32, height: u32, max_pixels: u64) -> Result<(), OcrError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels == 0 {
        return Err(OcrError::unreadable("the image has no pixels"));
    }
    if pixels > max_pixels || width > MAX_SIDE || height > MAX_SIDE {
        return Err(OcrError::unreadable(format!(
            "a {width}×{height} image has more pixels than the {max_pixels} allowed"
        )));
    }
    Ok(())
}

/// Gray pixels straight from the decoded ones: no 8-bit RGBA copy of a wider image on the way.
fn to_gray(image: DynamicImage) -> GrayImage {
    if !image.color().has_alpha() {
        return image.into_luma8();
    }
    let mut gray = GrayImage::new(image.width(), image.height());
    match &image {
        DynamicImage::ImageRgba8(rgba) => {
            for (out, pixel) in gray.pixels_mut().zip(rgba.pixels()) {
                out.0[0] = on_white(pixel.0);
            }
        }
        // Converted a pixel at a time (to 8-bit RGBA, as `into_rgba8` would).
        other => {
            for (x, y, pixel) in image::GenericImageView::pixels(other) {
                gray.put_pixel(x, y, Luma([on_white(pixel.0)]));
            }
        }
    }
    gray
}

/// Rec. 709 luma, as `into_luma8` uses, blended over white.
fn on_white(pixel: [u8; 4]) -> u8 {
    let [r, g, b, a] = pixel.map(u32::from);
    let luma = (2126 * r + 7152 * g + 722 * b) / 10_000;
    ((luma * a + 255 * (255 - a)) / 255) as u8
}

/// Runs the enabled steps: measure the page (skew, line height), scale it so text lines are
/// about [`TARGET_LINE_HEIGHT`] px, straighten it, and binarise last so that also cleans the
/// interpolation blur of the others. `max_pixels` bounds an upscaled size.
pub fn prepare(mut image: GrayImage, steps: Preprocessing, max_pixels: u64) -> GrayImage {
    let layout = analyse(&image, steps.deskew);
    let scale =
        if steps.scale { scale_factor(layout.line_height, image.width(), image.height(), max_pixels) } else { 1.0 };
    let straighten = |image: GrayImage| {
        if layout.skew.abs() < MIN_CORRECTED_SKEW {
            return image;
        }
        let background = paper_level(&image);
        rotate(&image, -layout.skew, background)
    };
    // Scale down before rotating and up after: rotation then touches the fewest pixels.
    if scale < 1.0 {
        image = straighten(resize(&image, scale, FilterType::Triangle));
    } else {
        image = straighten(image);
        if scale > 1.0 {
            image = resize(&image, scale, FilterType::CatmullRom);
        }
    }
    if steps.binarise {
        let threshold = otsu_threshold(&image);
        binarise(&mut image, threshold);
    }
    image
}

fn resize(image: &GrayImage, scale: f32, filter: FilterType) -> GrayImage {
    let size = |n: u32| ((n as f32 * scale).round() as u32).max(1);
    image::imageops::resize(image, size(image.width()), size(image.height()), filter)
}

/// The line height (ascender to descender, in pixels) text is scaled to. Tesseract's models read
/// lines of 25–45 px best: upscaling legible 26 px lines ×2–×3 cost numbers read in the accuracy
/// suite, and 73 px lines scaled to 32 went from 46 to 95 mean confidence in a quarter of the time.
pub const TARGET_LINE_HEIGHT: u32 = 32;
/// Lines in this range are left as they are.
const LEGIBLE_LINE_HEIGHTS: std::ops::RangeInclusive<u32> = 20..=48;
const MAX_UPSCALE: f32 = 4.0;

/// The factor a `width`×`height` image whose text lines are `line_height` px tall is scaled by:
/// 1 when the lines are legible as they are or were not measured, else what brings them to
/// [`TARGET_LINE_HEIGHT`], up at most ×4 and within `max_pixels` and tesseract's longest side.
pub fn scale_factor(line_height: Option<u32>, width: u32, height: u32, max_pixels: u64) -> f32 {
    let Some(line_height) = line_height.filter(|h| *h > 0 && !LEGIBLE_LINE_HEIGHTS.contains(h)) else {
        return 1.0;
    };
    let wanted = (TARGET_LINE_HEIGHT as f32 / line_height as f32).min(MAX_UPSCALE);
    if wanted <= 1.0 {
        return wanted;
    }
    let by_pixels = (max_pixels as f64 / (f64::from(width) * f64::from(height))).sqrt() as f32;
    let by_side = MAX_SIDE as f32 / width.max(height) as f32;
    wanted.min(by_pixels).min(by_side).max(1.0)
}

/// Otsu's threshold: the gray level that best splits the histogram into two classes (maximum
/// between-class variance). Pixels at or below it are ink.
pub fn otsu_threshold(image: &GrayImage) -> u8 {
    otsu_from_histogram(&histogram(image))
}

fn histogram(image: &GrayImage) -> [u64; 256] {
    let mut histogram = [0u64; 256];
    for &v in image.as_raw() {
        histogram[usize::from(v)] += 1;
    }
    histogram
}

fn otsu_from_histogram(histogram: &[u64; 256]) -> u8 {
    let total: u64 = histogram.iter().sum();
    let sum_all: f64 = histogram.iter().enumerate().map(|(level, &n)| level as f64 * n as f64).sum();
    let (mut weight_dark, mut sum_dark) = (0u64, 0f64);
    let (mut best, mut best_variance) = (0u8, -1f64);
    for (level, &n) in histogram.iter().enumerate() {
        weight_dark += n;
        sum_dark += level as f64 * n as f64;
        let weight_light = total - weight_dark;
        if weight_dark == 0 || weight_light == 0 {
            continue;
        }
        let mean_dark = sum_dark / weight_dark as f64;
        let mean_light = (sum_all - sum_dark) / weight_light as f64;
        let variance = weight_dark as f64 * weight_light as f64 * (mean_dark - mean_light).powi(2);
        if variance > best_variance {
            best_variance = variance;
            best = level as u8;
        }
    }
    best
}

/// Pixels at or below `threshold` become black, the rest white.
pub fn binarise(image: &mut GrayImage, threshold: u8) {
    for v in image.iter_mut() {
        *v = if *v <= threshold { 0 } else { 255 };
    }
}

/// The mean level of the light class: the colour of the paper, to fill what rotation uncovers.
fn paper_level(image: &GrayImage) -> u8 {
    let histogram = histogram(image);
    let threshold = usize::from(otsu_from_histogram(&histogram));
    let (n, sum) = histogram[threshold + 1..]
        .iter()
        .enumerate()
        .fold((0u64, 0u64), |(n, sum), (i, &c)| (n + c, sum + (threshold + 1 + i) as u64 * c));
    sum.checked_div(n).map_or(255, |mean| mean as u8)
}

/// Skews below this are left alone: tesseract copes, and rotating blurs a little.
const MIN_CORRECTED_SKEW: f32 = 0.3;
/// The largest skew looked for, either way, in degrees.
pub const MAX_SKEW: f32 = 5.0;
/// The page is measured on a copy shrunk to this longest side: cheap and precise enough.
const SAMPLE_SIDE: u32 = 1000;
const MAX_INK_SAMPLES: usize = 200_000;

/// What [`analyse`] measures of a page.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PageLayout {
    /// Degrees, within ±[`MAX_SKEW`], by which the text lines are rotated counter-clockwise;
    /// `rotate(image, -skew, …)` straightens them.
    pub skew: f32,
    /// The median height of the text lines in pixels; `None` when too few lines show.
    pub line_height: Option<u32>,
}

/// Measures skew (when `find_skew`) and line height from the horizontal projection profile of
/// the ink. The skew is the angle, tried 0.5° apart and then 0.1° apart around the best, whose
/// profile has the greatest variance (text lines line up into sharp peaks); the line height is
/// the median run of rows holding ink in that profile.
pub fn analyse(image: &GrayImage, find_skew: bool) -> PageLayout {
    let unknown = PageLayout { skew: 0.0, line_height: None };
    let (small, step) = shrink(image, SAMPLE_SIDE);
    let threshold = otsu_threshold(&small);
    let (cx, cy) = (small.width() as f32 / 2.0, small.height() as f32 / 2.0);
    let mut ink: Vec<(f32, f32)> = small
        .enumerate_pixels()
        .filter(|(_, _, p)| p.0[0] <= threshold)
        .map(|(x, y, _)| (x as f32 - cx, y as f32 - cy))
        .collect();
    let pixels = (small.width() * small.height()) as usize;
    // Too little ink to see lines, or so much that it is a photo rather than text on paper.
    if ink.len() < 50 || ink.len() > pixels / 2 {
        return unknown;
    }
    let mut kept = 1.0;
    if ink.len() > MAX_INK_SAMPLES {
        let every = ink.len().div_ceil(MAX_INK_SAMPLES);
        kept = 1.0 / every as f32;
        ink = ink.into_iter().step_by(every).collect();
    }
    let half_diagonal = (cx * cx + cy * cy).sqrt().ceil() as usize + 1;
    let mut bins = vec![0u32; 2 * half_diagonal + 1];
    let last = bins.len() as isize - 1;
    let mut profile = |degrees: f32| -> Vec<u32> {
        let (sin, cos) = degrees.to_radians().sin_cos();
        bins.fill(0);
        for &(x, y) in &ink {
            let row = ((x * sin + y * cos).round() as isize + half_diagonal as isize).clamp(0, last) as usize;
            bins[row] += 1;
        }
        bins.clone()
    };
    let skew = if find_skew {
        // The total and the bin count do not change with the angle, so the sum of squares ranks
        // angles exactly as the variance does.
        let mut best_of = |angles: &mut dyn Iterator<Item = f32>| {
            let mut best = (0.0f32, f64::MIN);
            for angle in angles {
                let score = profile(angle).iter().map(|&n| f64::from(n) * f64::from(n)).sum::<f64>();
                if score > best.1 {
                    best = (angle, score);
                }
            }
            best.0
        };
        let coarse_steps = (MAX_SKEW / 0.5) as i32;
        let coarse = best_of(&mut (-coarse_steps..=coarse_steps).map(|i| i as f32 * 0.5));
        best_of(&mut (-5..=5).map(|i| coarse + i as f32 * 0.1)).clamp(-MAX_SKEW, MAX_SKEW)
    } else {
        0.0
    };
    // A row belongs to a line when it has more ink than a stray speck or two.
    let min_ink = ((small.width() / 200).max(3) as f32 * kept).ceil() as u32;
    let mut runs = Vec::new();
    let mut run = 0u32;
    for n in profile(skew).into_iter().chain([0]) {
        if n >= min_ink {
            run += 1;
        } else {
            if run * step >= 3 {
                runs.push(run * step);
            }
            run = 0;
        }
    }
    runs.sort_unstable();
    let line_height = (runs.len() >= 2).then(|| runs[runs.len() / 2]);
    PageLayout { skew, line_height }
}

/// A copy whose longest side is at most `side`, each pixel the mean of the `step`×`step` block it
/// covers, and that step.
fn shrink(image: &GrayImage, side: u32) -> (GrayImage, u32) {
    let step = image.width().max(image.height()).div_ceil(side).max(1);
    if step == 1 {
        return (image.clone(), 1);
    }
    let (width, height) = (image.width().div_ceil(step), image.height().div_ceil(step));
    let small = GrayImage::from_fn(width, height, |bx, by| {
        let (x0, y0) = (bx * step, by * step);
        let (x1, y1) = ((x0 + step).min(image.width()), (y0 + step).min(image.height()));
        let mut sum = 0u32;
        for y in y0..y1 {
            for x in x0..x1 {
                sum += u32::from(image.get_pixel(x, y).0[0]);
            }
        }
        Luma([(sum / ((x1 - x0) * (y1 - y0))) as u8])
    });
    (small, step)
}

/// The image turned `degrees` counter-clockwise about its centre, on a canvas grown to hold all
/// of it, sampled bilinearly; uncovered corners get `background`.
pub fn rotate(image: &GrayImage, degrees: f32, background: u8) -> GrayImage {
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (width, height) = (image.width() as f32, image.height() as f32);
    let out_width = (width * cos.abs() + height * sin.abs()).ceil().max(1.0) as u32;
    let out_height = (width * sin.abs() + height * cos.abs()).ceil().max(1.0) as u32;
    let (src_cx, src_cy) = (width / 2.0, height / 2.0);
    let (dst_cx, dst_cy) = (out_width as f32 / 2.0, out_height as f32 / 2.0);
    let src = image.as_raw();
    let stride = image.width() as usize;
    let sample = |x: i64, y: i64| -> f32 {
        if x < 0 || y < 0 || x >= i64::from(image.width()) || y >= i64::from(image.height()) {
            f32::from(background)
        } else {
            f32::from(src[y as usize * stride + x as usize])
        }
    };
    GrayImage::from_fn(out_width, out_height, |x, y| {
        // Inverse mapping: where in the source this output pixel's centre came from.
        let (dx, dy) = (x as f32 + 0.5 - dst_cx, y as f32 + 0.5 - dst_cy);
        let sx = dx * cos - dy * sin + src_cx - 0.5;
        let sy = dx * sin + dy * cos + src_cy - 0.5;
        let (x0, y0) = (sx.floor(), sy.floor());
        let (fx, fy) = (sx - x0, sy - y0);
        let (x0, y0) = (x0 as i64, y0 as i64);
        let top = sample(x0, y0) * (1.0 - fx) + sample(x0 + 1, y0) * fx;
        let bottom = sample(x0, y0 + 1) * (1.0 - fx) + sample(x0 + 1, y0 + 1) * fx;
        Luma([(top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8])
    })
}

#[cfg(test)]
mod tests;
