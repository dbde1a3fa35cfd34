//! An in-memory adapter for fast tests of the layers above: one mutex makes every append
//! atomic and serial, so positions are dense and in commit order by construction.

use crate::hash::{self, GENESIS};
use crate::{AppendOutcome, AppendRequest, EventStore, RecordedEvent, StoreError};
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// Keeps everything in one process's memory; lost when dropped. Share it with an `Arc`.
#[derive(Debug)]
pub struct InMemoryEventStore {
    state: Mutex<State>,
    /// The head after each append, for `wait_for_events`.
    head: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct State {
    /// Index `i` holds position `i + 1`.
    events: Vec<RecordedEvent>,
    /// Each stream's indexes into `events`, by version.
    streams: HashMap<String, Vec<usize>>,
    commands: HashMap<(Uuid, Uuid), AppendOutcome>,
    event_ids: HashSet<Uuid>,
}

impl Default for InMemoryEventStore {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryEventStore {
    pub fn new() -> Self {
        Self { state: Mutex::new(State::default()), head: watch::Sender::new(0) }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every append validates before it mutates, so a panic elsewhere while the lock was
        // held cannot have left the state half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn last_of(&self, stream_id: &str) -> Option<&RecordedEvent> {
        self.streams.get(stream_id).and_then(|indexes| indexes.last()).map(|&index| &self.events[index])
    }
}

#[async_trait]
impl EventStore for InMemoryEventStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        let mut state = self.state();
        let key = (request.metadata.owner, request.metadata.command_id);
        if let Some(outcome) = state.commands.get(&key) {
            return Ok(AppendOutcome { replayed: true, ..outcome.clone() });
        }

        let (last_version, previous) = state.last_of(&request.stream_id).map_or((0, GENESIS), |e| (e.version, e.hash));
        if !request.expected_version.matches(last_version) {
            return Err(StoreError::Conflict {
                stream_id: request.stream_id,
                expected: request.expected_version,
                actual: last_version,
            });
        }
        for guard in &request.guards {
            guard.check(state.last_of(&guard.stream_id).map_or(0, |e| e.version))?;
        }
        let mut new_ids = HashSet::with_capacity(request.events.len());
        if let Some(duplicate) =
            request.events.iter().find(|e| state.event_ids.contains(&e.event_id) || !new_ids.insert(e.event_id))
        {
            return Err(StoreError::Corrupt(format!("event id {} is already stored", duplicate.event_id)));
        }

        let head = state.events.len() as u64;
        let events = hash::seal(&request, last_version, previous, hash::now_micros(), head + 1);
        let outcome = AppendOutcome {
            stream_id: request.stream_id.clone(),
            stream_version: last_version + events.len() as u64,
            position: head + events.len() as u64,
            replayed: false,
        };
        let first_index = state.events.len();
        let appended = !events.is_empty();
        let stream = state.streams.entry(request.stream_id).or_default();
        stream.extend(first_index..first_index + events.len());
        state.event_ids.extend(new_ids);
        state.events.extend(events);
        state.commands.insert(key, outcome.clone());
        if appended {
            self.head.send_replace(outcome.position);
        }
        Ok(outcome)
    }

    async fn find_command(&self, owner: Uuid, command_id: Uuid) -> Result<Option<AppendOutcome>, StoreError> {
        Ok(self
            .state()
            .commands
            .get(&(owner, command_id))
            .map(|outcome| AppendOutcome { replayed: true, ..outcome.clone() }))
    }

    async fn read_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        let state = self.state();
        let indexes = state.streams.get(stream_id).map_or(&[][..], Vec::as_slice);
        Ok(indexes.iter().map(|&index| state.events[index].clone()).collect())
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let state = self.state();
        let start = usize::try_from(after).unwrap_or(usize::MAX).min(state.events.len());
        let end = start.saturating_add(limit).min(state.events.len());
        Ok(state.events[start..end].to_vec())
    }

    async fn read_owner(
        &self,
        owner: Uuid,
        after: u64,
        up_to: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let state = self.state();
        let start = usize::try_from(after).unwrap_or(usize::MAX).min(state.events.len());
        let end = usize::try_from(up_to).unwrap_or(usize::MAX).min(state.events.len());
        Ok(state.events[start..end.max(start)].iter().filter(|e| e.owner == owner).take(limit).cloned().collect())
    }

    async fn head(&self) -> Result<u64, StoreError> {
        Ok(*self.head.borrow())
    }

    async fn wait_for_events(&self, after: u64, timeout: Duration) -> Result<u64, StoreError> {
        let mut head = self.head.subscribe();
        // The sender lives as long as `self`, so `wait_for` can only end by the condition.
        if let Ok(Ok(seen)) = tokio::time::timeout(timeout, head.wait_for(|&h| h > after)).await {
            return Ok(*seen);
        }
        Ok(*head.borrow())
    }
}
