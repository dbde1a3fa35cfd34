//! The contract every [`EventStore`] adapter must pass, whatever its storage.
//!
//! Each case takes a fresh, empty store and panics when the adapter breaks a guarantee.
//! Run them one test each (see this crate's `tests/contract_*.rs`), or all with [`run_all`].

use crate::hash::{self, GENESIS};
use crate::{
    AppendOutcome, AppendRequest, CommandMetadata, EventStore, ExpectedVersion, NewEvent, StoreError, StreamGuard,
};
use serde_json::json;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;
use uuid::Uuid;

/// Long enough that only a broken wake-up (not a slow machine) makes a waiter time out.
const LIVENESS: Duration = Duration::from_secs(60);

/// Runs every case, each on a store of its own from `make`.
/// Calls `$callback!` with the name of every contract case, so each adapter's test file and
/// [`run_all`] share this one list: a case added here runs against every adapter.
#[macro_export]
macro_rules! contract_cases {
    ($callback:ident) => {
        $callback!(
            append_then_read_stream_returns_the_events_with_metadata,
            positions_are_dense_from_one_and_read_all_is_in_order,
            expected_version_is_honoured_and_a_conflict_writes_nothing,
            concurrent_writers_on_one_stream_exactly_one_wins,
            concurrent_writers_expecting_any_version_all_succeed,
            an_idempotent_retry_returns_the_first_outcome_and_appends_nothing,
            concurrent_retries_of_one_command_append_once,
            the_same_command_id_under_another_owner_is_another_key,
            an_append_of_no_events_is_remembered,
            a_replay_reports_the_stream_its_first_run_wrote_to,
            an_append_that_fails_writes_nothing,
            the_hash_chain_verifies_and_tampering_is_detected,
            wait_for_events_wakes_on_append_and_times_out_otherwise,
            concurrent_writers_and_a_tailing_reader_see_every_position_once,
            concurrent_appends_each_get_their_own_outcome,
            a_conflict_or_replay_does_not_fail_its_neighbours,
            read_owner_returns_one_owners_history_up_to_a_position,
            a_guarded_append_commits_only_while_its_guards_hold,
            guarded_appends_in_one_batch_with_a_write_to_their_guard_are_each_right,
        );
    };
}

pub async fn run_all<S, F, Fut>(make: F)
where
    S: EventStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    macro_rules! run_each {
        ($($case:ident),* $(,)?) => {
            $($case(make().await).await;)*
        };
    }
    contract_cases!(run_each);
}

/// A fresh `account-<uuid>` stream id.
pub fn new_stream_id() -> String {
    format!("account-{}", Uuid::now_v7())
}

/// `count` events with distinct payloads.
pub fn new_events(count: usize) -> Vec<NewEvent> {
    (0..count)
        .map(|index| NewEvent {
            event_id: Uuid::now_v7(),
            event_type: "AccountRenamed".into(),
            schema_version: 1,
            payload: json!({"name": format!("name {index}"), "amount": "12.50", "nested": {"z": [1, 2.5, null], "a": true}}),
        })
        .collect()
}

/// A request under a fresh owner and command id.
pub fn new_request(stream_id: &str, expected_version: ExpectedVersion, events: usize) -> AppendRequest {
    AppendRequest {
        stream_id: stream_id.to_owned(),
        expected_version,
        metadata: CommandMetadata {
            owner: Uuid::now_v7(),
            command_id: Uuid::now_v7(),
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            traceparent: None,
        },
        guards: Vec::new(),
        events: new_events(events),
    }
}

fn assert_conflict(result: Result<AppendOutcome, StoreError>, stream_id: &str, actual_version: u64) {
    match result {
        Err(StoreError::Conflict { stream_id: conflicting, actual, .. }) => {
            assert_eq!(conflicting, stream_id);
            assert_eq!(actual, actual_version, "the conflict reports the stream's real version");
        }
        other => panic!("expected a conflict at version {actual_version}, got {other:?}"),
    }
}

pub async fn append_then_read_stream_returns_the_events_with_metadata<S: EventStore>(store: S) {
    let stream = new_stream_id();
    let mut request = new_request(&stream, ExpectedVersion::NoStream, 2);
    request.metadata.causation_id = Some(Uuid::now_v7());
    request.metadata.traceparent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
    let outcome = store.append(request.clone()).await.unwrap();
    assert_eq!(outcome, AppendOutcome { stream_id: stream.clone(), stream_version: 2, position: 2, replayed: false });

    let events = store.read_stream(&stream).await.unwrap();
    assert_eq!(events.len(), 2);
    for (index, (event, new)) in events.iter().zip(&request.events).enumerate() {
        assert_eq!(event.event_id, new.event_id);
        assert_eq!(event.stream_id, stream);
        assert_eq!(event.version, index as u64 + 1);
        assert_eq!(event.position, index as u64 + 1);
        assert_eq!(event.event_type, new.event_type);
        assert_eq!(event.schema_version, new.schema_version);
        assert_eq!(event.payload, new.payload);
        assert_eq!(event.owner, request.metadata.owner);
        assert_eq!(event.command_id, request.metadata.command_id);
        assert_eq!(event.correlation_id, request.metadata.correlation_id);
        assert_eq!(event.causation_id, request.metadata.causation_id);
        assert_eq!(event.traceparent, request.metadata.traceparent);
        assert_eq!(event.recorded_at.timestamp_subsec_nanos() % 1_000, 0, "recorded_at is in whole microseconds");
        assert_eq!(event.stream_category(), "account");
    }
    assert_eq!(events[0].recorded_at, events[1].recorded_at, "one append, one instant");

    let next = store.append(new_request(&stream, ExpectedVersion::Exact(2), 1)).await.unwrap();
    assert_eq!(next, AppendOutcome { stream_id: stream.clone(), stream_version: 3, position: 3, replayed: false });
    let other = new_stream_id();
    store.append(new_request(&other, ExpectedVersion::NoStream, 1)).await.unwrap();

    let events = store.read_stream(&stream).await.unwrap();
    assert_eq!(events.iter().map(|e| e.version).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(events.iter().all(|e| e.stream_id == stream), "a stream holds only its own events");
    assert_eq!(store.read_stream(&other).await.unwrap().len(), 1);
    assert!(store.read_stream(&new_stream_id()).await.unwrap().is_empty());
}

pub async fn positions_are_dense_from_one_and_read_all_is_in_order<S: EventStore>(store: S) {
    assert_eq!(store.head().await.unwrap(), 0);
    assert!(store.read_all(0, 100).await.unwrap().is_empty());

    let streams = [new_stream_id(), new_stream_id(), new_stream_id()];
    let mut versions = [0u64; 3];
    let mut appended = Vec::new();
    for round in 0..12usize {
        let which = round % 3;
        let count = 1 + round % 4;
        let request = new_request(&streams[which], ExpectedVersion::Exact(versions[which]), count);
        appended.extend(request.events.iter().map(|e| e.event_id));
        let outcome = store.append(request).await.unwrap();
        versions[which] += count as u64;
        assert_eq!(outcome.stream_version, versions[which]);
        assert_eq!(outcome.position, appended.len() as u64);
    }
    let total = appended.len() as u64;
    assert_eq!(store.head().await.unwrap(), total);

    let all = store.read_all(0, 1_000).await.unwrap();
    assert_eq!(all.iter().map(|e| e.position).collect::<Vec<_>>(), (1..=total).collect::<Vec<_>>());
    assert_eq!(all.iter().map(|e| e.event_id).collect::<Vec<_>>(), appended, "position order is append order");

    let page = store.read_all(5, 7).await.unwrap();
    assert_eq!(page.iter().map(|e| e.position).collect::<Vec<_>>(), (6..=12).collect::<Vec<_>>());
    assert_eq!(page, all[5..12]);
    assert_eq!(store.read_all(total - 2, 100).await.unwrap().len(), 2);
    assert!(store.read_all(total, 100).await.unwrap().is_empty());
    assert!(store.read_all(0, 0).await.unwrap().is_empty());
}

pub async fn expected_version_is_honoured_and_a_conflict_writes_nothing<S: EventStore>(store: S) {
    let stream = new_stream_id();
    assert_conflict(store.append(new_request(&stream, ExpectedVersion::Exact(3), 1)).await, &stream, 0);
    assert_eq!(store.append(new_request(&stream, ExpectedVersion::NoStream, 1)).await.unwrap().stream_version, 1);
    assert_conflict(store.append(new_request(&stream, ExpectedVersion::NoStream, 1)).await, &stream, 1);
    assert_eq!(store.append(new_request(&stream, ExpectedVersion::Exact(1), 2)).await.unwrap().stream_version, 3);

    // A stale version conflicts and leaves nothing behind, not even its idempotency key.
    let stale = new_request(&stream, ExpectedVersion::Exact(1), 2);
    assert_conflict(store.append(stale.clone()).await, &stream, 3);
    assert_conflict(store.append(new_request(&stream, ExpectedVersion::Exact(9), 1)).await, &stream, 3);
    assert_eq!(store.read_stream(&stream).await.unwrap().len(), 3);
    assert_eq!(store.head().await.unwrap(), 3);
    assert_eq!(store.find_command(stale.metadata.owner, stale.metadata.command_id).await.unwrap(), None);
    let reloaded = AppendRequest { expected_version: ExpectedVersion::Exact(3), ..stale };
    let outcome = store.append(reloaded).await.unwrap();
    assert_eq!(outcome, AppendOutcome { stream_id: stream.clone(), stream_version: 5, position: 5, replayed: false });

    assert_eq!(store.append(new_request(&stream, ExpectedVersion::Any, 1)).await.unwrap().stream_version, 6);
    let fresh = new_stream_id();
    assert_eq!(store.append(new_request(&fresh, ExpectedVersion::Any, 1)).await.unwrap().stream_version, 1);
    let zero = new_stream_id();
    assert_eq!(store.append(new_request(&zero, ExpectedVersion::Exact(0), 1)).await.unwrap().stream_version, 1);

    let events = store.read_stream(&stream).await.unwrap();
    assert_eq!(events.iter().map(|e| e.version).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
    assert!(hash::verify(&events).ok);
    assert_eq!(store.head().await.unwrap(), 8);
}

pub async fn concurrent_writers_on_one_stream_exactly_one_wins<S: EventStore>(store: S) {
    const WRITERS: usize = 8;
    let store = Arc::new(store);
    let stream = new_stream_id();
    store.append(new_request(&stream, ExpectedVersion::NoStream, 1)).await.unwrap();
    for round in 1..=5u64 {
        let barrier = Arc::new(Barrier::new(WRITERS));
        let tasks: Vec<_> = (0..WRITERS)
            .map(|_| {
                let (store, barrier) = (store.clone(), barrier.clone());
                let request = new_request(&stream, ExpectedVersion::Exact(round), 1);
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.append(request).await
                })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(outcome) => {
                    assert_eq!(outcome.stream_version, round + 1);
                    winners += 1;
                }
                conflict => assert_conflict(conflict, &stream, round + 1),
            }
        }
        assert_eq!(winners, 1, "round {round}: exactly one writer wins the version");
    }
    let events = store.read_stream(&stream).await.unwrap();
    assert_eq!(events.len(), 6);
    assert!(hash::verify(&events).ok);
    assert_eq!(store.head().await.unwrap(), 6, "the losers took no positions");
    assert_eq!(store.read_all(0, 100).await.unwrap().len(), 6);
}

/// `ExpectedVersion::Any` has nothing to be stale about, so losing a race is not a conflict.
pub async fn concurrent_writers_expecting_any_version_all_succeed<S: EventStore>(store: S) {
    const WRITERS: usize = 8;
    let store = Arc::new(store);
    let stream = new_stream_id();
    let barrier = Arc::new(Barrier::new(WRITERS));
    let tasks: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (store, barrier) = (store.clone(), barrier.clone());
            let request = new_request(&stream, ExpectedVersion::Any, 1);
            tokio::spawn(async move {
                barrier.wait().await;
                store.append(request).await
            })
        })
        .collect();
    let mut versions = Vec::new();
    for task in tasks {
        versions.push(task.await.unwrap().expect("an append expecting any version is not refused").stream_version);
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=WRITERS as u64).collect::<Vec<_>>());
    let events = store.read_stream(&stream).await.unwrap();
    assert_eq!(events.len(), WRITERS);
    assert!(hash::verify(&events).ok);
    assert_eq!(store.head().await.unwrap(), WRITERS as u64);
}

pub async fn an_idempotent_retry_returns_the_first_outcome_and_appends_nothing<S: EventStore>(store: S) {
    let stream = new_stream_id();
    let request = new_request(&stream, ExpectedVersion::NoStream, 2);
    let first = store.append(request.clone()).await.unwrap();
    assert!(!first.replayed);
    store.append(new_request(&new_stream_id(), ExpectedVersion::NoStream, 1)).await.unwrap();

    let replayed = AppendOutcome { replayed: true, ..first };
    assert_eq!(store.append(request.clone()).await.unwrap(), replayed);
    // Same key, different content: still the first answer, and nothing is written.
    let other_stream = new_stream_id();
    let altered = AppendRequest {
        stream_id: other_stream.clone(),
        expected_version: ExpectedVersion::Any,
        events: new_events(3),
        ..request.clone()
    };
    assert_eq!(store.append(altered).await.unwrap(), replayed);

    assert_eq!(store.read_stream(&stream).await.unwrap().len(), 2);
    assert!(store.read_stream(&other_stream).await.unwrap().is_empty());
    assert_eq!(store.head().await.unwrap(), 3);
    assert_eq!(store.find_command(request.metadata.owner, request.metadata.command_id).await.unwrap(), Some(replayed));
    assert_eq!(store.find_command(request.metadata.owner, Uuid::now_v7()).await.unwrap(), None);
}

pub async fn concurrent_retries_of_one_command_append_once<S: EventStore>(store: S) {
    const RETRIES: usize = 10;
    let store = Arc::new(store);
    let stream = new_stream_id();
    let request = new_request(&stream, ExpectedVersion::NoStream, 3);
    let barrier = Arc::new(Barrier::new(RETRIES));
    let tasks: Vec<_> = (0..RETRIES)
        .map(|_| {
            let (store, barrier, request) = (store.clone(), barrier.clone(), request.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.append(request).await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap().expect("a retry is answered, never refused"));
    }
    assert_eq!(outcomes.iter().filter(|o| !o.replayed).count(), 1, "exactly one retry appends");
    for outcome in &outcomes {
        assert_eq!((outcome.stream_version, outcome.position), (3, 3));
    }
    assert_eq!(store.read_stream(&stream).await.unwrap().len(), 3);
    assert_eq!(store.head().await.unwrap(), 3);
}

pub async fn the_same_command_id_under_another_owner_is_another_key<S: EventStore>(store: S) {
    let first = new_request(&new_stream_id(), ExpectedVersion::NoStream, 1);
    let mut second = new_request(&new_stream_id(), ExpectedVersion::NoStream, 2);
    second.metadata.command_id = first.metadata.command_id;
    let first_outcome = store.append(first.clone()).await.unwrap();
    let second_outcome = store.append(second.clone()).await.unwrap();
    assert_eq!(
        first_outcome,
        AppendOutcome { stream_id: first.stream_id.clone(), stream_version: 1, position: 1, replayed: false }
    );
    assert_eq!(
        second_outcome,
        AppendOutcome { stream_id: second.stream_id.clone(), stream_version: 2, position: 3, replayed: false }
    );
    assert_eq!(store.read_stream(&second.stream_id).await.unwrap()[0].owner, second.metadata.owner);
    let command = first.metadata.command_id;
    assert_eq!(store.find_command(first.metadata.owner, command).await.unwrap().map(|o| o.position), Some(1));
    assert_eq!(store.find_command(second.metadata.owner, command).await.unwrap().map(|o| o.position), Some(3));
}

pub async fn an_append_of_no_events_is_remembered<S: EventStore>(store: S) {
    let stream = new_stream_id();
    store.append(new_request(&stream, ExpectedVersion::NoStream, 1)).await.unwrap();
    store.append(new_request(&new_stream_id(), ExpectedVersion::NoStream, 2)).await.unwrap();

    let nothing = new_request(&stream, ExpectedVersion::Exact(1), 0);
    let outcome = store.append(nothing.clone()).await.unwrap();
    assert_eq!(
        outcome,
        AppendOutcome { stream_id: stream.clone(), stream_version: 1, position: 3, replayed: false },
        "position is the head"
    );
    assert_eq!(store.head().await.unwrap(), 3);
    assert_eq!(store.read_stream(&stream).await.unwrap().len(), 1);

    store.append(new_request(&stream, ExpectedVersion::Exact(1), 1)).await.unwrap();
    let replayed = AppendOutcome { replayed: true, ..outcome.clone() };
    assert_eq!(store.append(nothing.clone()).await.unwrap(), replayed, "the first answer, not today's state");
    assert_eq!(store.find_command(nothing.metadata.owner, nothing.metadata.command_id).await.unwrap(), Some(replayed));

    let unborn = new_stream_id();
    let on_no_stream = store.append(new_request(&unborn, ExpectedVersion::NoStream, 0)).await.unwrap();
    assert_eq!(
        on_no_stream,
        AppendOutcome { stream_id: unborn.clone(), stream_version: 0, position: 4, replayed: false }
    );
    assert!(store.read_stream(&unborn).await.unwrap().is_empty());

    // The version is still checked, and a refused empty append is not remembered.
    let stale = new_request(&stream, ExpectedVersion::Exact(1), 0);
    assert_conflict(store.append(stale.clone()).await, &stream, 2);
    assert_eq!(store.find_command(stale.metadata.owner, stale.metadata.command_id).await.unwrap(), None);
}

/// A retry is answered with the stream its first run wrote to, whatever stream it names now,
/// so a creating command that picks a fresh id on each run recovers the one it made. A command
/// of no events is remembered under the stream it named, which holds none of its events.
pub async fn a_replay_reports_the_stream_its_first_run_wrote_to<S: EventStore>(store: S) {
    let created = new_stream_id();
    let request = new_request(&created, ExpectedVersion::NoStream, 1);
    let first = store.append(request.clone()).await.unwrap();
    assert_eq!((first.stream_id.as_str(), first.replayed), (created.as_str(), false));

    let retry = AppendRequest { stream_id: new_stream_id(), ..request.clone() };
    let replayed = store.append(retry.clone()).await.unwrap();
    assert_eq!((replayed.stream_id.as_str(), replayed.replayed), (created.as_str(), true));
    assert!(store.read_stream(&retry.stream_id).await.unwrap().is_empty(), "the retry's stream is not written");
    let found = store.find_command(request.metadata.owner, request.metadata.command_id).await.unwrap();
    assert_eq!(found.map(|outcome| outcome.stream_id), Some(created));

    let unborn = new_stream_id();
    let nothing = new_request(&unborn, ExpectedVersion::NoStream, 0);
    assert_eq!(store.append(nothing.clone()).await.unwrap().stream_id, unborn);
    let retry = AppendRequest { stream_id: new_stream_id(), ..nothing.clone() };
    let replayed = store.append(retry).await.unwrap();
    assert_eq!((replayed.stream_id.as_str(), replayed.stream_version, replayed.replayed), (unborn.as_str(), 0, true));
    assert!(store.read_stream(&unborn).await.unwrap().is_empty());
    let found = store.find_command(nothing.metadata.owner, nothing.metadata.command_id).await.unwrap();
    assert_eq!(found.map(|outcome| outcome.stream_id), Some(unborn));
}

pub async fn an_append_that_fails_writes_nothing<S: EventStore>(store: S) {
    let stream = new_stream_id();
    let first = new_request(&stream, ExpectedVersion::NoStream, 1);
    let stored_id = first.events[0].event_id;
    store.append(first).await.unwrap();

    // Its last event reuses a stored event id: the store refuses the whole append.
    let mut broken = new_request(&new_stream_id(), ExpectedVersion::NoStream, 3);
    broken.events[2].event_id = stored_id;
    let result = store.append(broken.clone()).await;
    assert!(result.is_err(), "a reused event id is refused, got {result:?}");
    assert!(!matches!(result, Err(StoreError::Conflict { .. })), "not a version conflict: {result:?}");
    assert!(store.read_stream(&broken.stream_id).await.unwrap().is_empty(), "no event of it is stored");
    assert_eq!(store.head().await.unwrap(), 1);
    assert_eq!(store.find_command(broken.metadata.owner, broken.metadata.command_id).await.unwrap(), None);

    // And the next append takes the next position: nothing was burnt.
    let outcome = store.append(new_request(&new_stream_id(), ExpectedVersion::NoStream, 1)).await.unwrap();
    assert_eq!(outcome.position, 2);
}

pub async fn the_hash_chain_verifies_and_tampering_is_detected<S: EventStore>(store: S) {
    let stream = new_stream_id();
    let other = new_stream_id();
    store.append(new_request(&stream, ExpectedVersion::NoStream, 1)).await.unwrap();
    store.append(new_request(&other, ExpectedVersion::NoStream, 1)).await.unwrap();
    store.append(new_request(&stream, ExpectedVersion::Exact(1), 2)).await.unwrap();
    store.append(new_request(&stream, ExpectedVersion::Any, 1)).await.unwrap();

    let events = store.read_stream(&stream).await.unwrap();
    assert_eq!(hash::verify(&events), hash::Verification { ok: true, events_checked: 4, first_bad_version: None });
    assert_eq!(events[0].hash, hash::chain(&GENESIS, &events[0]));
    for pair in events.windows(2) {
        assert_eq!(pair[1].hash, hash::chain(&pair[0].hash, &pair[1]));
    }
    // Each stream chains on its own, from zero, whatever its positions.
    let other_events = store.read_stream(&other).await.unwrap();
    assert_eq!(other_events[0].position, 2);
    assert_eq!(other_events[0].hash, hash::chain(&GENESIS, &other_events[0]));
    // read_all returns the very same events.
    let all = store.read_all(0, 100).await.unwrap();
    assert_eq!(all.iter().filter(|e| e.stream_id == stream).cloned().collect::<Vec<_>>(), events);

    let mut tampered = events.clone();
    tampered[2].payload["name"] = json!("forged");
    assert_eq!(hash::verify(&tampered).first_bad_version, Some(3));
    let mut tampered = events.clone();
    tampered[1].owner = Uuid::now_v7();
    assert_eq!(hash::verify(&tampered).first_bad_version, Some(2));
    let mut dropped = events;
    dropped.remove(1);
    assert_eq!(hash::verify(&dropped).first_bad_version, Some(2));
}

pub async fn wait_for_events_wakes_on_append_and_times_out_otherwise<S: EventStore>(store: S) {
    let store = Arc::new(store);
    assert_eq!(store.wait_for_events(0, Duration::from_millis(50)).await.unwrap(), 0, "times out at the head");

    let waiter = tokio::spawn({
        let store = store.clone();
        async move { store.wait_for_events(0, Duration::from_secs(3_600)).await }
    });
    // Give the waiter a chance to park first; correctness does not depend on it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let outcome = store.append(new_request(&new_stream_id(), ExpectedVersion::NoStream, 2)).await.unwrap();
    let woken = tokio::time::timeout(LIVENESS, waiter).await.expect("wait_for_events did not wake on an append");
    assert_eq!(woken.unwrap().unwrap(), outcome.position);

    assert_eq!(store.wait_for_events(0, Duration::ZERO).await.unwrap(), 2, "already past: answers at once");
    assert_eq!(store.wait_for_events(2, Duration::from_millis(50)).await.unwrap(), 2, "times out at the head");

    // An append of no events moves no head and wakes nobody.
    store.append(new_request(&new_stream_id(), ExpectedVersion::NoStream, 0)).await.unwrap();
    assert_eq!(store.wait_for_events(2, Duration::from_millis(50)).await.unwrap(), 2);
}

pub async fn read_owner_returns_one_owners_history_up_to_a_position<S: EventStore>(store: S) {
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut alices = Vec::new();
    for round in 0..10usize {
        let owner = if round % 3 == 1 { bob } else { alice };
        let mut request = new_request(&new_stream_id(), ExpectedVersion::NoStream, 1 + round % 2);
        request.metadata.owner = owner;
        let outcome = store.append(request.clone()).await.unwrap();
        if owner == alice {
            let first = outcome.position + 1 - request.events.len() as u64;
            alices.extend(first..=outcome.position);
        }
    }
    let head = store.head().await.unwrap();
    let positions = |events: Vec<crate::RecordedEvent>| {
        assert!(events.iter().all(|e| e.owner == alice), "only the owner's events");
        events.iter().map(|e| e.position).collect::<Vec<_>>()
    };
    assert_eq!(positions(store.read_owner(alice, 0, head, 1_000).await.unwrap()), alices);

    let cut = alices[4];
    let until_cut: Vec<u64> = alices.iter().copied().filter(|&p| p <= cut).collect();
    assert_eq!(positions(store.read_owner(alice, 0, cut, 1_000).await.unwrap()), until_cut, "nothing after up_to");

    let first_page = positions(store.read_owner(alice, 0, head, 3).await.unwrap());
    assert_eq!(first_page, alices[..3]);
    let rest = positions(store.read_owner(alice, first_page[2], head, 1_000).await.unwrap());
    assert_eq!(rest, alices[3..], "the next page starts after the last position seen");
    assert!(store.read_owner(Uuid::now_v7(), 0, head, 1_000).await.unwrap().is_empty());
    assert!(store.read_owner(alice, head, head, 1_000).await.unwrap().is_empty());
}

mod concurrency;
mod guards;

pub use concurrency::*;
pub use guards::*;
