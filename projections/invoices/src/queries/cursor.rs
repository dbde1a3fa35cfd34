//! [`InvoiceCursor`]: where the next page of invoices starts, as an opaque page token.

use cashflow_projection::page_token;
use chrono::{DateTime, Utc};
use thiserror::Error;
use uuid::Uuid;

/// The last invoice of a page, in `(uploaded_at DESC, id DESC)` order: the next page holds
/// the invoices strictly after it. A position, not a snapshot: invoices uploaded meanwhile
/// sort before it (they are newer), so none is listed twice and none is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InvoiceCursor {
    pub uploaded_at: DateTime<Utc>,
    pub invoice_id: Uuid,
}

/// A `page_token` that is not one [`InvoiceCursor::encode`] wrote: answer `INVALID_ARGUMENT`
/// on the field `page_token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("page_token is not a token this service issued")]
pub struct InvalidPageToken;

impl InvalidPageToken {
    /// The request field the error is about.
    pub const FIELD: &'static str = "page_token";
}

impl InvoiceCursor {
    /// An opaque, URL-safe token (lowercase hex) that [`InvoiceCursor::decode`] reads back.
    /// Timestamps are kept to the microsecond, as PostgreSQL stores them.
    pub fn encode(&self) -> String {
        page_token::encode(&[&self.uploaded_at.timestamp_micros().to_be_bytes(), self.invoice_id.as_bytes()])
    }

    /// The cursor in a token from [`InvoiceCursor::encode`].
    pub fn decode(token: &str) -> Result<Self, InvalidPageToken> {
        let key: [u8; 8 + 16] = page_token::decode(token).ok_or(InvalidPageToken)?;
        let (micros, id) = key.split_first_chunk().ok_or(InvalidPageToken)?;
        let uploaded_at = DateTime::from_timestamp_micros(i64::from_be_bytes(*micros)).ok_or(InvalidPageToken)?;
        Ok(Self { uploaded_at, invoice_id: Uuid::from_slice(id).map_err(|_| InvalidPageToken)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_through_its_token() {
        let moments = [
            DateTime::from_timestamp_micros(0).unwrap(),
            DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap(),
            DateTime::from_timestamp_micros(-62_135_596_800_000_000).unwrap(),
        ];
        for uploaded_at in moments {
            let cursor = InvoiceCursor { uploaded_at, invoice_id: Uuid::now_v7() };
            let token = cursor.encode();
            assert!(token.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{token}");
            assert_eq!(InvoiceCursor::decode(&token), Ok(cursor));
        }
    }

    #[test]
    fn anything_but_a_token_is_refused() {
        let token = InvoiceCursor { uploaded_at: DateTime::UNIX_EPOCH, invoice_id: Uuid::nil() }.encode();
        let other_format = format!("02{}", &token[2..]);
        let impossible_moment = format!("01{}{}", hex::encode(i64::MAX.to_be_bytes()), &token[18..]);
        // A ledger movements token: another layout, refused by its length.
        let ledger = format!("01{}{}", hex::encode(739_000i32.to_be_bytes()), &token[18..]);
        for bad in
            ["", "zz", &token[..token.len() - 2], &format!("{token}00"), &other_format, &impossible_moment, &ledger]
        {
            assert_eq!(InvoiceCursor::decode(bad), Err(InvalidPageToken), "{bad}");
        }
    }
}
