//! [`AppError`]: what a use case fails with, by layer, so each edge maps it once (the gRPC edge
//! to a status, a worker to retry or give up).

use crate::ports::PortError;
use crate::worker::WorkError;
use cashflow_domain::{DomainError, ValidationError};
use cashflow_eventstore::StoreError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AppError {
    /// An input field that is not a valid value: the caller's to fix.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// `decide` refused the command.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The event store: a lost version race, an outage, or corrupt data.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A read model or the blob store a command reads through.
    #[error(transparent)]
    Port(#[from] PortError),
    /// A bug or broken data on our side; the text is for logs, never for the caller.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// True when the same command may succeed later unchanged (a store or read model that is
    /// down, a lost version race): a worker retries these and gives up on the rest.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Store(StoreError::Unavailable(_) | StoreError::Conflict { .. })
                | Self::Port(PortError::Unavailable(_))
        )
    }
}

/// A worker retries what may succeed later and gives up on the rest.
impl From<AppError> for WorkError {
    fn from(error: AppError) -> Self {
        if error.is_transient() { Self::Retry(error.to_string()) } else { Self::Permanent(error.to_string()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cashflow_eventstore::ExpectedVersion;

    #[test]
    fn outages_and_lost_races_are_retried_and_refusals_given_up() {
        let conflict =
            StoreError::Conflict { stream_id: "movement-x".into(), expected: ExpectedVersion::Exact(1), actual: 2 };
        for transient in [
            AppError::from(conflict),
            AppError::from(StoreError::Unavailable("down".into())),
            AppError::from(PortError::Unavailable("read model down".into())),
        ] {
            assert!(matches!(WorkError::from(transient), WorkError::Retry(_)));
        }
        for permanent in [
            AppError::from(DomainError::NotFound { what: "invoice" }),
            AppError::from(ValidationError::new("amount", "must be positive")),
            AppError::from(PortError::Failed("bad row".into())),
            AppError::from(StoreError::Corrupt("bad payload".into())),
            AppError::internal("bug"),
        ] {
            assert!(matches!(WorkError::from(permanent), WorkError::Permanent(_)));
        }
    }
}
