//! Test inputs made at test time: receipts rendered from TrueType fonts, and PDFs written by hand.
#![allow(dead_code)]

use std::io::Cursor;

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use image::{DynamicImage, GrayImage, ImageFormat, Luma};

pub mod pdf;

/// A font from the system's packages, named by its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    DejaVuSans,
    DejaVuSerif,
    DejaVuSansMono,
    LiberationSans,
    LiberationSerif,
    LiberationMono,
    FreeSans,
    FreeMono,
}

impl Face {
    pub fn name(self) -> &'static str {
        match self {
            Self::DejaVuSans => "DejaVu Sans",
            Self::DejaVuSerif => "DejaVu Serif",
            Self::DejaVuSansMono => "DejaVu Mono",
            Self::LiberationSans => "Liberation Sans",
            Self::LiberationSerif => "Liberation Serif",
            Self::LiberationMono => "Liberation Mono",
            Self::FreeSans => "FreeSans",
            Self::FreeMono => "FreeMono",
        }
    }

    fn file(self) -> (&'static str, &'static str) {
        match self {
            Self::DejaVuSans => ("dejavu/DejaVuSans.ttf", "fonts-dejavu-core"),
            Self::DejaVuSerif => ("dejavu/DejaVuSerif.ttf", "fonts-dejavu-core"),
            Self::DejaVuSansMono => ("dejavu/DejaVuSansMono.ttf", "fonts-dejavu-core"),
            Self::LiberationSans => ("liberation/LiberationSans-Regular.ttf", "fonts-liberation"),
            Self::LiberationSerif => ("liberation/LiberationSerif-Regular.ttf", "fonts-liberation"),
            Self::LiberationMono => ("liberation/LiberationMono-Regular.ttf", "fonts-liberation"),
            Self::FreeSans => ("freefont/FreeSans.ttf", "fonts-freefont-ttf"),
            Self::FreeMono => ("freefont/FreeMono.ttf", "fonts-freefont-ttf"),
        }
    }

    pub fn load(self) -> FontVec {
        let (file, package) = self.file();
        let path = format!("/usr/share/fonts/truetype/{file}");
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e} (apt-get install {package})"));
        FontVec::try_from_vec(data).unwrap_or_else(|e| panic!("{path}: {e}"))
    }
}

/// How a receipt is drawn.
#[derive(Debug, Clone, Copy)]
pub struct Look {
    pub face: Face,
    /// Glyph size in pixels (the em square).
    pub px: f32,
    /// Paper width in pixels; wider when the longest line needs it.
    pub width: u32,
    /// Degrees counter-clockwise.
    pub rotation: f32,
    /// Amplitude of uniform noise added to every pixel, and a sprinkle of specks when > 0.
    pub noise: u8,
    /// A 3×3 blur, as from a slightly soft camera.
    pub blur: bool,
}

const PAPER: u8 = 245;
const INK: u8 = 25;

/// Renders receipt `text`: one line each; `^` first centres a line; `left|right` puts `right`
/// flush against the right margin.
pub fn render(text: &str, look: Look) -> GrayImage {
    let font = look.face.load();
    let scaled = font.as_scaled(PxScale::from(look.px));
    let line_height = (look.px * 1.35).ceil() as u32;
    let margin = (look.px * 1.5) as u32;
    let lines: Vec<&str> = text.lines().collect();
    let height = margin * 2 + line_height * lines.len() as u32;
    let text_width = |s: &str| -> f32 {
        let mut width = 0.0;
        let mut previous = None;
        for c in s.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = previous {
                width += scaled.kern(p, id);
            }
            width += scaled.h_advance(id);
            previous = Some(id);
        }
        width
    };
    // Lines must fit: the paper grows to the longest line and some space.
    let needed = lines
        .iter()
        .map(|line| match line.trim_start_matches('^').split_once('|') {
            Some((left, right)) => text_width(left) + look.px * 2.0 + text_width(right),
            None => text_width(line.trim_start_matches('^')),
        })
        .fold(0.0f32, f32::max);
    let width = look.width.max((needed + look.px) as u32 + margin * 2);
    let mut page = GrayImage::from_pixel(width, height, Luma([PAPER]));
    let right_edge = (width - margin) as f32;
    for (i, line) in lines.iter().enumerate() {
        let baseline = (margin + line_height * i as u32) as f32 + scaled.ascent();
        let mut draw = |s: &str, x: f32| draw_text(&mut page, &font, look.px, s, x, baseline);
        if let Some(centred) = line.strip_prefix('^') {
            draw(centred, ((width as f32 - text_width(centred)) / 2.0).max(0.0));
        } else if let Some((left, right)) = line.split_once('|') {
            draw(left, margin as f32);
            draw(right, right_edge - text_width(right));
        } else {
            draw(line, margin as f32);
        }
    }
    if look.blur {
        page = image::imageops::blur(&page, 0.8);
    }
    if look.rotation != 0.0 {
        page = cashflow_ocr::preprocess::rotate(&page, look.rotation, PAPER);
    }
    if look.noise > 0 {
        add_noise(&mut page, look.noise, u64::from(width) * 7919 + u64::from(height));
    }
    page
}

fn draw_text(page: &mut GrayImage, font: &FontVec, px: f32, text: &str, x: f32, baseline: f32) {
    let scaled = font.as_scaled(PxScale::from(px));
    let mut caret = x;
    let mut previous = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = previous {
            caret += scaled.kern(p, id);
        }
        let glyph = id.with_scale_and_position(PxScale::from(px), point(caret, baseline));
        caret += scaled.h_advance(id);
        previous = Some(id);
        let Some(outlined) = font.outline_glyph(glyph) else { continue };
        let bounds = outlined.px_bounds();
        outlined.draw(|gx, gy, coverage| {
            let (x, y) = (bounds.min.x as i64 + i64::from(gx), bounds.min.y as i64 + i64::from(gy));
            if x < 0 || y < 0 || x >= i64::from(page.width()) || y >= i64::from(page.height()) {
                return;
            }
            let pixel = page.get_pixel_mut(x as u32, y as u32);
            let shade = f32::from(pixel.0[0]) - (f32::from(PAPER) - f32::from(INK)) * coverage.clamp(0.0, 1.0);
            pixel.0[0] = shade.clamp(0.0, 255.0) as u8;
        });
    }
}

fn add_noise(page: &mut GrayImage, amplitude: u8, seed: u64) {
    let mut rng = Xorshift(seed | 1);
    let span = u64::from(amplitude) * 2 + 1;
    for v in page.iter_mut() {
        let delta = (rng.next() % span) as i32 - i32::from(amplitude);
        *v = (i32::from(*v) + delta).clamp(0, 255) as u8;
    }
    // Specks: about one per 4000 pixels, each 2×2.
    let (width, height) = page.dimensions();
    for _ in 0..(width as u64 * height as u64 / 4000) {
        let (x, y) = ((rng.next() % u64::from(width - 1)) as u32, (rng.next() % u64::from(height - 1)) as u32);
        for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            page.put_pixel(x + dx, y + dy, Luma([60]));
        }
    }
}

pub struct Xorshift(pub u64);

impl Xorshift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// How a rendered image is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Png,
    /// JPEG at this quality.
    Jpeg(u8),
    Webp,
    Tiff,
}

impl Encoding {
    pub fn kind(self) -> cashflow_domain::invoice::ContentKind {
        use cashflow_domain::invoice::ContentKind;
        match self {
            Self::Png => ContentKind::Png,
            Self::Jpeg(_) => ContentKind::Jpeg,
            Self::Webp => ContentKind::Webp,
            Self::Tiff => ContentKind::Tiff,
        }
    }
}

pub fn encode(image: &GrayImage, encoding: Encoding) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        Encoding::Jpeg(quality) => {
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
            image.write_with_encoder(encoder).expect("JPEG encoding");
        }
        other => {
            let format = match other {
                Encoding::Png => ImageFormat::Png,
                Encoding::Webp => ImageFormat::WebP,
                _ => ImageFormat::Tiff,
            };
            DynamicImage::ImageLuma8(image.clone()).write_to(&mut Cursor::new(&mut out), format).expect("encoding");
        }
    }
    out
}

/// A PNG of 6000×6600 16-bit RGBA pixels, all transparent: ~300 KB that decodes to 317 MB. The
/// zeroed buffer is never written, so making it costs the test little memory.
pub fn png_bomb() -> Vec<u8> {
    use image::ImageEncoder;
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let (width, height) = (6000u32, 6600u32);
    let pixels = vec![0u8; width as usize * height as usize * 8];
    let mut png = Vec::new();
    PngEncoder::new_with_quality(&mut png, CompressionType::Fast, FilterType::NoFilter)
        .write_image(&pixels, width, height, image::ExtendedColorType::Rgba16)
        .expect("encode the PNG bomb");
    png
}
