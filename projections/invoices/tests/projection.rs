//! The invoices projection against a real PostgreSQL: each event's effect, corrections beside
//! the machine's reading, owner scoping of writes, and that a rebuild gives an identical table.

mod common;

use cashflow_domain::invoice::{Confidence, ContentKind, InvoiceStatus, Reading, ReviewReason};
use cashflow_domain::{AccountId, MovementId, UserId};
use cashflow_eventstore::EventStore;
use cashflow_projection::{Projection, ProjectionError};
use cashflow_projection_invoices::{InvoiceQueries, InvoiceView, InvoicesProjection};
use cashflow_testkit::recorded_event as forged;
use common::{TestDb, World, date, dec, full_reading, read, rich_history};
use serde_json::json;
use uuid::Uuid;

async fn get(db: &TestDb, owner: UserId, id: cashflow_domain::InvoiceId) -> InvoiceView {
    InvoiceQueries::new(db.pool.clone()).get(owner.as_uuid(), id.as_uuid()).await.unwrap().unwrap()
}

#[test]
fn the_projection_is_called_invoices() {
    assert_eq!(InvoicesProjection.name(), "invoices");
    assert_eq!(cashflow_projection_invoices::NAME, "invoices");
}

#[tokio::test]
async fn an_upload_is_listed_with_what_the_file_is_and_no_reading() {
    let db = TestDb::new().await;
    let mut world = World::new();
    let owner = UserId::new();
    let account = AccountId::new();
    let id = world.upload(owner, "C:\\Users\\me\\ticket.pdf", ContentKind::Pdf, 7, Some(account));
    db.apply(&world.events).await;

    let view = get(&db, owner, id).await;
    let upload = &world.events[0];
    assert_eq!(
        view,
        InvoiceView {
            invoice_id: id.as_uuid(),
            status: InvoiceStatus::Uploaded,
            filename: "ticket.pdf".into(),
            content_type: "application/pdf".into(),
            size_bytes: 1007,
            sha256: "07".repeat(32),
            blob_key: format!("invoices/{owner}/{id}"),
            account_id: Some(account.as_uuid()),
            scanned_merchant: None,
            scanned_issued_on: None,
            scanned_total: None,
            tax: None,
            currency: None,
            raw_text: None,
            corrected_merchant: None,
            corrected_issued_on: None,
            corrected_total: None,
            failure_reason: None,
            movement_id: None,
            uploaded_at: upload.recorded_at,
            version: 1,
            uploaded_position: upload.position,
        }
    );
    assert_eq!((view.merchant(), view.issued_on(), view.total()), (None, None, None));
    db.drop().await;
}

#[tokio::test]
async fn a_scan_fills_the_machines_reading_with_its_confidences() {
    let db = TestDb::new().await;
    let mut world = World::new();
    let owner = UserId::new();
    let id = world.upload(owner, "ticket.jpg", ContentKind::Jpeg, 1, None);
    world.scan(owner, id, full_reading("Mercadona", "2026-10-01", "23.450", "2.13", "0.87654"));
    db.apply(&world.events).await;

    let view = get(&db, owner, id).await;
    assert_eq!(view.status, InvoiceStatus::Uploaded, "read; the movement or the review is still to come");
    assert_eq!(view.content_type, "image/jpeg");
    assert_eq!(view.scanned_merchant, Some(read("Mercadona".to_owned(), "0.8765")));
    assert_eq!(view.scanned_issued_on, Some(read(date("2026-10-01"), "0.8765")));
    assert_eq!(view.scanned_total, Some(read(dec("23.450"), "0.8765")));
    assert_eq!(view.scanned_total.as_ref().unwrap().value.to_string(), "23.45", "exact, as the reading has it");
    assert_eq!(view.tax, Some(read(dec("2.13"), "0.8765")));
    assert_eq!(view.currency, Some(read("EUR".to_owned(), "0.99")));
    assert_eq!(view.raw_text.as_deref(), Some("Mercadona\n2026-10-01\nTOTAL 23.450\nIVA 2.13"));
    assert_eq!(view.version, 2);
    // Nothing corrected: the effective values are the machine's.
    assert_eq!(view.merchant(), view.scanned_merchant);
    assert_eq!(view.issued_on(), view.scanned_issued_on);
    assert_eq!(view.total(), view.scanned_total);
    db.drop().await;
}

#[tokio::test]
async fn a_scan_that_found_nothing_leaves_every_field_empty_but_the_text() {
    let db = TestDb::new().await;
    let mut world = World::new();
    let owner = UserId::new();
    let id = world.upload(owner, "ticket.png", ContentKind::Png, 1, None);
    world.scan(owner, id, Reading::default().with_raw_text("smudge"));
    db.apply(&world.events).await;
    let view = get(&db, owner, id).await;
    assert_eq!(view.status, InvoiceStatus::Uploaded, "read; the review is still to come");
    assert_eq!(
        (view.scanned_merchant, view.scanned_issued_on, view.scanned_total, view.tax, view.currency),
        (None, None, None, None, None)
    );
    assert_eq!(view.raw_text.as_deref(), Some("smudge"));
    db.drop().await;
}

#[tokio::test]
async fn a_failed_scan_keeps_its_reason_until_a_later_scan_succeeds() {
    let db = TestDb::new().await;
    let mut world = World::new();
    let owner = UserId::new();
    let id = world.upload(owner, "ticket.webp", ContentKind::Webp, 1, None);
    world.fail(owner, id, "timed\u{7} out");
    db.apply(&world.events).await;
    let view = get(&db, owner, id).await;
    assert_eq!(view.status, InvoiceStatus::Failed);
    assert_eq!(view.failure_reason.as_deref(), Some("timed out"));
    assert_eq!(view.raw_text, None);

    let applied = world.events.len();
    world.scan(owner, id, full_reading("Lidl", "2026-10-02", "7.5", "0.68", "0.5"));
    db.apply(&world.events[applied..]).await;
    let view = get(&db, owner, id).await;
    assert_eq!(view.status, InvoiceStatus::Uploaded, "read again; processing again");
    assert_eq!(view.failure_reason, None);
    assert_eq!(view.version, 3);
    db.drop().await;
}

/// Applies the world's events one at a time and returns the invoice's status after each, after
/// checking it is what the domain's fold says a client sees.
async fn statuses(db: &TestDb, world: &World, owner: UserId, id: cashflow_domain::InvoiceId) -> Vec<InvoiceStatus> {
    let mut seen = Vec::new();
    let mut state = cashflow_domain::invoice::Invoice::default();
    for event in &world.events {
        db.apply(std::slice::from_ref(event)).await;
        let decoded = <cashflow_domain::invoice::InvoiceEvent as cashflow_domain::DomainEvent>::decode(
            &event.event_type,
            event.schema_version,
            &event.payload,
        )
        .unwrap();
        cashflow_domain::Aggregate::apply(&mut state, &decoded);
        let status = get(db, owner, id).await.status;
        assert_eq!(status, state.processing_status(), "after {}", event.event_type);
        seen.push(status);
    }
    seen
}

#[tokio::test]
async fn the_status_stays_uploaded_until_processing_is_settled_on_every_path() {
    use InvoiceStatus::{Failed, Scanned, Uploaded};
    let db = TestDb::new().await;
    let owner = UserId::new();
    let sure = || full_reading("Mercadona", "2026-10-01", "23.45", "2.13", "0.9");

    // A confident reading: uploaded until the movement is linked.
    let mut world = World::new();
    let id = world.upload(owner, "a.jpg", ContentKind::Jpeg, 1, None);
    world.scan(owner, id, sure());
    world.link(owner, id, MovementId::new());
    assert_eq!(statuses(&db, &world, owner, id).await, [Uploaded, Uploaded, Scanned]);
    let view = get(&db, owner, id).await;
    assert!(view.movement_id.is_some());

    // Not sure enough: uploaded until it is left to the person, then scanned without a movement.
    let mut world = World::new();
    let id = world.upload(owner, "b.jpg", ContentKind::Jpeg, 2, None);
    world.scan(owner, id, full_reading("Lidl", "2026-10-02", "7.5", "0.68", "0.3"));
    world.leave_for_review(owner, id, ReviewReason::NotSureEnough);
    assert_eq!(statuses(&db, &world, owner, id).await, [Uploaded, Uploaded, Scanned]);
    assert_eq!(get(&db, owner, id).await.movement_id, None);

    // Unreadable: failed, at once.
    let mut world = World::new();
    let id = world.upload(owner, "c.jpg", ContentKind::Jpeg, 3, None);
    world.fail(owner, id, "no text");
    assert_eq!(statuses(&db, &world, owner, id).await, [Uploaded, Failed]);

    // Read, then the worker gave up on the movement: left for review, never processing for ever.
    let mut world = World::new();
    let id = world.upload(owner, "d.jpg", ContentKind::Jpeg, 4, None);
    world.scan(owner, id, sure());
    world.give_up(owner, id);
    assert_eq!(statuses(&db, &world, owner, id).await, [Uploaded, Uploaded, Scanned]);

    // A correction recorded the movement before the reading: the reading is still to come.
    let mut world = World::new();
    let id = world.upload(owner, "e.jpg", ContentKind::Jpeg, 5, None);
    world.correct(owner, id, None, Some("2026-10-03"), Some("9.99"));
    world.link(owner, id, MovementId::new());
    world.scan(owner, id, sure());
    assert_eq!(statuses(&db, &world, owner, id).await, [Uploaded, Uploaded, Uploaded, Scanned]);

    // Unreadable, then the person's correction became a movement: only the correction changes it.
    let mut world = World::new();
    let id = world.upload(owner, "f.jpg", ContentKind::Jpeg, 6, None);
    world.fail(owner, id, "no text");
    world.correct(owner, id, None, Some("2026-10-03"), Some("9.99"));
    world.link(owner, id, MovementId::new());
    assert_eq!(statuses(&db, &world, owner, id).await, [Uploaded, Failed, Failed, Scanned]);

    // Left for review, then corrected into a movement: still scanned, now with it.
    let mut world = World::new();
    let id = world.upload(owner, "g.jpg", ContentKind::Jpeg, 7, None);
    world.scan(owner, id, full_reading("Dia", "2026-10-04", "3.10", "0.3", "0.3"));
    world.leave_for_review(owner, id, ReviewReason::NotSureEnough);
    world.correct(owner, id, None, None, Some("3.15"));
    world.link(owner, id, MovementId::new());
    assert_eq!(statuses(&db, &world, owner, id).await, [Uploaded, Uploaded, Scanned, Scanned, Scanned]);
    db.drop().await;
}

#[tokio::test]
async fn a_link_names_the_movement() {
    let db = TestDb::new().await;
    let mut world = World::new();
    let owner = UserId::new();
    let id = world.upload(owner, "ticket.tiff", ContentKind::Tiff, 1, None);
    let first = MovementId::new();
    world.link(owner, id, first);
    db.apply(&world.events).await;
    assert_eq!(get(&db, owner, id).await.movement_id, Some(first.as_uuid()));
    let second = MovementId::new();
    world.link(owner, id, second);
    db.apply(&world.events[2..]).await;
    let view = get(&db, owner, id).await;
    assert_eq!((view.movement_id, view.version), (Some(second.as_uuid()), 3));
    db.drop().await;
}

#[tokio::test]
async fn corrections_win_over_the_reading_which_is_kept() {
    let db = TestDb::new().await;
    let mut world = World::new();
    let owner = UserId::new();
    let id = world.upload(owner, "ticket.jpg", ContentKind::Jpeg, 1, None);
    world.scan(owner, id, full_reading("LIDL 0042", "2026-10-02", "7.5", "0.68", "0.6"));
    world.correct(owner, id, Some("Lidl"), None, Some("7.59"));
    db.apply(&world.events).await;

    let view = get(&db, owner, id).await;
    assert_eq!(view.scanned_merchant, Some(read("LIDL 0042".to_owned(), "0.6")));
    assert_eq!(view.scanned_total, Some(read(dec("7.5"), "0.6")));
    assert_eq!(view.corrected_merchant.as_deref(), Some("Lidl"));
    assert_eq!(view.corrected_total, Some(dec("7.59")));
    assert_eq!(view.corrected_issued_on, None);
    assert_eq!(view.merchant(), Some(read("Lidl".to_owned(), "1")));
    assert_eq!(view.total().map(|t| (t.value, t.confidence)), Some((dec("7.59"), Confidence::ONE)));
    assert_eq!(view.issued_on(), Some(read(date("2026-10-02"), "0.6")), "not corrected: the machine's");

    // A later correction of one field keeps the earlier corrections of the others.
    let applied = world.events.len();
    world.correct(owner, id, None, Some("2026-10-03"), Some("7.60"));
    db.apply(&world.events[applied..]).await;
    let view = get(&db, owner, id).await;
    assert_eq!(view.corrected_merchant.as_deref(), Some("Lidl"));
    assert_eq!(view.corrected_total, Some(dec("7.6")));
    assert_eq!(view.issued_on(), Some(read(date("2026-10-03"), "1")));
    assert_eq!(view.scanned_issued_on, Some(read(date("2026-10-02"), "0.6")));
    assert_eq!(view.version, 4);

    // A correction before any scan is the only value there is.
    let early = world.upload(owner, "other.jpg", ContentKind::Jpeg, 2, None);
    world.correct(owner, early, Some("Bakery"), None, None);
    db.apply(&world.events[applied + 1..]).await;
    let view = get(&db, owner, early).await;
    assert_eq!((view.scanned_merchant.clone(), view.merchant()), (None, Some(read("Bakery".to_owned(), "1"))));
    assert_eq!(view.status, InvoiceStatus::Uploaded);
    db.drop().await;
}

#[tokio::test]
async fn an_event_under_another_owner_cannot_change_a_users_invoice() {
    let db = TestDb::new().await;
    let mut world = World::new();
    let alice = UserId::new();
    let id = world.upload(alice, "ticket.jpg", ContentKind::Jpeg, 1, None);
    db.apply(&world.events).await;
    let before = db.dump().await;

    let mallory = Uuid::now_v7();
    let reading =
        cashflow_domain::invoice::InvoiceEvent::InvoiceScanned(full_reading("M", "2026-01-01", "1", "0", "1"));
    let forgeries = [
        forged(id.stream_id(), 1, 2, mallory, "InvoiceUploaded", world.events[0].payload.clone()),
        forged(
            id.stream_id(),
            2,
            3,
            mallory,
            "InvoiceScanned",
            cashflow_domain::DomainEvent::payload(&reading).unwrap(),
        ),
        forged(id.stream_id(), 3, 4, mallory, "InvoiceScanFailed", json!({"reason": "mine"})),
        forged(id.stream_id(), 4, 5, mallory, "InvoiceLinked", json!({"movement_id": Uuid::now_v7()})),
        forged(
            id.stream_id(),
            5,
            6,
            mallory,
            "InvoiceCorrected",
            json!({"merchant": {"machine": null, "person": "Mallory"}, "issued_on": null, "total": null}),
        ),
    ];
    db.apply(&forgeries).await;
    assert_eq!(db.dump().await, before);
    let queries = InvoiceQueries::new(db.pool.clone());
    assert_eq!(queries.get(mallory, id.as_uuid()).await.unwrap(), None);
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
    let invoice = world.events[0].stream_id.clone();
    let ignored = [
        forged(format!("movement-{}", Uuid::now_v7()), 1, next, owner, "InvoiceUploaded", json!({"blob_key": "k"})),
        forged(format!("category-{}", Uuid::now_v7()), 1, next + 1, owner, "CategoryCreated", json!({})),
        forged(invoice, 90, next + 2, owner, "InvoiceArchived", json!({})),
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
    let stream = world.events[0].stream_id.clone();
    let malformed = forged(stream, 90, position, world.events[0].owner, "InvoiceScanned", json!({"total": "lots"}));
    for batch in [false, true] {
        let mut tx = db.pool.begin().await.unwrap();
        let result = if batch {
            InvoicesProjection.apply_batch(&mut tx, std::slice::from_ref(&malformed)).await
        } else {
            InvoicesProjection.apply(&mut tx, &malformed).await
        };
        let error = result.unwrap_err();
        assert!(
            matches!(&error, ProjectionError::Decode { event_type, position: p, .. }
                if event_type == "InvoiceScanned" && *p == position),
            "{error:?}"
        );
    }
    assert_eq!(db.dump().await, before);
    db.drop().await;
}

#[tokio::test]
async fn applying_events_again_changes_nothing() {
    let db = TestDb::new().await;
    let (world, _, _) = rich_history();
    db.apply(&world.events).await;
    let once = db.dump().await;
    db.apply(&world.events).await;
    db.apply_batches(&world.events[world.events.len() / 2..], 7).await;
    assert_eq!(db.dump().await, once);
    db.drop().await;
}

/// Checks that the dump shows every kind of row, so comparing it proves something.
fn assert_rich(dump: &[String]) {
    for needle in [
        "\"status\":\"uploaded\"",
        "\"status\":\"scanned\"",
        "\"status\":\"failed\"",
        "\"corrected_total\":7.6,",
        "\"corrected_issued_on\":\"2026-09-30\"",
        "\"movement_id\":\"",
        "\"account_id\":null",
    ] {
        assert!(dump.iter().any(|row| row.contains(needle)), "no row has {needle}: {dump:#?}");
    }
}

#[tokio::test]
async fn a_rebuild_from_position_zero_gives_the_live_table() {
    let (world, _, _) = rich_history();
    let store = world.into_store().await;
    let events = store.read_all(0, usize::MAX).await.unwrap();

    // Live: the projector's batches, a few events per transaction.
    let live = TestDb::new().await;
    live.apply_batches(&events, 4).await;
    let live_dump = live.dump().await;
    assert_eq!(live_dump.len(), 30);
    assert_rich(&live_dump);

    // The bus's rebuild into a second database, and over the live one (after its reset).
    let rebuilt = TestDb::new().await;
    let position = cashflow_projection::rebuild(&rebuilt.pool, &store, &InvoicesProjection, |_, _| {}).await.unwrap();
    assert_eq!(position, events.len() as u64);
    assert_eq!(rebuilt.dump().await, live_dump, "a second database");
    cashflow_projection::rebuild(&live.pool, &store, &InvoicesProjection, |_, _| {}).await.unwrap();
    assert_eq!(live.dump().await, live_dump, "rebuilt in place");
    assert_eq!(cashflow_projection::read_checkpoint(&live.pool, "invoices").await.unwrap(), position);

    // One event at a time gives the same table too.
    rebuilt.reset().await;
    assert!(rebuilt.dump().await.is_empty(), "reset empties the table");
    rebuilt.apply(&events).await;
    assert_eq!(rebuilt.dump().await, live_dump, "one event at a time");
    live.drop().await;
    rebuilt.drop().await;
}

#[tokio::test]
async fn migrations_are_tracked_apart_and_run_again_harmlessly() {
    let db = TestDb::new().await;
    cashflow_projection_invoices::migrate(&db.pool).await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations_invoices WHERE success")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(applied, 1);
    assert_eq!(cashflow_projection_invoices::MIGRATIONS_TABLE, "_sqlx_migrations_invoices");
    db.drop().await;
}
