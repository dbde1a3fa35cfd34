//! Identifiers: UUIDs (v7 for new ones, so they sort by creation time).

use crate::error::ValidationError;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $stream:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// The stream category of this id's aggregate, as in `<category>-<uuid>`.
            pub const STREAM_CATEGORY: &'static str = $stream;

            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// Parses a request field; `field` names it in the error.
            pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
                Uuid::parse_str(raw.trim())
                    .map(Self)
                    .map_err(|_| ValidationError::new(field, "must be a UUID"))
            }

            /// The id of this aggregate's event stream.
            pub fn stream_id(&self) -> String {
                format!("{}-{}", $stream, self.0)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A person using Cashflow: the JWT's `sub`, the owner of everything they create.
    UserId, "user"
);
id_type!(AccountId, "account");
id_type!(MovementId, "movement");
id_type!(CategoryId, "category");
id_type!(
    /// A categorisation rule (issue: invoices and rules).
    RuleId, "rule"
);
id_type!(
    /// A photographed receipt or a PDF invoice a person uploaded.
    InvoiceId, "invoice"
);
id_type!(
    /// The client-chosen id of a command: the idempotency key.
    CommandId, "command"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_id_is_the_category_and_the_uuid() {
        let id = MovementId::from_uuid(Uuid::nil());
        assert_eq!(id.stream_id(), "movement-00000000-0000-0000-0000-000000000000");
    }

    #[test]
    fn a_malformed_id_names_its_field() {
        let err = AccountId::parse("account_id", "not-a-uuid").unwrap_err();
        assert_eq!(err.field, "account_id");
    }
}
