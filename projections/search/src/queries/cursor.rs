//! [`SearchCursor`]: where the next page of hits starts, as an opaque page token.

use cashflow_projection::page_token;
use chrono::{Datelike, NaiveDate};
use uuid::Uuid;

/// The last hit of a page, in `(score DESC, occurred_on DESC, id DESC)` order: the next page
/// holds the hits strictly after it. A hit's score depends only on its document and the query,
/// so the same query pages with no hit twice and none left out while the documents stay as
/// they are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchCursor {
    pub score: f32,
    pub occurred_on: NaiveDate,
    pub movement_id: Uuid,
}

impl SearchCursor {
    /// An opaque, URL-safe token (lowercase hex) that [`SearchCursor::decode`] reads back.
    pub fn encode(&self) -> String {
        page_token::encode(&[
            &self.score.to_bits().to_be_bytes(),
            &self.occurred_on.num_days_from_ce().to_be_bytes(),
            self.movement_id.as_bytes(),
        ])
    }

    /// The cursor in a token from [`SearchCursor::encode`]; `None` for anything else (a
    /// ListMovements token included), which the API answers as an invalid `page_token`.
    pub fn decode(token: &str) -> Option<Self> {
        let key: [u8; 4 + 4 + 16] = page_token::decode(token)?;
        let (score, rest) = key.split_first_chunk::<4>()?;
        let (days, id) = rest.split_first_chunk::<4>()?;
        let score = f32::from_bits(u32::from_be_bytes(*score));
        if !score.is_finite() {
            return None;
        }
        let occurred_on = NaiveDate::from_num_days_from_ce_opt(i32::from_be_bytes(*days))?;
        Some(Self { score, occurred_on, movement_id: Uuid::from_slice(id).ok()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_through_its_token() {
        for score in [0.0, 0.060_792_71, 3.5] {
            let cursor = SearchCursor {
                score,
                occurred_on: NaiveDate::from_ymd_opt(2026, 12, 3).unwrap(),
                movement_id: Uuid::now_v7(),
            };
            let token = cursor.encode();
            assert!(token.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{token}");
            assert_eq!(SearchCursor::decode(&token), Some(cursor));
        }
    }

    #[test]
    fn anything_but_a_search_token_is_refused() {
        let token = SearchCursor { score: 1.0, occurred_on: NaiveDate::MIN, movement_id: Uuid::nil() }.encode();
        let not_a_number = format!("01{}{}", hex::encode(f32::NAN.to_bits().to_be_bytes()), &token[10..]);
        let list_token = page_token::encode(&[&[0; 4], &[0; 16]]);
        for bad in ["", "zz", &token[..token.len() - 2], &format!("{token}00"), &not_a_number, &list_token] {
            assert_eq!(SearchCursor::decode(bad), None, "{bad}");
        }
    }
}
