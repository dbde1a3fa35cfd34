//! From a person's [`Books`] to a [`ReportDocument`]: the figures of one period, on the accounts
//! a request names (all when it names none).
//!
//! Every figure is a sum of the same live movements: the totals, the category table and the
//! months add up to one another, and to what `GetCategorySummary` answers for the same period.
//! Budgets count spending on every account, as `GetBudgets` does.

use crate::document::{
    AccountLine, BudgetLine, CategoryLine, CounterpartyLine, CurrencyTotals, MonthLine, MovementLine, ReportDocument,
};
use cashflow_domain::books::{BookMovement, Books};
use cashflow_domain::movement::Direction;
use cashflow_domain::report::RequestedReport;
use cashflow_domain::{CategoryId, Month};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

/// At most this many counterparties per currency.
pub const TOP_COUNTERPARTIES: usize = 10;
/// The name shown for movements without a category.
pub const UNCATEGORISED: &str = "Uncategorised";

/// The figures of `report`, from `books` folded up to the report's position.
pub fn figures(books: &Books, report: &RequestedReport, generated_at: DateTime<Utc>) -> ReportDocument {
    let period = report.period;
    let covered = |account_id| report.account_ids.is_empty() || report.account_ids.contains(&account_id);
    let accounts: Vec<_> = books.accounts().into_iter().filter(|a| covered(a.id)).collect();
    let mut movements: Vec<&BookMovement> =
        books.live_movements().filter(|m| covered(m.account_id) && period.contains(m.occurred_on)).collect();
    movements.sort_by_key(|m| (m.occurred_on, m.position));

    let day_before = period.from().pred_opt().unwrap_or(period.from());
    let account_lines = accounts
        .iter()
        .map(|account| AccountLine {
            account_id: account.id.as_uuid(),
            name: account.name.clone(),
            currency: account.currency.to_string(),
            opening: books.balance_of(account, day_before),
            closing: books.balance_of(account, period.to()),
        })
        .collect();

    let currencies: BTreeSet<String> = accounts
        .iter()
        .map(|a| a.currency.to_string())
        .chain(movements.iter().map(|m| m.currency.to_string()))
        .collect();

    ReportDocument {
        from: period.from(),
        to: period.to(),
        generated_at,
        position: report.position,
        accounts: account_lines,
        totals: totals(&currencies, &movements),
        by_category: by_category(books, &movements),
        months: months(period.from(), period.to(), &currencies, &movements),
        top_counterparties: top_counterparties(&movements),
        budgets: budgets(books, period.from(), period.to()),
        movements: movements
            .iter()
            .map(|m| MovementLine {
                date: m.occurred_on,
                account: books.account(m.account_id).map(|a| a.name.clone()).unwrap_or_default(),
                income: m.direction == Direction::Income,
                amount: m.amount,
                currency: m.currency.to_string(),
                category: m.category_id.map(|c| category_name(books, c)).unwrap_or_default(),
                description: m.description.clone(),
                counterparty: m.counterparty.clone(),
                movement_id: m.id.as_uuid(),
            })
            .collect(),
    }
}

/// A category's name with its parents', e.g. `Food / Groceries`, so two categories of one name
/// under different parents stay apart.
pub fn category_name(books: &Books, category_id: CategoryId) -> String {
    let mut names = Vec::new();
    let mut current = Some(category_id);
    while let Some(id) = current {
        let Some(category) = books.category(id) else { break };
        names.push(category.name.as_str());
        current = category.parent_id;
        if names.len() > 16 {
            break;
        }
    }
    names.reverse();
    if names.is_empty() { UNCATEGORISED.to_owned() } else { names.join(" / ") }
}

/// Income and expense of one direction-split sum.
#[derive(Default, Clone, Copy)]
struct Sums {
    income: Decimal,
    expense: Decimal,
    count: u64,
}

impl Sums {
    fn add(&mut self, movement: &BookMovement) {
        match movement.direction {
            Direction::Income => self.income += movement.amount,
            Direction::Expense => self.expense += movement.amount,
        }
        self.count += 1;
    }
}

fn totals(currencies: &BTreeSet<String>, movements: &[&BookMovement]) -> Vec<CurrencyTotals> {
    currencies
        .iter()
        .map(|currency| {
            let mut sums = Sums::default();
            movements.iter().filter(|m| m.currency.to_string() == *currency).for_each(|m| sums.add(m));
            CurrencyTotals {
                currency: currency.clone(),
                income: sums.income,
                expense: sums.expense,
                net: sums.income - sums.expense,
            }
        })
        .collect()
}

/// Per category and currency; largest expense first, then income, then name.
fn by_category(books: &Books, movements: &[&BookMovement]) -> Vec<CategoryLine> {
    let mut sums: BTreeMap<(String, String), Sums> = BTreeMap::new();
    for movement in movements {
        let name = movement.category_id.map_or_else(|| UNCATEGORISED.to_owned(), |c| category_name(books, c));
        sums.entry((name, movement.currency.to_string())).or_default().add(movement);
    }
    let mut lines: Vec<CategoryLine> = sums
        .into_iter()
        .map(|((category, currency), sums)| CategoryLine {
            category,
            currency,
            income: sums.income,
            expense: sums.expense,
            count: sums.count,
        })
        .collect();
    lines.sort_by(|a, b| (b.expense, b.income).cmp(&(a.expense, a.income)).then_with(|| a.category.cmp(&b.category)));
    lines
}

/// The months from `from` to `to`, each once.
fn months_between(from: NaiveDate, to: NaiveDate) -> Vec<Month> {
    let (mut month, last) = (Month::of(from), Month::of(to));
    let mut months = Vec::new();
    while month <= last {
        months.push(month);
        let first = month.first_day();
        let next = if first.month() == 12 {
            NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
        };
        let Some(next) = next else { break };
        month = Month::of(next);
    }
    months
}

fn months(
    from: NaiveDate,
    to: NaiveDate,
    currencies: &BTreeSet<String>,
    movements: &[&BookMovement],
) -> Vec<MonthLine> {
    let mut sums: BTreeMap<(Month, String), Sums> = BTreeMap::new();
    for movement in movements {
        sums.entry((Month::of(movement.occurred_on), movement.currency.to_string())).or_default().add(movement);
    }
    let mut lines = Vec::new();
    for month in months_between(from, to) {
        for currency in currencies {
            let sums = sums.get(&(month, currency.clone())).copied().unwrap_or_default();
            lines.push(MonthLine {
                month: month.to_string(),
                currency: currency.clone(),
                income: sums.income,
                expense: sums.expense,
            });
        }
    }
    lines
}

fn top_counterparties(movements: &[&BookMovement]) -> Vec<CounterpartyLine> {
    let mut sums: BTreeMap<(String, String), (Decimal, u64)> = BTreeMap::new();
    for movement in movements.iter().filter(|m| m.direction == Direction::Expense) {
        let Some(name) = &movement.counterparty else { continue };
        let entry = sums.entry((movement.currency.to_string(), name.clone())).or_default();
        entry.0 += movement.amount;
        entry.1 += 1;
    }
    let mut by_currency: BTreeMap<String, Vec<CounterpartyLine>> = BTreeMap::new();
    for ((currency, name), (expense, count)) in sums {
        by_currency.entry(currency.clone()).or_default().push(CounterpartyLine { name, currency, expense, count });
    }
    by_currency
        .into_values()
        .flat_map(|mut lines| {
            lines.sort_by(|a, b| b.expense.cmp(&a.expense).then_with(|| a.name.cmp(&b.name)));
            lines.truncate(TOP_COUNTERPARTIES);
            lines
        })
        .collect()
}

/// Each month's applicable budgets, by month then category name.
fn budgets(books: &Books, from: NaiveDate, to: NaiveDate) -> Vec<BudgetLine> {
    let mut lines = Vec::new();
    for month in months_between(from, to) {
        let mut of_month: Vec<BudgetLine> = books
            .budgeted_categories()
            .into_iter()
            .filter_map(|category_id| {
                let budget = books.budget_for(category_id, month)?;
                Some(BudgetLine {
                    category: category_name(books, category_id),
                    month: month.to_string(),
                    currency: budget.currency.to_string(),
                    limit: budget.amount,
                    spent: books.spent(category_id, month, budget.currency),
                })
            })
            .collect();
        of_month.sort_by(|a, b| a.category.cmp(&b.category));
        lines.extend(of_month);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(raw: &str) -> NaiveDate {
        cashflow_domain::date::parse_date("d", raw).unwrap()
    }

    #[test]
    fn the_months_of_a_period_cross_years_and_include_both_ends() {
        let months: Vec<String> =
            months_between(day("2025-11-30"), day("2026-02-01")).iter().map(ToString::to_string).collect();
        assert_eq!(months, ["2025-11", "2025-12", "2026-01", "2026-02"]);
        assert_eq!(months_between(day("2026-03-05"), day("2026-03-05")).len(), 1);
    }
}
