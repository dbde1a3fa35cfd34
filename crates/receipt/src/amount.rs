//! One amount token (`1.234,56`, `1,234.56`, `€12.50`, `12 ,50`, `12.5O`) read as a `Decimal`.
//!
//! The ambiguous case is a single separator followed by exactly three digits (`1.234`, `1,234`):
//! the separator is decimal when the receipt's dominant [`Style`] says so, and a thousands
//! separator otherwise, including when no style is known (a money amount with three decimals
//! is rarer than one in the thousands). `0.459` is always decimal: no group starts with a lone 0.

use rust_decimal::Decimal;

/// Which character a receipt writes before its decimals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    /// `1.234,56`: Spanish and most of continental Europe.
    Comma,
    /// `1,234.56`: English.
    Dot,
}

impl Style {
    fn decimal(self) -> char {
        match self {
            Style::Comma => ',',
            Style::Dot => '.',
        }
    }
}

/// Currency markers an amount may carry before or after it, longest first.
const MARKERS: [&str; 9] = ["US$", "EUROS", "EURO", "EUR", "USD", "GBP", "€", "$", "£"];

/// More integer digits than this is an identifier, not a receipt amount.
const MAX_INTEGER_DIGITS: usize = 12;

/// More decimals than this is not money.
const MAX_DECIMALS: usize = 4;

/// Reads one amount token, with or without a currency symbol or code on either side.
///
/// Accepts `1.234,56`, `1,234.56`, `12,50`, `12.50`, `1234.56`, `€12.50`, `12.50€`,
/// `EUR 12,50`, `1 234,56`, a leading or trailing minus, and the OCR slips `12 ,50` and
/// `12.5O`. Returns `None` for anything else, and for more than 4 decimals or 12 integer
/// digits. An ambiguous `1.234` or `1,234` reads as 1234: see the module docs.
pub fn parse_amount(token: &str) -> Option<Decimal> {
    parse_with(token, None)
}

/// [`parse_amount`] with the receipt's dominant decimal style to settle `1.234`.
pub(crate) fn parse_with(token: &str, style: Option<Style>) -> Option<Decimal> {
    let (core, negative) = strip_markers(token)?;
    let value = parse_core(core, style)?;
    Some(if negative { -value } else { value })
}

/// The decimal style a bare number token shows unambiguously, if any: used to vote for the
/// receipt's dominant style.
pub(crate) fn style_of(core: &str) -> Option<Style> {
    let last = core.rfind(['.', ','])?;
    let separator = if core[last..].starts_with('.') { '.' } else { ',' };
    let other = if separator == '.' { ',' } else { '.' };
    let decimals = core[last + 1..].trim_start().chars().take_while(|c| c.is_ascii_digit() || *c == 'O' || *c == 'o');
    let decimals = decimals.count();
    let repeated = core[..last].contains(separator);
    let both = core[..last].contains(other);
    let decimal = !repeated && (both || (decimals != 3 && decimals > 0));
    decimal.then_some(if separator == '.' { Style::Dot } else { Style::Comma })
}

/// Strips whitespace, one currency marker at each end and a minus sign; returns the number
/// part and whether it was negative.
fn strip_markers(token: &str) -> Option<(&str, bool)> {
    let mut rest = token.trim();
    let mut negative = false;
    for _ in 0..2 {
        if let Some(r) = rest.strip_prefix(['-', '\u{2212}']) {
            negative = true;
            rest = r.trim_start();
        }
        if let Some(r) = MARKERS.iter().find_map(|m| strip_prefix_ignore_case(rest, m)) {
            rest = r.trim_start();
        }
    }
    for _ in 0..2 {
        if let Some(r) = rest.strip_suffix(['-', '\u{2212}']) {
            negative = true;
            rest = r.trim_end();
        }
        if let Some(r) = MARKERS.iter().find_map(|m| strip_suffix_ignore_case(rest, m)) {
            rest = r.trim_end();
        }
    }
    (!rest.is_empty()).then_some((rest, negative))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

fn strip_suffix_ignore_case<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let start = text.len().checked_sub(suffix.len())?;
    let tail = text.get(start..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &text[..start])
}

/// Parses digits with `.`/`,` separators and optional single spaces as thousands separators.
fn parse_core(core: &str, style: Option<Style>) -> Option<Decimal> {
    let compact = squeeze_spaces(core)?;
    let (integer, fraction) = match compact.rfind(['.', ',']) {
        Some(at) if decimal_separator(&compact[..at], &compact[at + 1..], &compact[at..at + 1], style) => {
            (&compact[..at], &compact[at + 1..])
        }
        _ => (compact.as_str(), ""),
    };
    let fraction = fix_ocr_zeros(fraction)?;
    if !fraction.chars().all(|c| c.is_ascii_digit()) || fraction.len() > MAX_DECIMALS {
        return None;
    }
    if integer.len() < compact.len() && fraction.is_empty() {
        return None; // "12." or "12,"
    }
    let integer = integer_digits(integer)?;
    if integer.is_empty() && !(1..=2).contains(&fraction.len()) {
        return None;
    }
    if !integer.bytes().chain(fraction.bytes()).any(|b| b.is_ascii_digit()) {
        return None;
    }
    let mantissa: i128 = format!("{integer}{fraction}").parse().ok()?;
    Decimal::try_from_i128_with_scale(mantissa, u32::try_from(fraction.len()).ok()?).ok()
}

/// Drops spaces around a `.`/`,` (`12 ,50`) and turns a single space between digit groups into
/// `' '`; refuses runs of spaces and anything that is not a digit, separator or `O`.
fn squeeze_spaces(core: &str) -> Option<String> {
    let chars: Vec<char> = core.chars().collect();
    let mut out = String::with_capacity(core.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            let run_end = (i..chars.len()).find(|&j| !chars[j].is_whitespace()).unwrap_or(chars.len());
            let before = out.chars().last();
            let after = chars.get(run_end).copied();
            let around_separator = matches!(before, Some('.' | ',')) || matches!(after, Some('.' | ','));
            if around_separator {
                if run_end - i > 1 {
                    return None;
                }
            } else if run_end - i == 1 && before.is_some_and(|b| b.is_ascii_digit()) && after.is_some() {
                out.push(' ');
            } else {
                return None;
            }
            i = run_end;
            continue;
        }
        if !(c.is_ascii_digit() || matches!(c, '.' | ',' | 'O' | 'o')) {
            return None;
        }
        out.push(c);
        i += 1;
    }
    Some(out)
}

/// Whether the last separator (`separator`, between `integer` and `fraction`) is the decimal one.
fn decimal_separator(integer: &str, fraction: &str, separator: &str, style: Option<Style>) -> bool {
    let separator = if separator == "." { '.' } else { ',' };
    let other = if separator == '.' { ',' } else { '.' };
    if integer.contains(separator) {
        return false; // repeated: thousands, as in 1.234.567
    }
    if integer.contains(other) || integer.contains(' ') {
        return true; // 1,234.56 or 1 234,56: the last one is decimal
    }
    let digits = fraction.len();
    if digits != 3 || fraction.contains(['O', 'o']) {
        return true;
    }
    if integer.is_empty() || integer == "0" || integer.len() > 3 {
        return true; // 0.459 and 1234.567 have no thousands reading
    }
    style.is_some_and(|s| s.decimal() == separator)
}

/// `5O` → `50`: OCR reads a zero as the letter O, and only decimals are trusted to be digits.
fn fix_ocr_zeros(fraction: &str) -> Option<String> {
    if fraction.contains(['.', ',', ' ']) {
        return None;
    }
    Some(fraction.replace(['O', 'o'], "0"))
}

/// The integer part's digits, checking thousands grouping: a first group of 1–3 digits, then
/// groups of exactly 3.
fn integer_digits(integer: &str) -> Option<String> {
    if integer.contains(['O', 'o']) {
        return None;
    }
    let groups: Vec<&str> = integer.split(['.', ',', ' ']).collect();
    if groups.len() > 1 {
        let separators: Vec<char> = integer.chars().filter(|c| matches!(c, '.' | ',' | ' ')).collect();
        if separators.windows(2).any(|w| w[0] != w[1]) {
            return None; // 1.234,567.89 or 1 234.567
        }
        let first_ok = (1..=3).contains(&groups[0].len()) && !groups[0].starts_with('0');
        if !first_ok || groups[1..].iter().any(|g| g.len() != 3) {
            return None;
        }
    }
    let digits: String = groups.concat();
    if !digits.chars().all(|c| c.is_ascii_digit()) || digits.len() > MAX_INTEGER_DIGITS {
        return None;
    }
    Some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(mantissa: i64, scale: u32) -> Option<Decimal> {
        Some(Decimal::new(mantissa, scale))
    }

    #[test]
    fn spanish_and_english_grouping_both_read() {
        assert_eq!(parse_amount("1.234,56"), amount(123456, 2));
        assert_eq!(parse_amount("1,234.56"), amount(123456, 2));
        assert_eq!(parse_amount("1.234.567,89"), amount(123456789, 2));
        assert_eq!(parse_amount("1,234,567.89"), amount(123456789, 2));
    }

    #[test]
    fn plain_decimals_read_with_either_separator() {
        assert_eq!(parse_amount("12,50"), amount(1250, 2));
        assert_eq!(parse_amount("12.50"), amount(1250, 2));
        assert_eq!(parse_amount("1234.56"), amount(123456, 2));
        assert_eq!(parse_amount("0,5"), amount(5, 1));
        assert_eq!(parse_amount("7"), amount(7, 0));
        assert_eq!(parse_amount("1,5000"), amount(15000, 4));
    }

    #[test]
    fn currency_symbols_and_codes_on_either_side_are_ignored() {
        for token in ["€12.50", "12.50€", "EUR 12,50", "12,50 EUR", "€ 12,50", "$12.50", "USD 12.50", "£12.50"] {
            assert_eq!(parse_amount(token), amount(1250, 2), "{token}");
        }
        assert_eq!(parse_amount("12.50 GBP"), amount(1250, 2));
        assert_eq!(parse_amount("eur12,50"), amount(1250, 2));
        assert_eq!(parse_amount("US$1,234.56"), amount(123456, 2));
        assert_eq!(parse_amount("12,50 euros"), amount(1250, 2));
    }

    #[test]
    fn spaces_group_thousands() {
        assert_eq!(parse_amount("1 234,56"), amount(123456, 2));
        assert_eq!(parse_amount("1\u{a0}234,56"), amount(123456, 2));
        assert_eq!(parse_amount("12 345 678.90"), amount(1234567890, 2));
        assert_eq!(parse_amount("1 23,45"), None);
        assert_eq!(parse_amount("1  234,56"), None);
    }

    #[test]
    fn cheap_ocr_slips_are_fixed() {
        assert_eq!(parse_amount("12 ,50"), amount(1250, 2));
        assert_eq!(parse_amount("12, 50"), amount(1250, 2));
        assert_eq!(parse_amount("12.5O"), amount(1250, 2));
        assert_eq!(parse_amount("12,OO"), amount(1200, 2));
        assert_eq!(parse_amount("1O,50"), None);
    }

    #[test]
    fn a_minus_on_either_side_makes_it_negative() {
        assert_eq!(parse_amount("-1,20"), amount(-120, 2));
        assert_eq!(parse_amount("1,20-"), amount(-120, 2));
        assert_eq!(parse_amount("-€1.20"), amount(-120, 2));
    }

    #[test]
    fn three_digits_after_one_separator_follow_the_receipts_style() {
        assert_eq!(parse_amount("1.234"), amount(1234, 0));
        assert_eq!(parse_amount("1,234"), amount(1234, 0));
        assert_eq!(parse_with("1.234", Some(Style::Comma)), amount(1234, 0));
        assert_eq!(parse_with("1,234", Some(Style::Comma)), amount(1234, 3));
        assert_eq!(parse_with("1.234", Some(Style::Dot)), amount(1234, 3));
        assert_eq!(parse_with("1,234", Some(Style::Dot)), amount(1234, 0));
        assert_eq!(parse_amount("0,459"), amount(459, 3));
        assert_eq!(parse_amount("1234.567"), amount(1234567, 3));
    }

    #[test]
    fn garbage_is_refused() {
        for token in [
            "",
            " ",
            "-",
            "€",
            "abc",
            "1.2.3",
            "12,5,0",
            "1,23,456",
            "12..50",
            "12.",
            ",",
            "1e5",
            "NaN",
            "12.50.",
            "1.234,567.89",
            "01.234",
            "12.34567",
            "1234567890123",
            "O,OO",
            "12a",
            "EUR",
            "--",
            "1 2",
        ] {
            assert_eq!(parse_amount(token), None, "{token:?}");
        }
    }

    #[test]
    fn a_leading_separator_reads_as_cents() {
        assert_eq!(parse_amount("$.99"), amount(99, 2));
        assert_eq!(parse_amount(".459"), None);
    }

    #[test]
    fn the_style_vote_ignores_ambiguous_tokens() {
        assert_eq!(style_of("12,50"), Some(Style::Comma));
        assert_eq!(style_of("1.234,5"), Some(Style::Comma));
        assert_eq!(style_of("1,234.56"), Some(Style::Dot));
        assert_eq!(style_of("12.5O"), Some(Style::Dot));
        assert_eq!(style_of("1.234"), None);
        assert_eq!(style_of("1.234.567"), None);
        assert_eq!(style_of("1234"), None);
    }
}
