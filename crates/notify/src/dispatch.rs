//! [`Dispatcher`]: works the delivery outbox. Each due delivery is claimed (one attempt counted,
//! leased), delivered through its channel's adapter, and settled: delivered, due again after a
//! backoff (1 s doubling to 1 h), or failed once [`RETRY_WINDOW`] has passed since the
//! notification was raised or the channel refuses for good.
//!
//! At least once: a dispatcher that dies between a receiver's answer and the settle leaves the
//! delivery leased; it comes due when the lease ends and is delivered again, with the same
//! notification id, which receivers drop. Nothing that was settled is delivered again.

use cashflow_delivery::{Deliverer, DeliveryError, Outgoing, Target};
use cashflow_domain::notification::Topic;
use cashflow_projection::CheckpointWatch;
use cashflow_projection_notifications::{Claimed, Deliveries, Settle};
use chrono::Utc;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tracing::Instrument;

/// Deliveries by channel kind and outcome (`delivered`, `retry`, `failed`).
pub const DELIVERIES: &str = "cashflow_notification_deliveries_total";
/// Seconds from a notification's raising to its delivery, by channel kind (first successful attempt).
pub const DELIVERY_LATENCY: &str = "cashflow_notification_delivery_latency_seconds";
/// Seconds the oldest due delivery has waited.
pub const QUEUE_AGE: &str = "cashflow_notification_delivery_queue_age_seconds";
/// Settled deliveries deleted from the log past their retention.
pub const PRUNED: &str = "cashflow_notification_deliveries_pruned_total";

/// How long a delivery is retried, from the notification's raising.
pub const RETRY_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// The shortest retention of settled deliveries: past the projection's delivery window (24 h),
/// so a rebuild never queues a deleted delivery again (ADR 0036).
pub const MIN_RETENTION: Duration = Duration::from_secs(2 * 24 * 3600);
/// How often the log is pruned, and how many rows one statement deletes at most.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const PRUNE_BATCH: u32 = 1000;

#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// Deliveries in flight at once in this process.
    pub concurrency: usize,
    /// How long a claimed delivery is someone's: longer than an attempt can take.
    pub lease: Duration,
    /// The first retry's delay; each next one doubles, up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// How long settled deliveries (delivered or failed) stay in the log, counted from when they
    /// were queued; at least [`MIN_RETENTION`]. `None` keeps them for good.
    pub retention: Option<Duration>,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            concurrency: 16,
            lease: Duration::from_secs(60),
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(3600),
            retention: Some(Duration::from_secs(90 * 24 * 3600)),
        }
    }
}

impl DispatchConfig {
    /// The delay after failed attempt number `attempt` (from 1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doubled = self.first_backoff.saturating_mul(1u32 << attempt.saturating_sub(1).min(31));
        doubled.min(self.max_backoff)
    }
}

pub struct Dispatcher {
    deliveries: Deliveries,
    deliverer: Arc<Deliverer>,
    /// The notifications projection's checkpoint: it moves when deliveries may have been queued.
    watch: CheckpointWatch,
    config: DispatchConfig,
}

impl Dispatcher {
    pub fn new(deliveries: Deliveries, deliverer: Deliverer, watch: CheckpointWatch, config: DispatchConfig) -> Self {
        Self { deliveries, deliverer: Arc::new(deliverer), watch, config }
    }

    /// Runs until `until` completes; attempts in flight then finish (each is bounded by the
    /// adapters' timeout).
    pub async fn run(self, until: impl Future<Output = ()>) -> Result<(), cashflow_projection::QueryError> {
        tokio::pin!(until);
        let mut in_flight = JoinSet::new();
        let mut seen = self.watch.current();
        // Pruning runs beside the deliveries, so a backlog of old rows never delays one.
        let pruning = self.config.retention.map(|retention| tokio::spawn(prune(self.deliveries.clone(), retention)));
        loop {
            let free = self.config.concurrency.saturating_sub(in_flight.len());
            let claimed = if free > 0 {
                match self.deliveries.claim(free as u32, self.config.lease).await {
                    Ok(claimed) => claimed,
                    Err(error) => {
                        tracing::warn!(%error, "cannot claim deliveries; trying again");
                        Vec::new()
                    }
                }
            } else {
                Vec::new()
            };
            let claimed_any = !claimed.is_empty();
            for claimed in claimed {
                let (deliveries, deliverer, config) =
                    (self.deliveries.clone(), self.deliverer.clone(), self.config.clone());
                in_flight.spawn(attempt(deliveries, deliverer, config, claimed));
            }
            if let Ok(age) = self.deliveries.queue_age().await {
                metrics::gauge!(QUEUE_AGE).set(age);
            }
            if claimed_any && in_flight.len() < self.config.concurrency {
                continue;
            }
            // Wait for a new notification, a finished attempt, the next due retry, or a second.
            let next_due = match self.deliveries.next_due().await {
                Ok(Some(due)) => (due - Utc::now()).to_std().unwrap_or(Duration::ZERO),
                _ => Duration::from_secs(1),
            };
            let wait = next_due.clamp(Duration::from_millis(20), Duration::from_secs(1));
            tokio::select! {
                _ = &mut until => break,
                _ = self.watch.wait_for(seen + 1, wait) => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            }
            seen = self.watch.current();
        }
        if let Some(pruning) = pruning {
            pruning.abort();
        }
        while in_flight.join_next().await.is_some() {}
        Ok(())
    }
}

/// Deletes settled deliveries older than `retention` (at least [`MIN_RETENTION`]) now and every
/// [`PRUNE_EVERY`], a batch at a time until none of that age is left; until aborted.
async fn prune(deliveries: Deliveries, retention: Duration) {
    let older_than = retention.max(MIN_RETENTION);
    loop {
        loop {
            match deliveries.prune(older_than, PRUNE_BATCH).await {
                Ok(deleted) => {
                    metrics::counter!(PRUNED).increment(deleted);
                    if deleted < u64::from(PRUNE_BATCH) {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot prune the delivery log; trying again later");
                    break;
                }
            }
        }
        tokio::time::sleep(PRUNE_EVERY).await;
    }
}

/// The `NotificationTopic` enum value's name in the public contract.
pub fn topic_name(topic: Topic) -> &'static str {
    match topic {
        Topic::BudgetThreshold => "NOTIFICATION_TOPIC_BUDGET_THRESHOLD",
        Topic::LargeExpense => "NOTIFICATION_TOPIC_LARGE_EXPENSE",
        Topic::InvoiceProcessed => "NOTIFICATION_TOPIC_INVOICE_PROCESSED",
        Topic::ReportReady => "NOTIFICATION_TOPIC_REPORT_READY",
    }
}

/// One attempt at one delivery, settled; never fails (a settle that cannot be written leaves the
/// lease to run out, and the delivery comes due again).
async fn attempt(deliveries: Deliveries, deliverer: Arc<Deliverer>, config: DispatchConfig, claimed: Claimed) {
    let kind = claimed.kind.as_str();
    let notification = &claimed.notification;
    let span = tracing::info_span!(
        "notification.deliver",
        otel.kind = "producer",
        channel = kind,
        channel_id = %claimed.channel_id,
        notification_id = %notification.notification_id,
        attempt = claimed.attempt,
        outcome = tracing::field::Empty,
    );
    if let Some(traceparent) = &claimed.traceparent {
        cashflow_telemetry::propagation::set_parent(&span, traceparent);
    }
    async {
        let outcome = if claimed.channel_removed {
            Err(DeliveryError::Permanent("the channel was removed".into()))
        } else {
            let message = Outgoing {
                notification_id: notification.notification_id,
                topic: topic_name(notification.topic).to_owned(),
                title: notification.title.clone(),
                body: notification.body.clone(),
                subject_id: notification.subject_id.clone(),
                created_at: notification.created_at,
                read: notification.read,
                data: notification.data.clone(),
            };
            let target = Target {
                kind: claimed.kind,
                target: &claimed.target,
                signing_secret: claimed.signing_secret.as_deref(),
            };
            deliverer.deliver(target, &message).await
        };
        let (label, settle) = match outcome {
            Ok(()) => {
                let latency = (Utc::now() - claimed.queued_at).to_std().unwrap_or_default();
                metrics::histogram!(DELIVERY_LATENCY, "channel" => kind).record(latency.as_secs_f64());
                ("delivered", Settle::Delivered)
            }
            Err(DeliveryError::Transient(error)) => {
                let at = Utc::now() + config.backoff(claimed.attempt);
                if at - claimed.queued_at > RETRY_WINDOW {
                    ("failed", Settle::Failed { error: format!("gave up after {} attempts: {error}", claimed.attempt) })
                } else {
                    ("retry", Settle::Retry { error, at })
                }
            }
            Err(DeliveryError::Permanent(error)) => ("failed", Settle::Failed { error }),
        };
        tracing::Span::current().record("outcome", label);
        match &settle {
            Settle::Delivered => tracing::info!("delivered"),
            Settle::Retry { error, at } => tracing::warn!(%error, retry_at = %at, "delivery failed; will retry"),
            Settle::Failed { error } => tracing::warn!(%error, "delivery failed for good"),
        }
        metrics::counter!(DELIVERIES, "channel" => kind, "outcome" => label).increment(1);
        match deliveries.settle(&claimed, settle).await {
            Ok(true) => {}
            Ok(false) => tracing::info!("a later attempt took this delivery over; its outcome stands"),
            Err(error) => tracing::warn!(%error, "cannot record the delivery's outcome; it comes due again"),
        }
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_a_second_doubling_to_an_hour() {
        let config = DispatchConfig::default();
        let delays: Vec<u64> = (1..=14).map(|n| config.backoff(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3600, 3600]);
        assert_eq!(config.backoff(u32::MAX).as_secs(), 3600);
    }

    #[test]
    fn topic_names_are_the_contracts() {
        for topic in Topic::ALL {
            assert!(topic_name(topic).ends_with(&topic.as_str().to_uppercase()));
        }
    }
}
