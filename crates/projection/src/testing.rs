//! A recorded event to test with.

use cashflow_eventstore::RecordedEvent;
use chrono::{TimeZone, Utc};
use serde_json::Value;
use uuid::Uuid;

/// An event of `stream_id` at version 1, position 7.
pub(crate) fn recorded(stream_id: &str, event_type: &str, schema_version: u32, payload: Value) -> RecordedEvent {
    RecordedEvent {
        event_id: Uuid::now_v7(),
        stream_id: stream_id.to_owned(),
        version: 1,
        position: 7,
        event_type: event_type.to_owned(),
        schema_version,
        payload,
        owner: Uuid::now_v7(),
        command_id: Uuid::now_v7(),
        correlation_id: Uuid::now_v7(),
        causation_id: None,
        traceparent: None,
        recorded_at: Utc.timestamp_opt(0, 0).unwrap(),
        hash: [0; 32],
    }
}
