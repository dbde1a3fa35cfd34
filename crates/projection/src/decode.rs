//! What every projection does to a recorded event before it folds it: decode the domain event
//! (skipping a type the aggregate does not have yet), and read the ids and numbers it is keyed by.

use crate::projection::ProjectionError;
use cashflow_domain::{DomainEvent, StreamId};
use cashflow_eventstore::RecordedEvent;
use uuid::Uuid;

/// The domain event, or `None` for an event type the aggregate does not (yet) have: a
/// projection skips those, since an aggregate may gain event types before its read models
/// use them. A known type that cannot be decoded is [`ProjectionError::Decode`], so the
/// projector stops rather than silently diverge.
pub fn decode<E: DomainEvent>(event: &RecordedEvent) -> Result<Option<E>, ProjectionError> {
    // `Unknown` also means "a schema version with no upcast" for a type the enum lists: that one
    // is an error, and only a type the enum does not list is skipped.
    if !E::EVENT_TYPES.contains(&event.event_type.as_str()) {
        tracing::debug!(event_type = %event.event_type, "event type unknown to this projection; skipped");
        return Ok(None);
    }
    E::decode(&event.event_type, event.schema_version, &event.payload)
        .map(Some)
        .map_err(|error| decode_error(event, error.to_string()))
}

/// [`ProjectionError::Decode`] for `event`.
pub fn decode_error(event: &RecordedEvent, reason: String) -> ProjectionError {
    ProjectionError::Decode { event_type: event.event_type.clone(), position: event.position, reason }
}

/// The aggregate id: the `<uuid>` of the event's `<category>-<uuid>` stream.
pub fn aggregate_id(event: &RecordedEvent) -> Result<Uuid, ProjectionError> {
    StreamId::parse(&event.stream_id)
        .map(|stream_id| stream_id.id())
        .map_err(|_| decode_error(event, format!("stream id {} is not <category>-<uuid>", event.stream_id)))
}

/// `value` (the event's `what`) for a BIGINT column.
pub fn to_bigint(event: &RecordedEvent, what: &str, value: u64) -> Result<i64, ProjectionError> {
    i64::try_from(value).map_err(|_| decode_error(event, format!("{what} {value} overflows BIGINT")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::recorded;
    use cashflow_domain::account::AccountEvent;
    use cashflow_domain::category::CategoryEvent;
    use cashflow_domain::invoice::InvoiceEvent;
    use serde_json::{Value, json};

    #[test]
    fn an_event_type_the_aggregate_does_not_have_is_skipped() {
        let event = recorded("category-x", "CategoryArchived", 1, json!({"pattern": "x"}));
        assert!(decode::<CategoryEvent>(&event).unwrap().is_none());
        let event = recorded("invoice-x", "InvoiceArchived", 1, json!({"why": "x"}));
        assert!(decode::<InvoiceEvent>(&event).unwrap().is_none());
    }

    #[test]
    fn a_malformed_payload_of_a_known_type_is_a_decode_error() {
        let event = recorded("account-x", "AccountRenamed", 1, json!({"title": 3}));
        let error = decode::<AccountEvent>(&event).unwrap_err();
        assert!(
            matches!(&error, ProjectionError::Decode { event_type, position: 7, .. } if event_type == "AccountRenamed"),
            "{error:?}"
        );
        let event = recorded("invoice-x", "InvoiceScanFailed", 1, json!({"reason": 3}));
        let error = decode::<InvoiceEvent>(&event).unwrap_err();
        assert!(
            matches!(&error, ProjectionError::Decode { event_type, position: 7, .. } if event_type == "InvoiceScanFailed"),
            "{error:?}"
        );
    }

    #[test]
    fn a_known_type_at_a_schema_version_without_upcast_is_a_decode_error() {
        let event = recorded("account-x", "AccountRenamed", 99, json!({"name": "Main"}));
        assert!(matches!(decode::<AccountEvent>(&event), Err(ProjectionError::Decode { .. })));
        let event = recorded("invoice-x", "InvoiceScanFailed", 99, json!({"reason": "blurry"}));
        assert!(matches!(decode::<InvoiceEvent>(&event), Err(ProjectionError::Decode { .. })));
    }

    #[test]
    fn the_aggregate_id_is_the_uuid_after_the_category() {
        for category in ["movement", "invoice"] {
            let id = Uuid::now_v7();
            let event = recorded(&format!("{category}-{id}"), "Anything", 1, Value::Null);
            assert_eq!(aggregate_id(&event).unwrap(), id);
            let event = recorded(&format!("{category}-nope"), "Anything", 1, Value::Null);
            assert!(matches!(aggregate_id(&event), Err(ProjectionError::Decode { .. })));
        }
    }

    #[test]
    fn a_number_past_bigint_is_a_decode_error() {
        let event = recorded("movement-x", "MovementVoided", 1, Value::Null);
        assert_eq!(to_bigint(&event, "version", 3).unwrap(), 3);
        let error = to_bigint(&event, "version", u64::MAX).unwrap_err();
        assert!(matches!(&error, ProjectionError::Decode { reason, .. } if reason.contains("version")), "{error:?}");
    }
}
