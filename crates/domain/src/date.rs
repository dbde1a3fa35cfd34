//! Calendar dates and months, as the API writes them (`YYYY-MM-DD`, `YYYY-MM`).

use crate::error::ValidationError;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The day a movement happened. Whether it is too far in the future is a rule checked by
/// `decide` against the day it is given, since "today" is not the domain's to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OccurredOn(NaiveDate);

impl OccurredOn {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        parse_date(field, raw).map(Self)
    }

    pub const fn from_date(date: NaiveDate) -> Self {
        Self(date)
    }

    pub fn date(&self) -> NaiveDate {
        self.0
    }

    pub fn month(&self) -> Month {
        Month { year: self.0.year(), month: self.0.month() }
    }
}

impl fmt::Display for OccurredOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

/// Parses exactly `YYYY-MM-DD` and refuses dates that do not exist (`2026-02-30`).
pub fn parse_date(field: &'static str, raw: &str) -> Result<NaiveDate, ValidationError> {
    let well_formed = raw.len() == 10
        && raw.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    if !well_formed {
        return Err(ValidationError::new(field, "must be a date \"YYYY-MM-DD\""));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| ValidationError::new(field, "is not a real calendar date"))
}

/// A calendar month, `YYYY-MM` (also in events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Month {
    year: i32,
    month: u32,
}

impl Month {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        parse_date(field, &format!("{raw}-01"))
            .map(|d| Self { year: d.year(), month: d.month() })
            .map_err(|_| ValidationError::new(field, "must be a month \"YYYY-MM\""))
    }

    pub fn first_day(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// The month `date` falls in.
    pub fn of(date: NaiveDate) -> Self {
        Self { year: date.year(), month: date.month() }
    }
}

impl TryFrom<String> for Month {
    type Error = ValidationError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse("month", &raw)
    }
}

impl From<Month> for String {
    fn from(month: Month) -> Self {
        month.to_string()
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_date_parses() {
        assert_eq!(OccurredOn::parse("occurred_on", "2026-11-23").unwrap().to_string(), "2026-11-23");
    }

    #[test]
    fn an_impossible_or_sloppy_date_is_refused() {
        for raw in ["2026-02-30", "2026-13-01", "23/11/2026", "2026-1-1", "", "2026-11-23T00:00"] {
            assert_eq!(OccurredOn::parse("occurred_on", raw).unwrap_err().field, "occurred_on", "{raw}");
        }
    }

    #[test]
    fn a_month_parses_and_prints() {
        let month = Month::parse("from", "2026-02").unwrap();
        assert_eq!(month.to_string(), "2026-02");
        assert_eq!(month.first_day(), NaiveDate::from_ymd_opt(2026, 2, 1).unwrap());
        assert!(Month::parse("from", "2026-2").is_err());
    }
}
