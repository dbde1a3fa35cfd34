//! Renders a realistic report and says how long it took.
//!
//! `cargo run --release -p cashflow-reports --example render_sample -- [MOVEMENTS] [OUT.pdf]`
//! (300 movements and `/tmp/report-sample.pdf` by default); the CSV goes beside the PDF.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use cashflow_reports::{Fonts, render_csv, render_pdf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let movements: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(300);
    let out = args.next().unwrap_or_else(|| "/tmp/report-sample.pdf".to_owned());

    let started = Instant::now();
    let fonts = Fonts::load_system()?;
    let fonts_took = started.elapsed();

    let doc = support::sample(movements, &["EUR", "USD", "GBP"]);
    let started = Instant::now();
    let pdf = render_pdf(&doc, &fonts)?;
    let pdf_took = started.elapsed();
    let started = Instant::now();
    let csv = render_csv(&doc);
    let csv_took = started.elapsed();

    std::fs::write(&out, &pdf)?;
    std::fs::write(std::path::Path::new(&out).with_extension("csv"), &csv)?;
    println!(
        "{movements} movements: fonts loaded in {fonts_took:?}; PDF {} KiB in {pdf_took:?}; CSV {} KiB in {csv_took:?}; wrote {out}",
        pdf.len() / 1024,
        csv.len() / 1024,
    );
    Ok(())
}
