//! The PostgreSQL adapter.
//!
//! An append is one transaction of two statements:
//!
//! 1. claim the idempotency key (`INSERT … ON CONFLICT DO NOTHING` into `commands`; a
//!    concurrent duplicate waits on the key, then replays the committed outcome) and read the
//!    stream's last version and hash;
//! 2. lock the one `event_store_head` row, chain the events onto the global chain from its
//!    tip (ADR 0016), take positions by updating it, insert the events, fill in the command's
//!    outcome and `pg_notify` readers.
//!
//! The head row's lock, taken last and held until commit, serialises commits: positions are
//! dense and in commit order, so readers simply read `WHERE position > $after`. Two writers
//! racing for one stream version are told apart by the unique `(stream_id, version)` index.
//!
//! `PgEventStore::append` commits concurrent appends together (group commit) through a batch
//! writer on a thread of its own; a batch that cannot be written as one falls back to one
//! append per request, as `append_in` does it. Both paths decide each request the same way:
//! replay a key already stored, refuse a stale version, or seal the events onto the stream's
//! chain.
//!
//! `wait_for_events` is fed by one `LISTEN` connection per store, in a task started on first
//! use, that falls back to reading the head every second while `LISTEN` is down.
//!
//! # Layout
//!
//! - this file: [`PgEventStore`] and its [`EventStore`] implementation.
//! - `sql.rs`: the statements, and the `NOTIFY` [`CHANNEL`].
//! - `plan.rs`: claim, check, seal: what both append paths decide from their read.
//! - `append.rs`: one append in a transaction (`append_in`, and a batch's fallback).
//! - `writer.rs`: group commit, each writer on a thread and a session of its own.
//! - `follower.rs`: the `LISTEN` task behind `wait_for_events`.
//! - `rows.rs`: rows to events and outcomes, sqlx errors to [`StoreError`]s.
//! - `admin.rs`: connection settings, creating and dropping databases, migrations.
//! - `audit.rs`: the whole-store audit (positions, both chains, head, `commands` rows).

/// The span of an append, with the fields a person searches for in Jaeger: one list for
/// `append` and `append_in`.
macro_rules! append_span {
    ($name:literal, $operation:literal, $request:expr) => {
        tracing::info_span!(
            $name,
            otel.kind = "client",
            db.system = "postgresql",
            db.operation = $operation,
            stream_id = %$request.stream_id,
            expected_version = ?$request.expected_version,
            events = $request.events.len(),
            command_id = %$request.metadata.command_id,
        )
    };
}

mod admin;
mod append;
mod audit;
mod follower;
mod plan;
mod rows;
mod sql;
mod writer;

pub use admin::{connect_options, create_database_if_missing, drop_database, pool_options};
pub use sql::CHANNEL;

use crate::{AppendOutcome, AppendRequest, EventStore, RecordedEvent, StoreError};
use async_trait::async_trait;
use follower::{HeadFollower, read_head};
use rows::{event_from_row, map_sqlx};
use sqlx::postgres::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::Instrument;
use uuid::Uuid;
use writer::{Reply, Writers};

/// The production event store. Cheap to clone: clones share the pool and the head listener.
///
/// A transaction left open after `append_in` holds the head lock: every other append, and
/// every reader waiting for the positions after it, stalls until it ends. Give the pool's
/// sessions an `idle_in_transaction_session_timeout` so a stuck client cannot stall it forever.
#[derive(Debug, Clone)]
pub struct PgEventStore {
    pool: PgPool,
    follower: Arc<HeadFollower>,
    writers: Arc<Writers>,
}

impl PgEventStore {
    /// Does no IO: the listener starts on the first `wait_for_events`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool, follower: Arc::new(HeadFollower::new()), writers: Arc::new(Writers::default()) }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl EventStore for PgEventStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        let span = append_span!("eventstore.append", "append", request);
        async move {
            let started = Instant::now();
            let request = Arc::new(request);
            let result = match self.submit(&request).await {
                Reply::Done(result) => result,
                Reply::Alone => self.append_alone(&request).await,
            };
            match &result {
                Err(error @ StoreError::Conflict { .. }) => tracing::debug!(%error, "append conflict"),
                Err(error) => tracing::error!(%error, "append failed"),
                Ok(_) => {}
            }
            crate::metrics::record_append(&request, &result, started.elapsed());
            result
        }
        .instrument(span)
        .await
    }

    #[tracing::instrument(
        name = "eventstore.find_command",
        skip(self),
        fields(db.system = "postgresql", db.operation = "SELECT"),
        err
    )]
    async fn find_command(&self, owner: Uuid, command_id: Uuid) -> Result<Option<AppendOutcome>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_sqlx)?;
        append::find_command_on(&mut conn, owner, command_id).await
    }

    #[tracing::instrument(
        name = "eventstore.read_stream",
        skip(self),
        fields(db.system = "postgresql", db.operation = "SELECT"),
        err
    )]
    async fn read_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(sql::READ_STREAM).bind(stream_id).fetch_all(&self.pool).await.map_err(map_sqlx)?;
        rows.iter().map(event_from_row).collect()
    }

    #[tracing::instrument(
        name = "eventstore.read_all",
        skip(self),
        fields(db.system = "postgresql", db.operation = "SELECT"),
        err
    )]
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(sql::READ_ALL)
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(map_sqlx)?;
        rows.iter().map(event_from_row).collect()
    }

    #[tracing::instrument(
        name = "eventstore.read_owner",
        skip(self),
        fields(db.system = "postgresql", db.operation = "SELECT"),
        err
    )]
    async fn read_owner(
        &self,
        owner: Uuid,
        after: u64,
        up_to: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(sql::READ_OWNER)
            .bind(owner)
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .bind(i64::try_from(up_to).unwrap_or(i64::MAX))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(map_sqlx)?;
        rows.iter().map(event_from_row).collect()
    }

    #[tracing::instrument(
        name = "eventstore.head",
        skip(self),
        fields(db.system = "postgresql", db.operation = "SELECT"),
        err
    )]
    async fn head(&self) -> Result<u64, StoreError> {
        read_head(&self.pool).await
    }

    #[tracing::instrument(name = "eventstore.wait_for_events", skip(self), err)]
    async fn wait_for_events(&self, after: u64, timeout: Duration) -> Result<u64, StoreError> {
        self.wait_past(after, timeout).await
    }
}
