//! The errors of the checkpoints, their watch and the rebuild, grouped by how a caller reacts.

use crate::projection::ProjectionError;
use cashflow_eventstore::StoreError;
use thiserror::Error;

/// Errors of the plumbing around a projection: its checkpoint, the watch on it, and the
/// rebuild that replays the store into it.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// PostgreSQL failed: retry with back-off.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The event store failed; [`StoreError::Unavailable`] is worth a retry, the rest is not.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The projection could not apply an event: retried later, since skipping it would lose it.
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    /// A stored checkpoint, or the positions the store returned, are not what they must be:
    /// an operator's problem.
    #[error("corrupt projection data: {0}")]
    Corrupt(String),
}
