//! Claim, check, seal: what an append does with the read of its idempotency key and its
//! stream's tail, decided the same way by a single append and by each request of a batch.

use super::rows::{corrupt, to_hash, to_i64, to_u64};
use crate::hash::{self, GENESIS};
use crate::{AppendOutcome, AppendRequest, RecordedEvent, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;

/// Who holds the request's idempotency key.
pub(super) enum Claim {
    /// This append: it has claimed the key, or (in a batch) will claim it with its write.
    Won,
    /// An earlier append, with its stored outcome; `None` when that append left none.
    Lost(Option<AppendOutcome>),
}

/// What the append is to do.
pub(super) enum Plan {
    /// Nothing: it is a retry, answered with the first append's outcome.
    Replay(AppendOutcome),
    /// Write what it checked and sealed.
    Write(Sealed),
}

/// A request checked against its stream's tail, its events sealed onto the chain.
pub(super) struct Sealed {
    /// The stream's version before the append.
    pub last_version: u64,
    /// Without positions yet: those are taken under the head lock when written. Every version
    /// fits an `int8` and every schema version an `int4`.
    pub events: Vec<RecordedEvent>,
}

impl Sealed {
    /// The stream's version after the append.
    pub fn stream_version(&self) -> u64 {
        self.last_version + self.events.len() as u64
    }
}

/// Replays a lost claim; otherwise checks `expected_version` against the tail (`version` and
/// `hash` of `tail`, both NULL for a stream that does not exist) and seals the events.
pub(super) fn plan(
    request: &AppendRequest,
    claim: Claim,
    tail: &PgRow,
    recorded_at: DateTime<Utc>,
) -> Result<Plan, StoreError> {
    match claim {
        Claim::Won => {}
        Claim::Lost(Some(outcome)) => return Ok(Plan::Replay(outcome)),
        Claim::Lost(None) => {
            return Err(StoreError::Corrupt(format!(
                "command {} was claimed but has no outcome",
                request.metadata.command_id
            )));
        }
    }
    let last_version = tail.try_get::<Option<i64>, _>("version").map_err(corrupt)?.map_or(Ok(0), to_u64)?;
    let previous = match tail.try_get::<Option<Vec<u8>>, _>("hash").map_err(corrupt)? {
        Some(bytes) => to_hash(bytes)?,
        None => GENESIS,
    };
    if !request.expected_version.matches(last_version) {
        return Err(conflict(request, last_version));
    }
    // Positions are not part of the chain, so the events can be sealed before they get any.
    let events = hash::seal(request, last_version, previous, recorded_at, 0);
    for event in &events {
        to_i64(event.version)?;
        i32::try_from(event.schema_version)
            .map_err(|_| StoreError::Corrupt(format!("schema version {} out of range", event.schema_version)))?;
    }
    Ok(Plan::Write(Sealed { last_version, events }))
}

pub(super) fn conflict(request: &AppendRequest, actual: u64) -> StoreError {
    StoreError::Conflict { stream_id: request.stream_id.clone(), expected: request.expected_version, actual }
}
