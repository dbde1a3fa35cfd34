//! The offline rebuild, and the dense, in-order apply that it shares with a live catch-up.

use crate::checkpoint::{lock_checkpoint, save_checkpoint};
use crate::error::CheckpointError;
use crate::projection::Projection;
use cashflow_eventstore::{EventStore, RecordedEvent};
use sqlx::AssertSqlSafe;
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
/// runner of the projection waits, then carries on after it), resets the tables, drops the
/// secondary indexes the projection defers, replays the whole store, builds those indexes
/// again and sets the checkpoint to the last position, which it returns.
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
    let deferred = drop_secondary_indexes(&mut tx, projection.rebuild_deferred_index_tables()).await?;
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
    create_indexes(&mut tx, &deferred).await?;
    save_checkpoint(&mut tx, name, position).await?;
    tx.commit().await?;
    tracing::info!(projection = name, position, "projection rebuilt");
    Ok(position)
}

/// Drops the secondary indexes of `tables` (not unique, behind no constraint) inside the
/// rebuild's transaction; answers their definitions, for [`create_indexes`]. The `TRUNCATE`
/// before holds the same lock, so no reader sees the tables without them.
async fn drop_secondary_indexes(tx: &mut sqlx::PgConnection, tables: &[&str]) -> Result<Vec<String>, sqlx::Error> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
           FROM pg_index i
          WHERE i.indrelid = ANY (SELECT to_regclass(t) FROM unnest($1::text[]) AS t)
            AND NOT i.indisunique
            AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
          ORDER BY 1",
    )
    .bind(tables)
    .fetch_all(&mut *tx)
    .await?;
    for (index, _) in &indexes {
        // A name from regclass output: quoted and schema-qualified as needed.
        sqlx::query(AssertSqlSafe(format!("DROP INDEX {index}"))).execute(&mut *tx).await?;
    }
    Ok(indexes.into_iter().map(|(_, definition)| definition).collect())
}

/// Builds the indexes [`drop_secondary_indexes`] dropped, each from its definition.
async fn create_indexes(tx: &mut sqlx::PgConnection, definitions: &[String]) -> Result<(), sqlx::Error> {
    for definition in definitions {
        // A definition PostgreSQL wrote (`pg_get_indexdef`).
        sqlx::query(AssertSqlSafe(definition.as_str())).execute(&mut *tx).await?;
    }
    Ok(())
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
