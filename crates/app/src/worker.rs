//! The port an event-driven worker implements (OCR, categoriser, notifications, reports): a bus
//! adapter (`cashflow_bus::WorkerRunner` for JetStream) feeds it events and acts on its answer.

use cashflow_eventstore::RecordedEvent;

/// Why handling an event failed, by what the runner does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkError {
    /// May succeed later (a store or broker hiccup): redelivered after the retry delay.
    #[error("transient: {0}")]
    Retry(String),
    /// Will never succeed (a corrupt file): given up at once.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// An event-driven worker.
#[async_trait::async_trait]
pub trait Worker: Send + Sync + 'static {
    /// Stable name: the durable consumer's name.
    fn name(&self) -> &'static str;
    /// The stream categories and event types the worker consumes, e.g.
    /// `&[("invoice", "InvoiceUploaded")]`: at least one.
    fn events(&self) -> &'static [(&'static str, &'static str)];
    /// Handles one event. Must be idempotent: the same event may come again (a redelivery after
    /// a crash, or a retry after a transient error).
    async fn handle(&self, event: &RecordedEvent) -> Result<(), WorkError>;
    /// The event will not be handled: record why (e.g. append a failure event). A transient
    /// error here sends the message back for another attempt at giving up.
    async fn give_up(&self, event: &RecordedEvent, reason: &str) -> Result<(), WorkError>;
}
