//! The peer's account aggregate in cqrs-es: the same command shape as Cashflow's RecordMovement.
//! An account is opened with a currency; recording a movement on it checks that it exists and
//! belongs to the caller, that it is open, that the amount is positive in the account's
//! currency with at most its minor units, and that the date is not in the future. Unlike
//! Cashflow, where a movement is its own stream and the decision reads the account's, here the
//! movement is an event of the account itself, as a cqrs-es application would model it.

use chrono::{Days, NaiveDate, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Minor units of the currencies the peer accepts: at most two decimals.
const MINOR_UNITS: u32 = 2;
/// How far ahead a movement may be dated, as in Cashflow's domain.
const MAX_DAYS_AHEAD: u64 = 1;
const MAX_DESCRIPTION: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    Income,
    Expense,
}

#[derive(Debug, Clone)]
pub enum AccountCommand {
    Open { owner: Uuid, name: String, currency: String, opening_balance: Decimal },
    RecordMovement(RecordMovement),
    Close { owner: Uuid },
}

#[derive(Debug, Clone)]
pub struct RecordMovement {
    pub owner: Uuid,
    pub movement_id: Uuid,
    pub direction: Direction,
    pub amount: Decimal,
    pub currency: String,
    pub occurred_on: NaiveDate,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AccountEvent {
    AccountOpened {
        owner: Uuid,
        name: String,
        currency: String,
        opening_balance: Decimal,
    },
    MovementRecorded {
        movement_id: Uuid,
        direction: Direction,
        amount: Decimal,
        currency: String,
        occurred_on: NaiveDate,
        description: String,
    },
    AccountClosed,
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> String {
        match self {
            Self::AccountOpened { .. } => "AccountOpened",
            Self::MovementRecorded { .. } => "MovementRecorded",
            Self::AccountClosed => "AccountClosed",
        }
        .into()
    }

    fn event_version(&self) -> String {
        "1".into()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccountError {
    #[error("account not found")]
    NotFound,
    #[error("the account already exists")]
    AlreadyExists,
    #[error("the account is closed")]
    Closed,
    #[error("the currency must be three capital letters")]
    BadCurrency,
    #[error("the movement is in {movement}, the account in {account}")]
    CurrencyMismatch { movement: String, account: String },
    #[error("the amount must be positive with at most {MINOR_UNITS} decimals")]
    BadAmount,
    #[error("the date must not be more than {MAX_DAYS_AHEAD} day in the future")]
    FutureDate,
    #[error("the description must have 1 to {MAX_DESCRIPTION} characters")]
    BadDescription,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Account {
    opened: Option<Opened>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Opened {
    owner: Uuid,
    currency: String,
    closed: bool,
    movements: u64,
}

impl Account {
    fn owned_by(&self, owner: Uuid) -> Result<&Opened, AccountError> {
        self.opened.as_ref().filter(|account| account.owner == owner).ok_or(AccountError::NotFound)
    }
}

/// Decides a command against the folded state: the events it would append, or why not.
pub fn decide(state: &Account, command: AccountCommand, today: NaiveDate) -> Result<Vec<AccountEvent>, AccountError> {
    match command {
        AccountCommand::Open { owner, name, currency, opening_balance } => {
            if state.opened.is_some() {
                return Err(AccountError::AlreadyExists);
            }
            if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(AccountError::BadCurrency);
            }
            Ok(vec![AccountEvent::AccountOpened { owner, name, currency, opening_balance }])
        }
        AccountCommand::RecordMovement(record) => {
            let account = state.owned_by(record.owner)?;
            if account.closed {
                return Err(AccountError::Closed);
            }
            if record.currency != account.currency {
                return Err(AccountError::CurrencyMismatch {
                    movement: record.currency,
                    account: account.currency.clone(),
                });
            }
            if record.amount <= Decimal::ZERO || record.amount.normalize().scale() > MINOR_UNITS {
                return Err(AccountError::BadAmount);
            }
            if today.checked_add_days(Days::new(MAX_DAYS_AHEAD)).is_some_and(|latest| record.occurred_on > latest) {
                return Err(AccountError::FutureDate);
            }
            let length = record.description.chars().count();
            if length == 0 || length > MAX_DESCRIPTION {
                return Err(AccountError::BadDescription);
            }
            Ok(vec![AccountEvent::MovementRecorded {
                movement_id: record.movement_id,
                direction: record.direction,
                amount: record.amount,
                currency: record.currency,
                occurred_on: record.occurred_on,
                description: record.description,
            }])
        }
        AccountCommand::Close { owner } => {
            let account = state.owned_by(owner)?;
            if account.closed { Ok(vec![]) } else { Ok(vec![AccountEvent::AccountClosed]) }
        }
    }
}

impl Aggregate for Account {
    const TYPE: &'static str = "account";
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;
    type Services = ();

    async fn handle(&mut self, command: AccountCommand, _: &(), sink: &EventSink<Self>) -> Result<(), AccountError> {
        for event in decide(self, command, Utc::now().date_naive())? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: AccountEvent) {
        match event {
            AccountEvent::AccountOpened { owner, currency, .. } => {
                self.opened = Some(Opened { owner, currency, closed: false, movements: 0 });
            }
            AccountEvent::MovementRecorded { .. } => {
                if let Some(account) = &mut self.opened {
                    account.movements += 1;
                }
            }
            AccountEvent::AccountClosed => {
                if let Some(account) = &mut self.opened {
                    account.closed = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(owner: Uuid) -> Account {
        let mut account = Account::default();
        account.apply(AccountEvent::AccountOpened {
            owner,
            name: "Checking".into(),
            currency: "EUR".into(),
            opening_balance: Decimal::new(50_000, 2),
        });
        account
    }

    fn record(owner: Uuid, amount: Decimal, currency: &str) -> AccountCommand {
        AccountCommand::RecordMovement(RecordMovement {
            owner,
            movement_id: Uuid::now_v7(),
            direction: Direction::Expense,
            amount,
            currency: currency.into(),
            occurred_on: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            description: "Grocer 1234".into(),
        })
    }

    const TODAY: NaiveDate = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();

    #[test]
    fn records_a_movement_on_an_open_account_in_its_currency() {
        let owner = Uuid::now_v7();
        let events = decide(&opened(owner), record(owner, Decimal::new(1250, 2), "EUR"), TODAY).unwrap();
        assert!(
            matches!(&events[..], [AccountEvent::MovementRecorded { amount, .. }] if *amount == Decimal::new(1250, 2))
        );
    }

    #[test]
    fn refuses_what_cashflow_refuses() {
        let owner = Uuid::now_v7();
        let state = opened(owner);
        assert_eq!(
            decide(&state, record(owner, Decimal::new(1, 0), "USD"), TODAY).unwrap_err().to_string(),
            "the movement is in USD, the account in EUR"
        );
        assert_eq!(decide(&state, record(owner, Decimal::new(1001, 3), "EUR"), TODAY), Err(AccountError::BadAmount));
        assert_eq!(decide(&state, record(owner, Decimal::ZERO, "EUR"), TODAY), Err(AccountError::BadAmount));
        assert_eq!(decide(&state, record(Uuid::now_v7(), Decimal::ONE, "EUR"), TODAY), Err(AccountError::NotFound));
        assert_eq!(decide(&Account::default(), record(owner, Decimal::ONE, "EUR"), TODAY), Err(AccountError::NotFound));
        let mut closed = state.clone();
        closed.apply(AccountEvent::AccountClosed);
        assert_eq!(decide(&closed, record(owner, Decimal::ONE, "EUR"), TODAY), Err(AccountError::Closed));
    }

    #[test]
    fn amounts_serialise_as_decimal_strings() {
        let event = AccountEvent::MovementRecorded {
            movement_id: Uuid::nil(),
            direction: Direction::Income,
            amount: Decimal::new(1250, 2),
            currency: "EUR".into(),
            occurred_on: TODAY,
            description: "x".into(),
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["MovementRecorded"]["amount"], "12.50");
        assert_eq!(serde_json::from_value::<AccountEvent>(json).unwrap(), event);
    }
}
