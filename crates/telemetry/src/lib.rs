//! Logging set-up shared by every Cashflow role: `RUST_LOG`-style filtering, text or JSON.
#![forbid(unsafe_code)]

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    #[default]
    Text,
    /// One JSON object per line, for a log collector.
    Json,
}

impl LogFormat {
    /// Reads `CASHFLOW_LOG_FORMAT` (`text` or `json`); anything else is text.
    pub fn from_env() -> Self {
        match std::env::var("CASHFLOW_LOG_FORMAT").as_deref() {
            Ok("json") => Self::Json,
            _ => Self::Text,
        }
    }
}

/// Installs the global subscriber. The filter comes from `RUST_LOG`, else `default_filter`.
/// Logs go to stderr so stdout stays free for command output (`audit verify`).
pub fn init(format: LogFormat, default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let registry = tracing_subscriber::registry().with(filter);
    // A second init (tests in one process) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => registry.with(fmt::layer().with_writer(std::io::stderr)).try_init(),
        LogFormat::Json => {
            registry.with(fmt::layer().json().with_current_span(true).with_writer(std::io::stderr)).try_init()
        }
    };
}
