//! End to end against the real binary: amounts are checked against their currency's minor
//! unit, and a person's categorisation rules are capped.

mod support;

use cashflow_proto::v1::*;
use sqlx::Row;
use support::{CASHFLOW, Namespace, Server, command_id};
use tonic::Code;
use tonic_types::StatusExt;
use uuid::Uuid;

/// The field named by an INVALID_ARGUMENT's BadRequest detail.
fn violated_field(status: &tonic::Status) -> String {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    let bad_request = details.bad_request().expect("a google.rpc.BadRequest detail");
    bad_request.field_violations.first().expect("a field violation").field.clone()
}

async fn count_events(pool: &sqlx::PgPool, event_type: &str) -> i64 {
    sqlx::query("SELECT count(*) AS n FROM events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(pool)
        .await
        .expect("count events")
        .get("n")
}

fn open(currency: &str, opening_balance: &str) -> OpenAccountRequest {
    OpenAccountRequest {
        command_id: command_id(),
        name: format!("In {currency}"),
        currency: currency.into(),
        opening_balance: Some(opening_balance.into()),
    }
}

fn expense(account_id: &str, amount: &str) -> RecordMovementRequest {
    RecordMovementRequest {
        command_id: command_id(),
        account_id: account_id.into(),
        direction: Direction::Expense as i32,
        amount: amount.into(),
        occurred_on: "2025-10-01".into(),
        description: "Coffee".into(),
        counterparty: None,
        category_id: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amounts_finer_than_the_currency_allows_are_refused_naming_the_field_and_store_nothing() {
    let namespace = Namespace::new();
    let server = Server::start(CASHFLOW, &namespace, "api");
    let mut ledger = server.ledger(Uuid::now_v7()).await;
    let yen = ledger.open_account(open("JPY", "1500")).await.expect("open a JPY account").into_inner();
    let euro = ledger.open_account(open("EUR", "10.50")).await.expect("open a EUR account").into_inner();
    let pool = namespace.pool().await;

    for (account, amount) in [(&yen, "0.5"), (&yen, "1200.25"), (&euro, "0.001"), (&euro, "12.345")] {
        let refused = ledger.record_movement(expense(&account.account_id, amount)).await.unwrap_err();
        assert_eq!(violated_field(&refused), "amount", "{amount}: {refused:?}");
    }
    assert_eq!(count_events(&pool, "MovementRecorded").await, 0, "a refused movement stored an event");

    for (currency, balance) in [("JPY", "0.5"), ("EUR", "-0.001")] {
        let refused = ledger.open_account(open(currency, balance)).await.unwrap_err();
        assert_eq!(violated_field(&refused), "opening_balance", "{balance} {currency}: {refused:?}");
    }
    assert_eq!(count_events(&pool, "AccountOpened").await, 2, "a refused account stored an event");

    // Whole yen and cents, written with trailing zeros or not, are amounts of their currency.
    for (account, amount) in [(&yen, "1200"), (&yen, "1200.00"), (&euro, "0.01"), (&euro, "12.340")] {
        ledger.record_movement(expense(&account.account_id, amount)).await.expect(amount);
    }
    assert_eq!(count_events(&pool, "MovementRecorded").await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_501st_categorisation_rule_of_a_person_is_refused() {
    const MAX: usize = 500;
    let namespace = Namespace::new();
    // Room in the command rate limit for the 500 rules, so only the cap can refuse.
    let server = Server::start_with(
        CASHFLOW,
        &namespace,
        "api,relay,projectors",
        &[("CASHFLOW_RATE_LIMIT_COMMANDS_BURST", "2000")],
    );
    let person = Uuid::now_v7();
    let mut ledger = server.ledger(person).await;
    let mut categories = Vec::new();
    for name in ["Food", "Transport", "Home", "Fun", "Health"] {
        let request = CreateCategoryRequest { command_id: command_id(), name: name.into(), parent_id: None };
        categories.push(ledger.create_category(request).await.expect("create a category").into_inner().category_id);
    }
    // The cap counts across categories: 100 rules in each of five.
    let rule = |i: usize| AddCategorizationRuleRequest {
        command_id: command_id(),
        category_id: categories[i % categories.len()].clone(),
        description_pattern: Some(format!("shop {i}")),
        counterparty_pattern: None,
        min_amount: None,
        max_amount: None,
        direction: None,
        priority: None,
    };
    let mut last = 0;
    for chunk in (0..MAX).collect::<Vec<_>>().chunks(25) {
        let adds = chunk.iter().map(|&i| {
            let mut ledger = ledger.clone();
            let request = rule(i);
            async move { ledger.add_categorization_rule(request).await.expect("add a rule").into_inner().position }
        });
        last = futures::future::join_all(adds).await.into_iter().fold(last, u64::max);
    }
    // The cap reads the ledger read model: let it see all 500 first.
    let mut query = server.query(person).await;
    query.list_categories(ListCategoriesRequest { min_position: Some(last) }).await.expect("the ledger catches up");

    let refused = ledger.add_categorization_rule(rule(MAX)).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("500"), "{}", refused.message());
    let pool = namespace.pool().await;
    assert_eq!(count_events(&pool, "CategorizationRuleAdded").await, MAX as i64);

    // Another person is not limited by this one's rules.
    let mut other = server.ledger(Uuid::now_v7()).await;
    let request = CreateCategoryRequest { command_id: command_id(), name: "Food".into(), parent_id: None };
    let food = other.create_category(request).await.expect("create a category").into_inner().category_id;
    other
        .add_categorization_rule(AddCategorizationRuleRequest { category_id: food, ..rule(0) })
        .await
        .expect("another person's first rule");
}
