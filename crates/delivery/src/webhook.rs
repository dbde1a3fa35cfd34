//! Webhooks: the notification's canonical JSON, signed, POSTed to the person's URL.

use crate::error::DeliveryError;
use crate::http::{check_status, send_error};
use crate::target::validate_url;
use crate::{Outgoing, Target, sign};
use reqwest::header::CONTENT_TYPE;

#[tracing::instrument(name = "webhook post", skip_all)]
pub(crate) async fn send(
    client: &reqwest::Client,
    allow_private: bool,
    target: Target<'_>,
    message: &Outgoing,
) -> Result<(), DeliveryError> {
    let url =
        validate_url(target.target, allow_private).map_err(|error| DeliveryError::Permanent(error.to_string()))?;
    let secret = target
        .signing_secret
        .ok_or_else(|| DeliveryError::Permanent("the webhook channel has no signing secret".into()))?;
    let body = message.canonical_json();
    let signature = sign(secret, chrono::Utc::now().timestamp(), &body);
    let response = client
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .header("Cashflow-Delivery", message.notification_id.to_string())
        .header("Cashflow-Signature", signature)
        .body(body)
        .send()
        .await
        .map_err(send_error)?;
    // Any other status (3xx, 4xx) is transient too: the person may fix their receiver, and the
    // worker's retry budget bounds how long we keep trying.
    check_status(response.status(), |status| DeliveryError::Transient(format!("the webhook answered {status}")))
}
