//! [`Books`]: one person's ledger folded from their events, in store order, up to some
//! position. Reports read the books at the position of their request, and `GetBalances.as_of`
//! at the head, so a report's balances and a balance as of a day are the same arithmetic.
//!
//! Dates go by what the events say happened: a movement counts on its `occurred_on`, an
//! account's opening balance from the day it was opened (the day, in UTC, its AccountOpened was
//! recorded). Corrections count as known at the fold's position: a voided movement never
//! counts, and a movement counts in the category it was last assigned to.

use crate::account::AccountEvent;
use crate::budget::{BudgetEvent, BudgetPeriod};
use crate::category::CategoryEvent;
use crate::movement::{Direction, MovementEvent};
use crate::{AccountId, CategoryId, Currency, Month, MovementId};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};

/// An account as the books know it.
#[derive(Debug, Clone, PartialEq)]
pub struct BookAccount {
    pub id: AccountId,
    pub name: String,
    pub currency: Currency,
    pub opening_balance: Decimal,
    pub opened_on: NaiveDate,
    pub closed: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BookCategory {
    pub id: CategoryId,
    pub name: String,
    pub parent_id: Option<CategoryId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BookMovement {
    pub id: MovementId,
    pub account_id: AccountId,
    pub direction: Direction,
    pub amount: Decimal,
    pub currency: Currency,
    pub occurred_on: NaiveDate,
    pub description: String,
    pub counterparty: Option<String>,
    pub category_id: Option<CategoryId>,
    pub voided: bool,
    /// Where it was recorded: the order of movements of one day.
    pub position: u64,
}

impl BookMovement {
    /// The amount with its sign: income adds to a balance, an expense takes from it.
    pub fn signed(&self) -> Decimal {
        match self.direction {
            Direction::Income => self.amount,
            Direction::Expense => -self.amount,
        }
    }
}

/// A budget as set, in the books.
#[derive(Debug, Clone, PartialEq)]
pub struct BookBudget {
    pub category_id: CategoryId,
    pub period: BudgetPeriod,
    pub amount: Decimal,
    pub currency: Currency,
}

/// An account's balance at the end of a day.
#[derive(Debug, Clone, PartialEq)]
pub struct BalanceAsOf {
    pub account_id: AccountId,
    pub name: String,
    pub currency: Currency,
    pub balance: Decimal,
}

/// One person's ledger. Feed it their events in position order with the `apply_*` methods.
#[derive(Debug, Clone, Default)]
pub struct Books {
    accounts: BTreeMap<AccountId, BookAccount>,
    categories: HashMap<CategoryId, BookCategory>,
    movements: Vec<BookMovement>,
    movement_index: HashMap<MovementId, usize>,
    budgets: Vec<BookBudget>,
}

impl Books {
    /// `recorded_on`: the UTC day the event was recorded.
    pub fn apply_account(&mut self, account_id: AccountId, event: &AccountEvent, recorded_on: NaiveDate) {
        match event {
            AccountEvent::AccountOpened { name, currency, opening_balance, .. } => {
                self.accounts.insert(
                    account_id,
                    BookAccount {
                        id: account_id,
                        name: name.as_str().to_owned(),
                        currency: *currency,
                        opening_balance: opening_balance.value(),
                        opened_on: recorded_on,
                        closed: false,
                    },
                );
            }
            AccountEvent::AccountRenamed { name } => {
                if let Some(account) = self.accounts.get_mut(&account_id) {
                    account.name = name.as_str().to_owned();
                }
            }
            AccountEvent::AccountClosed {} => {
                if let Some(account) = self.accounts.get_mut(&account_id) {
                    account.closed = true;
                }
            }
        }
    }

    pub fn apply_category(&mut self, category_id: CategoryId, event: &CategoryEvent) {
        match event {
            CategoryEvent::CategoryCreated { name, parent_id, .. } => {
                self.categories.insert(
                    category_id,
                    BookCategory { id: category_id, name: name.as_str().to_owned(), parent_id: *parent_id },
                );
            }
            CategoryEvent::CategoryRenamed { name } => {
                if let Some(category) = self.categories.get_mut(&category_id) {
                    category.name = name.as_str().to_owned();
                }
            }
            CategoryEvent::CategorizationRuleAdded(_) => {}
        }
    }

    /// `position`: the event's store position.
    pub fn apply_movement(&mut self, movement_id: MovementId, event: &MovementEvent, position: u64) {
        match event {
            MovementEvent::MovementRecorded {
                account_id,
                direction,
                amount,
                currency,
                occurred_on,
                description,
                counterparty,
                ..
            } => {
                if self.movement_index.contains_key(&movement_id) {
                    return;
                }
                self.movement_index.insert(movement_id, self.movements.len());
                self.movements.push(BookMovement {
                    id: movement_id,
                    account_id: *account_id,
                    direction: *direction,
                    amount: amount.value(),
                    currency: *currency,
                    occurred_on: occurred_on.date(),
                    description: description.as_str().to_owned(),
                    counterparty: counterparty.as_ref().map(|c| c.as_str().to_owned()),
                    category_id: None,
                    voided: false,
                    position,
                });
            }
            MovementEvent::CategoryAssigned { category_id, .. } => {
                if let Some(&index) = self.movement_index.get(&movement_id) {
                    self.movements[index].category_id = Some(*category_id);
                }
            }
            MovementEvent::MovementVoided { .. } => {
                if let Some(&index) = self.movement_index.get(&movement_id) {
                    self.movements[index].voided = true;
                }
            }
        }
    }

    pub fn apply_budget(&mut self, event: &BudgetEvent) {
        match event {
            BudgetEvent::BudgetSet { category_id, period, amount, currency, .. } => {
                let set = BookBudget {
                    category_id: *category_id,
                    period: *period,
                    amount: amount.value(),
                    currency: *currency,
                };
                match self.budgets.iter_mut().find(|b| b.category_id == *category_id && b.period == *period) {
                    Some(existing) => *existing = set,
                    None => self.budgets.push(set),
                }
            }
        }
    }

    /// Every account, by name then id.
    pub fn accounts(&self) -> Vec<&BookAccount> {
        let mut accounts: Vec<&BookAccount> = self.accounts.values().collect();
        accounts.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        accounts
    }

    pub fn account(&self, id: AccountId) -> Option<&BookAccount> {
        self.accounts.get(&id)
    }

    pub fn category(&self, id: CategoryId) -> Option<&BookCategory> {
        self.categories.get(&id)
    }

    /// Movements that were not voided, in recording order.
    pub fn live_movements(&self) -> impl Iterator<Item = &BookMovement> {
        self.movements.iter().filter(|m| !m.voided)
    }

    /// An account's balance at the end of `day`: its opening balance if it was opened by then,
    /// plus every live movement that occurred on or before it.
    pub fn balance_of(&self, account: &BookAccount, day: NaiveDate) -> Decimal {
        let opening = if account.opened_on <= day { account.opening_balance } else { Decimal::ZERO };
        self.live_movements()
            .filter(|m| m.account_id == account.id && m.occurred_on <= day)
            .fold(opening, |sum, m| sum + m.signed())
    }

    /// Every account's balance at the end of `day`, by name then id, the way `GetBalances`
    /// lists them today (closed accounts included).
    pub fn balances_as_of(&self, day: NaiveDate) -> Vec<BalanceAsOf> {
        self.accounts()
            .into_iter()
            .map(|account| BalanceAsOf {
                account_id: account.id,
                name: account.name.clone(),
                currency: account.currency,
                balance: self.balance_of(account, day),
            })
            .collect()
    }

    /// The budget that applies to a category in a month: that month's own, else the recurring
    /// one set from the latest month on or before it.
    pub fn budget_for(&self, category_id: CategoryId, month: Month) -> Option<&BookBudget> {
        let own = self.budgets.iter().find(|b| b.category_id == category_id && b.period == BudgetPeriod::Month(month));
        own.or_else(|| {
            self.budgets
                .iter()
                .filter(|b| b.category_id == category_id)
                .filter_map(|b| match b.period {
                    BudgetPeriod::From(from) if from <= month => Some((from, b)),
                    _ => None,
                })
                .max_by_key(|(from, _)| *from)
                .map(|(_, b)| b)
        })
    }

    /// The categories that have a budget at all.
    pub fn budgeted_categories(&self) -> Vec<CategoryId> {
        let mut ids: Vec<CategoryId> = self.budgets.iter().map(|b| b.category_id).collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Whether `category` is `ancestor` or below it.
    pub fn is_within(&self, category: CategoryId, ancestor: CategoryId) -> bool {
        let mut current = Some(category);
        // A parent chain is acyclic by construction (a parent exists before its child); the
        // bound only keeps a corrupt history from looping.
        for _ in 0..=self.categories.len() {
            match current {
                Some(id) if id == ancestor => return true,
                Some(id) => current = self.categories.get(&id).and_then(|c| c.parent_id),
                None => return false,
            }
        }
        false
    }

    /// What was spent in a budget's month: live expenses in its currency, in its category or
    /// below, on any account.
    pub fn spent(&self, category_id: CategoryId, month: Month, currency: Currency) -> Decimal {
        self.live_movements()
            .filter(|m| m.direction == Direction::Expense && m.currency == currency)
            .filter(|m| Month::of(m.occurred_on) == month)
            .filter(|m| m.category_id.is_some_and(|c| self.is_within(c, category_id)))
            .map(|m| m.amount)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::AccountKind;
    use crate::movement::MovementSource;
    use crate::{Amount, Description, Name, OccurredOn, SignedAmount, UserId};

    fn day(raw: &str) -> NaiveDate {
        crate::date::parse_date("d", raw).unwrap()
    }

    fn open(books: &mut Books, opening: &str, on: &str) -> AccountId {
        let id = AccountId::new();
        let event = AccountEvent::AccountOpened {
            account_id: id,
            owner: UserId::new(),
            name: Name::parse("name", "Checking").unwrap(),
            kind: AccountKind::default(),
            currency: Currency::parse("currency", "EUR").unwrap(),
            opening_balance: SignedAmount::parse("opening_balance", opening).unwrap(),
        };
        books.apply_account(id, &event, day(on));
        id
    }

    fn record(books: &mut Books, account_id: AccountId, direction: Direction, amount: &str, on: &str) -> MovementId {
        let id = MovementId::new();
        let event = MovementEvent::MovementRecorded {
            movement_id: id,
            owner: UserId::new(),
            account_id,
            direction,
            amount: Amount::parse("amount", amount).unwrap(),
            currency: Currency::parse("currency", "EUR").unwrap(),
            occurred_on: OccurredOn::parse("occurred_on", on).unwrap(),
            description: Description::parse("description", "x").unwrap(),
            counterparty: None,
            source: MovementSource::Manual,
            source_ref: None,
        };
        books.apply_movement(id, &event, books.movements.len() as u64 + 1);
        id
    }

    #[test]
    fn a_balance_as_of_a_day_counts_what_occurred_by_then_and_the_opening_from_its_day() {
        let mut books = Books::default();
        let account = open(&mut books, "100", "2026-02-01");
        record(&mut books, account, Direction::Expense, "30.25", "2026-01-15");
        record(&mut books, account, Direction::Income, "10", "2026-02-01");
        let voided = record(&mut books, account, Direction::Expense, "999", "2026-01-20");
        let reason = crate::Reason::parse("reason", "typo").unwrap();
        books.apply_movement(voided, &MovementEvent::MovementVoided { reason }, 9);

        let at = |d: &str| books.balances_as_of(day(d))[0].balance;
        assert_eq!(at("2026-01-14"), Decimal::ZERO);
        assert_eq!(at("2026-01-31"), "-30.25".parse().unwrap(), "opened later: no opening balance yet");
        assert_eq!(at("2026-02-01"), "79.75".parse().unwrap());
        assert_eq!(at("2030-01-01"), "79.75".parse().unwrap());
    }

    #[test]
    fn a_months_own_budget_wins_over_a_recurring_one_and_spending_counts_subcategories() {
        let mut books = Books::default();
        let account = open(&mut books, "0", "2026-01-01");
        let (food, groceries) = (CategoryId::new(), CategoryId::new());
        let create = |name: &str, parent_id| CategoryEvent::CategoryCreated {
            category_id: CategoryId::new(),
            owner: UserId::new(),
            name: Name::parse("name", name).unwrap(),
            parent_id,
        };
        books.apply_category(food, &create("Food", None));
        books.apply_category(groceries, &create("Groceries", Some(food)));
        let eur = Currency::parse("currency", "EUR").unwrap();
        let month = |m: &str| Month::parse("month", m).unwrap();
        let budget = |period, amount: &str| BudgetEvent::BudgetSet {
            budget_id: crate::BudgetId::new(),
            owner: UserId::new(),
            category_id: food,
            period,
            amount: Amount::parse("amount", amount).unwrap(),
            currency: eur,
            alert_thresholds: crate::budget::AlertThresholds::parse("t", &[]).unwrap(),
        };
        books.apply_budget(&budget(BudgetPeriod::From(month("2026-01")), "300"));
        books.apply_budget(&budget(BudgetPeriod::Month(month("2026-02")), "500"));
        books.apply_budget(&budget(BudgetPeriod::From(month("2026-03")), "250"));
        let amount_in = |m: &str| books.budget_for(food, month(m)).map(|b| b.amount.to_string());
        assert_eq!(amount_in("2025-12"), None);
        assert_eq!(amount_in("2026-01").as_deref(), Some("300"));
        assert_eq!(amount_in("2026-02").as_deref(), Some("500"));
        assert_eq!(amount_in("2026-04").as_deref(), Some("250"));

        let bread = record(&mut books, account, Direction::Expense, "12.5", "2026-02-03");
        let assigned = MovementEvent::CategoryAssigned {
            category_id: groceries,
            assigned_by: crate::movement::AssignedBy::User,
            rule_id: None,
        };
        books.apply_movement(bread, &assigned, 20);
        record(&mut books, account, Direction::Expense, "7", "2026-02-04");
        assert_eq!(books.spent(food, month("2026-02"), eur), "12.5".parse().unwrap());
        assert_eq!(books.spent(groceries, month("2026-02"), eur), "12.5".parse().unwrap());
        assert_eq!(books.spent(food, month("2026-03"), eur), Decimal::ZERO);
    }
}
