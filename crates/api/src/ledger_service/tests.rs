//! Command handling through `LedgerService` over the in-memory event store.

use crate::auth::Caller;
use crate::ledger_service::LedgerApi;
use async_trait::async_trait;
use cashflow_app::{BudgetCommands, CommandHandler, LedgerLookups, MAX_ATTEMPTS, PortError, RuleCandidate, RuleRunner};
use cashflow_domain::AccountId;
use cashflow_domain::UserId;
use cashflow_domain::rule::CompiledRule;
use cashflow_eventstore::{
    AppendOutcome, AppendRequest, CommandMetadata, EventStore, ExpectedVersion, InMemoryEventStore, NewEvent,
    RecordedEvent, StoreError,
};
use cashflow_proto::v1 as pb;
use cashflow_proto::v1::ledger_service_server::LedgerService;
use chrono::Utc;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

struct World {
    store: Arc<InMemoryEventStore>,
    api: LedgerApi,
}

/// A ledger read model that has applied nothing yet: these tests run no ApplyRules.
struct EmptyLedger;

#[async_trait]
impl LedgerLookups for EmptyLedger {
    async fn account_ids(&self, _: UserId) -> Result<Vec<AccountId>, PortError> {
        Ok(Vec::new())
    }

    async fn compiled_rules(&self, _: UserId) -> Result<Vec<CompiledRule>, PortError> {
        Ok(Vec::new())
    }

    async fn rules_version(&self, _: UserId) -> Result<cashflow_app::RulesVersion, PortError> {
        Ok(cashflow_app::RulesVersion::default())
    }

    async fn rule_candidates(
        &self,
        _: UserId,
        _: Option<chrono::NaiveDate>,
        _: Option<chrono::NaiveDate>,
        _: Option<(chrono::NaiveDate, Uuid)>,
        _: u32,
    ) -> Result<Vec<RuleCandidate>, PortError> {
        Ok(Vec::new())
    }
}

fn ledger_api(store: Arc<dyn EventStore>) -> LedgerApi {
    let handler = CommandHandler::new(store);
    let budgets = BudgetCommands::new(handler.clone(), Arc::new(EmptyLedger));
    LedgerApi::new(handler.clone(), RuleRunner::new(handler, Arc::new(EmptyLedger)), budgets)
}

fn world() -> World {
    let store = Arc::new(InMemoryEventStore::new());
    let api = ledger_api(store.clone());
    World { store, api }
}

fn as_user<T>(user: UserId, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(Caller { user_id: user });
    request
}

fn command_id() -> String {
    Uuid::now_v7().to_string()
}

fn violated_field(status: &Status) -> String {
    let bad_request = status.get_details_bad_request().expect("a BadRequest detail");
    bad_request.field_violations[0].field.clone()
}

fn today() -> String {
    Utc::now().date_naive().format("%Y-%m-%d").to_string()
}

async fn open_account(api: &LedgerApi, user: UserId) -> String {
    let request = pb::OpenAccountRequest {
        command_id: command_id(),
        name: "Main".into(),
        currency: "EUR".into(),
        opening_balance: Some("100".into()),
    };
    api.open_account(as_user(user, request)).await.unwrap().into_inner().account_id
}

async fn create_category(api: &LedgerApi, user: UserId, name: &str) -> String {
    let request = pb::CreateCategoryRequest { command_id: command_id(), name: name.into(), parent_id: None };
    api.create_category(as_user(user, request)).await.unwrap().into_inner().category_id
}

fn record(account_id: &str, command_id: String) -> pb::RecordMovementRequest {
    pb::RecordMovementRequest {
        command_id,
        account_id: account_id.into(),
        direction: pb::Direction::Expense.into(),
        amount: "12.50".into(),
        occurred_on: today(),
        description: "Groceries".into(),
        counterparty: None,
        category_id: None,
    }
}

async fn record_movement(api: &LedgerApi, user: UserId, account_id: &str) -> pb::RecordMovementResponse {
    api.record_movement(as_user(user, record(account_id, command_id()))).await.unwrap().into_inner()
}

fn assign(movement_id: &str, category_id: &str, expected_version: Option<u64>) -> pb::AssignCategoryRequest {
    pb::AssignCategoryRequest {
        command_id: command_id(),
        movement_id: movement_id.into(),
        category_id: category_id.into(),
        expected_version,
    }
}

fn void(movement_id: &str, command_id: String) -> pb::VoidMovementRequest {
    pb::VoidMovementRequest { command_id, movement_id: movement_id.into(), reason: "duplicate".into() }
}

#[tokio::test]
async fn a_recorded_movement_is_stored_with_its_metadata_and_position() {
    let World { store, api } = world();
    let user = UserId::new();
    let account_id = open_account(&api, user).await;
    let command = command_id();
    let mut request = as_user(user, record(&account_id, command.clone()));
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    request.metadata_mut().insert("traceparent", traceparent.parse().unwrap());
    let response = api.record_movement(request).await.unwrap().into_inner();

    let events = store.read_stream(&format!("movement-{}", response.movement_id)).await.unwrap();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.event_type, "MovementRecorded");
    assert_eq!(event.position, response.position);
    assert_eq!(event.position, store.head().await.unwrap());
    assert_eq!(event.owner, user.as_uuid());
    assert_eq!(event.command_id.to_string(), command);
    assert_eq!(event.correlation_id.to_string(), command);
    assert_eq!(event.traceparent.as_deref(), Some(traceparent));
    assert_eq!(event.payload["currency"], json!("EUR"));
    assert_eq!(event.payload["account_id"], json!(account_id));
}

#[tokio::test]
async fn a_retried_command_gets_its_first_answer_and_appends_nothing() {
    let World { store, api } = world();
    let user = UserId::new();
    let account_id = open_account(&api, user).await;
    let command = command_id();
    let first = api.record_movement(as_user(user, record(&account_id, command.clone()))).await.unwrap().into_inner();
    let head = store.head().await.unwrap();
    let again = api.record_movement(as_user(user, record(&account_id, command))).await.unwrap().into_inner();
    assert_eq!(again, first);
    assert_eq!(store.head().await.unwrap(), head);

    let open = pb::OpenAccountRequest {
        command_id: command_id(),
        name: "Savings".into(),
        currency: "EUR".into(),
        opening_balance: None,
    };
    let first = api.open_account(as_user(user, open.clone())).await.unwrap().into_inner();
    let again = api.open_account(as_user(user, open)).await.unwrap().into_inner();
    assert_eq!(again, first);
}

#[tokio::test]
async fn a_retried_void_gets_its_first_answer_though_voiding_again_is_refused() {
    let World { store, api } = world();
    let user = UserId::new();
    let account_id = open_account(&api, user).await;
    let movement = record_movement(&api, user, &account_id).await;
    let command = command_id();
    let first = api.void_movement(as_user(user, void(&movement.movement_id, command.clone()))).await.unwrap();
    let head = store.head().await.unwrap();
    let again = api.void_movement(as_user(user, void(&movement.movement_id, command))).await.unwrap();
    assert_eq!(again.into_inner(), first.into_inner());
    assert_eq!(store.head().await.unwrap(), head);

    let status = api.void_movement(as_user(user, void(&movement.movement_id, command_id()))).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn a_command_id_reused_for_another_kind_of_command_is_refused() {
    let World { api, .. } = world();
    let user = UserId::new();
    let account_id = open_account(&api, user).await;
    let command = command_id();
    create_category_with(&api, user, &command).await;
    let status = api.record_movement(as_user(user, record(&account_id, command))).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_field(&status), "command_id");
}

async fn create_category_with(api: &LedgerApi, user: UserId, command_id: &str) -> String {
    let request = pb::CreateCategoryRequest { command_id: command_id.into(), name: "Food".into(), parent_id: None };
    api.create_category(as_user(user, request)).await.unwrap().into_inner().category_id
}

#[tokio::test]
async fn a_stale_expected_version_is_aborted_and_the_current_one_accepted() {
    let World { store, api } = world();
    let user = UserId::new();
    let account_id = open_account(&api, user).await;
    let movement = record_movement(&api, user, &account_id).await;
    let food = create_category(&api, user, "Food").await;
    let home = create_category(&api, user, "Home").await;

    api.assign_category(as_user(user, assign(&movement.movement_id, &food, Some(1)))).await.unwrap();
    let head = store.head().await.unwrap();
    let status = api.assign_category(as_user(user, assign(&movement.movement_id, &home, Some(1)))).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(store.head().await.unwrap(), head, "an aborted command appends nothing");

    let response = api.assign_category(as_user(user, assign(&movement.movement_id, &home, Some(2)))).await.unwrap();
    let events = store.read_stream(&format!("movement-{}", movement.movement_id)).await.unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].payload["category_id"], json!(home));
    assert_eq!(response.into_inner().position, events[2].position);
}

#[tokio::test]
async fn another_users_resources_are_not_found() {
    let World { store, api } = world();
    let (alice, mallory) = (UserId::new(), UserId::new());
    let account_id = open_account(&api, alice).await;
    let movement = record_movement(&api, alice, &account_id).await;
    let alices_food = create_category(&api, alice, "Food").await;
    let mallorys_food = create_category(&api, mallory, "Food").await;
    let head = store.head().await.unwrap();

    let status = api.record_movement(as_user(mallory, record(&account_id, command_id()))).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "recording on another's account");
    let status = api.void_movement(as_user(mallory, void(&movement.movement_id, command_id()))).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "voiding another's movement");
    for expected_version in [None, Some(1), Some(7)] {
        let request = assign(&movement.movement_id, &mallorys_food, expected_version);
        let status = api.assign_category(as_user(mallory, request)).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "categorising another's movement ({expected_version:?})");
    }
    let request = assign(&movement.movement_id, &mallorys_food, None);
    let status = api.assign_category(as_user(alice, request)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "using another's category");
    let request =
        pb::CreateCategoryRequest { command_id: command_id(), name: "Sub".into(), parent_id: Some(alices_food) };
    let status = api.create_category(as_user(mallory, request)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "nesting under another's category");
    assert_eq!(store.head().await.unwrap(), head, "nothing was appended");
}

#[tokio::test]
async fn a_category_is_renamed_once_by_its_owner_only() {
    let World { store, api } = world();
    let (alice, mallory) = (UserId::new(), UserId::new());
    let food = create_category(&api, alice, "Food").await;
    let rename = |name: &str, command_id: String| pb::RenameCategoryRequest {
        command_id,
        category_id: food.clone(),
        name: name.into(),
    };

    let status = api.rename_category(as_user(mallory, rename("Mine", command_id()))).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "renaming another's category");
    let status = api.rename_category(as_user(alice, rename("  ", command_id()))).await.unwrap_err();
    assert_eq!((status.code(), violated_field(&status).as_str()), (Code::InvalidArgument, "name"));

    let command = command_id();
    let renamed = api.rename_category(as_user(alice, rename("Groceries", command.clone()))).await.unwrap();
    let position = renamed.into_inner().position;
    let events = store.read_stream(&format!("category-{food}")).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>(),
        ["CategoryCreated", "CategoryRenamed"]
    );
    assert_eq!(events[1].payload["name"], "Groceries");
    assert_eq!(events[1].position, position);

    let again = api.rename_category(as_user(alice, rename("Groceries", command))).await.unwrap();
    assert_eq!(again.into_inner().position, position, "a retried command gets its first answer");
    api.rename_category(as_user(alice, rename("Groceries", command_id()))).await.unwrap();
    assert_eq!(store.head().await.unwrap(), position, "the same name again appends nothing");
}

#[tokio::test]
async fn an_unknown_account_or_category_is_not_found() {
    let World { api, .. } = world();
    let user = UserId::new();
    let status = api.record_movement(as_user(user, record(&Uuid::now_v7().to_string(), command_id()))).await;
    assert_eq!(status.unwrap_err().code(), Code::NotFound);
    let account_id = open_account(&api, user).await;
    let mut request = record(&account_id, command_id());
    request.category_id = Some(Uuid::now_v7().to_string());
    assert_eq!(api.record_movement(as_user(user, request)).await.unwrap_err().code(), Code::NotFound);
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_the_field() {
    let World { store, api } = world();
    let user = UserId::new();
    let account_id = open_account(&api, user).await;
    let head = store.head().await.unwrap();
    let mut request = record(&account_id, command_id());
    request.amount = "12,50".into();
    let status = api.record_movement(as_user(user, request)).await.unwrap_err();
    assert_eq!((status.code(), violated_field(&status).as_str()), (Code::InvalidArgument, "amount"));

    let mut request = record(&account_id, command_id());
    request.occurred_on = "2999-01-01".into();
    let status = api.record_movement(as_user(user, request)).await.unwrap_err();
    assert_eq!((status.code(), violated_field(&status).as_str()), (Code::InvalidArgument, "occurred_on"));

    let request = record(&account_id, String::new());
    let status = api.record_movement(as_user(user, request)).await.unwrap_err();
    assert_eq!((status.code(), violated_field(&status).as_str()), (Code::InvalidArgument, "command_id"));
    assert_eq!(store.head().await.unwrap(), head);
}

#[tokio::test]
async fn a_request_without_a_caller_is_unauthenticated() {
    let World { api, .. } = world();
    let request = Request::new(record(&Uuid::now_v7().to_string(), command_id()));
    assert_eq!(api.record_movement(request).await.unwrap_err().code(), Code::Unauthenticated);
}

/// What the rival writer appends to the stream it races for.
#[derive(Clone, Copy)]
enum Rival {
    Voids,
    Recategorises,
}

impl Rival {
    fn event(self) -> NewEvent {
        let (event_type, payload) = match self {
            Self::Voids => ("MovementVoided", json!({ "reason": "voided by a rival writer" })),
            Self::Recategorises => {
                ("CategoryAssigned", json!({ "category_id": Uuid::now_v7(), "assigned_by": "user" }))
            }
        };
        NewEvent { event_id: Uuid::now_v7(), event_type: event_type.into(), schema_version: 1, payload }
    }
}

/// Lets a rival writer win the race for a stream `races` times: just before delegating an
/// append with an exact expected version, it appends the rival's event to that stream.
struct RacingStore {
    inner: InMemoryEventStore,
    rival: Rival,
    races: AtomicU32,
    appends: AtomicU32,
}

#[async_trait]
impl EventStore for RacingStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        if let ExpectedVersion::Exact(version) = request.expected_version
            && self.races.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
        {
            let rival = AppendRequest {
                stream_id: request.stream_id.clone(),
                expected_version: ExpectedVersion::Exact(version),
                metadata: CommandMetadata { command_id: Uuid::now_v7(), ..request.metadata.clone() },
                guards: Vec::new(),
                events: vec![self.rival.event()],
            };
            self.inner.append(rival).await?;
        }
        self.appends.fetch_add(1, Ordering::SeqCst);
        self.inner.append(request).await
    }

    async fn find_command(&self, owner: Uuid, command_id: Uuid) -> Result<Option<AppendOutcome>, StoreError> {
        self.inner.find_command(owner, command_id).await
    }

    async fn read_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream_id).await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after, limit).await
    }

    async fn head(&self) -> Result<u64, StoreError> {
        self.inner.head().await
    }

    async fn wait_for_events(&self, after: u64, timeout: Duration) -> Result<u64, StoreError> {
        self.inner.wait_for_events(after, timeout).await
    }
}

struct Race {
    store: Arc<RacingStore>,
    api: LedgerApi,
    user: UserId,
    movement_id: String,
    food: String,
    /// Appends made while setting up: account, movement, category.
    setup_appends: u32,
}

/// A user with an account, a movement and a category, on a store whose next `races` appends
/// to an existing stream each lose to `rival`.
async fn race(rival: Rival, races: u32) -> Race {
    let store = Arc::new(RacingStore {
        inner: InMemoryEventStore::new(),
        rival,
        races: AtomicU32::new(0),
        appends: AtomicU32::new(0),
    });
    let api = ledger_api(store.clone());
    let user = UserId::new();
    let account_id = open_account(&api, user).await;
    let movement_id = record_movement(&api, user, &account_id).await.movement_id;
    let food = create_category(&api, user, "Food").await;
    store.races.store(races, Ordering::SeqCst);
    Race { store, api, user, movement_id, food, setup_appends: 3 }
}

#[tokio::test]
async fn a_lost_race_without_expected_version_is_decided_again_and_succeeds() {
    let Race { store, api, user, movement_id, food, setup_appends } = race(Rival::Recategorises, 1).await;
    let response = api.assign_category(as_user(user, assign(&movement_id, &food, None))).await.unwrap();
    let events = store.read_stream(&format!("movement-{movement_id}")).await.unwrap();
    let types: Vec<_> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["MovementRecorded", "CategoryAssigned", "CategoryAssigned"]);
    assert_eq!(events[2].payload["category_id"], json!(food), "our decision was appended after the rival's");
    assert_eq!(response.into_inner().position, events[2].position);
    assert_eq!(store.appends.load(Ordering::SeqCst), setup_appends + 2, "one lost attempt, one that won");
}

#[tokio::test]
async fn a_lost_race_is_decided_again_on_the_reloaded_state() {
    let Race { store, api, user, movement_id, food, setup_appends } = race(Rival::Voids, 1).await;
    let status = api.assign_category(as_user(user, assign(&movement_id, &food, None))).await.unwrap_err();
    // The rival voided the movement; only a decision on the reloaded stream can know.
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(store.appends.load(Ordering::SeqCst), setup_appends + 1);
}

#[tokio::test]
async fn a_lost_race_with_expected_version_is_aborted_at_once() {
    let Race { store, api, user, movement_id, food, setup_appends } = race(Rival::Recategorises, 1).await;
    let status = api.assign_category(as_user(user, assign(&movement_id, &food, Some(1)))).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(store.appends.load(Ordering::SeqCst), setup_appends + 1, "no second attempt");
}

#[tokio::test]
async fn a_stream_that_keeps_moving_is_aborted_after_bounded_attempts() {
    let Race { store, api, user, movement_id, setup_appends, .. } = race(Rival::Recategorises, u32::MAX).await;
    let status = api.void_movement(as_user(user, void(&movement_id, command_id()))).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(store.appends.load(Ordering::SeqCst), setup_appends + MAX_ATTEMPTS);
}
