//! Webhook, push and SMS delivery against an HTTP receiver the test runs on 127.0.0.1.
//!
//! The receiver is on loopback, so these configurations set `allow_private: true` for webhooks and
//! push (tests/guard.rs shows the default refusing it); the SMS API is the operator's and unguarded.

mod support;

use axum::http::{Method, StatusCode};
use cashflow_delivery::{ChannelKind, Deliverer, DeliveryConfig, DeliveryError, Target};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::time::Duration;
use support::{config, message, receiver, slow_receiver};

const SECRET: &str = "whsec_0123456789abcdef";

fn private_allowed() -> Deliverer {
    Deliverer::new(DeliveryConfig { allow_private: true, ..config() }).unwrap()
}

fn webhook(url: &str) -> Target<'_> {
    Target { kind: ChannelKind::Webhook, target: url, signing_secret: Some(SECRET) }
}

fn push(url: &str) -> Target<'_> {
    Target { kind: ChannelKind::Push, target: url, signing_secret: None }
}

#[tokio::test]
async fn a_webhook_posts_the_canonical_json_signed_with_the_channel_secret() {
    let receiver = receiver(StatusCode::NO_CONTENT).await;
    let url = receiver.url("/hooks/cashflow?source=test");

    private_allowed().deliver(webhook(&url), &message()).await.unwrap();

    let requests = receiver.received();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path_and_query, "/hooks/cashflow?source=test");
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(request.header("cashflow-delivery"), "0190f5a4-7c1e-7a52-9a1e-3c5d2b7e8f01");

    // The signature, checked the way a receiver would, without the crate's `sign`.
    let signature = request.header("cashflow-signature");
    let (t, v1) = signature
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .unwrap_or_else(|| panic!("malformed signature {signature}"));
    let timestamp: i64 = t.parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60, "timestamp {timestamp} is not now");
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", request.body).as_bytes());
    assert_eq!(v1, hex::encode(mac.finalize().into_bytes()));

    let json: serde_json::Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "notificationId": "0190f5a4-7c1e-7a52-9a1e-3c5d2b7e8f01",
            "topic": "NOTIFICATION_TOPIC_BUDGET_THRESHOLD",
            "title": "Groceries at 80%",
            "body": "You spent 400.00 EUR of your 500.00 EUR groceries budget for December.",
            "subjectId": "budget-0190f5a4",
            "createdAt": "2026-12-02T09:30:00Z",
            "read": false,
            "data": {"percent": "80", "currency": "EUR"},
        })
    );
}

#[tokio::test]
async fn a_webhook_answering_500_is_a_transient_failure() {
    let receiver = receiver(StatusCode::INTERNAL_SERVER_ERROR).await;

    let error = private_allowed().deliver(webhook(&receiver.url("/")), &message()).await.unwrap_err();

    assert!(matches!(error, DeliveryError::Transient(_)), "{error:?}");
    assert!(error.to_string().contains("500"), "{error}");
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_webhook_answering_another_4xx_is_still_retried() {
    let receiver = receiver(StatusCode::GONE).await;

    let error = private_allowed().deliver(webhook(&receiver.url("/")), &message()).await.unwrap_err();

    assert!(matches!(error, DeliveryError::Transient(_)), "{error:?}");
}

#[tokio::test]
async fn a_webhook_without_a_signing_secret_is_a_permanent_failure_and_sends_nothing() {
    let receiver = receiver(StatusCode::OK).await;
    let url = receiver.url("/");
    let unsigned = Target { signing_secret: None, ..webhook(&url) };

    let error = private_allowed().deliver(unsigned, &message()).await.unwrap_err();

    assert!(matches!(error, DeliveryError::Permanent(_)), "{error:?}");
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn a_receiver_that_is_not_listening_is_a_transient_failure() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };

    let url = format!("http://127.0.0.1:{port}/");
    let error = private_allowed().deliver(webhook(&url), &message()).await.unwrap_err();

    assert!(matches!(error, DeliveryError::Transient(_)), "{error:?}");
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_is_a_transient_failure() {
    let receiver = slow_receiver(Duration::from_secs(3)).await;
    let deliverer =
        Deliverer::new(DeliveryConfig { allow_private: true, timeout: Duration::from_millis(300), ..config() })
            .unwrap();

    let error = deliverer.deliver(webhook(&receiver.url("/")), &message()).await.unwrap_err();

    assert!(matches!(error, DeliveryError::Transient(_)), "{error:?}");
}

#[tokio::test]
async fn a_push_posts_the_body_with_the_title_in_a_header() {
    let receiver = receiver(StatusCode::OK).await;

    private_allowed().deliver(push(&receiver.url("/upAbC123")), &message()).await.unwrap();

    let requests = receiver.received();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path_and_query, "/upAbC123");
    assert_eq!(request.body, message().body);
    assert_eq!(request.header("title"), "Groceries at 80%");
    assert_eq!(request.header("cashflow-delivery"), "0190f5a4-7c1e-7a52-9a1e-3c5d2b7e8f01");
    assert_eq!(request.header("content-type"), "text/plain; charset=utf-8");
}

#[tokio::test]
async fn a_push_endpoint_that_is_gone_is_a_permanent_failure() {
    let receiver = receiver(StatusCode::GONE).await;

    let error = private_allowed().deliver(push(&receiver.url("/up")), &message()).await.unwrap_err();

    assert!(matches!(error, DeliveryError::Permanent(_)), "{error:?}");
}

fn sms_config(api: &str) -> DeliveryConfig {
    DeliveryConfig {
        sms_api_url: Some(api.parse().unwrap()),
        sms_account_sid: Some("AC0123456789".into()),
        sms_auth_token: Some("tok3n-secret".into()),
        sms_from: Some("+15005550006".into()),
        ..config()
    }
}

fn sms(number: &str) -> Target<'_> {
    Target { kind: ChannelKind::Sms, target: number, signing_secret: None }
}

#[tokio::test]
async fn an_sms_goes_to_the_accounts_messages_resource_with_basic_auth() {
    let receiver = receiver(StatusCode::CREATED).await;
    // The SMS API is the operator's: reached on loopback with the guard still on.
    let deliverer = Deliverer::new(sms_config(&receiver.url("/"))).unwrap();

    deliverer.deliver(sms("+34 600 123 456"), &message()).await.unwrap();

    let requests = receiver.received();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path_and_query, "/2010-04-01/Accounts/AC0123456789/Messages.json");
    assert_eq!(request.header("content-type"), "application/x-www-form-urlencoded");
    // python3 -c "import base64;print(base64.b64encode(b'AC0123456789:tok3n-secret').decode())"
    assert_eq!(request.header("authorization"), "Basic QUMwMTIzNDU2Nzg5OnRvazNuLXNlY3JldA==");
    let form: Vec<(String, String)> = url::form_urlencoded::parse(request.body.as_bytes()).into_owned().collect();
    let expected_body = format!("{}\n{}", message().title, message().body);
    assert_eq!(
        form,
        [
            ("To".to_owned(), "+34600123456".to_owned()),
            ("From".to_owned(), "+15005550006".to_owned()),
            ("Body".to_owned(), expected_body),
        ]
    );
}

#[tokio::test]
async fn an_sms_api_under_a_path_keeps_its_path() {
    let receiver = receiver(StatusCode::CREATED).await;
    let deliverer = Deliverer::new(sms_config(&receiver.url("/twilio/"))).unwrap();

    deliverer.deliver(sms("+34600123456"), &message()).await.unwrap();

    assert_eq!(receiver.received()[0].path_and_query, "/twilio/2010-04-01/Accounts/AC0123456789/Messages.json");
}

#[tokio::test]
async fn an_sms_the_api_refuses_is_a_permanent_failure_and_a_5xx_transient() {
    let refusing = receiver(StatusCode::BAD_REQUEST).await;
    let error = Deliverer::new(sms_config(&refusing.url("/")))
        .unwrap()
        .deliver(sms("+34600123456"), &message())
        .await
        .unwrap_err();
    assert!(matches!(error, DeliveryError::Permanent(_)), "{error:?}");

    let failing = receiver(StatusCode::SERVICE_UNAVAILABLE).await;
    let error = Deliverer::new(sms_config(&failing.url("/")))
        .unwrap()
        .deliver(sms("+34600123456"), &message())
        .await
        .unwrap_err();
    assert!(matches!(error, DeliveryError::Transient(_)), "{error:?}");
}

#[tokio::test]
async fn sms_without_an_account_or_to_a_malformed_number_is_a_permanent_failure() {
    let error = Deliverer::new(config()).unwrap().deliver(sms("+34600123456"), &message()).await.unwrap_err();
    assert!(matches!(&error, DeliveryError::Permanent(text) if text.contains("CASHFLOW_SMS_API_URL")), "{error:?}");

    let receiver = receiver(StatusCode::CREATED).await;
    let error = Deliverer::new(sms_config(&receiver.url("/")))
        .unwrap()
        .deliver(sms("600123456"), &message())
        .await
        .unwrap_err();
    assert!(matches!(error, DeliveryError::Permanent(_)), "{error:?}");
    assert!(receiver.received().is_empty());
}
