//! Parsing at the edge: proto requests become the application's validated inputs (built from
//! domain newtypes), and read-model views become proto messages. Nothing past this module sees
//! a raw string.
//!
//! An optional string field sent empty is treated as absent, as proto3 clients and JSON
//! gateways often cannot tell the two apart.

use cashflow_app::input::{
    AssignCategory, CreateCategory, OpenAccount, RecordMovement, RenameCategory, SetBudget, VoidMovement,
};
use cashflow_domain::budget::AlertThresholds;
use cashflow_domain::date::parse_date;
use cashflow_domain::movement::Direction;
use cashflow_domain::{
    AccountId, Amount, CategoryId, CommandId, Counterparty, Currency, Description, Month, MovementId, Name, OccurredOn,
    Reason, SignedAmount, ValidationError,
};
use cashflow_projection::page_token::PositionCursor;
use cashflow_projection_ledger::{
    BalanceView, BudgetView, CategorySummaryRow, CategoryView, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MovementFilter,
    MovementView, PageCursor,
};
use cashflow_proto::v1 as pb;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use uuid::Uuid;

mod invoices;
mod notifications;
mod rules;
mod search;

pub use invoices::{invoice_id, invoice_page_token, invoice_to_proto};
pub use notifications::{channel_kind, channel_to_proto, notification_to_proto, topics};
pub use search::{search_page_to_proto, search_request};

/// `ListMovements`' filter and paging, validated.
#[derive(Debug, Clone)]
pub struct ListMovements {
    pub filter: MovementFilter,
    pub page_size: u32,
    pub after: Option<PageCursor>,
}

/// `GetCategorySummary`'s month bounds, as the first day of each month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SummaryRange {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// A proto request parsed into the application's input, once, at the edge. (The inputs are the
/// application's and the messages proto's, so the conversion is a trait of this crate's.)
pub trait FromRequest<M>: Sized {
    fn from_request(message: M) -> Result<Self, ValidationError>;
}

pub(crate) fn command_id(raw: &str) -> Result<CommandId, ValidationError> {
    if raw.trim().is_empty() {
        return Err(ValidationError::new("command_id", "is required: a UUID chosen by the client"));
    }
    CommandId::parse("command_id", raw)
}

/// `Some` only for a present, non-empty value.
/// An instant as a protobuf `Timestamp`.
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: at.timestamp(), nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0) }
}

fn present(raw: Option<&str>) -> Option<&str> {
    raw.filter(|s| !s.trim().is_empty())
}

fn direction(field: &'static str, raw: i32) -> Result<Direction, ValidationError> {
    match pb::Direction::try_from(raw) {
        Ok(pb::Direction::Income) => Ok(Direction::Income),
        Ok(pb::Direction::Expense) => Ok(Direction::Expense),
        Ok(pb::Direction::Unspecified) | Err(_) => {
            Err(ValidationError::new(field, "must be DIRECTION_INCOME or DIRECTION_EXPENSE"))
        }
    }
}

impl FromRequest<pb::OpenAccountRequest> for OpenAccount {
    fn from_request(request: pb::OpenAccountRequest) -> Result<Self, ValidationError> {
        Ok(Self {
            command_id: command_id(&request.command_id)?,
            name: Name::parse("name", &request.name)?,
            currency: Currency::parse("currency", &request.currency)?,
            opening_balance: present(request.opening_balance.as_deref())
                .map(|raw| SignedAmount::parse("opening_balance", raw))
                .transpose()?
                .unwrap_or(SignedAmount::ZERO),
        })
    }
}

impl FromRequest<pb::RecordMovementRequest> for RecordMovement {
    fn from_request(request: pb::RecordMovementRequest) -> Result<Self, ValidationError> {
        Ok(Self {
            command_id: command_id(&request.command_id)?,
            account_id: AccountId::parse("account_id", &request.account_id)?,
            direction: direction("direction", request.direction)?,
            amount: Amount::parse("amount", &request.amount)?,
            occurred_on: OccurredOn::parse("occurred_on", &request.occurred_on)?,
            description: Description::parse("description", &request.description)?,
            counterparty: present(request.counterparty.as_deref())
                .map(|raw| Counterparty::parse("counterparty", raw))
                .transpose()?,
            category_id: present(request.category_id.as_deref())
                .map(|raw| CategoryId::parse("category_id", raw))
                .transpose()?,
        })
    }
}

impl FromRequest<pb::AssignCategoryRequest> for AssignCategory {
    fn from_request(request: pb::AssignCategoryRequest) -> Result<Self, ValidationError> {
        Ok(Self {
            command_id: command_id(&request.command_id)?,
            movement_id: MovementId::parse("movement_id", &request.movement_id)?,
            category_id: CategoryId::parse("category_id", &request.category_id)?,
            expected_version: request.expected_version,
        })
    }
}

impl FromRequest<pb::VoidMovementRequest> for VoidMovement {
    fn from_request(request: pb::VoidMovementRequest) -> Result<Self, ValidationError> {
        Ok(Self {
            command_id: command_id(&request.command_id)?,
            movement_id: MovementId::parse("movement_id", &request.movement_id)?,
            reason: Reason::parse("reason", &request.reason)?,
        })
    }
}

impl FromRequest<pb::CreateCategoryRequest> for CreateCategory {
    fn from_request(request: pb::CreateCategoryRequest) -> Result<Self, ValidationError> {
        Ok(Self {
            command_id: command_id(&request.command_id)?,
            name: Name::parse("name", &request.name)?,
            parent_id: present(request.parent_id.as_deref())
                .map(|raw| CategoryId::parse("parent_id", raw))
                .transpose()?,
        })
    }
}

impl FromRequest<pb::RenameCategoryRequest> for RenameCategory {
    fn from_request(request: pb::RenameCategoryRequest) -> Result<Self, ValidationError> {
        Ok(Self {
            command_id: command_id(&request.command_id)?,
            category_id: CategoryId::parse("category_id", &request.category_id)?,
            name: Name::parse("name", &request.name)?,
        })
    }
}

impl FromRequest<pb::SetBudgetRequest> for SetBudget {
    fn from_request(request: pb::SetBudgetRequest) -> Result<Self, ValidationError> {
        Ok(Self {
            command_id: command_id(&request.command_id)?,
            category_id: CategoryId::parse("category_id", &request.category_id)?,
            month: present(request.month.as_deref()).map(|raw| Month::parse("month", raw)).transpose()?,
            amount: Amount::parse("amount", &request.amount)?,
            currency: present(request.currency.as_deref()).map(|raw| Currency::parse("currency", raw)).transpose()?,
            alert_thresholds: AlertThresholds::parse("alert_thresholds", &request.alert_thresholds)?,
        })
    }
}

/// GetBudgets' month, as its first day; absent: the month `today` is in.
pub fn budget_month(raw: Option<&str>, today: NaiveDate) -> Result<NaiveDate, ValidationError> {
    match present(raw) {
        Some(raw) => Month::parse("month", raw).map(|month| month.first_day()),
        None => Ok(Month::of(today).first_day()),
    }
}

pub fn budget_to_proto(view: BudgetView) -> pb::Budget {
    pb::Budget {
        budget_id: view.budget_id.to_string(),
        category_id: view.category_id.to_string(),
        category_name: view.category_name.clone(),
        month: month(view.month),
        amount: money(view.amount, &view.currency),
        spent: money(view.spent, &view.currency),
        remaining: money(view.remaining(), &view.currency),
        percent_used: format!("{:.2}", view.percent_used()),
        currency: view.currency,
    }
}

/// An inclusive date range whose end must not come before its start.
fn date_range(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<(), ValidationError> {
    match (from, to) {
        (Some(from), Some(to)) if to < from => Err(ValidationError::new("to", "must not be before from")),
        _ => Ok(()),
    }
}

impl TryFrom<&pb::ListMovementsRequest> for ListMovements {
    type Error = ValidationError;

    fn try_from(request: &pb::ListMovementsRequest) -> Result<Self, Self::Error> {
        let filter = movement_filter(MovementFilterFields {
            account_id: request.account_id.as_deref(),
            category_id: request.category_id.as_deref(),
            from: request.from.as_deref(),
            to: request.to.as_deref(),
            direction: request.direction,
        })?;
        Ok(Self { filter, page_size: page_size(request.page_size)?, after: page_token(&request.page_token)? })
    }
}

/// The filter fields ListMovements and SearchMovements share, as sent.
pub(crate) struct MovementFilterFields<'a> {
    pub account_id: Option<&'a str>,
    pub category_id: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub direction: Option<i32>,
}

pub(crate) fn movement_filter(fields: MovementFilterFields<'_>) -> Result<MovementFilter, ValidationError> {
    let from = present(fields.from).map(|raw| parse_date("from", raw)).transpose()?;
    let to = present(fields.to).map(|raw| parse_date("to", raw)).transpose()?;
    date_range(from, to)?;
    Ok(MovementFilter {
        account_id: present(fields.account_id)
            .map(|raw| AccountId::parse("account_id", raw).map(|id| id.as_uuid()))
            .transpose()?,
        category_id: present(fields.category_id)
            .map(|raw| CategoryId::parse("category_id", raw).map(|id| id.as_uuid()))
            .transpose()?,
        from,
        to,
        // DIRECTION_UNSPECIFIED as a filter means "either direction".
        direction: match fields.direction {
            None => None,
            Some(raw) if raw == pb::Direction::Unspecified as i32 => None,
            Some(raw) => Some(direction("direction", raw)?),
        },
    })
}

/// AIP-158: zero means the default, larger than the maximum is lowered to it.
pub fn page_size(raw: i32) -> Result<u32, ValidationError> {
    match u32::try_from(raw) {
        Err(_) => Err(ValidationError::new("page_size", "must not be negative")),
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(size) => Ok(size.min(MAX_PAGE_SIZE)),
    }
}

/// A request's `page_token`: none when empty, else what `decode` reads from it, or
/// `INVALID_ARGUMENT` on `page_token` when it reads nothing.
pub fn cursor<C>(raw: &str, decode: impl FnOnce(&str) -> Option<C>) -> Result<Option<C>, ValidationError> {
    if raw.is_empty() {
        return Ok(None);
    }
    decode(raw).map(Some).ok_or_else(|| ValidationError::new("page_token", "is not a token returned by this server"))
}

/// The token of ListMovements.
pub fn page_token(raw: &str) -> Result<Option<PageCursor>, ValidationError> {
    cursor(raw, PageCursor::decode)
}

/// The token of a list in store order, newest first (the inbox, reports).
pub fn position_page_token(raw: &str) -> Result<Option<PositionCursor>, ValidationError> {
    cursor(raw, PositionCursor::decode)
}

impl TryFrom<&pb::GetCategorySummaryRequest> for SummaryRange {
    type Error = ValidationError;

    fn try_from(request: &pb::GetCategorySummaryRequest) -> Result<Self, Self::Error> {
        let month = |field, raw: Option<&str>| {
            present(raw).map(|raw| Month::parse(field, raw).map(|m| m.first_day())).transpose()
        };
        let from = month("from", request.from.as_deref())?;
        let to = month("to", request.to.as_deref())?;
        date_range(from, to)?;
        Ok(Self { from, to })
    }
}

pub fn movement_id(raw: &str) -> Result<MovementId, ValidationError> {
    MovementId::parse("movement_id", raw)
}

/// Money as the API writes it: exact, no exponent, with at least the currency's minor-unit
/// decimals (`"12.50"` EUR, `"1200"` JPY) and more only when the amount has them (`"0.1234"`).
pub fn money(value: Decimal, currency: &str) -> String {
    let minor_units = cashflow_domain::Currency::parse("currency", currency).map_or(2, |c| c.minor_units());
    let mut value = value.normalize();
    if value.is_zero() {
        value = Decimal::ZERO;
    }
    if value.scale() < minor_units {
        value.rescale(minor_units);
    }
    value.to_string()
}

pub fn date(value: NaiveDate) -> String {
    value.format("%Y-%m-%d").to_string()
}

pub fn month(value: NaiveDate) -> String {
    value.format("%Y-%m").to_string()
}

fn optional_id(id: Option<Uuid>) -> String {
    id.map(|id| id.to_string()).unwrap_or_default()
}

pub fn direction_to_proto(direction: Direction) -> pb::Direction {
    match direction {
        Direction::Income => pb::Direction::Income,
        Direction::Expense => pb::Direction::Expense,
    }
}

pub fn movement_to_proto(view: MovementView) -> pb::Movement {
    pb::Movement {
        movement_id: view.movement_id.to_string(),
        account_id: view.account_id.to_string(),
        direction: direction_to_proto(view.direction).into(),
        amount: money(view.amount, &view.currency),
        currency: view.currency,
        occurred_on: date(view.occurred_on),
        description: view.description,
        counterparty: view.counterparty.unwrap_or_default(),
        category_id: optional_id(view.category_id),
        voided: view.voided,
        version: view.version,
    }
}

pub fn balance_to_proto(view: BalanceView) -> pb::Balance {
    pb::Balance {
        account_id: view.account_id.to_string(),
        name: view.name,
        balance: money(view.balance, &view.currency),
        currency: view.currency,
    }
}

pub fn balance_as_of_to_proto(balance: cashflow_domain::books::BalanceAsOf) -> pb::Balance {
    let currency = balance.currency.to_string();
    pb::Balance {
        account_id: balance.account_id.to_string(),
        name: balance.name,
        balance: money(balance.balance, &currency),
        currency,
    }
}

pub fn summary_row_to_proto(row: CategorySummaryRow) -> pb::CategorySummaryRow {
    pb::CategorySummaryRow {
        category_id: optional_id(row.category_id),
        category_name: row.category_name.unwrap_or_default(),
        month: month(row.month),
        direction: direction_to_proto(row.direction).into(),
        total: money(row.total, &row.currency),
        count: row.count,
        currency: row.currency,
    }
}

pub fn category_to_proto(view: CategoryView) -> pb::Category {
    pb::Category { category_id: view.category_id.to_string(), name: view.name, parent_id: optional_id(view.parent_id) }
}

#[cfg(test)]
mod tests;
