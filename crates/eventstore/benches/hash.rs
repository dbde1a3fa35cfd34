//! Micro-benchmark of the hash chain: canonical bytes and SHA-256 per event, and verifying a
//! 100-event stream. `cargo bench -p cashflow-eventstore --bench hash`

use cashflow_eventstore::RecordedEvent;
use cashflow_eventstore::contract::new_events;
use cashflow_eventstore::hash::{GENESIS, canonical_bytes, chain, verify};
use chrono::{SubsecRound, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use uuid::Uuid;

fn stream(length: u64) -> Vec<RecordedEvent> {
    let mut previous = GENESIS;
    new_events(length as usize)
        .into_iter()
        .zip(1..)
        .map(|(new, version)| {
            let mut event = RecordedEvent {
                event_id: new.event_id,
                stream_id: "movement-0192f5c2-8d3a-7b1e-9c4f-2a6b8d0e1f34".into(),
                version,
                position: version,
                event_type: new.event_type,
                schema_version: new.schema_version,
                payload: new.payload,
                owner: Uuid::now_v7(),
                command_id: Uuid::now_v7(),
                correlation_id: Uuid::now_v7(),
                causation_id: None,
                traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
                recorded_at: Utc::now().trunc_subsecs(6),
                hash: [0; 32],
            };
            event.hash = chain(&previous, &event);
            previous = event.hash;
            event
        })
        .collect()
}

fn hashing(c: &mut Criterion) {
    let events = stream(100);
    c.bench_function("canonical_bytes of one event", |b| b.iter(|| canonical_bytes(black_box(&events[0]))));
    c.bench_function("chain one event", |b| b.iter(|| chain(black_box(&GENESIS), black_box(&events[0]))));
    c.bench_function("verify a 100-event stream", |b| b.iter(|| verify(black_box(&events))));
}

criterion_group!(benches, hashing);
criterion_main!(benches);
