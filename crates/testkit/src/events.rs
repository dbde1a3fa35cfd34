//! Events as the store hands them out, for tests that feed a projection directly.

use cashflow_domain::{DomainEvent, UserId};
use cashflow_eventstore::RecordedEvent;
use chrono::DateTime;
use std::collections::HashMap;
use uuid::Uuid;

/// The event at `position`, version `version` of `stream_id`: fresh event and command ids,
/// schema version 1, no causation or trace, recorded at the Unix epoch, a zero hash. Set any
/// other field with `RecordedEvent { field, ..recorded_event(…) }`.
pub fn recorded_event(
    stream_id: String,
    version: u64,
    position: u64,
    owner: Uuid,
    event_type: &str,
    payload: serde_json::Value,
) -> RecordedEvent {
    RecordedEvent {
        event_id: Uuid::now_v7(),
        stream_id,
        version,
        position,
        event_type: event_type.into(),
        schema_version: 1,
        payload,
        owner,
        command_id: Uuid::now_v7(),
        correlation_id: Uuid::now_v7(),
        causation_id: None,
        traceparent: None,
        recorded_at: DateTime::UNIX_EPOCH,
        hash: [0; 32],
    }
}

/// Stamps domain events as the store would: positions consecutive from 1, each stream's
/// versions consecutive from 1.
#[derive(Debug, Default)]
pub struct Stamper {
    position: u64,
    versions: HashMap<String, u64>,
}

impl Stamper {
    pub fn new() -> Self {
        Self::default()
    }

    /// `event` as the next event of `stream_id` and of the whole history, otherwise as
    /// [`recorded_event`] makes it.
    pub fn stamp<E: DomainEvent>(&mut self, stream_id: &str, owner: UserId, event: &E) -> RecordedEvent {
        let version = self.versions.entry(stream_id.to_owned()).or_insert(0);
        *version += 1;
        self.position += 1;
        RecordedEvent {
            schema_version: E::SCHEMA_VERSION,
            ..recorded_event(
                stream_id.to_owned(),
                *version,
                self.position,
                owner.as_uuid(),
                event.event_type(),
                event.payload().expect("a test event serialises"),
            )
        }
    }
}
