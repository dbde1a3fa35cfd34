//! Amount parsing never panics, and whatever it accepts is a decimal of at most 4 places that
//! reads back as itself.
#![no_main]

use cashflow_domain::{Amount, SignedAmount};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(amount) = Amount::parse("amount", text) {
        let value = amount.value();
        assert!(value > rust_decimal::Decimal::ZERO, "{text:?} parsed to {value}");
        assert!(value.scale() <= 4, "{text:?} parsed to {value}");
        let again = Amount::parse("amount", &value.to_string()).expect("an accepted amount re-parses");
        assert_eq!(again.value(), value);
    }
    if let Ok(signed) = SignedAmount::parse("opening_balance", text) {
        let value = signed.value();
        assert!(value.scale() <= 4, "{text:?} parsed to {value}");
        let again = SignedAmount::parse("opening_balance", &value.to_string()).expect("re-parses");
        assert_eq!(again.value(), value);
    }
});
