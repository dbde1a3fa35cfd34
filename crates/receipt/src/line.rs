//! One OCR line read into numbers and keywords, and which keyword each amount belongs to.
//!
//! Dates and times are blanked out before numbers are looked for, so `23.11.2026` and `14:32`
//! never become amounts. A keyword owns the numbers after it up to the next keyword
//! (`BASE 10,00 IVA 21% 2,10 TOTAL 12,10` gives each its own), and takes the last money amount
//! in that stretch (`IVA 21% s/ 10,00 = 2,10` is 2,10).

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;
use rust_decimal::Decimal;

use crate::amount::{self, Style};
use crate::date;
use crate::keyword::{self, Keyword, Kind};

/// Candidate number tokens: space-grouped thousands (`1 234,56`), a separator with a stray
/// space (`12 ,50`), or a run of digits and separators (`1.234,56`, `12.5O`). The amount
/// parser validates them.
static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\d{1,3}(?:[\x20\x{a0}\x{202f}]\d{3})+[.,][\dOo]{1,2}|\d+(?:\x20[.,]\x20?|[.,]\x20)[\dOo]{2}|\d(?:[\d.,]*[\dOo]{1,2})?")
        .expect("valid regex")
});

static TIME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?-u:\b)\d{1,2}[:h]\d{2}(?::\d{2})?(?-u:\b)").expect("valid regex"));

/// A number found in a line.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Number {
    pub span: Range<usize>,
    pub value: Decimal,
    /// Followed by `%`: a rate, never an amount.
    pub percent: bool,
    /// The ISO code of a currency symbol or code written right before or after it.
    pub currency: Option<&'static str>,
    /// Next to `ARTICULOS`/`ITEMS`: a count, never an amount.
    pub count: bool,
}

impl Number {
    /// An amount of money: not a rate or a count, and with decimals or a currency.
    pub fn is_money(&self) -> bool {
        self.is_amount() && (self.value.scale() > 0 || self.currency.is_some())
    }

    /// Not a rate or a count; maybe a bare integer.
    pub fn is_amount(&self) -> bool {
        !self.percent && !self.count
    }
}

/// A keyword and the amount it owns on its line.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Claim {
    pub kind: Kind,
    pub keyword: Range<usize>,
    /// The index in [`Line::numbers`] of its amount: the last money amount after it, else the
    /// last integer.
    pub number: Option<usize>,
}

/// One non-empty line of the receipt.
#[derive(Clone, Debug)]
pub(crate) struct Line<'a> {
    pub text: &'a str,
    pub numbers: Vec<Number>,
    pub keywords: Vec<Keyword>,
    /// One per keyword that claims amounts, in order.
    pub claims: Vec<Claim>,
}

/// A number token before it is valued: valuing needs the whole receipt's [`Style`].
#[derive(Clone, Debug)]
pub(crate) struct Raw {
    span: Range<usize>,
    core: String,
    negative: bool,
    percent: bool,
    currency: Option<&'static str>,
}

impl Raw {
    /// The decimal style this token shows unambiguously, for the receipt-wide vote.
    pub fn style(&self) -> Option<Style> {
        amount::style_of(&self.core)
    }
}

/// Finds the number tokens of a line, with dates and times blanked out.
pub(crate) fn scan(text: &str) -> Vec<Raw> {
    let mut spans = date::date_like_spans(text);
    spans.extend(TIME.find_iter(text).map(|m| m.range()));
    let masked = blank_out(text, spans);
    let masked = masked.as_str();
    NUMBER.find_iter(masked).filter_map(|m| raw(masked, m.range())).collect()
}

/// `text` with every byte in `spans` replaced by a space (spans fall on character boundaries),
/// in one pass however many spans there are.
fn blank_out(text: &str, mut spans: Vec<Range<usize>>) -> String {
    spans.sort_by_key(|span| span.start);
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for span in spans {
        let start = span.start.max(copied);
        if span.end <= start {
            continue;
        }
        out.push_str(&text[copied..start]);
        out.extend(std::iter::repeat_n(' ', span.end - start));
        copied = span.end;
    }
    out.push_str(&text[copied..]);
    out
}

/// Checks what is around a number token; `None` when it is part of a word or an identifier.
fn raw(text: &str, span: Range<usize>) -> Option<Raw> {
    let before = &text[..span.start];
    let after = &text[span.end..];
    let core = &text[span.clone()];
    let has_decimals = core.contains(['.', ',']);
    let mut glued_letters = false;
    let prev = before.chars().next_back();
    if prev.is_some_and(char::is_alphanumeric) {
        let word: String = before.chars().rev().take_while(|c| c.is_alphabetic()).collect();
        if code_of(&word.chars().rev().collect::<String>()).is_none() {
            glued_letters = true;
        }
    }
    let negative = match prev {
        Some('-' | '\u{2212}') => {
            let before_sign = before[..before.len() - prev.map_or(0, char::len_utf8)].chars().next_back();
            if before_sign.is_some_and(char::is_alphanumeric) {
                return None; // A-46103834, 2026-0042
            }
            true
        }
        _ => after.starts_with('-') && !after[1..].starts_with(char::is_alphanumeric),
    };
    if matches!(prev, Some('/' | '#' | 'º' | '°' | 'ª' | '+')) {
        return None;
    }
    let next = after.chars().next();
    if next.is_some_and(|c| c.is_ascii_digit() || c == '/') {
        return None;
    }
    let percent = after.trim_start().starts_with('%');
    let word_after: String = after.chars().take_while(|c| c.is_alphabetic()).collect();
    if !word_after.is_empty() && code_of(&word_after).is_none() {
        let tax_class = word_after.len() == 1 && word_after.chars().all(|c| ('A'..='E').contains(&c));
        if !tax_class {
            return None; // 500ML, 2X, 3KG
        }
    }
    let currency = currency_before(before).or_else(|| currency_after(after));
    if glued_letters && !(has_decimals || currency.is_some()) {
        return None; // B12345678
    }
    Some(Raw { span, core: core.to_owned(), negative, percent, currency })
}

/// The ISO code a currency symbol or code stands for.
pub(crate) fn code_of(word: &str) -> Option<&'static str> {
    match word.to_ascii_uppercase().as_str() {
        "€" | "EUR" | "EURO" | "EUROS" => Some("EUR"),
        "$" | "USD" | "US$" => Some("USD"),
        "£" | "GBP" => Some("GBP"),
        _ => None,
    }
}

fn currency_before(before: &str) -> Option<&'static str> {
    let before = before.trim_end();
    let before = before.strip_suffix(['-', '\u{2212}']).unwrap_or(before).trim_end();
    if let Some(symbol) = before.chars().next_back().and_then(|c| code_of(&c.to_string())) {
        return Some(symbol);
    }
    let word: String =
        before.chars().rev().take_while(|c| c.is_alphabetic()).collect::<Vec<_>>().into_iter().rev().collect();
    code_of(&word)
}

fn currency_after(after: &str) -> Option<&'static str> {
    let after = after.trim_start();
    if let Some(symbol) = after.chars().next().and_then(|c| code_of(&c.to_string())) {
        return Some(symbol);
    }
    let word: String = after.chars().take_while(|c| c.is_alphabetic()).collect();
    code_of(&word)
}

impl<'a> Line<'a> {
    /// Values the raw numbers with the receipt's style, finds keywords and assigns amounts.
    pub fn new(text: &'a str, raws: &[Raw], style: Option<Style>) -> Line<'a> {
        let mut numbers: Vec<Number> = raws
            .iter()
            .filter_map(|raw| {
                let value = amount::parse_with(&raw.core, style)?;
                Some(Number {
                    span: raw.span.clone(),
                    value: if raw.negative { -value } else { value },
                    percent: raw.percent,
                    currency: raw.currency,
                    count: false,
                })
            })
            .collect();
        let keywords = keyword::find(text);
        mark_counts(text, &keywords, &mut numbers);
        let claims = claims(&keywords, &numbers);
        Line { text, numbers, keywords, claims }
    }

    /// The amount a claim owns.
    pub fn amount(&self, claim: &Claim) -> Option<&Number> {
        claim.number.map(|i| &self.numbers[i])
    }

    /// Whether any keyword on the line claims amounts.
    pub fn has_claims(&self) -> bool {
        !self.claims.is_empty()
    }

    /// Whether the line has a keyword of a kind matching `kind`.
    pub fn has(&self, kind: impl Fn(Kind) -> bool) -> bool {
        self.keywords.iter().any(|k| kind(k.kind))
    }

    /// The last money amount on the line.
    pub fn last_money(&self) -> Option<&Number> {
        self.numbers.iter().rev().find(|n| n.is_money())
    }

    /// Whether the line is nothing but amounts (and currency markers): the value of a keyword
    /// on the line above.
    pub fn is_bare_amount(&self) -> bool {
        if self.numbers.is_empty() || !self.keywords.is_empty() {
            return false;
        }
        let mut letters = 0;
        let mut from = 0;
        for number in &self.numbers {
            letters += count_letters(&self.text[from..number.span.start]);
            from = number.span.end;
        }
        letters += count_letters(&self.text[from..]);
        letters <= 2
    }
}

/// Letters outside currency codes.
fn count_letters(text: &str) -> usize {
    text.split(|c: char| !c.is_alphabetic())
        .filter(|word| code_of(word).is_none())
        .map(|word| word.chars().count())
        .sum()
}

/// Marks the integer right before or after a count keyword (`3 ARTICULOS`, `ITEMS: 3`).
fn mark_counts(text: &str, keywords: &[Keyword], numbers: &mut [Number]) {
    for keyword in keywords.iter().filter(|k| k.kind == Kind::Count) {
        // Numbers are in order and do not overlap: the neighbours are found by bisection.
        let before = numbers.partition_point(|n| n.span.end <= keyword.span.start).checked_sub(1);
        if let Some(n) = before.map(|i| &mut numbers[i])
            && text[n.span.end..keyword.span.start].chars().all(|c| c.is_whitespace() || c == '(')
        {
            n.count = true;
            continue;
        }
        let after = numbers.partition_point(|n| n.span.start < keyword.span.end);
        if let Some(n) = numbers.get_mut(after)
            && text[keyword.span.end..n.span.start].chars().all(|c| c.is_whitespace() || matches!(c, ':' | '.'))
        {
            n.count = true;
        }
    }
}

/// Assigns each claiming keyword the numbers up to the next one.
fn claims(keywords: &[Keyword], numbers: &[Number]) -> Vec<Claim> {
    let claiming: Vec<&Keyword> = keywords.iter().filter(|k| k.kind.claims()).collect();
    let mut next_number = 0;
    claiming
        .iter()
        .enumerate()
        .map(|(i, keyword)| {
            let end = claiming.get(i + 1).map_or(usize::MAX, |k| k.span.start);
            while next_number < numbers.len() && numbers[next_number].span.start < keyword.span.end {
                next_number += 1;
            }
            let first = next_number;
            while next_number < numbers.len() && numbers[next_number].span.start < end {
                next_number += 1;
            }
            let owned = first..next_number;
            let money = owned.clone().rev().find(|&j| numbers[j].is_money());
            let number = money.or_else(|| owned.rev().find(|&j| numbers[j].is_amount()));
            Claim { kind: keyword.kind, keyword: keyword.span.clone(), number }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::Score;

    fn line(text: &str) -> Line<'_> {
        Line::new(text, &scan(text), None)
    }

    fn values(text: &str) -> Vec<Decimal> {
        line(text).numbers.iter().filter(|n| n.is_amount()).map(|n| n.value).collect()
    }

    fn claimed(text: &str) -> Vec<(Kind, Option<Decimal>)> {
        let line = line(text);
        line.claims.iter().map(|c| (c.kind, line.amount(c).map(|n| n.value))).collect()
    }

    #[test]
    fn dates_times_and_rates_are_not_amounts() {
        assert_eq!(values("23.11.2026 14:32 IVA 21% 2,10"), [Decimal::new(210, 2)]);
        assert_eq!(values("Fecha 2026-11-23 12:05:33"), []);
    }

    #[test]
    fn identifiers_and_units_are_not_amounts() {
        assert_eq!(values("CIF: B12345678"), []);
        assert_eq!(values("NIF A-46103834"), []);
        assert_eq!(values("AGUA 500ML 0,45"), [Decimal::new(45, 2)]);
        assert_eq!(values("Factura Nº 2026/0042"), []);
        assert_eq!(values("Pedido #4521 Nº 77"), [Decimal::new(77, 0)]);
    }

    #[test]
    fn currency_next_to_an_amount_is_noted() {
        let line = line("TOTAL EUR 12,50   $3.20   4,00€");
        let currencies: Vec<_> = line.numbers.iter().map(|n| n.currency).collect();
        assert_eq!(currencies, [Some("EUR"), Some("USD"), Some("EUR")]);
    }

    #[test]
    fn each_keyword_owns_the_amount_after_it() {
        assert_eq!(
            claimed("BASE 10,00 IVA 21% 2,10 TOTAL 12,10"),
            [
                (Kind::Subtotal, Some(Decimal::new(1000, 2))),
                (Kind::Tax, Some(Decimal::new(210, 2))),
                (Kind::Total(Score(80)), Some(Decimal::new(1210, 2))),
            ]
        );
        assert_eq!(claimed("IVA 21% s/ 10,00 = 2,10"), [(Kind::Tax, Some(Decimal::new(210, 2)))]);
    }

    #[test]
    fn a_count_next_to_articulos_is_not_the_total() {
        assert_eq!(claimed("TOTAL (3 ARTICULOS) 23,45"), [(Kind::Total(Score(80)), Some(Decimal::new(2345, 2)))]);
        assert_eq!(claimed("TOTAL 3 UDS"), [(Kind::Total(Score(80)), None)]);
    }

    #[test]
    fn dotted_leaders_and_glued_keywords_still_give_the_amount() {
        assert_eq!(claimed("TOTAL.........12,50"), [(Kind::Total(Score(80)), Some(Decimal::new(1250, 2)))]);
        assert_eq!(claimed("TOTAL12,50"), [(Kind::Total(Score(80)), Some(Decimal::new(1250, 2)))]);
    }

    #[test]
    fn noisy_amounts_are_read() {
        assert_eq!(values("TOTAL 12 ,50"), [Decimal::new(1250, 2)]);
        assert_eq!(values("TOTAL 12.5O"), [Decimal::new(1250, 2)]);
        assert_eq!(values("TOTAL 1 234,56 €"), [Decimal::new(123456, 2)]);
        assert_eq!(values("DTO -1,20"), [Decimal::new(-120, 2)]);
    }

    #[test]
    fn blanking_out_keeps_offsets_and_characters_outside_the_spans() {
        assert_eq!(
            blank_out("a 23/11/2026 € 14:32 b", vec![17..22, 2..12, 4..6]),
            format!("a{}€{}b", " ".repeat(12), " ".repeat(7))
        );
    }

    #[test]
    fn a_line_of_only_an_amount_is_bare() {
        assert!(line("23,45 €").is_bare_amount());
        assert!(line("EUR 23,45").is_bare_amount());
        assert!(!line("PAN 1,20").is_bare_amount());
        assert!(!line("TOTAL 1,20").is_bare_amount());
    }
}
