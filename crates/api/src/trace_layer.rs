//! The server span and RPC metrics of every call: a tower layer around all routes.
//!
//! Each call gets a span named `<service>/<method>` with the OpenTelemetry RPC attributes
//! (`rpc.system`, `rpc.service`, `rpc.method`, `rpc.grpc.status_code`), continuing the
//! caller's W3C `traceparent` when it sent one. The status is read where gRPC puts it: the
//! response headers of an error (trailers-only) or the trailers at the end of the body, so
//! the span and the metrics end when the last byte is sent, streams included. grpc-web calls
//! are translated to gRPC before they reach this layer, so they are traced the same way.
//!
//! Labels and span names only ever carry the methods the service descriptors declare
//! ([`known_method`]): any other path is `unknown/unknown`, so a scanner cannot create series
//! or span names at will, with or without a token.

use http_body::{Body, Frame, SizeHint};
use prost::Message;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::Instant;
use tonic::Code;
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::field::Empty;

/// Calls served, by service, method and status code.
pub const RPC_REQUESTS: &str = "cashflow_rpc_requests_total";
/// Seconds from the request's headers to the response's last byte, by service, method and code.
pub const RPC_DURATION: &str = "cashflow_rpc_duration_seconds";

/// Describes the RPC metrics for an exporter.
pub fn describe() {
    metrics::describe_counter!(RPC_REQUESTS, "gRPC calls served, by service, method and status code");
    metrics::describe_histogram!(
        RPC_DURATION,
        metrics::Unit::Seconds,
        "gRPC call latency until the last response byte, by service, method and status code"
    );
}

/// The label of a path that names no declared method.
const UNKNOWN: &str = "unknown";
const UNKNOWN_PATH: &str = "unknown/unknown";

/// The methods of every service the server declares: Cashflow's, health and reflection.
static KNOWN_METHODS: LazyLock<HashMap<String, HashSet<String>>> = LazyLock::new(|| {
    let mut known: HashMap<String, HashSet<String>> = HashMap::new();
    for encoded in [cashflow_proto::FILE_DESCRIPTOR_SET, tonic_health::pb::FILE_DESCRIPTOR_SET] {
        // Both sets are generated at build time from protos we ship: they always decode.
        let Ok(set) = prost_types::FileDescriptorSet::decode(encoded) else { continue };
        for file in set.file {
            for service in &file.service {
                let methods = known.entry(format!("{}.{}", file.package(), service.name())).or_default();
                methods.extend(service.method.iter().map(|method| method.name().to_owned()));
            }
        }
    }
    for reflection in ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"] {
        known.entry(reflection.to_owned()).or_default().insert("ServerReflectionInfo".to_owned());
    }
    known
});

/// Whether `service/method` is a method the service descriptors declare.
pub fn known_method(service: &str, method: &str) -> bool {
    KNOWN_METHODS.get(service).is_some_and(|methods| methods.contains(method))
}

/// Wraps a service (the API's routes) with [`TraceService`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceLayer;

impl<S> Layer<S> for TraceLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceService { inner }
    }
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct TraceService<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for TraceService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = http::Response<TracedBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let call = RpcCall::start(&request);
        let span = call.span.clone();
        // Interceptors (auth, rate limits) run inside `call`: their logs belong to this span.
        let response = span.in_scope(|| self.inner.call(request));
        Box::pin(
            async move {
                let response = response.await?;
                let (parts, body) = response.into_parts();
                // An error travels in the headers of a trailers-only response.
                let code = grpc_status(&parts.headers);
                let mut body = TracedBody { inner: body, call: Some(call) };
                if let Some(code) = code {
                    body.finish(code);
                }
                Ok(http::Response::from_parts(parts, body))
            }
            .instrument(span),
        )
    }
}

/// One call in flight: its span, labels and start. Finished exactly once, with a status.
struct RpcCall {
    span: tracing::Span,
    service: String,
    method: String,
    started: Instant,
}

impl RpcCall {
    fn start<B>(request: &http::Request<B>) -> Self {
        let path = request.uri().path().trim_start_matches('/');
        let (service, method) = match path.split_once('/') {
            Some((service, method)) if known_method(service, method) => (service, method),
            _ => (UNKNOWN, UNKNOWN),
        };
        let name = if service == UNKNOWN { UNKNOWN_PATH } else { path };
        // Health probes come every few seconds: counted, but not a trace each.
        let span = if service.starts_with("grpc.health.") {
            tracing::Span::none()
        } else {
            tracing::info_span!(
                "grpc.server",
                otel.name = %name,
                otel.kind = "server",
                otel.status_code = Empty,
                rpc.system = "grpc",
                rpc.service = %service,
                rpc.method = %method,
                rpc.grpc.status_code = Empty,
            )
        };
        if let Some(traceparent) = request.headers().get("traceparent").and_then(|value| value.to_str().ok()) {
            cashflow_telemetry::propagation::set_parent(&span, traceparent);
        }
        Self { span, service: service.to_owned(), method: method.to_owned(), started: Instant::now() }
    }

    fn finish(self, code: Code) {
        let took = self.started.elapsed();
        self.span.record("rpc.grpc.status_code", code as i32);
        // Semantic conventions: only codes that are the server's fault make a server span an error.
        if matches!(
            code,
            Code::Unknown
                | Code::DeadlineExceeded
                | Code::Unimplemented
                | Code::Internal
                | Code::Unavailable
                | Code::DataLoss
        ) {
            self.span.record("otel.status_code", "ERROR");
        }
        tracing::debug!(
            parent: &self.span,
            rpc.service = %self.service,
            rpc.method = %self.method,
            code = ?code,
            duration_ms = took.as_secs_f64() * 1000.0,
            "rpc finished"
        );
        let code = format!("{code:?}");
        let labels = [("service", self.service), ("method", self.method), ("code", code)];
        metrics::counter!(RPC_REQUESTS, &labels).increment(1);
        metrics::histogram!(RPC_DURATION, &labels).record(took.as_secs_f64());
    }
}

fn grpc_status(headers: &http::HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?.to_str().ok()?;
    Some(Code::from_i32(value.trim().parse().ok()?))
}

/// The response body, watched for the trailers that carry the call's status.
pub struct TracedBody<B> {
    inner: B,
    call: Option<RpcCall>,
}

impl<B> TracedBody<B> {
    fn finish(&mut self, code: Code) {
        if let Some(call) = self.call.take() {
            call.finish(code);
        }
    }
}

impl<B> Drop for TracedBody<B> {
    /// Dropped before its end: the client went away or the connection broke.
    fn drop(&mut self) {
        self.finish(Code::Cancelled);
    }
}

impl<B: Body + Unpin> Body for TracedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(grpc_status) {
                    self.finish(code);
                }
            }
            // The body failed while being sent.
            Poll::Ready(Some(Err(_))) => self.finish(Code::Unknown),
            // Ended without a status: not a valid gRPC response.
            Poll::Ready(None) => self.finish(Code::Unknown),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// `routes` with every call traced and counted, the unknown-path fallback included.
pub fn traced(routes: tonic::service::Routes) -> tonic::service::Routes {
    tonic::service::Routes::from(routes.into_axum_router().layer(TraceLayer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_declared_methods_are_known() {
        assert!(known_method("cashflow.v1.LedgerService", "OpenAccount"));
        assert!(known_method("cashflow.v1.InvoiceService", "UploadInvoice"));
        assert!(known_method("grpc.health.v1.Health", "Check"));
        assert!(known_method("grpc.reflection.v1.ServerReflection", "ServerReflectionInfo"));
        assert!(!known_method("cashflow.v1.LedgerService", "Xq7Lw"));
        assert!(!known_method("cashflow.v1.LedgerService", ""));
        assert!(!known_method("cashflow.v1.NoSuchService", "OpenAccount"));
        assert!(!known_method("", ""));
    }
}
