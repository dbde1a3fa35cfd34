//! Receipt understanding: merchant, date, total, tax and currency read from OCR text, each with a confidence
//!
//! [`parse`] takes the plain text OCR produced from a photographed receipt or a PDF invoice,
//! Spanish or English and noisy, and returns what it could read. Every field carries a
//! confidence in 0..=1 (never 1: nothing read from OCR is certain); the worker acts on a field
//! at or above [`CONFIDENT`]. Pure code: no IO, no async; regexes are compiled once
//! and none can backtrack catastrophically (the `regex` crate runs in linear time).
//!
//! # Layout
//!
//! - `amount`: one amount token ([`parse_amount`]) and the decimal-style rule for `1.234`.
//! - `date`: one date token ([`parse_date`]) and which date a receipt was issued on.
//! - `keyword`: the words that say what an amount is (`TOTAL A PAGAR`, `SUBTOTAL`, `IVA`,
//!   `CAMBIO`, …), most specific first.
//! - `line`: one line read into numbers and keywords, and which keyword owns which amount.
//! - `totals`: the grand total and the tax, with tax tables and consistency checks.
//! - `currency`, `merchant`: the other two fields.
//! - `score`: confidences as hundredths until they become a `Decimal`.
//!
//! Each module's docs hold its confidence table.
//!
//! # The ambiguous `1.234`
//!
//! A number with one separator followed by exactly three digits is read with the receipt's
//! dominant decimal style: the separator most other amounts put before their decimals
//! (`12,50` votes for the comma, `1,234.56` for the dot). Where it is the decimal separator the
//! number has three decimals (`1,459 €/l` on a Spanish fuel receipt is 1.459); otherwise it
//! groups thousands (`1.234` there is 1234). With no other amount, or a tie, it groups
//! thousands: receipt amounts in the thousands are commoner than ones with three decimals.
#![forbid(unsafe_code)]

mod amount;
mod currency;
mod date;
mod keyword;
mod line;
mod merchant;
mod score;
mod totals;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use amount::parse_amount;
pub use date::parse_date;

use amount::Style;
use line::Line;

/// Confidence at or above which the worker trusts a field enough to act on it (record a movement).
pub const CONFIDENT: Decimal = Decimal::from_parts(6, 0, 0, false, 1);

/// Text beyond this many bytes is ignored: no receipt is that long, and it bounds the work.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;

/// A value read from the text, and how sure the reading is (0..=1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field<T> {
    pub value: T,
    pub confidence: Decimal,
}

/// What a receipt says, field by field; `None` where nothing plausible was found.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Receipt {
    pub merchant: Option<Field<String>>,
    pub issued_on: Option<Field<NaiveDate>>,
    /// Greater than zero, at most 4 decimal places (normally 2).
    pub total: Option<Field<Decimal>>,
    /// The tax amount (IVA, VAT), not the rate; zero or more, and less than the total.
    pub tax: Option<Field<Decimal>>,
    /// An ISO 4217 code in upper case: `EUR`, `USD`, `GBP`, …
    pub currency: Option<Field<String>>,
}

/// Reads a receipt's OCR text. Never panics; fields it cannot read are `None`.
pub fn parse(text: &str) -> Receipt {
    let text = truncate(text, MAX_TEXT_BYTES);
    let texts: Vec<&str> = text.split(['\n', '\r']).map(str::trim).filter(|l| !l.is_empty()).collect();
    let raws: Vec<Vec<line::Raw>> = texts.iter().map(|t| line::scan(t)).collect();
    let style = dominant_style(raws.iter().flatten().filter_map(line::Raw::style));
    let lines: Vec<Line> = texts.iter().zip(&raws).map(|(t, r)| Line::new(t, r, style)).collect();

    let money = totals::read(&lines);
    let currency = currency::read(&lines, style);
    let month_first_likely = currency.as_ref().is_some_and(|(code, _)| code == "USD");
    Receipt {
        merchant: merchant::read(&lines).map(field),
        issued_on: date::issue_date(&texts, month_first_likely).map(field),
        total: money.total.map(|(value, score)| (value.round_dp(4), score)).map(field),
        tax: money.tax.map(|(value, score)| (value.round_dp(4), score)).map(field),
        currency: currency.map(field),
    }
}

fn field<T>((value, score): (T, score::Score)) -> Field<T> {
    Field { value, confidence: score.to_decimal() }
}

/// The decimal style most tokens show; `None` on a tie.
fn dominant_style(votes: impl Iterator<Item = Style>) -> Option<Style> {
    let (comma, dot) = votes.fold((0usize, 0usize), |(c, d), s| match s {
        Style::Comma => (c + 1, d),
        Style::Dot => (c, d + 1),
    });
    match comma.cmp(&dot) {
        std::cmp::Ordering::Greater => Some(Style::Comma),
        std::cmp::Ordering::Less => Some(Style::Dot),
        std::cmp::Ordering::Equal => None,
    }
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let end = (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confident_is_six_tenths() {
        assert_eq!(CONFIDENT, Decimal::new(6, 1));
    }

    #[test]
    fn an_empty_text_reads_nothing() {
        assert_eq!(parse(""), Receipt::default());
        assert_eq!(parse("\n \r\n\t"), Receipt::default());
    }

    #[test]
    fn the_dominant_style_settles_three_decimals() {
        let spanish = parse("GASOLEO A 1,459 €/L\nTOTAL 65,99 €\nIVA 11,45");
        assert_eq!(spanish.total.map(|t| t.value), Some(Decimal::new(6599, 2)));
        let spanish_thousands = parse("Portatil 1.234\nIVA 214,17\nTOTAL 1.234");
        assert_eq!(spanish_thousands.total.map(|t| t.value), Some(Decimal::new(1234, 0)));
        let english = parse("Price/gal 3.459\nTax 1.20\nTotal 1,234");
        assert_eq!(english.total.map(|t| t.value), Some(Decimal::new(1234, 0)));
    }

    #[test]
    fn a_huge_text_is_cut_at_a_character_boundary() {
        let text = "é".repeat(MAX_TEXT_BYTES);
        assert_eq!(truncate(&text, MAX_TEXT_BYTES).len(), MAX_TEXT_BYTES);
        assert_eq!(truncate(&text, 3).len(), 2);
    }
}
