//! Account: where money is kept, in one currency.

use crate::aggregate::{Aggregate, DomainEvent};
use crate::error::DomainError;
use crate::{AccountId, Currency, Name, SignedAmount, UserId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    #[default]
    Checking,
    Savings,
    Cash,
    Credit,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum AccountEvent {
    AccountOpened {
        account_id: AccountId,
        owner: UserId,
        name: Name,
        #[serde(default)]
        kind: AccountKind,
        currency: Currency,
        opening_balance: SignedAmount,
    },
    AccountRenamed {
        name: Name,
    },
    AccountClosed {},
}

impl DomainEvent for AccountEvent {
    const EVENT_TYPES: &'static [&'static str] = &["AccountOpened", "AccountRenamed", "AccountClosed"];

    fn event_type(&self) -> &'static str {
        match self {
            Self::AccountOpened { .. } => "AccountOpened",
            Self::AccountRenamed { .. } => "AccountRenamed",
            Self::AccountClosed {} => "AccountClosed",
        }
    }
}

#[derive(Debug, Clone)]
pub enum AccountCommand {
    Open {
        account_id: AccountId,
        owner: UserId,
        name: Name,
        kind: AccountKind,
        currency: Currency,
        opening_balance: SignedAmount,
    },
    Rename {
        owner: UserId,
        name: Name,
    },
    Close {
        owner: UserId,
    },
}

/// An opened account, as `decide` and other aggregates' rules need it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAccount {
    pub id: AccountId,
    pub owner: UserId,
    pub name: Name,
    pub currency: Currency,
    pub closed: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Account {
    pub opened: Option<OpenAccount>,
}

impl Account {
    /// The account if it exists and belongs to `owner`; another user's is "not found".
    pub fn owned_by(&self, owner: UserId) -> Option<&OpenAccount> {
        self.opened.as_ref().filter(|a| a.owner == owner)
    }
}

impl Aggregate for Account {
    type Event = AccountEvent;
    const STREAM_CATEGORY: &'static str = AccountId::STREAM_CATEGORY;

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::AccountOpened { account_id, owner, name, currency, .. } => {
                self.opened = Some(OpenAccount {
                    id: *account_id,
                    owner: *owner,
                    name: name.clone(),
                    currency: *currency,
                    closed: false,
                });
            }
            AccountEvent::AccountRenamed { name } => {
                if let Some(account) = &mut self.opened {
                    account.name = name.clone();
                }
            }
            AccountEvent::AccountClosed {} => {
                if let Some(account) = &mut self.opened {
                    account.closed = true;
                }
            }
        }
    }
}

pub fn decide(state: &Account, command: AccountCommand) -> Result<Vec<AccountEvent>, DomainError> {
    match command {
        AccountCommand::Open { account_id, owner, name, kind, currency, opening_balance } => {
            if state.opened.is_some() {
                return Err(DomainError::AlreadyExists { what: "account" });
            }
            currency.check_minor_units("opening_balance", opening_balance.value())?;
            Ok(vec![AccountEvent::AccountOpened { account_id, owner, name, kind, currency, opening_balance }])
        }
        AccountCommand::Rename { owner, name } => {
            let account = state.owned_by(owner).ok_or(DomainError::NotFound { what: "account" })?;
            if account.name == name {
                return Ok(vec![]);
            }
            Ok(vec![AccountEvent::AccountRenamed { name }])
        }
        AccountCommand::Close { owner } => {
            let account = state.owned_by(owner).ok_or(DomainError::NotFound { what: "account" })?;
            if account.closed {
                return Ok(vec![]);
            }
            Ok(vec![AccountEvent::AccountClosed {}])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::fold;

    fn opened(owner: UserId) -> AccountEvent {
        AccountEvent::AccountOpened {
            account_id: AccountId::new(),
            owner,
            name: Name::parse("name", "Main").unwrap(),
            kind: AccountKind::Checking,
            currency: Currency::parse("currency", "EUR").unwrap(),
            opening_balance: SignedAmount::ZERO,
        }
    }

    #[test]
    fn an_account_opens_once() {
        let owner = UserId::new();
        let given = fold::<Account>(&[opened(owner)]);
        let when = AccountCommand::Open {
            account_id: AccountId::new(),
            owner,
            name: Name::parse("name", "Again").unwrap(),
            kind: AccountKind::Cash,
            currency: Currency::parse("currency", "EUR").unwrap(),
            opening_balance: SignedAmount::ZERO,
        };
        assert_eq!(decide(&given, when), Err(DomainError::AlreadyExists { what: "account" }));
    }

    fn open_in(currency: &str, opening_balance: &str) -> AccountCommand {
        AccountCommand::Open {
            account_id: AccountId::new(),
            owner: UserId::new(),
            name: Name::parse("name", "Main").unwrap(),
            kind: AccountKind::Checking,
            currency: Currency::parse("currency", currency).unwrap(),
            opening_balance: SignedAmount::parse("opening_balance", opening_balance).unwrap(),
        }
    }

    #[test]
    fn an_opening_balance_finer_than_the_currency_is_refused_naming_it() {
        for (currency, refused) in [("JPY", "0.5"), ("JPY", "-10.25"), ("EUR", "0.001"), ("BHD", "-1.0001")] {
            let error = decide(&Account::default(), open_in(currency, refused));
            assert!(
                matches!(&error, Err(DomainError::Invalid(e)) if e.field == "opening_balance"),
                "{refused} {currency}: {error:?}"
            );
        }
    }

    #[test]
    fn an_opening_balance_in_minor_units_opens_the_account() {
        for (currency, accepted) in [("JPY", "-1500"), ("JPY", "20.000"), ("EUR", "100.10"), ("BHD", "1.005")] {
            let events = decide(&Account::default(), open_in(currency, accepted)).unwrap();
            assert!(matches!(&events[..], [AccountEvent::AccountOpened { .. }]), "{accepted} {currency}");
        }
    }

    #[test]
    fn another_users_account_cannot_be_renamed() {
        let given = fold::<Account>(&[opened(UserId::new())]);
        let when = AccountCommand::Rename { owner: UserId::new(), name: Name::parse("name", "Mine").unwrap() };
        assert_eq!(decide(&given, when), Err(DomainError::NotFound { what: "account" }));
    }

    #[test]
    fn closing_twice_changes_nothing() {
        let owner = UserId::new();
        let given = fold::<Account>(&[opened(owner), AccountEvent::AccountClosed {}]);
        assert_eq!(decide(&given, AccountCommand::Close { owner }), Ok(vec![]));
    }

    #[test]
    fn events_round_trip_through_their_stored_form() {
        let event = opened(UserId::new());
        let decoded = AccountEvent::decode(event.event_type(), 1, &event.payload().unwrap()).unwrap();
        assert_eq!(decoded, event);
    }
}
