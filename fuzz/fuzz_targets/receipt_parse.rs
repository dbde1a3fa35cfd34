//! Receipt parsing never panics on any text, and what it reads keeps its promises: every
//! confidence in 0..=1, a total above zero with at most 4 places, a tax below the total.
#![no_main]

use cashflow_receipt::{Field, parse, parse_amount, parse_date};
use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;

fn confidence_in_range<T>(name: &str, field: &Option<Field<T>>) {
    if let Some(field) = field {
        let c = field.confidence;
        assert!(c >= Decimal::ZERO && c <= Decimal::ONE, "{name} confidence {c}");
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let receipt = parse(&text);
    confidence_in_range("merchant", &receipt.merchant);
    confidence_in_range("issued_on", &receipt.issued_on);
    confidence_in_range("total", &receipt.total);
    confidence_in_range("tax", &receipt.tax);
    confidence_in_range("currency", &receipt.currency);
    if let Some(total) = &receipt.total {
        assert!(total.value > Decimal::ZERO, "{text:?} total {}", total.value);
        assert!(total.value.scale() <= 4, "{text:?} total {}", total.value);
        if let Some(tax) = &receipt.tax {
            assert!(tax.value < total.value, "{text:?} tax {} of total {}", tax.value, total.value);
        }
    }
    if let Some(amount) = parse_amount(&text) {
        assert!(amount.scale() <= 4, "{text:?} parsed to {amount}");
    }
    let _ = parse_date(&text);
});
