//! The port a read model implements, to be fed by the bus's projector runner or by [`rebuild`](crate::rebuild()).

use cashflow_eventstore::RecordedEvent;

/// A read model fed by events.
///
/// The runner and the rebuild call [`apply_batch`](Projection::apply_batch) with the events
/// that follow the checkpoint densely, in position order, inside the transaction that also
/// moves the projection's checkpoint; an event at or below the checkpoint is never applied
/// again. So a projection only writes through `tx`, and does no other IO whose effect would
/// survive a rollback.
#[async_trait::async_trait]
pub trait Projection: Send + Sync + 'static {
    /// Stable name: the checkpoint row and the durable consumer's name.
    fn name(&self) -> &'static str;
    /// Applies events, in position order, inside the caller's transaction. Events this
    /// projection does not use are ignored (Ok). The effect is that of each event in turn,
    /// however the events are split into batches and transactions.
    async fn apply_batch(&self, tx: &mut sqlx::PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError>;
    /// Empties the read model's tables, inside the rebuild's transaction.
    async fn reset(&self, tx: &mut sqlx::PgConnection) -> Result<(), ProjectionError>;
    /// Tables whose secondary indexes a rebuild drops after [`reset`](Self::reset) and builds
    /// again before it commits: an index sorted once from a million rows costs a fraction of
    /// one grown row by row. Unique indexes and those behind a constraint stay. Name only
    /// tables that `apply_batch` reads by primary key alone, or a rebuild would scan them.
    fn rebuild_deferred_index_tables(&self) -> &'static [&'static str] {
        &[]
    }
}

/// Why a projection could not apply an event. Either way the runner rolls back and retries
/// later, since skipping the event would lose it.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The read model's database failed: usually transient.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The payload is not what this projection understands: a bug or a missing upcaster.
    #[error("cannot decode {event_type} at position {position}: {reason}")]
    Decode { event_type: String, position: u64, reason: String },
}
