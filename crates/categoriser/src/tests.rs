//! The categoriser against the in-memory event store and a ledger double that counts how often
//! a person's rules are fetched and compiled.

use super::*;
use cashflow_app::input::{CreateCategory, OpenAccount, RecordMovement};
use cashflow_app::{PortError, RuleCandidate, RulesVersion};
use cashflow_domain::movement::{Direction, Movement};
use cashflow_domain::rule::{CompiledRule, Criteria, Rule, TextPattern};
use cashflow_domain::{
    AccountId, Amount, CategoryId, CommandId, Currency, Description, Name, OccurredOn, RuleId, SignedAmount, UserId,
    fold,
};
use cashflow_eventstore::{EventStore, InMemoryEventStore};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Rules by person, a version that moves with every rule added, and a count of compiles.
#[derive(Default)]
struct CountingLedger {
    rules: Mutex<HashMap<UserId, Vec<Rule>>>,
    added: AtomicU64,
    compiles: AtomicUsize,
}

impl CountingLedger {
    fn add(&self, owner: UserId, category_id: CategoryId, pattern: &str, priority: i32) {
        let criteria = Criteria::new(TextPattern::parse("d", pattern).unwrap(), None, None, None, None).unwrap();
        let rule = Rule { rule_id: RuleId::new(), category_id, criteria, priority };
        self.rules.lock().unwrap().entry(owner).or_default().push(rule);
        self.added.fetch_add(1, Ordering::SeqCst);
    }

    fn compiles(&self) -> usize {
        self.compiles.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl LedgerLookups for CountingLedger {
    async fn account_ids(&self, _: UserId) -> Result<Vec<AccountId>, PortError> {
        Ok(vec![])
    }

    async fn compiled_rules(&self, owner: UserId) -> Result<Vec<CompiledRule>, PortError> {
        self.compiles.fetch_add(1, Ordering::SeqCst);
        let rules = self.rules.lock().unwrap().get(&owner).cloned().unwrap_or_default();
        rules.into_iter().map(|rule| CompiledRule::new(rule).map_err(PortError::Failed)).collect()
    }

    async fn rules_version(&self, owner: UserId) -> Result<RulesVersion, PortError> {
        let count = self.rules.lock().unwrap().get(&owner).map_or(0, Vec::len) as u64;
        Ok(RulesVersion { count, last_added: self.added.load(Ordering::SeqCst) })
    }

    async fn rule_candidates(
        &self,
        _: UserId,
        _: Option<chrono::NaiveDate>,
        _: Option<chrono::NaiveDate>,
        _: Option<(chrono::NaiveDate, uuid::Uuid)>,
        _: u32,
    ) -> Result<Vec<RuleCandidate>, PortError> {
        Ok(vec![])
    }
}

/// A person with an account and two categories, in the in-memory store.
struct World {
    store: Arc<InMemoryEventStore>,
    handler: CommandHandler,
    ledger: Arc<CountingLedger>,
    categoriser: Categoriser,
    owner: UserId,
    account_id: AccountId,
    food: CategoryId,
    transport: CategoryId,
}

fn ctx(owner: UserId) -> CommandContext {
    CommandContext::new(owner, CommandId::new(), None, None)
}

impl World {
    async fn new() -> Self {
        let store = Arc::new(InMemoryEventStore::new());
        let handler = CommandHandler::new(store.clone());
        let ledger = Arc::new(CountingLedger::default());
        let categoriser = Categoriser::new(handler.clone(), ledger.clone());
        let owner = UserId::new();
        let open = OpenAccount {
            command_id: CommandId::new(),
            name: Name::parse("name", "Main").unwrap(),
            currency: Currency::parse("currency", "EUR").unwrap(),
            opening_balance: SignedAmount::ZERO,
        };
        let account_id = handler.open_account(&ctx(owner), open).await.unwrap().id;
        let category = async |name: &str| {
            let create = CreateCategory {
                command_id: CommandId::new(),
                name: Name::parse("name", name).unwrap(),
                parent_id: None,
            };
            handler.create_category(&ctx(owner), create).await.unwrap().id
        };
        let food = category("Food").await;
        let transport = category("Transport").await;
        Self { store, handler, ledger, categoriser, owner, account_id, food, transport }
    }

    /// Records a movement and hands its MovementRecorded to the categoriser.
    async fn record_and_categorise(&self, owner: UserId, description: &str) -> MovementId {
        let record = RecordMovement {
            command_id: CommandId::new(),
            account_id: self.account_id,
            direction: Direction::Expense,
            amount: Amount::parse("amount", "9.99").unwrap(),
            occurred_on: OccurredOn::parse("occurred_on", "2025-10-01").unwrap(),
            description: Description::parse("description", description).unwrap(),
            counterparty: None,
            category_id: None,
        };
        let created = self.handler.record_movement(&ctx(owner), record).await.unwrap();
        let event = self.store.read_stream(&created.id.stream_id()).await.unwrap().remove(0);
        self.categoriser.handle(&event).await.unwrap();
        created.id
    }

    async fn category_of(&self, movement_id: MovementId) -> Option<CategoryId> {
        let stored = self.store.read_stream(&movement_id.stream_id()).await.unwrap();
        let events: Vec<MovementEvent> = stored
            .iter()
            .map(|e| MovementEvent::decode(&e.event_type, e.schema_version, &e.payload).unwrap())
            .collect();
        fold::<Movement>(&events).recorded.and_then(|m| m.category).map(|c| c.category_id)
    }
}

#[tokio::test]
async fn a_persons_rules_are_compiled_once_for_many_movements() {
    let w = World::new().await;
    w.ledger.add(w.owner, w.food, "shop", 0);
    let mut movements = Vec::new();
    for i in 0..20 {
        movements.push(w.record_and_categorise(w.owner, &format!("shop {i}")).await);
    }
    assert_eq!(w.ledger.compiles(), 1, "the rules were compiled again for a movement");
    for movement in movements {
        assert_eq!(w.category_of(movement).await, Some(w.food));
    }
}

#[tokio::test]
async fn a_rule_added_later_is_used_for_the_next_movement() {
    let w = World::new().await;
    w.ledger.add(w.owner, w.food, "shop", 0);
    let before = w.record_and_categorise(w.owner, "bus shop").await;
    assert_eq!(w.category_of(before).await, Some(w.food));

    w.ledger.add(w.owner, w.transport, "bus", 5);
    let after = w.record_and_categorise(w.owner, "bus shop").await;
    assert_eq!(w.category_of(after).await, Some(w.transport), "the new rule was not seen");
    w.record_and_categorise(w.owner, "bus shop again").await;
    assert_eq!(w.ledger.compiles(), 2, "compiled once per version of the rules");
}

#[tokio::test]
async fn a_person_without_rules_costs_no_compile() {
    let w = World::new().await;
    for i in 0..3 {
        let movement = w.record_and_categorise(w.owner, &format!("shop {i}")).await;
        assert_eq!(w.category_of(movement).await, None);
    }
    assert_eq!(w.ledger.compiles(), 0);
}
