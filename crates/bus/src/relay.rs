//! The relay: tails the event store in commit order and publishes every event to JetStream,
//! exactly once and in order.
//!
//! Order is kept by the server, not by hope: each publish carries a guard on what the stream's
//! last message must be (the previous event's id, or after a reconcile the stream's last
//! sequence). If one publish of a pipelined window fails, every later one in the window is
//! refused, and the relay reconciles with the stream and resumes from the first missing event.
//! Duplicates are refused the same way, and within [`DUPLICATE_WINDOW`](crate::DUPLICATE_WINDOW)
//! also by `Nats-Msg-Id`.

use crate::error::BusError;
use crate::jetstream::ensure_events_stream;
use crate::names::{BusNames, encode_event, headers};
use crate::shutdown::Shutdown;
use async_nats::jetstream;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::{PublishMessage, StreamMessage};
use async_nats::jetstream::stream::RawMessageErrorKind;
use cashflow_eventstore::{EventStore, RecordedEvent};
use sqlx::postgres::PgPool;
use sqlx::{Connection, PgConnection, Row};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;
use uuid::Uuid;

/// Session advisory lock key ("cashflow" in ASCII): one relay per database at a time.
const RELAY_LOCK_KEY: i64 = 0x6361_7368_666c_6f77;

/// How the relay paces itself.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Events published before awaiting their acks.
    pub window: usize,
    /// Longest wait for new events before the relay checks its lock again.
    pub idle_wait: Duration,
    /// Back-off after a failure, and the retry period while another relay holds the lock.
    pub retry_delay: Duration,
    /// How often the lock's connection is checked to be alive.
    pub lock_check_every: Duration,
    /// Longest a published position waits to be saved as the checkpoint while events keep
    /// coming; it is saved at once when the relay catches up or stops.
    pub checkpoint_every: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            window: 500,
            idle_wait: Duration::from_secs(5),
            retry_delay: Duration::from_secs(1),
            lock_check_every: Duration::from_secs(5),
            // Saved after every window, the checkpoint was one commit per group commit of the
            // store under load; the stream, not the checkpoint, is the truth (see `reconcile`).
            checkpoint_every: Duration::from_secs(1),
        }
    }
}

/// Publishes the event store to the JetStream events stream; see the module docs.
pub struct Relay {
    store: Arc<dyn EventStore>,
    pool: PgPool,
    jetstream: jetstream::Context,
    names: BusNames,
    config: RelayConfig,
}

/// What the stream's last message must be for the next publish to be accepted.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Right after a reconcile: the sequence read from the stream. Works on an empty stream and
    /// after a server restart, when the server no longer knows the last message id.
    LastSequence(u64),
    /// Within a run: the previous event, which this relay has just published.
    LastMsgId(Uuid),
}

/// Where publishing resumes: after `after`, with the guard for the first publish.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    after: u64,
    expect: Expect,
}

/// The stream's last message as far as the relay is concerned.
#[derive(Debug, Clone, Copy)]
struct StreamTail {
    sequence: u64,
    /// `Cashflow-Position` of the last message; 0 when the stream holds none.
    position: u64,
}

impl Relay {
    pub fn new(store: Arc<dyn EventStore>, pool: PgPool, jetstream: jetstream::Context, names: BusNames) -> Self {
        Self { store, pool, jetstream, names, config: RelayConfig::default() }
    }

    pub fn with_config(mut self, config: RelayConfig) -> Self {
        self.config = config;
        self
    }

    /// Runs until `shutdown` resolves: then finishes the current window, saves the checkpoint
    /// and returns. Transient NATS and PostgreSQL failures are logged and retried; an error is
    /// returned only for what retrying cannot fix (corrupt data).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), BusError> {
        let mut shutdown = Shutdown::new(shutdown);
        loop {
            let Some(mut lock) = self.acquire_lock(&mut shutdown).await else {
                return Ok(());
            };
            let result = self.relay_while_locked(&mut lock, &mut shutdown).await;
            lock.release().await;
            match result {
                Ok(()) => return Ok(()),
                Err(err) if err.is_transient() => {
                    tracing::warn!(error = %err, "relay lost its lock connection; acquiring again");
                    if shutdown.sleep(self.config.retry_delay).await {
                        return Ok(());
                    }
                }
                Err(err) => {
                    tracing::error!(error = %err, "relay stopped");
                    return Err(err);
                }
            }
        }
    }

    /// Retries every `retry_delay` while another relay holds the lock; `None` on shutdown.
    async fn acquire_lock<F: Future<Output = ()>>(&self, shutdown: &mut Shutdown<F>) -> Option<RelayLock> {
        let mut connection: Option<PgConnection> = None;
        let mut reported = false;
        loop {
            if shutdown.requested() {
                return None;
            }
            match RelayLock::try_acquire(&self.pool, &mut connection).await {
                Ok(true) => {
                    tracing::info!(stream = %self.names.events_stream(), "relay lock acquired");
                    let connection = connection.take()?;
                    return Some(RelayLock { connection, checked_at: Instant::now() });
                }
                Ok(false) if !reported => {
                    tracing::info!("another relay holds the lock; waiting");
                    reported = true;
                }
                Ok(false) => {}
                Err(err) => {
                    connection = None;
                    tracing::warn!(error = %err, "cannot try the relay lock");
                }
            }
            if shutdown.sleep(self.config.retry_delay).await {
                return None;
            }
        }
    }

    /// The relay proper. Returns `Ok` on shutdown, a transient error when the lock's
    /// connection failed, any other error when retrying cannot help.
    async fn relay_while_locked<F: Future<Output = ()>>(
        &self,
        lock: &mut RelayLock,
        shutdown: &mut Shutdown<F>,
    ) -> Result<(), BusError> {
        let mut cursor: Option<Cursor> = None;
        let mut checkpoint = Checkpoint { unsaved: None, saved_at: Instant::now() };
        loop {
            if shutdown.requested() {
                self.flush_checkpoint(&mut checkpoint).await;
                return Ok(());
            }
            lock.keep_alive(self.config.lock_check_every).await?;
            let current = match cursor {
                Some(current) => current,
                None => match self.reconcile().await {
                    Ok(current) => current,
                    Err(err) => {
                        self.back_off(err, shutdown).await?;
                        continue;
                    }
                },
            };
            cursor = Some(current);

            let events = match self.store.read_all(current.after, self.config.window).await {
                Ok(events) => events,
                Err(err) => {
                    self.back_off(err.into(), shutdown).await?;
                    continue;
                }
            };
            if events.is_empty() {
                self.flush_checkpoint(&mut checkpoint).await;
                tokio::select! {
                    () = shutdown.wait() => return Ok(()),
                    waited = self.store.wait_for_events(current.after, self.config.idle_wait) => {
                        if let Err(err) = waited {
                            self.back_off(err.into(), shutdown).await?;
                        }
                    }
                }
                continue;
            }

            let (acked, failure) = self.publish_window(&events, current.expect).await;
            if let Some(last) = acked.checked_sub(1).and_then(|index| events.get(index)) {
                cursor = Some(Cursor { after: last.position, expect: Expect::LastMsgId(last.event_id) });
                // The checkpoint only shortens the next reconcile; the stream itself is the truth.
                checkpoint.unsaved = Some(last.position);
                if checkpoint.saved_at.elapsed() >= self.config.checkpoint_every {
                    self.flush_checkpoint(&mut checkpoint).await;
                }
            }
            if let Some(err) = failure {
                // Some of the window may have landed without an ack: ask the stream.
                cursor = None;
                self.back_off(err, shutdown).await?;
            }
        }
    }

    /// Logs a transient error and sleeps; returns any other error. A shutdown during the
    /// sleep is noticed by the caller's next check.
    async fn back_off<F: Future<Output = ()>>(
        &self,
        err: BusError,
        shutdown: &mut Shutdown<F>,
    ) -> Result<(), BusError> {
        if !err.is_transient() {
            return Err(err);
        }
        tracing::warn!(error = %err, "relay step failed; retrying");
        shutdown.sleep(self.config.retry_delay).await;
        Ok(())
    }

    /// Resumes after max(saved checkpoint, position of the stream's last message).
    #[tracing::instrument(name = "relay.reconcile", skip(self), fields(stream = %self.names.events_stream()), err)]
    async fn reconcile(&self) -> Result<Cursor, BusError> {
        let tail = self.stream_tail().await?;
        let checkpoint = self.read_checkpoint().await?;
        if checkpoint > tail.position {
            tracing::warn!(
                checkpoint,
                stream_position = tail.position,
                "the relay checkpoint is ahead of the stream: JetStream lost events; projectors catch up from the store"
            );
        }
        let after = checkpoint.max(tail.position);
        tracing::info!(after, checkpoint, stream_position = tail.position, "relay resumes");
        Ok(Cursor { after, expect: Expect::LastSequence(tail.sequence) })
    }

    /// The stream's last sequence and the position its last message carries.
    async fn stream_tail(&self) -> Result<StreamTail, BusError> {
        ensure_events_stream(&self.jetstream, &self.names).await?;
        let stream = self
            .jetstream
            .get_stream(self.names.events_stream())
            .await
            .map_err(|err| BusError::nats("reading the events stream's info", err))?;
        let sequence = stream.cached_info().state.last_sequence;
        if sequence == 0 {
            return Ok(StreamTail { sequence, position: 0 });
        }
        match stream.raw_message_builder().sequence(sequence).send().await {
            Ok(message) => Ok(StreamTail { sequence, position: message_position(&message)? }),
            // Purged or deleted: nothing to compare with, so the checkpoint decides.
            Err(err) if err.kind() == RawMessageErrorKind::NoMessageFound => Ok(StreamTail { sequence, position: 0 }),
            Err(err) => Err(BusError::nats("reading the events stream's last message", err)),
        }
    }

    /// Publishes the window pipelined, then awaits every ack. Returns how many events from the
    /// start of the window are acknowledged, and the first failure, if any.
    #[tracing::instrument(
        name = "relay.publish_window",
        skip_all,
        fields(first = events.first().map(|e| e.position), count = events.len())
    )]
    async fn publish_window(&self, events: &[RecordedEvent], expect: Expect) -> (usize, Option<BusError>) {
        let mut pending = Vec::with_capacity(events.len());
        let mut failure = None;
        let mut expect = expect;
        for event in events {
            let subject = self.names.event_subject(event);
            let span = publish_span(&subject, event);
            // Consumers continue the publish span, which continues the command that stored the event.
            let traceparent = cashflow_telemetry::propagation::traceparent(&span).or_else(|| event.traceparent.clone());
            let message = match publish_message(event, traceparent.as_deref(), expect) {
                Ok(message) => message,
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            };
            match self.jetstream.send_publish(subject, message).instrument(span.clone()).await {
                Ok(ack) => pending.push(ack),
                Err(err) => {
                    span.record("otel.status_code", "ERROR");
                    failure = Some(BusError::nats("publishing an event", err));
                    break;
                }
            }
            expect = Expect::LastMsgId(event.event_id);
        }

        // All at once: each ack has its own timeout, and none may still be in flight when the
        // caller reconciles.
        let mut acked = 0;
        let mut ack_failure = None;
        for (index, result) in
            futures::future::join_all(pending.into_iter().map(|ack| ack.into_future())).await.into_iter().enumerate()
        {
            match result {
                Ok(_) if ack_failure.is_none() => acked = index + 1,
                Ok(_) => {}
                Err(err) if ack_failure.is_none() => {
                    let position = events.get(index).map_or(0, |event| event.position);
                    if matches!(err.kind(), PublishErrorKind::WrongLastMessageId | PublishErrorKind::WrongLastSequence)
                    {
                        tracing::info!(position, error = %err, "the stream is not where the relay expected it");
                    }
                    ack_failure = Some(BusError::nats("awaiting a publish ack", err));
                }
                Err(_) => {}
            }
        }
        metrics::counter!(PUBLISHED).increment(acked as u64);
        (acked, ack_failure.or(failure))
    }

    #[tracing::instrument(name = "relay.read_checkpoint", skip(self), err)]
    async fn read_checkpoint(&self) -> Result<u64, BusError> {
        let row = sqlx::query("SELECT position FROM relay_checkpoint WHERE stream = $1")
            .bind(self.names.events_stream())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => {
                let position: i64 = row.try_get("position")?;
                u64::try_from(position).map_err(|_| BusError::Corrupt(format!("negative relay position {position}")))
            }
            None => Ok(0),
        }
    }

    /// Saves the last published position, if it is not saved yet. A failure is logged and
    /// the position stays unsaved for the next try.
    async fn flush_checkpoint(&self, checkpoint: &mut Checkpoint) {
        let Some(position) = checkpoint.unsaved else { return };
        match self.save_checkpoint(position).await {
            Ok(()) => *checkpoint = Checkpoint { unsaved: None, saved_at: Instant::now() },
            Err(err) => tracing::warn!(error = %err, position, "cannot save the relay checkpoint"),
        }
    }

    #[tracing::instrument(name = "relay.save_checkpoint", skip(self), err)]
    async fn save_checkpoint(&self, position: u64) -> Result<(), BusError> {
        let position = i64::try_from(position)
            .map_err(|_| BusError::Corrupt(format!("position {position} does not fit a BIGINT")))?;
        sqlx::query(
            "INSERT INTO relay_checkpoint (stream, position, updated_at) VALUES ($1, $2, now())
             ON CONFLICT (stream) DO UPDATE SET position = EXCLUDED.position, updated_at = now()",
        )
        .bind(self.names.events_stream())
        .bind(position)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// The relay's progress as saved in `relay_checkpoint`.
struct Checkpoint {
    /// Published and acknowledged, not saved yet.
    unsaved: Option<u64>,
    saved_at: Instant,
}

/// Events the relay published and JetStream acknowledged.
pub const PUBLISHED: &str = "cashflow_relay_published_total";

/// The producer span of one event's publish: a child of the command that stored the event
/// (its stored `traceparent`), or of the window when the event has none.
fn publish_span(subject: &str, event: &RecordedEvent) -> tracing::Span {
    let continued = event.traceparent.is_some();
    let parent = if continued { None } else { tracing::Span::current().id() };
    let span = tracing::info_span!(
        parent: parent,
        "relay.publish",
        otel.name = %format_args!("publish {subject}"),
        otel.kind = "producer",
        otel.status_code = tracing::field::Empty,
        messaging.system = "nats",
        messaging.operation = "publish",
        messaging.destination.name = %subject,
        messaging.message.id = %event.event_id,
        event_type = %event.event_type,
        position = event.position,
    );
    if let Some(traceparent) = &event.traceparent {
        cashflow_telemetry::propagation::set_parent(&span, traceparent);
    }
    span
}

/// The message for one event: its JSON, the headers, and the ordering guard.
fn publish_message(
    event: &RecordedEvent,
    traceparent: Option<&str>,
    expect: Expect,
) -> Result<PublishMessage, BusError> {
    let mut message = PublishMessage::build()
        .payload(encode_event(event)?.into())
        .message_id(event.event_id.to_string())
        .header(headers::EVENT_TYPE, event.event_type.as_str())
        .header(headers::OWNER, event.owner.to_string())
        .header(headers::POSITION, event.position.to_string())
        .header(headers::STREAM_ID, event.stream_id.as_str());
    // A control character would break the NATS header block; a malformed trace id is just dropped.
    if let Some(traceparent) = traceparent.filter(|tp| tp.bytes().all(|b| b.is_ascii_graphic())) {
        message = message.header(headers::TRACEPARENT, traceparent);
    }
    Ok(match expect {
        Expect::LastSequence(sequence) => message.expected_last_sequence(sequence),
        Expect::LastMsgId(id) => message.expected_last_message_id(id.to_string()),
    })
}

/// The `Cashflow-Position` a relayed message carries.
pub(crate) fn message_position(message: &StreamMessage) -> Result<u64, BusError> {
    message.headers.get(headers::POSITION).and_then(|value| value.as_str().parse().ok()).ok_or_else(|| {
        BusError::Corrupt(format!(
            "stream message {} on {} has no valid {} header",
            message.sequence,
            message.subject,
            headers::POSITION
        ))
    })
}

/// A dedicated connection holding the session advisory lock; closing it releases the lock.
struct RelayLock {
    connection: PgConnection,
    checked_at: Instant,
}

impl RelayLock {
    /// Tries the lock on `connection`, opening one when there is none; true when held.
    #[tracing::instrument(name = "relay.try_lock", skip_all, err)]
    async fn try_acquire(pool: &PgPool, connection: &mut Option<PgConnection>) -> Result<bool, BusError> {
        let connection = match connection {
            Some(connection) => connection,
            None => connection.insert(pool.acquire().await?.detach()),
        };
        let row =
            sqlx::query("SELECT pg_try_advisory_lock($1) AS locked").bind(RELAY_LOCK_KEY).fetch_one(connection).await?;
        Ok(row.try_get("locked")?)
    }

    /// Checks the session is still alive (and so still holds the lock), at most once per `every`.
    async fn keep_alive(&mut self, every: Duration) -> Result<(), BusError> {
        if self.checked_at.elapsed() >= every {
            sqlx::query("SELECT 1").execute(&mut self.connection).await?;
            self.checked_at = Instant::now();
        }
        Ok(())
    }

    async fn release(self) {
        let mut connection = self.connection;
        if let Err(err) =
            sqlx::query("SELECT pg_advisory_unlock($1)").bind(RELAY_LOCK_KEY).execute(&mut connection).await
        {
            tracing::debug!(error = %err, "cannot unlock the relay lock; closing its connection releases it");
        }
        if let Err(err) = connection.close().await {
            tracing::debug!(error = %err, "cannot close the relay lock's connection");
        }
    }
}
