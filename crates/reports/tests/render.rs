//! The CSV read back with `csv::Reader`; the PDF read back with poppler's `pdftotext` and
//! rasterised with `pdftoppm` (poppler-utils and fonts-dejavu-core, from
//! `scripts/system-packages.txt`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::sync::OnceLock;

use cashflow_reports::render::{CSV_HEADER, format};
use cashflow_reports::{Fonts, MovementLine, RenderError, ReportDocument, render_csv, render_pdf};
use rust_decimal::Decimal;
use support::{d, date, from_movements, sample};
use uuid::Uuid;

fn fonts() -> &'static Fonts {
    static FONTS: OnceLock<Fonts> = OnceLock::new();
    FONTS.get_or_init(|| Fonts::load_system().expect("fonts-dejavu-core or fonts-liberation installed"))
}

fn movement(description: &str, amount: &str, category: &str, counterparty: Option<&str>) -> MovementLine {
    MovementLine {
        date: date(2026, 3, 14),
        account: "Current account".to_owned(),
        income: false,
        amount: d(amount),
        currency: "EUR".to_owned(),
        category: category.to_owned(),
        description: description.to_owned(),
        counterparty: counterparty.map(str::to_owned),
        movement_id: Uuid::from_u128(7),
    }
}

fn small_document(movements: Vec<MovementLine>) -> ReportDocument {
    from_movements(date(2026, 3, 1), date(2026, 3, 31), &[("Current account", "EUR", d("100.00"))], movements)
}

fn read_csv(bytes: &[u8]) -> (csv::StringRecord, Vec<csv::StringRecord>) {
    let mut reader = csv::Reader::from_reader(bytes);
    let header = reader.headers().unwrap().clone();
    let rows = reader.records().collect::<Result<Vec<_>, _>>().unwrap();
    (header, rows)
}

// ---- CSV ----

#[test]
fn the_csv_header_is_exactly_the_documented_columns() {
    let csv = render_csv(&sample(5, &["EUR"]));
    let first_line = csv.split(|b| *b == b'\n').next().unwrap();
    assert_eq!(
        std::str::from_utf8(first_line).unwrap(),
        "date,account,direction,amount,currency,category,description,counterparty,movement_id\r"
    );
    assert_eq!(
        CSV_HEADER.join(","),
        "date,account,direction,amount,currency,category,description,counterparty,movement_id"
    );
}

#[test]
fn the_csv_has_one_row_per_movement_in_order_and_nothing_else() {
    let doc = sample(300, &["EUR", "USD", "GBP"]);
    let csv = render_csv(&doc);
    let (header, rows) = read_csv(&csv);
    assert_eq!(header.iter().collect::<Vec<_>>(), CSV_HEADER);
    assert_eq!(rows.len(), doc.movements.len());
    for (row, m) in rows.iter().zip(&doc.movements) {
        assert_eq!(&row[0], m.date.format("%Y-%m-%d").to_string());
        assert_eq!(&row[1], m.account);
        assert_eq!(&row[2], if m.income { "income" } else { "expense" });
        assert_eq!(Decimal::from_str(&row[3]).unwrap(), m.amount);
        assert_eq!(&row[4], m.currency);
        assert_eq!(&row[5], m.category);
        assert_eq!(&row[6], m.description);
        assert_eq!(&row[7], m.counterparty.as_deref().unwrap_or(""));
        assert_eq!(&row[8], m.movement_id.to_string());
    }
    // RFC 4180: every record ends in CRLF, the last one included.
    assert!(csv.ends_with(b"\r\n"));
    assert_eq!(csv.windows(2).filter(|w| w == b"\r\n").count(), doc.movements.len() + 1);
}

#[test]
fn a_description_with_a_comma_a_quote_and_a_newline_round_trips() {
    let tricky = "Dinner, \"the good one\"\nwith friends";
    let doc = small_document(vec![movement(tricky, "42.00", "Dining out", Some("Luigi's, Rome"))]);
    let (_, rows) = read_csv(&render_csv(&doc));
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][6], tricky);
    assert_eq!(&rows[0][7], "Luigi's, Rome");
}

#[test]
fn amounts_are_written_exactly_as_the_decimal_prints_them() {
    // Scale is kept as the Decimal has it: 12.5 is written "12.5", not "12.50".
    let amounts = ["0.0001", "1234567.89", "12.5", "12.50", "100", "0.10"];
    let doc = small_document(amounts.iter().map(|a| movement("x", a, "", None)).collect());
    let (_, rows) = read_csv(&render_csv(&doc));
    let written: Vec<&str> = rows.iter().map(|r| &r[3]).collect();
    assert_eq!(written, amounts);
}

#[test]
fn missing_category_and_counterparty_are_empty_cells() {
    let doc = small_document(vec![movement("Cash", "20.00", "", None)]);
    let csv = String::from_utf8(render_csv(&doc)).unwrap();
    let row = csv.lines().nth(1).unwrap();
    assert_eq!(row, "2026-03-14,Current account,expense,20.00,EUR,,Cash,,00000000-0000-0000-0000-000000000007");
}

#[test]
fn a_period_without_movements_is_a_header_alone() {
    let csv = render_csv(&small_document(Vec::new()));
    assert_eq!(csv, b"date,account,direction,amount,currency,category,description,counterparty,movement_id\r\n");
}

// ---- PDF ----

struct Rendered {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn write_pdf(doc: &ReportDocument) -> Rendered {
    let pdf = render_pdf(doc, fonts()).expect("renders");
    assert!(pdf.starts_with(b"%PDF-"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, &pdf).unwrap();
    // `KEEP_REPORTS=/some/dir` keeps each test's PDF there (named after the test) to look at.
    if let Ok(keep) = std::env::var("KEEP_REPORTS") {
        let name = std::thread::current().name().unwrap_or("report").replace("::", "-");
        std::fs::write(Path::new(&keep).join(format!("{name}.pdf")), &pdf).unwrap();
    }
    Rendered { _dir: dir, path }
}

fn pdftotext(path: &Path, pages: Option<(usize, usize)>) -> String {
    let mut cmd = Command::new("pdftotext");
    cmd.arg("-layout");
    if let Some((first, last)) = pages {
        cmd.args(["-f", &first.to_string(), "-l", &last.to_string()]);
    }
    let out = cmd.arg(path).arg("-").output().expect("pdftotext (poppler-utils) installed");
    assert!(out.status.success(), "pdftotext: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn page_count(path: &Path) -> usize {
    let out = Command::new("pdfinfo").arg(path).output().expect("pdfinfo (poppler-utils) installed");
    let info = String::from_utf8(out.stdout).unwrap();
    let line = info.lines().find(|l| l.starts_with("Pages:")).expect("pdfinfo lists pages");
    line["Pages:".len()..].trim().parse().unwrap()
}

/// Page 1 at 50 dpi in grey, parsed from the binary PGM pdftoppm writes (no image crate needed).
fn page_one_grey(path: &Path) -> Vec<u8> {
    let dir = path.parent().unwrap();
    let status = Command::new("pdftoppm")
        .args(["-r", "50", "-f", "1", "-l", "1", "-gray", "-singlefile"])
        .arg(path)
        .arg(dir.join("page"))
        .status()
        .expect("pdftoppm (poppler-utils) installed");
    assert!(status.success());
    let pgm = std::fs::read(dir.join("page.pgm")).unwrap();
    // "P5\n<width> <height>\n<max>\n" then one byte per pixel.
    let mut fields = 0;
    let mut i = 0;
    while fields < 4 {
        while pgm[i].is_ascii_whitespace() {
            i += 1;
        }
        while !pgm[i].is_ascii_whitespace() {
            i += 1;
        }
        fields += 1;
    }
    assert!(pgm.starts_with(b"P5"));
    pgm[i + 1..].to_vec()
}

fn text_squeezed(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_pdf_shows_totals_categories_every_page_number_and_the_last_movement() {
    let doc = sample(300, &["EUR", "USD", "GBP"]);
    let categories: std::collections::BTreeSet<&str> = doc.by_category.iter().map(|c| c.category.as_str()).collect();
    assert!(categories.len() >= 9, "eight spending categories, salary and uncategorised: {categories:?}");
    assert_eq!(doc.months.len(), 36);

    let pdf = write_pdf(&doc);
    let pages = page_count(&pdf.path);
    assert!(pages >= 5, "300 movements run over several pages: {pages}");
    let size = std::fs::metadata(&pdf.path).unwrap().len();
    assert!(size < 200 * 1024, "the fonts are subset, not embedded whole (~730 KiB): {size} bytes");
    let text = pdftotext(&pdf.path, None);

    assert!(text.contains("1 Jan 2025 \u{2013} 31 Dec 2025"), "the period, long");
    assert!(text.contains("2025-01-01 to 2025-12-31"), "the period, ISO");
    assert!(text.contains("ledger position 48,213"));
    assert!(text.contains("Generated 2 Jan 2026, 09:30 UTC"));
    for t in &doc.totals {
        for figure in [
            format::amount(t.income, &t.currency),
            format::amount(t.expense, &t.currency),
            format::signed_amount(t.net, &t.currency),
        ] {
            assert!(text.contains(&figure), "{} total {figure} is shown", t.currency);
        }
        assert!(text.contains(&format!("Expenses by category \u{2014} {}", t.currency)));
        assert!(text.contains(&format!("Month by month \u{2014} {}", t.currency)));
    }
    for category in &categories {
        assert!(text.contains(category), "category {category} is shown");
    }
    for a in &doc.accounts {
        assert!(text.contains(&a.name));
        assert!(text.contains(&format::amount(a.closing, &a.currency)));
    }
    assert!(text.contains("Top counterparties"));
    assert!(text.contains("Oakwood Lettings"));
    assert!(text.contains("Budgets \u{2014} EUR"));
    assert!(text.contains("Nov 2025"));

    for i in 1..=pages {
        assert!(text.contains(&format!("Page {i} of {pages}")), "page {i} is numbered");
    }
    let last_page = pdftotext(&pdf.path, Some((pages, pages)));
    let last = doc.movements.last().unwrap();
    assert_eq!(last.description, "Year-end bank fee");
    assert!(last_page.contains(&last.description), "the last movement is on the last page");
    assert!(
        last_page.contains("-1.2345 GBP") || last_page.contains("-1.2345 EUR") || last_page.contains("-1.2345 USD")
    );
    assert!(last_page.contains("Date") && last_page.contains("Amount"), "the appendix header repeats");
    assert!(last_page.contains("Appendix: movements (continued)"));
}

#[test]
fn every_movement_is_listed_in_the_appendix() {
    let doc = sample(300, &["EUR", "USD"]);
    let pdf = write_pdf(&doc);
    let text = pdftotext(&pdf.path, None);
    let squeezed = text_squeezed(&text);
    let listed = squeezed.matches(" 2025-").count();
    assert!(listed >= doc.movements.len(), "{listed} dated rows for {} movements", doc.movements.len());
    for m in doc.movements.iter().step_by(37) {
        let amount = format!("{} {}", format::signed_amount(m.signed_amount(), &m.currency), m.currency);
        assert!(squeezed.contains(&amount), "{amount} is listed");
    }
}

#[test]
fn page_one_is_not_blank() {
    let pdf = write_pdf(&sample(300, &["EUR", "USD", "GBP"]));
    let pixels = page_one_grey(&pdf.path);
    // A4 at 50 dpi.
    assert!(pixels.len() > 400 * 550, "{} pixels", pixels.len());
    let dark = pixels.iter().filter(|p| **p < 128).count() as f64 / pixels.len() as f64;
    let mean = pixels.iter().map(|p| f64::from(*p)).sum::<f64>() / pixels.len() as f64;
    let variance = pixels.iter().map(|p| (f64::from(*p) - mean).powi(2)).sum::<f64>() / pixels.len() as f64;
    assert!(dark > 0.03, "some of page 1 is ink: {dark:.3}");
    assert!(variance > 500.0, "page 1 is not one flat colour: variance {variance:.0}");
}

#[test]
fn a_period_without_movements_says_so() {
    let doc = ReportDocument { totals: Vec::new(), ..small_document(Vec::new()) };
    let pdf = write_pdf(&doc);
    let pages = page_count(&pdf.path);
    let text = pdftotext(&pdf.path, None);
    assert!(text.contains("There were no movements in this period."));
    assert!(text.contains("No movements were recorded in this period."));
    assert!(text.contains("Current account"));
    assert!(text.contains(&format!("Page {pages} of {pages}")));
    assert!(pages <= 3, "an empty report is short: {pages} pages");
}

#[test]
fn an_empty_document_with_nothing_at_all_still_renders() {
    let doc = ReportDocument {
        from: date(2026, 1, 1),
        to: date(2026, 1, 31),
        generated_at: chrono::Utc::now(),
        position: 0,
        accounts: Vec::new(),
        totals: Vec::new(),
        by_category: Vec::new(),
        months: Vec::new(),
        top_counterparties: Vec::new(),
        budgets: Vec::new(),
        movements: Vec::new(),
    };
    let pdf = write_pdf(&doc);
    let text = pdftotext(&pdf.path, None);
    assert!(text.contains("There were no movements in this period."));
    assert!(text.contains("ledger position 0"));
}

#[test]
fn text_outside_latin_and_odd_characters_do_not_break_the_pdf() {
    let doc = small_document(vec![
        movement("Café crème \u{2013} Zürich", "4.5", "Dining out", Some("Ünïcødé GmbH")),
        movement(
            "tab\there\r\nand a very long description that cannot possibly fit in its column of the appendix table",
            "1",
            "",
            None,
        ),
    ]);
    let pdf = write_pdf(&doc);
    let text = pdftotext(&pdf.path, None);
    assert!(text.contains("Café crème"));
    assert!(text.contains("tab here and a very long"), "a run of control characters became one space");
    assert!(text.contains('\u{2026}'), "the long description was cut with an ellipsis");
}

#[test]
fn many_categories_share_an_other_bar_and_months_across_years_carry_the_year() {
    let movements: Vec<MovementLine> = (0..15u32)
        .map(|i| MovementLine {
            date: date(2024 + (i / 8) as i32, 1 + (i * 3) % 12, 10),
            category: format!("Category number {i:02}"),
            amount: Decimal::from(100 + i * 10),
            ..movement("Spent", "1", "", None)
        })
        .collect();
    let mut movements = movements;
    movements.sort_by_key(|m| m.date);
    let doc = from_movements(date(2024, 1, 1), date(2025, 12, 31), &[("Current account", "EUR", d("0"))], movements);
    let pdf = write_pdf(&doc);
    let text = pdftotext(&pdf.path, None);
    assert!(text.contains("Other (4 categories)"), "the smallest four are summed in the chart");
    for i in 0..15 {
        assert!(text.contains(&format!("Category number {i:02}")), "every category is in the table");
    }
    assert!(text.contains("Jan '24") && text.contains("Jan '25"), "axis labels carry the year");
}

// ---- fonts ----

#[test]
fn missing_fonts_name_every_path_tried() {
    let families = [
        (PathBuf::from("/nonexistent/A.ttf"), PathBuf::from("/nonexistent/A-Bold.ttf")),
        (PathBuf::from("/nonexistent/B.ttf"), PathBuf::from("/nonexistent/B-Bold.ttf")),
    ];
    let err = Fonts::load_first_of(&families).unwrap_err();
    assert!(matches!(err, RenderError::FontsNotFound { .. }));
    let message = err.to_string();
    for path in ["/nonexistent/A.ttf", "/nonexistent/A-Bold.ttf", "/nonexistent/B.ttf", "/nonexistent/B-Bold.ttf"] {
        assert!(message.contains(path), "{message}");
    }
}

#[test]
fn bytes_that_are_not_a_font_are_refused() {
    let err = Fonts::from_bytes(b"not a font".to_vec(), b"nor this".to_vec()).unwrap_err();
    assert!(matches!(err, RenderError::InvalidFont { which: "regular" }), "{err}");
}

#[test]
fn liberation_sans_works_as_the_fallback() {
    let dir = "/usr/share/fonts/truetype/liberation";
    let regular = PathBuf::from(format!("{dir}/LiberationSans-Regular.ttf"));
    let bold = PathBuf::from(format!("{dir}/LiberationSans-Bold.ttf"));
    if !regular.is_file() {
        eprintln!("fonts-liberation is not installed; skipped");
        return;
    }
    let fonts =
        Fonts::load_first_of(&[(PathBuf::from("/nonexistent/A.ttf"), PathBuf::from("/x")), (regular, bold)]).unwrap();
    let pdf = render_pdf(&sample(20, &["EUR"]), &fonts).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.pdf");
    std::fs::write(&path, pdf).unwrap();
    assert!(pdftotext(&path, None).contains("Income and expense report"));
}

/// `cargo test --release -p cashflow-reports --test render -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, run in release mode"]
fn render_time_of_5000_movements() {
    let doc = sample(5_000, &["EUR", "USD", "GBP"]);
    let fonts = fonts();
    let started = std::time::Instant::now();
    let pdf = render_pdf(&doc, fonts).unwrap();
    let pdf_took = started.elapsed();
    let started = std::time::Instant::now();
    let csv = render_csv(&doc);
    let csv_took = started.elapsed();
    println!(
        "5,000 movements: PDF {} KiB in {pdf_took:?}, CSV {} KiB in {csv_took:?}",
        pdf.len() / 1024,
        csv.len() / 1024
    );
}
