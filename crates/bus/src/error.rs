//! The bus layer's errors, grouped by how a caller reacts to them.

use cashflow_eventstore::StoreError;
use cashflow_projection::{CheckpointError, ProjectionError};
use thiserror::Error;

/// Errors of the relay, the projector runner and their helpers.
#[derive(Debug, Error)]
pub enum BusError {
    /// A setting is invalid (e.g. the subject prefix): fix the configuration; retrying cannot help.
    #[error("invalid bus configuration: {0}")]
    Config(String),
    /// NATS or JetStream could not be reached or refused a request: retry with back-off.
    #[error("NATS error while {context}: {source}")]
    Nats {
        context: &'static str,
        #[source]
        source: async_nats::Error,
    },
    /// PostgreSQL failed: retry with back-off.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The bus's migrations could not run: an operator's problem at start-up.
    #[error("bus migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The event store failed; [`StoreError::Unavailable`] is worth a retry, the rest is not.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A projection could not apply an event: retried later, since skipping it would lose it.
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    /// A message or stored row is not what this crate writes: an operator's problem.
    #[error("corrupt bus data: {0}")]
    Corrupt(String),
}

/// Each failure of the checkpoints or the rebuild as the variant a bus caller already handles
/// the same way.
impl From<CheckpointError> for BusError {
    fn from(error: CheckpointError) -> Self {
        match error {
            CheckpointError::Database(error) => Self::Database(error),
            CheckpointError::Store(error) => Self::Store(error),
            CheckpointError::Projection(error) => Self::Projection(error),
            CheckpointError::Corrupt(reason) => Self::Corrupt(reason),
        }
    }
}

impl BusError {
    /// Wraps any NATS client error with what was being done.
    pub(crate) fn nats(context: &'static str, source: impl Into<async_nats::Error>) -> Self {
        Self::Nats { context, source: source.into() }
    }

    /// True when the same operation may succeed later without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Nats { .. } | Self::Database(_) => true,
            Self::Store(StoreError::Unavailable(_)) => true,
            Self::Projection(ProjectionError::Database(_)) => true,
            Self::Config(_)
            | Self::Migrate(_)
            | Self::Store(_)
            | Self::Projection(ProjectionError::Decode { .. })
            | Self::Corrupt(_) => false,
        }
    }
}
