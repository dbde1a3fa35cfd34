//! The owner-scoped reads against a real PostgreSQL: keyset pagination with filters, ordering,
//! and that another user's ids find nothing.

mod common;

use cashflow_domain::UserId;
use cashflow_domain::movement::Direction;
use cashflow_projection_ledger::{
    BalanceView, CategoryView, DEFAULT_PAGE_SIZE, LedgerQueries, MovementFilter, MovementView, PageCursor, QueryError,
};
use cashflow_testkit::unreachable_pool;
use common::{Expected, TestDb, World, date, dec, rich_history};
use uuid::Uuid;

/// Every page from the first, following `next` through its encoded token as a client would.
async fn walk(queries: &LedgerQueries, owner: UserId, filter: &MovementFilter, page_size: u32) -> Vec<MovementView> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let after = token.as_deref().map(|t| PageCursor::decode(t).expect("a token we issued decodes"));
        let page = queries.list_movements(owner.as_uuid(), filter, page_size, after.as_ref()).await.unwrap();
        assert!(page.movements.len() <= page_size as usize);
        match page.next {
            Some(next) => {
                assert_eq!(page.movements.len(), page_size as usize, "only a full page has a next one");
                let last = page.movements.last().unwrap();
                assert_eq!((next.occurred_on, next.movement_id), (last.occurred_on, last.movement_id));
                token = Some(next.encode());
                all.extend(page.movements);
                // A cursor that does not advance would loop forever; the histories here are far smaller.
                assert!(all.len() <= 10_000, "the walk does not end");
            }
            None => {
                all.extend(page.movements);
                return all;
            }
        }
    }
}

fn expected(world: &World, owner: UserId, filter: &MovementFilter) -> Vec<Expected> {
    let mut matching: Vec<Expected> = world
        .movements
        .iter()
        .filter(|m| m.owner == owner)
        .filter(|m| filter.account_id.is_none_or(|a| a == m.account_id))
        .filter(|m| filter.category_id.is_none_or(|c| Some(c) == m.category_id))
        .filter(|m| filter.direction.is_none_or(|d| d == m.direction))
        .filter(|m| filter.from.is_none_or(|d| m.occurred_on >= d))
        .filter(|m| filter.to.is_none_or(|d| m.occurred_on <= d))
        .cloned()
        .collect();
    matching.sort_by_key(|m| std::cmp::Reverse((m.occurred_on, m.id)));
    matching
}

fn summary(
    m: &MovementView,
) -> (Uuid, Uuid, Direction, rust_decimal::Decimal, chrono::NaiveDate, Option<Uuid>, bool, u64) {
    (m.movement_id, m.account_id, m.direction, m.amount, m.occurred_on, m.category_id, m.voided, m.version)
}

fn expected_summary(
    m: &Expected,
) -> (Uuid, Uuid, Direction, rust_decimal::Decimal, chrono::NaiveDate, Option<Uuid>, bool, u64) {
    (m.id, m.account_id, m.direction, m.amount, m.occurred_on, m.category_id, m.voided, m.version)
}

#[tokio::test]
async fn pagination_walks_every_matching_movement_once_newest_first() {
    let db = TestDb::new().await;
    let (world, alice, _) = rich_history();
    db.apply(&world.events).await;
    let queries = LedgerQueries::new(db.pool.clone());

    let account = world.movements.iter().find(|m| m.owner == alice).unwrap().account_id;
    let category = world.movements.iter().filter_map(|m| m.category_id).next().unwrap();
    let filters = [
        MovementFilter::default(),
        MovementFilter { account_id: Some(account), ..Default::default() },
        MovementFilter { category_id: Some(category), ..Default::default() },
        MovementFilter { direction: Some(Direction::Income), ..Default::default() },
        MovementFilter { from: Some(date("2026-08-22")), to: Some(date("2026-09-26")), ..Default::default() },
        MovementFilter {
            account_id: Some(account),
            category_id: Some(category),
            direction: Some(Direction::Expense),
            from: Some(date("2026-08-08")),
            to: None,
        },
        MovementFilter { to: Some(date("2026-07-31")), ..Default::default() },
    ];
    for filter in &filters {
        let want: Vec<_> = expected(&world, alice, filter).iter().map(expected_summary).collect();
        for page_size in [1, 7, 50] {
            let got: Vec<_> = walk(&queries, alice, filter, page_size).await.iter().map(summary).collect();
            assert_eq!(got, want, "{filter:?}, page size {page_size}");
        }
        // A page exactly as large as the result has no next page, and one smaller has one more.
        if !want.is_empty() {
            let size = want.len() as u32;
            let whole = queries.list_movements(alice.as_uuid(), filter, size, None).await.unwrap();
            assert_eq!((whole.movements.len(), whole.next), (want.len(), None), "{filter:?}");
            if size > 1 {
                let first = queries.list_movements(alice.as_uuid(), filter, size - 1, None).await.unwrap();
                let rest = queries.list_movements(alice.as_uuid(), filter, size - 1, first.next.as_ref()).await;
                assert_eq!(rest.unwrap().movements.len(), 1, "{filter:?}");
            }
        }
    }
    // The filters are not all trivially empty or everything.
    let everything = expected(&world, alice, &MovementFilter::default()).len();
    assert!(everything > 100);
    for filter in &filters[1..6] {
        let n = expected(&world, alice, filter).len();
        assert!(n > 0 && n < everything, "{filter:?} matches {n}");
    }
    db.drop().await;
}

#[tokio::test]
async fn a_page_size_of_zero_means_the_default() {
    let db = TestDb::new().await;
    let (world, alice, _) = rich_history();
    db.apply(&world.events).await;
    let queries = LedgerQueries::new(db.pool.clone());
    let page = queries.list_movements(alice.as_uuid(), &MovementFilter::default(), 0, None).await.unwrap();
    assert_eq!(page.movements.len(), DEFAULT_PAGE_SIZE as usize);
    assert!(page.next.is_some());
    db.drop().await;
}

#[tokio::test]
async fn a_movement_shows_every_field_and_its_latest_version() {
    let db = TestDb::new().await;
    let mut world = World::new();
    let owner = UserId::new();
    let account = world.open_account(owner, "Main", "EUR", "0");
    let food = world.create_category(owner, "Food", None);
    let travel = world.create_category(owner, "Travel", None);
    let on = date("2026-11-20");
    let id = world.record_with(owner, account, Direction::Expense, "12.30", on, "Lunch", Some("Café"), Some(food));
    world.assign(owner, id, travel);
    db.apply(&world.events).await;

    let got = LedgerQueries::new(db.pool.clone()).get_movement(owner.as_uuid(), id.as_uuid()).await.unwrap();
    let want = MovementView {
        movement_id: id.as_uuid(),
        account_id: account.as_uuid(),
        direction: Direction::Expense,
        amount: dec("12.30"),
        currency: "EUR".into(),
        occurred_on: on,
        description: "Lunch".into(),
        counterparty: Some("Café".into()),
        category_id: Some(travel.as_uuid()),
        voided: false,
        version: 3,
    };
    assert_eq!(got, Some(want));
    db.drop().await;
}

#[tokio::test]
async fn balances_and_categories_are_ordered_by_name() {
    let db = TestDb::new().await;
    let mut world = World::new();
    let owner = UserId::new();
    let zebra = world.open_account(owner, "Zebra", "EUR", "1");
    let apple = world.open_account(owner, "Apple", "USD", "2");
    world.rename_account(owner, zebra, "Mango");
    let closed = world.open_account(owner, "Berry", "EUR", "0");
    world.close_account(owner, closed);
    let travel = world.create_category(owner, "Travel", None);
    let food = world.create_category(owner, "Food", None);
    let groceries = world.create_category(owner, "Groceries", Some(food));
    world.rename_category(owner, travel, "Trips");
    db.apply(&world.events).await;
    let queries = LedgerQueries::new(db.pool.clone());

    let balance = |id: cashflow_domain::AccountId, name: &str, currency: &str, amount: &str| BalanceView {
        account_id: id.as_uuid(),
        name: name.into(),
        currency: currency.into(),
        balance: dec(amount),
    };
    assert_eq!(
        queries.balances(owner.as_uuid()).await.unwrap(),
        vec![
            balance(apple, "Apple", "USD", "2"),
            balance(closed, "Berry", "EUR", "0"),
            balance(zebra, "Mango", "EUR", "1")
        ]
    );
    let category = |id: cashflow_domain::CategoryId, name: &str, parent: Option<cashflow_domain::CategoryId>| {
        CategoryView { category_id: id.as_uuid(), name: name.into(), parent_id: parent.map(|p| p.as_uuid()) }
    };
    assert_eq!(
        queries.list_categories(owner.as_uuid()).await.unwrap(),
        vec![
            category(food, "Food", None),
            category(groceries, "Groceries", Some(food)),
            category(travel, "Trips", None)
        ]
    );
    db.drop().await;
}

#[tokio::test]
async fn another_owner_sees_nothing_of_a_users_data() {
    let db = TestDb::new().await;
    let (world, alice, bob) = rich_history();
    db.apply(&world.events).await;
    let queries = LedgerQueries::new(db.pool.clone());
    let alices = world.movements.iter().find(|m| m.owner == alice).unwrap();

    // Bob has data of his own, and none of Alice's shows in it.
    let bobs_ids: Vec<Uuid> =
        walk(&queries, bob, &MovementFilter::default(), 10).await.iter().map(|m| m.movement_id).collect();
    let want: Vec<Uuid> = expected(&world, bob, &MovementFilter::default()).iter().map(|m| m.id).collect();
    assert_eq!(bobs_ids, want);
    assert_eq!(queries.balances(bob.as_uuid()).await.unwrap().len(), 1);
    assert_eq!(queries.list_categories(bob.as_uuid()).await.unwrap().len(), 1);
    let bobs_summary = queries.category_summary(bob.as_uuid(), None, None).await.unwrap();
    assert_eq!(bobs_summary.len(), 1, "his voided expense left no row: {bobs_summary:?}");

    // Alice's ids under Bob, and anything under a stranger, find nothing.
    assert_eq!(queries.get_movement(bob.as_uuid(), alices.id).await.unwrap(), None);
    let by_alices_account = MovementFilter { account_id: Some(alices.account_id), ..Default::default() };
    let page = queries.list_movements(bob.as_uuid(), &by_alices_account, 50, None).await.unwrap();
    assert_eq!((page.movements.len(), page.next), (0, None));
    let stranger = UserId::new();
    assert_eq!(walk(&queries, stranger, &MovementFilter::default(), 50).await, vec![]);
    assert_eq!(queries.get_movement(stranger.as_uuid(), alices.id).await.unwrap(), None);
    assert_eq!(queries.balances(stranger.as_uuid()).await.unwrap(), vec![]);
    assert_eq!(queries.category_summary(stranger.as_uuid(), None, None).await.unwrap(), vec![]);
    assert_eq!(queries.list_categories(stranger.as_uuid()).await.unwrap(), vec![]);
    // …while Alice does see it.
    assert!(queries.get_movement(alice.as_uuid(), alices.id).await.unwrap().is_some());
    db.drop().await;
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable() {
    let queries = LedgerQueries::new(unreachable_pool());
    let result = queries.balances(Uuid::now_v7()).await;
    assert!(matches!(result, Err(QueryError::Unavailable(_))), "{result:?}");
    let result = queries.list_movements(Uuid::now_v7(), &MovementFilter::default(), 10, None).await;
    assert!(matches!(result, Err(QueryError::Unavailable(_))), "{result:?}");
}
