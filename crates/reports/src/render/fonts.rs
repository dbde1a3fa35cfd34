//! The two faces a PDF report is set in, loaded once and embedded in every PDF so its text can be
//! extracted and it reads the same everywhere.

use std::path::{Path, PathBuf};

use printpdf::ParsedFont;

use super::RenderError;

/// Where [`Fonts::load_system`] looks, in order: each family's regular and bold face. Debian's
/// `fonts-dejavu-core` and `fonts-liberation` packages install them there.
pub const SYSTEM_FONT_FAMILIES: [(&str, &str); 2] = [
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    (
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    ),
];

/// A regular and a bold face of one sans-serif family, parsed. Load it once and share it: each
/// [`render_pdf`](super::render_pdf) call embeds a subset of each face holding the glyphs that
/// report uses.
#[derive(Debug, Clone)]
pub struct Fonts {
    pub(crate) regular: ParsedFont,
    pub(crate) bold: ParsedFont,
}

/// Which of the two faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Face {
    Regular,
    Bold,
}

impl Fonts {
    /// The first family of [`SYSTEM_FONT_FAMILIES`] whose two files both exist: DejaVu Sans, else
    /// Liberation Sans. [`RenderError::FontsNotFound`] names every path tried when neither does.
    pub fn load_system() -> Result<Self, RenderError> {
        let families: Vec<(PathBuf, PathBuf)> =
            SYSTEM_FONT_FAMILIES.iter().map(|(r, b)| (PathBuf::from(r), PathBuf::from(b))).collect();
        Self::load_first_of(&families)
    }

    /// The first pair of `(regular, bold)` files that both exist, parsed.
    pub fn load_first_of(families: &[(PathBuf, PathBuf)]) -> Result<Self, RenderError> {
        for (regular, bold) in families {
            if regular.is_file() && bold.is_file() {
                return Self::from_bytes(read(regular)?, read(bold)?);
            }
        }
        Err(RenderError::FontsNotFound { tried: families.iter().flat_map(|(r, b)| [r.clone(), b.clone()]).collect() })
    }

    /// Two TrueType or OpenType faces given as bytes (from `include_bytes!`, a config path, …).
    pub fn from_bytes(regular: Vec<u8>, bold: Vec<u8>) -> Result<Self, RenderError> {
        Ok(Self { regular: parse(&regular, "regular")?, bold: parse(&bold, "bold")? })
    }

    pub(crate) fn face(&self, face: Face) -> &ParsedFont {
        match face {
            Face::Regular => &self.regular,
            Face::Bold => &self.bold,
        }
    }

    /// How wide `text` is set in `face` at `size` points, in points: the glyphs' advances, no
    /// kerning (the PDF text is shown without kerning either).
    pub(crate) fn width(&self, face: Face, size: f32, text: &str) -> f32 {
        let font = self.face(face);
        let units: u32 = text
            .chars()
            .map(|c| {
                let gid = font.lookup_glyph_index(c as u32).unwrap_or(0);
                u32::from(font.get_glyph_width(gid).unwrap_or(0))
            })
            .sum();
        units as f32 * size / f32::from(font.units_per_em.max(1))
    }

    /// `text` cut to fit `max` points, ending in an ellipsis when it had to be cut.
    pub(crate) fn fit(&self, face: Face, size: f32, text: &str, max: f32) -> String {
        if self.width(face, size, text) <= max {
            return text.to_owned();
        }
        let ellipsis = self.width(face, size, "\u{2026}");
        let mut out = String::new();
        let mut used = 0.0;
        for c in text.chars() {
            let w = self.width(face, size, c.encode_utf8(&mut [0; 4]));
            if used + w + ellipsis > max {
                break;
            }
            used += w;
            out.push(c);
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out.push('\u{2026}');
        out
    }
}

fn read(path: &Path) -> Result<Vec<u8>, RenderError> {
    std::fs::read(path).map_err(|source| RenderError::FontRead { path: path.to_owned(), source })
}

fn parse(bytes: &[u8], which: &'static str) -> Result<ParsedFont, RenderError> {
    let mut warnings = Vec::new();
    let font = ParsedFont::from_bytes(bytes, 0, &mut warnings).ok_or(RenderError::InvalidFont { which })?;
    if font.codepoint_to_glyph.is_empty() {
        return Err(RenderError::InvalidFont { which });
    }
    Ok(font)
}
