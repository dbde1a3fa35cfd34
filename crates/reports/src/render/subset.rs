//! Font subsetting: a report embeds only the glyphs it shows.
//!
//! printpdf embeds fonts whole unless built with its `text_layout` feature (the azul layout
//! engine); DejaVu Sans and Sans Bold whole are ~730 KiB of every report. allsorts, which printpdf
//! already builds to parse fonts, cuts a face down to the glyphs given, keeping a Unicode `cmap`
//! for them, so the subset parses back into a [`ParsedFont`] that printpdf embeds as usual.

use std::collections::BTreeSet;

use allsorts::binary::read::ReadScope;
use allsorts::font_data::FontData;
use allsorts::subset::{CmapTarget, SubsetProfile, subset};
use printpdf::ParsedFont;

/// `font` cut down to the glyphs of `chars` (and `.notdef`), or `None` if allsorts cannot subset
/// it, in which case the caller embeds the font whole.
pub(crate) fn subset_font(font: &ParsedFont, chars: &BTreeSet<char>) -> Option<ParsedFont> {
    let mut glyphs: Vec<u16> =
        chars.iter().filter_map(|c| font.lookup_glyph_index(u32::from(*c))).filter(|g| *g != 0).collect();
    glyphs.sort_unstable();
    glyphs.dedup();
    // allsorts wants .notdef first.
    glyphs.insert(0, 0);
    let data = ReadScope::new(&font.original_bytes).read::<FontData<'_>>().ok()?;
    let provider = data.table_provider(font.font_index as usize).ok()?;
    let bytes = subset(&provider, &glyphs, &SubsetProfile::Pdf, CmapTarget::Unicode).ok()?;
    let parsed = ParsedFont::from_bytes(&bytes, 0, &mut Vec::new())?;
    // Every character must still map to a glyph, or its text would vanish from the page.
    chars
        .iter()
        .all(|c| {
            font.lookup_glyph_index(u32::from(*c)).is_none_or(|_| parsed.lookup_glyph_index(u32::from(*c)).is_some())
        })
        .then_some(parsed)
}
