//! The per-test environment: a fresh database, a fresh NATS prefix, writers and stream readers.

use async_nats::jetstream::{self, message::StreamMessage};
use cashflow_bus::names::headers;
use cashflow_bus::{BusError, BusNames, Relay, RelayConfig};
use cashflow_eventstore::{
    AppendRequest, CommandMetadata, EventStore, ExpectedVersion, NewEvent, PgEventStore, RecordedEvent,
};
use cashflow_testkit::{NATS_URL, NatsPrefix, TestDatabase};
use futures::future::BoxFuture;
use sqlx::postgres::PgPool;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use uuid::Uuid;

/// A bound on how long a test waits for the system to get somewhere, not a timing assertion.
pub const PATIENCE: Duration = Duration::from_secs(90);

#[derive(Clone)]
pub struct TestEnv {
    pub pool: PgPool,
    pub store: Arc<PgEventStore>,
    pub jetstream: jetstream::Context,
    pub names: BusNames,
    // Dropped with the last clone: the database and the events stream go with them.
    _database: Arc<TestDatabase>,
    _prefix: Arc<NatsPrefix>,
}

impl TestEnv {
    pub async fn start() -> Self {
        let database = TestDatabase::create().await;
        let pool = database.pool(30).await;
        PgEventStore::migrate(&pool).await.expect("event store migrations");
        cashflow_bus::migrate(&pool).await.expect("bus migrations");
        // Twice: migrations must be idempotent.
        cashflow_bus::migrate(&pool).await.expect("bus migrations, again");
        let store = Arc::new(PgEventStore::new(pool.clone()));
        let jetstream = cashflow_bus::connect(NATS_URL).await.expect("connect to NATS");
        let prefix = NatsPrefix::new();
        let names = BusNames::new(prefix.as_str()).expect("a valid prefix");
        Self { pool, store, jetstream, names, _database: Arc::new(database), _prefix: Arc::new(prefix) }
    }

    pub fn relay(&self) -> Relay {
        // Small windows and short waits, so a test run crosses many windows and retries quickly.
        let config = RelayConfig {
            window: 64,
            idle_wait: Duration::from_millis(500),
            retry_delay: Duration::from_millis(200),
            ..RelayConfig::default()
        };
        Relay::new(self.store.clone(), self.pool.clone(), self.jetstream.clone(), self.names.clone())
            .with_config(config)
    }

    pub fn spawn_relay(&self) -> Running {
        let relay = self.relay();
        Running::spawn(move |stop| relay.run(stop))
    }

    /// `writers` concurrent writers, each appending `appends` single-event commands to its own
    /// stream. Returns the store's head afterwards.
    pub async fn append_concurrently(&self, writers: usize, appends: usize) -> u64 {
        let mut tasks = JoinSet::new();
        for writer in 0..writers {
            let store = self.store.clone();
            tasks.spawn(async move { write(store, writer, appends).await });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("writer task");
        }
        self.store.head().await.expect("store head")
    }

    pub async fn all_events(&self) -> Vec<RecordedEvent> {
        let mut events = Vec::new();
        loop {
            let after = events.last().map_or(0, |event: &RecordedEvent| event.position);
            let page = self.store.read_all(after, 1000).await.expect("read the store");
            if page.is_empty() {
                return events;
            }
            events.extend(page);
        }
    }

    pub async fn stream(&self) -> jetstream::stream::Stream {
        self.jetstream.get_stream(self.names.events_stream()).await.expect("the events stream")
    }

    /// Waits until the events stream's last message carries `position` or a later one.
    pub async fn wait_for_stream(&self, position: u64) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while self.stream_last_position().await < position {
            assert!(tokio::time::Instant::now() < deadline, "the stream never reached position {position}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stream_last_position(&self) -> u64 {
        let Ok(stream) = self.jetstream.get_stream(self.names.events_stream()).await else {
            return 0;
        };
        let last = stream.cached_info().state.last_sequence;
        if last == 0 {
            return 0;
        }
        let message = stream.get_raw_message(last).await.expect("the last stream message");
        message.headers.get(headers::POSITION).expect("a position header").as_str().parse().expect("a position")
    }

    /// Every message in the events stream, by sequence from 1.
    pub async fn stream_messages(&self) -> Vec<StreamMessage> {
        let stream = self.stream().await;
        let last = stream.cached_info().state.last_sequence;
        let mut messages = Vec::new();
        for sequence in 1..=last {
            messages.push(stream.get_raw_message(sequence).await.expect("a stream message"));
        }
        messages
    }

    pub async fn relay_checkpoint(&self) -> Option<i64> {
        sqlx::query_scalar("SELECT position FROM relay_checkpoint WHERE stream = $1")
            .bind(self.names.events_stream())
            .fetch_optional(&self.pool)
            .await
            .expect("read the relay checkpoint")
    }

    /// Closes the pool; the database and the events stream go when the last clone does.
    pub async fn cleanup(self) {
        self.pool.close().await;
    }
}

async fn write(store: Arc<PgEventStore>, writer: usize, appends: usize) {
    let category = if writer.is_multiple_of(2) { "movement" } else { "account" };
    let stream_id = format!("{category}-{}", Uuid::now_v7());
    let owner = Uuid::now_v7();
    for index in 0..appends {
        let request = AppendRequest {
            stream_id: stream_id.clone(),
            expected_version: if index == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(index as u64) },
            metadata: CommandMetadata {
                owner,
                command_id: Uuid::now_v7(),
                correlation_id: Uuid::now_v7(),
                causation_id: None,
                traceparent: (!index.is_multiple_of(3))
                    .then(|| format!("00-{}-{:016x}-01", Uuid::now_v7().simple(), (writer * 1000 + index) as u64 + 1)),
            },
            guards: Vec::new(),
            events: vec![NewEvent {
                event_id: Uuid::now_v7(),
                event_type: if index.is_multiple_of(2) { "Recorded".into() } else { "Renamed".into() },
                schema_version: 1,
                payload: serde_json::json!({ "writer": writer, "index": index }),
            }],
        };
        store.append(request).await.expect("append");
    }
}

/// A spawned relay or runner with its shutdown trigger.
pub struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), BusError>>,
}

impl Running {
    pub fn spawn<F, Fut>(run: F) -> Self
    where
        F: FnOnce(BoxFuture<'static, ()>) -> Fut,
        Fut: Future<Output = Result<(), BusError>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(Box::pin(async move {
            let _ = stopped.await;
        })));
        Self { stop, task }
    }

    /// Graceful shutdown; the run must end without error.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let result = tokio::time::timeout(PATIENCE, self.task).await.expect("stops in time").expect("task");
        result.expect("ran without error");
    }

    /// A crash: the task is dropped wherever it is.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}
