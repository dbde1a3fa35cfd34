//! Bounded, printable text: names, descriptions, counterparties, reasons.

use crate::error::ValidationError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Trims, then checks length (in characters) and refuses control characters: a NUL byte
/// cannot be stored by PostgreSQL, and no other control character belongs in these fields.
fn clean(field: &'static str, raw: &str, min: usize, max: usize) -> Result<String, ValidationError> {
    let text = raw.trim();
    let chars = text.chars().count();
    if chars < min {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if chars > max {
        return Err(ValidationError::new(field, format!("at most {max} characters")));
    }
    if text.chars().any(char::is_control) {
        return Err(ValidationError::new(field, "must not contain control characters"));
    }
    Ok(text.to_owned())
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, min = $min:expr, max = $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;

            pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
                clean(field, raw, $min, $max).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type!(
    /// The name of an account or a category: 1 to 100 characters.
    Name, min = 1, max = 100
);
text_type!(
    /// What a movement was: up to 500 characters, may be empty.
    Description, min = 0, max = 500
);
text_type!(
    /// Who was paid or who paid: 1 to 200 characters.
    Counterparty, min = 1, max = 200
);
text_type!(
    /// Why a movement was voided: 1 to 500 characters.
    Reason, min = 1, max = 500
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_of_500_characters_is_accepted_and_501_refused() {
        assert!(Description::parse("description", &"ñ".repeat(500)).is_ok());
        let err = Description::parse("description", &"ñ".repeat(501)).unwrap_err();
        assert_eq!(err.field, "description");
    }

    #[test]
    fn a_nul_byte_is_refused() {
        assert!(Description::parse("description", "coffee\0").is_err());
    }

    #[test]
    fn names_are_trimmed_and_must_not_be_blank() {
        assert_eq!(Name::parse("name", "  Groceries ").unwrap().as_str(), "Groceries");
        assert!(Name::parse("name", "   ").is_err());
    }

    #[test]
    fn sql_looking_text_is_just_text() {
        let text = "'; DROP TABLE events; --";
        assert_eq!(Description::parse("description", text).unwrap().as_str(), text);
    }
}
