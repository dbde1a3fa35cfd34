//! The projector runner: feeds one [`Projection`] from its durable JetStream consumer with an
//! exactly-once effect on the read model.
//!
//! Each batch runs in one transaction that first locks the projection's checkpoint row: events
//! at or below the checkpoint are skipped (redeliveries, or applied by another replica), the
//! rest must follow it without a gap, and the checkpoint moves with them. Only after the commit
//! is the batch acked (ack policy "all", so acking the highest sequence acks everything below,
//! which the checkpoint then covers). A gap (a message lost by the stream, or delivered to
//! another replica that has not committed yet) is filled from the event store directly.

use crate::error::BusError;
use crate::jetstream::ensure_events_stream;
use crate::names::{BusNames, decode_event};
use crate::shutdown::Shutdown;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, AckKind};
use cashflow_eventstore::{EventStore, RecordedEvent};
use cashflow_projection::{Gap, Projection, apply_in_order, first_gap, lock_checkpoint, save_checkpoint};
use futures::{FutureExt, StreamExt};
use sqlx::postgres::PgPool;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Events a projector applied, by projection.
pub const EVENTS_APPLIED: &str = "cashflow_projector_events_applied_total";
/// Seconds per batch (decode, apply, commit, ack), by projection and outcome.
pub const BATCH_DURATION: &str = "cashflow_projector_batch_duration_seconds";
/// Messages JetStream delivered more than once, by projection.
pub const REDELIVERIES: &str = "cashflow_projector_redeliveries_total";

/// Turns of the scheduler a batch waits for messages already on their way before it is applied.
const READY_TURNS: usize = 4;

/// Events read, and applied in one call, per step of a catch-up from the store.
const STORE_READ_BATCH: usize = 1000;

/// How a runner batches and retries.
#[derive(Debug, Clone)]
pub struct ProjectorConfig {
    /// Most messages applied in one transaction.
    pub max_batch: usize,
    /// How long to keep gathering a batch after its first message, but only while busy (the
    /// last batch found messages already waiting behind its first). An idle projector applies
    /// a lone message at once: a fixed linger was the floor of every read-your-writes (ADR 0027).
    pub busy_linger: Duration,
    /// Back-off after a failure, and the delay before a nak'ed message comes back.
    pub retry_delay: Duration,
    /// Delivered-but-unacked messages the server allows; large, since only the last is acked.
    pub max_ack_pending: i64,
    /// How long the server waits for an ack before redelivering.
    pub ack_wait: Duration,
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        Self {
            max_batch: 500,
            busy_linger: Duration::ZERO,
            retry_delay: Duration::from_secs(1),
            max_ack_pending: 20_000,
            ack_wait: Duration::from_secs(30),
        }
    }
}

/// Runs one projection as the durable pull consumer `<prefix>_<name>`; see the module docs.
/// Several replicas of one projection may run at once.
pub struct ProjectorRunner {
    projection: Arc<dyn Projection>,
    pool: PgPool,
    store: Arc<dyn EventStore>,
    jetstream: jetstream::Context,
    names: BusNames,
    config: ProjectorConfig,
}

impl ProjectorRunner {
    pub fn new(
        projection: Arc<dyn Projection>,
        pool: PgPool,
        store: Arc<dyn EventStore>,
        jetstream: jetstream::Context,
        names: BusNames,
    ) -> Self {
        Self { projection, pool, store, jetstream, names, config: ProjectorConfig::default() }
    }

    pub fn with_config(mut self, config: ProjectorConfig) -> Self {
        self.config = config;
        self
    }

    /// Runs until `shutdown` resolves, then finishes the current batch and returns. Failures
    /// are logged and retried (a failing event is retried forever rather than skipped).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), BusError> {
        let name = self.projection.name();
        let mut shutdown = Shutdown::new(shutdown);
        loop {
            if shutdown.requested() {
                return Ok(());
            }
            let mut messages = match self.subscribe().await {
                Ok(messages) => messages,
                Err(err) if err.is_transient() => {
                    tracing::warn!(projection = name, error = %err, "cannot subscribe; retrying");
                    shutdown.sleep(self.config.retry_delay).await;
                    continue;
                }
                Err(err) => return Err(err),
            };
            let mut busy = false;
            loop {
                let first = tokio::select! {
                    () = shutdown.wait() => return Ok(()),
                    next = messages.next() => next,
                };
                let first = match first {
                    Some(Ok(message)) => message,
                    Some(Err(err)) => {
                        tracing::warn!(projection = name, error = %err, "consumer failed; subscribing again");
                        break;
                    }
                    None => {
                        tracing::warn!(projection = name, "consumer ended; subscribing again");
                        break;
                    }
                };
                let batch = self.gather(first, &mut messages, busy).await;
                busy = batch.len() > 1;
                if self.handle_batch(batch).await.is_err() && shutdown.sleep(self.config.retry_delay).await {
                    return Ok(());
                }
            }
            shutdown.sleep(self.config.retry_delay).await;
        }
    }

    /// The durable consumer's message stream, creating the stream and consumer when missing.
    #[tracing::instrument(name = "projector.subscribe", skip(self), fields(projection = self.projection.name()), err)]
    async fn subscribe(&self) -> Result<pull::Stream, BusError> {
        ensure_events_stream(&self.jetstream, &self.names).await?;
        let durable = self.names.durable_consumer(self.projection.name());
        let stream = self
            .jetstream
            .get_stream_no_info(self.names.events_stream())
            .await
            .map_err(|err| BusError::nats("opening the events stream", err))?;
        let consumer: PullConsumer = stream
            .get_or_create_consumer(
                &durable,
                pull::Config {
                    durable_name: Some(durable.clone()),
                    description: Some(format!("projection {}", self.projection.name())),
                    filter_subject: self.names.events_filter(),
                    deliver_policy: DeliverPolicy::All,
                    ack_policy: AckPolicy::All,
                    ack_wait: self.config.ack_wait,
                    max_ack_pending: self.config.max_ack_pending,
                    ..Default::default()
                },
            )
            .await
            .map_err(|err| BusError::nats("creating the projection's consumer", err))?;
        consumer
            .stream()
            .max_messages_per_batch(self.config.max_batch)
            .messages()
            .await
            .map_err(|err| BusError::nats("pulling from the projection's consumer", err))
    }

    /// Collects up to `max_batch` messages: the first, whatever is already waiting behind it
    /// (after a few turns of the scheduler, not a timer), and, only when `busy`, what arrives
    /// within `busy_linger`. Under load the messages that came in during the last apply are
    /// waiting, so batches grow with the load; an idle projector applies one message at once.
    async fn gather(
        &self,
        first: jetstream::Message,
        messages: &mut pull::Stream,
        busy: bool,
    ) -> Vec<jetstream::Message> {
        let mut batch = vec![first];
        let mut turns = 0;
        while batch.len() < self.config.max_batch {
            match messages.next().now_or_never() {
                Some(Some(Ok(message))) => batch.push(message),
                // Apply what arrived; the error shows again on the next read if it persists.
                Some(Some(Err(_)) | None) => return batch,
                // A message may be in the client's hands but not yet handed to this stream.
                None if turns < READY_TURNS => {
                    turns += 1;
                    tokio::task::yield_now().await;
                }
                None => break,
            }
        }
        if !busy || self.config.busy_linger.is_zero() {
            return batch;
        }
        let deadline = tokio::time::Instant::now() + self.config.busy_linger;
        while batch.len() < self.config.max_batch {
            match tokio::time::timeout_at(deadline, messages.next()).await {
                Ok(Some(Ok(message))) => batch.push(message),
                Ok(Some(Err(_)) | None) | Err(_) => break,
            }
        }
        batch
    }

    /// Applies a batch and acks it, or naks it on failure. Errors are already logged.
    ///
    /// The batch span serves many traces, so it links each message's context; each event's
    /// apply span is a child of its own message's context.
    #[tracing::instrument(
        name = "projector.batch",
        skip_all,
        fields(
            otel.name = %format_args!("process {}", self.names.durable_consumer(self.projection.name())),
            otel.kind = "consumer",
            messaging.system = "nats",
            messaging.operation = "process",
            messaging.destination.name = %self.names.events_filter(),
            messaging.consumer.group.name = %self.names.durable_consumer(self.projection.name()),
            messaging.batch.message_count = batch.len(),
            projection = self.projection.name(),
        )
    )]
    async fn handle_batch(&self, batch: Vec<jetstream::Message>) -> Result<(), BusError> {
        let started = std::time::Instant::now();
        let name = self.projection.name();
        let mut events = Vec::with_capacity(batch.len());
        let mut deliveries = Vec::with_capacity(batch.len());
        let mut contexts = HashMap::with_capacity(batch.len());
        let batch_span = tracing::Span::current();
        for message in batch {
            if message.info().is_ok_and(|info| info.delivered > 1) {
                metrics::counter!(REDELIVERIES, "projection" => name).increment(1);
            }
            match decode_event(&message.payload) {
                Ok(event) => {
                    let traceparent = message
                        .headers
                        .as_ref()
                        .and_then(|headers| headers.get(crate::names::headers::TRACEPARENT))
                        .map(|value| value.as_str().to_owned());
                    if let Some(traceparent) = traceparent {
                        cashflow_telemetry::propagation::add_link(&batch_span, &traceparent);
                        contexts.insert(event.position, traceparent);
                    }
                    events.push(event);
                    deliveries.push(message);
                }
                Err(err) => {
                    // Nothing to apply; the event's position is refilled from the store as a gap.
                    tracing::error!(projection = name, subject = %message.subject, error = %err, "dropping an undecodable message");
                    if let Err(err) = message.ack_with(AckKind::Term).await {
                        tracing::warn!(projection = name, error = %err, "cannot terminate a message");
                    }
                }
            }
        }
        let Some(target) = events.iter().map(|event| event.position).max() else {
            return Ok(());
        };
        // Redeliveries may arrive after newer messages: apply in position order.
        events.sort_by_key(|event| event.position);
        events.dedup_by_key(|event| event.position);

        let result = match self.apply(&events, &contexts).await {
            Ok(None) => Ok(()),
            Ok(Some(gap)) => {
                // Expected after a restart (messages delivered to the dead process come back
                // only after ack_wait) or with replicas; never skipped, so a warning.
                tracing::warn!(
                    projection = name,
                    expected = gap.expected,
                    found = gap.found,
                    "gap in the delivered events; catching up from the event store"
                );
                self.catch_up(target).await.map(|_| ())
            }
            Err(err) => Err(err),
        };

        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::histogram!(BATCH_DURATION, "projection" => name, "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(()) => {
                // Everything up to `target` is committed, and stream order is position order, so
                // acking the highest sequence (ack policy "all") acks nothing unapplied.
                let highest =
                    deliveries.iter().max_by_key(|message| message.info().map_or(0, |info| info.stream_sequence));
                if let Some(message) = highest
                    && let Err(err) = message.ack().await
                {
                    // Harmless: the batch comes back and is skipped.
                    tracing::warn!(projection = name, error = %err, "cannot ack a committed batch");
                }
                Ok(())
            }
            Err(err) => {
                tracing::error!(projection = name, error = %err, "batch rolled back; it will be redelivered");
                for message in &deliveries {
                    if let Err(err) = message.ack_with(AckKind::Nak(Some(self.config.retry_delay))).await {
                        tracing::debug!(projection = name, error = %err, "cannot nak a message; it comes back after ack_wait");
                    }
                }
                Err(err)
            }
        }
    }

    /// Applies the events (sorted by position) after the checkpoint in one transaction.
    /// Returns the gap instead, having applied nothing, when one does not follow the checkpoint.
    /// `contexts` holds the `traceparent` each event's message carried, by position.
    async fn apply(&self, events: &[RecordedEvent], contexts: &HashMap<u64, String>) -> Result<Option<Gap>, BusError> {
        let name = self.projection.name();
        let mut tx = self.pool.begin().await?;
        let checkpoint = lock_checkpoint(&mut tx, name).await?;
        let fresh = &events[events.partition_point(|event| event.position <= checkpoint)..];
        if let Some(gap) = first_gap(checkpoint, fresh) {
            tx.rollback().await?;
            return Ok(Some(gap));
        }
        // One consumer span per event, in its message's trace (ADR 0005), open while the batch
        // that holds it is applied.
        let spans: Vec<_> = fresh
            .iter()
            .map(|event| {
                let traceparent = contexts.get(&event.position).or(event.traceparent.as_ref());
                apply_span(&self.names, name, event, traceparent.map(String::as_str))
            })
            .collect();
        self.projection.apply_batch(&mut tx, fresh).await?;
        for (span, event) in spans.iter().zip(fresh) {
            span.in_scope(|| tracing::debug!(position = event.position, "event applied"));
        }
        let current = fresh.last().map_or(checkpoint, |event| event.position);
        if current > checkpoint {
            save_checkpoint(&mut tx, name, current).await?;
        }
        tx.commit().await?;
        metrics::counter!(EVENTS_APPLIED, "projection" => name).increment(current - checkpoint);
        Ok(None)
    }

    /// Applies events from the store until the checkpoint reaches `target`; returns it.
    #[tracing::instrument(name = "projector.catch_up", skip(self), fields(projection = self.projection.name()), err)]
    async fn catch_up(&self, target: u64) -> Result<u64, BusError> {
        let name = self.projection.name();
        loop {
            let mut tx = self.pool.begin().await?;
            let checkpoint = lock_checkpoint(&mut tx, name).await?;
            if checkpoint >= target {
                tx.commit().await?;
                return Ok(checkpoint);
            }
            let wanted = usize::try_from(target - checkpoint).unwrap_or(usize::MAX).min(STORE_READ_BATCH);
            let events = self.store.read_all(checkpoint, wanted).await?;
            if events.is_empty() {
                return Err(BusError::Corrupt(format!(
                    "the bus delivered position {target} but the event store ends at {checkpoint}"
                )));
            }
            // Each event gets a span in its command's trace while the batch that holds it is applied.
            let spans: Vec<_> =
                events.iter().map(|event| apply_span(&self.names, name, event, event.traceparent.as_deref())).collect();
            let position = apply_in_order(&mut tx, self.projection.as_ref(), checkpoint, &events).await?;
            drop(spans);
            save_checkpoint(&mut tx, name, position).await?;
            tx.commit().await?;
            metrics::counter!(EVENTS_APPLIED, "projection" => name).increment(position - checkpoint);
        }
    }
}

/// The consumer span of one event's apply: a child of the context its message carried (the
/// relay's publish), else of its stored command context, else of the batch.
fn apply_span(
    names: &BusNames,
    projection: &'static str,
    event: &RecordedEvent,
    traceparent: Option<&str>,
) -> tracing::Span {
    let batch = tracing::Span::current();
    let parent = if traceparent.is_some() { None } else { batch.id() };
    let span = tracing::info_span!(
        parent: parent,
        "projection.apply",
        otel.name = %format_args!("process {}", names.durable_consumer(projection)),
        otel.kind = "consumer",
        messaging.system = "nats",
        messaging.operation = "process",
        messaging.destination.name = %names.event_subject(event),
        messaging.consumer.group.name = %names.durable_consumer(projection),
        messaging.message.id = %event.event_id,
        projection,
        event_type = %event.event_type,
        position = event.position,
    );
    if let Some(traceparent) = traceparent {
        cashflow_telemetry::propagation::set_parent(&span, traceparent);
        // Back to the batch that applied it, which lives in a trace of its own.
        span.follows_from(&batch);
    }
    span
}
