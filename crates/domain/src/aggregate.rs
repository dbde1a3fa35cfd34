//! What every aggregate and its events have in common.

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use thiserror::Error;

/// An aggregate's state, folded from its events. `apply` never fails and holds no rule:
/// rules live in each aggregate's `decide`, which only ever emits valid events.
pub trait Aggregate: Default {
    type Event: DomainEvent;

    /// The `<category>` of the aggregate's `<category>-<uuid>` streams.
    const STREAM_CATEGORY: &'static str;

    fn apply(&mut self, event: &Self::Event);
}

/// Folds events, oldest first, into an aggregate's state.
pub fn fold<'a, A: Aggregate>(events: impl IntoIterator<Item = &'a A::Event>) -> A
where
    A::Event: 'a,
{
    let mut state = A::default();
    for event in events {
        state.apply(event);
    }
    state
}

/// A stored event could not be read back as a domain event.
#[derive(Debug, Error)]
pub enum EventDecodeError {
    #[error("unknown event type {event_type} (schema version {schema_version})")]
    Unknown { event_type: String, schema_version: u32 },
    #[error("malformed {event_type} payload: {source}")]
    Malformed {
        event_type: String,
        #[source]
        source: serde_json::Error,
    },
}

/// An event as versioned JSON. Serde's adjacent tagging (`{"type": …, "data": …}`) gives the
/// type name and payload; stored events keep them apart (event_type column, payload JSON).
pub trait DomainEvent: Serialize + DeserializeOwned + Clone + std::fmt::Debug {
    /// The payload's schema version written today.
    const SCHEMA_VERSION: u32 = 1;

    /// The past-tense name stored as the event type, e.g. `MovementRecorded`.
    fn event_type(&self) -> &'static str;

    /// Rewrites an older payload into today's shape. Stored history is never rewritten;
    /// old versions are upcast each time they are read.
    fn upcast(event_type: &str, schema_version: u32, payload: Value) -> Result<Value, EventDecodeError> {
        if schema_version == Self::SCHEMA_VERSION {
            Ok(payload)
        } else {
            Err(EventDecodeError::Unknown { event_type: event_type.to_owned(), schema_version })
        }
    }

    /// The payload JSON, without the type tag.
    fn payload(&self) -> Value {
        match serde_json::to_value(self) {
            Ok(Value::Object(mut tagged)) => tagged.remove("data").unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    fn decode(event_type: &str, schema_version: u32, payload: Value) -> Result<Self, EventDecodeError> {
        let payload = Self::upcast(event_type, schema_version, payload)?;
        let tagged = serde_json::json!({ "type": event_type, "data": payload });
        serde_json::from_value(tagged).map_err(|source| {
            if source.to_string().contains("unknown variant") {
                EventDecodeError::Unknown { event_type: event_type.to_owned(), schema_version }
            } else {
                EventDecodeError::Malformed { event_type: event_type.to_owned(), source }
            }
        })
    }
}
