//! The OCR worker: reads each uploaded invoice, appends what it read, and records the
//! movement when the reading is sure enough.
//!
//! Every command it sends derives its id from the InvoiceUploaded event, so a job that is
//! redelivered (the worker died mid-job, a replica took over) repeats nothing: the scan, the
//! movement and the link each happen once. A file that cannot be read is given up at once; a
//! store or engine hiccup is retried, and after the last retry the invoice is marked failed.

use crate::{Ocr, OcrError};
use cashflow_app::{CommandContext, InvoiceCommands, WorkError, Worker};
use cashflow_blob::{BlobError, BlobKey};
use cashflow_domain::invoice::{Confidence, InvoiceEvent, InvoiceStatus, Read, Reading};
use cashflow_domain::{Amount, Counterparty, Currency, DomainEvent, InvoiceId, UserId};
use cashflow_eventstore::RecordedEvent;
use rust_decimal::Decimal;

/// The worker's name: its durable consumer.
pub const NAME: &str = "ocr";

pub struct OcrWorker {
    handler: InvoiceCommands,
    ocr: Ocr,
}

impl OcrWorker {
    pub fn new(handler: InvoiceCommands, ocr: Ocr) -> Self {
        Self { handler, ocr }
    }
}

/// The upload an event announces: whose, which invoice, where its file is.
struct Job {
    owner: UserId,
    invoice_id: InvoiceId,
    blob_key: String,
    kind: cashflow_domain::invoice::ContentKind,
}

fn job(event: &RecordedEvent) -> Result<Job, WorkError> {
    match InvoiceEvent::decode(&event.event_type, event.schema_version, &event.payload) {
        Ok(InvoiceEvent::InvoiceUploaded { invoice_id, owner, blob_key, content_kind, .. }) => {
            Ok(Job { owner, invoice_id, blob_key, kind: content_kind })
        }
        Ok(other) => Err(WorkError::Permanent(format!("not an upload: {}", other.event_type()))),
        Err(error) => Err(WorkError::Permanent(error.to_string())),
    }
}

#[async_trait::async_trait]
impl Worker for OcrWorker {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> &'static [(&'static str, &'static str)] {
        &[(InvoiceId::STREAM_CATEGORY, "InvoiceUploaded")]
    }

    #[tracing::instrument(name = "ocr.job", skip_all, fields(invoice_id = tracing::field::Empty), err(level = "info"))]
    async fn handle(&self, event: &RecordedEvent) -> Result<(), WorkError> {
        let job = job(event)?;
        tracing::Span::current().record("invoice_id", tracing::field::display(job.invoice_id));
        let invoice = self.handler.invoice(job.owner, job.invoice_id).await.map_err(WorkError::from)?;
        // A redelivered job whose scan was already appended goes straight to the movement.
        if invoice.status == InvoiceStatus::Uploaded {
            let key = BlobKey::parse(&job.blob_key).map_err(|e| WorkError::Permanent(e.to_string()))?;
            let bytes = self.handler.blobs().get(&key).await.map_err(|error| match error {
                BlobError::Unavailable(cause) => WorkError::Retry(cause),
                other => WorkError::Permanent(format!("the file cannot be read: {other}")),
            })?;
            let text = self.ocr.read(bytes, job.kind).await.map_err(|error| match error {
                OcrError::Unreadable(why) => WorkError::Permanent(why),
                other => WorkError::Retry(other.to_string()),
            })?;
            let reading = reading(&cashflow_receipt::parse(&text.text)).with_raw_text(&text.text);
            let scan = CommandContext::caused_by(event, "record scan");
            self.handler.record_scan(&scan, job.invoice_id, reading).await.map_err(WorkError::from)?;
        }
        let follow = CommandContext::caused_by(event, "record movement");
        self.handler.follow_invoice(&follow, job.invoice_id).await.map_err(WorkError::from)?;
        Ok(())
    }

    async fn give_up(&self, event: &RecordedEvent, reason: &str) -> Result<(), WorkError> {
        let job = job(event)?;
        let ctx = CommandContext::caused_by(event, "fail scan");
        match self.handler.fail_scan(&ctx, job.invoice_id, reason).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_transient() => Err(WorkError::Retry(error.to_string())),
            // Nothing more can be recorded about an invoice that is not there.
            Err(error) => {
                tracing::error!(invoice_id = %job.invoice_id, %error, "cannot record a failed scan");
                Ok(())
            }
        }
    }
}

/// The receipt's fields as domain values; a field that is not a valid value is left out.
pub fn reading(receipt: &cashflow_receipt::Receipt) -> Reading {
    fn read<T, U>(field: &Option<cashflow_receipt::Field<T>>, to: impl Fn(&T) -> Option<U>) -> Option<Read<U>> {
        let field = field.as_ref()?;
        Some(Read { value: to(&field.value)?, confidence: Confidence::new(field.confidence) })
    }
    Reading {
        merchant: read(&receipt.merchant, |name: &String| {
            let name: String = name.chars().take(Counterparty::MAX_CHARS).collect();
            Counterparty::parse("merchant", &name).ok()
        }),
        issued_on: read(&receipt.issued_on, |date| Some(*date)),
        total: read(&receipt.total, |total: &Decimal| Amount::try_from(*total).ok()),
        tax: read(&receipt.tax, |tax: &Decimal| (!tax.is_sign_negative()).then_some(*tax)),
        currency: read(&receipt.currency, |code: &String| Currency::parse("currency", code).ok()),
        raw_text: String::new(),
    }
}
