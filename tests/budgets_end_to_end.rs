//! Budgets end to end: the real binary, PostgreSQL and NATS, through the generated clients.
//! SetBudget, spending as it happens (a subcategory, a void), the default
//! currency, setting again, and bad input naming the field.

mod support;

use cashflow_proto::v1::*;
use support::{CASHFLOW, Namespace, Server, command_id, open_account};
use tonic::Code;
use tonic_types::StatusExt;
use uuid::Uuid;

fn violated_field(status: &tonic::Status) -> String {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    details.bad_request().expect("a BadRequest").field_violations.first().expect("a violation").field.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_budget_follows_what_is_spent() {
    let namespace = Namespace::new();
    let server = Server::start(CASHFLOW, &namespace, "api,relay,projectors");
    let alice = Uuid::now_v7();
    let mut ledger = server.ledger(alice).await;
    let mut query = server.query(alice).await;

    let account = open_account(&mut ledger, "Main").await;
    let category = |name: &'static str, parent_id: Option<String>| {
        let mut ledger = ledger.clone();
        async move {
            ledger
                .create_category(CreateCategoryRequest { command_id: command_id(), name: name.into(), parent_id })
                .await
                .expect("create category")
                .into_inner()
                .category_id
        }
    };
    let food = category("Food", None).await;
    let groceries = category("Groceries", Some(food.clone())).await;
    // The default currency is read from the ledger read model: wait until it has the account.
    query
        .get_balances(GetBalancesRequest { min_position: Some(account.position), as_of: None })
        .await
        .expect("the account is projected");

    let set = ledger
        .set_budget(SetBudgetRequest {
            command_id: command_id(),
            category_id: food.clone(),
            month: Some("2026-11".into()),
            amount: "200".into(),
            currency: None,
            alert_thresholds: vec![],
        })
        .await
        .expect("set budget")
        .into_inner();
    let mut position = set.position;
    let record = |amount: &'static str, category_id: &str| {
        let mut ledger = ledger.clone();
        let request = RecordMovementRequest {
            command_id: command_id(),
            account_id: account.account_id.clone(),
            direction: Direction::Expense.into(),
            amount: amount.into(),
            occurred_on: "2026-11-20".into(),
            description: "spent".into(),
            counterparty: None,
            category_id: Some(category_id.to_owned()),
        };
        async move { ledger.record_movement(request).await.expect("record").into_inner() }
    };
    let lunch = record("50", &food).await;
    let shop = record("100.50", &groceries).await;
    position = position.max(shop.position);
    let budgets = |position: u64| {
        let mut query = query.clone();
        async move {
            query
                .get_budgets(GetBudgetsRequest { month: Some("2026-11".into()), min_position: Some(position) })
                .await
                .expect("get budgets")
                .into_inner()
                .budgets
        }
    };

    let november = budgets(position).await;
    assert_eq!(november.len(), 1);
    let budget = &november[0];
    assert_eq!(budget.budget_id, set.budget_id);
    assert_eq!(
        (budget.category_name.as_str(), budget.month.as_str(), budget.currency.as_str()),
        ("Food", "2026-11", "EUR")
    );
    assert_eq!(
        (budget.amount.as_str(), budget.spent.as_str(), budget.remaining.as_str(), budget.percent_used.as_str()),
        ("200.00", "150.50", "49.50", "75.25"),
        "the subcategory's spending counts"
    );

    // A void gives it back; setting the budget again changes the same budget.
    let voided = ledger
        .void_movement(VoidMovementRequest {
            command_id: command_id(),
            movement_id: lunch.movement_id.clone(),
            reason: "twice".into(),
        })
        .await
        .expect("void")
        .into_inner();
    let again = ledger
        .set_budget(SetBudgetRequest {
            command_id: command_id(),
            category_id: food.clone(),
            month: Some("2026-11".into()),
            amount: "100.50".into(),
            currency: Some("EUR".into()),
            alert_thresholds: vec![50],
        })
        .await
        .expect("set again")
        .into_inner();
    assert_eq!(again.budget_id, set.budget_id);
    let november = budgets(voided.position.max(again.position)).await;
    assert_eq!(november.len(), 1);
    assert_eq!(
        (november[0].amount.as_str(), november[0].spent.as_str(), november[0].percent_used.as_str()),
        ("100.50", "100.50", "100.00")
    );

    // Bad input names the field and appends nothing.
    let head = position.max(voided.position).max(again.position);
    for (request, field) in [
        (SetBudgetRequest { month: Some("2026-13".into()), ..bad(&food) }, "month"),
        (SetBudgetRequest { amount: "-5".into(), ..bad(&food) }, "amount"),
        (SetBudgetRequest { currency: Some("EURO".into()), ..bad(&food) }, "currency"),
        (SetBudgetRequest { alert_thresholds: vec![0], ..bad(&food) }, "alert_thresholds"),
        (SetBudgetRequest { category_id: "food".into(), ..bad(&food) }, "category_id"),
    ] {
        let status = ledger.set_budget(request).await.expect_err("refused");
        assert_eq!(violated_field(&status), field);
    }
    let status = query
        .get_budgets(GetBudgetsRequest { month: Some("November".into()), min_position: None })
        .await
        .expect_err("refused");
    assert_eq!(violated_field(&status), "month");
    let unknown = SetBudgetRequest { category_id: Uuid::now_v7().to_string(), ..bad(&food) };
    assert_eq!(ledger.set_budget(unknown).await.expect_err("refused").code(), Code::NotFound);
    let pool = namespace.pool().await;
    let stored: i64 = sqlx::query_scalar("SELECT max(position) FROM events").fetch_one(&pool).await.expect("head");
    assert_eq!(stored as u64, head, "nothing was appended");

    assert!(server.terminate().success());
}

/// A valid SetBudget for `category_id`, to spoil one field of.
fn bad(category_id: &str) -> SetBudgetRequest {
    SetBudgetRequest {
        command_id: command_id(),
        category_id: category_id.to_owned(),
        month: Some("2026-11".into()),
        amount: "10".into(),
        currency: Some("EUR".into()),
        alert_thresholds: vec![],
    }
}
