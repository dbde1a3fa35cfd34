//! `apply_batch` against `apply`: whatever the batch size and however batches are split into
//! transactions, the tables end identical to applying one event at a time.

mod common;

use cashflow_domain::UserId;
use cashflow_domain::movement::Direction;
use cashflow_eventstore::RecordedEvent;
use cashflow_projection::Projection;
use cashflow_projection_ledger::LedgerProjection;
use chrono::Days;
use common::{TestDb, World, date, rich_history};
use serde_json::json;
use uuid::Uuid;

/// The rich history, then runs where one movement is recorded, recategorised, recategorised
/// again and voided back to back (so even small batches hold several events of one row),
/// accounts and categories created, renamed and closed back to back, forgeries under another
/// owner, and events this projection does not use.
fn history() -> Vec<RecordedEvent> {
    let (mut world, alice, _) = rich_history();
    // KWD has three decimal places, as the amounts below do.
    let account = world.open_account(alice, "Cards", "KWD", "12.3400");
    world.rename_account(alice, account, "Cards 2");
    let food = world.create_category(alice, "Snacks", None);
    world.rename_category(alice, food, "Treats");
    let other = world.create_category(alice, "Other", Some(food));
    // Rules added right after their category is created, so a batch holds both.
    world.add_rule(alice, other, "run", None, None, 0);
    world.add_rule(alice, food, "/^r/", Some(Direction::Income), Some(("2", "30")), 4);
    for i in 0..300u64 {
        let on = date("2026-06-01") + Days::new(i % 90);
        let direction = if i % 3 == 0 { Direction::Income } else { Direction::Expense };
        let amount = format!("{}.{:03}", i % 50 + 1, (i * 7) % 1000);
        let category = (i % 4 == 1).then_some(food);
        let id = world.record_with(alice, account, direction, &amount, on, "run", None, category);
        match i % 6 {
            0 => world.assign(alice, id, other),
            1 => {
                world.assign(alice, id, other);
                world.assign(alice, id, food);
                world.void(alice, id);
            }
            2 => world.void(alice, id),
            3 if category.is_none() => {
                world.assign(alice, id, food);
                world.assign(alice, id, other);
            }
            _ => {}
        }
    }
    let closed = world.open_account(alice, "Short-lived", "USD", "0");
    world.rename_account(alice, closed, "Shorter-lived");
    world.close_account(alice, closed);
    let mut events = world.events;
    // Forgeries under another owner, and events of other aggregates or unknown types, in the middle.
    let mallory = Uuid::now_v7();
    let victim = events.iter().find(|e| e.stream_id.starts_with("movement-")).unwrap().clone();
    let account_stream = events.iter().find(|e| e.event_type == "AccountOpened").unwrap().stream_id.clone();
    // A rule added to the owner's category under another owner's name: kept by neither.
    let rule = events.iter().find(|e| e.event_type == "CategorizationRuleAdded").unwrap().clone();
    let mut forged_rule = rule.payload.clone();
    forged_rule["rule_id"] = json!(Uuid::now_v7());
    let strangers = [
        (rule.stream_id.clone(), 90, "CategorizationRuleAdded", forged_rule),
        (victim.stream_id.clone(), 90, "MovementVoided", json!({"reason": "mine"})),
        (account_stream, 90, "AccountRenamed", json!({"name": "Mallory's"})),
        (format!("invoice-{}", Uuid::now_v7()), 1, "InvoiceUploaded", json!({"blob_key": "k"})),
        (format!("movement-{}", Uuid::now_v7()), 4, "MovementSplit", json!({})),
    ];
    let at = events.len() / 2;
    for (offset, (stream_id, version, event_type, payload)) in strangers.into_iter().enumerate() {
        let mut event = victim.clone();
        event.event_id = Uuid::now_v7();
        event.stream_id = stream_id;
        event.version = version;
        event.event_type = event_type.into();
        event.payload = payload;
        event.owner = mallory;
        events.insert(at + offset, event);
    }
    // Under the owner's own name, what the domain would refuse: a voided movement recategorised,
    // and voided again. `apply` moves the category (not the totals), and ignores the second void.
    let voided = events.iter().rev().find(|e| e.event_type == "MovementVoided").unwrap().clone();
    let category = events.iter().find(|e| e.event_type == "CategoryCreated").unwrap().stream_id.clone();
    let category = category.split_once('-').unwrap().1.to_owned();
    for (version, event_type, payload) in [
        (voided.version + 1, "CategoryAssigned", json!({"category_id": category, "assigned_by": "user"})),
        (voided.version + 2, "MovementVoided", json!({"reason": "again"})),
    ] {
        let mut event = voided.clone();
        event.event_id = Uuid::now_v7();
        event.version = version;
        event.event_type = event_type.into();
        event.payload = payload;
        events.push(event);
    }
    for (i, event) in events.iter_mut().enumerate() {
        event.position = i as u64 + 1;
    }
    events
}

/// Applies `events` with `apply_batch`, `size` at a time, in one transaction per batch or all
/// in one (as a rebuild does).
async fn apply_batches(db: &TestDb, events: &[RecordedEvent], size: usize, one_transaction: bool) {
    let mut tx = db.pool.begin().await.unwrap();
    for chunk in events.chunks(size) {
        LedgerProjection.apply_batch(&mut tx, chunk).await.unwrap();
        if !one_transaction {
            tx.commit().await.unwrap();
            tx = db.pool.begin().await.unwrap();
        }
    }
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn batches_of_any_size_give_the_tables_of_one_event_at_a_time() {
    let events = history();
    let reference = TestDb::new().await;
    reference.apply_in_batches(&events, 1).await;
    let expected = reference.dump().await;
    for (table, rows) in &expected {
        if table.starts_with("ledger_pending") || table == "ledger_fold_requests" {
            assert!(rows.is_empty(), "{table} keeps {rows:?} after the commit");
        } else {
            assert!(!rows.is_empty(), "{table} is empty: the comparison would prove nothing");
        }
    }
    let voided = expected[2].1.iter().filter(|row| row.contains("\"voided\":true")).count();
    assert!(voided > 50, "the history voids movements ({voided})");

    let db = TestDb::new().await;
    for size in [1, 7, 500, 5000] {
        for one_transaction in [false, true] {
            db.reset().await;
            apply_batches(&db, &events, size, one_transaction).await;
            assert_eq!(db.dump().await, expected, "batches of {size}, one transaction: {one_transaction}");
        }
    }
    reference.drop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_batch_applied_again_or_overlapping_what_was_applied_changes_nothing() {
    let events = history();
    let reference = TestDb::new().await;
    reference.apply_in_batches(&events, 1).await;
    let expected = reference.dump().await;

    let db = TestDb::new().await;
    apply_batches(&db, &events, 500, false).await;
    apply_batches(&db, &events, 5000, false).await;
    apply_batches(&db, &events, 7, true).await;
    assert_eq!(db.dump().await, expected, "the whole history applied three times");

    // Half applied, then a batch that starts well before where the first stopped: the events
    // already applied are refused by their versions, the rest apply.
    for cut in [1, events.len() / 3, events.len() / 2, events.len() - 1] {
        db.reset().await;
        apply_batches(&db, &events[..cut], 5000, false).await;
        apply_batches(&db, &events[cut.saturating_sub(250)..], 5000, false).await;
        assert_eq!(db.dump().await, expected, "overlap at {cut}");
    }

    // Mixed with `apply`: one event at a time over what batches applied, and the reverse.
    db.reset().await;
    apply_batches(&db, &events[..events.len() / 2], 97, false).await;
    db.apply(&events[events.len() / 4..]).await;
    apply_batches(&db, &events, 13, true).await;
    assert_eq!(db.dump().await, expected, "mixed with apply");
    reference.drop().await;
    db.drop().await;
}

#[tokio::test]
async fn a_batch_with_an_undecodable_event_writes_nothing() {
    let db = TestDb::new().await;
    let mut world = World::new();
    let owner = UserId::new();
    let account = world.open_account(owner, "Main", "EUR", "1");
    world.record(owner, account, Direction::Expense, "4", date("2026-10-01"));
    let mut events = world.events;
    let mut malformed = events[1].clone();
    malformed.stream_id = format!("movement-{}", Uuid::now_v7());
    malformed.payload = json!({"amount": "-3", "direction": "sideways"});
    malformed.position = 3;
    events.push(malformed);
    let before = db.dump().await;
    let mut tx = db.pool.begin().await.unwrap();
    let error = LedgerProjection.apply_batch(&mut tx, &events).await.unwrap_err();
    assert!(
        matches!(&error, cashflow_projection::ProjectionError::Decode { position: 3, .. }),
        "the malformed event is named: {error:?}"
    );
    drop(tx);
    assert_eq!(db.dump().await, before);
    db.drop().await;
}
