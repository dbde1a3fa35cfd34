//! [`NotifyWorker`]: consumes the events a notification can come from and raises each
//! notification once.
//!
//! It decides from the read models, after waiting until they have applied the event
//! ([`NotifyLookups::caught_up`]): a budget's figures then include the event, and anything
//! later, which only brings a threshold nearer. Every notification's id derives from its cause,
//! so a redelivered event, a retry, two replicas or a replay of the whole stream raise nothing
//! twice.

use crate::decide::{self, Decided, Expense};
use crate::lookups::NotifyLookups;
use cashflow_app::{
    AppError, CommandContext, NotificationCommands, ReportCommands, WorkError, Worker, notification_id_for,
};
use cashflow_domain::budget::{BudgetEvent, BudgetPeriod};
use cashflow_domain::invoice::InvoiceEvent;
use cashflow_domain::movement::{Direction, MovementEvent};
use cashflow_domain::report::ReportEvent;
use cashflow_domain::{BudgetId, DomainEvent, InvoiceId, Month, MovementId, ReportId, StreamId, UserId};
use cashflow_eventstore::RecordedEvent;
use std::sync::Arc;

/// The worker's name: its durable consumer (the notifications projector's is `notifications`).
pub const NAME: &str = "notify";
/// Notifications raised, by topic (a notification found raised already is not counted).
pub const RAISED: &str = "cashflow_notifications_raised_total";

const EVENTS: &[(&str, &str)] = &[
    (MovementId::STREAM_CATEGORY, "MovementRecorded"),
    (MovementId::STREAM_CATEGORY, "CategoryAssigned"),
    (BudgetId::STREAM_CATEGORY, "BudgetSet"),
    // The events that settle an invoice's processing; a reading alone leaves a step to come.
    (InvoiceId::STREAM_CATEGORY, "InvoiceScanFailed"),
    (InvoiceId::STREAM_CATEGORY, "InvoiceLinked"),
    (InvoiceId::STREAM_CATEGORY, "InvoiceLeftForReview"),
    // A report made or given up on.
    (ReportId::STREAM_CATEGORY, "ReportGenerated"),
    (ReportId::STREAM_CATEGORY, "ReportFailed"),
];

pub struct NotifyWorker {
    commands: NotificationCommands,
    lookups: Arc<dyn NotifyLookups>,
    /// A settled report is read from its own stream: its event alone does not say its period.
    reports: ReportCommands,
}

impl NotifyWorker {
    pub fn new(commands: NotificationCommands, lookups: Arc<dyn NotifyLookups>, reports: ReportCommands) -> Self {
        Self { commands, lookups, reports }
    }

    /// What `event` gives cause to tell.
    async fn decide(&self, event: &RecordedEvent) -> Result<Vec<Decided>, WorkError> {
        let owner = UserId::from_uuid(event.owner);
        let port = |error| WorkError::from(AppError::from(error));
        let permanent = |error: &dyn std::fmt::Display| WorkError::Permanent(error.to_string());
        let aggregate = StreamId::parse(&event.stream_id).map_err(|e| permanent(&e))?.id();
        let mut decided = Vec::new();
        match event.stream_category() {
            MovementId::STREAM_CATEGORY => {
                let movement = MovementEvent::decode(&event.event_type, event.schema_version, &event.payload)
                    .map_err(|e| permanent(&e))?;
                let month = match movement {
                    MovementEvent::MovementRecorded {
                        movement_id,
                        direction,
                        amount,
                        currency,
                        occurred_on,
                        description,
                        counterparty,
                        ..
                    } => {
                        if direction != Direction::Expense {
                            return Ok(decided);
                        }
                        let threshold = self.lookups.large_expense_threshold(owner).await.map_err(port)?;
                        let expense = Expense {
                            movement_id: movement_id.as_uuid(),
                            amount: amount.value(),
                            currency: currency.code(),
                            description: description.as_str(),
                            counterparty: counterparty.as_ref().map(|c| c.as_str()),
                            occurred_on: occurred_on.date(),
                        };
                        decided.extend(decide::large_expense(owner, threshold, expense));
                        Some(occurred_on.month())
                    }
                    MovementEvent::CategoryAssigned { .. } => {
                        self.lookups.movement_month(owner, MovementId::from_uuid(aggregate)).await.map_err(port)?
                    }
                    MovementEvent::MovementVoided { .. } => None,
                };
                if let Some(month) = month {
                    let budgets = self.lookups.budgets(owner, month).await.map_err(port)?;
                    decided.extend(decide::budget_thresholds(owner, month, &budgets));
                }
            }
            BudgetId::STREAM_CATEGORY => {
                let BudgetEvent::BudgetSet { period, .. } =
                    BudgetEvent::decode(&event.event_type, event.schema_version, &event.payload)
                        .map_err(|e| permanent(&e))?;
                let month = match period {
                    BudgetPeriod::Month(month) => month,
                    // A recurring budget is checked in the month it is set in (or starts in).
                    BudgetPeriod::From(from) => from.max(Month::of(event.recorded_at.date_naive())),
                };
                let budgets = self.lookups.budgets(owner, month).await.map_err(port)?;
                decided.extend(decide::budget_thresholds(owner, month, &budgets));
            }
            InvoiceId::STREAM_CATEGORY => {
                // Decoded only to refuse a broken payload; the read model says how it settled.
                InvoiceEvent::decode(&event.event_type, event.schema_version, &event.payload)
                    .map_err(|e| permanent(&e))?;
                if let Some(standing) =
                    self.lookups.invoice(owner, InvoiceId::from_uuid(aggregate)).await.map_err(port)?
                {
                    decided.extend(decide::invoice_processed(owner, aggregate, &standing));
                }
            }
            ReportId::STREAM_CATEGORY => {
                ReportEvent::decode(&event.event_type, event.schema_version, &event.payload)
                    .map_err(|e| permanent(&e))?;
                let report = self.reports.report(owner, ReportId::from_uuid(aggregate)).await?;
                decided.extend(decide::report_settled(owner, aggregate, &report));
            }
            _ => {}
        }
        Ok(decided)
    }
}

#[async_trait::async_trait]
impl Worker for NotifyWorker {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> &'static [(&'static str, &'static str)] {
        EVENTS
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<(), WorkError> {
        let caught_up = self.lookups.caught_up(event.position).await.map_err(|e| WorkError::from(AppError::from(e)))?;
        if !caught_up {
            return Err(WorkError::Retry(format!("read models have not applied position {} yet", event.position)));
        }
        let ctx = CommandContext::caused_by(event, "notify");
        for decided in self.decide(event).await? {
            let topic = decided.raised.topic.as_str();
            let notification_id = notification_id_for(ctx.owner, &decided.cause);
            let outcome = self.commands.raise(&ctx, notification_id, decided.raised).await?;
            if outcome.new {
                metrics::counter!(RAISED, "topic" => topic).increment(1);
                tracing::info!(%notification_id, topic, cause = %decided.cause, "notification raised");
            }
        }
        Ok(())
    }

    async fn give_up(&self, event: &RecordedEvent, reason: &str) -> Result<(), WorkError> {
        tracing::error!(event_id = %event.event_id, stream_id = %event.stream_id, %reason,
            "no notification decided for this event");
        Ok(())
    }
}
