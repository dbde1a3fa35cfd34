//! Amounts of money as exact decimals, parsed from the API's decimal strings.
//!
//! The accepted form is `-?DIGITS(.DIGITS)?`: at most [`MAX_SCALE`] decimal places and
//! [`MAX_INTEGER_DIGITS`] integer digits, no exponent, no sign on a positive amount, no
//! thousands separator. The integer limit keeps every sum of a person's movements far
//! inside `Decimal`'s range, so totals never overflow.

use crate::error::ValidationError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Decimal places an amount may have.
pub const MAX_SCALE: u32 = 4;
/// Digits before the decimal point: up to 999 999 999 999 999.9999.
pub const MAX_INTEGER_DIGITS: usize = 15;

/// A strictly positive amount: the size of a movement. Its direction says the sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct Amount(Decimal);

/// An amount of any sign, such as an opening balance (an account may start overdrawn).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct SignedAmount(Decimal);

impl Amount {
    /// Parses a request field holding a positive decimal string.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        let value = parse_decimal(field, raw)?;
        Self::try_from(value).map_err(|e| e.for_field(field))
    }

    pub fn value(&self) -> Decimal {
        self.0
    }
}

impl SignedAmount {
    pub const ZERO: Self = Self(Decimal::ZERO);

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        parse_decimal(field, raw).map(Self)
    }

    pub fn value(&self) -> Decimal {
        self.0
    }
}

impl TryFrom<Decimal> for Amount {
    type Error = ValidationError;

    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        check_bounds("amount", value)?;
        if value <= Decimal::ZERO {
            return Err(ValidationError::new("amount", "must be greater than zero"));
        }
        Ok(Self(value.normalize()))
    }
}

impl TryFrom<Decimal> for SignedAmount {
    type Error = ValidationError;

    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        check_bounds("amount", value)?;
        Ok(Self(value.normalize()))
    }
}

impl From<Amount> for Decimal {
    fn from(amount: Amount) -> Self {
        amount.0
    }
}

impl From<SignedAmount> for Decimal {
    fn from(amount: SignedAmount) -> Self {
        amount.0
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for SignedAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

fn check_bounds(field: &'static str, value: Decimal) -> Result<(), ValidationError> {
    if value.normalize().scale() > MAX_SCALE {
        return Err(ValidationError::new(field, format!("at most {MAX_SCALE} decimal places")));
    }
    let limit = Decimal::from(10_i64.pow(MAX_INTEGER_DIGITS as u32));
    if value.abs() >= limit {
        return Err(ValidationError::new(
            field,
            format!("at most {MAX_INTEGER_DIGITS} digits before the decimal point"),
        ));
    }
    Ok(())
}

/// Parses the strict decimal-string form described in the module docs.
fn parse_decimal(field: &'static str, raw: &str) -> Result<Decimal, ValidationError> {
    let invalid = |why: &str| ValidationError::new(field, format!("{why}; expected a decimal like \"1234.56\""));
    let unsigned = raw.strip_prefix('-').unwrap_or(raw);
    let (integer, fraction) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    if integer.is_empty() || !integer.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("not a decimal number"));
    }
    if let Some(fraction) = fraction {
        if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("not a decimal number"));
        }
        if fraction.len() > MAX_SCALE as usize {
            return Err(ValidationError::new(field, format!("at most {MAX_SCALE} decimal places")));
        }
    }
    if integer.trim_start_matches('0').len() > MAX_INTEGER_DIGITS {
        return Err(ValidationError::new(
            field,
            format!("at most {MAX_INTEGER_DIGITS} digits before the decimal point"),
        ));
    }
    // The checks above keep the text within Decimal's 28 digits, so this cannot overflow.
    raw.parse::<Decimal>().map_err(|_| invalid("not a decimal number"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_plain_decimal_parses_exactly() {
        let amount = Amount::parse("amount", "1234.56").unwrap();
        assert_eq!(amount.value(), Decimal::new(123_456, 2));
    }

    #[test]
    fn zero_and_negative_amounts_are_refused() {
        assert!(Amount::parse("amount", "0").is_err());
        assert!(Amount::parse("amount", "0.0000").is_err());
        assert!(Amount::parse("amount", "-1").is_err());
    }

    #[test]
    fn malformed_amounts_name_the_field() {
        for raw in ["", "1e3", "1,000.00", "+5", "1.", ".5", "1.23456", "abc", " 1", "1 ", "--1", "NaN"] {
            let err = Amount::parse("amount", raw).unwrap_err();
            assert_eq!(err.field, "amount", "{raw:?} should be refused");
        }
    }

    #[test]
    fn forty_digits_are_refused_not_overflowed() {
        let raw = "1".repeat(40);
        assert!(Amount::parse("amount", &raw).is_err());
        assert!(Amount::parse("amount", &format!("0.{raw}")).is_err());
    }

    #[test]
    fn an_opening_balance_may_be_negative() {
        let balance = SignedAmount::parse("opening_balance", "-20.5").unwrap();
        assert_eq!(balance.value(), Decimal::new(-205, 1));
    }

    #[test]
    fn trailing_zeros_do_not_change_the_value() {
        assert_eq!(Amount::parse("a", "10.5000").unwrap(), Amount::parse("a", "10.5").unwrap());
    }

    proptest! {
        #[test]
        fn any_valid_amount_round_trips_through_its_string(
            integer in 0i64..1_000_000_000_000_000,
            fraction in 0i64..10_000,
        ) {
            prop_assume!(integer > 0 || fraction > 0);
            let value = Decimal::from_i128_with_scale(i128::from(integer) * 10_000 + i128::from(fraction), 4);
            let parsed = Amount::parse("amount", &value.to_string()).unwrap();
            prop_assert_eq!(parsed.value(), value);
            prop_assert_eq!(Amount::parse("amount", &parsed.to_string()).unwrap(), parsed);
        }

        #[test]
        fn more_than_four_decimals_are_always_refused(units in 1i64..1_000_000_000, scale in 5u32..=10) {
            let value = Decimal::new(units, scale);
            prop_assume!(value.normalize().scale() > 4);
            prop_assert!(Amount::parse("amount", &value.to_string()).is_err());
        }

        #[test]
        fn parsing_never_panics(raw in ".{0,64}") {
            let _ = Amount::parse("amount", &raw);
            let _ = SignedAmount::parse("amount", &raw);
        }

        #[test]
        fn serde_round_trip_is_exact(units in 1i64..1_000_000_000_000, scale in 0u32..=4) {
            let amount = Amount::try_from(Decimal::new(units, scale)).unwrap();
            let json = serde_json::to_string(&amount).unwrap();
            prop_assert_eq!(serde_json::from_str::<Amount>(&json).unwrap(), amount);
        }
    }
}
