//! End to end: the real binary, PostgreSQL and NATS, driven through the generated clients.

mod support;

use cashflow_proto::v1::*;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use support::{CASHFLOW, Namespace, Server, command_id};
use tonic::Code;
use tonic_types::StatusExt;
use uuid::Uuid;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

/// The field named by an INVALID_ARGUMENT's BadRequest detail.
fn violated_field(status: &tonic::Status) -> String {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    let bad_request = details.bad_request().expect("a google.rpc.BadRequest detail");
    bad_request.field_violations.first().expect("a field violation").field.clone()
}

struct Recorded {
    movement_id: String,
    direction: Direction,
    amount: Decimal,
    occurred_on: String,
    category: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ledger_round_trip_through_every_part() {
    let namespace = Namespace::new();
    let server = Server::start(CASHFLOW, &namespace, "api,relay,projectors");
    let alice = Uuid::now_v7();
    let mut ledger = server.ledger(alice).await;
    let mut query = server.query(alice).await;

    // An account and categories.
    let account = ledger
        .open_account(OpenAccountRequest {
            command_id: command_id(),
            name: "Main".into(),
            currency: "EUR".into(),
            opening_balance: Some("100.00".into()),
        })
        .await
        .expect("open account")
        .into_inner();
    let mut categories = Vec::new();
    for name in ["Food", "Transport", "Salary"] {
        let created = ledger
            .create_category(CreateCategoryRequest { command_id: command_id(), name: name.into(), parent_id: None })
            .await
            .expect("create category")
            .into_inner();
        categories.push(created.category_id);
    }
    let groceries = ledger
        .create_category(CreateCategoryRequest {
            command_id: command_id(),
            name: "Groceries".into(),
            parent_id: Some(categories[0].clone()),
        })
        .await
        .expect("create a child category")
        .into_inner();

    // 100 movements, recorded concurrently; amounts and dates derived from the index.
    let mut tasks = Vec::new();
    for i in 0..100u32 {
        let mut ledger = ledger.clone();
        let account_id = account.account_id.clone();
        let category = (i % 4 != 3).then(|| categories[(i % 3) as usize].clone());
        tasks.push(tokio::spawn(async move {
            let direction = if i % 5 == 0 { Direction::Income } else { Direction::Expense };
            let amount = Decimal::new(i64::from(i) * 137 + 1, 2); // 0.01, 1.38, 2.75, … exact cents
            let occurred_on = format!("2025-{:02}-{:02}", 9 + i % 3, 1 + i % 28);
            let response = ledger
                .record_movement(RecordMovementRequest {
                    command_id: command_id(),
                    account_id,
                    direction: direction as i32,
                    amount: amount.to_string(),
                    occurred_on: occurred_on.clone(),
                    description: format!("movement {i}"),
                    counterparty: Some("Shop".into()),
                    category_id: category.clone(),
                })
                .await
                .expect("record movement")
                .into_inner();
            (
                Recorded { movement_id: response.movement_id, direction, amount, occurred_on, category },
                response.position,
            )
        }));
    }
    let mut recorded = Vec::new();
    let mut last_position = 0;
    for task in tasks {
        let (movement, position) = task.await.expect("task");
        last_position = last_position.max(position);
        recorded.push(movement);
    }
    assert_eq!(recorded.iter().map(|m| &m.movement_id).collect::<HashSet<_>>().len(), 100);

    // Recategorise the uncategorised ones into Groceries.
    for movement in recorded.iter_mut().filter(|m| m.category.is_none()) {
        let response = ledger
            .assign_category(AssignCategoryRequest {
                command_id: command_id(),
                movement_id: movement.movement_id.clone(),
                category_id: groceries.category_id.clone(),
                expected_version: None,
            })
            .await
            .expect("assign category")
            .into_inner();
        last_position = last_position.max(response.position);
        movement.category = Some(groceries.category_id.clone());
    }

    // Read your writes: the balance is exact to the cent as soon as min_position is reached.
    let expected_balance = recorded.iter().fold(dec("100.00"), |sum, m| match m.direction {
        Direction::Income => sum + m.amount,
        _ => sum - m.amount,
    });
    let balances = query
        .get_balances(GetBalancesRequest { min_position: Some(last_position), as_of: None })
        .await
        .expect("balances")
        .into_inner()
        .balances;
    assert_eq!(balances.len(), 1);
    assert_eq!(balances[0].account_id, account.account_id);
    assert_eq!(balances[0].currency, "EUR");
    assert_eq!(dec(&balances[0].balance), expected_balance);
    // Written with the currency's two decimals, as people read money.
    assert_eq!(balances[0].balance, format!("{expected_balance:.2}"));

    // Paging walks every movement once, newest first.
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = query
            .list_movements(ListMovementsRequest { page_size: 7, page_token: page_token.clone(), ..Default::default() })
            .await
            .expect("list movements")
            .into_inner();
        assert!(page.movements.len() <= 7);
        seen.extend(page.movements);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(seen.len(), 100);
    assert_eq!(seen.iter().map(|m| &m.movement_id).collect::<HashSet<_>>().len(), 100);
    assert!(seen.windows(2).all(|w| (&w[0].occurred_on, &w[0].movement_id) >= (&w[1].occurred_on, &w[1].movement_id)));
    for movement in &seen {
        let expected = recorded.iter().find(|r| r.movement_id == movement.movement_id).expect("a recorded movement");
        assert_eq!(dec(&movement.amount), expected.amount);
        assert_eq!(movement.currency, "EUR");
        assert_eq!(movement.occurred_on, expected.occurred_on);
        assert_eq!(Some(&movement.category_id), expected.category.as_ref());
    }

    // Filters.
    let incomes = query
        .list_movements(ListMovementsRequest {
            direction: Some(Direction::Income as i32),
            page_size: 500,
            ..Default::default()
        })
        .await
        .expect("list incomes")
        .into_inner()
        .movements;
    assert_eq!(incomes.len(), recorded.iter().filter(|m| m.direction == Direction::Income).count());
    let october = query
        .list_movements(ListMovementsRequest {
            from: Some("2025-10-01".into()),
            to: Some("2025-10-31".into()),
            category_id: Some(categories[1].clone()),
            page_size: 500,
            ..Default::default()
        })
        .await
        .expect("list filtered")
        .into_inner()
        .movements;
    let expected_october = recorded
        .iter()
        .filter(|m| m.occurred_on.starts_with("2025-10") && m.category.as_ref() == Some(&categories[1]))
        .count();
    assert_eq!(october.len(), expected_october);
    assert!(expected_october > 0);

    // Monthly summary per category and direction.
    let mut expected_summary: BTreeMap<(String, String, i32), (Decimal, u64)> = BTreeMap::new();
    for m in &recorded {
        let key = (m.category.clone().unwrap_or_default(), m.occurred_on[..7].to_owned(), m.direction as i32);
        let entry = expected_summary.entry(key).or_default();
        entry.0 += m.amount;
        entry.1 += 1;
    }
    let rows = query
        .get_category_summary(GetCategorySummaryRequest { from: None, to: None, min_position: None })
        .await
        .expect("summary")
        .into_inner()
        .rows;
    let actual: BTreeMap<_, _> = rows
        .iter()
        .map(|r| ((r.category_id.clone(), r.month.clone(), r.direction), (dec(&r.total), r.count)))
        .collect();
    assert_eq!(actual, expected_summary);
    let names: HashSet<_> = rows.iter().map(|r| r.category_name.as_str()).collect();
    assert!(names.contains("Food") && names.contains("Groceries"), "{names:?}");
    let november_only = query
        .get_category_summary(GetCategorySummaryRequest {
            from: Some("2025-11".into()),
            to: Some("2025-11".into()),
            min_position: None,
        })
        .await
        .expect("summary of one month")
        .into_inner()
        .rows;
    assert!(!november_only.is_empty() && november_only.iter().all(|r| r.month == "2025-11"));

    let listed = query.list_categories(ListCategoriesRequest::default()).await.expect("categories").into_inner();
    assert_eq!(listed.categories.len(), 4);
    assert!(listed.categories.iter().any(|c| c.parent_id == categories[0] && c.name == "Groceries"));

    // An idempotent retry returns the first answer and appends nothing.
    let retry = RecordMovementRequest {
        command_id: command_id(),
        account_id: account.account_id.clone(),
        direction: Direction::Expense as i32,
        amount: "5.00".into(),
        occurred_on: "2026-11-20".into(),
        description: "coffee beans".into(),
        counterparty: None,
        category_id: None,
    };
    let first = ledger.record_movement(retry.clone()).await.expect("first").into_inner();
    let second = ledger.record_movement(retry).await.expect("retry").into_inner();
    assert_eq!(first, second);
    let all = query
        .list_movements(ListMovementsRequest {
            page_size: 500,
            min_position: Some(second.position),
            ..Default::default()
        })
        .await
        .expect("list after retry")
        .into_inner()
        .movements;
    assert_eq!(all.iter().filter(|m| m.description == "coffee beans").count(), 1);

    // A stale expected_version is refused.
    let movement = query
        .get_movement(GetMovementRequest { movement_id: first.movement_id.clone(), min_position: Some(first.position) })
        .await
        .expect("get movement")
        .into_inner()
        .movement
        .expect("movement");
    let assigned = ledger
        .assign_category(AssignCategoryRequest {
            command_id: command_id(),
            movement_id: first.movement_id.clone(),
            category_id: categories[0].clone(),
            expected_version: Some(movement.version),
        })
        .await
        .expect("assign at the current version")
        .into_inner();
    let stale = ledger
        .assign_category(AssignCategoryRequest {
            command_id: command_id(),
            movement_id: first.movement_id.clone(),
            category_id: categories[1].clone(),
            expected_version: Some(movement.version),
        })
        .await
        .expect_err("a stale version must be refused");
    assert_eq!(stale.code(), Code::Aborted, "{stale:?}");

    // Voiding reverses the balance; a voided movement cannot change again.
    let voided = ledger
        .void_movement(VoidMovementRequest {
            command_id: command_id(),
            movement_id: first.movement_id.clone(),
            reason: "entered twice".into(),
        })
        .await
        .expect("void")
        .into_inner();
    assert!(voided.position > assigned.position);
    let balance = query
        .get_balances(GetBalancesRequest { min_position: Some(voided.position), as_of: None })
        .await
        .expect("balances");
    assert_eq!(dec(&balance.into_inner().balances[0].balance), expected_balance);
    let again = ledger
        .void_movement(VoidMovementRequest {
            command_id: command_id(),
            movement_id: first.movement_id.clone(),
            reason: "again".into(),
        })
        .await
        .expect_err("voiding twice");
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");
    let recategorise = ledger
        .assign_category(AssignCategoryRequest {
            command_id: command_id(),
            movement_id: first.movement_id.clone(),
            category_id: categories[2].clone(),
            expected_version: None,
        })
        .await
        .expect_err("recategorising a voided movement");
    assert_eq!(recategorise.code(), Code::FailedPrecondition);

    // Bad input: INVALID_ARGUMENT naming the field, and nothing stored.
    let head_before = head(&namespace).await;
    let good = RecordMovementRequest {
        command_id: command_id(),
        account_id: account.account_id.clone(),
        direction: Direction::Expense as i32,
        amount: "1.00".into(),
        occurred_on: "2026-11-01".into(),
        description: "ok".into(),
        counterparty: None,
        category_id: None,
    };
    let cases: Vec<(&str, RecordMovementRequest)> = vec![
        ("amount", RecordMovementRequest { amount: "-3".into(), ..good.clone() }),
        ("amount", RecordMovementRequest { amount: "1.23456".into(), ..good.clone() }),
        ("amount", RecordMovementRequest { amount: "1e3".into(), ..good.clone() }),
        ("amount", RecordMovementRequest { amount: "1".repeat(40), ..good.clone() }),
        ("occurred_on", RecordMovementRequest { occurred_on: "2026-02-30".into(), ..good.clone() }),
        ("occurred_on", RecordMovementRequest { occurred_on: "2999-01-01".into(), ..good.clone() }),
        ("description", RecordMovementRequest { description: "x".repeat(501), ..good.clone() }),
        ("description", RecordMovementRequest { description: "nul\0byte".into(), ..good.clone() }),
        ("direction", RecordMovementRequest { direction: 0, ..good.clone() }),
        ("account_id", RecordMovementRequest { account_id: "not-a-uuid".into(), ..good.clone() }),
        ("command_id", RecordMovementRequest { command_id: "".into(), ..good.clone() }),
    ];
    for (field, request) in cases {
        let status = ledger.record_movement(request).await.expect_err(field);
        assert_eq!(violated_field(&status), field, "{status:?}");
    }
    let status = ledger
        .open_account(OpenAccountRequest {
            command_id: command_id(),
            name: "Bad".into(),
            currency: "EURO".into(),
            opening_balance: None,
        })
        .await
        .expect_err("a currency that does not exist");
    assert_eq!(violated_field(&status), "currency");
    assert_eq!(head(&namespace).await, head_before, "a refused command must store nothing");

    // Another user sees nothing of Alice's and can change nothing.
    let bob = Uuid::now_v7();
    let mut bob_ledger = server.ledger(bob).await;
    let mut bob_query = server.query(bob).await;
    let mut bob_audit = server.audit(bob).await;
    let not_found = |status: tonic::Status| assert_eq!(status.code(), Code::NotFound, "{status:?}");
    not_found(
        bob_query
            .get_movement(GetMovementRequest { movement_id: recorded[0].movement_id.clone(), min_position: None })
            .await
            .expect_err("bob reads alice's movement"),
    );
    not_found(
        bob_ledger
            .record_movement(RecordMovementRequest { command_id: command_id(), ..good.clone() })
            .await
            .expect_err("bob writes to alice's account"),
    );
    not_found(
        bob_ledger
            .void_movement(VoidMovementRequest {
                command_id: command_id(),
                movement_id: recorded[0].movement_id.clone(),
                reason: "mine".into(),
            })
            .await
            .expect_err("bob voids alice's movement"),
    );
    not_found(
        bob_ledger
            .assign_category(AssignCategoryRequest {
                command_id: command_id(),
                movement_id: recorded[0].movement_id.clone(),
                category_id: categories[0].clone(),
                expected_version: None,
            })
            .await
            .expect_err("bob recategorises alice's movement"),
    );
    not_found(
        bob_audit
            .read_stream(ReadStreamRequest { stream_id: format!("movement-{}", recorded[0].movement_id) })
            .await
            .expect_err("bob reads alice's history"),
    );
    assert!(
        bob_query
            .get_balances(GetBalancesRequest::default())
            .await
            .expect("bob balances")
            .into_inner()
            .balances
            .is_empty()
    );
    assert!(
        bob_query
            .list_movements(ListMovementsRequest::default())
            .await
            .expect("bob movements")
            .into_inner()
            .movements
            .is_empty()
    );
    assert!(
        bob_query
            .list_categories(ListCategoriesRequest::default())
            .await
            .expect("bob categories")
            .into_inner()
            .categories
            .is_empty()
    );
    assert_eq!(head(&namespace).await, head_before, "bob's refused commands must store nothing");

    // The audit trail: every event with its metadata, and a hash chain that catches tampering.
    let mut audit = server.audit(alice).await;
    let stream_id = format!("movement-{}", first.movement_id);
    let mut stream =
        audit.read_stream(ReadStreamRequest { stream_id: stream_id.clone() }).await.expect("read stream").into_inner();
    let mut events = Vec::new();
    while let Some(event) = stream.message().await.expect("stream message") {
        events.push(event);
    }
    let types: Vec<_> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["MovementRecorded", "CategoryAssigned", "MovementVoided"]);
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.version, i as u64 + 1);
        assert_eq!(event.stream_id, stream_id);
        assert_eq!(event.user_id, alice.to_string());
        assert!(Uuid::parse_str(&event.event_id).is_ok() && Uuid::parse_str(&event.command_id).is_ok());
        assert_eq!(event.hash.len(), 64);
        assert!(event.recorded_at.is_some());
        assert!(serde_json::from_str::<serde_json::Value>(&event.payload_json).is_ok());
    }
    assert!(events.windows(2).all(|w| w[0].position < w[1].position));
    assert_eq!(events[2].position, voided.position);

    let verified =
        audit.verify_stream(VerifyStreamRequest { stream_id: stream_id.clone() }).await.expect("verify").into_inner();
    assert!(verified.ok);
    assert_eq!(verified.events_checked, 3);
    let pool = namespace.pool().await;
    sqlx::query("UPDATE events SET payload = jsonb_set(payload, '{reason}', '\"nothing to see\"') WHERE stream_id = $1 AND version = 3")
        .bind(&stream_id)
        .execute(&pool)
        .await
        .expect("tamper");
    let verified = audit.verify_stream(VerifyStreamRequest { stream_id }).await.expect("verify").into_inner();
    assert!(!verified.ok);
    assert_eq!(verified.first_bad_version, 3);
    let output = support::run_cli(CASHFLOW, &namespace, &["audit", "verify"]);
    assert!(!output.status.success(), "audit verify must fail on a tampered stream");

    // A rebuild from position 0 gives exactly the live read model.
    let live = support::dump_ledger(&pool).await;
    let output = support::run_cli(CASHFLOW, &namespace, &["projections", "rebuild", "ledger"]);
    assert!(output.status.success(), "rebuild failed: {}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(support::dump_ledger(&pool).await, live);

    // Graceful shutdown on SIGTERM.
    assert!(server.terminate().success());
}

async fn head(namespace: &Namespace) -> i64 {
    let pool = namespace.pool().await;
    sqlx::query_scalar("SELECT COALESCE(MAX(position), 0)::bigint FROM events").fetch_one(&pool).await.expect("head")
}
