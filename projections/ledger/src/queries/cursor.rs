//! [`PageCursor`]: where the next page of movements starts, as an opaque page token.

use cashflow_projection::page_token;
use chrono::{Datelike, NaiveDate};
use uuid::Uuid;

/// The last movement of a page, in `(occurred_on DESC, id DESC)` order: the next page holds
/// the movements strictly after it. A position, not a snapshot: movements recorded meanwhile
/// appear if they sort after it, and none is listed twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageCursor {
    pub occurred_on: NaiveDate,
    pub movement_id: Uuid,
}

impl PageCursor {
    /// An opaque, URL-safe token (lowercase hex) that [`PageCursor::decode`] reads back.
    pub fn encode(&self) -> String {
        page_token::encode(&[&self.occurred_on.num_days_from_ce().to_be_bytes(), self.movement_id.as_bytes()])
    }

    /// The cursor in a token from [`PageCursor::encode`]; `None` for anything else, which the
    /// API answers as an invalid `page_token`.
    pub fn decode(token: &str) -> Option<Self> {
        let key: [u8; 4 + 16] = page_token::decode(token)?;
        let (days, id) = key.split_first_chunk()?;
        let occurred_on = NaiveDate::from_num_days_from_ce_opt(i32::from_be_bytes(*days))?;
        Some(Self { occurred_on, movement_id: Uuid::from_slice(id).ok()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_through_its_token() {
        for date in [NaiveDate::MIN, NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), NaiveDate::MAX] {
            let cursor = PageCursor { occurred_on: date, movement_id: Uuid::now_v7() };
            let token = cursor.encode();
            assert!(token.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{token}");
            assert_eq!(PageCursor::decode(&token), Some(cursor));
        }
    }

    #[test]
    fn anything_but_a_token_is_refused() {
        let token = PageCursor { occurred_on: NaiveDate::MIN, movement_id: Uuid::nil() }.encode();
        let other_format = format!("02{}", &token[2..]);
        let impossible_day = format!("01{}{}", hex::encode(i32::MAX.to_be_bytes()), &token[10..]);
        for bad in ["", "zz", &token[..token.len() - 2], &format!("{token}00"), &other_format, &impossible_day] {
            assert_eq!(PageCursor::decode(bad), None, "{bad}");
        }
    }
}
