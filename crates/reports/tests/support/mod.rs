//! Realistic report documents for the tests and the `render_sample` example: a year of a
//! household's movements in up to three currencies, with every aggregate computed from the
//! movements so the figures agree with each other as the worker's would.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::str::FromStr;

use cashflow_reports::{
    AccountLine, BudgetLine, CategoryLine, CounterpartyLine, CurrencyTotals, MonthLine, MovementLine, ReportDocument,
};
use chrono::{Datelike, Duration, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

pub fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

pub fn date(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// A small deterministic generator (64-bit LCG), so every run builds the same document.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A spending category: its name, counterparties, description templates and amount range in cents.
type Spending = (&'static str, &'static [&'static str], &'static [&'static str], (u64, u64));

const SPENDING: [Spending; 8] = [
    (
        "Groceries",
        &["Lidl", "Carrefour", "Farmers' market", "Aldi"],
        &["Weekly shop", "Top-up shop", "Fruit & veg"],
        (800, 14_000),
    ),
    ("Rent", &["Oakwood Lettings"], &["Rent"], (95_000, 95_000)),
    (
        "Utilities",
        &["City Power", "AquaNet", "FibreNet"],
        &["Electricity bill", "Water bill", "Broadband"],
        (2_500, 16_000),
    ),
    ("Transport", &["Metro", "Shell", "Railways"], &["Monthly pass", "Fuel", "Train tickets"], (250, 9_000)),
    (
        "Dining out",
        &["Luigi's", "Sushi Bar", "Café Central"],
        &["Dinner, \"table 4\"", "Lunch", "Coffee, cake"],
        (350, 8_500),
    ),
    ("Health", &["Pharmacy Plus", "Dr. Meyer"], &["Prescription", "Check-up"], (900, 12_000)),
    ("Entertainment", &["CinemaMax", "StreamFlix", "Bookshop"], &["Cinema", "Subscription", "Books"], (999, 4_500)),
    ("Travel", &["SkyAir", "Hotel Lumen"], &["Flights", "Hotel, 2 nights"], (8_000, 60_000)),
];

/// A document over 2025 with `movements` movements spread over `currencies` (at least one), eight
/// spending categories, salary income, some uncategorised movements, and budgets in the first
/// currency.
pub fn sample(movements: usize, currencies: &[&str]) -> ReportDocument {
    let from = date(2025, 1, 1);
    let to = date(2025, 12, 31);
    let mut rng = Lcg(42);
    let accounts_spec: Vec<(&str, &str, Decimal)> = [
        ("Current account", currencies[0], d("2450.00")),
        ("Savings", currencies[0], d("10000.00")),
        ("Credit card", currencies[0], d("-320.55")),
    ]
    .into_iter()
    .chain(currencies.iter().skip(1).map(|c| match *c {
        "USD" => ("US brokerage", "USD", d("1520.10")),
        "GBP" => ("London account", "GBP", d("800.00")),
        other => ("Foreign account", other, d("100.00")),
    }))
    .collect();
    let accounts_by_currency =
        |c: &str| -> Vec<&str> { accounts_spec.iter().filter(|(_, cur, _)| *cur == c).map(|(n, _, _)| *n).collect() };

    let mut lines = Vec::with_capacity(movements);
    let days = (to - from).num_days() as u64 + 1;
    for i in 0..movements {
        let day = from + Duration::days((i as u64 * days / movements.max(1) as u64) as i64);
        // The first currency carries most of the movements, as a person's home currency would.
        let currency = if rng.below(10) < 7 || currencies.len() == 1 {
            currencies[0]
        } else {
            currencies[1 + rng.below(currencies.len() as u64 - 1) as usize]
        };
        let accounts = accounts_by_currency(currency);
        let account = accounts[rng.below(accounts.len() as u64) as usize].to_owned();
        let kind = rng.below(20);
        let (income, category, counterparty, description, cents) = if kind == 0 {
            (
                true,
                "Salary".to_owned(),
                Some("Acme GmbH".to_owned()),
                "Monthly salary".to_owned(),
                300_000 + rng.below(50_000),
            )
        } else if kind == 1 {
            (false, String::new(), None, "Cash withdrawal".to_owned(), 2_000 + rng.below(8_000))
        } else {
            let (cat, cps, descs, (lo, hi)) = SPENDING[rng.below(SPENDING.len() as u64) as usize];
            let cp = cps[rng.below(cps.len() as u64) as usize];
            let desc = descs[rng.below(descs.len() as u64) as usize];
            (false, cat.to_owned(), Some(cp.to_owned()), desc.to_owned(), lo + rng.below(hi - lo + 1))
        };
        lines.push(MovementLine {
            date: day,
            account,
            income,
            amount: Decimal::new(cents as i64, 2),
            currency: currency.to_owned(),
            category,
            description,
            counterparty,
            movement_id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + i as u128),
        });
    }
    if let Some(last) = lines.last_mut() {
        // Sub-cent precision is kept, and the last page has a description to look for.
        last.description = "Year-end bank fee".to_owned();
        last.amount = d("1.2345");
        last.income = false;
        last.category = "Utilities".to_owned();
        last.counterparty = None;
    }
    from_movements(from, to, &accounts_spec, lines)
}

/// Builds every aggregate of a document from its movements.
pub fn from_movements(
    from: NaiveDate,
    to: NaiveDate,
    accounts: &[(&str, &str, Decimal)],
    movements: Vec<MovementLine>,
) -> ReportDocument {
    let mut currencies: Vec<String> = accounts.iter().map(|(_, c, _)| c.to_string()).collect();
    currencies.sort();
    currencies.dedup();

    let mut closing: BTreeMap<&str, Decimal> = accounts.iter().map(|(n, _, o)| (*n, *o)).collect();
    let mut totals: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    let mut cats: BTreeMap<(String, String), (Decimal, Decimal, u64)> = BTreeMap::new();
    let mut months: BTreeMap<(String, String), (Decimal, Decimal)> = BTreeMap::new();
    let mut cps: BTreeMap<(String, String), (Decimal, u64)> = BTreeMap::new();
    for m in &movements {
        *closing.get_mut(m.account.as_str()).expect("movement of a listed account") += m.signed_amount();
        let t = totals.entry(m.currency.clone()).or_default();
        let cat_name = if m.category.is_empty() { "Uncategorised".to_owned() } else { m.category.clone() };
        let c = cats.entry((m.currency.clone(), cat_name)).or_default();
        let month = months.entry((m.currency.clone(), m.date.format("%Y-%m").to_string())).or_default();
        c.2 += 1;
        if m.income {
            t.0 += m.amount;
            c.0 += m.amount;
            month.0 += m.amount;
        } else {
            t.1 += m.amount;
            c.1 += m.amount;
            month.1 += m.amount;
            if let Some(cp) = &m.counterparty {
                let e = cps.entry((m.currency.clone(), cp.clone())).or_default();
                e.0 += m.amount;
                e.1 += 1;
            }
        }
    }

    let mut month_keys = Vec::new();
    let mut cursor = from.with_day(1).unwrap();
    while cursor <= to {
        month_keys.push(cursor.format("%Y-%m").to_string());
        cursor = cursor.checked_add_months(chrono::Months::new(1)).unwrap();
    }

    let mut account_lines: Vec<AccountLine> = accounts
        .iter()
        .enumerate()
        .map(|(i, (name, currency, opening))| AccountLine {
            account_id: Uuid::from_u128(i as u128 + 1),
            name: name.to_string(),
            currency: currency.to_string(),
            opening: *opening,
            closing: closing[name],
        })
        .collect();
    account_lines.sort_by(|a, b| a.name.cmp(&b.name));

    let mut top = Vec::new();
    for currency in &currencies {
        let mut mine: Vec<CounterpartyLine> = cps
            .iter()
            .filter(|((c, _), _)| c == currency)
            .map(|((c, name), (expense, count))| CounterpartyLine {
                name: name.clone(),
                currency: c.clone(),
                expense: *expense,
                count: *count,
            })
            .collect();
        mine.sort_by(|a, b| b.expense.cmp(&a.expense).then_with(|| a.name.cmp(&b.name)));
        mine.truncate(10);
        top.extend(mine);
    }

    let first = &currencies[0];
    let budgets = ["2025-11", "2025-12"]
        .iter()
        .flat_map(|month| {
            [("Groceries", d("450.00")), ("Dining out", d("120.00")), ("Entertainment", d("60.00"))].map(
                |(cat, limit)| {
                    let spent = movements
                        .iter()
                        .filter(|m| {
                            !m.income
                                && &m.currency == first
                                && m.category == cat
                                && m.date.format("%Y-%m").to_string() == *month
                        })
                        .map(|m| m.amount)
                        .sum();
                    BudgetLine {
                        category: cat.to_owned(),
                        month: month.to_string(),
                        currency: first.clone(),
                        limit,
                        spent,
                    }
                },
            )
        })
        .collect();

    ReportDocument {
        from,
        to,
        generated_at: Utc.with_ymd_and_hms(2026, 1, 2, 9, 30, 0).unwrap(),
        position: 48_213,
        accounts: account_lines,
        totals: totals
            .into_iter()
            .map(|(currency, (income, expense))| CurrencyTotals { currency, income, expense, net: income - expense })
            .collect(),
        by_category: cats
            .into_iter()
            .map(|((currency, category), (income, expense, count))| CategoryLine {
                category,
                currency,
                income,
                expense,
                count,
            })
            .collect(),
        months: currencies
            .iter()
            .flat_map(|c| {
                month_keys.iter().map(|k| {
                    let (income, expense) = months.get(&(c.clone(), k.clone())).copied().unwrap_or_default();
                    MonthLine { month: k.clone(), currency: c.clone(), income, expense }
                })
            })
            .collect(),
        top_counterparties: top,
        budgets,
        movements,
    }
}
