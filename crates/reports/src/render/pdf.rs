//! The PDF report: what it shows and in which order.
//!
//! Page 1: the title with the period, when it was generated and at which ledger position, a
//! summary card per currency and the accounts. Then a chapter per currency (expenses by category
//! as a chart and a table, the months as a chart and a table, top counterparties, budgets), then
//! an appendix with every movement. Each chapter starts a page and has a bookmark.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::RenderError;
use super::chart::{self, Bar, MonthBar};
use super::fonts::{Face, Fonts};
use super::format;
use super::layout::{
    ACCENT, CONTENT_W, Canvas, Cell, Col, EXPENSE, INCOME, INK, MARGIN_X, MUTED, OVER, PAGE_W, Paint, RULE, TABLE,
    TableStyle, WARN, ZEBRA,
};
use crate::document::{CategoryLine, ReportDocument};

/// The category chart shows this many bars; smaller categories are summed into one "Other" bar.
const MAX_CATEGORY_BARS: usize = 12;

/// Renders `doc` as an A4 PDF with `fonts` embedded.
///
/// The PDF's dates are the document's `generated_at`, not the clock's, so the same document gives
/// the same pages (printpdf still draws the file identifier at random).
pub fn render_pdf(doc: &ReportDocument, fonts: &Fonts) -> Result<Vec<u8>, RenderError> {
    let title = format!("Cashflow report {} to {}", doc.from, doc.to);
    let mut c = Canvas::new(fonts, &title);
    set_metadata(&mut c, doc);

    title_block(&mut c, doc);
    summary(&mut c, doc);
    accounts(&mut c, doc);
    for currency in doc.currencies() {
        currency_chapter(&mut c, doc, currency)?;
    }
    appendix(&mut c, doc);

    let footer = format!("Cashflow report \u{00b7} {}", format::period(doc.from, doc.to));
    Ok(c.finish(&footer))
}

fn set_metadata(c: &mut Canvas<'_>, doc: &ReportDocument) {
    let when = printpdf::OffsetDateTime::from_unix_timestamp(doc.generated_at.timestamp())
        .unwrap_or_else(|_| printpdf::OffsetDateTime::epoch());
    let info = &mut c.doc_mut().metadata.info;
    info.creator = "Cashflow".to_owned();
    info.producer = "Cashflow (printpdf)".to_owned();
    info.subject = format!("Income and expenses, {}", format::period(doc.from, doc.to));
    info.creation_date = when;
    info.modification_date = when;
    info.metadata_date = when;
}

fn bookmark(c: &mut Canvas<'_>, name: &str) {
    let page = c.page_number();
    c.doc_mut().add_bookmark(name, page);
}

fn title_block(c: &mut Canvas<'_>, doc: &ReportDocument) {
    let band = 96.0;
    c.fill_rect(0.0, 0.0, PAGE_W, band, ACCENT);
    let light = Paint(0xd9, 0xe6, 0xf2);
    let white = Paint(0xff, 0xff, 0xff);
    c.text(MARGIN_X, 30.0, Face::Bold, 8.5, light, "CASHFLOW");
    c.text(MARGIN_X, 58.0, Face::Bold, 22.0, white, "Income and expense report");
    let period = format!("{} \u{2013} {}", format::date_long(doc.from), format::date_long(doc.to));
    c.text(MARGIN_X, 80.0, Face::Regular, 11.0, white, &period);
    let iso = format!("{} to {}", doc.from, doc.to);
    c.text_right(MARGIN_X + CONTENT_W, 80.0, Face::Regular, 9.0, light, &iso);
    let generated = doc.generated_at.format("%-d %b %Y, %H:%M UTC");
    let meta = format!(
        "Generated {generated} \u{00b7} ledger position {} \u{00b7} {} accounts \u{00b7} {} movements",
        format::count(doc.position),
        format::count(doc.accounts.len() as u64),
        format::count(doc.movements.len() as u64),
    );
    c.text(MARGIN_X, band + 22.0, Face::Regular, 8.5, MUTED, &meta);
    c.y = band + 34.0;
    bookmark(c, "Summary");
}

fn summary(c: &mut Canvas<'_>, doc: &ReportDocument) {
    c.heading("Summary", 80.0);
    if doc.totals.is_empty() {
        c.note("No movements were recorded in this period.");
        return;
    }
    let per_row = doc.totals.len().min(3);
    let gap = 12.0;
    let card_w = (CONTENT_W - gap * (per_row as f32 - 1.0)) / per_row as f32;
    let card_h = 80.0;
    for row in doc.totals.chunks(per_row) {
        c.ensure(card_h + 10.0);
        let top = c.y;
        for (i, t) in row.iter().enumerate() {
            let x = MARGIN_X + i as f32 * (card_w + gap);
            c.fill_rect(x, top, card_w, card_h, ZEBRA);
            c.fill_rect(x, top, 3.0, card_h, ACCENT);
            let count = doc.movements.iter().filter(|m| m.currency == t.currency).count() as u64;
            c.text(x + 12.0, top + 18.0, Face::Bold, 12.0, INK, &t.currency);
            let movements = format!("{} movements", format::count(count));
            c.text_right(x + card_w - 10.0, top + 18.0, Face::Regular, 7.5, MUTED, &movements);
            let lines = [
                ("Income", format::amount(t.income, &t.currency), INCOME, Face::Regular),
                ("Expense", format::amount(t.expense, &t.currency), EXPENSE, Face::Regular),
                (
                    "Net",
                    format::signed_amount(t.net, &t.currency),
                    if t.net < Decimal::ZERO { OVER } else { INK },
                    Face::Bold,
                ),
            ];
            for (k, (label, value, paint, face)) in lines.into_iter().enumerate() {
                let baseline = top + 37.0 + k as f32 * 14.0;
                if k == 2 {
                    c.hline(x + 12.0, x + card_w - 10.0, baseline - 10.0, 0.5, RULE);
                }
                c.text(x + 12.0, baseline, face, 9.0, MUTED, label);
                c.text_right(x + card_w - 10.0, baseline, face, 9.5, paint, &value);
            }
        }
        c.y = top + card_h + 10.0;
    }
}

fn accounts(c: &mut Canvas<'_>, doc: &ReportDocument) {
    c.heading("Accounts", 40.0);
    if doc.accounts.is_empty() {
        c.note("No accounts are covered by this report.");
        return;
    }
    let w = 92.0;
    let cols = [
        Col::left("Account", CONTENT_W - 60.0 - 3.0 * w),
        Col::left("Currency", 60.0),
        Col::right("Opening balance", w),
        Col::right("Closing balance", w),
        Col::right("Change", w),
    ];
    let rows: Vec<Vec<Cell>> = doc
        .accounts
        .iter()
        .map(|a| {
            let change = a.closing - a.opening;
            vec![
                Cell::text(&a.name),
                Cell::text(&a.currency),
                Cell::text(format::amount(a.opening, &a.currency)),
                Cell::text(format::amount(a.closing, &a.currency)).bold(),
                Cell::text(format::signed_amount(change, &a.currency)).paint(sign_paint(change)),
            ]
        })
        .collect();
    c.table(&cols, &rows, TABLE);
}

fn sign_paint(v: Decimal) -> Paint {
    if v < Decimal::ZERO {
        OVER
    } else if v > Decimal::ZERO {
        INCOME
    } else {
        MUTED
    }
}

fn currency_chapter(c: &mut Canvas<'_>, doc: &ReportDocument, currency: &str) -> Result<(), RenderError> {
    // A currency of the accounts that nothing moved in has nothing to chart: its zero totals
    // are on page 1, and only its budgets (if any) follow.
    let moved = doc.by_category.iter().any(|l| l.currency == currency)
        || doc.months.iter().any(|m| m.currency == currency && !(m.income.is_zero() && m.expense.is_zero()))
        || doc.top_counterparties.iter().any(|l| l.currency == currency);
    if moved {
        categories(c, doc, currency)?;
        months(c, doc, currency)?;
        counterparties(c, doc, currency);
    }
    budgets(c, doc, currency);
    Ok(())
}

fn categories(c: &mut Canvas<'_>, doc: &ReportDocument, currency: &str) -> Result<(), RenderError> {
    let mut cats: Vec<&CategoryLine> = doc.by_category.iter().filter(|l| l.currency == currency).collect();
    cats.sort_by(|a, b| b.expense.cmp(&a.expense).then_with(|| a.category.cmp(&b.category)));
    let total_expense: Decimal = cats.iter().map(|l| l.expense).sum();
    let total_income: Decimal = cats.iter().map(|l| l.income).sum();

    let spent: Vec<&&CategoryLine> = cats.iter().filter(|l| l.expense > Decimal::ZERO).collect();
    let mut bars: Vec<Bar> = spent
        .iter()
        .take(MAX_CATEGORY_BARS)
        .map(|l| Bar {
            label: l.category.clone(),
            value: draw_value(l.expense),
            value_text: format::amount(l.expense, currency),
        })
        .collect();
    if spent.len() > MAX_CATEGORY_BARS {
        let rest = &spent[MAX_CATEGORY_BARS - 1..];
        let sum: Decimal = rest.iter().map(|l| l.expense).sum();
        bars.truncate(MAX_CATEGORY_BARS - 1);
        bars.push(Bar {
            label: format!("Other ({} categories)", rest.len()),
            value: draw_value(sum),
            value_text: format::amount(sum, currency),
        });
    }

    let chart_h = bars.len() as f32 * 17.0 + 22.0;
    c.heading(&format!("Expenses by category \u{2014} {currency}"), chart_h.min(200.0));
    bookmark(c, &format!("{currency} in detail"));
    if cats.is_empty() {
        c.note("No movements in this currency.");
        return Ok(());
    }
    if bars.is_empty() {
        c.note("No expenses in this currency.");
    } else {
        chart::horizontal_bars(c, &bars, EXPENSE)?;
        c.y += 8.0;
    }

    let cols = [
        Col::left("Category", CONTENT_W - 70.0 - 3.0 * 100.0),
        Col::right("Movements", 70.0),
        Col::right("Income", 100.0),
        Col::right("Expense", 100.0),
        Col::right("Share of expense", 100.0),
    ];
    let mut rows: Vec<Vec<Cell>> = cats
        .iter()
        .map(|l| {
            vec![
                Cell::text(&l.category),
                Cell::text(format::count(l.count)),
                Cell::text(format::amount(l.income, currency)),
                Cell::text(format::amount(l.expense, currency)),
                Cell::text(format::percent_text(l.expense, total_expense)),
            ]
        })
        .collect();
    rows.push(vec![
        Cell::text("Total"),
        Cell::text(format::count(cats.iter().map(|l| l.count).sum())),
        Cell::text(format::amount(total_income, currency)),
        Cell::text(format::amount(total_expense, currency)),
        Cell::text(if total_expense.is_zero() { "\u{2013}".to_owned() } else { "100.0%".to_owned() }),
    ]);
    c.table(&cols, &rows, TableStyle { total_row: true, ..TABLE });
    Ok(())
}

fn months(c: &mut Canvas<'_>, doc: &ReportDocument, currency: &str) -> Result<(), RenderError> {
    let lines: Vec<_> = doc.months.iter().filter(|m| m.currency == currency).collect();
    c.heading(&format!("Month by month \u{2014} {currency}"), 190.0);
    if lines.iter().all(|m| m.income.is_zero() && m.expense.is_zero()) {
        c.note("No income or expense in any month of the period.");
        return Ok(());
    }
    let years_differ = lines.first().map(|m| m.month.get(..4)) != lines.last().map(|m| m.month.get(..4));
    let bars: Vec<MonthBar> = lines
        .iter()
        .map(|m| MonthBar {
            label: if years_differ { format::month_short_with_year(&m.month) } else { format::month_short(&m.month) },
            income: draw_value(m.income),
            expense: draw_value(m.expense),
        })
        .collect();
    chart::month_bars(c, &bars)?;
    c.y += 8.0;

    let w = 110.0;
    let cols = [
        Col::left("Month", CONTENT_W - 3.0 * w),
        Col::right("Income", w),
        Col::right("Expense", w),
        Col::right("Net", w),
    ];
    let mut rows: Vec<Vec<Cell>> = lines
        .iter()
        .map(|m| {
            let net = m.income - m.expense;
            vec![
                Cell::text(format::month_long(&m.month)),
                Cell::text(format::amount(m.income, currency)),
                Cell::text(format::amount(m.expense, currency)),
                Cell::text(format::signed_amount(net, currency)).paint(sign_paint(net)),
            ]
        })
        .collect();
    let income: Decimal = lines.iter().map(|m| m.income).sum();
    let expense: Decimal = lines.iter().map(|m| m.expense).sum();
    rows.push(vec![
        Cell::text("Total"),
        Cell::text(format::amount(income, currency)),
        Cell::text(format::amount(expense, currency)),
        Cell::text(format::signed_amount(income - expense, currency)).paint(sign_paint(income - expense)),
    ]);
    c.table(&cols, &rows, TableStyle { total_row: true, ..TABLE });
    Ok(())
}

fn counterparties(c: &mut Canvas<'_>, doc: &ReportDocument, currency: &str) {
    let lines: Vec<_> = doc.top_counterparties.iter().filter(|l| l.currency == currency).collect();
    c.heading(&format!("Top counterparties \u{2014} {currency}"), 60.0);
    if lines.is_empty() {
        c.note("No spending with a named counterparty.");
        return;
    }
    let total_expense: Decimal = doc.totals.iter().filter(|t| t.currency == currency).map(|t| t.expense).sum();
    let cols = [
        Col::right("#", 24.0),
        Col::left("Counterparty", CONTENT_W - 24.0 - 70.0 - 2.0 * 110.0),
        Col::right("Movements", 70.0),
        Col::right("Expense", 110.0),
        Col::right("Share of expense", 110.0),
    ];
    let rows: Vec<Vec<Cell>> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            vec![
                Cell::text((i + 1).to_string()).paint(MUTED),
                Cell::text(&l.name),
                Cell::text(format::count(l.count)),
                Cell::text(format::amount(l.expense, currency)),
                Cell::text(format::percent_text(l.expense, total_expense)),
            ]
        })
        .collect();
    c.table(&cols, &rows, TABLE);
}

fn budgets(c: &mut Canvas<'_>, doc: &ReportDocument, currency: &str) {
    let lines: Vec<_> = doc.budgets.iter().filter(|b| b.currency == currency).collect();
    if lines.is_empty() {
        return;
    }
    c.heading(&format!("Budgets \u{2014} {currency}"), 60.0);
    let cols = [
        Col::left("Month", 62.0),
        Col::left("Category", CONTENT_W - 62.0 - 3.0 * 76.0 - 52.0 - 64.0),
        Col::right("Limit", 76.0),
        Col::right("Spent", 76.0),
        Col::right("Remaining", 76.0),
        Col::right("Used", 52.0),
        Col::left("", 64.0),
    ];
    let rows: Vec<Vec<Cell>> = lines
        .iter()
        .map(|b| {
            let used = format::percent(b.spent, b.limit);
            let paint = match used {
                Some(p) if p > Decimal::ONE_HUNDRED => OVER,
                Some(p) if p >= Decimal::from(80) => WARN,
                Some(_) => INCOME,
                None => OVER,
            };
            let fraction = used.and_then(|p| p.to_f32()).map_or(1.0, |p| p / 100.0);
            let remaining = b.limit - b.spent;
            vec![
                Cell::text(format::month_long(&b.month)),
                Cell::text(&b.category),
                Cell::text(format::amount(b.limit, currency)),
                Cell::text(format::amount(b.spent, currency)),
                Cell::text(format::amount(remaining, currency)).paint(sign_paint(remaining)),
                Cell::text(format::percent_text(b.spent, b.limit)).paint(paint),
                Cell::bar(fraction, paint),
            ]
        })
        .collect();
    c.table(&cols, &rows, TABLE);
}

fn appendix(c: &mut Canvas<'_>, doc: &ReportDocument) {
    if doc.movements.is_empty() {
        c.heading("Appendix: movements", 20.0);
        c.note("There were no movements in this period.");
        return;
    }
    c.page_break();
    bookmark(c, "Movements");
    c.heading("Appendix: movements", 60.0);
    c.note(&format!(
        "{} movements, by date then the order they were recorded. Amounts are signed: + income, - expense.",
        format::count(doc.movements.len() as u64)
    ));
    let cols = [
        Col::left("Date", 56.0),
        Col::left("Account", 80.0),
        Col::left("Description", CONTENT_W - 56.0 - 80.0 - 86.0 - 96.0),
        Col::left("Category", 86.0),
        Col::right("Amount", 96.0),
    ];
    let rows: Vec<Vec<Cell>> = doc
        .movements
        .iter()
        .map(|m| {
            let description = match &m.counterparty {
                Some(cp) if !cp.is_empty() && *cp != m.description => format!("{} \u{00b7} {cp}", m.description),
                _ => m.description.clone(),
            };
            let amount = format!("{} {}", format::signed_amount(m.signed_amount(), &m.currency), m.currency);
            vec![
                Cell::text(m.date.to_string()),
                Cell::text(&m.account),
                Cell::text(description),
                Cell::text(if m.category.is_empty() { "\u{2013}" } else { &m.category })
                    .paint(if m.category.is_empty() { MUTED } else { INK }),
                Cell::text(amount).paint(if m.income { INCOME } else { INK }),
            ]
        })
        .collect();
    c.table(&cols, &rows, TableStyle { size: 7.5, row_h: 13.0, total_row: false });
}

/// An amount as a bar's length: drawing only, never written.
fn draw_value(v: Decimal) -> f64 {
    v.to_f64().unwrap_or(0.0).max(0.0)
}
