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
    /// Scale narrow images up so their text reaches the size tesseract reads best.
    pub upscale: bool,
    /// Straighten a page photographed or scanned a few degrees askew.
    pub deskew: bool,
    /// Reduce to black and white with Otsu's threshold.
    pub binarise: bool,
}

impl Default for Preprocessing {
    fn default() -> Self {
        Self { upscale: true, deskew: true, binarise: true }
    }
}

/// Longest side accepted: leptonica and tesseract refuse larger.
pub const MAX_SIDE: u32 = 32_767;

/// Decodes an image of `kind` into gray pixels, refusing more than `max_pixels` pixels before the
/// decoder allocates anything (the header is read first), and turning it upright per its EXIF
/// orientation. Transparent parts are put on white.
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
    // Room for the widest pixel format (16-bit RGBA) plus the decoder's own buffers.
    limits.max_alloc = Some(max_pixels.saturating_mul(8).saturating_add(16 << 20));
    reader.limits(limits);
    let corrupt = |e: image::ImageError| OcrError::unreadable(format!("not a readable {}: {e}", kind.media_type()));
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let (width, height) = decoder.dimensions();
    check_size(width, height, max_pixels)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    image.apply_orientation(orientation);
    Ok(to_gray(image))
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

fn to_gray(image: DynamicImage) -> GrayImage {
    if !image.color().has_alpha() {
        return image.into_luma8();
    }
    let rgba = image.into_rgba8();
    let mut gray = GrayImage::new(rgba.width(), rgba.height());
    for (out, pixel) in gray.pixels_mut().zip(rgba.pixels()) {
        let [r, g, b, a] = pixel.0.map(u32::from);
        // Rec. 709 luma, as `into_luma8` uses, then blended over white.
        let luma = (2126 * r + 7152 * g + 722 * b) / 10_000;
        out.0[0] = ((luma * a + 255 * (255 - a)) / 255) as u8;
    }
    gray
}

/// Runs the enabled steps: deskew, then upscale, then binarise (last, so it also cleans the
/// interpolation blur of the others). `max_pixels` bounds the upscaled size.
pub fn prepare(mut image: GrayImage, steps: Preprocessing, max_pixels: u64) -> GrayImage {
    if steps.deskew {
        let skew = estimate_skew(&image);
        if skew.abs() >= MIN_CORRECTED_SKEW {
            let background = paper_level(&image);
            image = rotate(&image, -skew, background);
        }
    }
    if steps.upscale {
        let factor = upscale_factor(image.width(), image.height(), max_pixels);
        if factor > 1 {
            image = image::imageops::resize(
                &image,
                image.width() * factor,
                image.height() * factor,
                FilterType::CatmullRom,
            );
        }
    }
    if steps.binarise {
        let threshold = otsu_threshold(&image);
        binarise(&mut image, threshold);
    }
    image
}

/// Images narrower than this are scaled up: a receipt's 30–50 characters a line then get glyphs
/// of the 20–40 px height tesseract's models were trained on.
pub const UPSCALE_BELOW_WIDTH: u32 = 1000;
/// The width an upscaled image aims for.
const UPSCALE_TARGET_WIDTH: u32 = 1600;
const MAX_UPSCALE: u32 = 4;

/// The whole factor a `width`×`height` image is scaled up by: 1 when wide enough, else the
/// smallest factor reaching [`UPSCALE_TARGET_WIDTH`], at most 4 and within `max_pixels`.
pub fn upscale_factor(width: u32, height: u32, max_pixels: u64) -> u32 {
    if width == 0 || width >= UPSCALE_BELOW_WIDTH {
        return 1;
    }
    let wanted = UPSCALE_TARGET_WIDTH.div_ceil(width).min(MAX_UPSCALE);
    let pixels = u64::from(width) * u64::from(height);
    (1..=wanted)
        .rev()
        .find(|&f| {
            let f64_ = u64::from(f);
            pixels * f64_ * f64_ <= max_pixels && width * f <= MAX_SIDE && height.saturating_mul(f) <= MAX_SIDE
        })
        .unwrap_or(1)
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
    if n == 0 { 255 } else { (sum / n) as u8 }
}

/// Skews below this are left alone: tesseract copes, and rotating blurs a little.
const MIN_CORRECTED_SKEW: f32 = 0.3;
/// The largest skew looked for, either way, in degrees.
pub const MAX_SKEW: f32 = 5.0;
/// Skew is measured on a copy shrunk to this longest side: cheap and precise enough.
const SKEW_SAMPLE_SIDE: u32 = 1000;
const MAX_SKEW_SAMPLES: usize = 200_000;

/// The angle in degrees, within ±[`MAX_SKEW`], by which the page's text lines are rotated
/// counter-clockwise; `rotate(image, -angle, …)` straightens them. Found by trying angles 0.5°
/// apart, then 0.1° apart around the best, and keeping the one whose horizontal projection
/// profile of ink pixels has the greatest variance (text lines line up into sharp peaks).
pub fn estimate_skew(image: &GrayImage) -> f32 {
    let small = shrink(image, SKEW_SAMPLE_SIDE);
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
        return 0.0;
    }
    if ink.len() > MAX_SKEW_SAMPLES {
        let step = ink.len().div_ceil(MAX_SKEW_SAMPLES);
        ink = ink.into_iter().step_by(step).collect();
    }
    let half_diagonal = (cx * cx + cy * cy).sqrt().ceil() as usize + 1;
    let mut bins = vec![0u32; 2 * half_diagonal + 1];
    let last = bins.len() as isize - 1;
    let mut score = |degrees: f32| -> f64 {
        let (sin, cos) = degrees.to_radians().sin_cos();
        bins.fill(0);
        for &(x, y) in &ink {
            let row = ((x * sin + y * cos).round() as isize + half_diagonal as isize).clamp(0, last) as usize;
            bins[row] += 1;
        }
        // The total and the bin count do not change with the angle, so the sum of squares ranks
        // angles exactly as the variance does.
        bins.iter().map(|&n| f64::from(n) * f64::from(n)).sum()
    };
    let best_of = |angles: &mut dyn Iterator<Item = f32>, score: &mut dyn FnMut(f32) -> f64| {
        angles.map(|a| (a, score(a))).fold((0.0f32, f64::MIN), |best, tried| if tried.1 > best.1 { tried } else { best })
    };
    let steps = (MAX_SKEW / 0.5) as i32;
    let (coarse, _) = best_of(&mut (-steps..=steps).map(|i| i as f32 * 0.5), &mut score);
    let (fine, _) = best_of(&mut (-5..=5).map(|i| coarse + i as f32 * 0.1), &mut score);
    fine.clamp(-MAX_SKEW, MAX_SKEW)
}

/// A copy whose longest side is at most `side`, each pixel the mean of the block it covers.
fn shrink(image: &GrayImage, side: u32) -> GrayImage {
    let step = image.width().max(image.height()).div_ceil(side).max(1);
    if step == 1 {
        return image.clone();
    }
    let (width, height) = (image.width().div_ceil(step), image.height().div_ceil(step));
    GrayImage::from_fn(width, height, |bx, by| {
        let (x0, y0) = (bx * step, by * step);
        let (x1, y1) = ((x0 + step).min(image.width()), (y0 + step).min(image.height()));
        let mut sum = 0u32;
        for y in y0..y1 {
            for x in x0..x1 {
                sum += u32::from(image.get_pixel(x, y).0[0]);
            }
        }
        Luma([(sum / ((x1 - x0) * (y1 - y0))) as u8])
    })
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
