//! Properties: amounts and dates read back in every supported format, and `parse` holds its
//! invariants on any text at all.

use cashflow_receipt::{Field, Receipt, parse, parse_amount, parse_date};
use chrono::{Datelike, NaiveDate};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// `1234567` → `1.234.567` with `separator`.
fn group(integer: i64, separator: char) -> String {
    let digits = integer.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(separator);
        }
        out.push(digit);
    }
    out
}

/// The amount written Spanish style, English style, plain, and with currency markers.
fn formats(amount: Decimal) -> Vec<String> {
    let cents = (amount * Decimal::ONE_HUNDRED).trunc().to_string().parse::<i64>().expect("whole cents");
    let (integer, fraction) = (cents / 100, cents % 100);
    let spanish = format!("{},{fraction:02}", group(integer, '.'));
    let english = format!("{}.{fraction:02}", group(integer, ','));
    let plain = format!("{integer}.{fraction:02}");
    let spaced = format!("{},{fraction:02}", group(integer, ' '));
    vec![
        spanish.clone(),
        english.clone(),
        plain.clone(),
        spaced,
        format!("€{english}"),
        format!("{spanish} €"),
        format!("{spanish}€"),
        format!("EUR {spanish}"),
        format!("{plain} USD"),
        format!("${english}"),
        format!("£{english}"),
        format!("GBP {plain}"),
    ]
}

fn cents() -> impl Strategy<Value = Decimal> {
    (1i64..=99_999_999).prop_map(|cents| Decimal::new(cents, 2))
}

fn any_date() -> impl Strategy<Value = NaiveDate> {
    let first = NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid");
    let last = NaiveDate::from_ymd_opt(2099, 12, 31).expect("valid");
    (0..=(last - first).num_days()).prop_map(move |days| first + chrono::Duration::days(days))
}

const SPANISH_MONTHS: [&str; 12] = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
];
const SPANISH_ABBREVIATIONS: [&str; 12] =
    ["ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"];

/// The date in every format the crate reads unambiguously.
fn date_formats(date: NaiveDate) -> Vec<String> {
    let strftime = [
        "%d/%m/%Y",
        "%d-%m-%Y",
        "%d.%m.%Y",
        "%Y-%m-%d",
        "%Y/%m/%d",
        "%d/%m/%y",
        "%d-%m-%y",
        "%d.%m.%y",
        "%-d/%-m/%Y",
        "%d %b %Y",
        "%d %B %Y",
        "%b %d, %Y",
        "%B %-d, %Y",
        "%B %d %Y",
        "%d-%b-%Y",
        "%-d-%b-%y",
        "%e %b %Y",
    ];
    let mut out: Vec<String> = strftime.iter().map(|f| date.format(f).to_string()).collect();
    out.push(date.format("%d %b %Y").to_string().to_uppercase());
    out.push(date.format("%b %d, %Y").to_string().to_uppercase());
    let month = date.month0() as usize;
    let (day, year) = (date.day(), date.year());
    out.push(format!("{day} {} {year}", SPANISH_ABBREVIATIONS[month]));
    out.push(format!("{day:02} {} {year}", SPANISH_ABBREVIATIONS[month].to_uppercase()));
    out.push(format!("{day} {} {year}", SPANISH_MONTHS[month]));
    out.push(format!("{day} de {} de {year}", SPANISH_MONTHS[month]));
    out.push(format!("{day}-{}-{year}", SPANISH_ABBREVIATIONS[month]));
    out.push(format!("Fecha: {}", date.format("%d/%m/%Y")));
    out.push(format!("Date: {}", date.format("%d %B %Y")));
    if day > 12 {
        out.push(date.format("%m/%d/%Y").to_string());
    }
    out
}

fn within_unit<T>(field: &Option<Field<T>>) -> bool {
    field.as_ref().is_none_or(|f| f.confidence >= Decimal::ZERO && f.confidence <= Decimal::ONE)
}

/// Everything `parse` promises about any receipt it returns.
fn check_invariants(receipt: &Receipt) -> Result<(), TestCaseError> {
    prop_assert!(within_unit(&receipt.merchant));
    prop_assert!(within_unit(&receipt.issued_on));
    prop_assert!(within_unit(&receipt.total));
    prop_assert!(within_unit(&receipt.tax));
    prop_assert!(within_unit(&receipt.currency));
    if let Some(total) = &receipt.total {
        prop_assert!(total.value > Decimal::ZERO, "total {}", total.value);
        prop_assert!(total.value.scale() <= 4, "total {}", total.value);
        if let Some(tax) = &receipt.tax {
            prop_assert!(tax.value < total.value, "tax {} of total {}", tax.value, total.value);
        }
    }
    if let Some(tax) = &receipt.tax {
        prop_assert!(tax.value >= Decimal::ZERO && tax.value.scale() <= 4, "tax {}", tax.value);
    }
    if let Some(currency) = &receipt.currency {
        prop_assert!(currency.value.len() == 3 && currency.value.chars().all(|c| c.is_ascii_uppercase()));
    }
    if let Some(merchant) = &receipt.merchant {
        prop_assert!(!merchant.value.is_empty() && merchant.value.chars().count() <= 200);
    }
    Ok(())
}

/// Lines that look like receipts: keywords, amounts, dates and junk thrown together.
fn receiptish() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("TOTAL".to_owned()),
        Just("TOTAL A PAGAR".to_owned()),
        Just("SUBTOTAL".to_owned()),
        Just("IVA 21%".to_owned()),
        Just("BASE IMPONIBLE".to_owned()),
        Just("CUOTA".to_owned()),
        Just("CAMBIO".to_owned()),
        Just("EFECTIVO".to_owned()),
        Just("VAT 20%".to_owned()),
        Just("IMPORTE".to_owned()),
        Just("Fecha:".to_owned()),
        Just("%".to_owned()),
        Just("€".to_owned()),
        Just("$".to_owned()),
        Just("S.L.".to_owned()),
        Just("-".to_owned()),
        Just("O".to_owned()),
        Just("ARTICULOS".to_owned()),
        Just("DTO".to_owned()),
        "[0-9]{1,4}".prop_map(|s| s),
        "[0-9]{1,3}[.,][0-9]{2,3}".prop_map(|s| s),
        "[0-9]{1,2}[/.-][0-9]{1,2}[/.-][0-9]{2,4}".prop_map(|s| s),
        "[A-Za-zÁÉñ ]{1,12}".prop_map(|s| s),
        "[ .,:;()*~|/-]{1,4}".prop_map(|s| s),
        any::<char>().prop_map(|c| c.to_string()),
    ];
    let line = proptest::collection::vec(fragment, 0..8).prop_map(|parts| parts.join(" "));
    proptest::collection::vec(line, 0..25).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn an_amount_reads_back_in_every_format(amount in cents()) {
        for text in formats(amount) {
            prop_assert_eq!(parse_amount(&text), Some(amount), "{}", text);
        }
    }

    #[test]
    fn a_total_reads_back_from_a_receipt_in_every_style(amount in cents()) {
        let formatted = formats(amount);
        for text in &formatted[..3] {
            let receipt = parse(&format!("CAFE CENTRAL\nTOTAL {text}\nGracias"));
            prop_assert_eq!(receipt.total.map(|t| t.value), Some(amount), "{}", text);
        }
    }

    #[test]
    fn a_date_reads_back_in_every_format(date in any_date()) {
        for text in date_formats(date) {
            prop_assert_eq!(parse_date(&text), Some(date), "{}", text);
        }
    }

    #[test]
    fn an_issue_date_reads_back_from_a_receipt(date in any_date()) {
        let receipt = parse(&format!("CAFE CENTRAL\nFecha: {}\nTOTAL 3,50", date.format("%d/%m/%Y")));
        prop_assert_eq!(receipt.issued_on.map(|d| d.value), Some(date));
    }

    #[test]
    fn parse_holds_its_invariants_on_any_text(text in any::<String>()) {
        check_invariants(&parse(&text))?;
        let _ = parse_amount(&text);
        let _ = parse_date(&text);
    }

    #[test]
    fn parse_holds_its_invariants_on_receipt_like_text(text in receiptish()) {
        check_invariants(&parse(&text))?;
    }

    #[test]
    fn the_amount_and_date_parsers_never_panic_on_short_tokens(token in "[0-9 .,€$£EURO/:-]{0,16}") {
        if let Some(amount) = parse_amount(&token) {
            prop_assert!(amount.scale() <= 4);
        }
        let _ = parse_date(&token);
    }
}

#[test]
fn parse_stays_fast_on_a_huge_adversarial_text() {
    let line = "TOTAL 1.1.1.1,1,1 IVA 21% 12 ,50 23/11/2026 ABC 9999999999999 ~~~ €€€ $ 1 234,56 T0TAL\n";
    let text = line.repeat(1 + cashflow_receipt::MAX_TEXT_BYTES / line.len());
    // One huge line each: work per line must not grow with the square of what is on it.
    let long_lines = [
        "1/1/26 ".repeat(40_000),
        "ITEMS 1 ".repeat(30_000),
        "TOTAL 1,00 TARJETA 1,00 BASE 1,00 ".repeat(8_000),
        "1,1 ".repeat(100_000),
        "%IVA CUOTA ".repeat(20_000),
    ];
    let started = std::time::Instant::now();
    check_invariants(&parse(&text)).expect("invariants hold");
    for line in &long_lines {
        check_invariants(&parse(line)).expect("invariants hold");
    }
    // Generous: an unoptimised build on a busy machine; quadratic work would take minutes.
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "took {:?}", started.elapsed());
}
