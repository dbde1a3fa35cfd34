//! The worker runner: feeds one application [`Worker`] (OCR, categoriser, …) from its durable
//! JetStream consumer. Several replicas share the consumer, so each message goes to one of them.
//!
//! A worker answers events with commands whose ids derive from the event, so the
//! at-least-once delivery here has an exactly-once effect. Each message is acked on its own
//! once handled; a long job sends "in progress" acks so it is not redelivered meanwhile. A
//! transient failure is retried after a delay; a permanent one, or the last retry, goes to
//! [`Worker::give_up`] (which records the failure) and is then terminated. An undecodable
//! message is terminated at once. Messages are handled concurrently, so a slow or failing one
//! never blocks the others.
//!
//! The delivery count is checked on every delivery, not only after a retry: a message whose
//! handling kills the process (an out-of-memory kill, a crash in a native library) is never
//! answered, comes back after `ack_wait`, and would crash-loop every replica. Its
//! `max_deliver`-th delivery goes to `give_up` without being handled (ADR 0013).

use crate::error::BusError;
use crate::jetstream::ensure_events_stream;
use crate::names::{BusNames, decode_event};
use crate::shutdown::Shutdown;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, AckKind};
use cashflow_app::{WorkError, Worker};
use futures::StreamExt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Messages a worker handled, by worker and outcome (`ok`, `retry`, `gave_up`, `poison`).
pub const MESSAGES_HANDLED: &str = "cashflow_worker_messages_total";
/// Seconds per handled message, by worker.
pub const HANDLE_DURATION: &str = "cashflow_worker_handle_duration_seconds";

/// How a worker consumes.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Messages handled at once by this process.
    pub concurrency: usize,
    /// How long the server waits for an ack (or progress) before redelivering to a replica.
    pub ack_wait: Duration,
    /// Deliveries of one message, at least 2: all but the last may handle it (a transient
    /// failure on the last of those gives up at once); the last only gives up, so a message
    /// whose earlier deliveries never finished (they crashed the process) is recorded as failed
    /// rather than handled again. The consumer allows [`GIVE_UP_DELIVERIES`] more, for giving up.
    pub max_deliver: i64,
    /// Delay before a transiently failed event comes back.
    pub retry_delay: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self { concurrency: 4, ack_wait: Duration::from_secs(30), max_deliver: 5, retry_delay: Duration::from_secs(2) }
    }
}

/// Deliveries the server allows past `max_deliver`, so that a `give_up` that could not be
/// recorded (the store was down) is tried again. Past them the server drops the message.
pub const GIVE_UP_DELIVERIES: i64 = 10;

impl WorkerConfig {
    /// [`WorkerConfig::max_deliver`] as the runner applies it.
    fn deliveries(&self) -> i64 {
        self.max_deliver.max(2)
    }
}

/// Runs one worker as the durable pull consumer `<prefix>_<name>`; see the module docs.
pub struct WorkerRunner {
    worker: Arc<dyn Worker>,
    jetstream: jetstream::Context,
    names: BusNames,
    config: WorkerConfig,
}

impl WorkerRunner {
    pub fn new(worker: Arc<dyn Worker>, jetstream: jetstream::Context, names: BusNames) -> Self {
        Self { worker, jetstream, names, config: WorkerConfig::default() }
    }

    pub fn with_config(mut self, config: WorkerConfig) -> Self {
        self.config = config;
        self
    }

    /// Runs until `shutdown` resolves, then stops pulling and waits for the jobs in hand.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), BusError> {
        let name = self.worker.name();
        let mut shutdown = Shutdown::new(shutdown);
        let slots = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut jobs = JoinSet::new();
        let result = 'subscriptions: loop {
            if shutdown.requested() {
                break Ok(());
            }
            let mut messages = match self.subscribe().await {
                Ok(messages) => messages,
                Err(err) if err.is_transient() => {
                    tracing::warn!(worker = name, error = %err, "cannot subscribe; retrying");
                    if shutdown.sleep(self.config.retry_delay).await {
                        break Ok(());
                    }
                    continue;
                }
                Err(err) => break Err(err),
            };
            loop {
                // A free slot first, so this process pulls no more than it can work on.
                let slot = tokio::select! {
                    () = shutdown.wait() => break 'subscriptions Ok(()),
                    slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                };
                let next = tokio::select! {
                    () = shutdown.wait() => break 'subscriptions Ok(()),
                    next = messages.next() => next,
                };
                let message = match next {
                    Some(Ok(message)) => message,
                    Some(Err(err)) => {
                        tracing::warn!(worker = name, error = %err, "consumer failed; subscribing again");
                        break;
                    }
                    None => {
                        tracing::warn!(worker = name, "consumer ended; subscribing again");
                        break;
                    }
                };
                let worker = self.worker.clone();
                let config = self.config.clone();
                jobs.spawn(async move {
                    handle_message(worker.as_ref(), &config, message).await;
                    drop(slot);
                });
                // Reap finished jobs so the set stays small.
                while jobs.try_join_next().is_some() {}
            }
            if shutdown.sleep(self.config.retry_delay).await {
                break Ok(());
            }
        };
        while jobs.join_next().await.is_some() {}
        result
    }

    #[tracing::instrument(name = "worker.subscribe", skip(self), fields(worker = self.worker.name()), err)]
    async fn subscribe(&self) -> Result<pull::Stream, BusError> {
        ensure_events_stream(&self.jetstream, &self.names).await?;
        let durable = self.names.durable_consumer(self.worker.name());
        let mut subjects: Vec<String> = self
            .worker
            .events()
            .iter()
            .map(|(category, event_type)| self.names.event_type_subject(category, event_type))
            .collect();
        // One subject stays a `filter_subject`, as consumers made before several were possible.
        let (filter_subject, filter_subjects) =
            if subjects.len() == 1 { (subjects.remove(0), Vec::new()) } else { (String::new(), subjects) };
        let stream = self
            .jetstream
            .get_stream_no_info(self.names.events_stream())
            .await
            .map_err(|err| BusError::nats("opening the events stream", err))?;
        // Created, or updated to this configuration: a consumer of an older version had no
        // max_deliver, and a replica started with other settings takes the latest.
        let consumer: PullConsumer = stream
            .create_consumer(pull::Config {
                durable_name: Some(durable.clone()),
                description: Some(format!("worker {}", self.worker.name())),
                filter_subject,
                filter_subjects,
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::Explicit,
                ack_wait: self.config.ack_wait,
                // The runner gives up by itself before this; the margin lets a give-up that
                // failed be tried again.
                max_deliver: self.config.deliveries().saturating_add(GIVE_UP_DELIVERIES),
                max_ack_pending: i64::try_from(self.config.concurrency.max(1) * 4).unwrap_or(i64::MAX),
                ..Default::default()
            })
            .await
            .map_err(|err| BusError::nats("creating the worker's consumer", err))?;
        consumer
            .stream()
            .max_messages_per_batch(self.config.concurrency.max(1))
            .messages()
            .await
            .map_err(|err| BusError::nats("pulling from the worker's consumer", err))
    }
}

/// Handles one message to its ack, nak or termination; never fails (failures are logged).
async fn handle_message(worker: &dyn Worker, config: &WorkerConfig, message: jetstream::Message) {
    let name = worker.name();
    let event = match decode_event(&message.payload) {
        Ok(event) => event,
        Err(err) => {
            tracing::error!(worker = name, subject = %message.subject, error = %err, "terminating an undecodable message");
            metrics::counter!(MESSAGES_HANDLED, "worker" => name, "outcome" => "poison").increment(1);
            settle(name, &message, AckKind::Term).await;
            return;
        }
    };
    let delivered = message.info().map_or(1, |info| info.delivered);
    let span = tracing::info_span!(
        "worker.handle",
        otel.name = %format_args!("process {name}"),
        otel.kind = "consumer",
        messaging.system = "nats",
        messaging.operation = "process",
        worker = name,
        event_id = %event.event_id,
        stream_id = %event.stream_id,
        delivered,
    );
    if let Some(traceparent) = &event.traceparent {
        cashflow_telemetry::propagation::set_parent(&span, traceparent);
    }
    let deliveries = config.deliveries();
    let give_up_reason = if delivered >= deliveries {
        // Every earlier delivery ended without an answer, or its give-up was not recorded.
        format!("delivered {delivered} times without an outcome: handling it may crash the worker")
    } else {
        let started = std::time::Instant::now();
        let job = tracing::Instrument::instrument(worker.handle(&event), span.clone());
        let outcome = with_progress(&message, config.ack_wait, job).await;
        metrics::histogram!(HANDLE_DURATION, "worker" => name).record(started.elapsed().as_secs_f64());
        match outcome {
            Ok(()) => {
                metrics::counter!(MESSAGES_HANDLED, "worker" => name, "outcome" => "ok").increment(1);
                settle(name, &message, AckKind::Ack).await;
                return;
            }
            // The next delivery would be the last, which only gives up: give up now, with the reason.
            Err(WorkError::Retry(reason)) if delivered + 1 < deliveries => {
                tracing::warn!(parent: &span, worker = name, delivered, %reason, "handling failed; retrying later");
                metrics::counter!(MESSAGES_HANDLED, "worker" => name, "outcome" => "retry").increment(1);
                settle(name, &message, AckKind::Nak(Some(config.retry_delay))).await;
                return;
            }
            Err(WorkError::Retry(reason)) => format!("gave up after {delivered} attempts: {reason}"),
            Err(WorkError::Permanent(reason)) => reason,
        }
    };
    tracing::warn!(parent: &span, worker = name, delivered, reason = %give_up_reason, "giving up on an event");
    match tracing::Instrument::instrument(worker.give_up(&event, &give_up_reason), span.clone()).await {
        Ok(()) => {
            metrics::counter!(MESSAGES_HANDLED, "worker" => name, "outcome" => "gave_up").increment(1);
            settle(name, &message, AckKind::Term).await;
        }
        Err(err) => {
            tracing::warn!(parent: &span, worker = name, error = %err, "cannot record giving up; retrying later");
            settle(name, &message, AckKind::Nak(Some(config.retry_delay))).await;
        }
    }
}

/// Runs `job`, telling the server every half `ack_wait` that the message is still in hand.
async fn with_progress<T>(message: &jetstream::Message, ack_wait: Duration, job: impl Future<Output = T>) -> T {
    let mut job = std::pin::pin!(job);
    let mut ticks = tokio::time::interval(ack_wait / 2);
    ticks.tick().await;
    loop {
        tokio::select! {
            done = &mut job => return done,
            _ = ticks.tick() => {
                if let Err(err) = message.ack_with(AckKind::Progress).await {
                    tracing::debug!(error = %err, "cannot send an in-progress ack");
                }
            }
        }
    }
}

async fn settle(worker: &'static str, message: &jetstream::Message, kind: AckKind) {
    // A lost ack only means a redelivery, which the worker's idempotence absorbs.
    if let Err(err) = message.ack_with(kind).await {
        tracing::warn!(worker, error = %err, "cannot settle a message; it comes back after ack_wait");
    }
}
