//! The operations port (`CASHFLOW_METRICS_ADDR`): Prometheus text on `/metrics`, and
//! `/healthz` (the process answers) and `/readyz` (every role started, the database answers,
//! not draining) for Kubernetes probes.
//!
//! Counters and histograms are recorded where things happen (the API's trace layer, the event
//! store, the relay, the projectors). Lags, the consumer's backlog and the pool are gauges
//! read from their source at each scrape, so they are exact when scraped and cost nothing
//! between scrapes.

use anyhow::Context;
use async_nats::jetstream;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use cashflow_bus::BusNames;
use cashflow_eventstore::EventStore;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::{PgPool, Row};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Group commit sizes, in appends: powers of two up to past the writer's largest batch.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];
/// Histogram buckets, in seconds: from a group commit (under 1 ms) to a query waiting its limit.
const BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Delivery latency, in seconds: a webhook answers in milliseconds, a retried delivery waits
/// minutes to hours (the backoff of ADR 0019).
const DELIVERY_BUCKETS: &[f64] =
    &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0];
/// Longest a scrape waits for the database or NATS before answering with what it has.
const COLLECT_TIMEOUT: Duration = Duration::from_secs(3);

pub const RELAY_LAG: &str = "cashflow_relay_lag_positions";
pub const PROJECTION_LAG: &str = "cashflow_projection_lag_positions";
pub const PROJECTION_LAG_SECONDS: &str = "cashflow_projection_lag_seconds";
pub const STORE_HEAD: &str = "cashflow_eventstore_head_position";
pub const CONSUMER_PENDING: &str = "cashflow_jetstream_consumer_pending";
pub const CONSUMER_ACK_PENDING: &str = "cashflow_jetstream_consumer_ack_pending";
pub const CONSUMER_REDELIVERED: &str = "cashflow_jetstream_consumer_redelivered";
pub const DB_POOL_IN_USE: &str = "cashflow_db_pool_connections_in_use";
pub const DB_POOL_IDLE: &str = "cashflow_db_pool_connections_idle";
pub const DB_POOL_MAX: &str = "cashflow_db_pool_connections_max";

/// Installs the process's Prometheus recorder (once; later calls return the same handle).
pub fn install() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
        .context("histogram buckets")?
        .set_buckets_for_metric(Matcher::Full(cashflow_eventstore::metrics::BATCH_REQUESTS.into()), BATCH_BUCKETS)
        .context("batch size buckets")?
        .set_buckets_for_metric(Matcher::Full(cashflow_notify::dispatch::DELIVERY_LATENCY.into()), DELIVERY_BUCKETS)
        .context("delivery latency buckets")?
        .install_recorder()
        .context("installing the metrics recorder")?;
    describe();
    Ok(HANDLE.get_or_init(|| handle).clone())
}

fn describe() {
    cashflow_api::trace_layer::describe();
    cashflow_eventstore::metrics::describe();
    metrics::describe_counter!(cashflow_bus::relay::PUBLISHED, "Events the relay published and JetStream acknowledged");
    metrics::describe_counter!(cashflow_bus::projector::EVENTS_APPLIED, "Events applied, by projection");
    metrics::describe_histogram!(
        cashflow_bus::projector::BATCH_DURATION,
        metrics::Unit::Seconds,
        "Projector batch latency (apply, commit, ack), by projection and outcome"
    );
    metrics::describe_counter!(
        cashflow_bus::projector::REDELIVERIES,
        "Messages delivered more than once, by projection"
    );
    metrics::describe_counter!(
        cashflow_bus::worker::MESSAGES_HANDLED,
        "Events a worker handled, by worker and outcome (ok, retry, gave_up, poison)"
    );
    metrics::describe_histogram!(
        cashflow_bus::worker::HANDLE_DURATION,
        metrics::Unit::Seconds,
        "Time a worker took on one event, by worker"
    );
    metrics::describe_counter!(cashflow_notify::worker::RAISED, "Notifications raised, by topic");
    metrics::describe_counter!(
        cashflow_notify::dispatch::DELIVERIES,
        "Notification deliveries attempted, by channel kind and outcome"
    );
    metrics::describe_histogram!(
        cashflow_notify::dispatch::DELIVERY_LATENCY,
        metrics::Unit::Seconds,
        "From a notification raised to its delivery, retries included, by channel kind"
    );
    metrics::describe_gauge!(
        cashflow_notify::dispatch::QUEUE_AGE,
        metrics::Unit::Seconds,
        "Age of the oldest delivery still due (0 when none is)"
    );
    metrics::describe_counter!(
        cashflow_notify::dispatch::PRUNED,
        "Delivered and failed deliveries deleted from the log past CASHFLOW_DELIVERY_RETENTION_DAYS"
    );
    metrics::describe_counter!(cashflow_reports::worker::REPORTS, "Reports settled, by format and outcome");
    metrics::describe_histogram!(
        cashflow_reports::worker::RENDER_DURATION,
        metrics::Unit::Seconds,
        "Time to fold a person's history and render a report, by format"
    );
    metrics::describe_gauge!(
        RELAY_LAG,
        "Event store head minus the relay's checkpoint (saved at least every second while it publishes)"
    );
    metrics::describe_gauge!(PROJECTION_LAG, "Event store head minus the projection's checkpoint");
    metrics::describe_gauge!(
        PROJECTION_LAG_SECONDS,
        metrics::Unit::Seconds,
        "Age of the oldest event the projection has not applied (0 when caught up)"
    );
    metrics::describe_gauge!(STORE_HEAD, "Highest committed event store position");
    metrics::describe_gauge!(CONSUMER_PENDING, "Messages in the stream not yet delivered to the consumer");
    metrics::describe_gauge!(CONSUMER_ACK_PENDING, "Messages delivered to the consumer and not acked yet");
    metrics::describe_gauge!(CONSUMER_REDELIVERED, "Messages the consumer is redelivering now");
    metrics::describe_gauge!(DB_POOL_IN_USE, "PostgreSQL connections checked out of this process's pool");
    metrics::describe_gauge!(DB_POOL_IDLE, "Idle PostgreSQL connections in this process's pool");
    metrics::describe_gauge!(DB_POOL_MAX, "Size limit of this process's PostgreSQL pool");
}

/// What the gauges are read from. Lags are read from the database whichever roles this
/// process runs, so they stay visible (and growing) while the relay or a projector is down.
#[derive(Clone)]
pub struct Sources {
    pub pool: PgPool,
    pub store: Arc<dyn EventStore>,
    pub names: BusNames,
    /// The projections whose lag is reported.
    pub projections: Vec<&'static str>,
    /// The workers (OCR, categoriser, notify, render) whose consumers' backlogs are reported
    /// beside the projectors', so their autoscalers can follow the queue rather than the CPU.
    pub workers: Vec<&'static str>,
    /// NATS, when this process is connected (relay, projectors): consumers' backlogs.
    pub jetstream: Option<jetstream::Context>,
}

impl Sources {
    /// Sets every gauge from its source. A source that fails keeps its last value.
    #[tracing::instrument(name = "metrics.collect", skip_all, level = "debug")]
    async fn collect(&self) {
        let idle = self.pool.num_idle() as f64;
        metrics::gauge!(DB_POOL_IN_USE).set(f64::from(self.pool.size()) - idle);
        metrics::gauge!(DB_POOL_IDLE).set(idle);
        metrics::gauge!(DB_POOL_MAX).set(f64::from(self.pool.options().get_max_connections()));

        let head = match self.store.head().await {
            Ok(head) => head,
            Err(error) => {
                tracing::warn!(%error, "metrics: cannot read the event store head");
                return;
            }
        };
        metrics::gauge!(STORE_HEAD).set(head as f64);
        match self.relay_position().await {
            Ok(published) => metrics::gauge!(RELAY_LAG).set(head.saturating_sub(published) as f64),
            Err(error) => tracing::warn!(error = %format!("{error:#}"), "metrics: cannot read the relay checkpoint"),
        }
        for &projection in &self.projections {
            if let Err(error) = self.projection_lag(projection, head).await {
                tracing::warn!(projection, error = %format!("{error:#}"), "metrics: cannot read a projection's lag");
            }
        }
        if let Some(jetstream) = &self.jetstream {
            for &consumer in self.projections.iter().chain(&self.workers) {
                if let Err(error) = self.consumer(jetstream, consumer).await {
                    tracing::debug!(consumer, error = %format!("{error:#}"), "metrics: cannot read a consumer's info");
                }
            }
        }
    }

    async fn relay_position(&self) -> anyhow::Result<u64> {
        let row = sqlx::query("SELECT position FROM relay_checkpoint WHERE stream = $1")
            .bind(self.names.events_stream())
            .fetch_optional(&self.pool)
            .await?;
        let position: i64 = match row {
            Some(row) => row.try_get("position")?,
            None => 0,
        };
        Ok(u64::try_from(position).unwrap_or(0))
    }

    async fn projection_lag(&self, projection: &'static str, head: u64) -> anyhow::Result<()> {
        let checkpoint = cashflow_projection::read_checkpoint(&self.pool, projection).await?;
        let behind = head.saturating_sub(checkpoint);
        metrics::gauge!(PROJECTION_LAG, "projection" => projection).set(behind as f64);
        let seconds = if behind == 0 {
            0.0
        } else {
            // The oldest event not applied yet: how long it has waited.
            let oldest = self.store.read_all(checkpoint, 1).await?;
            oldest.first().map_or(0.0, |event| {
                (chrono::Utc::now() - event.recorded_at).to_std().unwrap_or_default().as_secs_f64()
            })
        };
        metrics::gauge!(PROJECTION_LAG_SECONDS, "projection" => projection).set(seconds);
        Ok(())
    }

    async fn consumer(&self, jetstream: &jetstream::Context, name: &'static str) -> anyhow::Result<()> {
        let durable = self.names.durable_consumer(name);
        let stream = jetstream.get_stream_no_info(self.names.events_stream()).await?;
        let info = stream.consumer_info(&durable).await?;
        metrics::gauge!(CONSUMER_PENDING, "consumer" => durable.clone()).set(info.num_pending as f64);
        metrics::gauge!(CONSUMER_ACK_PENDING, "consumer" => durable.clone()).set(info.num_ack_pending as f64);
        metrics::gauge!(CONSUMER_REDELIVERED, "consumer" => durable).set(info.num_redelivered as f64);
        Ok(())
    }
}

#[derive(Clone)]
struct Port {
    handle: PrometheusHandle,
    sources: Sources,
    ready: watch::Receiver<bool>,
    database_up: watch::Receiver<bool>,
}

/// Binds `addr` and prints `cashflow: metrics listening on ADDR`. The server runs until
/// `shutdown`; `/readyz` is 200 while both `ready` (started, not draining) and `database_up`
/// (the periodic check of [`crate::health`]) hold.
pub async fn start(
    addr: SocketAddr,
    sources: Sources,
    ready: watch::Receiver<bool>,
    database_up: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<impl Future<Output = anyhow::Result<()>>> {
    let handle = install()?;
    let listener = TcpListener::bind(addr).await.with_context(|| format!("binding CASHFLOW_METRICS_ADDR {addr}"))?;
    let local = listener.local_addr()?;
    let upkeep = handle.clone();
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(Port { handle, sources, ready, database_up });
    tracing::info!(addr = %local, "metrics listening");
    println!("cashflow: metrics listening on {local}");
    Ok(async move {
        // Histograms keep their buckets bounded only if upkeep runs.
        let upkeep = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(5));
            loop {
                every.tick().await;
                upkeep.run_upkeep();
            }
        });
        let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
        upkeep.abort();
        served.context("the metrics server")
    })
}

async fn scrape(State(port): State<Port>) -> impl IntoResponse {
    if tokio::time::timeout(COLLECT_TIMEOUT, port.sources.collect()).await.is_err() {
        tracing::warn!("metrics: collecting gauges timed out; answering with the last values");
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], port.handle.render())
}

/// Ready: every role started, not draining, and the database answered its last check.
async fn readyz(State(port): State<Port>) -> impl IntoResponse {
    if !*port.ready.borrow() {
        (StatusCode::SERVICE_UNAVAILABLE, "starting or draining\n")
    } else if !*port.database_up.borrow() {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
    } else {
        (StatusCode::OK, "ready\n")
    }
}
