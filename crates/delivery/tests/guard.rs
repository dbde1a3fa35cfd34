//! The server-side request forgery guard, end to end: with the default `allow_private: false`,
//! webhook and push targets on internal addresses are refused as permanent and nothing is sent.
//!
//! Only loopback receivers run; the other internal addresses are refused before any connection, so
//! no packet leaves the machine.

mod support;

use axum::http::StatusCode;
use cashflow_delivery::{ChannelKind, Deliverer, DeliveryConfig, DeliveryError, Target};
use support::{config, message, receiver, redirecting_receiver};

fn guarded() -> Deliverer {
    Deliverer::new(config()).unwrap()
}

fn webhook(url: &str) -> Target<'_> {
    Target { kind: ChannelKind::Webhook, target: url, signing_secret: Some("whsec_test") }
}

async fn assert_refused(deliverer: &Deliverer, target: Target<'_>) {
    let error = deliverer.deliver(target, &message()).await.unwrap_err();
    assert!(matches!(error, DeliveryError::Permanent(_)), "{}: {error:?}", target.target);
    assert!(error.to_string().contains("not allowed"), "{}: {error}", target.target);
}

#[tokio::test]
async fn a_webhook_to_a_loopback_ip_is_refused_and_nothing_is_sent() {
    let receiver = receiver(StatusCode::OK).await;

    assert_refused(&guarded(), webhook(&receiver.url("/"))).await;

    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn a_webhook_to_localhost_is_refused_and_nothing_is_sent() {
    let receiver = receiver(StatusCode::OK).await;
    let url = format!("http://localhost:{}/", receiver.addr.port());

    assert_refused(&guarded(), webhook(&url)).await;

    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn webhooks_to_ipv6_loopback_private_and_metadata_addresses_are_refused() {
    let deliverer = guarded();
    for url in [
        "http://[::1]/",
        "http://10.1.2.3/",
        "http://169.254.169.254/latest/meta-data/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://[fd00::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
    ] {
        assert_refused(&deliverer, webhook(url)).await;
    }
}

#[tokio::test]
async fn a_push_to_a_loopback_ip_is_refused_and_nothing_is_sent() {
    let receiver = receiver(StatusCode::OK).await;
    let url = receiver.url("/up");

    assert_refused(&guarded(), Target { kind: ChannelKind::Push, target: &url, signing_secret: None }).await;

    assert!(receiver.received().is_empty());
}

/// A host name that `/etc/hosts` maps only to loopback but that the syntactic check lets through
/// (not `localhost`), such as the machine's own name: only the resolver can refuse it.
fn loopback_alias() -> Option<String> {
    let hosts = std::fs::read_to_string("/etc/hosts").ok()?;
    let mut candidates = Vec::new();
    for line in hosts.lines() {
        let mut fields = line.split('#').next().unwrap_or_default().split_whitespace();
        let Some(Ok(ip)) = fields.next().map(str::parse::<std::net::IpAddr>) else { continue };
        if ip.is_loopback() {
            candidates
                .extend(fields.filter(|name| *name != "localhost" && !name.ends_with(".localhost")).map(str::to_owned));
        }
    }
    candidates.into_iter().find(|name| {
        std::net::ToSocketAddrs::to_socket_addrs(&(name.as_str(), 0))
            .map(|mut addresses| addresses.all(|address| address.ip().is_loopback()))
            .unwrap_or(false)
    })
}

#[tokio::test]
async fn a_host_name_resolving_to_loopback_is_refused_by_the_resolver() {
    let Some(alias) = loopback_alias() else {
        eprintln!("skipped: /etc/hosts has no loopback alias other than localhost");
        return;
    };
    // The receiver listens on the IPv4 loopback; the alias may resolve to it.
    let receiver = receiver(StatusCode::OK).await;
    let url = format!("http://{alias}:{}/", receiver.addr.port());
    assert_eq!(cashflow_delivery::validate_target(ChannelKind::Webhook, &url, false).as_deref(), Ok(url.as_str()));

    let error = guarded().deliver(webhook(&url), &message()).await.unwrap_err();
    assert!(matches!(error, DeliveryError::Permanent(_)), "{error:?}");
    assert!(error.to_string().contains("resolves only to internal addresses"), "{error}");
    assert!(receiver.received().is_empty(), "{alias} reached the receiver");

    // The same name with private addresses allowed reaches the receiver when it resolves to
    // 127.0.0.1, so the refusal above was the guard's doing.
    let allowed = Deliverer::new(DeliveryConfig { allow_private: true, ..config() }).unwrap();
    if allowed.deliver(webhook(&url), &message()).await.is_ok() {
        assert_eq!(receiver.received().len(), 1);
    }
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let inner = receiver(StatusCode::OK).await;
    let outer = redirecting_receiver(&inner.url("/internal")).await;
    let deliverer = Deliverer::new(DeliveryConfig { allow_private: true, ..config() }).unwrap();

    let error = deliverer.deliver(webhook(&outer.url("/")), &message()).await.unwrap_err();

    assert!(matches!(error, DeliveryError::Transient(_)), "{error:?}");
    assert_eq!(outer.received().len(), 1);
    assert!(inner.received().is_empty(), "the redirect was followed");
}
