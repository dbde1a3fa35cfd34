//! The owner-scoped reads against a real PostgreSQL: keyset pages newest first, lookup by
//! digest, and that another user's ids find nothing.

mod common;

use cashflow_domain::UserId;
use cashflow_domain::invoice::ContentKind;
use cashflow_projection_invoices::{
    DEFAULT_PAGE_SIZE, InvalidPageToken, InvoiceCursor, InvoiceQueries, InvoiceView, MAX_PAGE_SIZE, QueryError,
};
use cashflow_testkit::unreachable_pool;
use common::{TestDb, World, rich_history};
use std::collections::HashSet;
use uuid::Uuid;

/// Every page from the first, following `next` through its encoded token as a client would.
async fn walk(queries: &InvoiceQueries, owner: UserId, page_size: u32) -> Vec<InvoiceView> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let after = token.as_deref().map(|t| InvoiceCursor::decode(t).unwrap());
        let page = queries.list(owner.as_uuid(), page_size, after).await.unwrap();
        assert!(page.invoices.len() <= page_size as usize);
        match page.next {
            Some(next) => {
                assert_eq!(page.invoices.len(), page_size as usize, "only the last page is short");
                let last = page.invoices.last().unwrap();
                assert_eq!(next, InvoiceCursor { uploaded_at: last.uploaded_at, invoice_id: last.invoice_id });
                token = Some(next.encode());
                all.extend(page.invoices);
            }
            None => {
                all.extend(page.invoices);
                return all;
            }
        }
    }
}

/// The owner's invoice ids, newest upload first, ties broken by the larger id.
fn expected(world: &World, owner: UserId) -> Vec<Uuid> {
    let mut uploads: Vec<_> = world
        .events
        .iter()
        .filter(|e| e.event_type == "InvoiceUploaded" && e.owner == owner.as_uuid())
        .map(|e| (e.recorded_at, Uuid::parse_str(e.stream_id.split_once('-').unwrap().1).unwrap()))
        .collect();
    uploads.sort_by(|a, b| b.cmp(a));
    uploads.into_iter().map(|(_, id)| id).collect()
}

#[tokio::test]
async fn pages_walk_every_invoice_once_newest_first() {
    let db = TestDb::new().await;
    let queries = InvoiceQueries::new(db.pool.clone());
    let (mut world, alice, bob) = rich_history();
    // More of Alice's, uploaded within the same seconds, so many pages split a tie.
    for i in 0..40u8 {
        world.upload(alice, &format!("more-{i}.jpg"), ContentKind::Jpeg, 100 + i, None);
    }
    db.apply(&world.events).await;

    let want = expected(&world, alice);
    assert_eq!(want.len(), 64);
    let mut moments = HashSet::new();
    assert!(
        world.events.iter().filter(|e| e.event_type == "InvoiceUploaded").any(|e| !moments.insert(e.recorded_at)),
        "some uploads share a timestamp"
    );
    for page_size in [1, 2, 3, 7, 64, 65, 500] {
        let got = walk(&queries, alice, page_size).await;
        let ids: Vec<Uuid> = got.iter().map(|i| i.invoice_id).collect();
        assert_eq!(ids, want, "pages of {page_size}");
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "no invoice twice");
    }
    assert_eq!(walk(&queries, bob, 2).await.iter().map(|i| i.invoice_id).collect::<Vec<_>>(), expected(&world, bob));

    // An invoice uploaded after a page was served sorts before the cursor: the walk goes on
    // without it and without repeating anything.
    let first = queries.list(alice.as_uuid(), 10, None).await.unwrap();
    let applied = world.events.len();
    world.upload(alice, "late.jpg", ContentKind::Jpeg, 250, None);
    db.apply(&world.events[applied..]).await;
    let rest = queries.list(alice.as_uuid(), 500, first.next).await.unwrap();
    assert_eq!(rest.invoices.iter().map(|i| i.invoice_id).collect::<Vec<_>>(), want[10..]);
    db.drop().await;
}

#[tokio::test]
async fn a_page_size_of_zero_means_the_default_and_a_huge_one_is_capped() {
    let db = TestDb::new().await;
    let queries = InvoiceQueries::new(db.pool.clone());
    let mut world = World::new();
    let owner = UserId::new();
    for i in 0..(MAX_PAGE_SIZE + 1) {
        world.upload(owner, "ticket.jpg", ContentKind::Jpeg, (i % 256) as u8, None);
    }
    db.apply(&world.events).await;
    let page = queries.list(owner.as_uuid(), 0, None).await.unwrap();
    assert_eq!(page.invoices.len(), DEFAULT_PAGE_SIZE as usize);
    let page = queries.list(owner.as_uuid(), u32::MAX, None).await.unwrap();
    assert_eq!(page.invoices.len(), MAX_PAGE_SIZE as usize);
    assert!(page.next.is_some());
    db.drop().await;
}

#[test]
fn a_malformed_page_token_is_a_typed_error_naming_its_field() {
    for bad in ["", "not hex", "00", &"ab".repeat(25)] {
        assert_eq!(InvoiceCursor::decode(bad), Err(InvalidPageToken));
    }
    assert_eq!(InvalidPageToken::FIELD, "page_token");
}

#[tokio::test]
async fn the_first_upload_of_a_file_is_found_by_its_digest() {
    let db = TestDb::new().await;
    let queries = InvoiceQueries::new(db.pool.clone());
    let mut world = World::new();
    let alice = UserId::new();
    let bob = UserId::new();
    let first = world.upload(alice, "a.jpg", ContentKind::Jpeg, 9, None);
    world.upload(alice, "a-again.jpg", ContentKind::Jpeg, 9, None);
    world.upload(alice, "b.jpg", ContentKind::Jpeg, 10, None);
    let bobs = world.upload(bob, "a.jpg", ContentKind::Jpeg, 9, None);
    db.apply(&world.events).await;

    let digest = "09".repeat(32);
    let found = queries.find_by_sha256(alice.as_uuid(), &digest).await.unwrap().unwrap();
    assert_eq!((found.invoice_id, found.filename.as_str()), (first.as_uuid(), "a.jpg"));
    let found = queries.find_by_sha256(bob.as_uuid(), &digest).await.unwrap().unwrap();
    assert_eq!(found.invoice_id, bobs.as_uuid());
    assert_eq!(queries.find_by_sha256(alice.as_uuid(), &"0b".repeat(32)).await.unwrap(), None);
    assert_eq!(queries.find_by_sha256(Uuid::now_v7(), &digest).await.unwrap(), None);
    db.drop().await;
}

#[tokio::test]
async fn another_owner_sees_nothing_of_a_users_invoices() {
    let db = TestDb::new().await;
    let queries = InvoiceQueries::new(db.pool.clone());
    let (world, alice, bob) = rich_history();
    db.apply(&world.events).await;
    let alices = walk(&queries, alice, 500).await;
    let bobs = walk(&queries, bob, 500).await;
    assert_eq!((alices.len(), bobs.len()), (24, 6));
    for invoice in &alices {
        assert_eq!(queries.get(alice.as_uuid(), invoice.invoice_id).await.unwrap().as_ref(), Some(invoice));
        assert_eq!(queries.get(bob.as_uuid(), invoice.invoice_id).await.unwrap(), None);
        assert_eq!(queries.find_by_sha256(bob.as_uuid(), &invoice.sha256).await.unwrap(), None);
    }
    let stranger = Uuid::now_v7();
    let page = queries.list(stranger, 10, None).await.unwrap();
    assert!(page.invoices.is_empty() && page.next.is_none());
    // Another owner's cursor gives nothing of theirs either.
    let cursor = InvoiceCursor { uploaded_at: alices[0].uploaded_at, invoice_id: alices[0].invoice_id };
    let after = queries.list(stranger, 10, Some(cursor)).await.unwrap();
    assert!(after.invoices.is_empty());
    assert_eq!(queries.get(alice.as_uuid(), Uuid::now_v7()).await.unwrap(), None);
    db.drop().await;
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable() {
    let queries = InvoiceQueries::new(unreachable_pool());
    let result = queries.get(Uuid::now_v7(), Uuid::now_v7()).await;
    assert!(matches!(result, Err(QueryError::Unavailable(_))), "{result:?}");
    let result = queries.list(Uuid::now_v7(), 10, None).await;
    assert!(matches!(result, Err(QueryError::Unavailable(_))), "{result:?}");
}

#[tokio::test]
async fn a_row_the_projection_would_not_write_is_corrupt() {
    let db = TestDb::new().await;
    let queries = InvoiceQueries::new(db.pool.clone());
    let mut world = World::new();
    let owner = UserId::new();
    let id = world.upload(owner, "ticket.jpg", ContentKind::Jpeg, 1, None);
    db.apply(&world.events).await;
    sqlx::query("UPDATE invoices SET version = -1").execute(&db.pool).await.unwrap();
    let result = queries.get(owner.as_uuid(), id.as_uuid()).await;
    assert!(matches!(result, Err(QueryError::Corrupt(_))), "{result:?}");
    db.drop().await;
}
