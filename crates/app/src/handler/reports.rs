//! Report commands: RequestReport, which pins the report to the store's head, and the report
//! worker's settlement (generated or failed), which happens once per report.

use super::{CommandHandler, Created};
use crate::context::CommandContext;
use crate::error::AppError;
use crate::input;
use cashflow_domain::account::Account;
use cashflow_domain::report::{self, GeneratedReport, Report, ReportCommand, ReportStatus, ReportTrigger};
use cashflow_domain::{Aggregate, DomainError, ReportId, UserId, ValidationError};
use cashflow_eventstore::ExpectedVersion;
use tracing::field::Empty;

/// How the worker settles a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// The file is stored, whole, under `blob_key`.
    Generated {
        size_bytes: u64,
        sha256: String,
        blob_key: String,
    },
    Failed {
        reason: String,
    },
}

/// The report commands.
#[derive(Clone, Debug)]
pub struct ReportCommands {
    commands: CommandHandler,
}

impl ReportCommands {
    /// At most this many accounts named in one request.
    pub const MAX_ACCOUNTS: usize = 100;

    pub fn new(commands: CommandHandler) -> Self {
        Self { commands }
    }

    /// Asks for a report of the ledger as it stands now: the request carries the store's head,
    /// and the worker reads nothing recorded after it. Every named account must be the caller's.
    #[tracing::instrument(name = "command.request_report", skip_all, err(level = "info"),
        fields(owner = %ctx.owner, command_id = %ctx.command_id, format = input.format.as_str(),
            stream_id = Empty, expected_version = Empty, events_appended = Empty))]
    pub async fn request_report(
        &self,
        ctx: &CommandContext,
        input: input::RequestReport,
        trigger: ReportTrigger,
    ) -> Result<Created<ReportId>, AppError> {
        if input.account_ids.len() > Self::MAX_ACCOUNTS {
            return Err(ValidationError::new("account_ids", format!("at most {} accounts", Self::MAX_ACCOUNTS)).into());
        }
        let report_id = input.report_id.unwrap_or_default();
        let ran = self
            .commands
            .run(ctx, false, || async {
                for account_id in &input.account_ids {
                    let account = self.commands.load::<Account>(&account_id.stream_id()).await?;
                    if account.state.owned_by(ctx.owner).is_none() {
                        let message = format!("{account_id} is not one of your accounts");
                        return Err(ValidationError::new("account_ids", message).into());
                    }
                }
                let report = self.commands.load::<Report>(&report_id.stream_id()).await?;
                let position = self.commands.store().head().await?;
                let command = ReportCommand::Request {
                    report_id,
                    owner: ctx.owner,
                    period: input.period,
                    format: input.format,
                    account_ids: input.account_ids.clone(),
                    position,
                    trigger,
                };
                let events = report::decide(&report.state, command)?;
                self.commands.append(ctx, report_id.stream_id(), ExpectedVersion::Exact(report.version), &events).await
            })
            .await?;
        let id = CommandHandler::created_id(&ran, Report::STREAM_CATEGORY, report_id.as_uuid())?;
        Ok(Created { id: ReportId::from_uuid(id), position: ran.outcome().position })
    }

    /// `owner`'s report as its stream says; another person's is "not found".
    pub async fn report(&self, owner: UserId, report_id: ReportId) -> Result<Report, AppError> {
        let report = self.commands.load::<Report>(&report_id.stream_id()).await?;
        report.state.owned_by(owner).ok_or(DomainError::NotFound { what: "report" })?;
        Ok(report.state)
    }

    /// Where `owner`'s report's file is, once it is ready; another person's is "not found".
    pub async fn generated_report(&self, owner: UserId, report_id: ReportId) -> Result<GeneratedReport, AppError> {
        let report = self.commands.load::<Report>(&report_id.stream_id()).await?;
        report.state.owned_by(owner).ok_or(DomainError::NotFound { what: "report" })?;
        match (report.state.status, report.state.generated) {
            (ReportStatus::Ready, Some(generated)) => Ok(generated),
            (ReportStatus::Failed, _) => {
                Err(DomainError::FailedPrecondition("the report failed; it has no file".into()).into())
            }
            _ => Err(DomainError::FailedPrecondition("the report is not ready yet".into()).into()),
        }
    }

    /// Records what came of a report; a report settled already stays as it was.
    #[tracing::instrument(name = "command.settle_report", skip_all, err(level = "info"),
        fields(owner = %ctx.owner, command_id = %ctx.command_id, report_id = %report_id,
            stream_id = Empty, expected_version = Empty, events_appended = Empty))]
    pub async fn settle(
        &self,
        ctx: &CommandContext,
        report_id: ReportId,
        settlement: Settlement,
    ) -> Result<u64, AppError> {
        let stream_id = report_id.stream_id();
        let ran = self
            .commands
            .run(ctx, true, || async {
                let report = self.commands.load::<Report>(&stream_id).await?;
                let command = match settlement.clone() {
                    Settlement::Generated { size_bytes, sha256, blob_key } => {
                        ReportCommand::Complete { owner: ctx.owner, size_bytes, sha256, blob_key }
                    }
                    Settlement::Failed { reason } => ReportCommand::Fail { owner: ctx.owner, reason },
                };
                let events = report::decide(&report.state, command)?;
                self.commands.append(ctx, stream_id.clone(), ExpectedVersion::Exact(report.version), &events).await
            })
            .await?;
        Ok(ran.outcome().position)
    }
}
