//! One append in a transaction: `append_in` inside the caller's, and the fallback of a batch
//! in one of its own.
//!
//! Two statements: [`CLAIM`] claims the idempotency key (a concurrent duplicate waits on the
//! key, then replays the committed outcome) and reads the stream's tail; [`WRITE`] takes the
//! positions under the head lock, inserts the events, fills in the command's outcome and
//! notifies readers.

use super::PgEventStore;
use super::plan::{Claim, Plan, conflict, plan};
use super::rows::{corrupt, map_sqlx, stored_outcome, to_i64, to_u64, unique_violation};
use super::sql::{CHANNEL, CLAIM, FIND_COMMAND, GUARD_VERSIONS, REMEMBER_EMPTY, STREAM_VERSION, WRITE};
use crate::hash;
use crate::{AppendOutcome, AppendRequest, ExpectedVersion, StoreError};
use sqlx::Row;
use sqlx::postgres::PgConnection;
use tracing::Instrument;
use uuid::Uuid;

/// How many times `append` retries an `ExpectedVersion::Any` append that lost a race for a
/// version: such an append has no expectation to fail, so losing is not the caller's conflict.
const ANY_VERSION_ATTEMPTS: u32 = 16;

impl PgEventStore {
    /// Appends inside the caller's transaction, which must be `READ COMMITTED` (the default),
    /// so that batches of appends can share one commit. Readers and `wait_for_events` see the
    /// events once the caller commits. On `Err` the caller must roll the transaction (or a
    /// savepoint taken before the call) back: it may hold this request's idempotency claim.
    /// The first append in a transaction that writes events holds the head lock until commit,
    /// so keep the transaction short.
    pub async fn append_in(
        &self,
        conn: &mut PgConnection,
        request: AppendRequest,
    ) -> Result<AppendOutcome, StoreError> {
        self.append_on(conn, &request).await
    }

    async fn append_on(&self, conn: &mut PgConnection, request: &AppendRequest) -> Result<AppendOutcome, StoreError> {
        let span = append_span!("eventstore.append_in", "INSERT", request);
        self.claim_and_write(conn, request).instrument(span).await
    }

    async fn claim_and_write(
        &self,
        conn: &mut PgConnection,
        request: &AppendRequest,
    ) -> Result<AppendOutcome, StoreError> {
        let metadata = &request.metadata;
        let recorded_at = hash::now_micros();
        let tail = sqlx::query(CLAIM)
            .bind(metadata.owner)
            .bind(metadata.command_id)
            .bind(&request.stream_id)
            .bind(recorded_at)
            .fetch_one(&mut *conn)
            .await
            .map_err(map_sqlx)?;
        let claim = if tail.try_get::<bool, _>("claimed").map_err(corrupt)? {
            Claim::Won
        } else {
            // The key was stored by a transaction that has committed: this statement sees it.
            Claim::Lost(find_command_on(conn, metadata.owner, metadata.command_id).await?)
        };
        let sealed = match plan(request, claim, &tail, recorded_at)? {
            Plan::Replay(outcome) => return Ok(outcome),
            Plan::Write(sealed) => sealed,
        };

        if sealed.events.is_empty() {
            check_guards_on(conn, request).await?;
            let position: i64 = sqlx::query(REMEMBER_EMPTY)
                .bind(metadata.owner)
                .bind(metadata.command_id)
                .bind(to_i64(sealed.last_version)?)
                .fetch_one(&mut *conn)
                .await
                .and_then(|row| row.try_get("position"))
                .map_err(map_sqlx)?;
            return Ok(AppendOutcome {
                stream_id: request.stream_id.clone(),
                stream_version: sealed.last_version,
                position: to_u64(position)?,
                replayed: false,
            });
        }

        let events = &sealed.events;
        let result = sqlx::query(WRITE)
            .bind(events.len() as i64)
            .bind(&request.stream_id)
            .bind(to_i64(sealed.last_version)?)
            .bind(metadata.owner)
            .bind(metadata.command_id)
            .bind(metadata.correlation_id)
            .bind(metadata.causation_id)
            .bind(metadata.traceparent.as_deref())
            .bind(recorded_at)
            .bind(events.iter().map(|event| event.event_id).collect::<Vec<_>>())
            .bind(events.iter().map(|event| event.event_type.as_str()).collect::<Vec<_>>())
            // `plan` checked that every schema version fits.
            .bind(
                events.iter().map(|event| i32::try_from(event.schema_version).unwrap_or(i32::MAX)).collect::<Vec<_>>(),
            )
            .bind(events.iter().map(|event| &event.payload).collect::<Vec<_>>())
            .bind(events.iter().map(|event| event.hash.to_vec()).collect::<Vec<_>>())
            .bind(CHANNEL)
            .fetch_one(&mut *conn)
            .await
            .and_then(|row| row.try_get::<i64, _>("position"));
        match result {
            Ok(position) => {
                // Under the head lock now, so no event can commit on a guarded stream before this one.
                check_guards_on(conn, request).await?;
                Ok(AppendOutcome {
                    stream_id: request.stream_id.clone(),
                    stream_version: sealed.stream_version(),
                    position: to_u64(position)?,
                    replayed: false,
                })
            }
            Err(error) => match unique_violation(&error) {
                // Lost the race for the version: the winner has committed (a unique check waits
                // for it), so its version can be read on another connection.
                Some("events_stream_version_key") => {
                    let actual = self.stream_version(&request.stream_id).await?;
                    Err(conflict(request, actual))
                }
                Some("events_event_id_key") => Err(StoreError::Corrupt("an event id is already stored".into())),
                _ => Err(map_sqlx(error)),
            },
        }
    }

    /// One append in a transaction of its own, retrying an `ExpectedVersion::Any` append
    /// that lost a race for a version.
    pub(super) async fn append_alone(&self, request: &AppendRequest) -> Result<AppendOutcome, StoreError> {
        let mut attempt = 1;
        loop {
            let mut transaction = self.pool.begin().await.map_err(map_sqlx)?;
            // Dropping the transaction on an early return rolls it back.
            match self.append_on(&mut transaction, request).await {
                Ok(outcome) if outcome.replayed => return Ok(outcome),
                Ok(outcome) => {
                    transaction.commit().await.map_err(map_sqlx)?;
                    return Ok(outcome);
                }
                Err(StoreError::Conflict { .. })
                    if request.expected_version == ExpectedVersion::Any && attempt < ANY_VERSION_ATTEMPTS =>
                {
                    tracing::debug!(attempt, "lost a race for a version with ExpectedVersion::Any; retrying");
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The last version of a stream, 0 when it does not exist.
    #[tracing::instrument(name = "eventstore.stream_version", skip(self), err)]
    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        let version: i64 = sqlx::query(STREAM_VERSION)
            .bind(stream_id)
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get("version"))
            .map_err(map_sqlx)?;
        to_u64(version)
    }
}

/// Checks the request's guards in a statement of its own: under `READ COMMITTED` it sees every
/// commit before it, and after the caller's `WRITE` took the head lock no event can commit on a
/// guarded stream until the caller does. An append of no events takes no lock; its guards are
/// checked as of this statement.
async fn check_guards_on(conn: &mut PgConnection, request: &AppendRequest) -> Result<(), StoreError> {
    if request.guards.is_empty() {
        return Ok(());
    }
    let rows = sqlx::query(GUARD_VERSIONS)
        .bind(request.guards.iter().map(|guard| guard.stream_id.as_str()).collect::<Vec<_>>())
        .fetch_all(&mut *conn)
        .await
        .map_err(map_sqlx)?;
    for (guard, row) in request.guards.iter().zip(&rows) {
        guard.check(to_u64(row.try_get("version").map_err(corrupt)?)?)?;
    }
    Ok(())
}

/// The stored outcome of an idempotency key, as a replay; `None` when no committed append holds it.
pub(super) async fn find_command_on(
    conn: &mut PgConnection,
    owner: Uuid,
    command_id: Uuid,
) -> Result<Option<AppendOutcome>, StoreError> {
    let row =
        sqlx::query(FIND_COMMAND).bind(owner).bind(command_id).fetch_optional(&mut *conn).await.map_err(map_sqlx)?;
    Ok(row.as_ref().map(stored_outcome).transpose()?.flatten())
}
