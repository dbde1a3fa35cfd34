//! Invoice requests, validated, and invoice views as proto messages.

use super::{command_id, date, money, present};
use cashflow_domain::date::parse_date;
use cashflow_domain::invoice::{ContentKind, FileName, InvoiceStatus, Read, Sha256Hex, image_dimensions};
use cashflow_domain::{AccountId, Amount, CommandId, Counterparty, InvoiceId, ValidationError};
use cashflow_projection_invoices::{InvoiceCursor, InvoiceView};
use cashflow_proto::v1 as pb;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// `UploadInvoice`'s header, validated.
#[derive(Debug, Clone)]
pub struct UploadInvoice {
    pub command_id: CommandId,
    pub filename: FileName,
    /// What the client says the file is; the bytes must agree.
    pub declared: Option<ContentKind>,
    pub account_id: Option<AccountId>,
}

/// An uploaded file whose bytes were checked: its kind sniffed, its image size within limits.
#[derive(Debug, Clone)]
pub struct InvoiceFile {
    pub kind: ContentKind,
    pub bytes: bytes::Bytes,
    pub sha256: Sha256Hex,
}

/// Why an uploaded file is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRefused {
    /// Not a file we take, or not what the header said: INVALID_ARGUMENT.
    Invalid(ValidationError),
    /// An image with more pixels than allowed (a decompression bomb): RESOURCE_EXHAUSTED.
    TooManyPixels { width: u32, height: u32, max: u64 },
}

impl InvoiceFile {
    /// Checks `bytes` against what the header declared and the pixel limit.
    pub fn check(declared: Option<ContentKind>, bytes: bytes::Bytes, max_pixels: u64) -> Result<Self, FileRefused> {
        let invalid = |message: String| FileRefused::Invalid(ValidationError::new("chunk", message));
        if bytes.is_empty() {
            return Err(invalid("the file is empty".into()));
        }
        let kind =
            ContentKind::sniff(&bytes).ok_or_else(|| invalid("is not a JPEG, PNG, WebP, TIFF or PDF file".into()))?;
        if let Some(declared) = declared
            && declared != kind
        {
            return Err(FileRefused::Invalid(ValidationError::new(
                "content_type",
                format!("says {} but the file is {}", declared.media_type(), kind.media_type()),
            )));
        }
        if kind.is_image() {
            let (width, height) = image_dimensions(&bytes)
                .ok_or_else(|| invalid(format!("the {} header is unreadable", kind.media_type())))?;
            if width == 0 || height == 0 {
                return Err(invalid("the image has no pixels".into()));
            }
            if u64::from(width) * u64::from(height) > max_pixels {
                return Err(FileRefused::TooManyPixels { width, height, max: max_pixels });
            }
        }
        use sha2::Digest;
        let sha256 = Sha256Hex::from_digest(sha2::Sha256::digest(&bytes).into());
        Ok(Self { kind, bytes, sha256 })
    }
}

impl TryFrom<pb::UploadInvoiceHeader> for UploadInvoice {
    type Error = ValidationError;

    fn try_from(header: pb::UploadInvoiceHeader) -> Result<Self, Self::Error> {
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

/// `CorrectInvoice`, validated.
#[derive(Debug, Clone)]
pub struct CorrectInvoice {
    pub command_id: CommandId,
    pub invoice_id: InvoiceId,
    pub merchant: Option<Counterparty>,
    pub issued_on: Option<NaiveDate>,
    pub total: Option<Amount>,
}

impl TryFrom<pb::CorrectInvoiceRequest> for CorrectInvoice {
    type Error = ValidationError;

    fn try_from(request: pb::CorrectInvoiceRequest) -> Result<Self, Self::Error> {
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
    if raw.is_empty() {
        return Ok(None);
    }
    InvoiceCursor::decode(raw)
        .map(Some)
        .map_err(|_| ValidationError::new("page_token", "is not a token returned by this server"))
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
        uploaded_at: Some(prost_types::Timestamp {
            seconds: view.uploaded_at.timestamp(),
            nanos: i32::try_from(view.uploaded_at.timestamp_subsec_nanos()).unwrap_or(0),
        }),
        version: view.version,
        currency,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> bytes::Bytes {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend(width.to_be_bytes());
        b.extend(height.to_be_bytes());
        b.extend([8, 0, 0, 0, 0, 0, 0, 0, 0]);
        b.into()
    }

    #[test]
    fn an_empty_file_names_the_chunk() {
        let refused = InvoiceFile::check(None, bytes::Bytes::new(), 1_000_000).unwrap_err();
        assert!(matches!(refused, FileRefused::Invalid(e) if e.field == "chunk"));
    }

    #[test]
    fn a_png_declared_as_pdf_is_refused_naming_the_content_type() {
        let refused = InvoiceFile::check(Some(ContentKind::Pdf), png(10, 10), 1_000_000).unwrap_err();
        assert!(
            matches!(refused, FileRefused::Invalid(e) if e.field == "content_type" && e.message.contains("image/png"))
        );
    }

    #[test]
    fn a_decompression_bomb_header_is_refused_before_decoding() {
        let refused = InvoiceFile::check(None, png(30_000, 30_000), 40_000_000).unwrap_err();
        assert_eq!(refused, FileRefused::TooManyPixels { width: 30_000, height: 30_000, max: 40_000_000 });
    }

    #[test]
    fn text_pretending_to_be_an_image_is_refused() {
        let refused = InvoiceFile::check(None, bytes::Bytes::from_static(b"hello"), 1_000_000).unwrap_err();
        assert!(matches!(refused, FileRefused::Invalid(e) if e.field == "chunk"));
    }

    #[test]
    fn a_good_file_gets_its_kind_and_digest() {
        let file = InvoiceFile::check(Some(ContentKind::Png), png(100, 50), 1_000_000).unwrap();
        assert_eq!(file.kind, ContentKind::Png);
        assert_eq!(file.sha256.as_str().len(), 64);
    }

    #[test]
    fn a_correction_needs_a_field() {
        let request = pb::CorrectInvoiceRequest {
            command_id: uuid::Uuid::now_v7().to_string(),
            invoice_id: uuid::Uuid::now_v7().to_string(),
            ..Default::default()
        };
        assert_eq!(CorrectInvoice::try_from(request).unwrap_err().field, "merchant");
    }
}
