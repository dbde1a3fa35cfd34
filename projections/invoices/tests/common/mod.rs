//! Test harness: a fresh database per test, and a world that makes invoice events through the
//! domain's `decide` and stamps them as the store would (consecutive positions, stream versions).
#![allow(dead_code)]

use cashflow_domain::aggregate::Aggregate;
use cashflow_domain::invoice::{
    self, Confidence, ContentKind, FileName, Invoice, InvoiceCommand, Read, Reading, ReviewReason, Sha256Hex,
    UploadInvoice,
};
use cashflow_domain::{AccountId, Amount, Counterparty, Currency, InvoiceId, MovementId, UserId};
use cashflow_eventstore::{
    AppendRequest, CommandMetadata, EventStore, ExpectedVersion, InMemoryEventStore, NewEvent, RecordedEvent,
};
use cashflow_projection::ProjectionError;
use cashflow_projection_invoices::{InvoicesProjection, migrate};
use cashflow_testkit::{ProjectionDb, ProjectionUnderTest, Stamper};
use chrono::{NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool, Row};
use std::collections::HashMap;

/// The invoices projection on a database of its own.
pub type TestDb = ProjectionDb<Invoices>;

pub struct Invoices;

impl ProjectionUnderTest for Invoices {
    type Projection = InvoicesProjection;
    type Dump = Vec<String>;

    fn projection() -> InvoicesProjection {
        InvoicesProjection
    }

    async fn apply_one(
        projection: &InvoicesProjection,
        tx: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        projection.apply(tx, event).await
    }

    /// The invoices table and the bus's checkpoints.
    async fn migrate(pool: &PgPool) {
        migrate(pool).await.unwrap();
        cashflow_projection::migrate(pool).await.unwrap();
    }

    /// Every row of `invoices` as JSON text, in id order: equal dumps mean equal contents,
    /// down to each NUMERIC's scale.
    async fn dump(pool: &PgPool) -> Self::Dump {
        sqlx::query("SELECT row_to_json(t)::text AS row FROM invoices t ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|row| row.get("row"))
            .collect()
    }
}

pub fn date(raw: &str) -> NaiveDate {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap()
}

pub fn dec(raw: &str) -> Decimal {
    raw.parse().unwrap()
}

pub fn read<T>(value: T, confidence: &str) -> Read<T> {
    Read { value, confidence: Confidence::new(dec(confidence)) }
}

/// A reading with every field, each at `confidence`.
pub fn full_reading(merchant: &str, issued_on: &str, total: &str, tax: &str, confidence: &str) -> Reading {
    Reading {
        merchant: Some(read(Counterparty::parse("merchant", merchant).unwrap(), confidence)),
        issued_on: Some(read(date(issued_on), confidence)),
        total: Some(read(Amount::parse("total", total).unwrap(), confidence)),
        tax: Some(read(dec(tax), confidence)),
        currency: Some(read(Currency::parse("currency", "EUR").unwrap(), "0.99")),
        ..Reading::default()
    }
    .with_raw_text(&format!("{merchant}\n{issued_on}\nTOTAL {total}\nIVA {tax}"))
}

/// Invoice states, folded from the events made so far, and those events as stored.
#[derive(Default)]
pub struct World {
    pub events: Vec<RecordedEvent>,
    stamper: Stamper,
    pub invoices: HashMap<InvoiceId, Invoice>,
}

impl World {
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, owner: UserId, id: InvoiceId, command: InvoiceCommand) -> usize {
        let mut state = self.invoices.remove(&id).unwrap_or_default();
        let events = invoice::decide(&state, command).unwrap();
        let count = events.len();
        let stream_id = id.stream_id();
        for event in events {
            state.apply(&event);
            let stamped = self.stamper.stamp(&stream_id, owner, &event);
            // Three events a second, so uploads share timestamps and the id breaks ties.
            let recorded_at = Utc.timestamp_opt(1_790_000_000 + stamped.position as i64 / 3, 0).unwrap();
            self.events.push(RecordedEvent { recorded_at, ..stamped });
        }
        self.invoices.insert(id, state);
        count
    }

    /// Uploads a file whose digest is `[digest; 32]`.
    pub fn upload(
        &mut self,
        owner: UserId,
        filename: &str,
        kind: ContentKind,
        digest: u8,
        account: Option<AccountId>,
    ) -> InvoiceId {
        let id = InvoiceId::new();
        let command = InvoiceCommand::Upload(UploadInvoice {
            invoice_id: id,
            owner,
            filename: FileName::parse("filename", filename).unwrap(),
            content_kind: kind,
            size_bytes: 1000 + u64::from(digest),
            sha256: Sha256Hex::from_digest([digest; 32]),
            blob_key: format!("invoices/{owner}/{id}"),
            account_id: account,
        });
        self.push(owner, id, command);
        id
    }

    pub fn scan(&mut self, owner: UserId, id: InvoiceId, reading: Reading) {
        assert_eq!(self.push(owner, id, InvoiceCommand::RecordScan { owner, reading }), 1);
    }

    pub fn fail(&mut self, owner: UserId, id: InvoiceId, reason: &str) {
        assert_eq!(self.push(owner, id, InvoiceCommand::FailScan { owner, reason: reason.to_owned() }), 1);
    }

    pub fn link(&mut self, owner: UserId, id: InvoiceId, movement: MovementId) {
        assert_eq!(self.push(owner, id, InvoiceCommand::Link { owner, movement_id: movement }), 1);
    }

    pub fn leave_for_review(&mut self, owner: UserId, id: InvoiceId, reason: ReviewReason) {
        assert_eq!(self.push(owner, id, InvoiceCommand::LeaveForReview { owner, reason }), 1);
    }

    /// The worker gave up after the reading: the domain settles it for review.
    pub fn give_up(&mut self, owner: UserId, id: InvoiceId) {
        assert_eq!(self.push(owner, id, InvoiceCommand::FailScan { owner, reason: "gave up".into() }), 1);
    }

    pub fn correct(
        &mut self,
        owner: UserId,
        id: InvoiceId,
        merchant: Option<&str>,
        issued_on: Option<&str>,
        total: Option<&str>,
    ) {
        let command = InvoiceCommand::Correct {
            owner,
            merchant: merchant.map(|m| Counterparty::parse("merchant", m).unwrap()),
            issued_on: issued_on.map(date),
            total: total.map(|t| Amount::parse("total", t).unwrap()),
        };
        assert_eq!(self.push(owner, id, command), 1, "the correction changed nothing");
    }

    /// The world's events appended to an in-memory store, one append per event, as the API
    /// would have; the store stamps its own positions and times.
    pub async fn into_store(self) -> InMemoryEventStore {
        let store = InMemoryEventStore::new();
        for event in self.events {
            store
                .append(AppendRequest {
                    stream_id: event.stream_id,
                    expected_version: ExpectedVersion::Exact(event.version - 1),
                    metadata: CommandMetadata {
                        owner: event.owner,
                        command_id: event.command_id,
                        correlation_id: event.correlation_id,
                        causation_id: None,
                        traceparent: None,
                    },
                    guards: Vec::new(),
                    events: vec![NewEvent {
                        event_id: event.event_id,
                        event_type: event.event_type,
                        schema_version: event.schema_version,
                        payload: event.payload,
                    }],
                })
                .await
                .unwrap();
        }
        store
    }
}

/// A history with every event type, two owners and every content kind; returns the world and
/// the two owners.
pub fn rich_history() -> (World, UserId, UserId) {
    let mut world = World::new();
    let alice = UserId::new();
    let bob = UserId::new();
    let account = AccountId::new();
    for i in 0..30u8 {
        let owner = if i % 5 == 4 { bob } else { alice };
        let kind = ContentKind::ALL[usize::from(i) % ContentKind::ALL.len()];
        let id = world.upload(owner, &format!("receipt-{i}.bin"), kind, i, (i % 2 == 0).then_some(account));
        match i % 6 {
            0 => {}
            1 => world.fail(owner, id, "the image is too blurry to read"),
            2 => {
                world.fail(owner, id, "timed out");
                world.scan(owner, id, full_reading("Mercadona", "2026-10-01", "23.45", "2.13", "0.9"));
            }
            3 => {
                world.scan(owner, id, full_reading("Lidl", "2026-10-02", "7.5", "0.68", "0.615"));
                world.correct(owner, id, Some("Lidl Madrid"), None, Some("7.59"));
                world.correct(owner, id, None, Some("2026-10-03"), Some("7.60"));
                world.link(owner, id, MovementId::new());
            }
            4 => {
                world.scan(owner, id, Reading::default().with_raw_text(""));
                world.leave_for_review(owner, id, ReviewReason::NotSureEnough);
            }
            _ => {
                let reading =
                    Reading { total: Some(read(Amount::parse("total", "100").unwrap(), "0.4")), ..Reading::default() };
                world.scan(owner, id, reading.with_raw_text("100"));
                world.correct(owner, id, Some("Corner shop"), Some("2026-09-30"), None);
                world.link(owner, id, MovementId::new());
            }
        }
    }
    (world, alice, bob)
}
