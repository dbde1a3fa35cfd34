//! Notification delivery: the adapters that deliver one notification to one channel (email, webhook, push, SMS).
//!
//! # Layout
//!
//! - this file: [`Deliverer`], built once from a [`DeliveryConfig`], whose [`Deliverer::deliver`]
//!   sends one [`Outgoing`] notification to one [`Target`].
//! - [`config`]: [`DeliveryConfig`] and the `CASHFLOW_SMTP_*` / `CASHFLOW_SMS_*` settings.
//! - [`error`]: [`DeliveryError`] (transient or permanent) and [`TargetError`].
//! - [`message`]: [`Outgoing`] and its canonical JSON, the webhook body.
//! - [`target`]: [`ChannelKind`], [`Target`] and [`validate_target`], run when a channel is added.
//! - [`guard`]: the server-side request forgery guard (which addresses are internal; the DNS
//!   resolver the webhook and push client uses).
//! - [`sign`](mod@sign): the `Cashflow-Signature` header of webhooks.
//! - `email`, `webhook`, `push`, `sms`: one adapter per channel; `http`: what their HTTP statuses
//!   and errors mean for a retry.
//!
//! # Delivery rules
//!
//! No redirect is followed and no proxy from the environment is used, so a webhook or push request
//! goes only to the address the guard let through. The SMS API's URL is the operator's, not a
//! person's, so its client has no guard.
//!
//! # Tests
//!
//! `tests/` start real receivers on 127.0.0.1 port 0 (`tests/support`: an SMTP sink, an axum HTTP
//! receiver): `email.rs`, `http.rs` (webhook, push, SMS) and `guard.rs` (what the guard refuses).
#![forbid(unsafe_code)]

pub mod config;
mod email;
pub mod error;
pub mod guard;
mod http;
pub mod message;
mod push;
pub mod sign;
mod sms;
pub mod target;
mod webhook;

pub use config::DeliveryConfig;
pub use error::{DeliveryError, TargetError};
pub use message::Outgoing;
pub use sign::sign;
pub use target::{ChannelKind, Target, validate_target};

use tracing::Instrument;

/// Delivers notifications; built once and shared (it holds connection pools).
#[derive(Debug, Clone)]
pub struct Deliverer {
    config: DeliveryConfig,
    /// For the person's webhook and push URLs: the guarded resolver, no redirects, no proxy.
    guarded: reqwest::Client,
    /// For the operator's SMS API.
    operator: reqwest::Client,
    email: Option<email::Mailer>,
}

impl Deliverer {
    /// Builds the HTTP clients and, when `smtp_url` is set, the SMTP transport. Fails as
    /// [`DeliveryError::Permanent`] on a malformed SMTP URL or `From` address.
    pub fn new(config: DeliveryConfig) -> Result<Self, DeliveryError> {
        let guarded = http::client(&config, Some(guard::GuardedResolver { allow_private: config.allow_private }))?;
        let operator = http::client(&config, None)?;
        let email = match &config.smtp_url {
            Some(url) => Some(email::Mailer::new(url, &config.smtp_from, config.timeout)?),
            None => None,
        };
        Ok(Self { config, guarded, operator, email })
    }

    /// Sends `message` to `target` once. The caller records the outcome and retries
    /// [`DeliveryError::Transient`] failures.
    pub async fn deliver(&self, target: Target<'_>, message: &Outgoing) -> Result<(), DeliveryError> {
        let span = tracing::info_span!(
            "deliver",
            channel = target.kind.as_str(),
            notification_id = %message.notification_id,
        );
        async {
            let outcome = match target.kind {
                ChannelKind::Email => match &self.email {
                    Some(mailer) => mailer.send(target.target, message).await,
                    None => {
                        Err(DeliveryError::Permanent("email is not configured: CASHFLOW_SMTP_URL is not set".into()))
                    }
                },
                ChannelKind::Webhook => webhook::send(&self.guarded, self.config.allow_private, target, message).await,
                ChannelKind::Push => push::send(&self.guarded, self.config.allow_private, target.target, message).await,
                ChannelKind::Sms => sms::send(&self.operator, &self.config, target.target, message).await,
            };
            match &outcome {
                Ok(()) => tracing::info!("delivered"),
                Err(error) => tracing::warn!(%error, transient = error.is_transient(), "not delivered"),
            }
            outcome
        }
        .instrument(span)
        .await
    }
}
