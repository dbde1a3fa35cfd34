//! How the API is reached: grpc-web beside native gRPC on the same port, CORS for the browser
//! origins of `CASHFLOW_CORS_ORIGINS`, and optional TLS from PEM files.

use crate::config::{Config, TlsFiles};
use anyhow::Context;
use http::{HeaderName, HeaderValue, Method};
use std::time::Duration;
use tonic::transport::{Identity, ServerTlsConfig};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Headers a grpc-web client sends: the browser asks before sending them cross-origin.
const REQUEST_HEADERS: [&str; 8] = [
    "authorization",
    "content-type",
    "grpc-timeout",
    "x-grpc-web",
    "x-user-agent",
    "x-correlation-id",
    "traceparent",
    "tracestate",
];

/// Response headers a browser script may read: the call's status lives there.
const EXPOSED_HEADERS: [&str; 3] = ["grpc-status", "grpc-message", "grpc-status-details-bin"];

/// CORS for exactly the configured origins. With none, no origin is allowed and browsers may
/// only call from the server's own origin.
pub fn cors(config: &Config) -> anyhow::Result<CorsLayer> {
    let origins = config
        .cors_origins
        .iter()
        .map(|origin| HeaderValue::from_str(origin).with_context(|| format!("CASHFLOW_CORS_ORIGINS: {origin}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers(REQUEST_HEADERS.map(HeaderName::from_static))
        .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
        .max_age(Duration::from_secs(24 * 3600)))
}

/// The rustls configuration of `CASHFLOW_TLS_CERT` / `CASHFLOW_TLS_KEY`.
pub fn tls(files: &TlsFiles) -> anyhow::Result<ServerTlsConfig> {
    let cert =
        std::fs::read(&files.cert).with_context(|| format!("reading CASHFLOW_TLS_CERT {}", files.cert.display()))?;
    let key = std::fs::read(&files.key).with_context(|| format!("reading CASHFLOW_TLS_KEY {}", files.key.display()))?;
    Ok(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))
}
