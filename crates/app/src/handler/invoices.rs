//! Invoice commands: upload (blob first, then the event), the OCR worker's scan results, the
//! person's corrections, and the movement an invoice becomes or its review by the person.

use super::{CommandHandler, Created};
use crate::context::CommandContext;
use crate::error::AppError;
use crate::input;
use crate::ports::{LedgerLookups, PortError};
use cashflow_blob::{BlobKey, BlobStore};
use cashflow_domain::account::Account;
use cashflow_domain::invoice::{
    self, CONFIDENT, Invoice, InvoiceCommand, InvoiceStatus, Reading, ReviewReason, UploadInvoice,
};
use cashflow_domain::movement::{Direction, Movement, MovementSource};
use cashflow_domain::{AccountId, Description, InvoiceId, Reason, UserId, ValidationError};
use cashflow_eventstore::{AppendOutcome, ExpectedVersion, StoreError};
use std::sync::Arc;

/// The one invoice a person has for a file: the same bytes uploaded again are the same invoice,
/// decided by the stream itself rather than by a lookup that could race.
pub fn invoice_id_for(owner: UserId, sha256: &invoice::Sha256Hex) -> InvoiceId {
    InvoiceId::from_uuid(crate::context::derived_uuid(&[
        b"cashflow invoice\0",
        owner.as_uuid().as_bytes(),
        sha256.as_str().as_bytes(),
    ]))
}

/// Where an invoice's original is kept.
pub fn blob_key(owner: UserId, sha256: &invoice::Sha256Hex) -> Result<BlobKey, AppError> {
    BlobKey::from_segments(["invoices", &owner.to_string(), sha256.as_str()]).map_err(AppError::internal)
}

/// The invoice commands: they store files and read the ledger for an invoice's default account,
/// so they take blob storage and the ledger lookups at construction.
#[derive(Clone)]
pub struct InvoiceCommands {
    commands: CommandHandler,
    blobs: Arc<dyn BlobStore>,
    ledger: Arc<dyn LedgerLookups>,
}

impl std::fmt::Debug for InvoiceCommands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvoiceCommands").finish_non_exhaustive()
    }
}

impl InvoiceCommands {
    pub fn new(commands: CommandHandler, blobs: Arc<dyn BlobStore>, ledger: Arc<dyn LedgerLookups>) -> Self {
        Self { commands, blobs, ledger }
    }

    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.blobs
    }

    /// Stores the file, then appends InvoiceUploaded. A file this person uploaded before
    /// answers the first invoice, and writes the file again if it went missing.
    ///
    /// The file is never deleted on an unknown outcome (an append that may have committed):
    /// the key is the file's digest, so the same upload's retry, or another upload of the same
    /// file, would find an invoice without its original. Only a definite refusal discards it,
    /// and only while no invoice claims it (see [`discard_unclaimed`](Self::discard_unclaimed)).
    #[tracing::instrument(name = "command.upload_invoice", skip_all, err(level = "info"),
        fields(owner = %ctx.owner, command_id = %ctx.command_id, bytes = file.bytes.len(), kind = ?file.kind,
            stream_id = tracing::field::Empty, expected_version = tracing::field::Empty,
            events_appended = tracing::field::Empty))]
    pub async fn upload_invoice(
        &self,
        ctx: &CommandContext,
        input: input::UploadInvoice,
        file: input::InvoiceFile,
    ) -> Result<Created<InvoiceId>, AppError> {
        let blobs = &self.blobs;
        let invoice_id = invoice_id_for(ctx.owner, &file.sha256);
        let stream_id = invoice_id.stream_id();
        let key = blob_key(ctx.owner, &file.sha256)?;
        if let Some(account_id) = input.account_id {
            let account = self.commands.load::<Account>(&account_id.stream_id()).await?;
            if account.state.owned_by(ctx.owner).is_none() {
                return Err(cashflow_domain::DomainError::NotFound { what: "account" }.into());
            }
        }
        let replayed =
            |position| AppendOutcome { stream_id: stream_id.clone(), stream_version: 1, position, replayed: true };
        let ran = self
            .commands
            .run(ctx, true, || async {
                if let Some(position) = self.uploaded_at(&stream_id).await? {
                    self.restore_original(&key, &file).await?;
                    return Ok(replayed(position));
                }
                let command = InvoiceCommand::Upload(UploadInvoice {
                    invoice_id,
                    owner: ctx.owner,
                    filename: input.filename.clone(),
                    content_kind: file.kind,
                    size_bytes: file.bytes.len() as u64,
                    sha256: file.sha256.clone(),
                    blob_key: key.to_string(),
                    account_id: input.account_id,
                });
                let events = invoice::decide(&Invoice::default(), command)?;
                blobs.put(&key, file.bytes.clone()).await.map_err(blob_error)?;
                match self.commands.append(ctx, stream_id.clone(), ExpectedVersion::NoStream, &events).await {
                    // The same file raced in through another call: theirs is the invoice, and
                    // the blob (same key, same bytes) is theirs too.
                    Err(AppError::Store(StoreError::Conflict { .. })) => match self.uploaded_at(&stream_id).await? {
                        Some(position) => Ok(replayed(position)),
                        None => Err(AppError::internal(format!("{stream_id} conflicted but holds no upload"))),
                    },
                    // Anything else, an outage included, may have committed: the file stays.
                    other => other,
                }
            })
            .await?;
        let outcome = ran.outcome();
        if outcome.stream_id != stream_id {
            // The command id answered for another command: nothing of this upload was appended.
            self.discard_unclaimed(&key, &stream_id, &file).await;
            return Err(ValidationError::new("command_id", "was already used for a different command").into());
        }
        Ok(Created { id: invoice_id, position: outcome.position })
    }

    /// Writes an invoice's original again when it is missing (lost, or removed by hand).
    async fn restore_original(&self, key: &BlobKey, file: &input::InvoiceFile) -> Result<(), AppError> {
        if !self.blobs.exists(key).await.map_err(blob_error)? {
            tracing::warn!(%key, "an invoice's original was missing: written again");
            self.blobs.put(key, file.bytes.clone()).await.map_err(blob_error)?;
        }
        Ok(())
    }

    /// Removes the file of an upload that was definitely refused, unless an invoice claims it.
    /// Another upload of the same file may be between its own write and its append: after the
    /// delete, the stream is read again and the file put back if an invoice appeared. Best
    /// effort: a file left behind is only storage, reclaimed by the next upload of it.
    async fn discard_unclaimed(&self, key: &BlobKey, stream_id: &str, file: &input::InvoiceFile) {
        let claimed = || async { self.uploaded_at(stream_id).await.map(|at| at.is_some()) };
        if !matches!(claimed().await, Ok(false)) {
            return;
        }
        if let Err(error) = self.blobs.delete(key).await {
            tracing::warn!(%key, %error, "cannot remove the file of a refused upload");
            return;
        }
        if !matches!(claimed().await, Ok(false))
            && let Err(error) = self.blobs.put(key, file.bytes.clone()).await
        {
            tracing::error!(%key, %error, "an invoice appeared while its file was discarded; rewriting it failed");
        }
    }

    /// The position of a stream's InvoiceUploaded, when it exists. Ids derive from the owner,
    /// so an existing stream is always the caller's own.
    async fn uploaded_at(&self, stream_id: &str) -> Result<Option<u64>, AppError> {
        Ok(self.commands.store.read_stream(stream_id).await?.first().map(|event| event.position))
    }

    /// The OCR worker's reading of an invoice.
    #[tracing::instrument(name = "command.record_scan", skip_all, err(level = "info"),
        fields(owner = %ctx.owner, command_id = %ctx.command_id, invoice_id = %invoice_id,
            stream_id = tracing::field::Empty, expected_version = tracing::field::Empty,
            events_appended = tracing::field::Empty))]
    pub async fn record_scan(
        &self,
        ctx: &CommandContext,
        invoice_id: InvoiceId,
        reading: Reading,
    ) -> Result<u64, AppError> {
        self.invoice_command(ctx, invoice_id, || InvoiceCommand::RecordScan {
            owner: ctx.owner,
            reading: reading.clone(),
        })
        .await
    }

    /// The OCR worker gave up on an invoice.
    #[tracing::instrument(name = "command.fail_scan", skip_all, err(level = "info"),
        fields(owner = %ctx.owner, command_id = %ctx.command_id, invoice_id = %invoice_id,
            stream_id = tracing::field::Empty, expected_version = tracing::field::Empty,
            events_appended = tracing::field::Empty))]
    pub async fn fail_scan(&self, ctx: &CommandContext, invoice_id: InvoiceId, reason: &str) -> Result<u64, AppError> {
        self.invoice_command(ctx, invoice_id, || InvoiceCommand::FailScan {
            owner: ctx.owner,
            reason: reason.to_owned(),
        })
        .await
    }

    /// The person's reading of merchant, date or total; then the linked movement follows.
    #[tracing::instrument(name = "command.correct_invoice", skip_all, err(level = "info"),
        fields(owner = %ctx.owner, command_id = %ctx.command_id, invoice_id = %input.invoice_id,
            stream_id = tracing::field::Empty, expected_version = tracing::field::Empty,
            events_appended = tracing::field::Empty))]
    pub async fn correct_invoice(&self, ctx: &CommandContext, input: input::CorrectInvoice) -> Result<u64, AppError> {
        let position = self
            .invoice_command(ctx, input.invoice_id, || InvoiceCommand::Correct {
                owner: ctx.owner,
                merchant: input.merchant.clone(),
                issued_on: input.issued_on,
                total: input.total,
            })
            .await?;
        let followed = self.follow_invoice(ctx, input.invoice_id).await?;
        Ok(followed.map_or(position, |p| p.max(position)))
    }

    async fn invoice_command(
        &self,
        ctx: &CommandContext,
        invoice_id: InvoiceId,
        command: impl Fn() -> InvoiceCommand,
    ) -> Result<u64, AppError> {
        let stream_id = invoice_id.stream_id();
        let ran = self
            .commands
            .run(ctx, true, || async {
                let loaded = self.commands.load::<Invoice>(&stream_id).await?;
                let events = invoice::decide(&loaded.state, command())?;
                self.commands.append(ctx, stream_id.clone(), ExpectedVersion::Exact(loaded.version), &events).await
            })
            .await?;
        Ok(ran.outcome().position)
    }

    /// Makes the invoice's movement match what the invoice says, when it is sure enough and
    /// an account is known: records it the first time, and after a correction voids the old
    /// one and records it again. When no movement can be recorded, a read invoice is left for
    /// the person to review: either way it is settled. Each step's command id derives from
    /// `ctx` and the invoice's version, so repeating this (a redelivered event, a retried
    /// command) repeats nothing. Returns the position of the last event it appended, if any.
    #[tracing::instrument(name = "invoice.follow", skip_all, err(level = "info"),
        fields(owner = %ctx.owner, invoice_id = %invoice_id, movement_id = tracing::field::Empty))]
    pub async fn follow_invoice(&self, ctx: &CommandContext, invoice_id: InvoiceId) -> Result<Option<u64>, AppError> {
        let loaded = self.commands.load::<Invoice>(&invoice_id.stream_id()).await?;
        let Some(uploaded) = loaded.state.owned_by(ctx.owner).cloned() else {
            return Err(cashflow_domain::DomainError::NotFound { what: "invoice" }.into());
        };
        let Some(account_id) = self.account_for(ctx.owner, uploaded.account_id).await? else {
            tracing::info!("no account to record the invoice's movement in");
            return self.leave_for_review(ctx, invoice_id, &loaded.state, ReviewReason::NoAccount).await;
        };
        let account = self.commands.load::<Account>(&account_id.stream_id()).await?;
        let Some(open) = account.state.owned_by(ctx.owner).filter(|a| !a.closed) else {
            return self.leave_for_review(ctx, invoice_id, &loaded.state, ReviewReason::AccountClosed).await;
        };
        let draft = match loaded.state.movement_draft_or_why(CONFIDENT, open.currency) {
            Ok(draft) => draft,
            Err(reason) => {
                tracing::info!(?reason, "no movement from the invoice's reading");
                return self.leave_for_review(ctx, invoice_id, &loaded.state, reason).await;
            }
        };
        let mut last = None;
        if let Some(linked) = loaded.state.movement_id {
            let movement = self.commands.load::<Movement>(&linked.stream_id()).await?;
            if let Some(current) = movement.state.owned_by(ctx.owner).filter(|m| !m.voided) {
                if current.amount == draft.amount
                    && current.occurred_on == draft.occurred_on
                    && current.account_id == account_id
                {
                    return Ok(None);
                }
                let reason = Reason::parse("reason", "the invoice was corrected")?;
                let void = input::VoidMovement { command_id: ctx.command_id, movement_id: linked, reason };
                last = Some(self.commands.void_movement(&ctx.step(&format!("void {linked}")), void).await?);
            }
        }
        let description = match &draft.merchant {
            Some(merchant) => merchant.to_string(),
            None => format!("Invoice {}", uploaded.filename),
        };
        let record = input::RecordMovement {
            command_id: ctx.command_id,
            account_id,
            direction: Direction::Expense,
            amount: draft.amount,
            occurred_on: draft.occurred_on,
            description: Description::parse(
                "description",
                &description.chars().take(Description::MAX_CHARS).collect::<String>(),
            )?,
            counterparty: draft.merchant.clone(),
            category_id: None,
        };
        let step = ctx.step(&format!("record {invoice_id} v{}", loaded.version));
        let created = self
            .commands
            .record_movement_from(&step, record, MovementSource::Invoice, Some(invoice_id.to_string()))
            .await?;
        tracing::Span::current().record("movement_id", tracing::field::display(created.id));
        let link_ctx = ctx.step(&format!("link {invoice_id} {}", created.id));
        let linked = self
            .invoice_command(&link_ctx, invoice_id, || InvoiceCommand::Link {
                owner: ctx.owner,
                movement_id: created.id,
            })
            .await?;
        Ok(Some(last.unwrap_or(0).max(created.position).max(linked)))
    }

    /// Settles a read invoice without a movement, for the person to decide; appends nothing
    /// before the reading (a step is still to come) or once it is settled.
    async fn leave_for_review(
        &self,
        ctx: &CommandContext,
        invoice_id: InvoiceId,
        state: &Invoice,
        reason: ReviewReason,
    ) -> Result<Option<u64>, AppError> {
        if state.status != InvoiceStatus::Scanned || state.settled() {
            return Ok(None);
        }
        let step = ctx.step(&format!("leave {invoice_id} for review"));
        let position = self
            .invoice_command(&step, invoice_id, || InvoiceCommand::LeaveForReview { owner: ctx.owner, reason })
            .await?;
        Ok(Some(position))
    }

    /// The account named at upload, else the person's only account (none when they have several).
    async fn account_for(&self, owner: UserId, named: Option<AccountId>) -> Result<Option<AccountId>, AppError> {
        if named.is_some() {
            return Ok(named);
        }
        let accounts = self.ledger.account_ids(owner).await?;
        Ok(match accounts.as_slice() {
            [only] => Some(*only),
            _ => None,
        })
    }
}

fn blob_error(error: cashflow_blob::BlobError) -> AppError {
    match error {
        cashflow_blob::BlobError::Unavailable(cause) => AppError::Port(PortError::Unavailable(cause)),
        other => AppError::internal(other),
    }
}

impl InvoiceCommands {
    /// The invoice as its stream says, when it is `owner`'s; another user's is "not found".
    pub async fn uploaded_invoice(
        &self,
        owner: UserId,
        invoice_id: InvoiceId,
    ) -> Result<invoice::UploadedInvoice, AppError> {
        let invoice = self.invoice(owner, invoice_id).await?;
        invoice.uploaded.ok_or(cashflow_domain::DomainError::NotFound { what: "invoice" }.into())
    }

    /// The invoice folded from its stream, when it is `owner`'s.
    pub async fn invoice(&self, owner: UserId, invoice_id: InvoiceId) -> Result<Invoice, AppError> {
        let loaded = self.commands.load::<Invoice>(&invoice_id.stream_id()).await?;
        match loaded.state.owned_by(owner) {
            Some(_) => Ok(loaded.state),
            None => Err(cashflow_domain::DomainError::NotFound { what: "invoice" }.into()),
        }
    }
}
