//! What to tell a person, as pure functions of what the read models say: each notification with
//! its cause, from which its id derives (`cashflow_app::notification_id_for`).

use crate::lookups::{BudgetStanding, InvoiceStanding};
use cashflow_domain::notification::{Raised, Topic};
use cashflow_domain::report::{Report, ReportStatus};
use cashflow_domain::{Month, UserId};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// A notification to raise, and the cause that makes it one of a kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub cause: String,
    pub raised: Raised,
}

/// An amount as people read it: at least two decimals, no trailing zeros beyond them.
pub fn money(amount: Decimal) -> String {
    let mut amount = amount.normalize();
    if amount.scale() < 2 {
        amount.rescale(2);
    }
    amount.to_string()
}

/// Every threshold of every budget that spending has reached in `month`. The cause is the budget,
/// the month and the threshold, so each notifies once however often spending crosses it.
/// Reached means `spent × 100 ≥ amount × threshold`, exactly, with no rounding of the percent.
pub fn budget_thresholds(owner: UserId, month: Month, budgets: &[BudgetStanding]) -> Vec<Decided> {
    let mut decided = Vec::new();
    for budget in budgets {
        for &threshold in &budget.alert_thresholds {
            if budget.spent * Decimal::ONE_HUNDRED < budget.amount * Decimal::from(threshold) {
                continue;
            }
            let name = &budget.category_name;
            let title = match threshold {
                100 => format!("{name}: budget reached"),
                t if t > 100 => format!("{name}: {t}% of the budget spent, over it"),
                t => format!("{name}: {t}% of the budget spent"),
            };
            // What remains, or by how much spending went over: never a negative amount left.
            let remaining = budget.amount - budget.spent;
            let rest = if remaining < Decimal::ZERO {
                format!("over by {}", money(-remaining))
            } else {
                format!("{} left", money(remaining))
            };
            let body = format!(
                "{} of {} {} spent on {name} in {month}; {rest}.",
                money(budget.spent),
                money(budget.amount),
                budget.currency,
            );
            let data = BTreeMap::from([
                ("threshold".to_owned(), threshold.to_string()),
                ("spent".to_owned(), money(budget.spent)),
                ("amount".to_owned(), money(budget.amount)),
                ("month".to_owned(), month.to_string()),
                ("currency".to_owned(), budget.currency.clone()),
                ("category_id".to_owned(), budget.category_id.to_string()),
            ]);
            decided.push(Decided {
                cause: format!("budget {} {month} {threshold}", budget.budget_id),
                raised: Raised {
                    owner,
                    topic: Topic::BudgetThreshold,
                    title,
                    body,
                    subject_id: budget.budget_id.to_string(),
                    data,
                },
            });
        }
    }
    decided
}

/// The facts of an expense a large-expense notification tells.
#[derive(Debug, Clone, Copy)]
pub struct Expense<'a> {
    pub movement_id: uuid::Uuid,
    pub amount: Decimal,
    pub currency: &'a str,
    pub description: &'a str,
    pub counterparty: Option<&'a str>,
    pub occurred_on: chrono::NaiveDate,
}

/// An expense at or over the person's threshold (in any currency: the threshold is a number).
pub fn large_expense(owner: UserId, threshold: Option<Decimal>, expense: Expense<'_>) -> Option<Decided> {
    let threshold = threshold?;
    if expense.amount < threshold {
        return None;
    }
    let at = expense.counterparty.map(|c| format!(" at {c}")).unwrap_or_default();
    let data = BTreeMap::from([
        ("amount".to_owned(), money(expense.amount)),
        ("currency".to_owned(), expense.currency.to_owned()),
        ("threshold".to_owned(), money(threshold)),
        ("occurred_on".to_owned(), expense.occurred_on.to_string()),
    ]);
    Some(Decided {
        cause: format!("large expense {}", expense.movement_id),
        raised: Raised {
            owner,
            topic: Topic::LargeExpense,
            title: format!("Large expense: {} {}{at}", money(expense.amount), expense.currency),
            body: format!("{} on {}.", expense.description, expense.occurred_on),
            subject_id: expense.movement_id.to_string(),
            data,
        },
    })
}

/// An invoice whose processing has settled, once per invoice.
pub fn invoice_processed(owner: UserId, invoice_id: uuid::Uuid, standing: &InvoiceStanding) -> Option<Decided> {
    let what = |merchant: &Option<String>, total: &Option<Decimal>| match (merchant, total) {
        (Some(m), Some(t)) => format!("{m}, {}", money(*t)),
        (Some(m), None) => m.clone(),
        (None, Some(t)) => money(*t),
        (None, None) => "a receipt".to_owned(),
    };
    let mut data = BTreeMap::new();
    let (title, body) = match standing {
        InvoiceStanding::Processing => return None,
        InvoiceStanding::Recorded { merchant, total, currency, movement_id } => {
            data.insert("status".to_owned(), "recorded".to_owned());
            data.insert("movement_id".to_owned(), movement_id.to_string());
            let currency = currency.as_deref().map(|c| format!(" {c}")).unwrap_or_default();
            (
                "Receipt recorded".to_owned(),
                format!("{}{currency} was recorded from your receipt.", what(merchant, total)),
            )
        }
        InvoiceStanding::NeedsReview { merchant, total } => {
            data.insert("status".to_owned(), "needs_review".to_owned());
            (
                "A receipt needs a look".to_owned(),
                format!("{} could not be read surely enough to record.", what(merchant, total)),
            )
        }
        InvoiceStanding::Failed { reason } => {
            data.insert("status".to_owned(), "failed".to_owned());
            ("A receipt could not be read".to_owned(), reason.clone())
        }
    };
    Some(Decided {
        cause: format!("invoice {invoice_id}"),
        raised: Raised { owner, topic: Topic::InvoiceProcessed, title, body, subject_id: invoice_id.to_string(), data },
    })
}

/// A report that has been made, or could not be, once per report.
pub fn report_settled(owner: UserId, report_id: uuid::Uuid, report: &Report) -> Option<Decided> {
    let requested = report.requested.as_ref()?;
    let format = requested.format.as_str().to_uppercase();
    let period = format!("{} to {}", requested.period.from(), requested.period.to());
    let mut data = BTreeMap::new();
    data.insert("report_id".to_owned(), report_id.to_string());
    data.insert("format".to_owned(), requested.format.as_str().to_owned());
    data.insert("from".to_owned(), requested.period.from().to_string());
    data.insert("to".to_owned(), requested.period.to().to_string());
    let (title, body) = match (report.status, &report.generated) {
        (ReportStatus::Ready, Some(generated)) => {
            data.insert("status".to_owned(), "ready".to_owned());
            data.insert("size_bytes".to_owned(), generated.size_bytes.to_string());
            ("Your report is ready".to_owned(), format!("The {format} report for {period} is ready to download."))
        }
        (ReportStatus::Failed, _) => {
            data.insert("status".to_owned(), "failed".to_owned());
            (
                "A report could not be made".to_owned(),
                format!("The {format} report for {period} could not be made; please request it again."),
            )
        }
        _ => return None,
    };
    Some(Decided {
        cause: format!("report {report_id}"),
        raised: Raised { owner, topic: Topic::ReportReady, title, body, subject_id: report_id.to_string(), data },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(amount: &str, spent: &str, thresholds: &[u32]) -> BudgetStanding {
        BudgetStanding {
            budget_id: uuid::Uuid::nil(),
            category_id: uuid::Uuid::nil(),
            category_name: "Food".into(),
            amount: amount.parse().unwrap(),
            spent: spent.parse().unwrap(),
            currency: "EUR".into(),
            alert_thresholds: thresholds.to_vec(),
        }
    }

    fn thresholds(decided: &[Decided]) -> Vec<&str> {
        decided.iter().map(|d| d.raised.data["threshold"].as_str()).collect()
    }

    #[test]
    fn a_threshold_is_reached_at_its_exact_share_and_not_a_cent_below() {
        let (owner, month) = (UserId::new(), Month::parse("month", "2026-11").unwrap());
        assert!(budget_thresholds(owner, month, &[budget("300", "239.99", &[80, 100])]).is_empty());
        let at = budget_thresholds(owner, month, &[budget("300", "240.00", &[80, 100])]);
        assert_eq!(thresholds(&at), ["80"]);
        assert_eq!(at[0].raised.data["spent"], "240.00");
        assert_eq!(at[0].raised.data["amount"], "300.00");
        assert_eq!(at[0].raised.data["month"], "2026-11");
        // 2/3 of a cent under 100%: a rounded percent would say 100.00.
        assert_eq!(thresholds(&budget_thresholds(owner, month, &[budget("300", "299.998", &[80, 100])])), ["80"]);
        assert_eq!(
            thresholds(&budget_thresholds(owner, month, &[budget("300", "450", &[80, 100, 150])])),
            ["80", "100", "150"]
        );
    }

    #[test]
    fn the_body_says_what_is_left_or_by_how_much_the_budget_is_over() {
        let (owner, month) = (UserId::new(), Month::parse("month", "2026-11").unwrap());
        let body =
            |amount, spent| budget_thresholds(owner, month, &[budget(amount, spent, &[80])])[0].raised.body.clone();
        assert_eq!(body("300", "240"), "240.00 of 300.00 EUR spent on Food in 2026-11; 60.00 left.");
        assert_eq!(
            body("300", "300.00"),
            "300.00 of 300.00 EUR spent on Food in 2026-11; 0.00 left.",
            "reached, not over"
        );
        assert_eq!(body("300", "302"), "302.00 of 300.00 EUR spent on Food in 2026-11; over by 2.00.");
        assert_eq!(body("300", "300.001"), "300.001 of 300.00 EUR spent on Food in 2026-11; over by 0.001.");
        assert_eq!(body("100.5", "250.25"), "250.25 of 100.50 EUR spent on Food in 2026-11; over by 149.75.");
    }

    #[test]
    fn causes_are_one_per_budget_month_and_threshold() {
        let owner = UserId::new();
        let (nov, dec) = (Month::parse("m", "2026-11").unwrap(), Month::parse("m", "2026-12").unwrap());
        let b = [budget("100", "100", &[80, 100])];
        let causes: Vec<_> =
            [nov, dec].iter().flat_map(|m| budget_thresholds(owner, *m, &b)).map(|d| d.cause).collect();
        let unique: std::collections::BTreeSet<_> = causes.iter().collect();
        assert_eq!((causes.len(), unique.len()), (4, 4));
        assert_eq!(budget_thresholds(owner, nov, &b)[0].cause, budget_thresholds(owner, nov, &b)[0].cause);
    }

    #[test]
    fn a_large_expense_is_at_or_over_the_threshold() {
        let owner = UserId::new();
        let expense = |amount: &str| Expense {
            movement_id: uuid::Uuid::nil(),
            amount: amount.parse().unwrap(),
            currency: "EUR",
            description: "Sofa",
            counterparty: Some("Ikea"),
            occurred_on: chrono::NaiveDate::from_ymd_opt(2026, 11, 3).unwrap(),
        };
        let threshold = Some("500".parse().unwrap());
        assert!(large_expense(owner, threshold, expense("499.99")).is_none());
        assert!(large_expense(owner, None, expense("5000")).is_none());
        let decided = large_expense(owner, threshold, expense("500")).unwrap();
        assert_eq!(decided.raised.title, "Large expense: 500.00 EUR at Ikea");
    }

    #[test]
    fn an_invoice_notifies_once_it_settles() {
        let owner = UserId::new();
        let id = uuid::Uuid::now_v7();
        assert!(invoice_processed(owner, id, &InvoiceStanding::Processing).is_none());
        let failed = invoice_processed(owner, id, &InvoiceStanding::Failed { reason: "blank page".into() }).unwrap();
        assert_eq!((failed.cause, failed.raised.data["status"].as_str()), (format!("invoice {id}"), "failed"));
    }

    #[test]
    fn a_report_notifies_once_it_is_made_or_given_up() {
        use cashflow_domain::report::{ReportCommand, ReportFormat, ReportPeriod, ReportTrigger, decide};
        let owner = UserId::new();
        let id = cashflow_domain::ReportId::new();
        let day = |raw| cashflow_domain::date::parse_date("d", raw).unwrap();
        let requested = decide(
            &Report::default(),
            ReportCommand::Request {
                report_id: id,
                owner,
                period: ReportPeriod::new(day("2026-11-01"), day("2026-11-30"), "to").unwrap(),
                format: ReportFormat::Pdf,
                account_ids: vec![],
                position: 7,
                trigger: ReportTrigger::Monthly,
            },
        )
        .unwrap();
        let pending = cashflow_domain::fold::<Report>(&requested);
        assert!(report_settled(owner, id.as_uuid(), &pending).is_none(), "nothing to tell while it is made");
        let done = ReportCommand::Complete { owner, size_bytes: 1234, sha256: "00".repeat(32), blob_key: "k".into() };
        let generated = decide(&pending, done).unwrap();
        let ready = cashflow_domain::fold::<Report>(requested.iter().chain(&generated));
        let told = report_settled(owner, id.as_uuid(), &ready).unwrap();
        assert_eq!(told.cause, format!("report {id}"));
        assert_eq!(told.raised.topic, Topic::ReportReady);
        assert_eq!(told.raised.subject_id, id.to_string());
        assert_eq!(told.raised.data["status"], "ready");
        assert!(told.raised.body.contains("2026-11-01 to 2026-11-30"), "{}", told.raised.body);
        let failed = decide(&pending, ReportCommand::Fail { owner, reason: "x".into() }).unwrap();
        let failed = cashflow_domain::fold::<Report>(requested.iter().chain(&failed));
        assert_eq!(report_settled(owner, id.as_uuid(), &failed).unwrap().raised.data["status"], "failed");
    }

    #[test]
    fn money_reads_with_two_decimals_at_least() {
        assert_eq!(money("12.5".parse().unwrap()), "12.50");
        assert_eq!(money("12.5000".parse().unwrap()), "12.50");
        assert_eq!(money("0.1234".parse().unwrap()), "0.1234");
        assert_eq!(money("300".parse().unwrap()), "300.00");
    }
}
