//! The report's charts, laid out by plotters and drawn as printpdf operations.
//!
//! [`PdfBackend`] is a plotters drawing backend whose lines, rectangles and polygons become
//! printpdf shape operations and whose text becomes PDF text in the embedded faces: the charts stay
//! vector graphics, their labels stay extractable, and no bitmap or SVG stage is needed (ADR 0023).
//! Amounts become `f64` here only to size bars; every number written is formatted from the
//! `Decimal`.

use std::convert::Infallible;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind, FontStyle as BackendFontStyle,
    FontTransform, text_anchor::HPos, text_anchor::VPos,
};
use printpdf::{Line, LinePoint, Op, PaintMode, Point, Polygon, PolygonRing, Pt, WindingOrder};

use super::RenderError;
use super::fonts::{Face, Fonts};
use super::layout::{self, Canvas, Paint};

/// Backend units per point: plotters works in integer pixels, so a finer unit keeps bar edges and
/// text positions to a tenth of a point.
const SCALE: f32 = 10.0;

/// A plotters backend drawing into a box of the current page.
struct PdfBackend<'a> {
    fonts: &'a Fonts,
    regular: printpdf::FontId,
    bold: printpdf::FontId,
    ops: &'a mut Vec<Op>,
    /// The box's top-left corner, in points from the page's top-left.
    left: f32,
    top: f32,
    /// The box's size in backend units.
    size: (u32, u32),
}

impl PdfBackend<'_> {
    fn point(&self, (x, y): BackendCoord) -> Point {
        Point { x: Pt(self.left + x as f32 / SCALE), y: Pt(layout::PAGE_H - (self.top + y as f32 / SCALE)) }
    }

    fn line_points(&self, coords: &[BackendCoord]) -> Vec<LinePoint> {
        coords.iter().map(|&c| LinePoint { p: self.point(c), bezier: false }).collect()
    }

    fn fill(&mut self, coords: &[BackendCoord], color: BackendColor) {
        if color.alpha <= 0.0 || coords.len() < 3 {
            return;
        }
        let points = self.line_points(coords);
        self.ops.push(Op::SetFillColor { col: paint_of(color).color() });
        self.ops.push(Op::DrawPolygon {
            polygon: Polygon {
                rings: vec![PolygonRing { points }],
                mode: PaintMode::Fill,
                winding_order: WindingOrder::NonZero,
            },
        });
    }

    fn stroke(&mut self, coords: &[BackendCoord], color: BackendColor, width: u32, closed: bool) {
        if color.alpha <= 0.0 || coords.len() < 2 {
            return;
        }
        let points = self.line_points(coords);
        self.ops.push(Op::SetOutlineColor { col: paint_of(color).color() });
        self.ops.push(Op::SetOutlineThickness { pt: Pt(width.max(1) as f32 / SCALE) });
        self.ops.push(Op::DrawLine { line: Line { points, is_closed: closed } });
    }

    fn face_of<S: BackendTextStyle>(style: &S) -> Face {
        match style.style() {
            BackendFontStyle::Bold => Face::Bold,
            _ => Face::Regular,
        }
    }
}

/// Colours with transparency are blended onto the white page: the charts draw on white only.
fn paint_of(c: BackendColor) -> Paint {
    let a = c.alpha.clamp(0.0, 1.0);
    let mix = |v: u8| (255.0 - (255.0 - f64::from(v)) * a).round() as u8;
    Paint(mix(c.rgb.0), mix(c.rgb.1), mix(c.rgb.2))
}

impl DrawingBackend for PdfBackend<'_> {
    type ErrorType = Infallible;

    fn get_size(&self) -> (u32, u32) {
        self.size
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Infallible>> {
        Ok(())
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Infallible>> {
        Ok(())
    }

    fn draw_pixel(&mut self, (x, y): BackendCoord, color: BackendColor) -> Result<(), DrawingErrorKind<Infallible>> {
        self.fill(&[(x, y), (x + 1, y), (x + 1, y + 1), (x, y + 1)], color);
        Ok(())
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        self.stroke(&[from, to], style.color(), style.stroke_width(), false);
        Ok(())
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        (x0, y0): BackendCoord,
        (x1, y1): BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        let corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)];
        if fill {
            self.fill(&corners, style.color());
        } else {
            self.stroke(&corners, style.color(), style.stroke_width(), true);
        }
        Ok(())
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        let coords: Vec<_> = path.into_iter().collect();
        self.stroke(&coords, style.color(), style.stroke_width(), false);
        Ok(())
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        (cx, cy): BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        let r = radius as f64;
        let coords: Vec<_> = (0..32)
            .map(|i| {
                let a = f64::from(i) * std::f64::consts::TAU / 32.0;
                (cx + (r * a.cos()).round() as i32, cy + (r * a.sin()).round() as i32)
            })
            .collect();
        if fill {
            self.fill(&coords, style.color());
        } else {
            self.stroke(&coords, style.color(), style.stroke_width(), true);
        }
        Ok(())
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        let coords: Vec<_> = vert.into_iter().collect();
        self.fill(&coords, style.color());
        Ok(())
    }

    /// Horizontal text only: the charts here rotate no label.
    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        (x, y): BackendCoord,
    ) -> Result<(), DrawingErrorKind<Infallible>> {
        debug_assert!(matches!(style.transform(), FontTransform::None), "charts rotate no text");
        let color = style.color();
        if color.alpha <= 0.0 || text.is_empty() {
            return Ok(());
        }
        let face = Self::face_of(style);
        let size = style.size() as f32 / SCALE;
        let width = self.fonts.width(face, size, text);
        let x = x as f32 / SCALE
            - match style.anchor().h_pos {
                HPos::Left => 0.0,
                HPos::Center => width / 2.0,
                HPos::Right => width,
            };
        // Baseline from the anchor, by the cap height (~0.72 em in DejaVu and Liberation Sans).
        let cap = 0.72 * size;
        let y = y as f32 / SCALE
            + match style.anchor().v_pos {
                VPos::Top => cap,
                VPos::Center => cap / 2.0,
                VPos::Bottom => -0.22 * size,
            };
        let font = if face == Face::Bold { self.bold.clone() } else { self.regular.clone() };
        self.ops.extend(layout::text_ops(
            font,
            self.left + x,
            layout::PAGE_H - (self.top + y),
            size,
            paint_of(color),
            text,
        ));
        Ok(())
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Infallible>> {
        let size = style.size() as f32 / SCALE;
        let width = self.fonts.width(Self::face_of(style), size, text);
        Ok(((width * SCALE).ceil() as u32, (size * SCALE).ceil() as u32))
    }
}

fn chart_error<E: std::fmt::Display>(chart: &'static str) -> impl Fn(E) -> RenderError {
    move |e| RenderError::Chart { chart, reason: e.to_string() }
}

/// Draws `draw` into a `width` × `height` point box at the cursor and moves the cursor below it.
fn draw_box(
    canvas: &mut Canvas<'_>,
    width: f32,
    height: f32,
    draw: impl FnOnce(&DrawingArea<PdfBackend<'_>, Shift>) -> Result<(), RenderError>,
) -> Result<(), RenderError> {
    canvas.ensure(height);
    let mut ops = Vec::new();
    {
        let backend = PdfBackend {
            fonts: canvas.fonts,
            regular: canvas.font_id(Face::Regular),
            bold: canvas.font_id(Face::Bold),
            ops: &mut ops,
            left: layout::MARGIN_X,
            top: canvas.y,
            size: ((width * SCALE) as u32, (height * SCALE) as u32),
        };
        draw(&backend.into_drawing_area())?;
    }
    canvas.ops().extend(ops);
    canvas.y += height;
    Ok(())
}

pub(crate) const CHART_FONT: f64 = 7.5;

fn label_font(color: RGBColor) -> TextStyle<'static> {
    ("sans-serif", CHART_FONT * f64::from(SCALE)).into_font().color(&color)
}

fn rgb(p: Paint) -> RGBColor {
    RGBColor(p.0, p.1, p.2)
}

/// One bar of the category chart: a label, the amount to size it and the text written at its end.
pub(crate) struct Bar {
    pub label: String,
    pub value: f64,
    pub value_text: String,
}

/// Horizontal bars, largest first from the top, each labelled on the left and with its amount at
/// its end.
pub(crate) fn horizontal_bars(canvas: &mut Canvas<'_>, bars: &[Bar], paint: Paint) -> Result<(), RenderError> {
    let fonts = canvas.fonts;
    let size = CHART_FONT as f32;
    let bar_h = 17.0;
    let axis_h = 16.0;
    let height = bars.len() as f32 * bar_h + axis_h + 6.0;
    let width = layout::CONTENT_W;
    // plotters sets a label twice the tick size (3 pt) away from the axis.
    let label_gap = 6.0;
    let label_w =
        bars.iter().map(|b| fonts.width(Face::Regular, size, &b.label)).fold(0.0, f32::max).clamp(40.0, 150.0)
            + label_gap;
    let value_w = bars.iter().map(|b| fonts.width(Face::Regular, size, &b.value_text)).fold(0.0, f32::max) + 12.0;
    let max = bars.iter().map(|b| b.value).fold(0.0, f64::max);
    // Leave room at the right for the longest amount written past the longest bar.
    let plot_w = f64::from(width - label_w - 8.0);
    let x_max = if max > 0.0 { max * plot_w / (plot_w - f64::from(value_w)).max(1.0) } else { 1.0 };
    let n = bars.len();
    draw_box(canvas, width, height, |area| {
        let err = chart_error("expenses by category");
        let mut chart = ChartBuilder::on(area)
            .margin_top((3.0 * SCALE) as u32)
            .margin_right((8.0 * SCALE) as u32)
            .set_label_area_size(LabelAreaPosition::Left, (label_w * SCALE) as u32)
            .set_label_area_size(LabelAreaPosition::Bottom, (axis_h * SCALE) as u32)
            .build_cartesian_2d(0f64..x_max, (0..n).into_segmented())
            .map_err(&err)?;
        let y_label = |v: &SegmentValue<usize>| match v {
            // Row 0 is at the bottom: the largest bar, first in `bars`, goes on top.
            SegmentValue::CenterOf(i) if *i < n => {
                fonts.fit(Face::Regular, size, &bars[n - 1 - i].label, label_w - label_gap)
            }
            _ => String::new(),
        };
        let x_label = |v: &f64| compact(*v);
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_labels(6)
            .y_labels(n + 1)
            .light_line_style(TRANSPARENT)
            .bold_line_style(rgb(layout::RULE).mix(0.6))
            // No axis lines or tick marks: the grid line at zero is the baseline; the tick size
            // only spaces the labels from the plot.
            .axis_style(TRANSPARENT)
            .set_all_tick_mark_size((3.0 * SCALE) as u32)
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .label_style(label_font(rgb(layout::MUTED)))
            .y_label_style(label_font(rgb(layout::INK)))
            .draw()
            .map_err(&err)?;
        let fill = rgb(paint);
        let pad = (bar_h * 0.2 * SCALE) as u32;
        chart
            .draw_series(bars.iter().enumerate().map(|(k, b)| {
                let row = n - 1 - k;
                let mut bar = Rectangle::new(
                    [(0.0, SegmentValue::Exact(row)), (b.value, SegmentValue::Exact(row + 1))],
                    fill.filled(),
                );
                bar.set_margin(pad, pad, 0, 0);
                bar
            }))
            .map_err(&err)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(k, b)| {
                let row = SegmentValue::CenterOf(n - 1 - k);
                // Anchored at the bar's end, the amount set 4 pt past it.
                EmptyElement::at((b.value, row))
                    + Text::new(
                        b.value_text.clone(),
                        ((4.0 * SCALE) as i32, 0),
                        label_font(rgb(layout::INK))
                            .pos(plotters::style::text_anchor::Pos::new(HPos::Left, VPos::Center)),
                    )
            }))
            .map_err(&err)?;
        Ok(())
    })
}

/// One month of the trend chart.
pub(crate) struct MonthBar {
    pub label: String,
    pub income: f64,
    pub expense: f64,
}

/// Income beside expense for each month, with a legend above at the right.
pub(crate) fn month_bars(canvas: &mut Canvas<'_>, months: &[MonthBar]) -> Result<(), RenderError> {
    let height = 170.0;
    canvas.ensure(height + 14.0);
    legend(canvas, &[("Income", layout::INCOME), ("Expense", layout::EXPENSE)]);
    let width = layout::CONTENT_W;
    let n = months.len().max(1);
    let max = months.iter().flat_map(|m| [m.income, m.expense]).fold(0.0, f64::max);
    let y_max = if max > 0.0 { max * 1.15 } else { 1.0 };
    draw_box(canvas, width, height, |area| {
        let err = chart_error("month by month");
        let mut chart = ChartBuilder::on(area)
            .margin_top((4.0 * SCALE) as u32)
            .margin_right((4.0 * SCALE) as u32)
            .set_label_area_size(LabelAreaPosition::Left, (40.0 * SCALE) as u32)
            .set_label_area_size(LabelAreaPosition::Bottom, (16.0 * SCALE) as u32)
            .build_cartesian_2d((0..n).into_segmented(), 0f64..y_max)
            .map_err(&err)?;
        let x_label = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) => months.get(*i).map(|m| m.label.clone()).unwrap_or_default(),
            _ => String::new(),
        };
        let y_label = |v: &f64| compact(*v);
        chart
            .configure_mesh()
            .disable_x_mesh()
            // At most ~14 month labels, so they never collide.
            .x_labels(14)
            .y_labels(6)
            .light_line_style(TRANSPARENT)
            .bold_line_style(rgb(layout::RULE).mix(0.6))
            // No axis lines or tick marks: the grid line at zero is the baseline; the tick size
            // only spaces the labels from the plot.
            .axis_style(TRANSPARENT)
            .set_all_tick_mark_size((3.0 * SCALE) as u32)
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .label_style(label_font(rgb(layout::MUTED)))
            .draw()
            .map_err(&err)?;
        // Each month's slot: income in its left half, expense in its right, with a gap around.
        let slot = chart.plotting_area().dim_in_pixel().0 / n as u32;
        let (outer, inner) = (slot * 14 / 100, slot / 2);
        let income = rgb(layout::INCOME);
        let expense = rgb(layout::EXPENSE);
        chart
            .draw_series(months.iter().enumerate().map(|(i, m)| {
                let mut bar = Rectangle::new(
                    [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), m.income)],
                    income.filled(),
                );
                bar.set_margin(0, 0, outer, inner);
                bar
            }))
            .map_err(&err)?;
        chart
            .draw_series(months.iter().enumerate().map(|(i, m)| {
                let mut bar = Rectangle::new(
                    [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), m.expense)],
                    expense.filled(),
                );
                bar.set_margin(0, 0, inner, outer);
                bar
            }))
            .map_err(&err)?;
        Ok(())
    })
}

/// A legend line at the cursor, right-aligned: a swatch and a label per series.
fn legend(canvas: &mut Canvas<'_>, series: &[(&str, Paint)]) {
    let size = CHART_FONT as f32;
    let swatch = 7.0;
    let mut x = layout::MARGIN_X + layout::CONTENT_W;
    let baseline = canvas.y + 8.0;
    for (label, paint) in series.iter().rev() {
        let w = canvas.fonts.width(Face::Regular, size, label);
        x -= w;
        canvas.text(x, baseline, Face::Regular, size, layout::INK, label);
        x -= swatch + 4.0;
        canvas.fill_rect(x, baseline - swatch + 0.5, swatch, swatch, *paint);
        x -= 12.0;
    }
    canvas.y += 14.0;
}

/// Axis tick values: `0`, `750`, `1.5k`, `2M`. Ticks only; amounts are written from the Decimal.
fn compact(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = if a >= 1e9 {
        (v / 1e9, "bn")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let text = format!("{scaled:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text}{suffix}")
}
