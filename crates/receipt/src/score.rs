//! Confidence as whole hundredths while rules add and subtract, a `Decimal` in 0..=1 at the end.

use std::ops::{Add, Sub};

use rust_decimal::Decimal;

/// A confidence in hundredths; rules may push it out of range, [`Score::to_decimal`] clamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Score(pub i64);

/// Nothing read from OCR text is ever certain.
const CEILING: i64 = 99;

impl Score {
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0.clamp(0, CEILING), 2)
    }
}

impl Add<i64> for Score {
    type Output = Score;
    fn add(self, rhs: i64) -> Score {
        Score(self.0.saturating_add(rhs))
    }
}

impl Sub<i64> for Score {
    type Output = Score;
    fn sub(self, rhs: i64) -> Score {
        Score(self.0.saturating_sub(rhs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_score_becomes_a_decimal_between_zero_and_one() {
        assert_eq!(Score(85).to_decimal(), Decimal::new(85, 2));
        assert_eq!((Score(95) + 20).to_decimal(), Decimal::new(99, 2));
        assert_eq!((Score(10) - 20).to_decimal(), Decimal::ZERO);
    }
}
