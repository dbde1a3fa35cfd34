//! Page tokens: where a keyset page ends (its last row's sort key), as an opaque, URL-safe
//! string (lowercase hex) that a client passes back for the next page.

/// The tokens' layout, so a later one can be told apart.
const FORMAT: u8 = 1;

/// A token holding the key `parts`, one after the other.
pub fn encode(parts: &[&[u8]]) -> String {
    let mut bytes = vec![FORMAT];
    for part in parts {
        bytes.extend_from_slice(part);
    }
    hex::encode(bytes)
}

/// The `N` bytes of key in a token from [`encode`]; `None` for anything else, a key of
/// another length included.
pub fn decode<const N: usize>(token: &str) -> Option<[u8; N]> {
    // Checked before decoding, so a long string costs nothing.
    if token.len() != 2 * (1 + N) {
        return None;
    }
    let bytes = hex::decode(token).ok()?;
    match bytes.split_first()? {
        (&FORMAT, key) => key.try_into().ok(),
        _ => None,
    }
}

/// The last row of a page ordered newest first by `(position, id)`: the keyset cursor of read
/// models listed in store order (reports; the inbox and invoices have their own of this shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionCursor {
    pub position: u64,
    pub id: uuid::Uuid,
}

impl PositionCursor {
    pub fn encode(&self) -> String {
        encode(&[&self.position.to_be_bytes(), self.id.as_bytes()])
    }

    /// `None` for anything [`PositionCursor::encode`] did not write, or a position beyond BIGINT.
    pub fn decode(token: &str) -> Option<Self> {
        let key: [u8; 8 + 16] = decode(token)?;
        let (position, id) = key.split_first_chunk()?;
        let position = u64::from_be_bytes(*position);
        i64::try_from(position).ok()?;
        Some(Self { position, id: uuid::Uuid::from_slice(id).ok()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_cursor_round_trips_and_anything_else_is_refused() {
        let cursor = PositionCursor { position: 42, id: uuid::Uuid::now_v7() };
        assert_eq!(PositionCursor::decode(&cursor.encode()), Some(cursor));
        let too_far = PositionCursor { position: u64::MAX, id: uuid::Uuid::nil() }.encode();
        for bad in ["", "zz", &cursor.encode()[..10], &too_far] {
            assert_eq!(PositionCursor::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_key_round_trips_through_its_token() {
        let token = encode(&[&7i32.to_be_bytes(), &[0xab; 3]]);
        assert_eq!(token, "0100000007ababab");
        assert_eq!(decode::<7>(&token), Some([0, 0, 0, 7, 0xab, 0xab, 0xab]));
    }

    #[test]
    fn anything_but_a_token_of_that_length_is_refused() {
        let token = encode(&[&[1, 2]]);
        for bad in ["", "zz", "0101", "01010203", "020102", "01zz02"] {
            assert_eq!(decode::<2>(bad), None, "{bad}");
        }
        assert_eq!(decode::<2>(&token), Some([1, 2]));
        assert_eq!(decode::<3>(&token), None);
    }
}
