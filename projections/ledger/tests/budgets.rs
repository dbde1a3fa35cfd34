//! Budgets on real PostgreSQL: what applies in a month, what counts as spent (subcategories,
//! voids, recategorisations, other currencies), isolation, and batches equal to the oracle.

mod common;

use cashflow_domain::budget::BudgetPeriod;
use cashflow_domain::movement::Direction;
use cashflow_domain::{Month, UserId};
use cashflow_projection_ledger::{BudgetView, LedgerQueries};
use common::{TestDb, World, date, dec};

fn month(raw: &str) -> Month {
    Month::parse("month", raw).unwrap()
}

async fn budgets(db: &TestDb, owner: UserId, raw_month: &str) -> Vec<BudgetView> {
    LedgerQueries::new(db.pool.clone()).budgets(owner.as_uuid(), month(raw_month).first_day()).await.unwrap()
}

#[tokio::test]
async fn spending_counts_subcategories_and_follows_voids_and_recategorisations() {
    let mut world = World::new();
    let me = UserId::new();
    let account = world.open_account(me, "Main", "EUR", "0");
    let dollars = world.open_account(me, "Trip", "USD", "0");
    let food = world.create_category(me, "Food", None);
    let groceries = world.create_category(me, "Groceries", Some(food));
    let fun = world.create_category(me, "Fun", None);
    world.set_budget(me, food, BudgetPeriod::Month(month("2026-11")), "200");
    world.record_with(me, account, Direction::Expense, "50.25", date("2026-11-03"), "lunch", None, Some(food));
    world.record_with(me, account, Direction::Expense, "30", date("2026-11-10"), "shop", None, Some(groceries));
    world.record_with(me, account, Direction::Income, "500", date("2026-11-11"), "refund", None, Some(food));
    world.record_with(me, dollars, Direction::Expense, "99", date("2026-11-12"), "usd", None, Some(food));
    world.record_with(me, account, Direction::Expense, "70", date("2026-10-30"), "last month", None, Some(food));
    let voided = world.record_with(me, account, Direction::Expense, "40", date("2026-11-20"), "x", None, Some(food));
    world.void(me, voided);
    let moved = world.record_with(me, account, Direction::Expense, "19.75", date("2026-11-21"), "y", None, Some(fun));
    world.assign(me, moved, groceries);
    let db = TestDb::new().await;
    db.apply_batches(&world.events, 7).await;

    let november = budgets(&db, me, "2026-11").await;
    assert_eq!(november.len(), 1);
    let food_budget = &november[0];
    assert_eq!(food_budget.category_name, "Food");
    assert_eq!(food_budget.spent, dec("100.00"), "50.25 + 30 + 19.75: not the income, the dollars, the void, October");
    assert_eq!(food_budget.remaining(), dec("100.00"));
    assert_eq!(food_budget.percent_used(), dec("50.00"));
    assert!(budgets(&db, me, "2026-10").await.is_empty(), "a month's budget is that month's only");
    db.drop().await;
}

#[tokio::test]
async fn a_months_budget_wins_over_the_recurring_one_and_a_later_recurring_one_takes_over() {
    let mut world = World::new();
    let me = UserId::new();
    let account = world.open_account(me, "Main", "EUR", "0");
    let rent = world.create_category(me, "Rent", None);
    let from_january = world.set_budget(me, rent, BudgetPeriod::From(month("2026-01")), "900");
    let march = world.set_budget(me, rent, BudgetPeriod::Month(month("2026-03")), "1000");
    let from_june = world.set_budget(me, rent, BudgetPeriod::From(month("2026-06")), "950");
    world.set_budget(me, rent, BudgetPeriod::From(month("2026-06")), "975");
    world.record_with(me, account, Direction::Expense, "975", date("2026-07-01"), "rent", None, Some(rent));
    let db = TestDb::new().await;
    db.apply_batches(&world.events, 3).await;

    let applies = |views: Vec<BudgetView>| views.iter().map(|v| (v.budget_id, v.amount)).collect::<Vec<_>>();
    assert!(budgets(&db, me, "2025-12").await.is_empty());
    assert_eq!(applies(budgets(&db, me, "2026-02").await), [(from_january.as_uuid(), dec("900"))]);
    assert_eq!(applies(budgets(&db, me, "2026-03").await), [(march.as_uuid(), dec("1000"))]);
    assert_eq!(applies(budgets(&db, me, "2026-05").await), [(from_january.as_uuid(), dec("900"))]);
    let july = budgets(&db, me, "2026-07").await;
    assert_eq!(applies(july.clone()), [(from_june.as_uuid(), dec("975"))], "set again: changed, not added");
    assert_eq!(july[0].percent_used(), dec("100.00"));
    db.drop().await;
}

#[tokio::test]
async fn another_persons_budgets_and_spending_are_not_seen() {
    let mut world = World::new();
    let (me, someone) = (UserId::new(), UserId::new());
    let mine = world.open_account(me, "Main", "EUR", "0");
    let theirs = world.open_account(someone, "Main", "EUR", "0");
    let food = world.create_category(me, "Food", None);
    let their_food = world.create_category(someone, "Food", None);
    world.set_budget(me, food, BudgetPeriod::Month(month("2026-11")), "100");
    world.set_budget(someone, their_food, BudgetPeriod::Month(month("2026-11")), "100");
    world.record_with(me, mine, Direction::Expense, "10", date("2026-11-02"), "a", None, Some(food));
    world.record_with(someone, theirs, Direction::Expense, "90", date("2026-11-02"), "b", None, Some(their_food));
    let db = TestDb::new().await;
    db.apply_batches(&world.events, 100).await;

    let november = budgets(&db, me, "2026-11").await;
    assert_eq!(november.len(), 1);
    assert_eq!((november[0].category_id, november[0].spent), (food.as_uuid(), dec("10")));
    db.drop().await;
}

#[tokio::test]
async fn budget_events_in_batches_write_what_the_oracle_writes() {
    let mut world = World::new();
    let me = UserId::new();
    let food = world.create_category(me, "Food", None);
    for (i, amount) in ["100", "120", "120", "80"].into_iter().enumerate() {
        let period =
            if i % 2 == 0 { BudgetPeriod::From(month("2026-01")) } else { BudgetPeriod::Month(month("2026-02")) };
        world.set_budget(me, food, period, amount);
    }
    let batched = TestDb::new().await;
    batched.apply_batches(&world.events, 2).await;
    let oracle = TestDb::new().await;
    oracle.apply(&world.events).await;
    assert_eq!(batched.dump().await, oracle.dump().await);
    let before = batched.dump().await;
    batched.apply_batches(&world.events, 5).await;
    assert_eq!(batched.dump().await, before, "applied again, nothing changes");
    batched.drop().await;
    oracle.drop().await;
}
