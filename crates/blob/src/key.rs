//! [`BlobKey`]: the validated relative key a blob is stored under.

use crate::BlobError;
use std::fmt;
use std::str::FromStr;

/// A relative key such as `invoices/<uuid>/<sha256 hex>`.
///
/// Valid keys are at most [`BlobKey::MAX_LEN`] bytes of `/`-separated segments, each made of
/// `[A-Za-z0-9._-]` and neither `.` nor `..`; no leading, trailing or doubled `/`. So a key is also a
/// safe relative file path and a valid S3 key on every adapter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey(String);

impl BlobKey {
    pub const MAX_LEN: usize = 512;

    pub fn parse(key: &str) -> Result<Self, BlobError> {
        if key.is_empty() {
            return Err(BlobError::InvalidKey("the key is empty".into()));
        }
        if key.len() > Self::MAX_LEN {
            return Err(BlobError::InvalidKey(format!("the key is {} bytes, over {}", key.len(), Self::MAX_LEN)));
        }
        key.split('/').try_for_each(|segment| check_segment(key, segment))?;
        Ok(Self(key.to_owned()))
    }

    /// Joins `segments` with `/`, each validated as [`BlobKey::parse`] does.
    pub fn from_segments<I, S>(segments: I) -> Result<Self, BlobError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut key = String::new();
        for segment in segments {
            if !key.is_empty() {
                key.push('/');
            }
            let segment = segment.as_ref();
            // A `/` inside a segment would pass as two segments once joined.
            if segment.contains('/') {
                return Err(BlobError::InvalidKey(format!("segment {segment:?} contains '/'")));
            }
            key.push_str(segment);
        }
        Self::parse(&key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_segment(key: &str, segment: &str) -> Result<(), BlobError> {
    let invalid = |why: &str| Err(BlobError::InvalidKey(format!("{key:?}: {why}")));
    match segment {
        "" => invalid("empty segment (leading, trailing or doubled '/')"),
        "." | ".." => invalid("'.' and '..' segments are not allowed"),
        _ => match segment.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
            Some(c) => invalid(&format!("character {c:?} is not allowed (only A-Z a-z 0-9 . _ -)")),
            None => Ok(()),
        },
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for BlobKey {
    type Err = BlobError;

    fn from_str(key: &str) -> Result<Self, Self::Err> {
        Self::parse(key)
    }
}

impl AsRef<str> for BlobKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(key: &str) -> bool {
        matches!(BlobKey::parse(key), Err(BlobError::InvalidKey(_)))
    }

    #[test]
    fn an_invoice_key_parses_and_displays_as_given() {
        let text = "invoices/0190c1de-7b8a-7d41-9a51-0c2a3b4c5d6e/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let key = BlobKey::parse(text).unwrap();
        assert_eq!(key.as_str(), text);
        assert_eq!(key.to_string(), text);
        assert_eq!(text.parse::<BlobKey>().unwrap(), key);
    }

    #[test]
    fn dots_inside_a_segment_are_allowed() {
        for key in ["report.pdf", "a/.hidden", "a/...", "A-z_0.9"] {
            assert!(BlobKey::parse(key).is_ok(), "{key}");
        }
    }

    #[test]
    fn malformed_keys_are_refused() {
        for key in [
            "", "/a", "a/", "a//b", ".", "..", "a/./b", "a/../b", "../a", "a b", "a\\b", "a#1", "ä", "a\0b", "a?b",
            "a%2F",
        ] {
            assert!(refused(key), "{key:?} should be refused");
        }
    }

    #[test]
    fn the_length_limit_is_512_bytes() {
        assert!(BlobKey::parse(&"a".repeat(512)).is_ok());
        assert!(refused(&"a".repeat(513)));
    }

    #[test]
    fn segments_join_with_a_slash_and_may_not_contain_one() {
        assert_eq!(BlobKey::from_segments(["invoices", "u", "h"]).unwrap().as_str(), "invoices/u/h");
        assert!(matches!(BlobKey::from_segments(["invoices", "u/h"]), Err(BlobError::InvalidKey(_))));
        assert!(matches!(BlobKey::from_segments(["invoices", ""]), Err(BlobError::InvalidKey(_))));
        assert!(matches!(BlobKey::from_segments(Vec::<String>::new()), Err(BlobError::InvalidKey(_))));
    }
}
