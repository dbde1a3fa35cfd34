//! Categorisation rules in the ledger: what `rules` lists, that both apply paths keep the same
//! rules and only the owner's, and the movements `rule_candidates` hands to `ApplyRules`.

mod common;

use cashflow_domain::UserId;
use cashflow_domain::movement::Direction;
use cashflow_domain::rule::{CompiledRule, Rule};
use cashflow_eventstore::RecordedEvent;
use cashflow_projection::{Projection, ProjectionError};
use cashflow_projection_ledger::{LedgerProjection, LedgerQueries, RuleCandidate};
use chrono::NaiveDate;
use common::{TestDb, World, date, dec, rich_history};
use serde_json::json;
use uuid::Uuid;

async fn apply_batch(db: &TestDb, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
    let mut tx = db.pool.begin().await?;
    LedgerProjection.apply_batch(&mut tx, events).await?;
    tx.commit().await?;
    Ok(())
}

/// `rules` is expected in the order rules are tried: priority down, then rule id up.
fn in_trial_order(mut rules: Vec<Rule>) -> Vec<Rule> {
    rules.sort_by_key(|rule| (std::cmp::Reverse(rule.priority), rule.rule_id));
    rules
}

#[tokio::test]
async fn a_rule_added_is_listed_whole_in_the_order_rules_are_tried() {
    let db = TestDb::new().await;
    let queries = LedgerQueries::new(db.pool.clone());
    let mut world = World::new();
    let owner = UserId::new();
    let groceries = world.create_category(owner, "Groceries", None);
    let transport = world.create_category(owner, "Transport", None);
    let low = world.add_rule(owner, groceries, "mercadona", None, None, 0);
    let tied = world.add_rule(owner, transport, "/^uber\\s+eats/", Some(Direction::Expense), Some(("1", "9.99")), 5);
    let high = world.add_rule(owner, groceries, "lidl", Some(Direction::Expense), None, 10);
    let tied_later = world.add_rule(owner, groceries, "aldi", None, Some(("0.01", "1000")), 5);
    db.apply(&world.events).await;

    let rules = queries.rules(owner.as_uuid()).await.unwrap();
    assert_eq!(rules, vec![high, tied, tied_later, low]);
    // What the categoriser does with them: compile and match.
    let compiled: Vec<_> = rules.into_iter().map(|rule| CompiledRule::new(rule).unwrap()).collect();
    let facts = cashflow_domain::rule::MovementFacts {
        description: "Uber  Eats 12",
        counterparty: None,
        amount: dec("9.99"),
        direction: Direction::Expense,
    };
    let best = cashflow_domain::rule::best_match(&compiled, &facts).unwrap();
    assert_eq!(best.rule.category_id, transport);
    db.drop().await;
}

#[tokio::test]
async fn another_owner_sees_none_of_a_users_rules() {
    let db = TestDb::new().await;
    let queries = LedgerQueries::new(db.pool.clone());
    let (world, alice, bob) = rich_history();
    db.apply(&world.events).await;
    let alices = queries.rules(alice.as_uuid()).await.unwrap();
    let bobs = queries.rules(bob.as_uuid()).await.unwrap();
    assert_eq!(alices.len(), 3);
    assert_eq!(bobs.len(), 1);
    assert!(alices.iter().all(|rule| !bobs.contains(rule)));
    assert_eq!(queries.rules(Uuid::now_v7()).await.unwrap(), vec![]);
    db.drop().await;
}

#[tokio::test]
async fn a_rule_under_another_owners_name_is_kept_by_neither() {
    let mut world = World::new();
    let alice = UserId::new();
    let food = world.create_category(alice, "Food", None);
    let real = world.add_rule(alice, food, "bakery", None, None, 0);
    let mut events = world.events;
    let mallory = Uuid::now_v7();
    let mut forged = events.last().unwrap().clone();
    forged.event_id = Uuid::now_v7();
    forged.owner = mallory;
    forged.version += 1;
    forged.position += 1;
    forged.payload["rule_id"] = json!(Uuid::now_v7());
    // Mallory's rule on a category no one created.
    let mut orphan = forged.clone();
    orphan.stream_id = format!("category-{}", Uuid::now_v7());
    orphan.payload["category_id"] = json!(orphan.stream_id.split_once('-').unwrap().1);
    orphan.position += 1;
    events.extend([forged, orphan]);

    let one_by_one = TestDb::new().await;
    one_by_one.apply(&events).await;
    let batched = TestDb::new().await;
    apply_batch(&batched, &events).await.unwrap();
    for db in [&one_by_one, &batched] {
        let queries = LedgerQueries::new(db.pool.clone());
        assert_eq!(queries.rules(alice.as_uuid()).await.unwrap(), vec![real.clone()]);
        assert_eq!(queries.rules(mallory).await.unwrap(), vec![]);
    }
    assert_eq!(one_by_one.dump().await, batched.dump().await);
    one_by_one.drop().await;
    batched.drop().await;
}

#[tokio::test]
async fn both_apply_paths_keep_the_same_rules_and_reset_empties_them() {
    let (mut world, alice, _) = rich_history();
    // A category created and given rules within one batch, and a rule applied twice.
    let fresh = world.create_category(alice, "Fresh", None);
    world.add_rule(alice, fresh, "fresh", None, None, 7);
    world.add_rule(alice, fresh, "/^f/", Some(Direction::Income), None, 7);
    let events = world.events;
    let last = events.last().unwrap().clone();

    let one_by_one = TestDb::new().await;
    one_by_one.apply(&events).await;
    one_by_one.apply(std::slice::from_ref(&last)).await;
    let expected = one_by_one.dump().await;
    let rules = &expected.iter().find(|(table, _)| table == "ledger_categorization_rules").unwrap().1;
    assert_eq!(rules.len(), 6, "{rules:?}");

    let batched = TestDb::new().await;
    for chunk in events.chunks(5) {
        apply_batch(&batched, chunk).await.unwrap();
    }
    apply_batch(&batched, &events).await.unwrap();
    assert_eq!(batched.dump().await, expected);

    batched.reset().await;
    let queries = LedgerQueries::new(batched.pool.clone());
    assert_eq!(queries.rules(alice.as_uuid()).await.unwrap(), vec![]);
    assert!(batched.dump().await.iter().all(|(_, rows)| rows.is_empty()));
    apply_batch(&batched, &events).await.unwrap();
    assert_eq!(batched.dump().await, expected, "rebuilt after the reset");
    let listed = queries.rules(alice.as_uuid()).await.unwrap();
    assert_eq!(listed.len(), 5);
    assert_eq!(listed, in_trial_order(listed.clone()));
    one_by_one.drop().await;
    batched.drop().await;
}

#[tokio::test]
async fn a_rule_for_another_category_than_its_stream_is_a_decode_error_on_both_paths() {
    let mut world = World::new();
    let owner = UserId::new();
    let food = world.create_category(owner, "Food", None);
    let other = world.create_category(owner, "Other", None);
    world.add_rule(owner, food, "bakery", None, None, 0);
    let mut events = world.events;
    let position = events.len() as u64;
    events.last_mut().unwrap().payload["category_id"] = json!(other.as_uuid());

    let db = TestDb::new().await;
    let before = db.dump().await;
    let error = db.try_apply(&events).await.unwrap_err();
    assert!(matches!(&error, ProjectionError::Decode { position: p, .. } if *p == position), "{error:?}");
    let error = apply_batch(&db, &events).await.unwrap_err();
    assert!(matches!(&error, ProjectionError::Decode { position: p, .. } if *p == position), "{error:?}");
    assert_eq!(db.dump().await, before);
    db.drop().await;
}

/// Every candidate, `limit` at a time, checking that pages follow each other newest first.
async fn walk(
    queries: &LedgerQueries,
    owner: UserId,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    limit: u32,
) -> Vec<RuleCandidate> {
    let mut all: Vec<RuleCandidate> = Vec::new();
    let mut after = None;
    loop {
        let page = queries.rule_candidates(owner.as_uuid(), from, to, after, limit).await.unwrap();
        assert!(page.len() <= limit as usize);
        if let (Some(last), Some(first)) = (all.last(), page.first()) {
            assert!(last.position() > first.position(), "pages overlap or go back");
        }
        let done = page.len() < limit as usize;
        after = page.last().map(RuleCandidate::position);
        all.extend(page);
        if done {
            return all;
        }
    }
}

#[tokio::test]
async fn candidates_are_the_movements_not_voided_within_the_dates_newest_first() {
    let db = TestDb::new().await;
    let queries = LedgerQueries::new(db.pool.clone());
    let (world, alice, bob) = rich_history();
    db.apply(&world.events).await;

    let expected = |owner: UserId, from: Option<NaiveDate>, to: Option<NaiveDate>| {
        let mut ids: Vec<(NaiveDate, Uuid)> = world
            .movements
            .iter()
            .filter(|m| m.owner == owner && !m.voided)
            .filter(|m| from.is_none_or(|from| m.occurred_on >= from) && to.is_none_or(|to| m.occurred_on <= to))
            .map(|m| (m.occurred_on, m.id))
            .collect();
        ids.sort();
        ids.reverse();
        ids.into_iter().map(|(_, id)| id).collect::<Vec<Uuid>>()
    };
    let bounds = [
        (None, None),
        (Some(date("2026-09-05")), None),
        (None, Some(date("2026-09-05"))),
        (Some(date("2026-08-15")), Some(date("2026-08-15"))),
        (Some(date("2026-08-08")), Some(date("2026-09-26"))),
        (Some(date("2027-01-01")), None),
    ];
    for (from, to) in bounds {
        let want = expected(alice, from, to);
        for limit in [1, 7, 500] {
            let got = walk(&queries, alice, from, to, limit).await;
            assert_eq!(got.iter().map(|c| c.movement_id).collect::<Vec<_>>(), want, "{from:?}..{to:?} by {limit}");
        }
    }
    let voided = world.movements.iter().filter(|m| m.owner == alice && m.voided).count();
    assert!(voided > 5, "the history voids movements ({voided})");

    // Every field, as the movement has it now.
    let all = walk(&queries, alice, None, None, 500).await;
    for candidate in &all {
        let movement = queries.get_movement(alice.as_uuid(), candidate.movement_id).await.unwrap().unwrap();
        assert_eq!(candidate.description, movement.description);
        assert_eq!(candidate.counterparty, movement.counterparty);
        assert_eq!(candidate.amount, movement.amount);
        assert_eq!(candidate.direction, movement.direction);
        assert_eq!(candidate.category_id, movement.category_id);
        assert_eq!(candidate.facts().description, movement.description);
    }
    assert!(all.iter().any(|c| c.counterparty.is_some()) && all.iter().any(|c| c.category_id.is_none()));

    // Bob's only movement left is his income; a stranger has none. Limit 0 is the default page.
    let bobs = walk(&queries, bob, None, None, 3).await;
    assert_eq!(bobs.iter().map(|c| c.movement_id).collect::<Vec<_>>(), expected(bob, None, None));
    assert_eq!(bobs.len(), 1);
    assert_eq!(queries.rule_candidates(Uuid::now_v7(), None, None, None, 10).await.unwrap(), vec![]);
    let default = queries.rule_candidates(alice.as_uuid(), None, None, None, 0).await.unwrap();
    assert_eq!(default.len(), cashflow_projection_ledger::DEFAULT_PAGE_SIZE as usize);
    db.drop().await;
}
