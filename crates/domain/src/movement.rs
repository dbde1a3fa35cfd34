//! Movement: money in or out of an account. History is never deleted: a mistake is voided.

use crate::account::Account;
use crate::aggregate::{Aggregate, DomainEvent};
use crate::category::Category;
use crate::error::{DomainError, ValidationError};
use crate::{
    AccountId, Amount, CategoryId, Counterparty, Currency, Description, MovementId, OccurredOn, Reason, RuleId, UserId,
};
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Income,
    Expense,
}

/// Where a movement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementSource {
    #[default]
    Manual,
    Invoice,
    Import,
    Simulator,
}

/// Who chose a movement's category. A person's choice is never overwritten by a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignedBy {
    User,
    Rule,
    Ocr,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum MovementEvent {
    MovementRecorded {
        movement_id: MovementId,
        owner: UserId,
        account_id: AccountId,
        direction: Direction,
        amount: Amount,
        currency: Currency,
        occurred_on: OccurredOn,
        description: Description,
        counterparty: Option<Counterparty>,
        source: MovementSource,
        source_ref: Option<String>,
    },
    CategoryAssigned {
        category_id: CategoryId,
        assigned_by: AssignedBy,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule_id: Option<RuleId>,
    },
    MovementVoided {
        reason: Reason,
    },
}

impl DomainEvent for MovementEvent {
    const EVENT_TYPES: &'static [&'static str] = &["MovementRecorded", "CategoryAssigned", "MovementVoided"];

    fn event_type(&self) -> &'static str {
        match self {
            Self::MovementRecorded { .. } => "MovementRecorded",
            Self::CategoryAssigned { .. } => "CategoryAssigned",
            Self::MovementVoided { .. } => "MovementVoided",
        }
    }
}

/// The category a movement is in, and who put it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment {
    pub category_id: CategoryId,
    pub assigned_by: AssignedBy,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecordedMovement {
    pub id: MovementId,
    pub owner: UserId,
    pub account_id: AccountId,
    pub direction: Direction,
    pub amount: Amount,
    pub currency: Currency,
    pub occurred_on: OccurredOn,
    pub category: Option<Assignment>,
    pub voided: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Movement {
    pub recorded: Option<RecordedMovement>,
}

impl Movement {
    /// The movement if it exists and belongs to `owner`; another user's is "not found".
    pub fn owned_by(&self, owner: UserId) -> Option<&RecordedMovement> {
        self.recorded.as_ref().filter(|m| m.owner == owner)
    }
}

impl Aggregate for Movement {
    type Event = MovementEvent;
    const STREAM_CATEGORY: &'static str = MovementId::STREAM_CATEGORY;

    fn apply(&mut self, event: &MovementEvent) {
        match event {
            MovementEvent::MovementRecorded {
                movement_id,
                owner,
                account_id,
                direction,
                amount,
                currency,
                occurred_on,
                ..
            } => {
                self.recorded = Some(RecordedMovement {
                    id: *movement_id,
                    owner: *owner,
                    account_id: *account_id,
                    direction: *direction,
                    amount: *amount,
                    currency: *currency,
                    occurred_on: *occurred_on,
                    category: None,
                    voided: false,
                });
            }
            MovementEvent::CategoryAssigned { category_id, assigned_by, .. } => {
                if let Some(movement) = &mut self.recorded {
                    movement.category = Some(Assignment { category_id: *category_id, assigned_by: *assigned_by });
                }
            }
            MovementEvent::MovementVoided { .. } => {
                if let Some(movement) = &mut self.recorded {
                    movement.voided = true;
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct RecordMovement {
    pub movement_id: MovementId,
    pub owner: UserId,
    pub account_id: AccountId,
    pub direction: Direction,
    pub amount: Amount,
    pub occurred_on: OccurredOn,
    pub description: Description,
    pub counterparty: Option<Counterparty>,
    pub category_id: Option<CategoryId>,
    pub source: MovementSource,
    pub source_ref: Option<String>,
}

#[derive(Debug, Clone)]
pub enum MovementCommand {
    Record(RecordMovement),
    AssignCategory { owner: UserId, category_id: CategoryId, assigned_by: AssignedBy, rule_id: Option<RuleId> },
    Void { owner: UserId, reason: Reason },
}

/// What the movement rules need from outside the movement's own stream, loaded by the
/// handler: the account a new movement goes to, the category named by the command, and the
/// day it is where the rule is judged.
#[derive(Debug)]
pub struct MovementContext<'a> {
    pub account: Option<&'a Account>,
    pub category: Option<&'a Category>,
    pub today: NaiveDate,
}

/// How far ahead a movement may be dated: a day, so a person anywhere on Earth can record
/// what happened "today" in their time zone.
pub const MAX_DAYS_AHEAD: u64 = 1;

pub fn decide(
    state: &Movement,
    command: MovementCommand,
    context: MovementContext<'_>,
) -> Result<Vec<MovementEvent>, DomainError> {
    match command {
        MovementCommand::Record(record) => decide_record(state, record, &context),
        MovementCommand::AssignCategory { owner, category_id, assigned_by, rule_id } => {
            let movement = state.owned_by(owner).ok_or(DomainError::NotFound { what: "movement" })?;
            if movement.voided {
                return Err(DomainError::FailedPrecondition("a voided movement cannot be recategorised".into()));
            }
            check_category(owner, category_id, &context)?;
            match movement.category {
                Some(current) if current.category_id == category_id => Ok(vec![]),
                Some(current) if current.assigned_by == AssignedBy::User && assigned_by != AssignedBy::User => {
                    Ok(vec![])
                }
                _ => Ok(vec![MovementEvent::CategoryAssigned { category_id, assigned_by, rule_id }]),
            }
        }
        MovementCommand::Void { owner, reason } => {
            let movement = state.owned_by(owner).ok_or(DomainError::NotFound { what: "movement" })?;
            if movement.voided {
                return Err(DomainError::FailedPrecondition("the movement is already voided".into()));
            }
            Ok(vec![MovementEvent::MovementVoided { reason }])
        }
    }
}

fn decide_record(
    state: &Movement,
    record: RecordMovement,
    context: &MovementContext<'_>,
) -> Result<Vec<MovementEvent>, DomainError> {
    if state.recorded.is_some() {
        return Err(DomainError::AlreadyExists { what: "movement" });
    }
    let account =
        context.account.and_then(|a| a.owned_by(record.owner)).ok_or(DomainError::NotFound { what: "account" })?;
    if account.closed {
        return Err(DomainError::FailedPrecondition("the account is closed".into()));
    }
    account.currency.check_minor_units("amount", record.amount.value())?;
    let latest = context.today.checked_add_days(Days::new(MAX_DAYS_AHEAD)).unwrap_or(NaiveDate::MAX);
    if record.occurred_on.date() > latest {
        return Err(ValidationError::new("occurred_on", "must not be more than one day in the future").into());
    }
    if let Some(category_id) = record.category_id {
        check_category(record.owner, category_id, context)?;
    }
    let mut events = vec![MovementEvent::MovementRecorded {
        movement_id: record.movement_id,
        owner: record.owner,
        account_id: record.account_id,
        direction: record.direction,
        amount: record.amount,
        // A movement's currency is always its account's.
        currency: account.currency,
        occurred_on: record.occurred_on,
        description: record.description,
        counterparty: record.counterparty,
        source: record.source,
        source_ref: record.source_ref,
    }];
    if let Some(category_id) = record.category_id {
        events.push(MovementEvent::CategoryAssigned { category_id, assigned_by: AssignedBy::User, rule_id: None });
    }
    Ok(events)
}

fn check_category(owner: UserId, category_id: CategoryId, context: &MovementContext<'_>) -> Result<(), DomainError> {
    match context.category.and_then(|c| c.owned_by(owner)).filter(|c| c.id == category_id) {
        Some(_) => Ok(()),
        None => Err(DomainError::NotFound { what: "category" }),
    }
}

#[cfg(test)]
mod tests;
