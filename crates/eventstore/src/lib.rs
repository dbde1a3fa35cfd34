//! Event store: the port every adapter implements, and its in-memory and PostgreSQL adapters.
//!
//! # Layout
//!
//! - this file: the [`EventStore`] port and the types it speaks.
//! - [`hash`]: the per-stream SHA-256 chain, computed and verified the same way by every
//!   adapter, and the global chain over positions (PostgreSQL's).
//! - [`audit`]: the whole-store audit's checks and the HMAC-signed anchors (ADR 0016).
//! - [`memory`]: an in-memory adapter for fast unit tests of the layers above.
//! - [`postgres`]: the production adapter and its migrations.
//! - [`metrics`]: what the PostgreSQL adapter reports (append latency, conflicts, events by type).
//! - [`contract`]: the test suite every adapter must pass (behind the `contract` feature).
//!
//! # Guarantees every adapter gives
//!
//! - An append is atomic: all of its events are stored or none is.
//! - `expected_version` is checked against the stream's last version; a mismatch, or a
//!   concurrent writer that won the same version, is [`StoreError::Conflict`].
//! - Each of the request's `guards` is checked against its stream's last version as the append
//!   commits; a stream that moved is [`StoreError::Conflict`] naming that stream.
//! - `(owner, command_id)` is an idempotency key: appending again with a key already stored
//!   appends nothing and returns the first append's [`AppendOutcome`] with `replayed` set.
//! - Global positions start at 1, are dense (no gaps) and are assigned in commit order, so
//!   a reader that has seen position `p` has seen every event at or below `p`, and a
//!   position can be compared with any projector's checkpoint.
#![forbid(unsafe_code)]

pub mod audit;
pub mod hash;
pub mod memory;
pub mod metrics;
pub mod postgres;

#[cfg(any(test, feature = "contract"))]
pub mod contract;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;
use thiserror::Error;
use uuid::Uuid;

pub use memory::InMemoryEventStore;
pub use postgres::PgEventStore;

/// The version a stream must be at for an append to succeed. Versions start at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have this version.
    Exact(u64),
    /// No check (used only where the command's rules do not depend on the stream's state).
    Any,
}

impl ExpectedVersion {
    /// Whether a stream whose last version is `actual` (0 when it does not exist) may be
    /// appended to. `Exact(0)` means the same as `NoStream`.
    pub fn matches(self, actual: u64) -> bool {
        match self {
            ExpectedVersion::NoStream => actual == 0,
            ExpectedVersion::Exact(version) => actual == version,
            ExpectedVersion::Any => true,
        }
    }
}

/// Who and what caused an append: stored as metadata on each of its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandMetadata {
    /// The user every event belongs to; reads are filtered by it.
    pub owner: Uuid,
    /// The idempotency key, chosen by the client or derived from a causing event.
    pub command_id: Uuid,
    pub correlation_id: Uuid,
    /// The event that caused this command, when a worker issued it.
    pub causation_id: Option<Uuid>,
    /// W3C `traceparent` of the command's span.
    pub traceparent: Option<String>,
}

/// An event to append: its type, schema version and JSON payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: Value,
}

#[derive(Debug, Clone)]
pub struct AppendRequest {
    pub stream_id: String,
    pub expected_version: ExpectedVersion,
    pub metadata: CommandMetadata,
    /// May be empty: the command is then remembered for idempotency and appends nothing.
    pub events: Vec<NewEvent>,
    /// Other streams the decision read: the append commits only if each is still at the
    /// version the decision saw. Lets a caller decide on cached state (ADR 0028).
    pub guards: Vec<StreamGuard>,
}

/// A stream other than the appended one that must still be at `version` (0: must not exist)
/// when the append commits; otherwise the append is a [`StoreError::Conflict`] naming it, and
/// writes nothing. Never names the appended stream itself: `expected_version` guards that one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamGuard {
    pub stream_id: String,
    pub version: u64,
}

impl StreamGuard {
    /// `Ok` when the guarded stream is at `actual`; else the conflict to answer.
    pub fn check(&self, actual: u64) -> Result<(), StoreError> {
        if actual == self.version {
            Ok(())
        } else {
            Err(StoreError::Conflict {
                stream_id: self.stream_id.clone(),
                expected: ExpectedVersion::Exact(self.version),
                actual,
            })
        }
    }
}

/// What an append did, or — when `replayed` — what the first append with the same
/// idempotency key did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendOutcome {
    /// The stream the append wrote to. On a replay, the first append's stream, whatever
    /// stream the retry names: a creating command recovers the id it made from it. A command
    /// that appended no events is remembered under the stream its request named, which then
    /// holds none of its events and may not exist at all (its `stream_version` is then 0).
    pub stream_id: String,
    /// The stream's version after the append.
    pub stream_version: u64,
    /// The global position of the last event appended; for an append of no events, the
    /// store's head at the time (so it is still a valid consistency token).
    pub position: u64,
    /// True when this is the stored answer to an earlier append with the same key.
    pub replayed: bool,
}

/// A stored event with all of its metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    pub event_id: Uuid,
    pub stream_id: String,
    pub version: u64,
    pub position: u64,
    pub event_type: String,
    pub schema_version: u32,
    pub payload: Value,
    pub owner: Uuid,
    pub command_id: Uuid,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub traceparent: Option<String>,
    /// Microsecond precision, as PostgreSQL keeps it, so the hash is reproducible.
    pub recorded_at: DateTime<Utc>,
    /// SHA-256(previous event's hash ‖ this event's canonical bytes); see [`hash`].
    #[serde(with = "hex_bytes")]
    pub hash: [u8; 32],
}

impl RecordedEvent {
    /// The `<category>` part of `<category>-<uuid>`.
    pub fn stream_category(&self) -> &str {
        self.stream_id.split_once('-').map_or(self.stream_id.as_str(), |(category, _)| category)
    }
}

/// Errors of the store, by how a caller should react.
#[derive(Debug, Error)]
pub enum StoreError {
    /// Another writer got there first: reload the stream and decide again, or answer `ABORTED`.
    #[error("stream {stream_id} is at version {actual}, not {expected:?}")]
    Conflict { stream_id: String, expected: ExpectedVersion, actual: u64 },
    /// The store cannot be reached or is overloaded: retry later, answer `UNAVAILABLE`.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    /// Stored data is not what the store wrote (e.g. an undecodable row): an operator's problem.
    #[error("event store data is corrupt: {0}")]
    Corrupt(String),
}

/// The event store port.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends atomically, checking `expected_version` and the idempotency key. See the
    /// crate docs for the guarantees.
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError>;

    /// The stored outcome of an earlier append with this idempotency key, if any. Handlers
    /// ask before deciding, since a retried command may no longer be valid on today's state
    /// (voiding twice) yet must still get its first answer. The outcome has `replayed` set and
    /// names the stream the first append wrote to.
    async fn find_command(&self, owner: Uuid, command_id: Uuid) -> Result<Option<AppendOutcome>, StoreError>;

    /// All events of one stream, oldest first; empty when the stream does not exist.
    async fn read_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Up to `limit` events with a position greater than `after`, in position order, which
    /// is commit order. Never skips an event that commits later with a lower position.
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Up to `limit` events of one owner with a position greater than `after` and at most
    /// `up_to`, in position order: a person's history as it stood at `up_to`, page by page.
    /// The default scans [`read_all`](Self::read_all); adapters answer from an index.
    async fn read_owner(
        &self,
        owner: Uuid,
        after: u64,
        up_to: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut found = Vec::new();
        let mut cursor = after;
        while found.len() < limit && cursor < up_to {
            let page = self.read_all(cursor, 1_000).await?;
            let Some(last) = page.last() else { break };
            cursor = last.position;
            found.extend(page.into_iter().filter(|e| e.owner == owner && e.position <= up_to));
        }
        found.truncate(limit);
        Ok(found)
    }

    /// The highest committed position, 0 when the store is empty.
    async fn head(&self) -> Result<u64, StoreError>;

    /// Waits until the head passes `after` or `timeout` elapses, whichever is first, and
    /// returns the head it saw. A wake-up for readers, so they do not poll in a busy loop.
    async fn wait_for_events(&self, after: u64, timeout: Duration) -> Result<u64, StoreError>;
}

/// Lets a shared store (`Arc<InMemoryEventStore>`, `Arc<dyn EventStore>`) be passed where a
/// store is expected.
#[async_trait]
impl<S: EventStore + ?Sized> EventStore for std::sync::Arc<S> {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        (**self).append(request).await
    }

    async fn find_command(&self, owner: Uuid, command_id: Uuid) -> Result<Option<AppendOutcome>, StoreError> {
        (**self).find_command(owner, command_id).await
    }

    async fn read_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        (**self).read_stream(stream_id).await
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        (**self).read_all(after, limit).await
    }

    async fn read_owner(
        &self,
        owner: Uuid,
        after: u64,
        up_to: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        (**self).read_owner(owner, after, up_to, limit).await
    }

    async fn head(&self) -> Result<u64, StoreError> {
        (**self).head().await
    }

    async fn wait_for_events(&self, after: u64, timeout: Duration) -> Result<u64, StoreError> {
        (**self).wait_for_events(after, timeout).await
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(deserializer)?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&text, &mut bytes).map_err(D::Error::custom)?;
        Ok(bytes)
    }
}
