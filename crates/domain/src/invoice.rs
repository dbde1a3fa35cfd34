//! Invoice: a photographed receipt or PDF invoice, what OCR read from it, what the person
//! corrected, and the movement it became.
//!
//! The machine's reading and the person's corrections are both kept: effective values are
//! the person's where given, else the machine's, so a correction never erases what OCR saw.

pub mod content;

use crate::aggregate::{Aggregate, DomainEvent};
use crate::error::{DomainError, ValidationError};
use crate::{AccountId, Amount, Counterparty, Currency, InvoiceId, MovementId, OccurredOn, UserId};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

pub use content::{ContentKind, image_dimensions};

/// How sure a reading is, from 0 (a guess) to 1 (a person said so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Confidence(Decimal);

impl Confidence {
    pub const ZERO: Self = Self(Decimal::ZERO);
    pub const ONE: Self = Self(Decimal::ONE);

    /// `value` clamped into 0..=1 and rounded to 4 decimal places.
    pub fn new(value: Decimal) -> Self {
        Self(value.clamp(Decimal::ZERO, Decimal::ONE).round_dp(4).normalize())
    }

    pub fn value(&self) -> Decimal {
        self.0
    }
}

/// The confidence at which a reading is acted on: a movement is recorded from an invoice
/// only when its total and date are read at least this surely.
pub const CONFIDENT: Confidence = Confidence(Decimal::from_parts(6, 0, 0, false, 1));

/// One field as read, and how sure the reading is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Read<T> {
    pub value: T,
    pub confidence: Confidence,
}

/// What OCR and receipt understanding read from an invoice.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Reading {
    pub merchant: Option<Read<Counterparty>>,
    pub issued_on: Option<Read<NaiveDate>>,
    pub total: Option<Read<Amount>>,
    /// IVA/VAT: zero or more, never negative.
    pub tax: Option<Read<Decimal>>,
    pub currency: Option<Read<Currency>>,
    pub raw_text: String,
}

/// Most characters of raw OCR text kept in an event; the original file is kept whole anyway.
pub const MAX_RAW_TEXT_CHARS: usize = 32 * 1024;

impl Reading {
    /// `raw_text` cut to [`MAX_RAW_TEXT_CHARS`] and stripped of NULs (PostgreSQL refuses them).
    pub fn with_raw_text(mut self, raw: &str) -> Self {
        self.raw_text = raw.chars().filter(|c| *c != '\0').take(MAX_RAW_TEXT_CHARS).collect();
        self
    }
}

/// The name a file was uploaded under: its last path segment, 1 to 255 characters, printable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FileName(String);

impl FileName {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        // Browsers on some systems send the client's whole path.
        let name = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
        if name.is_empty() || name == "." || name == ".." {
            return Err(ValidationError::new(field, "must name the file"));
        }
        if name.chars().count() > 255 {
            return Err(ValidationError::new(field, "at most 255 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(ValidationError::new(field, "must not contain control characters"));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A SHA-256 digest as 64 lower-case hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sha256Hex(String);

impl Sha256Hex {
    pub fn from_digest(digest: [u8; 32]) -> Self {
        Self(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A correction of one field: what the machine had read (if anything) and what the person says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Correction<T> {
    pub machine: Option<T>,
    pub person: T,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum InvoiceEvent {
    InvoiceUploaded {
        invoice_id: InvoiceId,
        owner: UserId,
        filename: FileName,
        content_kind: ContentKind,
        size_bytes: u64,
        sha256: Sha256Hex,
        blob_key: String,
        /// The account a movement from this invoice goes to, if the person named one.
        account_id: Option<AccountId>,
    },
    InvoiceScanned(Reading),
    InvoiceScanFailed {
        reason: String,
    },
    InvoiceLinked {
        movement_id: MovementId,
    },
    /// The invoice was read but no movement is recorded from it: the person decides. Settles
    /// an invoice as an [`InvoiceLinked`](Self::InvoiceLinked) does.
    InvoiceLeftForReview {
        reason: ReviewReason,
    },
    InvoiceCorrected {
        merchant: Option<Correction<Counterparty>>,
        issued_on: Option<Correction<NaiveDate>>,
        total: Option<Correction<Amount>>,
    },
}

impl DomainEvent for InvoiceEvent {
    const EVENT_TYPES: &'static [&'static str] = &[
        "InvoiceUploaded",
        "InvoiceScanned",
        "InvoiceScanFailed",
        "InvoiceLinked",
        "InvoiceLeftForReview",
        "InvoiceCorrected",
    ];

    fn event_type(&self) -> &'static str {
        match self {
            Self::InvoiceUploaded { .. } => "InvoiceUploaded",
            Self::InvoiceScanned(_) => "InvoiceScanned",
            Self::InvoiceScanFailed { .. } => "InvoiceScanFailed",
            Self::InvoiceLinked { .. } => "InvoiceLinked",
            Self::InvoiceLeftForReview { .. } => "InvoiceLeftForReview",
            Self::InvoiceCorrected { .. } => "InvoiceCorrected",
        }
    }
}

/// How far an invoice got. As [`Invoice::status`], how far the machine's reading got; as
/// [`Invoice::processing_status`], what a client is shown: settled or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    #[default]
    Uploaded,
    Scanned,
    Failed,
}

/// Why no movement was recorded from a read invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewReason {
    /// Total or date were not read surely enough.
    NotSureEnough,
    /// The receipt's currency is not the account's.
    OtherCurrency,
    /// The total has more decimals than the account's currency has (0.5 JPY): not rounded.
    FinerThanCurrency,
    /// No account was named and the person has none or several.
    NoAccount,
    /// The account named is closed.
    AccountClosed,
    /// Recording the movement kept failing; the worker gave up.
    NotRecorded,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UploadedInvoice {
    pub id: InvoiceId,
    pub owner: UserId,
    pub filename: FileName,
    pub content_kind: ContentKind,
    pub size_bytes: u64,
    pub sha256: Sha256Hex,
    pub blob_key: String,
    pub account_id: Option<AccountId>,
}

/// What the person corrected; `None` keeps the machine's reading.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Corrections {
    pub merchant: Option<Counterparty>,
    pub issued_on: Option<NaiveDate>,
    pub total: Option<Amount>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Invoice {
    pub uploaded: Option<UploadedInvoice>,
    /// How far the machine's reading got: `Scanned` once read, `Failed` when unreadable. What
    /// clients see is [`processing_status`](Self::processing_status).
    pub status: InvoiceStatus,
    /// Why no movement is recorded from it, when the machine left it to the person.
    pub left_for_review: Option<ReviewReason>,
    pub reading: Option<Reading>,
    pub failure_reason: Option<String>,
    pub corrections: Corrections,
    pub movement_id: Option<MovementId>,
}

/// What a movement recorded from an invoice says.
#[derive(Debug, Clone, PartialEq)]
pub struct MovementDraft {
    pub amount: Amount,
    pub occurred_on: OccurredOn,
    pub merchant: Option<Counterparty>,
}

impl Invoice {
    /// The invoice if it exists and belongs to `owner`; another user's is "not found".
    pub fn owned_by(&self, owner: UserId) -> Option<&UploadedInvoice> {
        self.uploaded.as_ref().filter(|i| i.owner == owner)
    }

    pub fn merchant(&self) -> Option<Read<Counterparty>> {
        corrected_or_read(&self.corrections.merchant, self.reading.as_ref().and_then(|r| r.merchant.as_ref()))
    }

    pub fn issued_on(&self) -> Option<Read<NaiveDate>> {
        corrected_or_read(&self.corrections.issued_on, self.reading.as_ref().and_then(|r| r.issued_on.as_ref()))
    }

    pub fn total(&self) -> Option<Read<Amount>> {
        corrected_or_read(&self.corrections.total, self.reading.as_ref().and_then(|r| r.total.as_ref()))
    }

    /// What a client is shown. `Uploaded` while a step is still to come (the reading, then the
    /// movement or the decision to leave it to the person); then settled: `Scanned` with the
    /// movement linked or left for review, or `Failed`. A movement linked before the reading
    /// (a correction came first) settles it only once the reading is done.
    pub fn processing_status(&self) -> InvoiceStatus {
        match (self.status, self.movement_id, self.left_for_review) {
            (InvoiceStatus::Uploaded, _, _) => InvoiceStatus::Uploaded,
            (_, Some(_), _) => InvoiceStatus::Scanned,
            (InvoiceStatus::Failed, None, _) => InvoiceStatus::Failed,
            (InvoiceStatus::Scanned, None, Some(_)) => InvoiceStatus::Scanned,
            (InvoiceStatus::Scanned, None, None) => InvoiceStatus::Uploaded,
        }
    }

    /// Whether the machine is done with it: nothing more happens until the person corrects it.
    pub fn settled(&self) -> bool {
        self.processing_status() != InvoiceStatus::Uploaded
    }

    /// The movement this invoice should be, when its total and date are at least `confident`
    /// (a person's correction always is) and, if the receipt names a currency, it is `currency`
    /// (the account's: a movement's currency is always its account's).
    ///
    /// A total finer than `currency`'s minor unit (12.345 EUR) drafts nothing: read by the
    /// machine it is a misreading, and rounding it would record an amount nobody read; so the
    /// invoice waits for the person's correction, as an unsure reading does.
    pub fn movement_draft(&self, confident: Confidence, currency: Currency) -> Option<MovementDraft> {
        self.movement_draft_or_why(confident, currency).ok()
    }

    /// As [`movement_draft`](Self::movement_draft), saying why there is none.
    pub fn movement_draft_or_why(
        &self,
        confident: Confidence,
        currency: Currency,
    ) -> Result<MovementDraft, ReviewReason> {
        let total = self.total().filter(|t| t.confidence >= confident).ok_or(ReviewReason::NotSureEnough)?;
        let issued_on = self.issued_on().filter(|d| d.confidence >= confident).ok_or(ReviewReason::NotSureEnough)?;
        let read_currency = self.reading.as_ref().and_then(|r| r.currency.as_ref());
        if read_currency.is_some_and(|c| c.value != currency && self.corrections.total.is_none()) {
            return Err(ReviewReason::OtherCurrency);
        }
        currency.check_minor_units("total", total.value.value()).map_err(|_| ReviewReason::FinerThanCurrency)?;
        Ok(MovementDraft {
            amount: total.value,
            occurred_on: OccurredOn::from_date(issued_on.value),
            merchant: self.merchant().map(|m| m.value),
        })
    }
}

/// The person's value, unless it is what the invoice already says.
fn changed<T: PartialEq>(person: Option<T>, current: Option<T>) -> Option<T> {
    person.filter(|p| Some(p) != current.as_ref())
}

fn corrected_or_read<T: Clone>(corrected: &Option<T>, read: Option<&Read<T>>) -> Option<Read<T>> {
    match corrected {
        Some(value) => Some(Read { value: value.clone(), confidence: Confidence::ONE }),
        None => read.cloned(),
    }
}

impl Aggregate for Invoice {
    type Event = InvoiceEvent;
    const STREAM_CATEGORY: &'static str = InvoiceId::STREAM_CATEGORY;

    fn apply(&mut self, event: &InvoiceEvent) {
        match event {
            InvoiceEvent::InvoiceUploaded {
                invoice_id,
                owner,
                filename,
                content_kind,
                size_bytes,
                sha256,
                blob_key,
                account_id,
            } => {
                self.uploaded = Some(UploadedInvoice {
                    id: *invoice_id,
                    owner: *owner,
                    filename: filename.clone(),
                    content_kind: *content_kind,
                    size_bytes: *size_bytes,
                    sha256: sha256.clone(),
                    blob_key: blob_key.clone(),
                    account_id: *account_id,
                });
                self.status = InvoiceStatus::Uploaded;
            }
            InvoiceEvent::InvoiceScanned(reading) => {
                self.reading = Some(reading.clone());
                self.status = InvoiceStatus::Scanned;
                self.failure_reason = None;
            }
            InvoiceEvent::InvoiceScanFailed { reason } => {
                self.status = InvoiceStatus::Failed;
                self.failure_reason = Some(reason.clone());
            }
            InvoiceEvent::InvoiceLinked { movement_id } => self.movement_id = Some(*movement_id),
            InvoiceEvent::InvoiceLeftForReview { reason } => self.left_for_review = Some(*reason),
            InvoiceEvent::InvoiceCorrected { merchant, issued_on, total } => {
                if let Some(c) = merchant {
                    self.corrections.merchant = Some(c.person.clone());
                }
                if let Some(c) = issued_on {
                    self.corrections.issued_on = Some(c.person);
                }
                if let Some(c) = total {
                    self.corrections.total = Some(c.person);
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct UploadInvoice {
    pub invoice_id: InvoiceId,
    pub owner: UserId,
    pub filename: FileName,
    pub content_kind: ContentKind,
    pub size_bytes: u64,
    pub sha256: Sha256Hex,
    pub blob_key: String,
    pub account_id: Option<AccountId>,
}

#[derive(Debug, Clone)]
pub enum InvoiceCommand {
    Upload(UploadInvoice),
    RecordScan {
        owner: UserId,
        reading: Reading,
    },
    FailScan {
        owner: UserId,
        reason: String,
    },
    Link {
        owner: UserId,
        movement_id: MovementId,
    },
    /// Settle a read invoice without a movement: the person decides.
    LeaveForReview {
        owner: UserId,
        reason: ReviewReason,
    },
    Correct {
        owner: UserId,
        merchant: Option<Counterparty>,
        issued_on: Option<NaiveDate>,
        total: Option<Amount>,
    },
}

/// Longest failure reason kept.
const MAX_REASON_CHARS: usize = 500;

pub fn decide(state: &Invoice, command: InvoiceCommand) -> Result<Vec<InvoiceEvent>, DomainError> {
    let not_found = DomainError::NotFound { what: "invoice" };
    match command {
        InvoiceCommand::Upload(upload) => {
            if state.uploaded.is_some() {
                return Err(DomainError::AlreadyExists { what: "invoice" });
            }
            Ok(vec![InvoiceEvent::InvoiceUploaded {
                invoice_id: upload.invoice_id,
                owner: upload.owner,
                filename: upload.filename,
                content_kind: upload.content_kind,
                size_bytes: upload.size_bytes,
                sha256: upload.sha256,
                blob_key: upload.blob_key,
                account_id: upload.account_id,
            }])
        }
        InvoiceCommand::RecordScan { owner, reading } => {
            state.owned_by(owner).ok_or(not_found)?;
            // A second reading of the same file (a redelivered job) changes nothing.
            if state.status == InvoiceStatus::Scanned {
                return Ok(vec![]);
            }
            Ok(vec![InvoiceEvent::InvoiceScanned(reading)])
        }
        InvoiceCommand::FailScan { owner, reason } => {
            state.owned_by(owner).ok_or(not_found)?;
            // Read, but the steps after the reading kept failing: the reading stands, and the
            // invoice is settled for the person rather than left processing for ever.
            if state.status == InvoiceStatus::Scanned && !state.settled() {
                return Ok(vec![InvoiceEvent::InvoiceLeftForReview { reason: ReviewReason::NotRecorded }]);
            }
            if state.status != InvoiceStatus::Uploaded {
                return Ok(vec![]);
            }
            let reason: String = reason.chars().filter(|c| !c.is_control()).take(MAX_REASON_CHARS).collect();
            Ok(vec![InvoiceEvent::InvoiceScanFailed { reason }])
        }
        InvoiceCommand::Link { owner, movement_id } => {
            state.owned_by(owner).ok_or(not_found)?;
            if state.movement_id == Some(movement_id) {
                return Ok(vec![]);
            }
            Ok(vec![InvoiceEvent::InvoiceLinked { movement_id }])
        }
        InvoiceCommand::LeaveForReview { owner, reason } => {
            state.owned_by(owner).ok_or(not_found)?;
            // Only a read invoice that is not settled yet: before the reading a step is still
            // to come, and a linked or failed one is settled already.
            if state.status != InvoiceStatus::Scanned || state.settled() {
                return Ok(vec![]);
            }
            Ok(vec![InvoiceEvent::InvoiceLeftForReview { reason }])
        }
        InvoiceCommand::Correct { owner, merchant, issued_on, total } => {
            state.owned_by(owner).ok_or(not_found)?;
            if merchant.is_none() && issued_on.is_none() && total.is_none() {
                return Err(
                    ValidationError::new("merchant", "give at least one of merchant, issued_on and total").into()
                );
            }
            let merchant = changed(merchant, state.merchant().map(|m| m.value));
            let issued_on = changed(issued_on, state.issued_on().map(|d| d.value));
            let total = changed(total, state.total().map(|t| t.value));
            // The receipt's currency, when read, is the one the total is in. (The account's,
            // which the movement takes, is checked again when the movement is recorded.)
            if let (Some(total), Some(read)) = (total, state.reading.as_ref().and_then(|r| r.currency.as_ref())) {
                read.value.check_minor_units("total", total.value())?;
            }
            if merchant.is_none() && issued_on.is_none() && total.is_none() {
                return Ok(vec![]);
            }
            let machine = state.reading.as_ref();
            Ok(vec![InvoiceEvent::InvoiceCorrected {
                merchant: merchant.map(|person| Correction {
                    machine: machine.and_then(|r| r.merchant.as_ref()).map(|m| m.value.clone()),
                    person,
                }),
                issued_on: issued_on.map(|person| Correction {
                    machine: machine.and_then(|r| r.issued_on.as_ref()).map(|d| d.value),
                    person,
                }),
                total: total.map(|person| Correction {
                    machine: machine.and_then(|r| r.total.as_ref()).map(|t| t.value),
                    person,
                }),
            }])
        }
    }
}

#[cfg(test)]
mod tests;
