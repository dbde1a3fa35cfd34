//! The HTTP client the webhook, push and SMS adapters share, and what its failures mean for a retry.

use crate::DeliveryConfig;
use crate::error::{DeliveryError, with_causes};
use crate::guard::{GuardedResolver, refused_by_guard};
use reqwest::StatusCode;

pub(crate) fn client(
    config: &DeliveryConfig,
    resolver: Option<GuardedResolver>,
) -> Result<reqwest::Client, DeliveryError> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .user_agent(concat!("cashflow-delivery/", env!("CARGO_PKG_VERSION")));
    if let Some(resolver) = resolver {
        builder = builder.dns_resolver(resolver);
    }
    builder
        .build()
        .map_err(|error| DeliveryError::Permanent(format!("cannot build the HTTP client: {}", with_causes(&error))))
}

/// A request that got no response: refused by the guard is permanent, anything else (timeout,
/// connection refused or reset, DNS failure) transient.
pub(crate) fn send_error(error: reqwest::Error) -> DeliveryError {
    let text = with_causes(&error);
    if refused_by_guard(&error) || error.is_builder() {
        DeliveryError::Permanent(text)
    } else {
        DeliveryError::Transient(text)
    }
}

/// 2xx is delivered; 5xx, 408 and 429 are transient; what other statuses mean is the channel's
/// choice (`other`).
pub(crate) fn check_status(
    status: StatusCode,
    other: impl FnOnce(StatusCode) -> DeliveryError,
) -> Result<(), DeliveryError> {
    if status.is_success() {
        Ok(())
    } else if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        Err(DeliveryError::Transient(format!("the receiver answered {status}")))
    } else {
        Err(other(status))
    }
}
