//! Email over SMTP: subject = title, a text/plain body, the notification id in a header.

use crate::Outgoing;
use crate::error::{DeliveryError, with_causes};
use crate::target::{ChannelKind, validate_target};
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

#[derive(Debug, Clone)]
pub(crate) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub(crate) fn new(url: &str, from: &str, timeout: Duration) -> Result<Self, DeliveryError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|error| DeliveryError::Permanent(format!("CASHFLOW_SMTP_URL: {}", with_causes(&error))))?
            .timeout(Some(timeout))
            .build();
        let from = from.parse().map_err(|error| DeliveryError::Permanent(format!("CASHFLOW_SMTP_FROM: {error}")))?;
        Ok(Self { transport, from })
    }

    #[tracing::instrument(name = "smtp send", skip_all)]
    pub(crate) async fn send(&self, target: &str, message: &Outgoing) -> Result<(), DeliveryError> {
        let to: Mailbox = validate_target(ChannelKind::Email, target, false)
            .map_err(|error| DeliveryError::Permanent(error.to_string()))?
            .parse()
            .map_err(|error| DeliveryError::Permanent(format!("not a valid email address: {error}")))?;
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.title.as_str())
            .header(NotificationId(message.notification_id.to_string()))
            .header(ContentType::TEXT_PLAIN)
            .body(message.body.clone())
            .map_err(|error| DeliveryError::Permanent(format!("cannot build the email: {error}")))?;
        self.transport.send(email).await.map(drop).map_err(|error| {
            let text = with_causes(&error);
            // 5xx: the server will refuse this message again. 4xx, timeouts, connection and TLS
            // failures may pass later.
            if error.is_permanent() { DeliveryError::Permanent(text) } else { DeliveryError::Transient(text) }
        })
    }
}

/// `Cashflow-Notification-Id: <uuid>`, so a reply or a bounce can be traced to its notification.
#[derive(Debug, Clone)]
struct NotificationId(String);

impl Header for NotificationId {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Cashflow-Notification-Id")
    }

    fn parse(text: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(text.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}
