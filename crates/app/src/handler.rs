//! The command handler: load, pure `decide`, append with an expected version and the
//! command's idempotency key; on a version conflict, load and decide again.
//!
//! A retried command (same owner and `command_id`) gets the stored outcome of its first
//! append and appends nothing, even when deciding again today would refuse it (voiding twice).

use crate::cache::{Cached, StateCache};
use crate::context::CommandContext;
use crate::error::AppError;
use crate::input;
use cashflow_domain::account::{self, Account, AccountCommand, AccountKind};
use cashflow_domain::category::{self, Category, CategoryCommand, CategoryContext};
use cashflow_domain::movement::{self, AssignedBy, Movement, MovementCommand, MovementContext, MovementSource};
use cashflow_domain::{
    AccountId, Aggregate, CategoryId, DomainError, DomainEvent, MovementId, RuleId, StreamId, ValidationError, fold,
};
use cashflow_eventstore::{
    AppendOutcome, AppendRequest, EventStore, ExpectedVersion, NewEvent, StoreError, StreamGuard,
};
use std::sync::Arc;
use tracing::field::Empty;
use uuid::Uuid;

/// How many times a command is decided again after losing a race for a stream version.
/// Conflicts under normal load settle in one or two rounds; past this the stream is hot
/// enough that the client should back off (it gets `ABORTED`).
pub const MAX_ATTEMPTS: u32 = 5;

/// A resource a command created, and the consistency token of its last event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created<Id> {
    pub id: Id,
    pub position: u64,
}

/// What an assignment did: its consistency token, and whether the category changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assigned {
    pub position: u64,
    pub changed: bool,
}

/// An aggregate folded from its stream, and the stream's version (0 when it does not exist).
#[derive(Debug)]
struct Loaded<A> {
    state: A,
    version: u64,
}

/// What one run of a command did.
enum Ran {
    /// Appended now.
    Appended(AppendOutcome),
    /// An earlier command with the same id already did it; this is its outcome.
    Replayed(AppendOutcome),
}

impl Ran {
    fn outcome(&self) -> AppendOutcome {
        match self {
            Self::Appended(outcome) | Self::Replayed(outcome) => outcome.clone(),
        }
    }
}

mod budgets;
mod invoices;
mod notifications;
mod reports;
mod rules;
#[cfg(test)]
mod tests;

pub use budgets::{BudgetCommands, budget_id_for};
pub use invoices::{InvoiceCommands, blob_key, invoice_id_for};
pub use notifications::{AddedChannel, NotificationCommands, RaisedOutcome, notification_id_for, notifier_stream};
pub use reports::{ReportCommands, Settlement};
pub use rules::RuleRunner;

/// How many folded states of each kind (accounts, categories) a handler keeps (ADR 0028).
/// An account or category state is a few hundred bytes; 50,000 of each is a few tens of MB.
pub const CACHED_STATES: usize = 50_000;

/// Runs the commands that need nothing but the event store. [`InvoiceCommands`] and
/// [`RuleRunner`] build on it with the ports they read through.
///
/// Clones share one cache of the account and category states a movement is decided on; see
/// [`crate::cache`] and ADR 0028 for why a stale entry can cost a retry but never a wrong answer.
#[derive(Clone)]
pub struct CommandHandler {
    store: Arc<dyn EventStore>,
    accounts: Arc<StateCache<Account>>,
    categories: Arc<StateCache<Category>>,
}

impl std::fmt::Debug for CommandHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandHandler").finish_non_exhaustive()
    }
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

impl CommandHandler {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self::with_cache_capacity(store, CACHED_STATES)
    }

    /// A handler that keeps at most `capacity` account and `capacity` category states.
    pub fn with_cache_capacity(store: Arc<dyn EventStore>, capacity: usize) -> Self {
        Self { store, accounts: Arc::new(StateCache::new(capacity)), categories: Arc::new(StateCache::new(capacity)) }
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    #[tracing::instrument(name = "command.open_account", skip_all, err(level = "info"),
        fields(owner = %ctx.owner, command_id = %ctx.command_id,
            stream_id = Empty, expected_version = Empty, events_appended = Empty))]
    pub async fn open_account(
        &self,
        ctx: &CommandContext,
        input: input::OpenAccount,
    ) -> Result<Created<AccountId>, AppError> {
        let account_id = AccountId::new();
        let ran = self
            .run(ctx, true, || async {
                let command = AccountCommand::Open {
                    account_id,
                    owner: ctx.owner,
                    name: input.name.clone(),
                    kind: AccountKind::default(),
                    currency: input.currency,
                    opening_balance: input.opening_balance,
                };
                // A fresh id has no stream: nothing to load, and `NoStream` guards it anyway.
                let events = account::decide(&Account::default(), command)?;
                self.append(ctx, account_id.stream_id(), ExpectedVersion::NoStream, &events).await
            })
            .await?;
        let id = Self::created_id(&ran, AccountId::STREAM_CATEGORY, account_id.as_uuid())?;
        Ok(Created { id: AccountId::from_uuid(id), position: ran.outcome().position })
    }

    pub async fn record_movement(
        &self,
        ctx: &CommandContext,
        input: input::RecordMovement,
    ) -> Result<Created<MovementId>, AppError> {
        self.record_movement_from(ctx, input, MovementSource::Manual, None).await
    }

    /// Records a movement that came from somewhere other than a person's hand (an invoice).
    #[tracing::instrument(name = "command.record_movement", skip_all, err(level = "info"),
        fields(owner = %ctx.owner, command_id = %ctx.command_id,
            stream_id = Empty, expected_version = Empty, events_appended = Empty, account_id = %input.account_id))]
    pub async fn record_movement_from(
        &self,
        ctx: &CommandContext,
        input: input::RecordMovement,
        source: MovementSource,
        source_ref: Option<String>,
    ) -> Result<Created<MovementId>, AppError> {
        let movement_id = MovementId::new();
        let ran = self
            .run(ctx, true, || async {
                // Both may come from the cache. The account's state can change (it may close), so
                // the append is guarded on the version decided on; a category's id and owner,
                // all the decision reads of it, never change once it exists.
                let account_stream = input.account_id.stream_id();
                let account = self.load_cached(&self.accounts, &account_stream).await?;
                let category = match input.category_id {
                    Some(id) => Some(self.load_cached(&self.categories, &id.stream_id()).await?),
                    None => None,
                };
                let command = MovementCommand::Record(movement::RecordMovement {
                    movement_id,
                    owner: ctx.owner,
                    account_id: input.account_id,
                    direction: input.direction,
                    amount: input.amount,
                    occurred_on: input.occurred_on,
                    description: input.description.clone(),
                    counterparty: input.counterparty.clone(),
                    category_id: input.category_id,
                    source,
                    source_ref: source_ref.clone(),
                });
                let context = MovementContext {
                    account: Some(&account.state),
                    category: category.as_ref().map(|c| &c.state),
                    today: today(),
                };
                let events = movement::decide(&Movement::default(), command, context)?;
                let guard = StreamGuard { stream_id: account_stream, version: account.version };
                self.append_guarded(ctx, movement_id.stream_id(), ExpectedVersion::NoStream, vec![guard], &events).await
            })
            .await?;
        let id = Self::created_id(&ran, MovementId::STREAM_CATEGORY, movement_id.as_uuid())?;
        Ok(Created { id: MovementId::from_uuid(id), position: ran.outcome().position })
    }

    /// With the client's `expected_version`, a movement that moved on is `ABORTED` at once:
    /// the client decided on a state that is gone. Without it, conflicts are retried.
    pub async fn assign_category(&self, ctx: &CommandContext, input: input::AssignCategory) -> Result<u64, AppError> {
        Ok(self.assign_category_as(ctx, input, AssignedBy::User, None).await?.position)
    }

    /// Assigns a category on behalf of `assigned_by` (a rule names itself). A rule's or OCR's
    /// assignment never replaces a person's: the command then appends nothing.
    #[tracing::instrument(name = "command.assign_category", skip_all, err(level = "info"),
        fields(owner = %ctx.owner, command_id = %ctx.command_id, assigned_by = ?assigned_by,
            stream_id = Empty, expected_version = Empty, events_appended = Empty, movement_id = %input.movement_id))]
    pub async fn assign_category_as(
        &self,
        ctx: &CommandContext,
        input: input::AssignCategory,
        assigned_by: AssignedBy,
        rule_id: Option<RuleId>,
    ) -> Result<Assigned, AppError> {
        let changed = std::sync::atomic::AtomicBool::new(false);
        let ran = self
            .run(ctx, input.expected_version.is_none(), || async {
                let stream_id = input.movement_id.stream_id();
                let movement = self.load::<Movement>(&stream_id).await?;
                // Ownership first: a version mismatch must not reveal another user's movement.
                if movement.state.owned_by(ctx.owner).is_none() {
                    return Err(DomainError::NotFound { what: "movement" }.into());
                }
                if let Some(expected) = input.expected_version
                    && expected != movement.version
                {
                    return Err(StoreError::Conflict {
                        stream_id,
                        expected: ExpectedVersion::Exact(expected),
                        actual: movement.version,
                    }
                    .into());
                }
                // Only the category's id and owner are read, and they never change: no guard.
                let category = self.load_cached(&self.categories, &input.category_id.stream_id()).await?;
                let command = MovementCommand::AssignCategory {
                    owner: ctx.owner,
                    category_id: input.category_id,
                    assigned_by,
                    rule_id,
                };
                let context = MovementContext { account: None, category: Some(&category.state), today: today() };
                let events = movement::decide(&movement.state, command, context)?;
                changed.store(!events.is_empty(), std::sync::atomic::Ordering::Relaxed);
                self.append(ctx, stream_id, ExpectedVersion::Exact(movement.version), &events).await
            })
            .await?;
        let changed = match &ran {
            Ran::Appended(_) => changed.load(std::sync::atomic::Ordering::Relaxed),
            // An earlier run with this id decided; an empty one is remembered at the head's
            // position then, where the event is some other command's.
            Ran::Replayed(outcome) => {
                let events = self.store.read_all(outcome.position.saturating_sub(1), 1).await?;
                events
                    .first()
                    .is_some_and(|e| e.position == outcome.position && e.command_id == ctx.command_id.as_uuid())
            }
        };
        Ok(Assigned { position: ran.outcome().position, changed })
    }

    #[tracing::instrument(name = "command.void_movement", skip_all, err(level = "info"),
        fields(owner = %ctx.owner, command_id = %ctx.command_id,
            stream_id = Empty, expected_version = Empty, events_appended = Empty, movement_id = %input.movement_id))]
    pub async fn void_movement(&self, ctx: &CommandContext, input: input::VoidMovement) -> Result<u64, AppError> {
        let ran = self
            .run(ctx, true, || async {
                let stream_id = input.movement_id.stream_id();
                let movement = self.load::<Movement>(&stream_id).await?;
                let command = MovementCommand::Void { owner: ctx.owner, reason: input.reason.clone() };
                let context = MovementContext { account: None, category: None, today: today() };
                let events = movement::decide(&movement.state, command, context)?;
                self.append(ctx, stream_id, ExpectedVersion::Exact(movement.version), &events).await
            })
            .await?;
        Ok(ran.outcome().position)
    }

    #[tracing::instrument(name = "command.create_category", skip_all, err(level = "info"),
        fields(owner = %ctx.owner, command_id = %ctx.command_id,
            stream_id = Empty, expected_version = Empty, events_appended = Empty))]
    pub async fn create_category(
        &self,
        ctx: &CommandContext,
        input: input::CreateCategory,
    ) -> Result<Created<CategoryId>, AppError> {
        let category_id = CategoryId::new();
        let ran = self
            .run(ctx, true, || async {
                let parent = match input.parent_id {
                    Some(id) => Some(self.load::<Category>(&id.stream_id()).await?),
                    None => None,
                };
                let command = CategoryCommand::Create {
                    category_id,
                    owner: ctx.owner,
                    name: input.name.clone(),
                    parent_id: input.parent_id,
                };
                let context = CategoryContext { parent: parent.as_ref().map(|p| &p.state), ..Default::default() };
                let events = category::decide(&Category::default(), command, context)?;
                self.append(ctx, category_id.stream_id(), ExpectedVersion::NoStream, &events).await
            })
            .await?;
        let id = Self::created_id(&ran, CategoryId::STREAM_CATEGORY, category_id.as_uuid())?;
        Ok(Created { id: CategoryId::from_uuid(id), position: ran.outcome().position })
    }

    #[tracing::instrument(name = "command.rename_category", skip_all, err(level = "info"),
        fields(owner = %ctx.owner, command_id = %ctx.command_id,
            stream_id = Empty, expected_version = Empty, events_appended = Empty, category_id = %input.category_id))]
    pub async fn rename_category(&self, ctx: &CommandContext, input: input::RenameCategory) -> Result<u64, AppError> {
        let ran = self
            .run(ctx, true, || async {
                let stream_id = input.category_id.stream_id();
                let category = self.load::<Category>(&stream_id).await?;
                let command = CategoryCommand::Rename { owner: ctx.owner, name: input.name.clone() };
                let events = category::decide(&category.state, command, CategoryContext::default())?;
                self.append(ctx, stream_id, ExpectedVersion::Exact(category.version), &events).await
            })
            .await?;
        Ok(ran.outcome().position)
    }

    /// Runs one attempt of a command, and runs it again when it lost a version race and
    /// `retry_on_conflict` allows.
    ///
    /// The happy path costs no lookup of the idempotency key: the store claims it in the
    /// append itself and answers a retried command with its first outcome. Only when an attempt
    /// fails is the key looked up, since deciding again may refuse what the first run of the
    /// same command did (voiding twice, a version that moved because of that very command).
    async fn run<F, Fut>(&self, ctx: &CommandContext, retry_on_conflict: bool, mut attempt: F) -> Result<Ran, AppError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<AppendOutcome, AppError>>,
    {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let error = match attempt().await {
                Ok(outcome) if outcome.replayed => return Ok(Ran::Replayed(outcome)),
                Ok(outcome) => return Ok(Ran::Appended(outcome)),
                Err(error) => error,
            };
            if let Some(outcome) = self.store.find_command(ctx.owner.as_uuid(), ctx.command_id.as_uuid()).await? {
                return Ok(Ran::Replayed(outcome));
            }
            if let AppError::Store(StoreError::Conflict { stream_id, .. }) = &error {
                // The state decided on may have come from the cache: the next attempt reads it.
                self.forget(stream_id);
            }
            match error {
                AppError::Store(StoreError::Conflict { stream_id, .. })
                    if retry_on_conflict && attempts < MAX_ATTEMPTS =>
                {
                    tracing::debug!(%stream_id, attempts, "version conflict; deciding again");
                }
                error => return Err(error),
            }
        }
    }

    async fn load<A: Aggregate>(&self, stream_id: &str) -> Result<Loaded<A>, AppError> {
        let recorded = self.store.read_stream(stream_id).await?;
        let events = recorded
            .iter()
            .map(|e| A::Event::decode(&e.event_type, e.schema_version, &e.payload))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| AppError::internal(format!("stream {stream_id} cannot be decoded: {error}")))?;
        Ok(Loaded { state: fold::<A>(&events), version: recorded.last().map_or(0, |e| e.version) })
    }

    /// The stream's state from the cache, else folded from the store and cached. A stream
    /// that does not exist is not cached, so that it is found once it is created.
    async fn load_cached<A: Aggregate + Clone>(
        &self,
        cache: &StateCache<A>,
        stream_id: &str,
    ) -> Result<Loaded<A>, AppError> {
        if let Some(Cached { state, version }) = cache.get(stream_id) {
            return Ok(Loaded { state, version });
        }
        let loaded = self.load::<A>(stream_id).await?;
        if loaded.version > 0 {
            cache.put(stream_id, loaded.state.clone(), loaded.version);
        }
        Ok(loaded)
    }

    /// Drops any cached state of the stream.
    fn forget(&self, stream_id: &str) {
        self.accounts.forget(stream_id);
        self.categories.forget(stream_id);
    }

    async fn append<E: DomainEvent>(
        &self,
        ctx: &CommandContext,
        stream_id: String,
        expected_version: ExpectedVersion,
        events: &[E],
    ) -> Result<AppendOutcome, AppError> {
        self.append_guarded(ctx, stream_id, expected_version, Vec::new(), events).await
    }

    /// Appends only while each of `guards` (other streams the decision read) is at its version.
    async fn append_guarded<E: DomainEvent>(
        &self,
        ctx: &CommandContext,
        stream_id: String,
        expected_version: ExpectedVersion,
        guards: Vec<StreamGuard>,
        events: &[E],
    ) -> Result<AppendOutcome, AppError> {
        let count = events.len();
        let events = events
            .iter()
            .map(|event| {
                Ok(NewEvent {
                    event_id: Uuid::now_v7(),
                    event_type: event.event_type().to_owned(),
                    schema_version: E::SCHEMA_VERSION,
                    payload: event.payload().map_err(|error| {
                        AppError::internal(format!("{} cannot be serialised: {error}", event.event_type()))
                    })?,
                })
            })
            .collect::<Result<_, AppError>>()?;
        // The command span shows what it appended; the stored context makes every consumer
        // of these events part of this command's trace.
        let span = tracing::Span::current();
        span.record("stream_id", stream_id.as_str());
        span.record("expected_version", tracing::field::debug(expected_version));
        let mut metadata = ctx.metadata();
        if let Some(traceparent) = cashflow_telemetry::propagation::traceparent(&span) {
            metadata.traceparent = Some(traceparent);
        }
        // This handler's own change to a cached stream: the next command reads it afresh.
        self.forget(&stream_id);
        let request = AppendRequest { stream_id, expected_version, metadata, events, guards };
        let outcome = self.store.append(request).await?;
        span.record("events_appended", if outcome.replayed { 0 } else { count });
        Ok(outcome)
    }

    /// The id of the resource a creation made. When the command was replayed, that is the
    /// id chosen the first time: the uuid of the stream its first run wrote to. (The store keys
    /// commands by owner, so a replayed outcome is always this owner's.)
    fn created_id(ran: &Ran, category: &str, fresh: Uuid) -> Result<Uuid, AppError> {
        let outcome = match ran {
            Ran::Appended(_) => return Ok(fresh),
            Ran::Replayed(outcome) => outcome,
        };
        let stream_id = StreamId::parse(&outcome.stream_id)
            .map_err(|_| AppError::internal(format!("stream id {} is not <category>-<uuid>", outcome.stream_id)))?;
        if stream_id.category() == category {
            Ok(stream_id.id())
        } else {
            // The client reused a command id for a different kind of command.
            Err(ValidationError::new("command_id", "was already used for a different command").into())
        }
    }
}
