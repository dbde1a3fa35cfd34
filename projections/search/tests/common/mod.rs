//! Test harness: the search projection on a database of its own, and a world that makes
//! movement, category and invoice events and stamps them as the store would.
#![allow(dead_code)]

use cashflow_domain::category::CategoryEvent;
use cashflow_domain::invoice::{Confidence, ContentKind, FileName, InvoiceEvent, Read, Reading, Sha256Hex};
use cashflow_domain::movement::{AssignedBy, Direction, MovementEvent, MovementSource};
use cashflow_domain::{
    AccountId, Amount, CategoryId, Counterparty, Currency, Description, DomainEvent, InvoiceId, MovementId, Name,
    OccurredOn, Reason, UserId,
};
use cashflow_eventstore::RecordedEvent;
use cashflow_projection::{Projection, ProjectionError};
use cashflow_projection_search::{SearchPage, SearchProjection, SearchQueries, SearchRequest, SearchText, migrate};
use cashflow_testkit::{ProjectionDb, ProjectionUnderTest, Stamper};
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

/// The search projection on a database of its own.
pub type TestDb = ProjectionDb<Search>;

pub struct Search;

impl ProjectionUnderTest for Search {
    type Projection = SearchProjection;
    type Dump = Vec<String>;

    fn projection() -> SearchProjection {
        SearchProjection
    }

    /// The batch of one event: the projection has one write path.
    async fn apply_one(
        projection: &SearchProjection,
        tx: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        projection.apply_batch(tx, std::slice::from_ref(event)).await
    }

    async fn migrate(pool: &PgPool) {
        migrate(pool).await.unwrap();
        cashflow_projection::migrate(pool).await.unwrap();
    }

    /// Every row of every search table as JSON text, in key order.
    async fn dump(pool: &PgPool) -> Self::Dump {
        let mut rows = Vec::new();
        for (table, order) in [
            ("search_documents", "movement_id"),
            ("search_categories", "id"),
            ("search_invoices", "id"),
            ("search_words", "owner, word"),
        ] {
            let select = format!("SELECT '{table}' || row_to_json(t)::text AS row FROM {table} t ORDER BY {order}");
            for row in sqlx::query(sqlx::AssertSqlSafe(select)).fetch_all(pool).await.unwrap() {
                rows.push(row.get("row"));
            }
        }
        rows
    }
}

/// Searches `owner`'s documents for `query`, 500 hits at most.
pub async fn search(pool: &PgPool, owner: UserId, query: &str) -> SearchPage {
    let request = SearchRequest { text: text(query), page_size: 500, ..SearchRequest::default() };
    SearchQueries::new(pool.clone()).search(owner.as_uuid(), &request).await.unwrap()
}

pub fn text(query: &str) -> SearchText {
    SearchText::parse("query", query).unwrap()
}

/// The descriptions of a page's hits, in order.
pub fn descriptions(page: &SearchPage) -> Vec<String> {
    page.hits.iter().map(|hit| hit.movement.description.clone()).collect()
}

pub fn dec(raw: &str) -> Decimal {
    raw.parse().unwrap()
}

/// A movement to record; `World::record` fills in the rest.
#[derive(Clone)]
pub struct Spec<'a> {
    pub description: &'a str,
    pub counterparty: Option<&'a str>,
    pub amount: &'a str,
    pub occurred_on: &'a str,
    pub direction: Direction,
}

impl<'a> Spec<'a> {
    pub fn new(description: &'a str) -> Self {
        Self {
            description,
            counterparty: None,
            amount: "10.00",
            occurred_on: "2026-11-01",
            direction: Direction::Expense,
        }
    }

    pub fn amount(self, amount: &'a str) -> Self {
        Self { amount, ..self }
    }

    pub fn on(self, occurred_on: &'a str) -> Self {
        Self { occurred_on, ..self }
    }

    pub fn counterparty(self, counterparty: &'a str) -> Self {
        Self { counterparty: Some(counterparty), ..self }
    }

    pub fn income(self) -> Self {
        Self { direction: Direction::Income, ..self }
    }
}

/// Events as the store would hand them out, for any number of people.
#[derive(Default)]
pub struct World {
    pub events: Vec<RecordedEvent>,
    stamper: Stamper,
    pub account: Option<AccountId>,
}

impl World {
    pub fn new() -> Self {
        Self::default()
    }

    fn push<E: DomainEvent>(&mut self, stream_id: &str, owner: UserId, event: &E) {
        let stamped = self.stamper.stamp(stream_id, owner, event);
        self.events.push(stamped);
    }

    pub fn record(&mut self, owner: UserId, spec: Spec<'_>) -> MovementId {
        self.record_in(owner, AccountId::new(), spec)
    }

    pub fn record_in(&mut self, owner: UserId, account_id: AccountId, spec: Spec<'_>) -> MovementId {
        let movement_id = MovementId::new();
        let event = MovementEvent::MovementRecorded {
            movement_id,
            owner,
            account_id,
            direction: spec.direction,
            amount: Amount::parse("amount", spec.amount).unwrap(),
            currency: Currency::parse("currency", "EUR").unwrap(),
            occurred_on: OccurredOn::parse("occurred_on", spec.occurred_on).unwrap(),
            description: Description::parse("description", spec.description).unwrap(),
            counterparty: spec.counterparty.map(|c| Counterparty::parse("counterparty", c).unwrap()),
            source: MovementSource::Manual,
            source_ref: None,
        };
        self.push(&movement_id.stream_id(), owner, &event);
        movement_id
    }

    pub fn create_category(&mut self, owner: UserId, name: &str) -> CategoryId {
        let category_id = CategoryId::new();
        let event = CategoryEvent::CategoryCreated {
            category_id,
            owner,
            name: Name::parse("name", name).unwrap(),
            parent_id: None,
        };
        self.push(&category_id.stream_id(), owner, &event);
        category_id
    }

    pub fn rename_category(&mut self, owner: UserId, category_id: CategoryId, name: &str) {
        let event = CategoryEvent::CategoryRenamed { name: Name::parse("name", name).unwrap() };
        self.push(&category_id.stream_id(), owner, &event);
    }

    pub fn assign(&mut self, owner: UserId, movement_id: MovementId, category_id: CategoryId) {
        let event = MovementEvent::CategoryAssigned { category_id, assigned_by: AssignedBy::User, rule_id: None };
        self.push(&movement_id.stream_id(), owner, &event);
    }

    pub fn void(&mut self, owner: UserId, movement_id: MovementId) {
        let event = MovementEvent::MovementVoided { reason: Reason::parse("reason", "a mistake").unwrap() };
        self.push(&movement_id.stream_id(), owner, &event);
    }

    /// An invoice uploaded, read as `merchant` with `raw_text`, and linked to `movement_id`.
    pub fn invoice(&mut self, owner: UserId, movement_id: MovementId, merchant: &str, raw_text: &str) -> InvoiceId {
        let invoice_id = InvoiceId::new();
        let stream_id = invoice_id.stream_id();
        let uploaded = InvoiceEvent::InvoiceUploaded {
            invoice_id,
            owner,
            filename: FileName::parse("filename", "receipt.jpg").unwrap(),
            content_kind: ContentKind::Jpeg,
            size_bytes: 1000,
            sha256: Sha256Hex::from_digest([7; 32]),
            blob_key: format!("invoices/{invoice_id}"),
            account_id: None,
        };
        self.push(&stream_id, owner, &uploaded);
        let reading = Reading {
            merchant: Some(Read {
                value: Counterparty::parse("merchant", merchant).unwrap(),
                confidence: Confidence::new(dec("0.9")),
            }),
            ..Reading::default()
        }
        .with_raw_text(raw_text);
        self.push(&stream_id, owner, &InvoiceEvent::InvoiceScanned(reading));
        self.push(&stream_id, owner, &InvoiceEvent::InvoiceLinked { movement_id });
        invoice_id
    }

    /// A new person.
    pub fn person() -> UserId {
        UserId::from_uuid(Uuid::now_v7())
    }
}
