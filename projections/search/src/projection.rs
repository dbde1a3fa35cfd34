//! [`SearchProjection`]: keeps one search document per movement, with the category name and
//! invoice text it is found by, current.
//!
//! - Movement events write the document: recorded (inserted), categorised (the category and
//!   its current name), voided (flagged; found only when asked for).
//! - Category events keep `search_categories`; a rename rewrites the name in every document
//!   filed under it.
//! - Invoice events keep `search_invoices` (merchant and OCR text, as read or as corrected);
//!   once linked, the linked movement's document carries them, and follows later corrections.
//!
//! Each update applies under the event's owner and only above the row's stream version, and
//! an insert only where no row has the id, so an event applied twice changes nothing; rows
//! hold only values taken from events, so a rebuild from position 0 writes identical tables.
//! PostgreSQL derives each document's `tsvector` (a generated column) and learns its words
//! (a statement trigger), so neither can drift from the text.
//!
//! A batch is written in a few statements, however many movements it holds:
//!
//! 1. category events, each in turn (they are few): so every name is the latest below;
//! 2. the recorded movements, in one insert;
//! 3. the categorisations and voids, folded per movement, in one update;
//! 4. invoice events, each in turn (they come at the pace of photographs), after the
//!    documents they link to exist.
//!
//! Each table's rows depend only on their own stream's events in order, and each document's
//! category name on the category's latest name, so the steps' order leaves what applying the
//! events one by one leaves.

use async_trait::async_trait;
use cashflow_domain::category::CategoryEvent;
use cashflow_domain::invoice::InvoiceEvent;
use cashflow_domain::movement::{Direction, MovementEvent};
use cashflow_domain::{CategoryId, InvoiceId, MovementId};
use cashflow_eventstore::RecordedEvent;
use cashflow_projection::decode::{aggregate_id, decode, to_bigint};
use cashflow_projection::{Projection, ProjectionError};
use cashflow_projection_ledger::direction_text;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

/// The search view's projection. Stateless: everything it knows is in the tables.
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchProjection;

#[async_trait]
impl Projection for SearchProjection {
    fn name(&self) -> &'static str {
        crate::NAME
    }

    /// Applies the batch in four steps, whatever its size (module docs).
    #[tracing::instrument(name = "search.apply_batch", skip_all, fields(events = events.len()), err)]
    async fn apply_batch(&self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        let mut categories = Vec::new();
        let mut recorded = NewDocuments::default();
        let mut changed = ChangedDocuments::default();
        let mut invoices = Vec::new();
        for event in events {
            match event.stream_category() {
                MovementId::STREAM_CATEGORY => match decode::<MovementEvent>(event)? {
                    Some(MovementEvent::MovementRecorded {
                        movement_id,
                        owner,
                        account_id,
                        direction,
                        amount,
                        currency,
                        occurred_on,
                        description,
                        counterparty,
                        ..
                    }) => recorded.push(NewDocument {
                        movement_id: movement_id.as_uuid(),
                        owner: owner.as_uuid(),
                        account_id: account_id.as_uuid(),
                        direction,
                        amount: amount.value(),
                        currency: currency.code().to_owned(),
                        occurred_on: occurred_on.date(),
                        description: description.as_str().to_owned(),
                        counterparty: counterparty.map(|c| c.as_str().to_owned()),
                        version: to_bigint(event, "version", event.version)?,
                    }),
                    Some(other) => changed.fold(event, other)?,
                    None => {}
                },
                CategoryId::STREAM_CATEGORY => {
                    if let Some(decoded) = decode::<CategoryEvent>(event)? {
                        categories.push((event, decoded));
                    }
                }
                InvoiceId::STREAM_CATEGORY => {
                    if let Some(decoded) = decode::<InvoiceEvent>(event)? {
                        invoices.push((event, decoded));
                    }
                }
                _ => {}
            }
        }
        for (event, decoded) in categories {
            apply_category(tx, event, decoded).await?;
        }
        recorded.insert(tx).await?;
        changed.update(tx).await?;
        for (event, decoded) in invoices {
            apply_invoice(tx, event, decoded).await?;
        }
        Ok(())
    }

    /// Empties the search view, before a rebuild from position 0.
    #[tracing::instrument(name = "search.reset", skip_all, err)]
    async fn reset(&self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        sqlx::query("TRUNCATE search_documents, search_categories, search_invoices, search_words")
            .execute(&mut *tx)
            .await?;
        Ok(())
    }
}

/// A recorded movement's document, before it is inserted.
struct NewDocument {
    movement_id: Uuid,
    owner: Uuid,
    account_id: Uuid,
    direction: Direction,
    amount: Decimal,
    currency: String,
    occurred_on: NaiveDate,
    description: String,
    counterparty: Option<String>,
    version: i64,
}

/// A run of recorded movements, inserted in one statement over `unnest`ed columns.
#[derive(Default)]
struct NewDocuments(Vec<NewDocument>);

impl NewDocuments {
    fn push(&mut self, document: NewDocument) {
        self.0.push(document);
    }

    /// Inserts the run (`ON CONFLICT DO NOTHING`: an event applied again) and empties it.
    async fn insert(&mut self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let documents = std::mem::take(&mut self.0);
        let column = |f: fn(&NewDocument) -> _| documents.iter().map(f).collect::<Vec<_>>();
        let ids: Vec<Uuid> = column(|d| d.movement_id);
        let owners: Vec<Uuid> = column(|d| d.owner);
        let accounts: Vec<Uuid> = column(|d| d.account_id);
        let directions: Vec<&str> = documents.iter().map(|d| direction_text(d.direction)).collect();
        let amounts: Vec<Decimal> = documents.iter().map(|d| d.amount).collect();
        let currencies: Vec<&str> = documents.iter().map(|d| d.currency.as_str()).collect();
        let dates: Vec<NaiveDate> = documents.iter().map(|d| d.occurred_on).collect();
        let descriptions: Vec<&str> = documents.iter().map(|d| d.description.as_str()).collect();
        let counterparties: Vec<Option<&str>> = documents.iter().map(|d| d.counterparty.as_deref()).collect();
        let versions: Vec<i64> = documents.iter().map(|d| d.version).collect();
        sqlx::query(
            "INSERT INTO search_documents (movement_id, owner, account_id, direction, amount, currency, occurred_on,
                                           description, counterparty, version)
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::numeric[], $6::text[],
                                  $7::date[], $8::text[], $9::text[], $10::bigint[])
             ON CONFLICT (movement_id) DO NOTHING",
        )
        .bind(ids)
        .bind(owners)
        .bind(accounts)
        .bind(directions)
        .bind(amounts)
        .bind(currencies)
        .bind(dates)
        .bind(descriptions)
        .bind(counterparties)
        .bind(versions)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

/// What a batch's categorisations and voids leave of each movement they touch: its last
/// category, whether it was voided, its last version. Applied in one update, under the
/// documents' owners and above their versions; the values come from the events up to that
/// version, so an update that applies writes what those events applied one by one would.
#[derive(Default)]
struct ChangedDocuments(HashMap<(Uuid, Uuid), Change>);

#[derive(Default)]
struct Change {
    category_id: Option<Uuid>,
    voided: bool,
    version: i64,
}

impl ChangedDocuments {
    fn fold(&mut self, event: &RecordedEvent, decoded: MovementEvent) -> Result<(), ProjectionError> {
        let key = (aggregate_id(event)?, event.owner);
        let version = to_bigint(event, "version", event.version)?;
        let change = self.0.entry(key).or_default();
        match decoded {
            MovementEvent::MovementRecorded { .. } => return Ok(()),
            MovementEvent::CategoryAssigned { category_id, .. } => change.category_id = Some(category_id.as_uuid()),
            MovementEvent::MovementVoided { .. } => change.voided = true,
        }
        change.version = change.version.max(version);
        Ok(())
    }

    async fn update(self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let (keys, changes): (Vec<(Uuid, Uuid)>, Vec<Change>) = self.0.into_iter().unzip();
        let ids: Vec<Uuid> = keys.iter().map(|(id, _)| *id).collect();
        let owners: Vec<Uuid> = keys.iter().map(|(_, owner)| *owner).collect();
        let categories: Vec<Option<Uuid>> = changes.iter().map(|c| c.category_id).collect();
        let voided: Vec<bool> = changes.iter().map(|c| c.voided).collect();
        let versions: Vec<i64> = changes.iter().map(|c| c.version).collect();
        // Categories were written before (`apply_batch`), so a name is the category's latest.
        sqlx::query(
            "UPDATE search_documents AS d
             SET category_id = coalesce(u.category_id, d.category_id),
                 category_name = CASE WHEN u.category_id IS NULL THEN d.category_name
                     ELSE (SELECT c.name FROM search_categories AS c WHERE c.id = u.category_id AND c.owner = d.owner)
                 END,
                 voided = d.voided OR u.voided,
                 version = u.version
             FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bool[], $5::bigint[])
                  AS u(movement_id, owner, category_id, voided, version)
             WHERE d.movement_id = u.movement_id AND d.owner = u.owner AND d.version < u.version",
        )
        .bind(ids)
        .bind(owners)
        .bind(categories)
        .bind(voided)
        .bind(versions)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

async fn apply_category(
    tx: &mut PgConnection,
    event: &RecordedEvent,
    decoded: CategoryEvent,
) -> Result<(), ProjectionError> {
    let id = aggregate_id(event)?;
    let version = to_bigint(event, "version", event.version)?;
    let query = match &decoded {
        CategoryEvent::CategoryCreated { name, .. } => sqlx::query(
            "INSERT INTO search_categories (id, owner, name, version) VALUES ($1, $2, $4, $3)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(event.owner)
        .bind(version)
        .bind(name.as_str()),
        // The documents follow only a rename that applied: one applied again finds the
        // category at its version already, and changes nothing.
        CategoryEvent::CategoryRenamed { name } => sqlx::query(
            "WITH renamed AS (
                 UPDATE search_categories SET name = $4, version = $3
                 WHERE id = $1 AND owner = $2 AND version < $3
                 RETURNING id, owner, name)
             UPDATE search_documents AS d SET category_name = renamed.name
             FROM renamed WHERE d.category_id = renamed.id AND d.owner = renamed.owner",
        )
        .bind(id)
        .bind(event.owner)
        .bind(version)
        .bind(name.as_str()),
        CategoryEvent::CategorizationRuleAdded(_) => return Ok(()),
    };
    query.execute(&mut *tx).await?;
    Ok(())
}

/// An update of the invoice row, under the event's owner and above the row's version, then the
/// same values copied into the linked movement's document, if there is one.
macro_rules! update_invoice {
    ($set:literal) => {
        concat!(
            "WITH changed AS (UPDATE search_invoices SET ",
            $set,
            ", version = $3 WHERE id = $1 AND owner = $2 AND version < $3 RETURNING *)
             UPDATE search_documents AS d
             SET invoice_id = changed.id, merchant = changed.merchant, invoice_text = changed.raw_text
             FROM changed WHERE d.movement_id = changed.movement_id AND d.owner = changed.owner"
        )
    };
}

async fn apply_invoice(
    tx: &mut PgConnection,
    event: &RecordedEvent,
    decoded: InvoiceEvent,
) -> Result<(), ProjectionError> {
    let id = aggregate_id(event)?;
    let version = to_bigint(event, "version", event.version)?;
    match decoded {
        InvoiceEvent::InvoiceUploaded { .. } => {
            sqlx::query(
                "INSERT INTO search_invoices (id, owner, version) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(event.owner)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        }
        // A reading replaces the previous one whole.
        InvoiceEvent::InvoiceScanned(reading) => {
            let merchant = reading.merchant.map(|read| read.value.as_str().to_owned());
            sqlx::query(update_invoice!("merchant = $4, raw_text = $5"))
                .bind(id)
                .bind(event.owner)
                .bind(version)
                .bind(merchant)
                .bind(reading.raw_text)
                .execute(&mut *tx)
                .await?;
        }
        InvoiceEvent::InvoiceCorrected { merchant: Some(correction), .. } => {
            sqlx::query(update_invoice!("merchant = $4"))
                .bind(id)
                .bind(event.owner)
                .bind(version)
                .bind(correction.person.as_str())
                .execute(&mut *tx)
                .await?;
        }
        InvoiceEvent::InvoiceLinked { movement_id } => {
            sqlx::query(update_invoice!("movement_id = $4"))
                .bind(id)
                .bind(event.owner)
                .bind(version)
                .bind(movement_id.as_uuid())
                .execute(&mut *tx)
                .await?;
        }
        InvoiceEvent::InvoiceCorrected { merchant: None, .. }
        | InvoiceEvent::InvoiceScanFailed { .. }
        | InvoiceEvent::InvoiceLeftForReview { .. } => {}
    }
    Ok(())
}
