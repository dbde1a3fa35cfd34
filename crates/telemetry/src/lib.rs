//! Logs, traces and trace propagation shared by every Cashflow role: text or JSON logs, OTLP span export.
//!
//! # Layout
//!
//! - this file: [`TelemetryConfig`] (from `CASHFLOW_*` variables), [`init`] and the
//!   [`TelemetryGuard`] that flushes spans on shutdown.
//! - [`propagation`]: W3C `traceparent` in and out of spans, for gRPC metadata, stored event
//!   metadata and NATS headers.
//! - `json`: the JSON log line format, which adds the current `trace_id` and `span_id`.
//!
//! Spans reach OpenTelemetry through `tracing-opentelemetry`. Logs and spans have a filter each:
//! `RUST_LOG` (else `info`) for the log lines, `CASHFLOW_TRACE_FILTER` (else
//! [`DEFAULT_TRACE_FILTER`]) for the exported spans, so an operator who quiets the logs keeps
//! the traces. A span either filter enables exists for every layer (so some spans beyond the
//! trace filter's are exported when `RUST_LOG` is more verbose); the log layer drops only the
//! events `RUST_LOG` refuses (`filter`).
#![forbid(unsafe_code)]

mod filter;
mod json;
pub mod propagation;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use std::time::Duration;
use thiserror::Error;
use tracing_subscriber::{EnvFilter, Layer, fmt, prelude::*};

/// The spans exported when `CASHFLOW_TRACE_FILTER` is unset: info-level spans of Cashflow's own
/// crates (every target starting `cashflow`), warnings and errors of the rest.
pub const DEFAULT_TRACE_FILTER: &str = "warn,cashflow=info";

/// How long the exporter may take to send what is left at shutdown.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    #[default]
    Text,
    /// One JSON object per line, for a log collector, with `trace_id` and `span_id`.
    Json,
}

impl LogFormat {
    /// Reads `CASHFLOW_LOG_FORMAT` (`text` or `json`); anything else is text.
    pub fn from_env() -> Self {
        Self::parse(std::env::var("CASHFLOW_LOG_FORMAT").ok().as_deref())
    }

    fn parse(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("json") => Self::Json,
            _ => Self::Text,
        }
    }
}

/// Everything [`init`] needs; read once at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    pub log_format: LogFormat,
    /// The log filter when `RUST_LOG` is unset.
    pub default_log_filter: String,
    /// `CASHFLOW_TRACE_FILTER`: which spans reach OpenTelemetry, whatever `RUST_LOG` says.
    pub trace_filter: String,
    /// `CASHFLOW_OTLP_ENDPOINT`: an OTLP/gRPC collector (`http://jaeger:4317`). None: no exporter.
    pub otlp_endpoint: Option<String>,
    /// `CASHFLOW_TRACE_SAMPLE_RATIO`: share of new traces kept, 0.0 to 1.0; a continued
    /// trace follows its parent's decision.
    pub sample_ratio: f64,
    /// The roles this process runs (a resource attribute), e.g. `["api", "relay"]`.
    pub roles: Vec<String>,
}

#[derive(Debug, Error)]
pub enum TelemetryError {
    #[error("{name}={value:?} is not valid: {reason}")]
    Invalid { name: &'static str, value: String, reason: String },
    #[error("cannot build the OTLP exporter for {endpoint}: {reason}")]
    Exporter { endpoint: String, reason: String },
}

impl TelemetryConfig {
    /// Reads `CASHFLOW_LOG_FORMAT`, `CASHFLOW_OTLP_ENDPOINT` and `CASHFLOW_TRACE_SAMPLE_RATIO`.
    pub fn from_env(roles: Vec<String>) -> Result<Self, TelemetryError> {
        Self::from_lookup(roles, |name| std::env::var(name).ok())
    }

    /// Reads through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(roles: Vec<String>, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, TelemetryError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let sample_ratio = match get("CASHFLOW_TRACE_SAMPLE_RATIO") {
            None => 1.0,
            Some(raw) => {
                raw.parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r)).ok_or_else(|| TelemetryError::Invalid {
                    name: "CASHFLOW_TRACE_SAMPLE_RATIO",
                    value: raw.clone(),
                    reason: "must be a number from 0 to 1".into(),
                })?
            }
        };
        let trace_filter = get("CASHFLOW_TRACE_FILTER").unwrap_or_else(|| DEFAULT_TRACE_FILTER.to_owned());
        if let Err(error) = EnvFilter::try_new(&trace_filter) {
            return Err(TelemetryError::Invalid {
                name: "CASHFLOW_TRACE_FILTER",
                value: trace_filter,
                reason: error.to_string(),
            });
        }
        Ok(Self {
            log_format: LogFormat::parse(get("CASHFLOW_LOG_FORMAT").as_deref()),
            default_log_filter: "info".into(),
            trace_filter,
            otlp_endpoint: get("CASHFLOW_OTLP_ENDPOINT"),
            sample_ratio,
            roles,
        })
    }

    /// Spans get OpenTelemetry ids when they are exported or when JSON logs print them;
    /// otherwise no OpenTelemetry layer runs at all, and tracing costs what it did before.
    fn wants_trace_ids(&self) -> bool {
        self.otlp_endpoint.is_some() || self.log_format == LogFormat::Json
    }
}

/// Flushes and stops the span exporter; call [`TelemetryGuard::shutdown`] after draining.
#[derive(Debug)]
#[must_use = "call shutdown() after draining, or spans still queued are lost"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Whether spans are exported (an OTLP endpoint is configured).
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Sends every span still queued and stops the exporter. Must run inside the Tokio runtime
    /// the exporter was built in, since its gRPC channel lives there.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else { return };
        // The SDK blocks while its worker thread exports: keep that off the async workers.
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT)).await;
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("cashflow: flushing spans at shutdown failed: {error}"),
            Err(error) => eprintln!("cashflow: flushing spans at shutdown panicked: {error}"),
        }
    }
}

/// Installs the global subscriber: logs to stderr (stdout stays free for command output), filtered
/// by `RUST_LOG` or `default_log_filter`, and spans to OpenTelemetry when [`TelemetryConfig`] asks
/// for them, filtered by its `trace_filter`. With an OTLP endpoint, call this inside a Tokio runtime
/// (`runtime.enter()`): the exporter's channel is spawned on it.
///
/// A second call in one process (tests) keeps the first subscriber and returns an idle guard.
pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    let log_filter =
        || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.default_log_filter));
    let log_events = log_filter();
    let trace_filter = EnvFilter::try_new(&config.trace_filter).map_err(|error| TelemetryError::Invalid {
        name: "CASHFLOW_TRACE_FILTER",
        value: config.trace_filter.clone(),
        reason: error.to_string(),
    })?;
    let dispatch = json::DispatchCell::default();
    let fmt_layer = match config.log_format {
        LogFormat::Text => {
            fmt::layer().with_writer(std::io::stderr).with_filter(filter::EventsOnly(log_events)).boxed()
        }
        LogFormat::Json => fmt::layer()
            .fmt_fields(fmt::format::JsonFields::new())
            .event_format(json::JsonWithTrace::new(dispatch.clone()))
            .with_writer(std::io::stderr)
            .with_filter(filter::EventsOnly(log_events))
            .boxed(),
    };

    let mut exporting = None;
    let otel_layer = if config.wants_trace_ids() {
        let provider = tracer_provider(config)?;
        let tracer = provider.tracer("cashflow");
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        // Exceptions are recorded from `err` events; the level decides the status (info = not ours).
        let layer =
            tracing_opentelemetry::layer().with_tracer(tracer).with_tracked_inactivity(false).with_threads(false);
        if config.otlp_endpoint.is_some() {
            exporting = Some(provider);
        }
        Some(layer)
    } else {
        None
    };

    // Spans the trace filter enables exist only when something exports or prints trace ids.
    let global = match &otel_layer {
        Some(_) => filter::Either { logs: log_filter(), spans: trace_filter }.boxed(),
        None => log_filter().boxed(),
    };
    let installed = tracing_subscriber::registry().with(global).with(fmt_layer).with(otel_layer).try_init().is_ok();
    if installed {
        tracing::dispatcher::get_default(|current| {
            let _ = dispatch.set(current.downgrade());
        });
    }
    Ok(TelemetryGuard { provider: exporting.filter(|_| installed) })
}

/// The SDK's provider: the OTLP batch exporter when an endpoint is set (its delay, queue and
/// batch size follow the standard `OTEL_BSP_*` variables), else none, so spans only get ids.
fn tracer_provider(config: &TelemetryConfig) -> Result<SdkTracerProvider, TelemetryError> {
    let mut builder = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sample_ratio))))
        .with_resource(resource(&config.roles));
    if let Some(endpoint) = &config.otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .with_timeout(Duration::from_secs(5))
            .build()
            .map_err(|error| TelemetryError::Exporter { endpoint: endpoint.clone(), reason: error.to_string() })?;
        builder = builder.with_batch_exporter(exporter);
    }
    Ok(builder.build())
}

/// `service.name`, `service.version`, the roles, the host and the process.
fn resource(roles: &[String]) -> Resource {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".into());
    Resource::builder()
        .with_service_name("cashflow")
        .with_attributes([
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("cashflow.roles", roles.join(",")),
            KeyValue::new("host.name", host),
            KeyValue::new("process.pid", i64::from(std::process::id())),
        ])
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<TelemetryConfig, TelemetryError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        TelemetryConfig::from_lookup(vec!["api".into()], |name| vars.get(name).cloned())
    }

    #[test]
    fn nothing_set_means_text_logs_and_no_opentelemetry_at_all() {
        let config = config(&[]).unwrap();
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.otlp_endpoint, None);
        assert_eq!(config.sample_ratio, 1.0);
        assert!(!config.wants_trace_ids());
    }

    #[test]
    fn the_span_filter_is_its_own_setting_and_a_bad_one_is_refused() {
        assert_eq!(config(&[]).unwrap().trace_filter, DEFAULT_TRACE_FILTER);
        assert_eq!(config(&[("CASHFLOW_TRACE_FILTER", "debug")]).unwrap().trace_filter, "debug");
        assert_eq!(config(&[("RUST_LOG", "error")]).unwrap().trace_filter, DEFAULT_TRACE_FILTER);
        let refused = config(&[("CASHFLOW_TRACE_FILTER", "cashflow=loudest")]).unwrap_err();
        assert!(matches!(refused, TelemetryError::Invalid { name: "CASHFLOW_TRACE_FILTER", .. }), "{refused:?}");
    }

    #[test]
    fn an_endpoint_or_json_logs_turn_trace_ids_on() {
        assert!(config(&[("CASHFLOW_OTLP_ENDPOINT", "http://jaeger:4317")]).unwrap().wants_trace_ids());
        assert!(config(&[("CASHFLOW_LOG_FORMAT", "json")]).unwrap().wants_trace_ids());
        assert_eq!(config(&[("CASHFLOW_OTLP_ENDPOINT", "  ")]).unwrap().otlp_endpoint, None);
    }

    #[test]
    fn sample_ratios_outside_zero_to_one_are_refused() {
        assert_eq!(config(&[("CASHFLOW_TRACE_SAMPLE_RATIO", "0.25")]).unwrap().sample_ratio, 0.25);
        for bad in ["1.5", "-0.1", "half", "NaN"] {
            assert!(config(&[("CASHFLOW_TRACE_SAMPLE_RATIO", bad)]).is_err(), "{bad}");
        }
    }
}
