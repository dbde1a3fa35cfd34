//! How domain values are stored in the ledger's columns.

use cashflow_domain::movement::Direction;
use chrono::{Datelike, NaiveDate};
use uuid::Uuid;

/// The `category_key` of uncategorised movements' totals: a primary key cannot hold NULL, and
/// no real category has the nil UUID (ids are UUIDv7).
pub(crate) const UNCATEGORISED: Uuid = Uuid::nil();

/// A direction as the read models store it: `income` or `expense`.
pub fn direction_text(direction: Direction) -> &'static str {
    match direction {
        Direction::Income => "income",
        Direction::Expense => "expense",
    }
}

pub(crate) fn parse_direction(text: &str) -> Option<Direction> {
    match text {
        "income" => Some(Direction::Income),
        "expense" => Some(Direction::Expense),
        _ => None,
    }
}

pub(crate) fn first_of_month(date: NaiveDate) -> NaiveDate {
    // Day 1 exists in every month, so the fallback is never taken.
    date.with_day(1).unwrap_or(date)
}

pub(crate) fn category_from_key(key: Uuid) -> Option<Uuid> {
    (key != UNCATEGORISED).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_round_trip_through_their_text() {
        for direction in [Direction::Income, Direction::Expense] {
            assert_eq!(parse_direction(direction_text(direction)), Some(direction));
        }
        assert_eq!(parse_direction("INCOME"), None);
    }

    #[test]
    fn a_month_is_keyed_by_its_first_day() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(first_of_month(day(2024, 2, 29)), day(2024, 2, 1));
        assert_eq!(first_of_month(day(2026, 12, 1)), day(2026, 12, 1));
    }

    #[test]
    fn the_nil_key_is_uncategorised() {
        let id = Uuid::now_v7();
        assert_eq!(category_from_key(id), Some(id));
        assert_eq!(category_from_key(UNCATEGORISED), None);
    }
}
