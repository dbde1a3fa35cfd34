//! The PDF page builder: a cursor running down A4 pages, text set in the embedded faces, rules,
//! filled boxes, and tables that break across pages with their header repeated.
//!
//! Coordinates here are points from the page's top-left corner, y growing downwards, as a page is
//! read; they are turned into PDF's bottom-left coordinates only when an operation is emitted.

use std::collections::{BTreeMap, BTreeSet};

use printpdf::{
    Color, FontId, Line, LinePoint, Mm, Op, PaintMode, PdfDocument, PdfFont, PdfFontHandle, PdfPage, PdfSaveOptions,
    Point, Pt, Rect, Rgb, TextItem,
};

use super::fonts::{Face, Fonts};
use super::subset::subset_font;

pub(crate) const PAGE_W: f32 = 595.2756;
pub(crate) const PAGE_H: f32 = 841.8898;
pub(crate) const MARGIN_X: f32 = 48.0;
pub(crate) const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN_X;
const TOP: f32 = 50.0;
/// Content stops here; the footer sits below.
const BOTTOM: f32 = PAGE_H - 58.0;
const FOOTER_BASELINE: f32 = PAGE_H - 32.0;

/// An sRGB colour, 0–255 per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Paint(pub u8, pub u8, pub u8);

impl Paint {
    pub(crate) fn color(self) -> Color {
        Color::Rgb(Rgb {
            r: f32::from(self.0) / 255.0,
            g: f32::from(self.1) / 255.0,
            b: f32::from(self.2) / 255.0,
            icc_profile: None,
        })
    }
}

pub(crate) const INK: Paint = Paint(0x1f, 0x29, 0x33);
pub(crate) const MUTED: Paint = Paint(0x61, 0x6e, 0x7c);
pub(crate) const RULE: Paint = Paint(0xcb, 0xd2, 0xd9);
pub(crate) const ZEBRA: Paint = Paint(0xf5, 0xf7, 0xfa);
pub(crate) const HEAD_BG: Paint = Paint(0xe4, 0xe9, 0xef);
pub(crate) const ACCENT: Paint = Paint(0x24, 0x4e, 0x78);
pub(crate) const INCOME: Paint = Paint(0x2f, 0x85, 0x5a);
pub(crate) const EXPENSE: Paint = Paint(0xc0, 0x56, 0x21);
pub(crate) const WARN: Paint = Paint(0xd6, 0x9e, 0x2e);
pub(crate) const OVER: Paint = Paint(0xc5, 0x30, 0x30);
pub(crate) const TRACK: Paint = Paint(0xe4, 0xe7, 0xeb);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// A table column: its header, width in points and alignment.
pub(crate) struct Col {
    pub title: &'static str,
    pub width: f32,
    pub align: Align,
}

impl Col {
    pub(crate) fn left(title: &'static str, width: f32) -> Self {
        Self { title, width, align: Align::Left }
    }

    pub(crate) fn right(title: &'static str, width: f32) -> Self {
        Self { title, width, align: Align::Right }
    }
}

/// A table cell: text, or a small progress bar when `bar` is set (a fraction, drawn capped at 1).
pub(crate) struct Cell {
    pub text: String,
    pub face: Face,
    pub paint: Paint,
    pub bar: Option<(f32, Paint)>,
}

impl Cell {
    pub(crate) fn text(text: impl Into<String>) -> Self {
        Self { text: text.into(), face: Face::Regular, paint: INK, bar: None }
    }

    pub(crate) fn bar(fraction: f32, paint: Paint) -> Self {
        Self { text: String::new(), face: Face::Regular, paint: INK, bar: Some((fraction, paint)) }
    }

    pub(crate) fn paint(mut self, paint: Paint) -> Self {
        self.paint = paint;
        self
    }

    pub(crate) fn bold(mut self) -> Self {
        self.face = Face::Bold;
        self
    }
}

/// How a table is set: font size and row height, in points.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TableStyle {
    pub size: f32,
    pub row_h: f32,
    /// The last row is a total: bold with a rule above, not striped.
    pub total_row: bool,
}

pub(crate) const TABLE: TableStyle = TableStyle { size: 8.5, row_h: 15.0, total_row: false };

const CELL_PAD: f32 = 5.0;

/// Tables of at most this many rows start on a new page rather than break.
const KEEP_TOGETHER_ROWS: usize = 16;

/// The document being built: pages of printpdf operations and a cursor on the last one.
pub(crate) struct Canvas<'f> {
    pub fonts: &'f Fonts,
    doc: PdfDocument,
    regular: FontId,
    bold: FontId,
    pages: Vec<Vec<Op>>,
    /// The cursor on the last page, from its top.
    pub y: f32,
    /// The heading of the section being set: a page break inside it repeats it, "(continued)".
    section: Option<String>,
}

impl<'f> Canvas<'f> {
    pub(crate) fn new(fonts: &'f Fonts, title: &str) -> Self {
        let mut doc = PdfDocument::new(title);
        let regular = doc.add_font(&fonts.regular);
        let bold = doc.add_font(&fonts.bold);
        let mut canvas = Self { fonts, doc, regular, bold, pages: Vec::new(), y: TOP, section: None };
        canvas.new_page();
        canvas
    }

    pub(crate) fn doc_mut(&mut self) -> &mut PdfDocument {
        &mut self.doc
    }

    pub(crate) fn page_number(&self) -> usize {
        self.pages.len()
    }

    /// Starts a new page; inside a section its first line says which section continues there.
    pub(crate) fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = TOP;
        if let Some(section) = self.section.clone() {
            self.text(MARGIN_X, TOP + 8.0, Face::Regular, 8.0, MUTED, &format!("{section} (continued)"));
            self.y = TOP + 18.0;
        }
    }

    /// Ends the current section and starts a new page.
    pub(crate) fn page_break(&mut self) {
        self.section = None;
        self.new_page();
    }

    /// Room left on this page below the cursor.
    pub(crate) fn remaining(&self) -> f32 {
        BOTTOM - self.y
    }

    /// Starts a new page unless `height` points still fit on this one.
    pub(crate) fn ensure(&mut self, height: f32) {
        if self.remaining() < height {
            self.new_page();
        }
    }

    pub(crate) fn ops(&mut self) -> &mut Vec<Op> {
        self.pages.last_mut().expect("a canvas always has a page")
    }

    pub(crate) fn font_id(&self, face: Face) -> FontId {
        match face {
            Face::Regular => self.regular.clone(),
            Face::Bold => self.bold.clone(),
        }
    }

    /// Sets `text` with its baseline at `baseline` (from the top), starting at `x`.
    pub(crate) fn text(&mut self, x: f32, baseline: f32, face: Face, size: f32, paint: Paint, text: &str) {
        let ops = text_ops(self.font_id(face), x, PAGE_H - baseline, size, paint, text);
        self.ops().extend(ops);
    }

    /// Sets `text` so that it ends at `right`.
    pub(crate) fn text_right(&mut self, right: f32, baseline: f32, face: Face, size: f32, paint: Paint, text: &str) {
        let w = self.fonts.width(face, size, text);
        self.text(right - w, baseline, face, size, paint, text);
    }

    pub(crate) fn fill_rect(&mut self, x: f32, top: f32, w: f32, h: f32, paint: Paint) {
        if w <= 0.0 || h <= 0.0 {
            return;
        }
        self.ops().extend([
            Op::SetFillColor { col: paint.color() },
            Op::DrawRectangle {
                rectangle: Rect {
                    x: Pt(x),
                    y: Pt(PAGE_H - top - h),
                    width: Pt(w),
                    height: Pt(h),
                    mode: Some(PaintMode::Fill),
                    winding_order: None,
                },
            },
        ]);
    }

    /// A horizontal rule at `y` from `x1` to `x2`.
    pub(crate) fn hline(&mut self, x1: f32, x2: f32, y: f32, thickness: f32, paint: Paint) {
        let y = PAGE_H - y;
        self.ops().extend([
            Op::SetOutlineColor { col: paint.color() },
            Op::SetOutlineThickness { pt: Pt(thickness) },
            Op::DrawLine {
                line: Line {
                    points: vec![
                        LinePoint { p: Point { x: Pt(x1), y: Pt(y) }, bezier: false },
                        LinePoint { p: Point { x: Pt(x2), y: Pt(y) }, bezier: false },
                    ],
                    is_closed: false,
                },
            },
        ]);
    }

    /// A section heading with a rule under it, kept on the same page as the `keep` points after it.
    pub(crate) fn heading(&mut self, title: &str, keep: f32) {
        if self.remaining() < 34.0 + keep {
            self.page_break();
        }
        if self.y > TOP + 1.0 {
            self.y += 10.0;
        }
        self.text(MARGIN_X, self.y + 13.0, Face::Bold, 13.0, ACCENT, title);
        self.hline(MARGIN_X, MARGIN_X + CONTENT_W, self.y + 19.0, 0.8, ACCENT);
        self.y += 30.0;
        self.section = Some(title.to_owned());
    }

    /// A line of muted text, e.g. an explanation or "nothing to show".
    pub(crate) fn note(&mut self, text: &str) {
        self.ensure(16.0);
        self.text(MARGIN_X, self.y + 9.0, Face::Regular, 9.0, MUTED, text);
        self.y += 16.0;
    }

    /// A table starting at the cursor, `cols` wide as given (their widths should add up to the
    /// content width), breaking onto new pages as needed with the header repeated.
    pub(crate) fn table(&mut self, cols: &[Col], rows: &[Vec<Cell>], style: TableStyle) {
        let head_h = style.row_h + 2.0;
        let whole = head_h + style.row_h * rows.len() as f32;
        if rows.len() <= KEEP_TOGETHER_ROWS && whole <= BOTTOM - TOP {
            // A short table is easier to read on one page than split across two.
            self.ensure(whole);
        } else {
            self.ensure(head_h + style.row_h * rows.len().min(3) as f32);
        }
        self.table_header(cols, style);
        let last = rows.len().saturating_sub(1);
        for (i, row) in rows.iter().enumerate() {
            if self.remaining() < style.row_h {
                self.new_page();
                self.table_header(cols, style);
            }
            let is_total = style.total_row && i == last;
            if is_total {
                self.hline(MARGIN_X, MARGIN_X + total_width(cols), self.y, 0.8, INK);
            } else if i % 2 == 1 {
                self.fill_rect(MARGIN_X, self.y, total_width(cols), style.row_h, ZEBRA);
            }
            self.table_row(cols, row, style, is_total);
        }
        self.hline(MARGIN_X, MARGIN_X + total_width(cols), self.y, 0.5, RULE);
        self.y += 8.0;
    }

    fn table_header(&mut self, cols: &[Col], style: TableStyle) {
        let h = style.row_h + 2.0;
        self.fill_rect(MARGIN_X, self.y, total_width(cols), h, HEAD_BG);
        let baseline = self.y + h / 2.0 + style.size * 0.36;
        let mut x = MARGIN_X;
        for col in cols {
            let size = style.size - 0.5;
            let title = self.fonts.fit(Face::Bold, size, col.title, col.width - 2.0 * CELL_PAD);
            match col.align {
                Align::Left => self.text(x + CELL_PAD, baseline, Face::Bold, size, INK, &title),
                Align::Right => self.text_right(x + col.width - CELL_PAD, baseline, Face::Bold, size, INK, &title),
            }
            x += col.width;
        }
        self.y += h;
    }

    fn table_row(&mut self, cols: &[Col], row: &[Cell], style: TableStyle, is_total: bool) {
        let baseline = self.y + style.row_h / 2.0 + style.size * 0.36;
        let mut x = MARGIN_X;
        for (col, cell) in cols.iter().zip(row) {
            if let Some((fraction, paint)) = cell.bar {
                let w = col.width - 2.0 * CELL_PAD;
                let h = 5.0;
                let top = self.y + (style.row_h - h) / 2.0;
                self.fill_rect(x + CELL_PAD, top, w, h, TRACK);
                self.fill_rect(x + CELL_PAD, top, w * fraction.clamp(0.0, 1.0), h, paint);
            } else {
                let face = if is_total { Face::Bold } else { cell.face };
                let text = clean(&cell.text);
                let text = self.fonts.fit(face, style.size, &text, col.width - 2.0 * CELL_PAD);
                match col.align {
                    Align::Left => self.text(x + CELL_PAD, baseline, face, style.size, cell.paint, &text),
                    Align::Right => {
                        self.text_right(x + col.width - CELL_PAD, baseline, face, style.size, cell.paint, &text)
                    }
                }
            }
            x += col.width;
        }
        self.y += style.row_h;
    }

    /// Adds the footer (`footer` on the left, "Page i of n" on the right) to every page and writes
    /// the PDF.
    pub(crate) fn finish(mut self, footer: &str) -> Vec<u8> {
        let n = self.pages.len();
        let footer_left = self.fonts.fit(Face::Regular, 7.5, footer, CONTENT_W - 80.0);
        let regular = self.regular.clone();
        let pages: Vec<PdfPage> = std::mem::take(&mut self.pages)
            .into_iter()
            .enumerate()
            .map(|(i, mut ops)| {
                let rule_y = PAGE_H - (FOOTER_BASELINE - 11.0);
                ops.extend([
                    Op::SetOutlineColor { col: RULE.color() },
                    Op::SetOutlineThickness { pt: Pt(0.5) },
                    Op::DrawLine {
                        line: Line {
                            points: vec![
                                LinePoint { p: Point { x: Pt(MARGIN_X), y: Pt(rule_y) }, bezier: false },
                                LinePoint { p: Point { x: Pt(MARGIN_X + CONTENT_W), y: Pt(rule_y) }, bezier: false },
                            ],
                            is_closed: false,
                        },
                    },
                ]);
                let base = PAGE_H - FOOTER_BASELINE;
                ops.extend(text_ops(regular.clone(), MARGIN_X, base, 7.5, MUTED, &footer_left));
                let label = format!("Page {} of {n}", i + 1);
                let w = self.fonts.width(Face::Regular, 7.5, &label);
                ops.extend(text_ops(regular.clone(), MARGIN_X + CONTENT_W - w, base, 7.5, MUTED, &label));
                PdfPage::new(Mm(210.0), Mm(297.0), ops)
            })
            .collect();
        self.doc.with_pages(pages);
        self.subset_fonts();
        let mut warnings = Vec::new();
        self.doc.save(&PdfSaveOptions::default(), &mut warnings)
    }
}

impl Canvas<'_> {
    /// Replaces each face with a subset of the glyphs its text uses; a face allsorts cannot
    /// subset stays whole.
    fn subset_fonts(&mut self) {
        let mut used: BTreeMap<FontId, BTreeSet<char>> = BTreeMap::new();
        for page in &self.doc.pages {
            let mut current: Option<&FontId> = None;
            for op in &page.ops {
                match op {
                    Op::SetFont { font: PdfFontHandle::External(id), .. } => current = Some(id),
                    Op::ShowText { items } => {
                        if let Some(id) = current {
                            let chars = used.entry(id.clone()).or_default();
                            for item in items {
                                if let TextItem::Text(text) = item {
                                    chars.extend(text.chars());
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        for (id, face) in [(self.regular.clone(), Face::Regular), (self.bold.clone(), Face::Bold)] {
            let chars = used.remove(&id).unwrap_or_default();
            if let Some(font) = subset_font(self.fonts.face(face), &chars) {
                self.doc.resources.fonts.map.insert(id, PdfFont::new(font));
            }
        }
    }
}

fn total_width(cols: &[Col]) -> f32 {
    cols.iter().map(|c| c.width).sum()
}

/// The operations that set one line of text with its baseline at (`x`, `y`) in PDF coordinates.
pub(crate) fn text_ops(font: FontId, x: f32, y: f32, size: f32, paint: Paint, text: &str) -> [Op; 6] {
    [
        Op::SetFillColor { col: paint.color() },
        Op::StartTextSection,
        Op::SetFont { font: PdfFontHandle::External(font), size: Pt(size) },
        // `Td` from the identity matrix `BT` starts with: absolute within this text section.
        Op::SetTextCursor { pos: Point { x: Pt(x), y: Pt(y) } },
        Op::ShowText { items: vec![TextItem::Text(text.to_owned())] },
        Op::EndTextSection,
    ]
}

/// One line of text: each run of line breaks, tabs and spaces becomes one space; other control
/// characters go.
pub(crate) fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if matches!(c, '\n' | '\r' | '\t' | ' ') {
            space = true;
        } else if !c.is_control() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    out
}
