//! Email delivery against an SMTP sink the test runs.

mod support;

use cashflow_delivery::{ChannelKind, Deliverer, DeliveryConfig, DeliveryError, Target};
use support::{SmtpMode, config, message, smtp_sink};

fn email_to(address: &str) -> Target<'_> {
    Target { kind: ChannelKind::Email, target: address, signing_secret: None }
}

fn with_smtp(url: String) -> DeliveryConfig {
    DeliveryConfig { smtp_url: Some(url), ..config() }
}

#[tokio::test]
async fn an_email_carries_the_title_the_body_and_the_notification_id() {
    let sink = smtp_sink(SmtpMode::Accept).await;
    let deliverer = Deliverer::new(with_smtp(sink.url())).unwrap();

    deliverer.deliver(email_to("ana@example.com"), &message()).await.unwrap();

    let mails = sink.mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.mail_from, "MAIL FROM:<cashflow@example.com>");
    assert_eq!(mail.rcpt_to, ["RCPT TO:<ana@example.com>"]);
    assert_eq!(mail.header("From").as_deref(), Some("Cashflow <cashflow@example.com>"));
    assert_eq!(mail.header("To").as_deref(), Some("ana@example.com"));
    assert_eq!(mail.header("Subject").as_deref(), Some("Groceries at 80%"));
    assert_eq!(mail.header("Cashflow-Notification-Id").as_deref(), Some("0190f5a4-7c1e-7a52-9a1e-3c5d2b7e8f01"));
    assert_eq!(mail.header("Content-Type").as_deref(), Some("text/plain; charset=utf-8"));
    assert_eq!(mail.body().trim_end(), message().body);
}

#[tokio::test]
async fn a_server_deferring_the_message_is_a_transient_failure() {
    let sink = smtp_sink(SmtpMode::DeferData).await;
    let deliverer = Deliverer::new(with_smtp(sink.url())).unwrap();

    let error = deliverer.deliver(email_to("ana@example.com"), &message()).await.unwrap_err();

    assert!(matches!(error, DeliveryError::Transient(_)), "{error:?}");
    assert!(error.to_string().contains("451"), "{error}");
    assert!(sink.mails.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_recipient_the_server_refuses_is_a_permanent_failure() {
    let sink = smtp_sink(SmtpMode::RejectRecipient).await;
    let deliverer = Deliverer::new(with_smtp(sink.url())).unwrap();

    let error = deliverer.deliver(email_to("nobody@example.com"), &message()).await.unwrap_err();

    assert!(matches!(error, DeliveryError::Permanent(_)), "{error:?}");
}

#[tokio::test]
async fn an_unreachable_smtp_server_is_a_transient_failure() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let deliverer = Deliverer::new(with_smtp(format!("smtp://127.0.0.1:{port}"))).unwrap();

    let error = deliverer.deliver(email_to("ana@example.com"), &message()).await.unwrap_err();

    assert!(matches!(error, DeliveryError::Transient(_)), "{error:?}");
}

#[tokio::test]
async fn email_without_an_smtp_url_is_a_permanent_failure() {
    let deliverer = Deliverer::new(config()).unwrap();

    let error = deliverer.deliver(email_to("ana@example.com"), &message()).await.unwrap_err();

    assert!(matches!(&error, DeliveryError::Permanent(text) if text.contains("CASHFLOW_SMTP_URL")), "{error:?}");
}

#[tokio::test]
async fn a_malformed_address_is_a_permanent_failure_and_sends_nothing() {
    let sink = smtp_sink(SmtpMode::Accept).await;
    let deliverer = Deliverer::new(with_smtp(sink.url())).unwrap();

    let error = deliverer.deliver(email_to("not an address"), &message()).await.unwrap_err();

    assert!(matches!(error, DeliveryError::Permanent(_)), "{error:?}");
    assert!(sink.mails.lock().unwrap().is_empty());
}

#[test]
fn a_malformed_smtp_url_or_from_address_fails_at_start_up() {
    let bad_url = Deliverer::new(with_smtp("ftp://mail.example.com".into())).unwrap_err();
    assert!(matches!(&bad_url, DeliveryError::Permanent(text) if text.contains("CASHFLOW_SMTP_URL")), "{bad_url:?}");
    let bad_from =
        Deliverer::new(DeliveryConfig { smtp_from: "nobody".into(), ..with_smtp("smtp://127.0.0.1:2525".into()) })
            .unwrap_err();
    assert!(matches!(&bad_from, DeliveryError::Permanent(text) if text.contains("CASHFLOW_SMTP_FROM")), "{bad_from:?}");
}

#[test]
fn smtps_and_starttls_urls_build_a_transport_with_rustls() {
    for url in [
        "smtps://mailer:secret@mail.example.com",
        "smtp://mail.example.com:587?tls=required",
        "smtp://mail.example.com:587?tls=opportunistic",
    ] {
        Deliverer::new(with_smtp(url.into())).unwrap_or_else(|error| panic!("{url}: {error}"));
    }
}
