//! The offline rebuild, and the dense, in-order apply that it shares with a live catch-up.

use crate::checkpoint::{lock_checkpoint, save_checkpoint};
use crate::error::CheckpointError;
use crate::projection::Projection;
use cashflow_eventstore::{EventStore, RecordedEvent};
use sqlx::postgres::PgPool;

/// Events read, and applied in one call, per step of a rebuild: large, since a projection's
/// set-based `apply_batch` costs a few statements per batch rather than per event.
const REBUILD_READ_BATCH: usize = 5000;

/// Where a run of events stops following a checkpoint densely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// The position that should have come next.
    pub expected: u64,
    /// The position that came instead.
    pub found: u64,
}

/// Where `events` (sorted by position) stop following `after` densely, if they do.
pub fn first_gap(after: u64, events: &[RecordedEvent]) -> Option<Gap> {
    events
        .iter()
        .zip(after + 1..)
        .find(|(event, expected)| event.position != *expected)
        .map(|(event, expected)| Gap { expected, found: event.position })
}

/// Applies events read from the store, which must follow `after` densely, in one
/// `apply_batch`; returns the last position. A gap is [`CheckpointError::Corrupt`]: the store's
/// positions are dense (ADR 0001), so one missing means the store is not what it must be.
pub async fn apply_in_order(
    tx: &mut sqlx::PgConnection,
    projection: &dyn Projection,
    after: u64,
    events: &[RecordedEvent],
) -> Result<u64, CheckpointError> {
    if let Some(gap) = first_gap(after, events) {
        return Err(CheckpointError::Corrupt(format!(
            "the event store returned position {} after {}",
            gap.found,
            gap.expected - 1
        )));
    }
    projection.apply_batch(tx, events).await?;
    Ok(events.last().map_or(after, |event| event.position))
}

/// Rebuilds a read model from position 0 in ONE transaction: locks the checkpoint row (a live
/// runner of the projection waits, then carries on after it), resets the tables, replays the
/// whole store and sets the checkpoint to the last position, which it returns.
/// `progress(done, head)` is called after each step.
#[tracing::instrument(name = "projection.rebuild", skip_all, fields(projection = projection.name()), err)]
pub async fn rebuild(
    pool: &PgPool,
    store: &dyn EventStore,
    projection: &dyn Projection,
    mut progress: impl FnMut(u64, u64),
) -> Result<u64, CheckpointError> {
    let name = projection.name();
    let mut tx = pool.begin().await?;
    lock_checkpoint(&mut tx, name).await?;
    projection.reset(&mut tx).await?;
    let head = store.head().await?;
    progress(0, head);
    let mut position = 0;
    let mut events = store.read_all(position, REBUILD_READ_BATCH).await?;
    while let Some(last) = events.last().map(|event| event.position) {
        // The next batch is read (on another connection) while this one is applied.
        let (applied, next) = futures::future::join(
            apply_in_order(&mut tx, projection, position, &events),
            store.read_all(last, REBUILD_READ_BATCH),
        )
        .await;
        position = applied?;
        events = next?;
        progress(position, head.max(position));
    }
    save_checkpoint(&mut tx, name, position).await?;
    tx.commit().await?;
    tracing::info!(projection = name, position, "projection rebuilt");
    Ok(position)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::recorded;

    #[test]
    fn a_gap_is_the_first_position_that_does_not_follow() {
        let at = |position| RecordedEvent { position, ..recorded("test-x", "Tested", 1, serde_json::Value::Null) };
        let events: Vec<_> = [5, 6, 8, 9].into_iter().map(at).collect();
        assert_eq!(first_gap(4, &events), Some(Gap { expected: 7, found: 8 }));
        assert_eq!(first_gap(4, &events[..2]), None);
        assert_eq!(first_gap(3, &events), Some(Gap { expected: 4, found: 5 }));
        assert_eq!(first_gap(0, &[]), None);
    }
}
