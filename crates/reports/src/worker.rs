//! [`ReportWorker`]: takes ReportRequested from the bus, folds the person's books from the event
//! store up to the request's position, renders, stores the file and appends ReportGenerated, or
//! ReportFailed when it gives up.
//!
//! Idempotent across redeliveries: a report settled already is skipped, and each rendering is
//! stored under a key of its own content (`reports/<owner>/<report>/<sha256>.<ext>`), so a
//! second delivery racing the first never overwrites the file the first one recorded; the loser
//! deletes its copy. A put is atomic, so a crash mid-render leaves no partial file, and the event
//! is appended only after the file is whole.

use crate::figures::figures;
use crate::render::{Fonts, render_csv, render_pdf};
use bytes::Bytes;
use cashflow_app::history::load_books;
use cashflow_app::{AppError, BlobStore, CommandContext, ReportCommands, Settlement, WorkError, Worker};
use cashflow_blob::{BlobError, BlobKey};
use cashflow_domain::report::{ReportEvent, ReportFormat, ReportStatus};
use cashflow_domain::{DomainEvent, ReportId, UserId};
use cashflow_eventstore::{EventStore, RecordedEvent};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Instant;

/// The worker's name: its durable consumer (the reports projector's is `reports`).
pub const NAME: &str = "render";
/// Reports settled, by format and outcome (`generated`, `failed`).
pub const REPORTS: &str = "cashflow_reports_total";
/// Time to fold the history and render the file, by format.
pub const RENDER_DURATION: &str = "cashflow_report_render_seconds";

pub struct ReportWorker {
    commands: ReportCommands,
    store: Arc<dyn EventStore>,
    blobs: Arc<dyn BlobStore>,
    fonts: Arc<Fonts>,
}

impl ReportWorker {
    pub fn new(
        commands: ReportCommands,
        store: Arc<dyn EventStore>,
        blobs: Arc<dyn BlobStore>,
        fonts: Arc<Fonts>,
    ) -> Self {
        Self { commands, store, blobs, fonts }
    }

    /// The key a rendering is stored under.
    pub fn blob_key(
        owner: UserId,
        report_id: ReportId,
        sha256: &str,
        format: ReportFormat,
    ) -> Result<BlobKey, AppError> {
        let file = format!("{sha256}.{}", format.as_str());
        BlobKey::from_segments(["reports", &owner.to_string(), &report_id.to_string(), &file])
            .map_err(AppError::internal)
    }
}

fn blob_error(error: BlobError) -> WorkError {
    match error {
        BlobError::Unavailable(_) => WorkError::Retry(error.to_string()),
        other => WorkError::Permanent(other.to_string()),
    }
}

#[async_trait::async_trait]
impl Worker for ReportWorker {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> &'static [(&'static str, &'static str)] {
        &[(ReportId::STREAM_CATEGORY, "ReportRequested")]
    }

    #[tracing::instrument(name = "reports.render", skip_all, fields(stream_id = %event.stream_id), err(level = "info"))]
    async fn handle(&self, event: &RecordedEvent) -> Result<(), WorkError> {
        let decoded = ReportEvent::decode(&event.event_type, event.schema_version, &event.payload)
            .map_err(|error| WorkError::Permanent(error.to_string()))?;
        let ReportEvent::ReportRequested { report_id, owner, .. } = decoded else { return Ok(()) };
        let report = self.commands.report(owner, report_id).await?;
        let Some(requested) = report.requested.filter(|_| report.status == ReportStatus::Pending) else {
            tracing::debug!(%report_id, "settled already: a redelivery");
            return Ok(());
        };
        let started = Instant::now();
        tracing::info!(%report_id, format = requested.format.as_str(), position = requested.position, "rendering a report");
        let books = load_books(self.store.as_ref(), owner, requested.position).await?;
        let document = figures(&books, &requested, chrono::Utc::now());
        let format = requested.format;
        let fonts = self.fonts.clone();
        let bytes = tokio::task::spawn_blocking(move || match format {
            ReportFormat::Csv => Ok(render_csv(&document)),
            ReportFormat::Pdf => render_pdf(&document, &fonts),
        })
        .await
        .map_err(|error| WorkError::Retry(format!("the rendering task stopped: {error}")))?
        .map_err(|error| WorkError::Permanent(format!("rendering failed: {error}")))?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let size_bytes = bytes.len() as u64;
        let key = Self::blob_key(owner, report_id, &sha256, format)?;
        self.blobs.put(&key, Bytes::from(bytes)).await.map_err(blob_error)?;

        let context = CommandContext::caused_by(event, "report settled");
        let settlement = Settlement::Generated { size_bytes, sha256, blob_key: key.as_str().to_owned() };
        self.commands.settle(&context, report_id, settlement).await?;
        let recorded = self.commands.report(owner, report_id).await?.generated.map(|g| g.blob_key);
        if recorded.as_deref() != Some(key.as_str()) {
            // Another delivery settled it first, with its own file: this copy is nobody's.
            self.blobs.delete(&key).await.map_err(blob_error)?;
        }
        metrics::histogram!(RENDER_DURATION, "format" => format.as_str()).record(started.elapsed().as_secs_f64());
        metrics::counter!(REPORTS, "format" => format.as_str(), "outcome" => "generated").increment(1);
        tracing::info!(%report_id, size_bytes, elapsed_ms = started.elapsed().as_millis() as u64, "report generated");
        Ok(())
    }

    async fn give_up(&self, event: &RecordedEvent, reason: &str) -> Result<(), WorkError> {
        let decoded = ReportEvent::decode(&event.event_type, event.schema_version, &event.payload)
            .map_err(|error| WorkError::Permanent(error.to_string()))?;
        let ReportEvent::ReportRequested { report_id, format, .. } = decoded else { return Ok(()) };
        tracing::warn!(%report_id, reason, "giving up on a report");
        let context = CommandContext::caused_by(event, "report settled");
        let settlement = Settlement::Failed { reason: "the report could not be made; request it again later".into() };
        self.commands.settle(&context, report_id, settlement).await?;
        metrics::counter!(REPORTS, "format" => format.as_str(), "outcome" => "failed").increment(1);
        Ok(())
    }
}
