//! [`DeliveryConfig`]: the server's side of each channel (SMTP relay, SMS account, the guard).

use std::time::Duration;
use url::Url;

/// How this server reaches each channel. Built once at start-up; a channel whose settings are
/// missing fails its deliveries as [`crate::DeliveryError::Permanent`] instead of refusing to start.
///
/// Its `Debug` hides the SMS auth token and the SMTP URL's password, so it can be logged.
#[derive(Clone)]
pub struct DeliveryConfig {
    /// `CASHFLOW_SMTP_URL`: `smtp://host:port` (plain), `smtp://host:port?tls=required` (STARTTLS),
    /// `smtps://host:port` (TLS from the start); `user:password@` for AUTH. None: no email.
    pub smtp_url: Option<String>,
    /// `CASHFLOW_SMTP_FROM`: the `From` mailbox, e.g. `Cashflow <cashflow@example.com>`.
    pub smtp_from: String,
    /// `CASHFLOW_SMS_API_URL`: the Twilio-compatible API's base, e.g. `https://api.twilio.com`.
    pub sms_api_url: Option<Url>,
    /// `CASHFLOW_SMS_ACCOUNT_SID`.
    pub sms_account_sid: Option<String>,
    /// `CASHFLOW_SMS_AUTH_TOKEN`.
    pub sms_auth_token: Option<String>,
    /// `CASHFLOW_SMS_FROM`: the sending number.
    pub sms_from: Option<String>,
    /// `CASHFLOW_WEBHOOK_ALLOW_PRIVATE=true`: let webhook and push targets reach loopback and
    /// private addresses (tests, a home server on a LAN). Off by default.
    pub allow_private: bool,
    /// Whole-request limit for each HTTP request and each SMTP command.
    pub timeout: Duration,
}

impl std::fmt::Debug for DeliveryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let smtp_url = self.smtp_url.as_deref().map(|url| match Url::parse(url) {
            Ok(mut parsed) if parsed.password().is_some() => {
                let _ = parsed.set_password(Some("redacted"));
                parsed.to_string()
            }
            Ok(_) => url.to_owned(),
            Err(_) => "<malformed>".to_owned(),
        });
        f.debug_struct("DeliveryConfig")
            .field("smtp_url", &smtp_url)
            .field("smtp_from", &self.smtp_from)
            .field("sms_api_url", &self.sms_api_url.as_ref().map(Url::as_str))
            .field("sms_account_sid", &self.sms_account_sid)
            .field("sms_auth_token", &self.sms_auth_token.as_ref().map(|_| "redacted"))
            .field("sms_from", &self.sms_from)
            .field("allow_private", &self.allow_private)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl DeliveryConfig {
    /// The default request timeout.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// Reads the `CASHFLOW_SMTP_*`, `CASHFLOW_SMS_*` and `CASHFLOW_WEBHOOK_ALLOW_PRIVATE` variables.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`DeliveryConfig::from_env`], reading each setting through `lookup`; an empty value counts
    /// as unset. The error names the setting that is malformed.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let get = |name: &str| lookup(name).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty());
        let sms_api_url = get("CASHFLOW_SMS_API_URL")
            .map(|value| Url::parse(&value).map_err(|error| format!("CASHFLOW_SMS_API_URL: {error}")))
            .transpose()?;
        let allow_private = match get("CASHFLOW_WEBHOOK_ALLOW_PRIVATE").as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => return Err(format!("CASHFLOW_WEBHOOK_ALLOW_PRIVATE: expected true or false, not {other}")),
        };
        Ok(Self {
            smtp_url: get("CASHFLOW_SMTP_URL"),
            smtp_from: get("CASHFLOW_SMTP_FROM").unwrap_or_else(|| "Cashflow <cashflow@localhost>".to_owned()),
            sms_api_url,
            sms_account_sid: get("CASHFLOW_SMS_ACCOUNT_SID"),
            sms_auth_token: get("CASHFLOW_SMS_AUTH_TOKEN"),
            sms_from: get("CASHFLOW_SMS_FROM"),
            allow_private,
            timeout: Self::DEFAULT_TIMEOUT,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<DeliveryConfig, String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        DeliveryConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn nothing_set_means_no_channel_configured_and_the_guard_on() {
        let config = from(&[]).unwrap();
        assert_eq!(config.smtp_url, None);
        assert_eq!(config.sms_api_url, None);
        assert!(!config.allow_private);
        assert_eq!(config.timeout, DeliveryConfig::DEFAULT_TIMEOUT);
    }

    #[test]
    fn settings_are_read_and_malformed_ones_named() {
        let config = from(&[
            ("CASHFLOW_SMTP_URL", "smtp://mail:25"),
            ("CASHFLOW_SMTP_FROM", "me@example.com"),
            ("CASHFLOW_SMS_API_URL", "https://api.twilio.com"),
            ("CASHFLOW_WEBHOOK_ALLOW_PRIVATE", "true"),
        ])
        .unwrap();
        assert_eq!(config.smtp_url.as_deref(), Some("smtp://mail:25"));
        assert_eq!(config.smtp_from, "me@example.com");
        assert!(config.allow_private);
        assert!(from(&[("CASHFLOW_SMS_API_URL", "not a url")]).unwrap_err().contains("CASHFLOW_SMS_API_URL"));
        assert!(from(&[("CASHFLOW_WEBHOOK_ALLOW_PRIVATE", "yes")]).unwrap_err().contains("ALLOW_PRIVATE"));
    }

    #[test]
    fn debug_output_hides_the_secrets() {
        let config = from(&[
            ("CASHFLOW_SMTP_URL", "smtp://mailer:hunter2@mail.example.com:587?tls=required"),
            ("CASHFLOW_SMS_AUTH_TOKEN", "tok3n-secret"),
        ])
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2") && !debug.contains("tok3n-secret"), "{debug}");
        assert!(debug.contains("mail.example.com"), "{debug}");
    }
}
