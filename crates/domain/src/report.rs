//! Report: a person's ledger for a period, as it stood at the store position of the request,
//! rendered once to a file. Requested by a person (or by the monthly schedule), then generated
//! or failed by the report worker, which is the only one to settle it.

use crate::aggregate::{Aggregate, DomainEvent};
use crate::error::{DomainError, ValidationError};
use crate::{AccountId, ReportId, UserId};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// What a report is rendered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    Pdf,
    Csv,
}

impl ReportFormat {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Csv => "csv",
        }
    }

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "pdf" => Ok(Self::Pdf),
            "csv" => Ok(Self::Csv),
            _ => Err(ValidationError::new(field, "must be pdf or csv")),
        }
    }
}

/// An inclusive period of days, `from` on or before `to`, at most [`Self::MAX_DAYS`] long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportPeriod {
    from: NaiveDate,
    to: NaiveDate,
}

impl ReportPeriod {
    /// Ten years and a few leap days: longer periods are an export, not a report.
    pub const MAX_DAYS: i64 = 3_660;

    /// `to_field` names the field blamed when the period is backwards or too long.
    pub fn new(from: NaiveDate, to: NaiveDate, to_field: &'static str) -> Result<Self, ValidationError> {
        if to < from {
            return Err(ValidationError::new(to_field, "must be on or after from"));
        }
        if (to - from).num_days() >= Self::MAX_DAYS {
            return Err(ValidationError::new(to_field, format!("a report covers at most {} days", Self::MAX_DAYS)));
        }
        Ok(Self { from, to })
    }

    pub fn from(&self) -> NaiveDate {
        self.from
    }

    pub fn to(&self) -> NaiveDate {
        self.to
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        (self.from..=self.to).contains(&day)
    }
}

/// Why a report was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportTrigger {
    /// A person asked, through RequestReport.
    #[default]
    Requested,
    /// The monthly schedule, for someone who opted in.
    Monthly,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ReportEvent {
    /// A report was asked for: everything it shows is read from the store up to `position`.
    ReportRequested {
        report_id: ReportId,
        owner: UserId,
        period: ReportPeriod,
        format: ReportFormat,
        /// Empty: every account.
        account_ids: Vec<AccountId>,
        /// The store's head when the report was asked for.
        position: u64,
        #[serde(default)]
        trigger: ReportTrigger,
    },
    /// The file is stored under `blob_key`, whole, before this event is appended.
    ReportGenerated { size_bytes: u64, sha256: String, blob_key: String },
    /// The report could not be made; `reason` is for the person who asked.
    ReportFailed { reason: String },
}

impl DomainEvent for ReportEvent {
    const EVENT_TYPES: &'static [&'static str] = &["ReportRequested", "ReportGenerated", "ReportFailed"];

    fn event_type(&self) -> &'static str {
        match self {
            Self::ReportRequested { .. } => "ReportRequested",
            Self::ReportGenerated { .. } => "ReportGenerated",
            Self::ReportFailed { .. } => "ReportFailed",
        }
    }
}

/// Where a report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportStatus {
    #[default]
    Pending,
    Ready,
    Failed,
}

/// A report as requested.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestedReport {
    pub owner: UserId,
    pub period: ReportPeriod,
    pub format: ReportFormat,
    pub account_ids: Vec<AccountId>,
    pub position: u64,
}

/// Where a generated report's file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedReport {
    pub size_bytes: u64,
    pub sha256: String,
    pub blob_key: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub requested: Option<RequestedReport>,
    pub status: ReportStatus,
    pub generated: Option<GeneratedReport>,
}

impl Report {
    /// The report, when it exists and is `owner`'s.
    pub fn owned_by(&self, owner: UserId) -> Option<&RequestedReport> {
        self.requested.as_ref().filter(|r| r.owner == owner)
    }
}

impl Aggregate for Report {
    type Event = ReportEvent;
    const STREAM_CATEGORY: &'static str = ReportId::STREAM_CATEGORY;

    fn apply(&mut self, event: &ReportEvent) {
        match event {
            ReportEvent::ReportRequested { owner, period, format, account_ids, position, .. } => {
                self.requested = Some(RequestedReport {
                    owner: *owner,
                    period: *period,
                    format: *format,
                    account_ids: account_ids.clone(),
                    position: *position,
                });
                self.status = ReportStatus::Pending;
            }
            ReportEvent::ReportGenerated { size_bytes, sha256, blob_key } => {
                self.status = ReportStatus::Ready;
                self.generated = Some(GeneratedReport {
                    size_bytes: *size_bytes,
                    sha256: sha256.clone(),
                    blob_key: blob_key.clone(),
                });
            }
            ReportEvent::ReportFailed { .. } => self.status = ReportStatus::Failed,
        }
    }
}

#[derive(Debug, Clone)]
pub enum ReportCommand {
    Request {
        report_id: ReportId,
        owner: UserId,
        period: ReportPeriod,
        format: ReportFormat,
        account_ids: Vec<AccountId>,
        position: u64,
        trigger: ReportTrigger,
    },
    /// The worker stored the file.
    Complete { owner: UserId, size_bytes: u64, sha256: String, blob_key: String },
    /// The worker gave up.
    Fail { owner: UserId, reason: String },
}

/// A report is requested once, then settled once: a redelivered job that settles it again
/// changes nothing, whichever way the first settlement went.
pub fn decide(state: &Report, command: ReportCommand) -> Result<Vec<ReportEvent>, DomainError> {
    match command {
        ReportCommand::Request { report_id, owner, period, format, account_ids, position, trigger } => {
            if state.requested.is_some() {
                return Err(DomainError::AlreadyExists { what: "report" });
            }
            Ok(vec![ReportEvent::ReportRequested { report_id, owner, period, format, account_ids, position, trigger }])
        }
        ReportCommand::Complete { owner, size_bytes, sha256, blob_key } => {
            state.owned_by(owner).ok_or(DomainError::NotFound { what: "report" })?;
            if state.status != ReportStatus::Pending {
                return Ok(vec![]);
            }
            Ok(vec![ReportEvent::ReportGenerated { size_bytes, sha256, blob_key }])
        }
        ReportCommand::Fail { owner, reason } => {
            state.owned_by(owner).ok_or(DomainError::NotFound { what: "report" })?;
            if state.status != ReportStatus::Pending {
                return Ok(vec![]);
            }
            Ok(vec![ReportEvent::ReportFailed { reason }])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::fold;

    fn day(raw: &str) -> NaiveDate {
        crate::date::parse_date("date", raw).unwrap()
    }

    fn request(owner: UserId) -> ReportCommand {
        ReportCommand::Request {
            report_id: ReportId::new(),
            owner,
            period: ReportPeriod::new(day("2026-01-01"), day("2026-03-31"), "to").unwrap(),
            format: ReportFormat::Pdf,
            account_ids: vec![],
            position: 42,
            trigger: ReportTrigger::Requested,
        }
    }

    #[test]
    fn a_period_runs_forwards_and_is_bounded() {
        assert!(ReportPeriod::new(day("2026-01-01"), day("2026-01-01"), "to").is_ok());
        assert_eq!(ReportPeriod::new(day("2026-01-02"), day("2026-01-01"), "to").unwrap_err().field, "to");
        assert_eq!(ReportPeriod::new(day("2000-01-01"), day("2026-01-01"), "to").unwrap_err().field, "to");
    }

    #[test]
    fn a_report_is_settled_once_whatever_comes_after() {
        let owner = UserId::new();
        let requested = decide(&Report::default(), request(owner)).unwrap();
        let state = fold::<Report>(&requested);
        assert_eq!(state.status, ReportStatus::Pending);
        assert_eq!(state.owned_by(owner).unwrap().position, 42);
        let complete =
            || ReportCommand::Complete { owner, size_bytes: 10, sha256: "ab".repeat(32), blob_key: "reports/x".into() };
        let generated = decide(&state, complete()).unwrap();
        assert!(matches!(generated[..], [ReportEvent::ReportGenerated { size_bytes: 10, .. }]));
        let ready = fold::<Report>(requested.iter().chain(&generated));
        assert_eq!(ready.status, ReportStatus::Ready);
        assert!(decide(&ready, complete()).unwrap().is_empty(), "a redelivered job appends nothing");
        let late_failure = ReportCommand::Fail { owner, reason: "late".into() };
        assert!(decide(&ready, late_failure).unwrap().is_empty());
        assert_eq!(decide(&ready, request(owner)).unwrap_err(), DomainError::AlreadyExists { what: "report" });
    }

    #[test]
    fn another_persons_report_is_not_found() {
        let state = fold::<Report>(&decide(&Report::default(), request(UserId::new())).unwrap());
        let error = decide(&state, ReportCommand::Fail { owner: UserId::new(), reason: "x".into() }).unwrap_err();
        assert_eq!(error, DomainError::NotFound { what: "report" });
    }

    #[test]
    fn a_request_round_trips_through_its_payload() {
        let events = decide(&Report::default(), request(UserId::new())).unwrap();
        let payload = events[0].payload().unwrap();
        assert_eq!(payload["period"], serde_json::json!({ "from": "2026-01-01", "to": "2026-03-31" }));
        assert_eq!(payload["format"], "pdf");
        assert_eq!(ReportEvent::decode("ReportRequested", 1, &payload).unwrap(), events[0]);
    }
}
