//! Errors of the domain: bad input, and rules a command broke.

use thiserror::Error;

/// Input that cannot become a domain value. `field` is the request field's name, so the
/// API can answer `INVALID_ARGUMENT` with a `BadRequest` violation naming it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }

    /// The same error reported under another field name (a value parsed for one field and
    /// used for another, e.g. an amount that is an opening balance).
    pub fn for_field(self, field: &'static str) -> Self {
        Self { field, ..self }
    }
}

/// A command that `decide` refused. Each variant says how a caller should answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    /// The target or a referenced resource does not exist for this owner. Another user's
    /// resource is reported the same way, so its existence is never revealed.
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The input is well-formed but breaks a rule about that field (a date in the future).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The resource's state forbids the command (a voided movement, a closed account).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The resource was already created by an earlier command.
    #[error("{what} already exists")]
    AlreadyExists { what: &'static str },
    /// The owner has as many of `what` as anyone may: the command is refused until some are
    /// gone (answered `RESOURCE_EXHAUSTED`; retrying unchanged will not help).
    #[error("at most {limit} {what} per person")]
    LimitReached { what: &'static str, limit: usize },
}
