//! [`InvoicesProjection`]: folds invoice events into the `invoices` table, as the `Invoice`
//! aggregate folds them into its state.
//!
//! [`Invoice::processing_status`]: cashflow_domain::invoice::Invoice::processing_status
//!
//! `status` is what clients see, as [`Invoice::processing_status`] says: `uploaded` while a step
//! is still to come (the reading, then the movement or the review), then `scanned` (linked, or
//! left for review) or `failed`. A row has been read when `raw_text` is set: a reading always
//! carries its text, and nothing else writes it.
//!
//! The upload inserts the row (`ON CONFLICT DO NOTHING`); every later event updates it only
//! under the same owner and a lower stream version, so an event applied twice, or forged under
//! another owner's name, changes nothing. Rows hold only values taken from events, so
//! replaying the store from position 0 writes an identical table.
//!
//! Invoices arrive at the pace people photograph receipts, so `apply_batch` applies each
//! event in turn, a statement each: fast enough, and one write path.

use crate::columns::status_text;
use async_trait::async_trait;
use cashflow_domain::InvoiceId;
use cashflow_domain::invoice::{InvoiceEvent, InvoiceStatus, Read};
use cashflow_eventstore::RecordedEvent;
use cashflow_projection::decode::{aggregate_id, decode, to_bigint};
use cashflow_projection::{Projection, ProjectionError};
use rust_decimal::Decimal;
use sqlx::PgConnection;

/// The invoices read model's projection. Stateless: everything it knows is in the table.
#[derive(Debug, Clone, Copy, Default)]
pub struct InvoicesProjection;

#[async_trait]
impl Projection for InvoicesProjection {
    fn name(&self) -> &'static str {
        crate::NAME
    }

    /// Applies each event in turn with [`apply`](InvoicesProjection::apply).
    #[tracing::instrument(name = "invoices.apply_batch", skip_all, fields(events = events.len()), err)]
    async fn apply_batch(&self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        for event in events {
            self.apply(tx, event).await?;
        }
        Ok(())
    }

    /// Empties the invoices table, before a rebuild from position 0.
    #[tracing::instrument(name = "invoices.reset", skip_all, err)]
    async fn reset(&self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        sqlx::query("TRUNCATE invoices").execute(&mut *tx).await?;
        Ok(())
    }
}

impl InvoicesProjection {
    /// Applies one event. Other aggregates' streams, and invoice event types this projection
    /// does not know (added later), are skipped; a known type that cannot be decoded is
    /// [`ProjectionError::Decode`], so the projector stops rather than silently diverge.
    #[tracing::instrument(
        name = "invoices.apply",
        skip_all,
        fields(position = event.position, stream_id = %event.stream_id, event_type = %event.event_type),
        err
    )]
    pub async fn apply(&self, tx: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        if event.stream_category() != InvoiceId::STREAM_CATEGORY {
            return Ok(());
        }
        if let Some(decoded) = decode::<InvoiceEvent>(event)? {
            apply_invoice(tx, event, decoded).await?;
        }
        Ok(())
    }
}

/// A reading's value and its confidence, for a value column and its confidence column.
fn split<T, U>(read: Option<&Read<T>>, value: impl FnOnce(&T) -> U) -> (Option<U>, Option<Decimal>) {
    match read {
        Some(read) => (Some(value(&read.value)), Some(read.confidence.value())),
        None => (None, None),
    }
}

async fn apply_invoice(
    tx: &mut PgConnection,
    event: &RecordedEvent,
    decoded: InvoiceEvent,
) -> Result<(), ProjectionError> {
    let id = aggregate_id(event)?;
    let version = to_bigint(event, "version", event.version)?;
    let query = match &decoded {
        InvoiceEvent::InvoiceUploaded { filename, content_kind, size_bytes, sha256, blob_key, account_id, .. } => {
            sqlx::query(
                "INSERT INTO invoices (id, owner, status, filename, content_type, size_bytes, sha256, blob_key,
                                       account_id, uploaded_at, version, uploaded_position)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(event.owner)
            .bind(status_text(InvoiceStatus::Uploaded))
            .bind(filename.as_str())
            .bind(content_kind.media_type())
            .bind(to_bigint(event, "size_bytes", *size_bytes)?)
            .bind(sha256.as_str())
            .bind(blob_key.as_str())
            .bind(account_id.map(|a| a.as_uuid()))
            .bind(event.recorded_at)
            .bind(version)
            .bind(to_bigint(event, "position", event.position)?)
        }
        // A reading replaces the previous one whole, and clears an earlier failure. The
        // movement or the review is still to come, unless a correction linked one already.
        InvoiceEvent::InvoiceScanned(reading) => {
            let (merchant, merchant_confidence) = split(reading.merchant.as_ref(), |m| m.as_str().to_owned());
            let (issued_on, date_confidence) = split(reading.issued_on.as_ref(), |d| *d);
            let (total, total_confidence) = split(reading.total.as_ref(), |t| t.value());
            let (tax, tax_confidence) = split(reading.tax.as_ref(), |t| *t);
            let (currency, currency_confidence) = split(reading.currency.as_ref(), |c| c.code().to_owned());
            sqlx::query(
                "UPDATE invoices
                 SET status = CASE WHEN movement_id IS NULL THEN $4 ELSE 'scanned' END,
                     merchant = $5, merchant_confidence = $6, issued_on = $7, date_confidence = $8,
                     total = $9, total_confidence = $10, tax = $11, tax_confidence = $12, currency = $13,
                     currency_confidence = $14, raw_text = $15, failure_reason = NULL, version = $3
                 WHERE id = $1 AND owner = $2 AND version < $3",
            )
            .bind(id)
            .bind(event.owner)
            .bind(version)
            .bind(status_text(InvoiceStatus::Uploaded))
            .bind(merchant)
            .bind(merchant_confidence)
            .bind(issued_on)
            .bind(date_confidence)
            .bind(total)
            .bind(total_confidence)
            .bind(tax)
            .bind(tax_confidence)
            .bind(currency)
            .bind(currency_confidence)
            .bind(reading.raw_text.as_str())
        }
        // Unreadable: failed, unless a correction already recorded its movement.
        InvoiceEvent::InvoiceScanFailed { reason } => sqlx::query(
            "UPDATE invoices SET status = CASE WHEN movement_id IS NULL THEN $4 ELSE 'scanned' END,
                                 failure_reason = $5, version = $3
             WHERE id = $1 AND owner = $2 AND version < $3",
        )
        .bind(id)
        .bind(event.owner)
        .bind(version)
        .bind(status_text(InvoiceStatus::Failed))
        .bind(reason.as_str()),
        // The movement settles a read (or unreadable) invoice; before the reading, the reading
        // is still to come.
        InvoiceEvent::InvoiceLinked { movement_id } => sqlx::query(
            "UPDATE invoices
             SET movement_id = $4, version = $3,
                 status = CASE WHEN raw_text IS NOT NULL OR status = 'failed' THEN 'scanned' ELSE status END
             WHERE id = $1 AND owner = $2 AND version < $3",
        )
        .bind(id)
        .bind(event.owner)
        .bind(version)
        .bind(movement_id.as_uuid()),
        // Read, no movement: settled for the person to decide.
        InvoiceEvent::InvoiceLeftForReview { .. } => sqlx::query(
            "UPDATE invoices
             SET version = $3, status = CASE WHEN raw_text IS NOT NULL THEN 'scanned' ELSE status END
             WHERE id = $1 AND owner = $2 AND version < $3",
        )
        .bind(id)
        .bind(event.owner)
        .bind(version),
        // Each field corrected replaces the person's earlier value; the others, and the
        // machine's reading, stay as they were.
        InvoiceEvent::InvoiceCorrected { merchant, issued_on, total } => sqlx::query(
            "UPDATE invoices
             SET corrected_merchant = coalesce($4, corrected_merchant),
                 corrected_issued_on = coalesce($5, corrected_issued_on),
                 corrected_total = coalesce($6, corrected_total), version = $3
             WHERE id = $1 AND owner = $2 AND version < $3",
        )
        .bind(id)
        .bind(event.owner)
        .bind(version)
        .bind(merchant.as_ref().map(|c| c.person.as_str().to_owned()))
        .bind(issued_on.as_ref().map(|c| c.person))
        .bind(total.as_ref().map(|c| c.person.value())),
    };
    query.execute(&mut *tx).await?;
    Ok(())
}
