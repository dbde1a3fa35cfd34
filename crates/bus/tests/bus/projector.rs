//! The projector runner: an exactly-once effect on the read model through failures, restarts,
//! replicas, gaps and rebuilds.

use crate::common::{PATIENCE, Running, TestEnv};
use async_trait::async_trait;
use cashflow_bus::{ProjectorConfig, ProjectorRunner};
use cashflow_eventstore::RecordedEvent;
use cashflow_projection::{CheckpointWatch, Projection, ProjectionError, read_checkpoint, rebuild};
use sqlx::{PgConnection, Row};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const NAME: &str = "counting";

/// Counts events per stream, and how many times each position was applied.
struct Counting {
    /// Fails the first attempt at this position, as a crashed or failing projection would.
    fail_once_at: Option<u64>,
    failed: AtomicBool,
}

impl Counting {
    fn new(fail_once_at: Option<u64>) -> Arc<Self> {
        Arc::new(Self { fail_once_at, failed: AtomicBool::new(false) })
    }

    async fn apply(&self, tx: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        if self.fail_once_at == Some(event.position) && !self.failed.swap(true, Ordering::SeqCst) {
            return Err(ProjectionError::Decode {
                event_type: event.event_type.clone(),
                position: event.position,
                reason: "injected failure".into(),
            });
        }
        sqlx::query(
            "INSERT INTO test_counts (stream_id, events) VALUES ($1, 1)
             ON CONFLICT (stream_id) DO UPDATE SET events = test_counts.events + 1",
        )
        .bind(&event.stream_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO test_applied (position, times) VALUES ($1, 1)
             ON CONFLICT (position) DO UPDATE SET times = test_applied.times + 1",
        )
        .bind(event.position as i64)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Projection for Counting {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn apply_batch(&self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        for event in events {
            self.apply(tx, event).await?;
        }
        Ok(())
    }

    async fn reset(&self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        sqlx::query("DELETE FROM test_counts").execute(&mut *tx).await?;
        sqlx::query("DELETE FROM test_applied").execute(&mut *tx).await?;
        Ok(())
    }
}

/// The same projection, with a reset that takes its time: a rebuild then holds its transaction
/// open while the live runner has events to apply.
struct SlowReset(Arc<Counting>);

#[async_trait]
impl Projection for SlowReset {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    async fn apply_batch(&self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        self.0.apply_batch(tx, events).await
    }

    async fn reset(&self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        self.0.reset(tx).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(())
    }
}

async fn create_tables(env: &TestEnv) {
    sqlx::query("CREATE TABLE test_counts (stream_id TEXT PRIMARY KEY, events BIGINT NOT NULL)")
        .execute(&env.pool)
        .await
        .expect("create test_counts");
    sqlx::query("CREATE TABLE test_applied (position BIGINT PRIMARY KEY, times INT NOT NULL)")
        .execute(&env.pool)
        .await
        .expect("create test_applied");
}

fn spawn_runner(env: &TestEnv, projection: Arc<Counting>) -> Running {
    let config = ProjectorConfig {
        max_batch: 100,
        retry_delay: Duration::from_millis(200),
        ack_wait: Duration::from_secs(5),
        ..ProjectorConfig::default()
    };
    let runner =
        ProjectorRunner::new(projection, env.pool.clone(), env.store.clone(), env.jetstream.clone(), env.names.clone())
            .with_config(config);
    Running::spawn(move |stop| runner.run(stop))
}

async fn counts(env: &TestEnv) -> BTreeMap<String, i64> {
    sqlx::query("SELECT stream_id, events FROM test_counts")
        .fetch_all(&env.pool)
        .await
        .expect("read test_counts")
        .iter()
        .map(|row| (row.get("stream_id"), row.get("events")))
        .collect()
}

/// Every stored event was applied exactly once, the per-stream counts agree with the store,
/// and the checkpoint is the head.
async fn assert_applied_once(env: &TestEnv) {
    let events = env.all_events().await;
    let applied: BTreeMap<i64, i32> = sqlx::query("SELECT position, times FROM test_applied")
        .fetch_all(&env.pool)
        .await
        .expect("read test_applied")
        .iter()
        .map(|row| (row.get("position"), row.get("times")))
        .collect();
    let missing: Vec<i64> =
        events.iter().map(|event| event.position as i64).filter(|position| !applied.contains_key(position)).collect();
    let repeated: Vec<(i64, i32)> = applied.iter().filter(|(_, times)| **times != 1).map(|(p, t)| (*p, *t)).collect();
    assert!(missing.is_empty(), "positions never applied: {missing:?}");
    assert!(repeated.is_empty(), "(position, times) applied more than once: {repeated:?}");
    assert_eq!(applied.len(), events.len(), "only stored positions were applied");

    let mut expected_counts = BTreeMap::new();
    for event in &events {
        *expected_counts.entry(event.stream_id.clone()).or_insert(0) += 1;
    }
    assert_eq!(counts(env).await, expected_counts);
    assert_eq!(read_checkpoint(&env.pool, NAME).await.expect("checkpoint"), events.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_event_is_applied_once_through_failures_restarts_and_replicas() {
    let env = TestEnv::start().await;
    create_tables(&env).await;
    let relay = env.spawn_relay();
    let projection = Counting::new(Some(37));
    let watch = CheckpointWatch::start(env.pool.clone(), NAME).await.expect("checkpoint watch");
    assert_eq!(watch.current(), 0);
    assert!(!watch.wait_for(1, Duration::from_millis(200)).await, "nothing is projected yet");

    // Phase 1: one runner, one injected failure (rolled back, nak'ed, redelivered).
    let first_head = 8 * 40;
    let waiter = {
        let watch = watch.clone();
        tokio::spawn(async move { watch.wait_for(first_head, PATIENCE).await })
    };
    let runner = spawn_runner(&env, projection.clone());
    assert_eq!(env.append_concurrently(8, 40).await, first_head);
    assert!(waiter.await.expect("waiter"), "wait_for wakes when the runner passes the position");
    assert!(watch.current() >= first_head);
    runner.stop().await;
    assert!(projection.failed.load(Ordering::SeqCst), "the injected failure happened");
    assert_applied_once(&env).await;

    // Phase 2: the consumer is recreated, so JetStream redelivers everything from sequence 1,
    // to two replicas at once while new events arrive.
    let stream = env.stream().await;
    stream.delete_consumer(&env.names.durable_consumer(NAME)).await.expect("delete the consumer");
    let replica_b = spawn_runner(&env, projection.clone());
    let replica_c = spawn_runner(&env, projection.clone());
    let second_head = env.append_concurrently(8, 40).await;
    assert!(watch.wait_for(second_head, PATIENCE).await, "replicas reach the head");

    // Phase 3: one replica crashes; the other carries on, across whatever B had in flight.
    replica_b.kill().await;
    let third_head = env.append_concurrently(4, 30).await;
    assert!(watch.wait_for(third_head, PATIENCE).await, "the surviving replica reaches the head");
    assert!(!watch.wait_for(third_head + 1, Duration::from_millis(200)).await, "no position past the head");
    replica_c.stop().await;
    relay.stop().await;
    assert_applied_once(&env).await;

    // A rebuild from position 0 gives the same read model.
    let live = counts(&env).await;
    let mut calls = Vec::new();
    let position = rebuild(&env.pool, env.store.as_ref(), projection.as_ref(), |done, head| calls.push((done, head)))
        .await
        .expect("rebuild");
    assert_eq!(position, third_head);
    assert_eq!(calls.first(), Some(&(0, third_head)));
    assert_eq!(calls.last(), Some(&(third_head, third_head)));
    assert_eq!(counts(&env).await, live);
    assert_applied_once(&env).await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_missing_from_the_stream_are_filled_from_the_event_store() {
    let env = TestEnv::start().await;
    create_tables(&env).await;
    let relay = env.spawn_relay();
    let head = env.append_concurrently(4, 25).await;
    env.wait_for_stream(head).await;
    relay.stop().await;

    let stream = env.stream().await;
    for sequence in [1, 10, 11, 50] {
        assert!(stream.delete_message(sequence).await.expect("delete a message"), "deleted {sequence}");
    }
    let watch = CheckpointWatch::start(env.pool.clone(), NAME).await.expect("checkpoint watch");
    let runner = spawn_runner(&env, Counting::new(None));
    assert!(watch.wait_for(head, PATIENCE).await, "the runner reaches the head");
    runner.stop().await;
    assert_applied_once(&env).await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_while_the_runner_is_live_leaves_each_event_applied_once() {
    let env = TestEnv::start().await;
    create_tables(&env).await;
    let relay = env.spawn_relay();
    let projection = Counting::new(None);
    let runner = spawn_runner(&env, projection.clone());
    let writers = {
        let env = env.clone();
        tokio::spawn(async move { env.append_concurrently(8, 50).await })
    };
    let slow = SlowReset(projection.clone());
    let mut rebuilds = 0;
    while !writers.is_finished() || rebuilds == 0 {
        rebuild(&env.pool, env.store.as_ref(), &slow, |_, _| {}).await.expect("rebuild");
        rebuilds += 1;
    }
    let head = writers.await.expect("writers");
    let watch = CheckpointWatch::start(env.pool.clone(), NAME).await.expect("checkpoint watch");
    assert!(watch.wait_for(head, PATIENCE).await, "the live runner carries on after the rebuilds");
    runner.stop().await;
    relay.stop().await;
    assert_applied_once(&env).await;
    env.cleanup().await;
}
