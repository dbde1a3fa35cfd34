//! The crate's errors, by how a caller should react.

/// Why one delivery failed, by whether trying again can help.
///
/// The caller (the delivery worker) retries [`DeliveryError::Transient`] with backoff and gives up on
/// [`DeliveryError::Permanent`] at once, recording the reason on the delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// May succeed later: a timeout, a refused or reset connection, an HTTP 5xx, 408 or 429, an SMTP
    /// 4xx. Webhook receivers answering any other non-2xx status land here too: a person's endpoint
    /// that is down or misconfigured today is often fixed tomorrow, so webhooks are retried while they
    /// fail and the worker's retry budget decides when to stop.
    #[error("delivery failed, may succeed later: {0}")]
    Transient(String),
    /// Will never succeed as it stands: the target is malformed or points at a forbidden (private,
    /// loopback, …) address, the channel is not configured on this server (no SMTP URL, no SMS
    /// account), the message cannot be built, an SMTP 5xx, a push endpoint that is gone (404/410) or
    /// an SMS API rejecting the request (400).
    #[error("delivery failed for good: {0}")]
    Permanent(String),
}

impl DeliveryError {
    /// Whether trying the same delivery again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// Why a channel's target was refused when a person adds it (see [`crate::validate_target`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("not a valid email address: {0}")]
    Email(String),
    #[error("not a valid URL: {0}")]
    Url(String),
    #[error("only http and https URLs are accepted, not {0}:")]
    Scheme(String),
    #[error("the URL has no host")]
    NoHost,
    #[error("the URL must not contain a user name or password")]
    UserInfo,
    #[error("{0} is a loopback, private, link-local or otherwise internal address, which is not allowed")]
    Private(String),
    #[error("not a phone number in international (E.164) form: '+' then 8 to 15 digits, the first not 0")]
    Phone,
}

/// The error message with its chain of causes, `outer: inner: innermost`.
pub(crate) fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // hyper and reqwest often repeat the inner message in the outer one.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
