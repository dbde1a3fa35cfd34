//! Dates: `23/11/2026`, `2026-11-23`, `23 nov 2026`, `Nov 23, 2026`, … and which one a
//! receipt was issued on.
//!
//! Numbers are read day first (Spanish and British receipts); `11/23/2026` is read month first
//! only because 23 cannot be a month. Two-digit years are 20xx. Impossible dates (31/02) are
//! refused, and so are years outside 1900..=2099.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::LazyLock;

use chrono::{Datelike as _, NaiveDate};
use regex::Regex;

use crate::score::Score;

/// `23/11/2026`, `23-11-26`, `23.11.2026` (separators checked equal after the match: the
/// regex crate has no back-references).
static NUMERIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u:\b)(\d{1,2})\x20?([/.\-])\x20?(\d{1,2})\x20?([/.\-])\x20?(\d{4}|\d{2})(?-u:\b)")
        .expect("valid regex")
});

/// `2026-11-23`, `2026/11/23`.
static ISO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?-u:\b)(\d{4})([/.\-])(\d{1,2})([/.\-])(\d{1,2})(?-u:\b)").expect("valid regex"));

/// `23 nov 2026`, `23-Nov-2026`, `23 de noviembre de 2026`, `23rd November 2026`.
static DAY_MONTH_YEAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?-u:\b)(\d{1,2})(?:st|nd|rd|th|º|ª)?[\s./\-]{0,3}(?:de\s+)?(\p{L}{3,10})\.?[\s./,\-]{0,3}(?:del?\s+)?(\d{4}|\d{2})(?-u:\b)",
    )
    .expect("valid regex")
});

/// `Nov 23, 2026`, `November 23 2026`.
static MONTH_DAY_YEAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?-u:\b)(\p{L}{3,10})\.?\s{0,3}(\d{1,2})(?:st|nd|rd|th)?,?\s{0,3}(\d{4})(?-u:\b)")
        .expect("valid regex")
});

/// A label saying the date on its line (or the next) is the issue date.
static ISSUE_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?-u:\b)(?:fecha|date|dated|issued|emitid[ao]|emisi[oó]n|f\.\s?(?:emisi[oó]n|factura))(?-u:\b)")
        .expect("valid regex")
});

/// A label saying the date is something other than the issue date (due, delivery, expiry, …).
static OTHER_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?-u:\b)(?:vencimiento|vto|due|caducidad|caduca|valid|v[aá]lid[oa]|hasta|until|entrega|delivery|check[\s\-]?in|llegada|arrival|expiry|expires|nacimiento|birth|desde|from|periodo|period)(?-u:\b)",
    )
    .expect("valid regex")
});

/// The end of a stay: not labelled as the issue date, but usually the day the bill is issued.
static END_LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(?-u:\b)(?:check[\s\-]?out|salida|departure)(?-u:\b)").expect("valid regex"));

/// A time after a date token given to [`parse_date`]: `23/11/2026 14:32`.
static TRAILING_TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[\s,]+(?:a\s+las\s+|at\s+)?\d{1,2}:\d{2}(?::\d{2})?(?:\s?[ap]\.?m\.?)?\s*$").expect("valid regex")
});

/// `Fecha:` / `Date:` in front of a token given to [`parse_date`].
static LEADING_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:fecha(?:\s+de\s+emisi[oó]n|\s+factura)?|date|invoice\s+date|issued)\s*[:.]?\s*")
        .expect("valid regex")
});

/// How a date was written, for its confidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reading {
    /// Nothing to doubt: a month name, a 4-digit year first, or a day above 12.
    Certain,
    /// Both numbers could be the month (`05/11/2026`): read day first.
    DayMonthAmbiguous,
    /// A two-digit year, read as 20xx.
    ShortYear,
}

/// A date found in a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Found {
    pub span: Range<usize>,
    pub date: NaiveDate,
    pub reading: Reading,
}

/// Reads one date token, optionally labelled `Fecha:` or `Date:` and followed by a time.
///
/// Formats: `23/11/2026`, `23-11-2026`, `23.11.2026`, `2026-11-23`, `23/11/26`, `23-11-26`,
/// `23 nov 2026`, `23 NOV 2026`, `23 noviembre 2026`, `23 de noviembre de 2026`,
/// `Nov 23, 2026`, `23-Nov-2026`, with Spanish or English month names and abbreviations.
/// Day first; month first only when the second number is above 12. `None` for anything else,
/// for impossible dates and for years outside 1900..=2099.
pub fn parse_date(token: &str) -> Option<NaiveDate> {
    let token = token.trim();
    let token = LEADING_LABEL.find(token).map_or(token, |label| &token[label.end()..]);
    let token = TRAILING_TIME.find(token).map_or(token, |time| &token[..time.start()]);
    let token = token.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '.' | ',' | ';'));
    match find_dates(token).as_slice() {
        [found] if found.span == (0..token.len()) => Some(found.date),
        _ => None,
    }
}

/// Every date in a line, in order. Text-month forms win over numeric ones where they overlap.
pub(crate) fn find_dates(line: &str) -> Vec<Found> {
    // Kept by start; the kept spans never overlap, so the one starting last before a candidate's
    // end is the only one that can overlap it.
    let mut found: BTreeMap<usize, Found> = BTreeMap::new();
    let push = |candidate: Found, found: &mut BTreeMap<usize, Found>| {
        let overlaps =
            found.range(..candidate.span.end).next_back().is_some_and(|(_, f)| f.span.end > candidate.span.start);
        if !overlaps {
            found.insert(candidate.span.start, candidate);
        }
    };
    for caps in DAY_MONTH_YEAR.captures_iter(line) {
        let (Some(month), Some(year)) = (month_number(&caps[2]), full_year(&caps[3])) else { continue };
        let reading = if caps[3].len() == 2 { Reading::ShortYear } else { Reading::Certain };
        if let Some(date) = ymd(year, month, caps[1].parse().ok()) {
            push(Found { span: caps.get(0).expect("whole match").range(), date, reading }, &mut found);
        }
    }
    for caps in MONTH_DAY_YEAR.captures_iter(line) {
        let (Some(month), Some(year)) = (month_number(&caps[1]), full_year(&caps[3])) else { continue };
        if let Some(date) = ymd(year, month, caps[2].parse().ok()) {
            push(
                Found { span: caps.get(0).expect("whole match").range(), date, reading: Reading::Certain },
                &mut found,
            );
        }
    }
    for caps in ISO.captures_iter(line) {
        if caps[2] != caps[4] {
            continue;
        }
        let (Some(year), Some(month)) = (full_year(&caps[1]), caps[3].parse().ok()) else { continue };
        if let Some(date) = ymd(year, month, caps[5].parse().ok()) {
            push(
                Found { span: caps.get(0).expect("whole match").range(), date, reading: Reading::Certain },
                &mut found,
            );
        }
    }
    for caps in NUMERIC.captures_iter(line) {
        if caps[2] != caps[4] {
            continue;
        }
        let (Ok(first), Ok(second), Some(year)) = (caps[1].parse::<u32>(), caps[3].parse::<u32>(), full_year(&caps[5]))
        else {
            continue;
        };
        let (day, month) = if first <= 12 && second > 12 { (second, first) } else { (first, second) };
        let reading = if caps[5].len() == 2 {
            Reading::ShortYear
        } else if first <= 12 && second <= 12 && first != second {
            Reading::DayMonthAmbiguous
        } else {
            Reading::Certain
        };
        if let Some(date) = ymd(year, month, Some(day)) {
            push(Found { span: caps.get(0).expect("whole match").range(), date, reading }, &mut found);
        }
    }
    found.into_values().collect()
}

/// Byte ranges in `line` that look like dates, valid or not, so that their digits are not read
/// as amounts.
pub(crate) fn date_like_spans(line: &str) -> Vec<Range<usize>> {
    let mut spans: Vec<Range<usize>> =
        [&*NUMERIC, &*ISO].iter().flat_map(|re| re.find_iter(line).map(|m| m.range())).collect();
    spans.extend(find_dates(line).into_iter().map(|f| f.span));
    spans
}

fn ymd(year: i32, month: u32, day: Option<u32>) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day?)
}

fn full_year(digits: &str) -> Option<i32> {
    let year: i32 = digits.parse().ok()?;
    let year = if digits.len() == 2 { 2000 + year } else { year };
    (1900..=2099).contains(&year).then_some(year)
}

/// A Spanish or English month name, full or abbreviated to at least 3 letters (`ene`, `sept`,
/// `noviem`), case-insensitive.
pub(crate) fn month_number(word: &str) -> Option<u32> {
    const NAMES: [(&str, u32); 25] = [
        ("enero", 1),
        ("january", 1),
        ("febrero", 2),
        ("february", 2),
        ("marzo", 3),
        ("march", 3),
        ("abril", 4),
        ("april", 4),
        ("mayo", 5),
        ("may", 5),
        ("junio", 6),
        ("june", 6),
        ("julio", 7),
        ("july", 7),
        ("agosto", 8),
        ("august", 8),
        ("septiembre", 9),
        ("setiembre", 9),
        ("september", 9),
        ("octubre", 10),
        ("october", 10),
        ("noviembre", 11),
        ("november", 11),
        ("diciembre", 12),
        ("december", 12),
    ];
    let word = word.to_lowercase();
    if word.chars().count() < 3 {
        return None;
    }
    NAMES.iter().find(|(name, _)| name.starts_with(&word)).map(|&(_, month)| month)
}

/// The issue date of a receipt, from its lines: a date on (or just under) a `Fecha`/`Date` line
/// (0.95, 0.90 below it) first, then the first plausible date (2000..=2099) not labelled as
/// something else (0.75, 0.65 when the text has other dates), then a check-out date (0.55),
/// then a due or delivery date (0.40). A two-digit year or a day-month that could be swapped
/// costs 0.05.
/// `month_first_likely` (a US receipt) lowers the confidence of an ambiguous `05/11/2026`.
pub(crate) fn issue_date(lines: &[&str], month_first_likely: bool) -> Option<(NaiveDate, Score)> {
    let per_line: Vec<Vec<Found>> = lines
        .iter()
        .map(|line| find_dates(line).into_iter().filter(|f| (2000..=2099).contains(&f.date.year())).collect())
        .collect();
    let mut labelled = None;
    let mut unlabelled = None;
    let mut end_of_stay = None;
    let mut other = None;
    for (i, line) in lines.iter().enumerate() {
        let is_end = END_LABEL.is_match(line);
        let is_other = OTHER_LABEL.is_match(line) || is_end;
        let is_issue = ISSUE_LABEL.is_match(line) && !is_other;
        let here = per_line[i].first();
        if is_issue {
            // A date on the label's line beats one below it (`Date  Description` over a table).
            let below =
                per_line.get(i + 1).and_then(|next| next.first()).filter(|_| !OTHER_LABEL.is_match(lines[i + 1]));
            let candidate = here.map(|f| (f, Score(95))).or_else(|| below.map(|f| (f, Score(90))));
            if candidate.is_some_and(|(_, s)| labelled.is_none_or(|(_, best)| s > best)) {
                labelled = candidate;
            }
        }
        if let Some(f) = here {
            if is_end {
                end_of_stay = end_of_stay.or(Some((f, Score(55))));
            } else if is_other {
                other = other.or(Some((f, Score(40))));
            } else {
                unlabelled = unlabelled.or(Some((f, Score(75))));
            }
        }
    }
    let distinct = {
        let mut dates: Vec<NaiveDate> = per_line.iter().flatten().map(|f| f.date).collect();
        dates.sort();
        dates.dedup();
        dates.len()
    };
    let (found, mut score) = labelled
        .or_else(|| unlabelled.map(|(f, s)| (f, if distinct > 1 { Score(65) } else { s })))
        .or(end_of_stay)
        .or(other)?;
    score = match found.reading {
        Reading::Certain => score,
        Reading::ShortYear => score - 5,
        Reading::DayMonthAmbiguous if month_first_likely => Score(50).min(score),
        Reading::DayMonthAmbiguous => score - 5,
    };
    Some((found.date, score))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, d)
    }

    #[test]
    fn numeric_dates_read_day_first_with_any_separator() {
        for token in ["23/11/2026", "23-11-2026", "23.11.2026", "2026-11-23", "2026/11/23", "23/11/26", "23-11-26"] {
            assert_eq!(parse_date(token), date(2026, 11, 23), "{token}");
        }
        assert_eq!(parse_date("05/11/2026"), date(2026, 11, 5));
        assert_eq!(parse_date("5/1/2026"), date(2026, 1, 5));
    }

    #[test]
    fn a_us_date_reads_month_first_only_when_the_day_cannot_be_a_month() {
        assert_eq!(parse_date("11/23/2026"), date(2026, 11, 23));
        assert_eq!(parse_date("11/12/2026"), date(2026, 12, 11));
        assert_eq!(parse_date("13/14/2026"), None);
    }

    #[test]
    fn month_names_read_in_spanish_and_english() {
        for token in [
            "23 nov 2026",
            "23 NOV 2026",
            "23 noviembre 2026",
            "23 de noviembre de 2026",
            "Nov 23, 2026",
            "November 23 2026",
            "23-Nov-2026",
            "23rd November 2026",
            "23 Nov. 2026",
            "23-nov-26",
        ] {
            assert_eq!(parse_date(token), date(2026, 11, 23), "{token}");
        }
        let months = [
            ("ene", 1),
            ("jan", 1),
            ("feb", 2),
            ("mar", 3),
            ("abr", 4),
            ("apr", 4),
            ("may", 5),
            ("jun", 6),
            ("jul", 7),
            ("ago", 8),
            ("aug", 8),
            ("sep", 9),
            ("sept", 9),
            ("set", 9),
            ("oct", 10),
            ("nov", 11),
            ("dic", 12),
            ("dec", 12),
        ];
        for (name, month) in months {
            assert_eq!(parse_date(&format!("2 {name} 2026")), date(2026, month, 2), "{name}");
        }
    }

    #[test]
    fn labels_in_front_of_a_token_are_allowed() {
        assert_eq!(parse_date("Fecha: 23/11/2026"), date(2026, 11, 23));
        assert_eq!(parse_date("Date: Nov 23, 2026"), date(2026, 11, 23));
        assert_eq!(parse_date("23/11/2026 14:32"), date(2026, 11, 23));
        assert_eq!(parse_date("23.11.2026 2:32 PM"), date(2026, 11, 23));
    }

    #[test]
    fn impossible_dates_and_times_are_refused() {
        for token in [
            "31/02/2026",
            "30/02/2026",
            "00/01/2026",
            "14:32",
            "23/11",
            "2026",
            "14:32 23/11",
            "1.234,56",
            "23 xyz 2026",
        ] {
            assert_eq!(parse_date(token), None, "{token}");
        }
        assert_eq!(parse_date("29/02/2028"), date(2028, 2, 29));
        assert_eq!(parse_date("29/02/2026"), None);
    }

    #[test]
    fn mixed_separators_are_not_a_date() {
        assert_eq!(parse_date("23/11-2026"), None);
    }

    #[test]
    fn the_labelled_date_wins_over_an_earlier_one() {
        let lines = ["Pedido 01/11/2026", "Fecha factura: 23/11/2026"];
        assert_eq!(issue_date(&lines, false), Some((NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), Score(95))));
    }

    #[test]
    fn a_label_on_its_own_line_takes_the_date_below() {
        let lines = ["FECHA", "23/11/2026 14:32"];
        assert_eq!(issue_date(&lines, false), Some((NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), Score(90))));
    }

    #[test]
    fn a_date_column_header_loses_to_a_labelled_date() {
        let lines = ["Date  Description  Charges", "20-Nov-2026 Room 189.00", "Invoice Date: 23-Nov-2026"];
        assert_eq!(issue_date(&lines, false), Some((NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), Score(95))));
    }

    #[test]
    fn a_due_date_is_not_the_issue_date() {
        let lines = ["Fecha de vencimiento: 23/12/2026", "Emitida el 23/11/2026"];
        assert_eq!(issue_date(&lines, false).map(|(d, _)| d), NaiveDate::from_ymd_opt(2026, 11, 23));
    }

    #[test]
    fn without_a_label_the_first_plausible_date_wins() {
        let lines = ["Nacido 01/01/1980", "23/11/2026 14:32", "Válido hasta 23/12/2026"];
        assert_eq!(issue_date(&lines, false).map(|(d, _)| d), NaiveDate::from_ymd_opt(2026, 11, 23));
    }

    #[test]
    fn a_check_out_date_is_a_weak_issue_date() {
        let lines = ["Llegada 20/11/2026", "Check-out: 23 Nov 2026"];
        assert_eq!(issue_date(&lines, false), Some((NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), Score(55))));
    }

    #[test]
    fn an_ambiguous_date_on_a_us_receipt_is_not_trusted() {
        let lines = ["05/11/2026"];
        assert_eq!(issue_date(&lines, true), Some((NaiveDate::from_ymd_opt(2026, 11, 5).unwrap(), Score(50))));
        assert_eq!(issue_date(&lines, false), Some((NaiveDate::from_ymd_opt(2026, 11, 5).unwrap(), Score(70))));
    }
}
