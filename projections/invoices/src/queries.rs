//! [`InvoiceQueries`]: the invoices read model's reads, each scoped to one owner, so another
//! user's invoice ids simply find nothing.

mod cursor;

pub use cashflow_projection::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, QueryError};
pub use cursor::{InvalidPageToken, InvoiceCursor};

use crate::columns::parse_status;
use cashflow_domain::invoice::{Confidence, InvoiceStatus, Read};
use cashflow_projection::query::{effective_page_size, push_page, split_page, unsigned};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use uuid::Uuid;

/// One page of invoices, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct InvoicePage {
    pub invoices: Vec<InvoiceView>,
    /// Where the next page starts; `None` when this page is the last.
    pub next: Option<InvoiceCursor>,
}

/// An invoice as the read model holds it: every column of its row.
///
/// The machine's reading (`scanned_*`, `tax`, `currency`, each with its confidence) and the
/// person's corrections (`corrected_*`) are both kept; the effective values, a correction
/// over the reading, are [`merchant`](Self::merchant), [`issued_on`](Self::issued_on) and
/// [`total`](Self::total).
#[derive(Debug, Clone, PartialEq)]
pub struct InvoiceView {
    pub invoice_id: Uuid,
    pub status: InvoiceStatus,
    pub filename: String,
    /// The media type sniffed from the bytes, e.g. `image/jpeg`.
    pub content_type: String,
    pub size_bytes: u64,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    /// Where the file is in the blob store.
    pub blob_key: String,
    pub account_id: Option<Uuid>,
    /// What OCR read (columns `merchant`, `merchant_confidence`); `None` before a scan, or when
    /// the scan did not find it.
    pub scanned_merchant: Option<Read<String>>,
    /// Columns `issued_on`, `date_confidence`.
    pub scanned_issued_on: Option<Read<NaiveDate>>,
    /// Columns `total`, `total_confidence`.
    pub scanned_total: Option<Read<Decimal>>,
    pub tax: Option<Read<Decimal>>,
    /// An ISO 4217 code.
    pub currency: Option<Read<String>>,
    /// `None` before a scan.
    pub raw_text: Option<String>,
    pub corrected_merchant: Option<String>,
    pub corrected_issued_on: Option<NaiveDate>,
    pub corrected_total: Option<Decimal>,
    /// Why the last scan failed; cleared by a later successful scan.
    pub failure_reason: Option<String>,
    /// The movement recorded from this invoice.
    pub movement_id: Option<Uuid>,
    /// When the upload was recorded.
    pub uploaded_at: DateTime<Utc>,
    /// The invoice stream's version, for an `expected_version` on the next command.
    pub version: u64,
    /// The global position of the upload.
    pub uploaded_position: u64,
}

impl InvoiceView {
    /// The merchant: the person's correction (confidence 1) if any, else what OCR read.
    pub fn merchant(&self) -> Option<Read<String>> {
        effective(&self.corrected_merchant, &self.scanned_merchant)
    }

    /// The issue date: the person's correction (confidence 1) if any, else what OCR read.
    pub fn issued_on(&self) -> Option<Read<NaiveDate>> {
        effective(&self.corrected_issued_on, &self.scanned_issued_on)
    }

    /// The total: the person's correction (confidence 1) if any, else what OCR read.
    pub fn total(&self) -> Option<Read<Decimal>> {
        effective(&self.corrected_total, &self.scanned_total)
    }
}

fn effective<T: Clone>(corrected: &Option<T>, scanned: &Option<Read<T>>) -> Option<Read<T>> {
    match corrected {
        Some(value) => Some(Read { value: value.clone(), confidence: Confidence::ONE }),
        None => scanned.clone(),
    }
}

/// `SELECT` of every column that `invoice_view` reads, a literal for `concat!`.
macro_rules! select_invoices {
    () => {
        "SELECT id, status, filename, content_type, size_bytes, sha256, blob_key, account_id, merchant,
                merchant_confidence, issued_on, date_confidence, total, total_confidence, tax, tax_confidence,
                currency, currency_confidence, raw_text, corrected_merchant, corrected_issued_on, corrected_total,
                failure_reason, movement_id, uploaded_at, version, uploaded_position
         FROM invoices "
    };
}

/// The invoices reads. Cheap to clone: the pool is shared.
#[derive(Debug, Clone)]
pub struct InvoiceQueries {
    pool: PgPool,
}

impl InvoiceQueries {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// One of `owner`'s invoices; `None` when it does not exist or is someone else's.
    #[tracing::instrument(name = "invoices.get", skip(self), err)]
    pub async fn get(&self, owner: Uuid, invoice_id: Uuid) -> Result<Option<InvoiceView>, QueryError> {
        let row = sqlx::query(concat!(select_invoices!(), "WHERE id = $1 AND owner = $2"))
            .bind(invoice_id)
            .bind(owner)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(invoice_view).transpose()
    }

    /// A page of `owner`'s invoices, newest upload first (`uploaded_at DESC, id DESC`),
    /// starting after `after`. Keyset pagination: a deep page costs what the first does.
    /// `page_size` 0 means [`DEFAULT_PAGE_SIZE`]; above [`MAX_PAGE_SIZE`] it is capped.
    #[tracing::instrument(name = "invoices.list", skip(self), err)]
    pub async fn list(
        &self,
        owner: Uuid,
        page_size: u32,
        after: Option<InvoiceCursor>,
    ) -> Result<InvoicePage, QueryError> {
        let page_size = effective_page_size(page_size) as usize;
        let mut query = QueryBuilder::<Postgres>::new(concat!(select_invoices!(), "WHERE owner = "));
        query.push_bind(owner);
        push_page(&mut query, "uploaded_at", after.map(|a| (a.uploaded_at, a.invoice_id)), page_size);
        let rows = query.build().fetch_all(&self.pool).await?;
        let mut invoices = rows.iter().map(invoice_view).collect::<Result<Vec<_>, _>>()?;
        let next = split_page(&mut invoices, page_size, |i| InvoiceCursor {
            uploaded_at: i.uploaded_at,
            invoice_id: i.invoice_id,
        });
        Ok(InvoicePage { invoices, next })
    }

    /// `owner`'s first upload of the file with this SHA-256 (lower-case hex), if any: the
    /// invoice a repeated upload of the same file refers to.
    #[tracing::instrument(name = "invoices.find_by_sha256", skip(self), err)]
    pub async fn find_by_sha256(&self, owner: Uuid, sha256: &str) -> Result<Option<InvoiceView>, QueryError> {
        let row = sqlx::query(concat!(
            select_invoices!(),
            "WHERE owner = $1 AND sha256 = $2 ORDER BY uploaded_position, id LIMIT 1"
        ))
        .bind(owner)
        .bind(sha256)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(invoice_view).transpose()
    }
}

fn invoice_view(row: &PgRow) -> Result<InvoiceView, QueryError> {
    let status: &str = row.try_get("status")?;
    Ok(InvoiceView {
        invoice_id: row.try_get("id")?,
        status: parse_status(status).ok_or_else(|| QueryError::Corrupt(format!("unknown status {status:?}")))?,
        filename: row.try_get("filename")?,
        content_type: row.try_get("content_type")?,
        size_bytes: unsigned(row, "size_bytes")?,
        sha256: row.try_get("sha256")?,
        blob_key: row.try_get("blob_key")?,
        account_id: row.try_get("account_id")?,
        scanned_merchant: read(row, "merchant", "merchant_confidence")?,
        scanned_issued_on: read(row, "issued_on", "date_confidence")?,
        scanned_total: read(row, "total", "total_confidence")?,
        tax: read(row, "tax", "tax_confidence")?,
        currency: read(row, "currency", "currency_confidence")?,
        raw_text: row.try_get("raw_text")?,
        corrected_merchant: row.try_get("corrected_merchant")?,
        corrected_issued_on: row.try_get("corrected_issued_on")?,
        corrected_total: row.try_get("corrected_total")?,
        failure_reason: row.try_get("failure_reason")?,
        movement_id: row.try_get("movement_id")?,
        uploaded_at: row.try_get("uploaded_at")?,
        version: unsigned(row, "version")?,
        uploaded_position: unsigned(row, "uploaded_position")?,
    })
}

/// A value column and its confidence column, which the projection writes together.
fn read<T>(row: &PgRow, value: &str, confidence: &str) -> Result<Option<Read<T>>, QueryError>
where
    T: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    match (row.try_get::<Option<T>, _>(value)?, row.try_get::<Option<Decimal>, _>(confidence)?) {
        (Some(value), Some(confidence)) => Ok(Some(Read { value, confidence: Confidence::new(confidence) })),
        (None, None) => Ok(None),
        _ => Err(QueryError::Corrupt(format!("{value} and {confidence} must be both set or both NULL"))),
    }
}
