//! The hash chains: every event stores SHA-256(previous hash ‖ canonical bytes) per stream,
//! and SHA-256(previous position's global hash ‖ position ‖ stream hash) over the whole store.
//!
//! The global `position` is left out of the canonical bytes so a stream's chain can be
//! computed before its events get positions and verified from the stream alone. The first
//! event of a stream chains from 32 zero bytes.
//!
//! The global chain ([`global_chain`]) binds each position to its event and to every position
//! before it, so deleting or renumbering events breaks it (ADR 0016). It is computed by
//! PostgreSQL under the head lock (`event_store_global_chain`, migration 0002), since only
//! then is the previous position's hash known; this is its reference for verification.

use crate::{AppendRequest, RecordedEvent};
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `previous` hash of a stream's first event.
pub const GENESIS: [u8; 32] = [0u8; 32];

/// Deterministic bytes of every field of `event` except `hash` and `position`: a JSON
/// object with keys sorted at every depth (payload included), so the bytes do not depend on
/// how a JSON map orders keys or how PostgreSQL's JSONB re-orders them.
pub fn canonical_bytes(event: &RecordedEvent) -> Vec<u8> {
    let optional = |value: Option<String>| value.map_or(Value::Null, Value::String);
    // Keys are written sorted by `write_canonical`, whatever order they are listed in here.
    let fields = [
        ("causation_id", optional(event.causation_id.map(|id| id.to_string()))),
        ("command_id", Value::String(event.command_id.to_string())),
        ("correlation_id", Value::String(event.correlation_id.to_string())),
        ("event_id", Value::String(event.event_id.to_string())),
        ("event_type", Value::String(event.event_type.clone())),
        ("owner", Value::String(event.owner.to_string())),
        ("payload", event.payload.clone()),
        ("recorded_at", Value::String(event.recorded_at.to_rfc3339_opts(SecondsFormat::Micros, true))),
        ("schema_version", Value::from(event.schema_version)),
        ("stream_id", Value::String(event.stream_id.clone())),
        ("traceparent", optional(event.traceparent.clone())),
        ("version", Value::from(event.version)),
    ];
    let object = Value::Object(fields.into_iter().map(|(key, value)| (key.to_owned(), value)).collect());
    let mut bytes = Vec::with_capacity(256);
    write_canonical(&object, &mut bytes);
    bytes
}

/// SHA-256(previous ‖ canonical bytes of `event`).
pub fn chain(previous: &[u8; 32], event: &RecordedEvent) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(canonical_bytes(event));
    hasher.finalize().into()
}

/// The global hash of the event at `position` whose stream hash is `stream_hash`, following
/// the global hash `previous` of position `position - 1` ([`GENESIS`] where the global chain
/// starts): SHA-256(previous ‖ position as 8 big-endian bytes ‖ stream hash).
pub fn global_chain(previous: &[u8; 32], position: u64, stream_hash: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(position.to_be_bytes());
    hasher.update(stream_hash);
    hasher.finalize().into()
}

/// The result of checking one stream's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    pub ok: bool,
    /// Events examined: all of them when `ok`, else up to and including the first bad one.
    pub events_checked: u64,
    /// The first version at which the chain does not hold: a stored hash that does not
    /// match, or the version that should have come next where another one (or a gap) is.
    pub first_bad_version: Option<u64>,
}

/// Checks a whole stream, oldest first, from version 1: versions must be 1, 2, 3… and each
/// stored hash must be the chain of the previous one.
pub fn verify(events: &[RecordedEvent]) -> Verification {
    let mut previous = GENESIS;
    for (index, event) in (1u64..).zip(events) {
        if event.version != index || chain(&previous, event) != event.hash {
            return Verification { ok: false, events_checked: index, first_bad_version: Some(index) };
        }
        previous = event.hash;
    }
    Verification { ok: true, events_checked: events.len() as u64, first_bad_version: None }
}

/// Now, truncated to the microsecond PostgreSQL keeps, so a stored event re-hashes exactly.
pub(crate) fn now_micros() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Turns a request's events into recorded, chained events following a stream whose last
/// version is `last_version` and last hash `previous`, at positions from `first_position`.
pub(crate) fn seal(
    request: &AppendRequest,
    last_version: u64,
    mut previous: [u8; 32],
    recorded_at: DateTime<Utc>,
    first_position: u64,
) -> Vec<RecordedEvent> {
    let metadata = &request.metadata;
    (0u64..)
        .zip(&request.events)
        .map(|(offset, new)| {
            let mut event = RecordedEvent {
                event_id: new.event_id,
                stream_id: request.stream_id.clone(),
                version: last_version + 1 + offset,
                position: first_position + offset,
                event_type: new.event_type.clone(),
                schema_version: new.schema_version,
                payload: new.payload.clone(),
                owner: metadata.owner,
                command_id: metadata.command_id,
                correlation_id: metadata.correlation_id,
                causation_id: metadata.causation_id,
                traceparent: metadata.traceparent.clone(),
                recorded_at,
                hash: [0; 32],
            };
            event.hash = chain(&previous, &event);
            previous = event.hash;
            event
        })
        .collect()
}

/// Compact JSON with object keys sorted by their UTF-8 bytes at every depth.
fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|(a, _), (b, _)| a.as_bytes().cmp(b.as_bytes()));
            out.push(b'{');
            for (index, (key, value)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(key.clone()), out);
                out.push(b':');
                write_canonical(value, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(value: &Value, out: &mut Vec<u8>) {
    // Writing a string, number, bool or null into a Vec cannot fail: serde_json only errors
    // on I/O or on maps with non-string keys, and neither can happen here.
    if serde_json::to_writer(&mut *out, value).is_err() {
        unreachable!("serialising a JSON scalar into memory cannot fail");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};
    use serde_json::json;
    use uuid::Uuid;

    fn at(micros: i64) -> DateTime<Utc> {
        Utc.timestamp_micros(1_700_000_000_000_000 + micros).single().unwrap()
    }

    fn stream(length: u64) -> Vec<RecordedEvent> {
        let owner = Uuid::now_v7();
        let mut previous = GENESIS;
        (1..=length)
            .map(|version| {
                let mut event = RecordedEvent {
                    event_id: Uuid::now_v7(),
                    stream_id: "account-0190c2d4-0000-7000-8000-000000000000".into(),
                    version,
                    position: version * 10,
                    event_type: "AccountRenamed".into(),
                    schema_version: 1,
                    payload: json!({"name": format!("name {version}"), "nested": {"b": 1, "a": [1, 2.5, null]}}),
                    owner,
                    command_id: Uuid::now_v7(),
                    correlation_id: Uuid::now_v7(),
                    causation_id: None,
                    traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
                    recorded_at: at(version as i64),
                    hash: [0; 32],
                };
                event.hash = chain(&previous, &event);
                previous = event.hash;
                event
            })
            .collect()
    }

    fn assert_bad_at(events: &[RecordedEvent], version: u64) {
        let verification = verify(events);
        assert!(!verification.ok);
        assert_eq!(verification.first_bad_version, Some(version));
        assert_eq!(verification.events_checked, version);
    }

    #[test]
    fn an_untouched_stream_verifies() {
        let events = stream(5);
        assert_eq!(verify(&events), Verification { ok: true, events_checked: 5, first_bad_version: None });
        assert_eq!(verify(&[]), Verification { ok: true, events_checked: 0, first_bad_version: None });
    }

    #[test]
    fn the_position_is_not_part_of_the_chain() {
        let mut events = stream(3);
        events[1].position = 999;
        assert!(verify(&events).ok);
    }

    #[test]
    fn canonical_bytes_do_not_depend_on_key_order() {
        let mut a = stream(1).remove(0);
        let mut b = a.clone();
        a.payload = serde_json::from_str(r#"{"z": 1, "a": {"y": true, "b": "x"}}"#).unwrap();
        b.payload = serde_json::from_str(r#"{"a": {"b": "x", "y": true}, "z": 1}"#).unwrap();
        assert_eq!(canonical_bytes(&a), canonical_bytes(&b));
        let text = String::from_utf8(canonical_bytes(&a)).unwrap();
        assert!(text.contains(r#""payload":{"a":{"b":"x","y":true},"z":1}"#), "{text}");
        assert!(!text.contains("position"));
    }

    #[test]
    fn tampering_with_a_payload_is_detected_at_that_version() {
        let mut events = stream(4);
        events[2].payload["name"] = json!("someone else");
        assert_bad_at(&events, 3);
    }

    #[test]
    fn tampering_with_a_nested_payload_value_is_detected() {
        let mut events = stream(4);
        events[0].payload["nested"]["a"][1] = json!(2.6);
        assert_bad_at(&events, 1);
    }

    #[test]
    fn tampering_with_the_owner_is_detected_at_that_version() {
        let mut events = stream(4);
        events[1].owner = Uuid::now_v7();
        assert_bad_at(&events, 2);
    }

    #[test]
    fn tampering_with_recorded_at_is_detected_at_that_version() {
        let mut events = stream(4);
        events[3].recorded_at = at(5);
        assert_bad_at(&events, 4);
    }

    #[test]
    fn tampering_with_a_version_is_detected_at_that_version() {
        let mut events = stream(4);
        events[1].version = 3;
        assert_bad_at(&events, 2);
        let mut events = stream(4);
        events.swap(1, 2);
        assert_bad_at(&events, 2);
    }

    #[test]
    fn rewriting_the_version_and_rehashing_one_event_still_breaks_the_chain_after_it() {
        // A forger who recomputes the tampered event's own hash breaks its successor's link.
        let mut events = stream(4);
        let previous = events[0].hash;
        events[1].payload = json!({"name": "forged"});
        events[1].hash = chain(&previous, &events[1]);
        assert_bad_at(&events, 3);
    }

    #[test]
    fn every_other_field_is_covered() {
        let original = stream(2);
        let tamperers: Vec<fn(&mut RecordedEvent)> = vec![
            |e| e.event_id = Uuid::now_v7(),
            |e| e.stream_id.push('x'),
            |e| e.event_type.push('x'),
            |e| e.schema_version += 1,
            |e| e.command_id = Uuid::now_v7(),
            |e| e.correlation_id = Uuid::now_v7(),
            |e| e.causation_id = Some(Uuid::now_v7()),
            |e| e.traceparent = None,
            |e| e.hash[0] ^= 1,
        ];
        for tamper in tamperers {
            let mut events = original.clone();
            tamper(&mut events[1]);
            assert_bad_at(&events, 2);
        }
    }

    #[test]
    fn the_global_chain_binds_the_position_the_stream_hash_and_the_previous_link() {
        let events = stream(2);
        let first = global_chain(&GENESIS, 1, &events[0].hash);
        let second = global_chain(&first, 2, &events[1].hash);
        assert_ne!(second, global_chain(&first, 3, &events[1].hash));
        assert_ne!(second, global_chain(&GENESIS, 2, &events[1].hash));
        assert_ne!(second, global_chain(&first, 2, &events[0].hash));
        // The value PostgreSQL's `sha256(previous || int8send(1) || hash)` gives for these bytes.
        let mut bytes = GENESIS.to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
        bytes.extend_from_slice(&events[0].hash);
        assert_eq!(first, <[u8; 32]>::from(Sha256::digest(&bytes)));
    }

    #[test]
    fn a_version_gap_is_flagged_at_the_missing_version() {
        let mut events = stream(4);
        events.remove(1);
        assert_bad_at(&events, 2);
        let mut events = stream(4);
        events.remove(0);
        assert_bad_at(&events, 1);
    }
}
