//! Push: a UnifiedPush / ntfy style POST of the body text, the title in a `Title` header.

use crate::Outgoing;
use crate::error::DeliveryError;
use crate::http::{check_status, send_error};
use crate::target::validate_url;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderValue};

#[tracing::instrument(name = "push post", skip_all)]
pub(crate) async fn send(
    client: &reqwest::Client,
    allow_private: bool,
    target: &str,
    message: &Outgoing,
) -> Result<(), DeliveryError> {
    let url = validate_url(target, allow_private).map_err(|error| DeliveryError::Permanent(error.to_string()))?;
    let response = client
        .post(url)
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .header("Title", title_header(&message.title))
        .header("Cashflow-Delivery", message.notification_id.to_string())
        .body(message.body.clone())
        .send()
        .await
        .map_err(send_error)?;
    check_status(response.status(), |status| match status {
        // UnifiedPush and Web Push distributors answer these when the subscription no longer exists.
        StatusCode::NOT_FOUND | StatusCode::GONE => {
            DeliveryError::Permanent(format!("the push endpoint is gone ({status})"))
        }
        _ => DeliveryError::Transient(format!("the push endpoint answered {status}")),
    })
}

/// The title as a header value: control characters (a line break would end the header) become
/// spaces; other text, UTF-8 included, is sent as is (ntfy and Go's HTTP server read it as UTF-8).
fn title_header(title: &str) -> HeaderValue {
    let clean: String = title.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    HeaderValue::from_bytes(clean.trim().as_bytes()).expect("no control characters left")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_header_has_no_line_breaks_and_keeps_utf8() {
        assert_eq!(title_header("Café\r\nX-Evil: 1").as_bytes(), "Café  X-Evil: 1".as_bytes());
    }
}
