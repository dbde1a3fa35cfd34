//! The CSV export: one row per movement, RFC 4180.

use crate::document::ReportDocument;

/// The header row, as API.md ("Reports and time travel") names the columns.
pub const CSV_HEADER: [&str; 9] =
    ["date", "account", "direction", "amount", "currency", "category", "description", "counterparty", "movement_id"];

/// The report's movements as RFC 4180 CSV: [`CSV_HEADER`], then one row per movement in the
/// document's order, nothing else.
///
/// - Records end in CRLF, as RFC 4180 says (the `csv` crate's default); fields are quoted only when
///   they hold a comma, a quote or a line break, and quotes are doubled.
/// - `date` is `YYYY-MM-DD`; `direction` is `income` or `expense`; `amount` is positive and written
///   exactly as the `Decimal` prints itself: its own scale, `.` as the separator, no thousands
///   separator and never an exponent (`12.5` stays `12.5`, `12.50` stays `12.50`).
/// - `category` and `counterparty` are empty when the movement has none.
///
/// Cells are written as they are: a description starting with `=` is not defused against
/// spreadsheet formula injection, since the file is data for the person who recorded it.
pub fn render_csv(doc: &ReportDocument) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    // Writing to a Vec cannot fail: csv's errors here are IO errors or records of unequal length,
    // and every record below has the header's nine fields.
    writer.write_record(CSV_HEADER).expect("write to memory");
    for m in &doc.movements {
        let date = m.date.format("%Y-%m-%d").to_string();
        let amount = m.amount.to_string();
        let id = m.movement_id.to_string();
        writer
            .write_record([
                date.as_str(),
                m.account.as_str(),
                m.direction(),
                amount.as_str(),
                m.currency.as_str(),
                m.category.as_str(),
                m.description.as_str(),
                m.counterparty.as_deref().unwrap_or(""),
                id.as_str(),
            ])
            .expect("write to memory");
    }
    writer.into_inner().expect("flush to memory")
}
