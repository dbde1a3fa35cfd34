//! [`MonthlySchedule`]: the previous month's PDF for everyone who asked for it
//! (`SetPreferences.monthly_report`), requested from the 1st of the month on.
//!
//! Once per person and month however many `reports` replicas run and however often they
//! restart: the report's id and the command's id both derive from (person, month), so a second
//! request is the first one replayed by the store, never a second report. A replica that was
//! down on the 1st catches up within [`ScheduleConfig::window_days`]; someone who opts in later
//! in the month gets their first report on the next 1st.

use cashflow_app::input::RequestReport;
use cashflow_app::{AppError, CommandContext, ReportCommands, derived_command_id};
use cashflow_domain::report::{ReportFormat, ReportPeriod, ReportTrigger};
use cashflow_domain::{CommandId, Month, ReportId, UserId};
use cashflow_projection_notifications::NotificationQueries;
use chrono::{Datelike, NaiveDate, Utc};
use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;
use uuid::Uuid;

/// People read per page of subscribers.
const PAGE: u32 = 500;

#[derive(Debug, Clone, Copy)]
pub struct ScheduleConfig {
    /// How often the schedule looks for reports to request.
    pub every: Duration,
    /// The days of a month (from the 1st) in which last month's reports are requested.
    pub window_days: u32,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self { every: Duration::from_secs(600), window_days: 7 }
    }
}

/// The month whose reports are due on `today`, if it is inside the window.
pub fn due_month(today: NaiveDate, window_days: u32) -> Option<Month> {
    if today.day() > window_days {
        return None;
    }
    let last_month = today.with_day(1)?.pred_opt()?;
    Some(Month::of(last_month))
}

/// The one monthly report of `owner` for `month`.
pub fn monthly_report_id(owner: UserId, month: Month) -> ReportId {
    ReportId::from_uuid(cashflow_app::context::derived_uuid(&[
        b"cashflow monthly report\0",
        owner.as_uuid().as_bytes(),
        month.to_string().as_bytes(),
    ]))
}

pub struct MonthlySchedule {
    commands: ReportCommands,
    subscribers: NotificationQueries,
    config: ScheduleConfig,
    /// (person, month) requested by this process: each is asked of the store once per run.
    requested: HashSet<(UserId, Month)>,
}

impl MonthlySchedule {
    pub fn new(commands: ReportCommands, subscribers: NotificationQueries, config: ScheduleConfig) -> Self {
        Self { commands, subscribers, config, requested: HashSet::new() }
    }

    /// Looks every [`ScheduleConfig::every`] until `until` resolves. A failed pass is logged and
    /// tried again at the next tick: nothing is lost, since a pass requests whatever is missing.
    pub async fn run(mut self, until: impl Future<Output = ()>) -> Result<(), AppError> {
        tokio::pin!(until);
        let mut ticks = tokio::time::interval(self.config.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut until => return Ok(()),
                _ = ticks.tick() => {
                    if let Err(error) = self.pass(Utc::now().date_naive()).await {
                        tracing::warn!(%error, "the monthly report schedule will try again");
                    }
                }
            }
        }
    }

    /// Requests the due month's report for every subscriber who has none yet.
    #[tracing::instrument(name = "reports.monthly_pass", skip(self), err(level = "info"))]
    pub async fn pass(&mut self, today: NaiveDate) -> Result<usize, AppError> {
        let Some(month) = due_month(today, self.config.window_days) else { return Ok(0) };
        let mut after: Option<Uuid> = None;
        let mut requested = 0;
        loop {
            let page = self
                .subscribers
                .monthly_report_owners(after, PAGE)
                .await
                .map_err(|error| AppError::Port(cashflow_app::PortError::Unavailable(error.to_string())))?;
            for owner in &page {
                let owner = UserId::from_uuid(*owner);
                if self.requested.contains(&(owner, month)) {
                    continue;
                }
                self.request(owner, month).await?;
                self.requested.insert((owner, month));
                requested += 1;
            }
            match page.last() {
                Some(last) if page.len() == PAGE as usize => after = Some(*last),
                _ => break,
            }
        }
        self.requested.retain(|(_, done)| *done == month);
        Ok(requested)
    }

    async fn request(&self, owner: UserId, month: Month) -> Result<(), AppError> {
        let report_id = monthly_report_id(owner, month);
        let command_id: CommandId = derived_command_id(report_id.as_uuid(), "monthly report");
        let context = CommandContext::new(owner, command_id, None, None);
        let first = month.first_day();
        let last = Month::of(first + chrono::Months::new(1)).first_day().pred_opt().unwrap_or(first);
        let input = RequestReport {
            command_id,
            report_id: Some(report_id),
            period: ReportPeriod::new(first, last, "to")?,
            format: ReportFormat::Pdf,
            account_ids: Vec::new(),
        };
        let created = self.commands.request_report(&context, input, ReportTrigger::Monthly).await?;
        tracing::info!(%owner, %month, report_id = %created.id, "monthly report requested");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(raw: &str) -> NaiveDate {
        cashflow_domain::date::parse_date("d", raw).unwrap()
    }

    #[test]
    fn last_months_report_is_due_in_the_first_days_only() {
        assert_eq!(due_month(day("2026-12-01"), 7).map(|m| m.to_string()).as_deref(), Some("2026-11"));
        assert_eq!(due_month(day("2026-01-07"), 7).map(|m| m.to_string()).as_deref(), Some("2025-12"));
        assert_eq!(due_month(day("2026-01-08"), 7), None);
        assert_eq!(due_month(day("2026-03-31"), 31).map(|m| m.to_string()).as_deref(), Some("2026-02"));
    }

    #[test]
    fn a_monthly_report_id_is_one_per_person_and_month() {
        let (alice, bob) = (UserId::new(), UserId::new());
        let november = Month::parse("m", "2026-11").unwrap();
        let december = Month::parse("m", "2026-12").unwrap();
        assert_eq!(monthly_report_id(alice, november), monthly_report_id(alice, november));
        assert_ne!(monthly_report_id(alice, november), monthly_report_id(alice, december));
        assert_ne!(monthly_report_id(alice, november), monthly_report_id(bob, november));
    }
}
