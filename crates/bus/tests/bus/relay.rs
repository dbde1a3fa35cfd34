//! The relay: every committed event reaches JetStream once, in commit order, across crashes.

use crate::common::TestEnv;
use async_nats::jetstream::message::StreamMessage;
use cashflow_bus::names::{decode_event, headers};
use cashflow_eventstore::{AppendRequest, CommandMetadata, EventStore, ExpectedVersion, NewEvent, RecordedEvent};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

/// The stream holds exactly the store's events: sequence i carries position i, each once,
/// with its JSON body, subject and headers.
fn assert_stream_matches_store(env: &TestEnv, messages: &[StreamMessage], events: &[RecordedEvent]) {
    assert_eq!(messages.len(), events.len(), "one message per event, no more, no less");
    for (index, (message, event)) in messages.iter().zip(events).enumerate() {
        let expected_position = index as u64 + 1;
        assert_eq!(event.position, expected_position, "the store is dense");
        assert_eq!(message.sequence, expected_position);
        let header = |name: &str| message.headers.get(name).map(|value| value.as_str().to_owned());
        assert_eq!(header(headers::POSITION), Some(expected_position.to_string()), "position header at {index}");
        assert_eq!(decode_event(&message.payload).expect("a recorded event"), *event, "body at {index}");
        assert_eq!(message.subject.as_str(), env.names.event_subject(event));
        assert_eq!(header(headers::MSG_ID), Some(event.event_id.to_string()));
        assert_eq!(header(headers::EVENT_TYPE), Some(event.event_type.clone()));
        assert_eq!(header(headers::OWNER), Some(event.owner.to_string()));
        assert_eq!(header(headers::STREAM_ID), Some(event.stream_id.clone()));
        assert_eq!(header(headers::TRACEPARENT), event.traceparent.clone());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_reach_the_stream_in_commit_order_without_gaps() {
    let env = TestEnv::start().await;
    let relay = env.spawn_relay();

    let head = env.append_concurrently(16, 50).await;
    assert_eq!(head, 16 * 50);
    env.wait_for_stream(head).await;
    relay.stop().await;

    let events = env.all_events().await;
    assert_stream_matches_store(&env, &env.stream_messages().await, &events);
    assert_eq!(env.relay_checkpoint().await, Some(head as i64), "checkpoint saved after the last acks");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_killed_mid_way_is_resumed_by_another_without_loss_or_duplicates() {
    let env = TestEnv::start().await;
    let first = env.spawn_relay();
    // A second relay on the same database waits for the lock meanwhile.
    let second = env.spawn_relay();

    let writers = {
        let env = env.clone();
        tokio::spawn(async move { env.append_concurrently(8, 60).await })
    };
    env.wait_for_stream(100).await;
    first.kill().await;

    let head = writers.await.expect("writers");
    assert_eq!(head, 8 * 60);
    env.wait_for_stream(head).await;
    second.stop().await;
    assert_stream_matches_store(&env, &env.stream_messages().await, &env.all_events().await);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_checkpoint_behind_the_stream_republishes_nothing() {
    let env = TestEnv::start().await;
    let relay = env.spawn_relay();
    let head = env.append_concurrently(4, 40).await;
    env.wait_for_stream(head).await;
    relay.stop().await;

    // Lose the checkpoint, and let JetStream forget the message ids too, so only the relay's
    // reconcile with the stream's last message can prevent re-publishing from position 1.
    sqlx::query("UPDATE relay_checkpoint SET position = 0").execute(&env.pool).await.expect("reset the checkpoint");
    let mut config = cashflow_bus::jetstream::events_stream_config(&env.names);
    config.duplicate_window = Duration::from_millis(500);
    env.jetstream.update_stream(config).await.expect("shrink the duplicate window");
    tokio::time::sleep(Duration::from_secs(2)).await;

    let relay = env.spawn_relay();
    let head = env.append_concurrently(4, 10).await;
    assert_eq!(head, 4 * 40 + 4 * 10);
    env.wait_for_stream(head).await;
    relay.stop().await;

    assert_stream_matches_store(&env, &env.stream_messages().await, &env.all_events().await);
    assert_eq!(env.relay_checkpoint().await, Some(head as i64));
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_publish_refused_mid_window_lets_no_later_event_overtake_it() {
    let env = TestEnv::start().await;
    let relay = env.spawn_relay();
    let head = env.append_concurrently(1, 5).await;
    env.wait_for_stream(head).await;

    // The server now refuses big messages. One commit of 20 events, the 10th big, reaches the
    // relay as one window: the big one fails, and the ones behind it must not land before it.
    // The relay's reconcile re-declares the stream (lifting the limit), so it then gets through.
    let mut config = cashflow_bus::jetstream::events_stream_config(&env.names);
    config.max_message_size = 4096;
    env.jetstream.update_stream(config).await.expect("limit the message size");
    let events = (0..20)
        .map(|index| NewEvent {
            event_id: Uuid::now_v7(),
            event_type: "Recorded".into(),
            schema_version: 1,
            payload: if index == 9 { json!({ "blob": "x".repeat(8192) }) } else { json!({ "index": index }) },
        })
        .collect();
    let owner = Uuid::now_v7();
    env.store
        .append(AppendRequest {
            stream_id: format!("movement-{}", Uuid::now_v7()),
            expected_version: ExpectedVersion::NoStream,
            metadata: CommandMetadata {
                owner,
                command_id: Uuid::now_v7(),
                correlation_id: Uuid::now_v7(),
                causation_id: None,
                traceparent: None,
            },
            guards: Vec::new(),
            events,
        })
        .await
        .expect("append");
    env.wait_for_stream(head + 20).await;
    relay.stop().await;
    assert_stream_matches_store(&env, &env.stream_messages().await, &env.all_events().await);
    env.cleanup().await;
}
