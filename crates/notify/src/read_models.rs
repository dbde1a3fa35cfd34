//! [`ReadModels`]: the worker's lookups answered from the ledger, invoices and notifications
//! read models, each waited for through its checkpoint.

use crate::lookups::{BudgetStanding, InvoiceStanding, NotifyLookups};
use cashflow_app::PortError;
use cashflow_domain::invoice::InvoiceStatus;
use cashflow_domain::{InvoiceId, Month, MovementId, UserId};
use cashflow_projection::{CheckpointWatch, QueryError};
use cashflow_projection_invoices::InvoiceQueries;
use cashflow_projection_ledger::LedgerQueries;
use cashflow_projection_notifications::NotificationQueries;
use rust_decimal::Decimal;
use std::time::Duration;

/// How long [`ReadModels::caught_up`] waits for a lagging read model before the event is
/// sent back to be retried.
pub const CATCH_UP_WAIT: Duration = Duration::from_secs(10);

/// The read models the worker decides from, with their checkpoints.
pub struct ReadModels {
    pub ledger: LedgerQueries,
    pub invoices: InvoiceQueries,
    pub notifications: NotificationQueries,
    /// The ledger's, the invoices' and the notifications' checkpoints (the last holds the
    /// large expense threshold).
    pub checkpoints: Vec<CheckpointWatch>,
}

/// Down is worth a retry; corrupt rows are not.
fn port_error(error: QueryError) -> PortError {
    match error {
        QueryError::Unavailable(_) => PortError::Unavailable(error.to_string()),
        QueryError::Corrupt(_) => PortError::Failed(error.to_string()),
    }
}

#[async_trait::async_trait]
impl NotifyLookups for ReadModels {
    async fn caught_up(&self, position: u64) -> Result<bool, PortError> {
        let deadline = tokio::time::Instant::now() + CATCH_UP_WAIT;
        for watch in &self.checkpoints {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !watch.wait_for(position, left).await {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn budgets(&self, owner: UserId, month: Month) -> Result<Vec<BudgetStanding>, PortError> {
        let budgets = self.ledger.budgets(owner.as_uuid(), month.first_day()).await.map_err(port_error)?;
        Ok(budgets
            .into_iter()
            .map(|budget| BudgetStanding {
                budget_id: budget.budget_id,
                category_id: budget.category_id,
                category_name: budget.category_name,
                amount: budget.amount,
                spent: budget.spent,
                currency: budget.currency,
                alert_thresholds: budget.alert_thresholds,
            })
            .collect())
    }

    async fn movement_month(&self, owner: UserId, movement_id: MovementId) -> Result<Option<Month>, PortError> {
        let movement = self.ledger.get_movement(owner.as_uuid(), movement_id.as_uuid()).await.map_err(port_error)?;
        Ok(movement.map(|movement| Month::of(movement.occurred_on)))
    }

    async fn large_expense_threshold(&self, owner: UserId) -> Result<Option<Decimal>, PortError> {
        let preferences = self.notifications.preferences(owner.as_uuid()).await.map_err(port_error)?;
        Ok(preferences.large_expense_threshold)
    }

    async fn invoice(&self, owner: UserId, invoice_id: InvoiceId) -> Result<Option<InvoiceStanding>, PortError> {
        let Some(invoice) = self.invoices.get(owner.as_uuid(), invoice_id.as_uuid()).await.map_err(port_error)? else {
            return Ok(None);
        };
        let merchant = invoice.merchant().map(|read| read.value);
        let total = invoice.total().map(|read| read.value);
        Ok(Some(match (invoice.status, invoice.movement_id) {
            (InvoiceStatus::Uploaded, _) => InvoiceStanding::Processing,
            (InvoiceStatus::Failed, _) => InvoiceStanding::Failed {
                reason: invoice.failure_reason.unwrap_or_else(|| "the receipt could not be read".to_owned()),
            },
            (InvoiceStatus::Scanned, Some(movement_id)) => InvoiceStanding::Recorded {
                merchant,
                total,
                currency: invoice.currency.map(|read| read.value),
                movement_id,
            },
            (InvoiceStatus::Scanned, None) => InvoiceStanding::NeedsReview { merchant, total },
        }))
    }
}
