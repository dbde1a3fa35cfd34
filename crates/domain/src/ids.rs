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
                StreamId::new($stream, self.0).to_string()
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
    /// A spending limit of one category, for one month or every month from one on.
    BudgetId, "budget"
);
id_type!(
    /// A place a person's notifications are delivered to (an email address, a webhook, …).
    ChannelId, "channel"
);
id_type!(
    /// One thing a person is told; derived from its cause, so it is raised once.
    NotificationId, "notification"
);
id_type!(
    /// A report a person asked for: the ledger of a period as it stood at one store position.
    ReportId, "report"
);
id_type!(
    /// The client-chosen id of a command: the idempotency key.
    CommandId, "command"
);

/// A stream's id, `<category>-<uuid>`: parsed here and nowhere else, printed one way.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamId {
    category: String,
    id: Uuid,
}

impl StreamId {
    /// Categories are short lowercase words (`movement`, `invoice`).
    pub const MAX_CATEGORY_LEN: usize = 32;

    pub fn new(category: &str, id: Uuid) -> Self {
        Self { category: category.to_owned(), id }
    }

    /// Parses a stream id given by a caller (`stream_id` names it in the error) or read from
    /// the store. Only the hyphenated UUID form, so one stream has one spelling.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let invalid = || ValidationError::new("stream_id", "must be \"<category>-<uuid>\", e.g. \"movement-<uuid>\"");
        let (category, id) = raw.split_once('-').ok_or_else(invalid)?;
        let category_ok = !category.is_empty()
            && category.len() <= Self::MAX_CATEGORY_LEN
            && category.bytes().all(|b| b.is_ascii_lowercase());
        let id = match Uuid::try_parse(id) {
            Ok(uuid) if id.len() == 36 => uuid,
            _ => return Err(invalid()),
        };
        if category_ok { Ok(Self::new(category, id)) } else { Err(invalid()) }
    }

    /// The `<category>`, e.g. `movement`.
    pub fn category(&self) -> &str {
        &self.category
    }

    /// The aggregate's id, the `<uuid>`.
    pub fn id(&self) -> Uuid {
        self.id
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.category, self.id)
    }
}

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

    #[test]
    fn stream_ids_must_be_category_dash_uuid() {
        let id = "0190f5c2-7a1b-7c3d-8e4f-123456789abc";
        assert!(StreamId::parse(&format!("movement-{id}")).is_ok());
        assert!(StreamId::parse(&format!("account-{id}")).is_ok());
        let parsed = StreamId::parse(&format!("invoice-{id}")).unwrap();
        assert_eq!((parsed.category(), parsed.id().to_string().as_str()), ("invoice", id));
        assert_eq!(parsed.to_string(), format!("invoice-{id}"));
        for bad in [
            String::new(),
            "movement".into(),
            format!("-{id}"),
            format!("Movement-{id}"),
            format!("movement-{}", id.replace('-', "")),
            "movement-123".into(),
            format!("move ment-{id}"),
            format!("movement-{id}-x"),
        ] {
            assert_eq!(StreamId::parse(&bad).unwrap_err().field, "stream_id", "{bad:?}");
        }
    }
}
