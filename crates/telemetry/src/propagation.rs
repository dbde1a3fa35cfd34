//! W3C trace context in and out of `tracing` spans, as `traceparent` strings: the form it
//! takes in gRPC metadata, in each stored event's metadata and in NATS headers.
//!
//! Every function is a no-op (or `None`) when no OpenTelemetry layer is installed, so callers
//! need not care whether tracing is on.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header (gRPC metadata, NATS header) that carries the context.
pub const TRACEPARENT: &str = "traceparent";

struct One<'a>(&'a str);

impl Extractor for One<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == TRACEPARENT).then_some(self.0)
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT]
    }
}

#[derive(Default)]
struct Captured(Option<String>);

impl Injector for Captured {
    fn set(&mut self, key: &str, value: String) {
        if key == TRACEPARENT {
            self.0 = Some(value);
        }
    }
}

/// The span context a `traceparent` names, if it is well-formed.
pub fn span_context(traceparent: &str) -> Option<SpanContext> {
    let context = TraceContextPropagator::new().extract(&One(traceparent.trim()));
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then_some(span_context)
}

/// Makes `span` a child of the remote span `traceparent` names. Call before the span is first
/// entered. Returns false (and leaves the span a root or a local child) when the header is
/// malformed or no OpenTelemetry layer runs.
pub fn set_parent(span: &tracing::Span, traceparent: &str) -> bool {
    let context = TraceContextPropagator::new().extract(&One(traceparent.trim()));
    if !context.span().span_context().is_valid() {
        return false;
    }
    span.set_parent(context).is_ok()
}

/// Adds a link from `span` to the span `traceparent` names (a batch that serves many traces).
pub fn add_link(span: &tracing::Span, traceparent: &str) -> bool {
    match span_context(traceparent) {
        Some(context) => {
            span.add_link(context);
            true
        }
        None => false,
    }
}

/// The `traceparent` of `span` itself, so what follows (a stored event, a message) becomes
/// its child; `None` when the span has no OpenTelemetry context.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut captured = Captured::default();
    TraceContextPropagator::new().inject_context(&context, &mut captured);
    captured.0
}

/// The `traceparent` of the current span.
pub fn current_traceparent() -> Option<String> {
    traceparent(&tracing::Span::current())
}

/// The 32-hex trace id and 16-hex span id of `span`, for log lines.
pub fn ids(span: &tracing::Span) -> Option<(String, String)> {
    let context = span.context();
    let span_ref = context.span();
    let span_context = span_ref.span_context();
    span_context.is_valid().then(|| (span_context.trace_id().to_string(), span_context.span_id().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_round_trips_through_a_span_context() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = span_context(header).unwrap();
        assert_eq!(context.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.span_id().to_string(), "00f067aa0ba902b7");
        assert!(context.is_sampled() && context.is_remote());
        for bad in ["", "hello", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"] {
            assert!(span_context(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn without_an_opentelemetry_layer_spans_have_no_context() {
        let span = tracing::info_span!("no layer");
        assert_eq!(traceparent(&span), None);
        assert!(!set_parent(&span, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        assert_eq!(ids(&span), None);
    }
}
