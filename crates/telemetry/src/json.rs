//! The JSON log line: tracing-subscriber's JSON object plus `trace_id` and `span_id` of the
//! current span, so a log collector can jump from a line to its trace.

use opentelemetry::trace::TraceContextExt;
use std::fmt;
use std::sync::{Arc, OnceLock};
use tracing::dispatcher::WeakDispatch;
use tracing::{Event, Subscriber};
use tracing_subscriber::Registry;
use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The installed dispatcher, set once it exists. An event being formatted cannot ask for the
/// current dispatcher (tracing hides it during a callback), yet the span's OpenTelemetry
/// context is only reachable through it.
pub(crate) type DispatchCell = Arc<OnceLock<WeakDispatch>>;

pub(crate) struct JsonWithTrace {
    inner: Format<Json>,
    dispatch: DispatchCell,
}

impl JsonWithTrace {
    pub(crate) fn new(dispatch: DispatchCell) -> Self {
        Self { inner: tracing_subscriber::fmt::format().json().with_current_span(true).with_span_list(false), dispatch }
    }

    /// Trace and span id of `id` or its nearest ancestor that has an OpenTelemetry span. The
    /// registry is asked directly: log filtering (RUST_LOG) may hide the span from the fmt
    /// layer while it still has a trace.
    fn ids(&self, id: Option<&tracing::span::Id>) -> Option<(String, String)> {
        let dispatch = self.dispatch.get()?.upgrade()?;
        let registry = dispatch.downcast_ref::<Registry>()?;
        let mut span = registry.span(id?);
        while let Some(current) = span {
            if let Some(context) = tracing_opentelemetry::get_otel_context(&current.id(), &dispatch) {
                let otel_span = context.span();
                let span_context = otel_span.span_context();
                if span_context.is_valid() {
                    return Some((span_context.trace_id().to_string(), span_context.span_id().to_string()));
                }
            }
            span = current.parent();
        }
        None
    }
}

impl<S, N> FormatEvent<S, N> for JsonWithTrace
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    N: for<'writer> FormatFields<'writer> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let current = ctx.current_span();
        let ids = self.ids(event.parent().or(current.id()));
        let mut line = String::with_capacity(256);
        self.inner.format_event(ctx, Writer::new(&mut line), event)?;
        let Some((trace_id, span_id)) = ids else {
            return writer.write_str(&line);
        };
        // The object always ends in `}` and a newline: splice the ids in before the brace.
        match line.trim_end().strip_suffix('}') {
            Some(body) => writeln!(writer, "{body},\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\"}}"),
            None => writer.write_str(&line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::prelude::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn lines_inside_a_traced_span_carry_its_ids_and_stay_valid_json() {
        use opentelemetry::trace::TracerProvider as _;
        let buffer = Buffer::default();
        let dispatch = DispatchCell::default();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
                    .event_format(JsonWithTrace::new(dispatch.clone()))
                    .with_writer(buffer.clone()),
            )
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            tracing::dispatcher::get_default(|current| dispatch.set(current.downgrade()).unwrap());
            tracing::info!(outside = true, "no span");
            let span = tracing::info_span!("request");
            assert!(crate::propagation::set_parent(&span, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
            span.in_scope(|| tracing::info!(answer = 42, "inside"));
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].get("trace_id").is_none());
        assert_eq!(lines[1]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        let span_id = lines[1]["span_id"].as_str().unwrap();
        assert_eq!(span_id.len(), 16);
        assert_ne!(span_id, "00f067aa0ba902b7", "the span's own id, not its parent's");
        assert_eq!(lines[1]["fields"]["answer"], 42);
    }
}
