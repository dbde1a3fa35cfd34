//! The figures a report is made from: computed by the report worker from the ledger as it stood at
//! one store position, then handed to [`render`](crate::render) unchanged.
//!
//! Money is [`Decimal`] throughout, as the ledger keeps it; currencies are ISO 4217 codes. Each
//! list's order is stated on its field; rendering keeps it, except that it groups lines by
//! currency and shows categories by expense, largest first.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

/// Everything one report shows, for the inclusive period `from..=to`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportDocument {
    /// First day of the period (inclusive).
    pub from: NaiveDate,
    /// Last day of the period (inclusive).
    pub to: NaiveDate,
    pub generated_at: DateTime<Utc>,
    /// The store position the report stands at: later movements never change it.
    pub position: u64,
    /// The accounts the report covers (all, or those the request named), in name order.
    pub accounts: Vec<AccountLine>,
    /// One per currency, in code order.
    pub totals: Vec<CurrencyTotals>,
    /// Income and expense per category and currency.
    pub by_category: Vec<CategoryLine>,
    /// One per month of the period and currency, months with no movement included as zeros.
    pub months: Vec<MonthLine>,
    /// At most ten per currency, by expense, largest first.
    pub top_counterparties: Vec<CounterpartyLine>,
    /// Budgets of the period's months; may be empty.
    pub budgets: Vec<BudgetLine>,
    /// The period's movements that are not voided, by date then recording order.
    pub movements: Vec<MovementLine>,
}

/// One account's balance at the start and at the end of the period.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountLine {
    pub account_id: Uuid,
    pub name: String,
    pub currency: String,
    pub opening: Decimal,
    pub closing: Decimal,
}

/// A currency's income and expense over the period; `net` is income − expense.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrencyTotals {
    pub currency: String,
    pub income: Decimal,
    pub expense: Decimal,
    pub net: Decimal,
}

/// A category's income and expense in one currency; `count` counts its movements.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryLine {
    /// The category's name, `"Uncategorised"` for movements without one.
    pub category: String,
    pub currency: String,
    pub income: Decimal,
    pub expense: Decimal,
    pub count: u64,
}

/// One month's income and expense in one currency.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthLine {
    /// `YYYY-MM`.
    pub month: String,
    pub currency: String,
    pub income: Decimal,
    pub expense: Decimal,
}

/// A counterparty the person spent with, in one currency.
#[derive(Debug, Clone, PartialEq)]
pub struct CounterpartyLine {
    pub name: String,
    pub currency: String,
    pub expense: Decimal,
    pub count: u64,
}

/// A category's budget for one month against what was spent in it.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetLine {
    pub category: String,
    /// `YYYY-MM`.
    pub month: String,
    pub currency: String,
    pub limit: Decimal,
    pub spent: Decimal,
}

/// One movement; `amount` is positive and `income` says its direction.
#[derive(Debug, Clone, PartialEq)]
pub struct MovementLine {
    pub date: NaiveDate,
    /// The account's name.
    pub account: String,
    pub income: bool,
    pub amount: Decimal,
    pub currency: String,
    /// The category's name, `""` when the movement has none.
    pub category: String,
    pub description: String,
    pub counterparty: Option<String>,
    pub movement_id: Uuid,
}

impl ReportDocument {
    /// Every currency the report mentions, in code order, each once.
    pub fn currencies(&self) -> Vec<&str> {
        let mut codes: Vec<&str> = self
            .totals
            .iter()
            .map(|t| t.currency.as_str())
            .chain(self.accounts.iter().map(|a| a.currency.as_str()))
            .chain(self.by_category.iter().map(|c| c.currency.as_str()))
            .chain(self.months.iter().map(|m| m.currency.as_str()))
            .chain(self.top_counterparties.iter().map(|c| c.currency.as_str()))
            .chain(self.budgets.iter().map(|b| b.currency.as_str()))
            .collect();
        codes.sort_unstable();
        codes.dedup();
        codes
    }
}

impl MovementLine {
    /// The amount with its direction as a sign: negative for an expense.
    pub fn signed_amount(&self) -> Decimal {
        if self.income { self.amount } else { -self.amount }
    }

    /// `"income"` or `"expense"`, as the CSV's `direction` column spells it.
    pub fn direction(&self) -> &'static str {
        if self.income { "income" } else { "expense" }
    }
}
