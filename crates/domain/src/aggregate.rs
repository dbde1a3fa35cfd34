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
    /// Not one of this enum's event types, or a schema version nothing upcasts.
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

    /// Every event type of this enum, as [`event_type`](Self::event_type) names them: what
    /// [`decode`](Self::decode) knows, so an unknown type is told from a broken payload.
    const EVENT_TYPES: &'static [&'static str];

    /// The past-tense name stored as the event type, e.g. `MovementRecorded`.
    fn event_type(&self) -> &'static str;

    /// Rewrites an older payload into today's shape. Stored history is never rewritten;
    /// old versions are upcast each time they are read. [`decode`](Self::decode) calls it only
    /// for a version other than [`SCHEMA_VERSION`](Self::SCHEMA_VERSION).
    fn upcast(event_type: &str, schema_version: u32, payload: Value) -> Result<Value, EventDecodeError> {
        if schema_version == Self::SCHEMA_VERSION {
            Ok(payload)
        } else {
            Err(EventDecodeError::Unknown { event_type: event_type.to_owned(), schema_version })
        }
    }

    /// The payload JSON, without the type tag. An event that cannot be serialised is a bug the
    /// caller must see, never a `null` payload stored for good.
    fn payload(&self) -> Result<Value, serde_json::Error> {
        match serde_json::to_value(self)? {
            Value::Object(mut tagged) => Ok(tagged.remove("data").unwrap_or(Value::Null)),
            other => Err(serde::ser::Error::custom(format!("an event serialised as {other}, not as a tagged object"))),
        }
    }

    /// The event stored as `event_type` at `schema_version` with `payload`, read in place: only
    /// an older version's payload is copied, to be upcast.
    fn decode(event_type: &str, schema_version: u32, payload: &Value) -> Result<Self, EventDecodeError> {
        if !Self::EVENT_TYPES.contains(&event_type) {
            return Err(EventDecodeError::Unknown { event_type: event_type.to_owned(), schema_version });
        }
        let malformed = |source| EventDecodeError::Malformed { event_type: event_type.to_owned(), source };
        if schema_version == Self::SCHEMA_VERSION {
            return from_tagged(event_type, payload).map_err(malformed);
        }
        let upcast = Self::upcast(event_type, schema_version, payload.clone())?;
        from_tagged(event_type, &upcast).map_err(malformed)
    }
}

/// Deserialises `{"type": event_type, "data": payload}` without building that object. The tag
/// comes first, so serde's adjacent tagging reads the payload straight into its variant; from a
/// JSON object, whose keys are sorted, `data` would come first and be buffered whole.
fn from_tagged<E: DeserializeOwned>(event_type: &str, payload: &Value) -> Result<E, serde_json::Error> {
    let tag = Value::String(event_type.to_owned());
    let entries = [("type", &tag), ("data", payload)];
    E::deserialize(serde::de::value::MapDeserializer::new(entries.into_iter()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::AccountEvent;
    use crate::category::CategoryEvent;
    use crate::invoice::InvoiceEvent;
    use crate::movement::MovementEvent;

    /// Each listed type is a variant serde knows: a payload of the wrong shape is malformed,
    /// never "unknown variant".
    fn every_listed_type_is_a_variant<E: DomainEvent>() {
        for event_type in E::EVENT_TYPES {
            match E::decode(event_type, E::SCHEMA_VERSION, &Value::String("not an object".into())) {
                Err(EventDecodeError::Malformed { source, .. }) => {
                    assert!(!source.to_string().contains("unknown variant"), "{event_type}: {source}");
                }
                other => panic!("{event_type}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_listed_event_types_are_the_enums_variants() {
        every_listed_type_is_a_variant::<AccountEvent>();
        every_listed_type_is_a_variant::<CategoryEvent>();
        every_listed_type_is_a_variant::<InvoiceEvent>();
        every_listed_type_is_a_variant::<MovementEvent>();
        every_listed_type_is_a_variant::<crate::report::ReportEvent>();
        every_listed_type_is_a_variant::<crate::budget::BudgetEvent>();
    }

    #[test]
    fn an_unknown_type_is_told_from_a_broken_payload() {
        let unknown = MovementEvent::decode("InvoiceUploaded", 1, &serde_json::json!({}));
        assert!(matches!(unknown, Err(EventDecodeError::Unknown { .. })), "{unknown:?}");
        let broken = MovementEvent::decode("MovementVoided", 1, &serde_json::json!({ "reason": 42 }));
        assert!(matches!(broken, Err(EventDecodeError::Malformed { .. })), "{broken:?}");
    }

    #[test]
    fn a_payload_is_the_events_data_without_its_tag() {
        let payload = AccountEvent::AccountRenamed { name: crate::Name::parse("name", "Savings").unwrap() }.payload();
        assert_eq!(payload.unwrap(), serde_json::json!({ "name": "Savings" }));
    }
}
