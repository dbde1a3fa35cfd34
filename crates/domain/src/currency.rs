//! ISO 4217 currency codes: the active list, not a pattern.

use crate::error::ValidationError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An active ISO 4217 alphabetic code, e.g. `EUR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

/// ISO 4217 list one, active codes (funds and precious metals excluded), sorted.
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF", "BMD",
    "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP",
    "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP",
    "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD",
    "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN",
    "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB",
    "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL",
    "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS", "VES", "VND",
    "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

impl Currency {
    /// Parses a request field. Lower case is accepted and normalised (`eur` → `EUR`).
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        let code = raw.trim().to_ascii_uppercase();
        if ISO_4217.binary_search(&code.as_str()).is_err() {
            return Err(ValidationError::new(field, "must be an ISO 4217 currency code, e.g. \"EUR\""));
        }
        let bytes = code.as_bytes();
        Ok(Self([bytes[0], bytes[1], bytes[2]]))
    }

    /// Decimal places of the currency's minor unit (ISO 4217): 2 for most, 0 for JPY, 3 for KWD.
    pub fn minor_units(&self) -> u32 {
        const NONE: &[&str] = &[
            "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF",
            "XPF",
        ];
        const THREE: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
        if NONE.contains(&self.code()) {
            0
        } else if THREE.contains(&self.code()) {
            3
        } else {
            2
        }
    }

    /// Refuses `value` as an amount of this currency when it is finer than the minor unit
    /// (0.5 JPY, 0.001 EUR); trailing zeros do not count (`1200.00` JPY is fine).
    pub fn check_minor_units(&self, field: &'static str, value: Decimal) -> Result<(), ValidationError> {
        let places = self.minor_units();
        if value.normalize().scale() <= places {
            return Ok(());
        }
        let message = match places {
            0 => format!("must be a whole number of {self}: it has no minor unit"),
            1 => format!("at most 1 decimal place for {self}"),
            _ => format!("at most {places} decimal places for {self}"),
        };
        Err(ValidationError::new(field, message))
    }

    pub fn code(&self) -> &str {
        // Built only from the ASCII list above.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl TryFrom<String> for Currency {
    type Error = ValidationError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse("currency", &value)
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> Self {
        currency.code().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_so_lookup_is_correct() {
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn real_codes_parse_and_normalise() {
        assert_eq!(Currency::parse("currency", "eur").unwrap().code(), "EUR");
        assert_eq!(Currency::parse("currency", "JPY").unwrap().code(), "JPY");
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        assert_eq!(Currency::parse("currency", "EUR").unwrap().minor_units(), 2);
        assert_eq!(Currency::parse("currency", "JPY").unwrap().minor_units(), 0);
        assert_eq!(Currency::parse("currency", "KWD").unwrap().minor_units(), 3);
    }

    #[test]
    fn an_amount_is_checked_against_the_minor_unit_ignoring_trailing_zeros() {
        let jpy = Currency::parse("currency", "JPY").unwrap();
        assert!(jpy.check_minor_units("amount", Decimal::new(120_000, 2)).is_ok());
        assert_eq!(jpy.check_minor_units("amount", Decimal::new(5, 1)).unwrap_err().field, "amount");
        let eur = Currency::parse("currency", "EUR").unwrap();
        assert!(eur.check_minor_units("total", Decimal::new(-1_250, 3)).is_ok());
        assert_eq!(eur.check_minor_units("total", Decimal::new(1, 3)).unwrap_err().field, "total");
    }

    #[test]
    fn three_letters_that_are_no_currency_are_refused() {
        for raw in ["ABC", "EU", "EURO", "", "€", "XAU"] {
            assert_eq!(Currency::parse("currency", raw).unwrap_err().field, "currency", "{raw}");
        }
    }
}
