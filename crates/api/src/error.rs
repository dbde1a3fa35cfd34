//! The one mapping from every layer's error to a gRPC status.
//!
//! Bad input and domain rejections are the caller's to fix and are described; store and
//! read-model failures are ours and answer a generic message, the cause only logged.

use cashflow_app::{AppError, PortError};
use cashflow_domain::{DomainError, ValidationError};
use cashflow_eventstore::StoreError;
use cashflow_projection_ledger::QueryError;
use thiserror::Error;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Everything a call can fail with: the application's errors, and the read side's.
#[derive(Debug, Error)]
pub enum ApiError {
    /// A command (or a request's parsing) failed, by the application's layers.
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The read model did not reach the requested `min_position` before the call's deadline.
    #[error("the read model has not reached position {0} yet")]
    NotCaughtUp(u64),
}

impl ApiError {
    /// A bug or broken data on our side: answered INTERNAL, the text only logged.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::App(AppError::internal(cause))
    }
}

macro_rules! through_the_application {
    ($($error:ty),*) => {$(
        impl From<$error> for ApiError {
            fn from(error: $error) -> Self {
                Self::App(error.into())
            }
        }
    )*};
}

through_the_application!(ValidationError, DomainError, StoreError);

/// `INVALID_ARGUMENT` with a `google.rpc.BadRequest` violation naming the request field.
pub fn invalid_argument(error: &ValidationError) -> Status {
    Status::with_error_details(
        Code::InvalidArgument,
        error.to_string(),
        ErrorDetails::with_bad_request_violation(error.field, error.message.clone()),
    )
}

fn internal(cause: &dyn std::fmt::Display) -> Status {
    tracing::error!(error = %cause, "internal error answered as INTERNAL");
    Status::internal("internal error")
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::App(AppError::Validation(error)) => invalid_argument(&error),
            ApiError::App(AppError::Domain(error)) => domain_status(error),
            ApiError::App(AppError::Store(error)) => store_status(error),
            ApiError::App(AppError::Port(PortError::Unavailable(cause))) => {
                tracing::warn!(error = %cause, "a read model or the blob store is unavailable");
                Status::unavailable("a dependency is unavailable; retry later")
            }
            ApiError::App(AppError::Port(PortError::Failed(cause)) | AppError::Internal(cause)) => internal(&cause),
            ApiError::Query(error) => query_status(error),
            ApiError::NotCaughtUp(position) => {
                Status::deadline_exceeded(format!("the read model has not reached position {position} in time"))
            }
        }
    }
}

fn domain_status(error: DomainError) -> Status {
    match &error {
        DomainError::NotFound { what } => Status::not_found(format!("{what} not found")),
        DomainError::Invalid(error) => invalid_argument(error),
        DomainError::FailedPrecondition(why) => Status::failed_precondition(why.clone()),
        DomainError::AlreadyExists { what } => Status::already_exists(format!("{what} already exists")),
        DomainError::LimitReached { .. } => Status::resource_exhausted(error.to_string()),
    }
}

fn store_status(error: StoreError) -> Status {
    match error {
        StoreError::Conflict { .. } => {
            tracing::debug!(%error, "version conflict answered as ABORTED");
            Status::aborted("the resource was changed by another request; read it again and retry")
        }
        StoreError::Unavailable(cause) => {
            tracing::warn!(error = %cause, "event store unavailable");
            Status::unavailable("the event store is unavailable; retry later")
        }
        StoreError::Corrupt(_) => internal(&error),
    }
}

fn query_status(error: QueryError) -> Status {
    match error {
        QueryError::Unavailable(cause) => {
            tracing::warn!(error = %cause, "read model unavailable");
            Status::unavailable("the read model is unavailable; retry later")
        }
        other => internal(&other),
    }
}

/// The status of any layer's error: for `.map_err(status)?` where a handler answers `Status`.
pub fn status(error: impl Into<ApiError>) -> Status {
    error.into().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cashflow_eventstore::ExpectedVersion;

    fn violated_field(status: &Status) -> Option<String> {
        let bad_request = status.get_details_bad_request()?;
        bad_request.field_violations.first().map(|v| v.field.clone())
    }

    #[test]
    fn a_validation_error_is_invalid_argument_naming_the_field() {
        let status = status(ValidationError::new("amount", "must be greater than zero"));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(violated_field(&status).as_deref(), Some("amount"));
    }

    #[test]
    fn domain_rejections_map_to_their_codes() {
        let cases = [
            (DomainError::NotFound { what: "movement" }, Code::NotFound),
            (DomainError::FailedPrecondition("voided".into()), Code::FailedPrecondition),
            (DomainError::AlreadyExists { what: "account" }, Code::AlreadyExists),
            (DomainError::Invalid(ValidationError::new("occurred_on", "future")), Code::InvalidArgument),
            (DomainError::LimitReached { what: "categorisation rules", limit: 500 }, Code::ResourceExhausted),
        ];
        for (error, code) in cases {
            assert_eq!(status(error).code(), code);
        }
    }

    #[test]
    fn a_domain_invalid_names_its_field() {
        let status = status(DomainError::Invalid(ValidationError::new("occurred_on", "too far ahead")));
        assert_eq!(violated_field(&status).as_deref(), Some("occurred_on"));
    }

    #[test]
    fn a_conflict_is_aborted_and_an_outage_unavailable() {
        let conflict =
            StoreError::Conflict { stream_id: "movement-x".into(), expected: ExpectedVersion::Exact(1), actual: 2 };
        assert_eq!(status(conflict).code(), Code::Aborted);
        let down = status(StoreError::Unavailable("connection refused to 10.0.0.7:5432".into()));
        assert_eq!(down.code(), Code::Unavailable);
        assert!(!down.message().contains("10.0.0.7"), "{}", down.message());
    }

    #[test]
    fn corrupt_data_is_internal_and_does_not_leak() {
        let status = status(StoreError::Corrupt("row 42 of events: bad payload column".into()));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("row 42"), "{}", status.message());
        let status = Status::from(ApiError::internal("secret detail"));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
    }

    #[test]
    fn an_application_error_keeps_its_code_and_hides_its_cause() {
        let down = status(AppError::from(PortError::Unavailable("blob store at 10.0.0.9".into())));
        assert_eq!(down.code(), Code::Unavailable);
        assert!(!down.message().contains("10.0.0.9"), "{}", down.message());
        let broken = status(AppError::from(PortError::Failed("row 7 is corrupt".into())));
        assert_eq!(broken.code(), Code::Internal);
        assert!(!broken.message().contains("row 7"), "{}", broken.message());
        let refused = status(AppError::from(ValidationError::new("amount", "must be positive")));
        assert_eq!(violated_field(&refused).as_deref(), Some("amount"));
    }

    #[test]
    fn a_read_model_that_is_late_is_deadline_exceeded() {
        assert_eq!(Status::from(ApiError::NotCaughtUp(9)).code(), Code::DeadlineExceeded);
    }
}
