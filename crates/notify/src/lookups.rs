//! What the notification worker reads, as a port: the binary implements it over the read models.

use cashflow_app::PortError;
use cashflow_domain::{InvoiceId, Month, MovementId, UserId};
use rust_decimal::Decimal;
use uuid::Uuid;

/// A budget in one month, as the ledger read model has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetStanding {
    pub budget_id: Uuid,
    pub category_id: Uuid,
    pub category_name: String,
    pub amount: Decimal,
    pub spent: Decimal,
    pub currency: String,
    /// Percents, ascending.
    pub alert_thresholds: Vec<u32>,
}

/// How an invoice's processing settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvoiceStanding {
    /// A step is still to come.
    Processing,
    /// Read, and its movement recorded.
    Recorded {
        merchant: Option<String>,
        total: Option<Decimal>,
        currency: Option<String>,
        movement_id: Uuid,
    },
    /// Read, but not surely enough to record: the person decides.
    NeedsReview {
        merchant: Option<String>,
        total: Option<Decimal>,
    },
    Failed {
        reason: String,
    },
}

#[async_trait::async_trait]
pub trait NotifyLookups: Send + Sync + 'static {
    /// Waits (a bounded while) until every read model below has applied `position`; false when
    /// it has not yet, so the event is retried later rather than decided on stale figures.
    async fn caught_up(&self, position: u64) -> Result<bool, PortError>;
    /// `owner`'s budgets that apply in `month`, with what is spent.
    async fn budgets(&self, owner: UserId, month: Month) -> Result<Vec<BudgetStanding>, PortError>;
    /// The month a movement of `owner`'s falls in, if it is theirs.
    async fn movement_month(&self, owner: UserId, movement_id: MovementId) -> Result<Option<Month>, PortError>;
    /// `owner`'s large expense threshold, if they set one.
    async fn large_expense_threshold(&self, owner: UserId) -> Result<Option<Decimal>, PortError>;
    async fn invoice(&self, owner: UserId, invoice_id: InvoiceId) -> Result<Option<InvoiceStanding>, PortError>;
}
