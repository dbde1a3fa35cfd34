//! The projection against a real PostgreSQL: balances, totals, voids, recategorisation,
//! owner scoping of writes, and that a rebuild from position 0 gives identical tables.

mod common;

use cashflow_domain::UserId;
use cashflow_domain::movement::Direction;
use cashflow_projection::{Projection, ProjectionError};
use cashflow_projection_ledger::{CategorySummaryRow, LedgerProjection, LedgerQueries, MovementFilter, NAME};
use cashflow_testkit::recorded_event as forged;
use common::{TestDb, World, date, dec, rich_history};
use serde_json::json;
use uuid::Uuid;

fn balance_of(balances: &[cashflow_projection_ledger::BalanceView], account: Uuid) -> rust_decimal::Decimal {
    balances.iter().find(|b| b.account_id == account).unwrap().balance
}

#[test]
fn the_projection_is_called_ledger() {
    assert_eq!(LedgerProjection.name(), "ledger");
    assert_eq!(NAME, "ledger");
}

#[tokio::test]
async fn balances_are_exact_to_the_cent() {
    let db = TestDb::new().await;
    let mut world = World::new();
    let owner = UserId::new();
    let main = world.open_account(owner, "Main", "EUR", "100.00");
    world.record(owner, main, Direction::Income, "1234.56", date("2026-10-01"));
    for _ in 0..3 {
        world.record(owner, main, Direction::Expense, "0.01", date("2026-10-02"));
    }
    // Ten dimes are one unit exactly, which a float would miss.
    let dimes = world.open_account(owner, "Dimes", "EUR", "0");
    for _ in 0..10 {
        world.record(owner, dimes, Direction::Income, "0.1", date("2026-10-03"));
    }
    let overdrawn = world.open_account(owner, "Overdrawn", "EUR", "-5.5");
    world.record_finer_than_currency(owner, overdrawn, Direction::Expense, "0.0001", date("2026-10-04"));
    db.apply(&world.events).await;

    let balances = LedgerQueries::new(db.pool.clone()).balances(owner.as_uuid()).await.unwrap();
    assert_eq!(balance_of(&balances, main.as_uuid()), dec("1334.53"));
    assert_eq!(balance_of(&balances, main.as_uuid()).to_string(), "1334.53");
    assert_eq!(balance_of(&balances, dimes.as_uuid()), dec("1"));
    assert_eq!(balance_of(&balances, overdrawn.as_uuid()), dec("-5.5001"));
    db.drop().await;
}

#[tokio::test]
async fn voiding_a_movement_reverses_its_balance_and_its_total() {
    let db = TestDb::new().await;
    let queries = LedgerQueries::new(db.pool.clone());
    let mut world = World::new();
    let owner = UserId::new();
    let account = world.open_account(owner, "Main", "EUR", "50");
    let food = world.create_category(owner, "Food", None);
    let lunch =
        world.record_with(owner, account, Direction::Expense, "20.40", date("2026-10-05"), "lunch", None, Some(food));
    let pay = world.record(owner, account, Direction::Income, "5", date("2026-10-06"));
    db.apply(&world.events).await;
    let balances = queries.balances(owner.as_uuid()).await.unwrap();
    assert_eq!(balance_of(&balances, account.as_uuid()), dec("34.60"));

    let applied = world.events.len();
    world.void(owner, lunch);
    world.void(owner, pay);
    db.apply(&world.events[applied..]).await;

    let balances = queries.balances(owner.as_uuid()).await.unwrap();
    assert_eq!(balance_of(&balances, account.as_uuid()), dec("50"));
    assert_eq!(queries.category_summary(owner.as_uuid(), None, None).await.unwrap(), vec![]);
    let listed = queries.list_movements(owner.as_uuid(), &MovementFilter::default(), 10, None).await.unwrap();
    assert_eq!(listed.movements.len(), 2, "voided movements are still listed");
    assert!(listed.movements.iter().all(|m| m.voided));
    let lunch = queries.get_movement(owner.as_uuid(), lunch.as_uuid()).await.unwrap().unwrap();
    assert_eq!((lunch.version, lunch.category_id), (3, Some(food.as_uuid())));
    db.drop().await;
}

#[tokio::test]
async fn recategorising_moves_the_amount_between_monthly_totals() {
    let db = TestDb::new().await;
    let queries = LedgerQueries::new(db.pool.clone());
    let mut world = World::new();
    let owner = UserId::new();
    let account = world.open_account(owner, "Main", "EUR", "0");
    let food = world.create_category(owner, "Food", None);
    let travel = world.create_category(owner, "Travel", None);
    let on = date("2026-10-07");
    let first = world.record_with(owner, account, Direction::Expense, "10.25", on, "a", None, Some(food));
    world.record_with(owner, account, Direction::Expense, "4.75", on, "b", None, Some(food));
    let loose = world.record(owner, account, Direction::Expense, "1.50", on);
    db.apply(&world.events).await;

    let row = |category: Option<Uuid>, name: Option<&str>, total: &str, count: u64| CategorySummaryRow {
        category_id: category,
        category_name: name.map(str::to_owned),
        month: date("2026-10-01"),
        direction: Direction::Expense,
        total: dec(total),
        count,
        currency: "EUR".into(),
    };
    let (food_id, travel_id) = (Some(food.as_uuid()), Some(travel.as_uuid()));
    assert_eq!(
        queries.category_summary(owner.as_uuid(), None, None).await.unwrap(),
        vec![row(food_id, Some("Food"), "15.00", 2), row(None, None, "1.50", 1)]
    );

    let applied = world.events.len();
    world.assign(owner, first, travel);
    world.assign(owner, loose, food);
    db.apply(&world.events[applied..]).await;
    assert_eq!(
        queries.category_summary(owner.as_uuid(), None, None).await.unwrap(),
        vec![row(food_id, Some("Food"), "6.25", 2), row(travel_id, Some("Travel"), "10.25", 1)]
    );

    // Voiding after a recategorisation takes the amount out of the category it is in now.
    let applied = world.events.len();
    world.void(owner, first);
    db.apply(&world.events[applied..]).await;
    assert_eq!(
        queries.category_summary(owner.as_uuid(), None, None).await.unwrap(),
        vec![row(food_id, Some("Food"), "6.25", 2)]
    );
    db.drop().await;
}

#[tokio::test]
async fn the_summary_is_per_month_direction_and_currency_within_its_bounds() {
    let db = TestDb::new().await;
    let queries = LedgerQueries::new(db.pool.clone());
    let mut world = World::new();
    let owner = UserId::new();
    let euros = world.open_account(owner, "Euros", "EUR", "0");
    let dollars = world.open_account(owner, "Dollars", "USD", "0");
    let food = world.create_category(owner, "Food", None);
    let salary = world.create_category(owner, "Salary", None);
    let mut record = |account, direction, amount: &str, on: &str, category| {
        world.record_with(owner, account, direction, amount, date(on), "x", None, category);
    };
    record(euros, Direction::Expense, "3.10", "2026-01-31", Some(food));
    record(euros, Direction::Expense, "6.90", "2026-01-01", Some(food));
    record(dollars, Direction::Expense, "2", "2026-01-15", Some(food));
    record(euros, Direction::Income, "2500", "2026-01-28", Some(salary));
    record(euros, Direction::Income, "0.50", "2026-01-20", Some(food));
    record(euros, Direction::Expense, "7", "2026-02-01", None);
    record(euros, Direction::Expense, "8", "2026-02-28", Some(food));
    record(euros, Direction::Income, "2600", "2026-03-27", Some(salary));
    db.apply(&world.events).await;

    let row = |month: &str, category: Option<(Uuid, &str)>, direction, total: &str, count, currency: &str| {
        CategorySummaryRow {
            category_id: category.map(|c| c.0),
            category_name: category.map(|c| c.1.to_owned()),
            month: date(month),
            direction,
            total: dec(total),
            count,
            currency: currency.into(),
        }
    };
    let food = Some((food.as_uuid(), "Food"));
    let salary = Some((salary.as_uuid(), "Salary"));
    let january = vec![
        row("2026-01-01", food, Direction::Income, "0.50", 1, "EUR"),
        row("2026-01-01", food, Direction::Expense, "10.00", 2, "EUR"),
        row("2026-01-01", food, Direction::Expense, "2", 1, "USD"),
        row("2026-01-01", salary, Direction::Income, "2500", 1, "EUR"),
    ];
    let february = vec![
        row("2026-02-01", food, Direction::Expense, "8", 1, "EUR"),
        row("2026-02-01", None, Direction::Expense, "7", 1, "EUR"),
    ];
    let march = vec![row("2026-03-01", salary, Direction::Income, "2600", 1, "EUR")];

    let all = queries.category_summary(owner.as_uuid(), None, None).await.unwrap();
    assert_eq!(all, [january.clone(), february.clone(), march.clone()].concat());
    // Bounds are months, inclusive: any day of a month stands for it.
    let middle = queries.category_summary(owner.as_uuid(), Some(date("2026-02-14")), Some(date("2026-02-01"))).await;
    assert_eq!(middle.unwrap(), february);
    let from_february = queries.category_summary(owner.as_uuid(), Some(date("2026-02-01")), None).await.unwrap();
    assert_eq!(from_february, [february.clone(), march].concat());
    let to_february = queries.category_summary(owner.as_uuid(), None, Some(date("2026-02-28"))).await.unwrap();
    assert_eq!(to_february, [january, february].concat());
    db.drop().await;
}

#[tokio::test]
async fn events_of_other_aggregates_and_unknown_types_change_nothing() {
    let db = TestDb::new().await;
    let (world, _, _) = rich_history();
    db.apply(&world.events).await;
    let before = db.dump().await;
    let next = world.events.len() as u64 + 1;
    let owner = world.events[0].owner;
    let ignored = [
        forged(format!("invoice-{}", Uuid::now_v7()), 1, next, owner, "InvoiceUploaded", json!({"blob_key": "k"})),
        forged(format!("budget-{}", Uuid::now_v7()), 1, next + 1, owner, "AccountOpened", json!({})),
        forged(format!("category-{}", Uuid::now_v7()), 2, next + 2, owner, "CategoryArchived", json!({})),
        forged(format!("movement-{}", Uuid::now_v7()), 4, next + 3, owner, "MovementSplit", json!({})),
    ];
    db.apply(&ignored).await;
    assert_eq!(db.dump().await, before);
    db.drop().await;
}

#[tokio::test]
async fn a_malformed_payload_of_a_known_type_is_a_decode_error_and_writes_nothing() {
    let db = TestDb::new().await;
    let (world, _, _) = rich_history();
    db.apply(&world.events).await;
    let before = db.dump().await;
    let position = world.events.len() as u64 + 1;
    let malformed = forged(
        format!("movement-{}", Uuid::now_v7()),
        1,
        position,
        world.events[0].owner,
        "MovementRecorded",
        json!({"amount": "-3", "direction": "sideways"}),
    );
    let error = db.try_apply(std::slice::from_ref(&malformed)).await.unwrap_err();
    assert!(
        matches!(&error, ProjectionError::Decode { event_type, position: p, .. }
            if event_type == "MovementRecorded" && *p == position),
        "{error:?}"
    );
    assert_eq!(db.dump().await, before);
    db.drop().await;
}

#[tokio::test]
async fn an_event_under_another_owner_cannot_change_a_users_rows() {
    let db = TestDb::new().await;
    let queries = LedgerQueries::new(db.pool.clone());
    let mut world = World::new();
    let alice = UserId::new();
    let account = world.open_account(alice, "Alice's", "EUR", "10");
    let movement = world.record(alice, account, Direction::Expense, "4", date("2026-10-01"));
    db.apply(&world.events).await;
    let before = db.dump().await;

    let mallory = Uuid::now_v7();
    let next = world.events.len() as u64 + 1;
    let forgeries = [
        forged(account.stream_id(), 2, next, mallory, "AccountRenamed", json!({"name": "Mallory's"})),
        forged(account.stream_id(), 3, next + 1, mallory, "AccountClosed", json!({})),
        forged(movement.stream_id(), 2, next + 2, mallory, "MovementVoided", json!({"reason": "mine"})),
        forged(
            movement.stream_id(),
            3,
            next + 3,
            mallory,
            "CategoryAssigned",
            json!({"category_id": Uuid::now_v7(), "assigned_by": "user"}),
        ),
    ];
    db.apply(&forgeries).await;
    assert_eq!(db.dump().await, before);
    assert_eq!(queries.balances(mallory).await.unwrap(), vec![]);
    db.drop().await;
}

#[tokio::test]
async fn applying_an_event_twice_changes_nothing() {
    let db = TestDb::new().await;
    let (world, _, _) = rich_history();
    db.apply(&world.events).await;
    let once = db.dump().await;
    db.apply(&world.events).await;
    assert_eq!(db.dump().await, once);
    db.drop().await;
}

#[tokio::test]
async fn a_rebuild_from_position_zero_gives_identical_tables() {
    let live = TestDb::new().await;
    let rebuilt = TestDb::new().await;
    let (world, _, _) = rich_history();

    live.apply_in_batches(&world.events, 7).await;
    let live_dump = live.dump().await;
    for (table, rows) in &live_dump {
        if table.starts_with("ledger_pending") || table == "ledger_fold_requests" {
            assert!(rows.is_empty(), "{table} keeps {rows:?} after the commit");
        } else {
            assert!(!rows.is_empty(), "{table} is empty: the comparison would prove nothing");
        }
    }

    rebuilt.apply(&world.events).await;
    assert_eq!(rebuilt.dump().await, live_dump, "a second database");

    live.reset().await;
    assert!(live.dump().await.iter().all(|(_, rows)| rows.is_empty()), "reset empties every table");
    live.apply(&world.events).await;
    assert_eq!(live.dump().await, live_dump, "after reset");

    // A reset inside a transaction that already applied events (and so has a fold queued).
    let mut tx = live.pool.begin().await.unwrap();
    for event in &world.events[..40] {
        LedgerProjection.apply(&mut tx, event).await.unwrap();
    }
    LedgerProjection.reset(&mut tx).await.unwrap();
    for event in &world.events {
        LedgerProjection.apply(&mut tx, event).await.unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(live.dump().await, live_dump, "after a reset in the applying transaction");

    live.drop().await;
    rebuilt.drop().await;
}

#[tokio::test]
async fn totals_do_not_depend_on_how_events_were_split_into_transactions() {
    // A bucket emptied and refilled: 1.005 leaves it, 2.5 comes in. Whether that happens in one
    // transaction or several, the stored total must read the same, down to its scale.
    let mut world = World::new();
    let owner = UserId::new();
    let account = world.open_account(owner, "Main", "EUR", "10.10");
    let odd = world.record_finer_than_currency(owner, account, Direction::Expense, "1.005", date("2026-10-01"));
    world.void(owner, odd);
    world.record(owner, account, Direction::Expense, "2.5", date("2026-10-02"));
    world.record(owner, account, Direction::Income, "0.90", date("2026-10-03"));

    let together = TestDb::new().await;
    together.apply(&world.events).await;
    let one_by_one = TestDb::new().await;
    one_by_one.apply_in_batches(&world.events, 1).await;
    assert_eq!(together.dump().await, one_by_one.dump().await);

    let balances = LedgerQueries::new(together.pool.clone()).balances(owner.as_uuid()).await.unwrap();
    assert_eq!(balances[0].balance, dec("8.5"));
    together.drop().await;
    one_by_one.drop().await;
}

#[tokio::test]
async fn a_total_that_would_count_fewer_than_no_movements_stops_the_commit() {
    let db = TestDb::new().await;
    let mut world = World::new();
    let owner = UserId::new();
    let account = world.open_account(owner, "Main", "EUR", "0");
    let movement = world.record(owner, account, Direction::Expense, "3", date("2026-10-01"));
    db.apply(&world.events).await;
    // The read model diverges behind the projection's back…
    sqlx::query("DELETE FROM ledger_category_totals").execute(&db.pool).await.unwrap();
    let before = db.dump().await;

    let applied = world.events.len();
    world.void(owner, movement);
    let error = db.try_apply(&world.events[applied..]).await.unwrap_err();
    // …and the void's commit refuses to write a negative count rather than carry on.
    let ProjectionError::Database(sqlx::Error::Database(error)) = error else { panic!("{error:?}") };
    assert_eq!(error.code().as_deref(), Some("22000"), "{error}");
    assert_eq!(db.dump().await, before, "nothing of the failed transaction is kept");
    db.drop().await;
}

#[tokio::test]
async fn migrations_are_tracked_apart_and_run_again_harmlessly() {
    let db = TestDb::new().await;
    cashflow_projection_ledger::migrate(&db.pool).await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations_ledger WHERE success")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(applied, 4);
    db.drop().await;
}
