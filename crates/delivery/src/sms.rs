//! SMS through a Twilio-compatible API: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`.

use crate::error::DeliveryError;
use crate::http::{check_status, send_error};
use crate::target::{ChannelKind, validate_target};
use crate::{DeliveryConfig, Outgoing};
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;

#[tracing::instrument(name = "sms post", skip_all)]
pub(crate) async fn send(
    client: &reqwest::Client,
    config: &DeliveryConfig,
    target: &str,
    message: &Outgoing,
) -> Result<(), DeliveryError> {
    let (Some(base), Some(sid), Some(token), Some(from)) =
        (&config.sms_api_url, &config.sms_account_sid, &config.sms_auth_token, &config.sms_from)
    else {
        return Err(DeliveryError::Permanent(
            "SMS is not configured: set CASHFLOW_SMS_API_URL, CASHFLOW_SMS_ACCOUNT_SID, CASHFLOW_SMS_AUTH_TOKEN and CASHFLOW_SMS_FROM".into(),
        ));
    };
    let to = validate_target(ChannelKind::Sms, target, false)
        .map_err(|error| DeliveryError::Permanent(error.to_string()))?;
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| DeliveryError::Permanent("CASHFLOW_SMS_API_URL cannot be a base URL".into()))?
        .pop_if_empty()
        .extend(["2010-04-01", "Accounts", sid, "Messages.json"]);
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("To", &to)
        .append_pair("From", from)
        .append_pair("Body", &format!("{}\n{}", message.title, message.body))
        .finish();
    let response = client
        .post(url)
        .basic_auth(sid, Some(token))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .map_err(send_error)?;
    check_status(response.status(), |status| match status {
        // Twilio answers 400 for a request it will never accept (an invalid or unreachable number).
        StatusCode::BAD_REQUEST => DeliveryError::Permanent(format!("the SMS API refused the message ({status})")),
        // 401/403 are our credentials: the operator can fix them, so keep the delivery.
        _ => DeliveryError::Transient(format!("the SMS API answered {status}")),
    })
}
