//! The command handler's cache of account and category states: what it saves, and that a
//! stale entry never lets a wrong decision through.

use super::*;
use cashflow_domain::account::AccountEvent;
use cashflow_domain::movement::Direction;
use cashflow_domain::{Amount, CommandId, Currency, Description, Name, OccurredOn, SignedAmount, UserId};
use cashflow_eventstore::{InMemoryEventStore, RecordedEvent};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The in-memory store, counting stream reads.
#[derive(Default)]
struct CountingStore {
    inner: InMemoryEventStore,
    reads: AtomicUsize,
}

#[async_trait::async_trait]
impl EventStore for CountingStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        self.inner.append(request).await
    }
    async fn find_command(&self, owner: Uuid, command_id: Uuid) -> Result<Option<AppendOutcome>, StoreError> {
        self.inner.find_command(owner, command_id).await
    }
    async fn read_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.read_stream(stream_id).await
    }
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after, limit).await
    }
    async fn head(&self) -> Result<u64, StoreError> {
        self.inner.head().await
    }
    async fn wait_for_events(&self, after: u64, timeout: std::time::Duration) -> Result<u64, StoreError> {
        self.inner.wait_for_events(after, timeout).await
    }
}

struct World {
    store: Arc<CountingStore>,
    handler: CommandHandler,
    owner: UserId,
    account_id: AccountId,
    category_id: CategoryId,
}

fn context(owner: UserId) -> CommandContext {
    CommandContext::new(owner, CommandId::new(), None, None)
}

async fn world() -> World {
    let store = Arc::new(CountingStore::default());
    let handler = CommandHandler::new(store.clone());
    let owner = UserId::new();
    let open = input::OpenAccount {
        command_id: CommandId::new(),
        name: Name::parse("name", "Current").unwrap(),
        currency: Currency::parse("currency", "EUR").unwrap(),
        opening_balance: SignedAmount::ZERO,
    };
    let account_id = handler.open_account(&context(owner), open).await.unwrap().id;
    let create = input::CreateCategory {
        command_id: CommandId::new(),
        name: Name::parse("name", "Food").unwrap(),
        parent_id: None,
    };
    let category_id = handler.create_category(&context(owner), create).await.unwrap().id;
    World { store, handler, owner, account_id, category_id }
}

impl World {
    fn movement(&self) -> input::RecordMovement {
        input::RecordMovement {
            command_id: CommandId::new(),
            account_id: self.account_id,
            direction: Direction::Expense,
            amount: Amount::parse("amount", "12.50").unwrap(),
            occurred_on: OccurredOn::from_date(chrono::NaiveDate::from_ymd_opt(2026, 1, 2).unwrap()),
            description: Description::parse("description", "groceries").unwrap(),
            counterparty: None,
            category_id: Some(self.category_id),
        }
    }

    async fn record(&self, handler: &CommandHandler) -> Result<Created<MovementId>, AppError> {
        handler.record_movement(&context(self.owner), self.movement()).await
    }

    /// Appends to the account's stream as another process would: past this handler's cache.
    async fn append_to_account(&self, event: AccountEvent) {
        let stream_id = self.account_id.stream_id();
        let version = self.store.inner.read_stream(&stream_id).await.unwrap().len() as u64;
        let request = AppendRequest {
            stream_id,
            expected_version: ExpectedVersion::Exact(version),
            metadata: context(self.owner).metadata(),
            events: vec![NewEvent {
                event_id: Uuid::now_v7(),
                event_type: event.event_type().to_owned(),
                schema_version: AccountEvent::SCHEMA_VERSION,
                payload: event.payload().unwrap(),
            }],
            guards: Vec::new(),
        };
        self.store.inner.append(request).await.unwrap();
    }

    fn reads(&self) -> usize {
        self.store.reads.load(Ordering::Relaxed)
    }
}

#[tokio::test]
async fn a_movement_on_a_cached_account_and_category_reads_no_stream() {
    let w = world().await;
    w.record(&w.handler).await.unwrap();
    let before = w.reads();
    for _ in 0..5 {
        w.record(&w.handler).await.unwrap();
    }
    assert_eq!(w.reads(), before, "the account and category came from the cache");
}

#[tokio::test]
async fn a_closed_account_is_refused_even_after_its_open_state_was_cached() {
    let w = world().await;
    w.record(&w.handler).await.unwrap();
    w.append_to_account(AccountEvent::AccountClosed {}).await;
    let head = w.store.head().await.unwrap();

    let refused = w.record(&w.handler).await;
    assert!(
        matches!(refused, Err(AppError::Domain(DomainError::FailedPrecondition(_)))),
        "a movement on a closed account must be refused, got {refused:?}"
    );
    assert_eq!(w.store.head().await.unwrap(), head, "nothing was appended");
    // The refusal came from the fresh state, which is now cached: refused again at once.
    assert!(matches!(w.record(&w.handler).await, Err(AppError::Domain(DomainError::FailedPrecondition(_)))));
}

#[tokio::test]
async fn a_stale_cached_account_costs_one_fresh_read_not_a_failure() {
    let w = world().await;
    w.record(&w.handler).await.unwrap();
    w.append_to_account(AccountEvent::AccountRenamed { name: Name::parse("name", "Main").unwrap() }).await;
    let before = w.reads();
    w.record(&w.handler).await.expect("a rename does not stop movements");
    assert_eq!(w.reads(), before + 1, "the conflict on the stale version re-read the account once");
    let events = w.store.inner.read_all(0, 100).await.unwrap();
    let movement = events.last().unwrap();
    assert_eq!(movement.event_type, "CategoryAssigned");
}

#[tokio::test]
async fn each_handler_process_has_its_own_cache_and_neither_decides_on_a_stale_state() {
    let w = world().await;
    let other = CommandHandler::new(w.store.clone());
    w.record(&w.handler).await.unwrap();
    w.record(&other).await.unwrap();
    w.append_to_account(AccountEvent::AccountClosed {}).await;
    for handler in [&w.handler, &other] {
        assert!(matches!(w.record(handler).await, Err(AppError::Domain(DomainError::FailedPrecondition(_)))));
    }
}

#[tokio::test]
async fn a_missing_account_is_not_cached_so_it_is_found_once_it_exists() {
    let w = world().await;
    let missing = AccountId::new();
    let input = input::RecordMovement { account_id: missing, ..w.movement() };
    let result = w.handler.record_movement(&context(w.owner), input.clone()).await;
    assert!(matches!(result, Err(AppError::Domain(DomainError::NotFound { what: "account" }))));
    assert_eq!(w.handler.accounts.get(&missing.stream_id()), None);
}
