//! Names on the bus: stream, subjects, consumers and headers, all derived from one prefix so
//! several deployments (or tests) share one NATS server without seeing each other.

use crate::error::BusError;
use cashflow_eventstore::RecordedEvent;

/// Header names the relay sets on every message.
pub mod headers {
    /// The event id; JetStream drops a second message with the same id within the duplicate window.
    pub const MSG_ID: &str = "Nats-Msg-Id";
    pub const EVENT_TYPE: &str = "Cashflow-Event-Type";
    pub const OWNER: &str = "Cashflow-Owner";
    /// The event's global position, so the relay can resume from the stream's last message.
    pub const POSITION: &str = "Cashflow-Position";
    pub const STREAM_ID: &str = "Cashflow-Stream-Id";
    /// W3C trace context of the command that recorded the event, when it had one.
    pub const TRACEPARENT: &str = "traceparent";
}

/// Every name this crate uses on NATS, derived from a validated prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusNames {
    prefix: String,
}

impl BusNames {
    /// The environment variable [`BusNames::from_env`] reads.
    pub const PREFIX_ENV: &'static str = "CASHFLOW_NATS_PREFIX";
    pub const DEFAULT_PREFIX: &'static str = "cashflow";

    /// Validates the prefix: non-empty, ASCII letters, digits, `_` and `-` only, so it is one
    /// subject token and a valid stream and consumer name.
    pub fn new(prefix: impl Into<String>) -> Result<Self, BusError> {
        let prefix = prefix.into();
        if prefix.is_empty() {
            return Err(BusError::Config("the NATS prefix is empty".into()));
        }
        if let Some(bad) = prefix.chars().find(|c| !is_name_char(*c)) {
            return Err(BusError::Config(format!(
                "the NATS prefix {prefix:?} contains {bad:?}; only A-Z, a-z, 0-9, '_' and '-' are allowed"
            )));
        }
        Ok(Self { prefix })
    }

    /// From `CASHFLOW_NATS_PREFIX`, or `cashflow` when it is unset.
    pub fn from_env() -> Result<Self, BusError> {
        match std::env::var(Self::PREFIX_ENV) {
            Ok(prefix) => Self::new(prefix),
            Err(std::env::VarError::NotPresent) => Self::new(Self::DEFAULT_PREFIX),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(BusError::Config(format!("{} is not valid UTF-8", Self::PREFIX_ENV)))
            }
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<PREFIX>_EVENTS`, upper-cased as JetStream stream names usually are. Prefixes that differ
    /// only in case therefore share a stream name: pick prefixes that differ otherwise.
    pub fn events_stream(&self) -> String {
        format!("{}_EVENTS", self.prefix.to_uppercase())
    }

    /// `<prefix>.events.>`: every event subject, the stream's and the consumers' filter.
    pub fn events_filter(&self) -> String {
        format!("{}.events.>", self.prefix)
    }

    /// `<prefix>.events.<stream category>.<event type>`, so a worker can filter by either.
    pub fn event_subject(&self, event: &RecordedEvent) -> String {
        self.event_type_subject(event.stream_category(), &event.event_type)
    }

    /// `<prefix>.events.<stream category>.<event type>`: one event type's subject, a worker's filter.
    pub fn event_type_subject(&self, stream_category: &str, event_type: &str) -> String {
        format!("{}.events.{}.{}", self.prefix, subject_token(stream_category), subject_token(event_type))
    }

    /// `<prefix>_<name>`: the durable consumer of a projection or worker.
    pub fn durable_consumer(&self, name: &str) -> String {
        format!("{}_{}", self.prefix, subject_token(name))
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Makes text one safe subject token: anything but `[A-Za-z0-9_-]` (dots, wildcards, spaces)
/// would split or widen a subject, so it becomes `_`.
fn subject_token(text: &str) -> String {
    if text.is_empty() {
        return "_".into();
    }
    text.chars().map(|c| if is_name_char(c) { c } else { '_' }).collect()
}

/// The message body: the recorded event as JSON.
pub fn encode_event(event: &RecordedEvent) -> Result<Vec<u8>, BusError> {
    serde_json::to_vec(event).map_err(|err| BusError::Corrupt(format!("cannot encode event {}: {err}", event.event_id)))
}

/// Reads a message body written by [`encode_event`].
pub fn decode_event(body: &[u8]) -> Result<RecordedEvent, BusError> {
    serde_json::from_slice(body)
        .map_err(|err| BusError::Corrupt(format!("message body is not a recorded event: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use uuid::Uuid;

    fn event(stream_id: &str, event_type: &str) -> RecordedEvent {
        RecordedEvent {
            event_id: Uuid::now_v7(),
            stream_id: stream_id.into(),
            version: 1,
            position: 7,
            event_type: event_type.into(),
            schema_version: 1,
            payload: serde_json::json!({"amount": "12.30"}),
            owner: Uuid::now_v7(),
            command_id: Uuid::now_v7(),
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
            recorded_at: Utc::now(),
            hash: [3; 32],
        }
    }

    #[test]
    fn names_follow_the_prefix() {
        let names = BusNames::new("cashflow").unwrap();
        assert_eq!(names.events_stream(), "CASHFLOW_EVENTS");
        assert_eq!(names.events_filter(), "cashflow.events.>");
        assert_eq!(names.durable_consumer("ledger"), "cashflow_ledger");
        let id = Uuid::now_v7();
        let movement = event(&format!("movement-{id}"), "MovementRecorded");
        assert_eq!(names.event_subject(&movement), "cashflow.events.movement.MovementRecorded");
    }

    #[test]
    fn a_prefix_must_be_one_plain_token() {
        assert!(BusNames::new("").is_err());
        for bad in ["a.b", "a b", "a*", "a>", "é"] {
            assert!(matches!(BusNames::new(bad), Err(BusError::Config(_))), "{bad:?} accepted");
        }
        assert_eq!(BusNames::new("t-1_X").unwrap().events_stream(), "T-1_X_EVENTS");
    }

    #[test]
    fn odd_stream_ids_and_types_stay_one_token_each() {
        let names = BusNames::new("p").unwrap();
        assert_eq!(names.event_subject(&event("weird.cat-1", "A.B*")), "p.events.weird_cat.A_B_");
        assert_eq!(names.event_subject(&event("nodash", "X")), "p.events.nodash.X");
    }

    #[test]
    fn the_body_round_trips_the_recorded_event() {
        let original = event("account-1", "AccountOpened");
        let decoded = decode_event(&encode_event(&original).unwrap()).unwrap();
        assert_eq!(decoded, original);
        assert!(matches!(decode_event(b"{}"), Err(BusError::Corrupt(_))));
    }
}
