//! How amounts, percentages, dates and months read in a report: computed from the [`Decimal`], never
//! through floating point.

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};

/// Decimal places a currency is normally written with (ISO 4217 minor units); two unless listed.
pub fn minor_units(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "UYI" | "VND"
        | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// The most decimal places an amount is shown with: sub-cent amounts (up to four places, which the
/// ledger accepts) stay visible rather than being rounded away.
const MAX_PLACES: u32 = 4;

/// `1234567.891` in EUR → `1,234,567.891`; `12.5` → `12.50`; `-3` → `-3.00`; `0.00001` → `0.0000`.
///
/// At least the currency's minor units, at most four places (or the minor units if more), trailing
/// zeros beyond the minor units dropped; a comma every three digits; an ASCII minus.
pub fn amount(value: Decimal, currency: &str) -> String {
    let min = minor_units(currency);
    let max = min.max(MAX_PLACES);
    let mut v = value.round_dp_with_strategy(max, RoundingStrategy::MidpointAwayFromZero).normalize();
    if v.scale() < min {
        v.rescale(min);
    }
    group_thousands(&v.to_string())
}

/// [`amount`] followed by the currency code: `1,234.50 EUR`.
pub fn money(value: Decimal, currency: &str) -> String {
    format!("{} {currency}", amount(value, currency))
}

/// [`amount`] with an explicit sign: `+1,234.50`, `-12.00` (zero has none).
pub fn signed_amount(value: Decimal, currency: &str) -> String {
    let text = amount(value, currency);
    if value > Decimal::ZERO { format!("+{text}") } else { text }
}

fn group_thousands(plain: &str) -> String {
    let (sign, rest) = match plain.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", plain),
    };
    let (int, frac) = match rest.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (rest, None),
    };
    let mut out = String::with_capacity(plain.len() + int.len() / 3);
    out.push_str(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(frac) = frac {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// `part` as a percentage of `whole` to one place, half away from zero: `Some(12.5)`; `None` when
/// `whole` is zero.
pub fn percent(part: Decimal, whole: Decimal) -> Option<Decimal> {
    if whole.is_zero() {
        return None;
    }
    let p = part.checked_mul(Decimal::ONE_HUNDRED)?.checked_div(whole)?;
    Some(p.round_dp_with_strategy(1, RoundingStrategy::MidpointAwayFromZero))
}

/// [`percent`] as text: `12.5%`, or an en dash when `whole` is zero.
pub fn percent_text(part: Decimal, whole: Decimal) -> String {
    match percent(part, whole) {
        Some(p) => {
            let mut p = p;
            p.rescale(1);
            format!("{p}%")
        }
        None => "\u{2013}".to_owned(),
    }
}

/// `1 Jan 2026`.
pub fn date_long(date: NaiveDate) -> String {
    date.format("%-d %b %Y").to_string()
}

/// `1 Jan 2026 – 31 Mar 2026 (2026-01-01 to 2026-03-31)`.
pub fn period(from: NaiveDate, to: NaiveDate) -> String {
    format!("{} \u{2013} {} ({from} to {to})", date_long(from), date_long(to))
}

/// `2026-03` → `Mar 2026`; anything that is not `YYYY-MM` is shown as given.
pub fn month_long(month: &str) -> String {
    match parse_month(month) {
        Some(d) => d.format("%b %Y").to_string(),
        None => month.to_owned(),
    }
}

/// `2026-03` → `Mar`: the chart's axis labels, where the year is in the chart's title.
pub fn month_short(month: &str) -> String {
    match parse_month(month) {
        Some(d) => d.format("%b").to_string(),
        None => month.to_owned(),
    }
}

/// `2026-03` → `Mar '26`: axis labels when the period spans years.
pub fn month_short_with_year(month: &str) -> String {
    match parse_month(month) {
        Some(d) => d.format("%b '%y").to_string(),
        None => month.to_owned(),
    }
}

fn parse_month(month: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()
}

/// `12345` → `12,345`.
pub fn count(n: u64) -> String {
    group_thousands(&n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn amounts_show_the_currency_places_and_keep_sub_cent_digits() {
        assert_eq!(amount(d("1234567.89"), "EUR"), "1,234,567.89");
        assert_eq!(amount(d("12.5"), "EUR"), "12.50");
        assert_eq!(amount(d("-3"), "EUR"), "-3.00");
        assert_eq!(amount(d("0.0001"), "EUR"), "0.0001");
        assert_eq!(amount(d("2.12340"), "EUR"), "2.1234");
        assert_eq!(amount(d("2.123456"), "EUR"), "2.1235");
        assert_eq!(amount(d("999.999"), "USD"), "999.999");
        assert_eq!(amount(d("100"), "JPY"), "100");
        assert_eq!(amount(d("1.5"), "KWD"), "1.500");
        assert_eq!(amount(d("-1000"), "EUR"), "-1,000.00");
        assert_eq!(amount(d("100000"), "EUR"), "100,000.00");
        assert_eq!(amount(Decimal::ZERO, "EUR"), "0.00");
    }

    #[test]
    fn signed_amounts_and_money() {
        assert_eq!(signed_amount(d("12.5"), "EUR"), "+12.50");
        assert_eq!(signed_amount(d("-12.5"), "EUR"), "-12.50");
        assert_eq!(money(d("1500"), "GBP"), "1,500.00 GBP");
    }

    #[test]
    fn percentages_round_half_away_from_zero_and_survive_a_zero_whole() {
        assert_eq!(percent_text(d("1"), d("8")), "12.5%");
        assert_eq!(percent_text(d("1"), d("3")), "33.3%");
        assert_eq!(percent_text(d("2"), d("3")), "66.7%");
        assert_eq!(percent_text(d("5"), d("5")), "100.0%");
        assert_eq!(percent_text(d("5"), Decimal::ZERO), "\u{2013}");
    }

    #[test]
    fn dates_and_months() {
        let from = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let to = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
        assert_eq!(period(from, to), "1 Jan 2026 \u{2013} 31 Mar 2026 (2026-01-01 to 2026-03-31)");
        assert_eq!(month_long("2026-03"), "Mar 2026");
        assert_eq!(month_short("2026-12"), "Dec");
        assert_eq!(month_short_with_year("2026-12"), "Dec '26");
        assert_eq!(month_long("garbage"), "garbage");
        assert_eq!(count(1234567), "1,234,567");
    }
}
