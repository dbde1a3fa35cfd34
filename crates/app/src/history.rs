//! A person's [`Books`], folded from the event store up to a position: what reports are made
//! of and what `GetBalances.as_of` answers from, so both do the same arithmetic on the same
//! history, and no read model's rebuild can change either.

use crate::error::AppError;
use cashflow_domain::account::AccountEvent;
use cashflow_domain::books::Books;
use cashflow_domain::budget::BudgetEvent;
use cashflow_domain::category::CategoryEvent;
use cashflow_domain::movement::MovementEvent;
use cashflow_domain::{AccountId, BudgetId, CategoryId, DomainEvent, MovementId, StreamId, UserId};
use cashflow_eventstore::{EventStore, RecordedEvent};

/// Events read per round trip.
const PAGE: usize = 5_000;

/// Folds everything `owner` recorded up to `position` (inclusive) into their books. Streams the
/// books do not keep (invoices, notifications, reports) are skipped.
#[tracing::instrument(name = "history.load_books", skip(store), fields(owner = %owner, events = tracing::field::Empty), err)]
pub async fn load_books(store: &dyn EventStore, owner: UserId, position: u64) -> Result<Books, AppError> {
    let mut books = Books::default();
    let (mut after, mut seen) = (0, 0usize);
    loop {
        let page = store.read_owner(owner.as_uuid(), after, position, PAGE).await?;
        for event in &page {
            apply(&mut books, event)?;
        }
        seen += page.len();
        match page.last() {
            Some(last) if page.len() == PAGE => after = last.position,
            _ => break,
        }
    }
    tracing::Span::current().record("events", seen);
    Ok(books)
}

fn apply(books: &mut Books, event: &RecordedEvent) -> Result<(), AppError> {
    let stream = StreamId::parse(&event.stream_id)
        .map_err(|_| AppError::internal(format!("stream id {} is not <category>-<uuid>", event.stream_id)))?;
    match stream.category() {
        AccountId::STREAM_CATEGORY => {
            if let Some(decoded) = decode::<AccountEvent>(event)? {
                books.apply_account(AccountId::from_uuid(stream.id()), &decoded, event.recorded_at.date_naive());
            }
        }
        CategoryId::STREAM_CATEGORY => {
            if let Some(decoded) = decode::<CategoryEvent>(event)? {
                books.apply_category(CategoryId::from_uuid(stream.id()), &decoded);
            }
        }
        MovementId::STREAM_CATEGORY => {
            if let Some(decoded) = decode::<MovementEvent>(event)? {
                books.apply_movement(MovementId::from_uuid(stream.id()), &decoded, event.position);
            }
        }
        BudgetId::STREAM_CATEGORY => {
            if let Some(decoded) = decode::<BudgetEvent>(event)? {
                books.apply_budget(&decoded);
            }
        }
        _ => {}
    }
    Ok(())
}

/// The event, or `None` for a type its aggregate does not have (a later version's event).
fn decode<E: DomainEvent>(event: &RecordedEvent) -> Result<Option<E>, AppError> {
    if !E::EVENT_TYPES.contains(&event.event_type.as_str()) {
        return Ok(None);
    }
    E::decode(&event.event_type, event.schema_version, &event.payload).map(Some).map_err(|error| {
        AppError::internal(format!("{} at position {} cannot be decoded: {error}", event.event_type, event.position))
    })
}
