//! Invoice requests parsed into the application's inputs, and invoice views as proto messages.

use super::{FromRequest, command_id, date, money, present};
use cashflow_app::input::{CorrectInvoice, UploadInvoice};
use cashflow_domain::date::parse_date;
use cashflow_domain::invoice::{ContentKind, FileName, InvoiceStatus, Read};
use cashflow_domain::{AccountId, Amount, Counterparty, InvoiceId, ValidationError};
use cashflow_projection_invoices::{InvoiceCursor, InvoiceView};
use cashflow_proto::v1 as pb;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

impl FromRequest<pb::UploadInvoiceHeader> for UploadInvoice {
    fn from_request(header: pb::UploadInvoiceHeader) -> Result<Self, ValidationError> {
        let declared = match present(Some(&header.content_type)) {
            None => None,
            Some(raw) => Some(ContentKind::from_media_type(raw).ok_or_else(|| {
                ValidationError::new(
                    "content_type",
                    "must be image/jpeg, image/png, image/webp, image/tiff or application/pdf",
                )
            })?),
        };
        Ok(Self {
            command_id: command_id(&header.command_id)?,
            filename: FileName::parse("filename", &header.filename)?,
            declared,
            account_id: present(header.account_id.as_deref())
                .map(|raw| AccountId::parse("account_id", raw))
                .transpose()?,
        })
    }
}

impl FromRequest<pb::CorrectInvoiceRequest> for CorrectInvoice {
    fn from_request(request: pb::CorrectInvoiceRequest) -> Result<Self, ValidationError> {
        let correction = Self {
            command_id: command_id(&request.command_id)?,
            invoice_id: invoice_id(&request.invoice_id)?,
            merchant: present(request.merchant.as_deref())
                .map(|raw| Counterparty::parse("merchant", raw))
                .transpose()?,
            issued_on: present(request.issued_on.as_deref()).map(|raw| parse_date("issued_on", raw)).transpose()?,
            total: present(request.total.as_deref()).map(|raw| Amount::parse("total", raw)).transpose()?,
        };
        if correction.merchant.is_none() && correction.issued_on.is_none() && correction.total.is_none() {
            return Err(ValidationError::new("merchant", "give at least one of merchant, issued_on and total"));
        }
        Ok(correction)
    }
}

pub fn invoice_id(raw: &str) -> Result<InvoiceId, ValidationError> {
    InvoiceId::parse("invoice_id", raw)
}

pub fn invoice_page_token(raw: &str) -> Result<Option<InvoiceCursor>, ValidationError> {
    super::cursor(raw, |raw| InvoiceCursor::decode(raw).ok())
}

fn confidence(read: Option<&Read<impl Sized>>) -> f32 {
    // The proto's 0–1 float is for display; the exact value stays a decimal inside.
    read.and_then(|r| r.confidence.value().to_f32()).unwrap_or(0.0)
}

pub fn invoice_to_proto(view: InvoiceView) -> pb::Invoice {
    let currency = view.currency.as_ref().map(|c| c.value.clone()).unwrap_or_default();
    let amount = |value: Decimal| money(value, if currency.is_empty() { "EUR" } else { &currency });
    let (merchant, issued_on, total) = (view.merchant(), view.issued_on(), view.total());
    pb::Invoice {
        invoice_id: view.invoice_id.to_string(),
        status: match view.status {
            InvoiceStatus::Uploaded => pb::InvoiceStatus::Uploaded,
            InvoiceStatus::Scanned => pb::InvoiceStatus::Scanned,
            InvoiceStatus::Failed => pb::InvoiceStatus::Failed,
        }
        .into(),
        filename: view.filename,
        content_type: view.content_type,
        size_bytes: view.size_bytes,
        sha256: view.sha256,
        merchant_confidence: confidence(merchant.as_ref()),
        date_confidence: confidence(issued_on.as_ref()),
        total_confidence: confidence(total.as_ref()),
        merchant: merchant.map(|m| m.value).unwrap_or_default(),
        issued_on: issued_on.map(|d| date(d.value)).unwrap_or_default(),
        total: total.map(|t| amount(t.value)).unwrap_or_default(),
        tax: view.tax.as_ref().map(|t| amount(t.value)).unwrap_or_default(),
        raw_text: view.raw_text.unwrap_or_default(),
        failure_reason: view.failure_reason.unwrap_or_default(),
        movement_id: view.movement_id.map(|id| id.to_string()).unwrap_or_default(),
        scanned_merchant: view.scanned_merchant.map(|m| m.value).unwrap_or_default(),
        scanned_issued_on: view.scanned_issued_on.map(|d| date(d.value)).unwrap_or_default(),
        scanned_total: view.scanned_total.map(|t| amount(t.value)).unwrap_or_default(),
        account_id: view.account_id.map(|id| id.to_string()).unwrap_or_default(),
        uploaded_at: Some(super::timestamp(view.uploaded_at)),
        version: view.version,
        currency,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_correction_needs_a_field() {
        let request = pb::CorrectInvoiceRequest {
            command_id: uuid::Uuid::now_v7().to_string(),
            invoice_id: uuid::Uuid::now_v7().to_string(),
            ..Default::default()
        };
        assert_eq!(CorrectInvoice::from_request(request).unwrap_err().field, "merchant");
    }
}
