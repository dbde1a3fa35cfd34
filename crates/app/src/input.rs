//! The commands' inputs, validated: every field is a domain newtype, so a handler never sees a
//! raw string. Edges build them (the gRPC edge from proto messages, a worker from an event).

use cashflow_domain::budget::AlertThresholds;
use cashflow_domain::movement::Direction;
use cashflow_domain::notification::{ChannelKind, ChannelTarget, PreferencesChange, Topics};
use cashflow_domain::{
    AccountId, Amount, CategoryId, ChannelId, CommandId, Counterparty, Currency, Description, Month, MovementId, Name,
    NotificationId, OccurredOn, Reason, SignedAmount,
};

mod invoices;
mod rules;

pub use invoices::{CorrectInvoice, FileRefused, InvoiceFile, UploadInvoice};
pub use rules::{AddRule, ApplyRules};

/// Open an account.
#[derive(Debug, Clone)]
pub struct OpenAccount {
    pub command_id: CommandId,
    pub name: Name,
    pub currency: Currency,
    pub opening_balance: SignedAmount,
}

/// Record a movement on an account.
#[derive(Debug, Clone)]
pub struct RecordMovement {
    pub command_id: CommandId,
    pub account_id: AccountId,
    pub direction: Direction,
    pub amount: Amount,
    pub occurred_on: OccurredOn,
    pub description: Description,
    pub counterparty: Option<Counterparty>,
    pub category_id: Option<CategoryId>,
}

/// Put a movement in a category.
#[derive(Debug, Clone)]
pub struct AssignCategory {
    pub command_id: CommandId,
    pub movement_id: MovementId,
    pub category_id: CategoryId,
    /// The movement version the client last saw; `None` lets the handler retry on conflict.
    pub expected_version: Option<u64>,
}

/// Void a movement (history keeps it).
#[derive(Debug, Clone)]
pub struct VoidMovement {
    pub command_id: CommandId,
    pub movement_id: MovementId,
    pub reason: Reason,
}

/// Create a category, under a parent or at the top.
#[derive(Debug, Clone)]
pub struct CreateCategory {
    pub command_id: CommandId,
    pub name: Name,
    pub parent_id: Option<CategoryId>,
}

/// Rename a category.
#[derive(Debug, Clone)]
pub struct RenameCategory {
    pub command_id: CommandId,
    pub category_id: CategoryId,
    pub name: Name,
}

/// Set a category's budget for a month, or (no month) for every month from the current one on.
#[derive(Debug, Clone)]
pub struct SetBudget {
    pub command_id: CommandId,
    pub category_id: CategoryId,
    pub month: Option<Month>,
    pub amount: Amount,
    /// `None`: the currency all the person's accounts share.
    pub currency: Option<Currency>,
    pub alert_thresholds: AlertThresholds,
}

/// Add a place to deliver notifications to; the edge has checked the target for its kind.
#[derive(Debug, Clone)]
pub struct AddChannel {
    pub command_id: CommandId,
    pub kind: ChannelKind,
    pub target: ChannelTarget,
    pub topics: Topics,
}

#[derive(Debug, Clone)]
pub struct RemoveChannel {
    pub command_id: CommandId,
    pub channel_id: ChannelId,
}

#[derive(Debug, Clone)]
pub struct SetPreferences {
    pub command_id: CommandId,
    pub change: PreferencesChange,
}

#[derive(Debug, Clone)]
pub struct MarkRead {
    pub command_id: CommandId,
    pub notification_ids: Vec<NotificationId>,
}

/// A validated command: its idempotency key.
pub trait Command {
    fn command_id(&self) -> CommandId;
}

macro_rules! command {
    ($($input:ty),*) => {$(
        impl Command for $input {
            fn command_id(&self) -> CommandId {
                self.command_id
            }
        }
    )*};
}

command!(
    OpenAccount,
    RecordMovement,
    AssignCategory,
    VoidMovement,
    CreateCategory,
    RenameCategory,
    SetBudget,
    AddRule,
    ApplyRules,
    CorrectInvoice,
    UploadInvoice,
    AddChannel,
    RemoveChannel,
    SetPreferences,
    MarkRead
);

/// Ask for a report of a period.
#[derive(Debug, Clone)]
pub struct RequestReport {
    pub command_id: CommandId,
    /// Chosen by the caller that must find it again (the monthly schedule); a fresh id otherwise.
    pub report_id: Option<cashflow_domain::ReportId>,
    pub period: cashflow_domain::report::ReportPeriod,
    pub format: cashflow_domain::report::ReportFormat,
    /// Empty: every account.
    pub account_ids: Vec<AccountId>,
}
