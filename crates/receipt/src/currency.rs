//! The currency, from symbols and codes anywhere in the text (`€`/`EUR` → EUR, `$`/`USD` →
//! USD, `£`/`GBP` → GBP, …), else from a Spanish receipt's wording and decimal commas.
//!
//! | evidence | confidence |
//! | --- | --- |
//! | one currency, written next to an amount | 0.95 |
//! | one currency, written elsewhere (`Prices in EUR`) | 0.85 |
//! | several currencies, the chosen one next to amounts and the others not | 0.80 |
//! | several currencies otherwise (most mentions wins) | 0.50 |
//! | no symbol or code, but `IVA`/`IMPORTE`/`TOTAL A PAGAR` and decimal commas | EUR, 0.50 |
//!
//! A bare `$` is USD: a Mexican or Argentine receipt will be misread, which is why it is
//! rarely the only evidence the worker acts on.

use std::sync::LazyLock;

use regex::Regex;

use crate::amount::Style;
use crate::line::Line;
use crate::score::Score;

static MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?-u:\b)(?:US|CA|C|AU|A|NZ|MX)\$|[€$£¥]|(?-u:\b)(?:EUR|EUROS?|USD|GBP|CHF|CAD|AUD|NZD|MXN|JPY|SEK|NOK|DKK|PLN|CZK)(?-u:\b)",
    )
    .expect("valid regex")
});

static SPANISH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?-u:\b)(?:I\.\s?V\.\s?A|IVA|IMPORTE|TOTAL\s+A\s+PAGAR|BASE\s+IMPONIBLE|CUOTA)(?-u:\b)")
        .expect("valid regex")
});

fn iso(marker: &str) -> Option<&'static str> {
    Some(match marker.to_uppercase().as_str() {
        "€" | "EUR" | "EURO" | "EUROS" => "EUR",
        "$" | "US$" | "USD" => "USD",
        "£" | "GBP" => "GBP",
        "¥" | "JPY" => "JPY",
        "CA$" | "C$" | "CAD" => "CAD",
        "AU$" | "A$" | "AUD" => "AUD",
        "NZ$" | "NZD" => "NZD",
        "MX$" | "MXN" => "MXN",
        "CHF" => "CHF",
        "SEK" => "SEK",
        "NOK" => "NOK",
        "DKK" => "DKK",
        "PLN" => "PLN",
        "CZK" => "CZK",
        _ => return None,
    })
}

#[derive(Default)]
struct Votes {
    code: &'static str,
    mentions: usize,
    /// Mentions on the same line as an amount.
    near_money: usize,
}

pub(crate) fn read(lines: &[Line], style: Option<Style>) -> Option<(String, Score)> {
    let mut votes: Vec<Votes> = Vec::new();
    for line in lines {
        let money_here = line.numbers.iter().any(|n| n.is_money() || n.currency.is_some());
        for marker in MARKER.find_iter(line.text) {
            let Some(code) = iso(marker.as_str()) else { continue };
            let index = match votes.iter().position(|v| v.code == code) {
                Some(index) => index,
                None => {
                    votes.push(Votes { code, ..Votes::default() });
                    votes.len() - 1
                }
            };
            votes[index].mentions += 1;
            votes[index].near_money += usize::from(money_here);
        }
    }
    // Reversed so that the first currency seen wins a tie.
    let Some(best) = votes.iter().rev().max_by_key(|v| (v.near_money, v.mentions)) else {
        let spanish = lines.iter().any(|l| SPANISH.is_match(l.text));
        return (spanish && style == Some(Style::Comma)).then(|| ("EUR".to_owned(), Score(50)));
    };
    let score = match votes.len() {
        1 if best.near_money > 0 => Score(95),
        1 => Score(85),
        _ if best.near_money > 0 && votes.iter().all(|v| v.code == best.code || v.near_money == 0) => Score(80),
        _ => Score(50),
    };
    Some((best.code.to_owned(), score))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line;

    fn currency(text: &str, style: Option<Style>) -> Option<(String, Score)> {
        let texts: Vec<&str> = text.lines().collect();
        let lines: Vec<Line> = texts.iter().map(|t| Line::new(t, &line::scan(t), style)).collect();
        read(&lines, style)
    }

    #[test]
    fn symbols_and_codes_name_the_currency() {
        assert_eq!(currency("TOTAL 12,50 €", None), Some(("EUR".into(), Score(95))));
        assert_eq!(currency("TOTAL EUR 12,50", None), Some(("EUR".into(), Score(95))));
        assert_eq!(currency("Total $12.50", None), Some(("USD".into(), Score(95))));
        assert_eq!(currency("Total USD 12.50", None), Some(("USD".into(), Score(95))));
        assert_eq!(currency("Total £7.40", None), Some(("GBP".into(), Score(95))));
        assert_eq!(currency("Total GBP 7.40", None), Some(("GBP".into(), Score(95))));
        assert_eq!(currency("Precios en euros\nTOTAL 12,50", None), Some(("EUR".into(), Score(85))));
        assert_eq!(currency("Total CA$ 12.50", None), Some(("CAD".into(), Score(95))));
    }

    #[test]
    fn a_spanish_receipt_without_symbols_is_probably_in_euros() {
        assert_eq!(currency("IVA 21% 2,10\nTOTAL 12,10", Some(Style::Comma)), Some(("EUR".into(), Score(50))));
        assert_eq!(currency("TOTAL 12,10", Some(Style::Comma)), None);
        assert_eq!(currency("IVA 2.10\nTOTAL 12.10", Some(Style::Dot)), None);
    }

    #[test]
    fn conflicting_currencies_lower_the_confidence() {
        assert_eq!(currency("Total 12.50 €\nAlso accepted: USD", None), Some(("EUR".into(), Score(80))));
        assert_eq!(currency("Total 12.50 €\nUSD 13.60", None), Some(("EUR".into(), Score(50))));
    }

    #[test]
    fn no_currency_is_none() {
        assert_eq!(currency("TOTAL 12.10", Some(Style::Dot)), None);
    }
}
