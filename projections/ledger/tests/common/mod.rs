//! Test harness: a fresh database per test, and a world that makes events through the
//! domain's `decide` and stamps them as the store would (consecutive positions, stream versions).
#![allow(dead_code)]

use cashflow_domain::account::{self, Account, AccountCommand, AccountKind};
use cashflow_domain::aggregate::{Aggregate, DomainEvent};
use cashflow_domain::category::{self, Category, CategoryCommand, CategoryContext};
use cashflow_domain::movement::{
    self, AssignedBy, Direction, Movement, MovementCommand, MovementContext, MovementEvent, MovementSource,
    RecordMovement,
};
use cashflow_domain::rule::{Criteria, Rule, TextPattern};
use cashflow_domain::{
    AccountId, Amount, CategoryId, Counterparty, Currency, Description, MovementId, Name, OccurredOn, Reason, RuleId,
    SignedAmount, UserId,
};
use cashflow_eventstore::RecordedEvent;
use cashflow_projection::ProjectionError;
use cashflow_projection_ledger::{LedgerProjection, migrate};
use cashflow_testkit::{ProjectionDb, ProjectionUnderTest, Stamper};
use chrono::{NaiveDate, TimeZone, Utc};
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Row};
use std::collections::HashMap;
use uuid::Uuid;

/// The day `decide` is judged on; every movement in the tests is on or before it.
pub const TODAY: NaiveDate = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();

/// The ledger projection on a database of its own.
pub type TestDb = ProjectionDb<Ledger>;

pub struct Ledger;

impl ProjectionUnderTest for Ledger {
    type Projection = LedgerProjection;
    type Dump = Vec<(String, Vec<String>)>;

    fn projection() -> LedgerProjection {
        LedgerProjection
    }

    async fn apply_one(
        projection: &LedgerProjection,
        tx: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        projection.apply(tx, event).await
    }

    async fn migrate(pool: &PgPool) {
        migrate(pool).await.unwrap();
    }

    /// Every ledger table, each row as JSON text, in primary-key order: equal dumps mean
    /// equal contents, down to each NUMERIC's scale.
    async fn dump(pool: &PgPool) -> Self::Dump {
        let tables = [
            ("ledger_accounts", "id"),
            ("ledger_categories", "id"),
            ("ledger_movements", "id"),
            ("ledger_category_totals", "owner, month, category_key, direction, currency"),
            ("ledger_categorization_rules", "rule_id"),
            ("ledger_budgets", "id"),
            // Queued changes: folded and emptied by every commit.
            ("ledger_pending_balances", "account_id, owner, amount"),
            ("ledger_pending_totals", "owner, month, category_key, direction, currency, total"),
            ("ledger_fold_requests", "tx"),
        ];
        let mut dump = Vec::new();
        for (table, key) in tables {
            let rows =
                sqlx::query(AssertSqlSafe(format!("SELECT row_to_json(t)::text AS row FROM {table} t ORDER BY {key}")))
                    .fetch_all(pool)
                    .await
                    .unwrap();
            dump.push((table.to_owned(), rows.iter().map(|r| r.get::<String, _>("row")).collect()));
        }
        dump
    }
}

pub fn date(raw: &str) -> NaiveDate {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap()
}

pub fn dec(raw: &str) -> rust_decimal::Decimal {
    raw.parse().unwrap()
}

/// What a test expects of a movement, kept beside the events that made it.
#[derive(Debug, Clone)]
pub struct Expected {
    pub id: Uuid,
    pub owner: UserId,
    pub account_id: Uuid,
    pub direction: Direction,
    pub amount: rust_decimal::Decimal,
    pub occurred_on: NaiveDate,
    pub category_id: Option<Uuid>,
    pub voided: bool,
    pub version: u64,
}

/// Aggregates' states, folded from the events made so far, and those events as stored.
#[derive(Default)]
pub struct World {
    pub events: Vec<RecordedEvent>,
    pub movements: Vec<Expected>,
    stamper: Stamper,
    accounts: HashMap<AccountId, Account>,
    categories: HashMap<CategoryId, Category>,
    movement_states: HashMap<MovementId, Movement>,
}

impl World {
    pub fn new() -> Self {
        Self::default()
    }

    fn push<A: Aggregate>(&mut self, owner: UserId, stream_id: String, state: &mut A, events: Vec<A::Event>) {
        for event in events {
            state.apply(&event);
            let stamped = self.stamper.stamp(&stream_id, owner, &event);
            let recorded_at = Utc.timestamp_opt(1_790_000_000 + stamped.position as i64, 0).unwrap();
            self.events.push(RecordedEvent { recorded_at, ..stamped });
        }
    }

    pub fn open_account(&mut self, owner: UserId, name: &str, currency: &str, opening: &str) -> AccountId {
        let id = AccountId::new();
        let command = AccountCommand::Open {
            account_id: id,
            owner,
            name: Name::parse("name", name).unwrap(),
            kind: AccountKind::Checking,
            currency: Currency::parse("currency", currency).unwrap(),
            opening_balance: SignedAmount::parse("opening_balance", opening).unwrap(),
        };
        let mut state = Account::default();
        let events = account::decide(&state, command).unwrap();
        self.push(owner, id.stream_id(), &mut state, events);
        self.accounts.insert(id, state);
        id
    }

    pub fn rename_account(&mut self, owner: UserId, id: AccountId, name: &str) {
        let mut state = self.accounts.remove(&id).unwrap();
        let command = AccountCommand::Rename { owner, name: Name::parse("name", name).unwrap() };
        let events = account::decide(&state, command).unwrap();
        self.push(owner, id.stream_id(), &mut state, events);
        self.accounts.insert(id, state);
    }

    pub fn close_account(&mut self, owner: UserId, id: AccountId) {
        let mut state = self.accounts.remove(&id).unwrap();
        let events = account::decide(&state, AccountCommand::Close { owner }).unwrap();
        self.push(owner, id.stream_id(), &mut state, events);
        self.accounts.insert(id, state);
    }

    pub fn create_category(&mut self, owner: UserId, name: &str, parent: Option<CategoryId>) -> CategoryId {
        let id = CategoryId::new();
        let command = CategoryCommand::Create {
            category_id: id,
            owner,
            name: Name::parse("name", name).unwrap(),
            parent_id: parent,
        };
        let mut state = Category::default();
        let context = CategoryContext { parent: parent.map(|p| &self.categories[&p]), ..Default::default() };
        let events = category::decide(&state, command, context).unwrap();
        self.push(owner, id.stream_id(), &mut state, events);
        self.categories.insert(id, state);
        id
    }

    pub fn rename_category(&mut self, owner: UserId, id: CategoryId, name: &str) {
        let mut state = self.categories.remove(&id).unwrap();
        let command = CategoryCommand::Rename { owner, name: Name::parse("name", name).unwrap() };
        let events = category::decide(&state, command, CategoryContext::default()).unwrap();
        self.push(owner, id.stream_id(), &mut state, events);
        self.categories.insert(id, state);
    }

    /// Adds a rule matching `description` (a substring, or `/regex/`) and, if given, a
    /// direction and an amount range, to the category.
    pub fn add_rule(
        &mut self,
        owner: UserId,
        category: CategoryId,
        description: &str,
        direction: Option<Direction>,
        amounts: Option<(&str, &str)>,
        priority: i32,
    ) -> Rule {
        let amount = |raw| Amount::parse("amount", raw).unwrap();
        let criteria = Criteria::new(
            TextPattern::parse("description_pattern", description).unwrap(),
            None,
            amounts.map(|(min, _)| amount(min)),
            amounts.map(|(_, max)| amount(max)),
            direction,
        )
        .unwrap();
        let rule = Rule { rule_id: RuleId::new(), category_id: category, criteria, priority };
        let mut state = self.categories.remove(&category).unwrap();
        let command = CategoryCommand::AddRule { owner, rule: rule.clone() };
        let events = category::decide(&state, command, CategoryContext::default()).unwrap();
        self.push(owner, category.stream_id(), &mut state, events);
        self.categories.insert(category, state);
        rule
    }

    pub fn record(
        &mut self,
        owner: UserId,
        account: AccountId,
        direction: Direction,
        amount: &str,
        on: NaiveDate,
    ) -> MovementId {
        self.record_with(owner, account, direction, amount, on, "movement", None, None)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn record_with(
        &mut self,
        owner: UserId,
        account: AccountId,
        direction: Direction,
        amount: &str,
        on: NaiveDate,
        description: &str,
        counterparty: Option<&str>,
        category: Option<CategoryId>,
    ) -> MovementId {
        let id = MovementId::new();
        let command = MovementCommand::Record(RecordMovement {
            movement_id: id,
            owner,
            account_id: account,
            direction,
            amount: Amount::parse("amount", amount).unwrap(),
            occurred_on: OccurredOn::from_date(on),
            description: Description::parse("description", description).unwrap(),
            counterparty: counterparty.map(|c| Counterparty::parse("counterparty", c).unwrap()),
            category_id: category,
            source: MovementSource::Manual,
            source_ref: None,
        });
        let mut state = Movement::default();
        let context = MovementContext {
            account: Some(&self.accounts[&account]),
            category: category.map(|c| &self.categories[&c]),
            today: TODAY,
        };
        let events = movement::decide(&state, command, context).unwrap();
        let count = events.len() as u64;
        self.push(owner, id.stream_id(), &mut state, events);
        self.movement_states.insert(id, state);
        self.movements.push(Expected {
            id: id.as_uuid(),
            owner,
            account_id: account.as_uuid(),
            direction,
            amount: dec(amount),
            occurred_on: on,
            category_id: category.map(|c| c.as_uuid()),
            voided: false,
            version: count,
        });
        id
    }

    /// A movement as the store may hold it from before amounts were checked against the
    /// account's currency (0.0001 EUR), which `decide` now refuses: the projection must still
    /// fold it exactly.
    pub fn record_finer_than_currency(
        &mut self,
        owner: UserId,
        account: AccountId,
        direction: Direction,
        amount: &str,
        on: NaiveDate,
    ) -> MovementId {
        let id = self.record(owner, account, direction, "1", on);
        let amount = Amount::parse("amount", amount).unwrap();
        let stored = self.events.last_mut().unwrap();
        let mut event = MovementEvent::decode(&stored.event_type, stored.schema_version, &stored.payload).unwrap();
        let MovementEvent::MovementRecorded { amount: recorded, .. } = &mut event else { unreachable!() };
        *recorded = amount;
        stored.payload = event.payload().unwrap();
        if let Some(movement) = self.movement_states.get_mut(&id).and_then(|m| m.recorded.as_mut()) {
            movement.amount = amount;
        }
        self.expected(id).amount = amount.value();
        id
    }

    pub fn assign(&mut self, owner: UserId, id: MovementId, category: CategoryId) {
        let command = MovementCommand::AssignCategory {
            owner,
            category_id: category,
            assigned_by: AssignedBy::User,
            rule_id: None,
        };
        let events = self.decide_movement(owner, id, command, Some(category));
        assert_eq!(events, 1, "the assignment changed nothing");
        let expected = self.expected(id);
        expected.category_id = Some(category.as_uuid());
        expected.version += 1;
    }

    /// Sets `category`'s budget for `period` through the domain's `decide`; its id as the
    /// application derives it.
    pub fn set_budget(
        &mut self,
        owner: UserId,
        category: CategoryId,
        period: cashflow_domain::budget::BudgetPeriod,
        amount: &str,
    ) -> cashflow_domain::BudgetId {
        use cashflow_domain::budget::{self, AlertThresholds, Budget, BudgetCommand, BudgetContext};
        let budget_id = cashflow_app::handler::budget_id_for(owner, category, period);
        let stream_id = budget_id.stream_id();
        let mut state: Budget = cashflow_domain::fold(
            self.events
                .iter()
                .filter(|e| e.stream_id == stream_id)
                .map(|e| budget::BudgetEvent::decode(&e.event_type, e.schema_version, &e.payload).unwrap())
                .collect::<Vec<_>>()
                .iter(),
        );
        let command = BudgetCommand::Set {
            budget_id,
            owner,
            category_id: category,
            period,
            amount: cashflow_domain::Amount::parse("amount", amount).unwrap(),
            currency: cashflow_domain::Currency::parse("currency", "EUR").unwrap(),
            alert_thresholds: AlertThresholds::parse("alert_thresholds", &[]).unwrap(),
        };
        let events =
            budget::decide(&state, command, BudgetContext { category: Some(&self.categories[&category]) }).unwrap();
        self.push(owner, stream_id, &mut state, events);
        budget_id
    }

    pub fn void(&mut self, owner: UserId, id: MovementId) {
        let command = MovementCommand::Void { owner, reason: Reason::parse("reason", "mistake").unwrap() };
        self.decide_movement(owner, id, command, None);
        let expected = self.expected(id);
        expected.voided = true;
        expected.version += 1;
    }

    fn decide_movement(
        &mut self,
        owner: UserId,
        id: MovementId,
        command: MovementCommand,
        category: Option<CategoryId>,
    ) -> usize {
        let mut state = self.movement_states.remove(&id).unwrap();
        let context = MovementContext { account: None, category: category.map(|c| &self.categories[&c]), today: TODAY };
        let events = movement::decide(&state, command, context).unwrap();
        let count = events.len();
        self.push(owner, id.stream_id(), &mut state, events);
        self.movement_states.insert(id, state);
        count
    }

    fn expected(&mut self, id: MovementId) -> &mut Expected {
        self.movements.iter_mut().find(|m| m.id == id.as_uuid()).unwrap()
    }
}

/// A history with every event type, two owners and two currencies, for the replay and
/// pagination tests. Returns the world and the two owners.
pub fn rich_history() -> (World, UserId, UserId) {
    let mut world = World::new();
    let alice = UserId::new();
    let bob = UserId::new();
    let checking = world.open_account(alice, "Checking", "EUR", "100.00");
    let savings = world.open_account(alice, "Savings", "USD", "-20.5");
    let food = world.create_category(alice, "Food", None);
    let groceries = world.create_category(alice, "Groceries", Some(food));
    let travel = world.create_category(alice, "Travel", None);
    let bobs = world.open_account(bob, "Bob's", "EUR", "0");
    let bobs_food = world.create_category(bob, "Food", None);

    let mut recorded = Vec::new();
    for i in 0..120u32 {
        // 15 distinct days over three months, so many movements share a day and the id breaks ties.
        let on = date("2026-08-01") + chrono::Days::new(u64::from(i % 15) * 7);
        let (account, direction) = match i % 5 {
            0 => (savings, Direction::Income),
            1 | 2 => (checking, Direction::Expense),
            3 => (checking, Direction::Income),
            _ => (savings, Direction::Expense),
        };
        let category = match i % 4 {
            0 => None,
            1 => Some(food),
            2 => Some(groceries),
            _ => Some(travel),
        };
        let amount = format!("{}.{:02}", i % 37 + 1, (i * 13) % 100);
        let counterparty = (i % 3 == 0).then_some("Shop");
        let id =
            world.record_with(alice, account, direction, &amount, on, &format!("movement {i}"), counterparty, category);
        recorded.push((id, category));
    }
    for (i, (id, category)) in recorded.iter().enumerate() {
        match (i % 9, category) {
            (0, None) => world.assign(alice, *id, travel),
            (1, Some(c)) if *c != food => world.assign(alice, *id, food),
            (2, _) => world.void(alice, *id),
            _ => {}
        }
    }
    // Recategorised after being voided is refused by the domain; voided after recategorised is not.
    let (late, _) = recorded[10];
    world.assign(alice, late, groceries);
    world.void(alice, late);
    // Budgets, one set twice.
    let august = cashflow_domain::Month::parse("month", "2026-08").unwrap();
    world.set_budget(alice, food, cashflow_domain::budget::BudgetPeriod::From(august), "300");
    world.set_budget(alice, travel, cashflow_domain::budget::BudgetPeriod::Month(august), "50");
    world.set_budget(alice, food, cashflow_domain::budget::BudgetPeriod::From(august), "320.5");

    world.rename_account(alice, checking, "Everyday");
    world.add_rule(alice, food, "movement 1", None, None, 0);
    world.add_rule(alice, groceries, r"/^movement \d+5$/", Some(Direction::Expense), Some(("1", "20.5")), 3);
    world.rename_category(alice, travel, "Trips");
    world.add_rule(alice, travel, "shop", Some(Direction::Income), None, -2);
    world.add_rule(bob, bobs_food, "market", None, None, 1);
    let spare = world.open_account(alice, "Spare", "EUR", "0");
    world.close_account(alice, spare);
    let bob_movement =
        world.record_with(bob, bobs, Direction::Expense, "9.99", date("2026-09-09"), "b", None, Some(bobs_food));
    world.void(bob, bob_movement);
    world.record(bob, bobs, Direction::Income, "1000", date("2026-09-10"));
    (world, alice, bob)
}
