//! Two filters, one for log lines and one for exported spans, without per-layer span filtering.
//!
//! A span exists when either filter enables it ([`Either`], the global filter), so the
//! OpenTelemetry layer and the JSON log lines (which read trace ids from the registry) always see
//! the same spans. The log layer then drops the events its own filter refuses ([`EventsOnly`]),
//! never a span: per-layer filters that also filtered spans lost trace ids under load (ADR 0005).

use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber, span};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The global filter: what the log filter or the span filter enables.
pub(crate) struct Either {
    pub(crate) logs: EnvFilter,
    pub(crate) spans: EnvFilter,
}

fn union(a: Interest, b: Interest) -> Interest {
    if a.is_always() || b.is_always() {
        Interest::always()
    } else if a.is_never() && b.is_never() {
        Interest::never()
    } else {
        Interest::sometimes()
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Either {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        union(Layer::<S>::register_callsite(&self.logs, metadata), Layer::<S>::register_callsite(&self.spans, metadata))
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        Layer::enabled(&self.logs, metadata, ctx.clone()) || Layer::enabled(&self.spans, metadata, ctx)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        match (Layer::<S>::max_level_hint(&self.logs), Layer::<S>::max_level_hint(&self.spans)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        }
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        self.logs.on_new_span(attrs, id, ctx.clone());
        self.spans.on_new_span(attrs, id, ctx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        self.logs.on_record(id, values, ctx.clone());
        self.spans.on_record(id, values, ctx);
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.logs.on_enter(id, ctx.clone());
        self.spans.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.logs.on_exit(id, ctx.clone());
        self.spans.on_exit(id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        self.logs.on_close(id.clone(), ctx.clone());
        self.spans.on_close(id, ctx);
    }
}

/// The log layer's filter: every span, and the events `RUST_LOG` enables.
pub(crate) struct EventsOnly(pub(crate) EnvFilter);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Filter<S> for EventsOnly {
    fn enabled(&self, metadata: &Metadata<'_>, ctx: &Context<'_, S>) -> bool {
        metadata.is_span() || Filter::enabled(&self.0, metadata, ctx)
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: &Context<'_, S>) -> bool {
        Filter::event_enabled(&self.0, event, ctx)
    }

    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> Interest {
        if metadata.is_span() { Interest::always() } else { Filter::<S>::callsite_enabled(&self.0, metadata) }
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        Filter::on_new_span(&self.0, attrs, id, ctx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        Filter::on_record(&self.0, id, values, ctx);
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        Filter::on_enter(&self.0, id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        Filter::on_exit(&self.0, id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        Filter::on_close(&self.0, id, ctx);
    }
}
