//! [`ChannelKind`], [`Target`] and [`validate_target`], the check made when a person adds a channel.

use crate::error::TargetError;
use crate::guard::is_forbidden;
pub use cashflow_domain::notification::ChannelKind;
use lettre::Address;
use std::net::IpAddr;
use std::str::FromStr;
use url::{Host, Url};

/// Where one delivery goes: the channel as the person configured it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub kind: ChannelKind,
    /// An email address, a webhook or push URL, or an E.164 phone number.
    pub target: &'a str,
    /// The webhook's HMAC key; required for webhooks, ignored by the other kinds.
    pub signing_secret: Option<&'a str>,
}

/// Checks a channel's target as a person typed it and returns it normalised (trimmed; for email the
/// domain lowercased; for URLs the parsed form without fragment; for SMS without spaces, dashes,
/// dots or parentheses).
///
/// Syntactic only: no DNS lookup. A URL naming a literal internal IP address or `localhost` is
/// refused unless `allow_private`; a host name resolving to an internal address is refused at
/// delivery time by the guarded resolver.
pub fn validate_target(kind: ChannelKind, target: &str, allow_private: bool) -> Result<String, TargetError> {
    let target = target.trim();
    match kind {
        ChannelKind::Email => validate_email(target),
        ChannelKind::Webhook | ChannelKind::Push => validate_url(target, allow_private).map(String::from),
        ChannelKind::Sms => validate_phone(target),
    }
}

fn validate_email(target: &str) -> Result<String, TargetError> {
    let address = Address::from_str(target).map_err(|error| TargetError::Email(error.to_string()))?;
    let normalised = Address::new(address.user(), address.domain().to_lowercase())
        .map_err(|error| TargetError::Email(error.to_string()))?;
    Ok(normalised.to_string())
}

/// Parses and checks a webhook or push URL; [`crate::Deliverer`] runs it again before every send.
pub(crate) fn validate_url(target: &str, allow_private: bool) -> Result<Url, TargetError> {
    let mut url = Url::parse(target).map_err(|error| TargetError::Url(error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TargetError::Scheme(url.scheme().to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TargetError::UserInfo);
    }
    let internal = match url.host() {
        None => return Err(TargetError::NoHost),
        Some(Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.');
            domain.is_empty() || domain == "localhost" || domain.ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => is_forbidden(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_forbidden(IpAddr::V6(ip)),
    };
    if internal && !allow_private {
        return Err(TargetError::Private(url.host_str().unwrap_or_default().to_owned()));
    }
    url.set_fragment(None);
    Ok(url)
}

fn validate_phone(target: &str) -> Result<String, TargetError> {
    let compact: String = target.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
    let digits = compact.strip_prefix('+').ok_or(TargetError::Phone)?;
    let valid =
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    if valid { Ok(compact) } else { Err(TargetError::Phone) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ChannelKind::*;

    #[test]
    fn an_email_address_is_trimmed_and_its_domain_lowercased() {
        assert_eq!(validate_target(Email, " Ana@Example.COM ", false).unwrap(), "Ana@example.com");
    }

    #[test]
    fn a_malformed_email_address_is_refused() {
        for bad in ["", "ana", "ana@", "@example.com", "ana@exa mple.com", "Ana <ana@example.com>"] {
            let error = validate_target(Email, bad, false).unwrap_err();
            assert!(matches!(error, TargetError::Email(_)), "{bad}: {error}");
            assert!(error.to_string().starts_with("not a valid email address"));
        }
    }

    #[test]
    fn a_public_https_url_is_accepted_without_its_fragment() {
        assert_eq!(
            validate_target(Webhook, "https://hooks.example.com/cashflow?x=1#frag", false).unwrap(),
            "https://hooks.example.com/cashflow?x=1"
        );
        assert_eq!(
            validate_target(Push, "http://ntfy.example.org/mytopic", false).unwrap(),
            "http://ntfy.example.org/mytopic"
        );
        assert_eq!(validate_target(Webhook, "https://8.8.8.8/", false).unwrap(), "https://8.8.8.8/");
    }

    #[test]
    fn only_http_and_https_are_accepted() {
        for (bad, scheme) in [("ftp://example.com/", "ftp"), ("file:///etc/passwd", "file"), ("gopher://x/", "gopher")]
        {
            assert_eq!(validate_target(Webhook, bad, false), Err(TargetError::Scheme(scheme.into())));
        }
        assert!(matches!(validate_target(Webhook, "example.com/hook", false), Err(TargetError::Url(_))));
    }

    #[test]
    fn a_url_with_credentials_is_refused() {
        assert_eq!(validate_target(Webhook, "https://user:pw@example.com/", false), Err(TargetError::UserInfo));
        assert_eq!(validate_target(Push, "https://user@example.com/", true), Err(TargetError::UserInfo));
    }

    #[test]
    fn internal_literal_addresses_and_localhost_are_refused_unless_allowed() {
        for bad in [
            "http://127.0.0.1:8080/",
            "http://localhost/",
            "http://LOCALHOST./",
            "http://app.localhost/",
            "http://[::1]/",
            "http://10.1.2.3/",
            "http://192.168.0.10/",
            "http://169.254.169.254/latest/meta-data/",
            "http://100.64.1.1/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0/",
        ] {
            let error = validate_target(Webhook, bad, false).unwrap_err();
            assert!(matches!(error, TargetError::Private(_)), "{bad}: {error}");
            assert!(error.to_string().contains("not allowed"));
            assert!(validate_target(Webhook, bad, true).is_ok(), "{bad} with allow_private");
        }
    }

    #[test]
    fn an_e164_number_is_accepted_and_compacted() {
        assert_eq!(validate_target(Sms, "+34 600 123 456", false).unwrap(), "+34600123456");
        assert_eq!(validate_target(Sms, "+1 (415) 555-2671", false).unwrap(), "+14155552671");
        assert_eq!(validate_target(Sms, "+12345678", false).unwrap(), "+12345678");
        assert_eq!(validate_target(Sms, "+123456789012345", false).unwrap(), "+123456789012345");
    }

    #[test]
    fn anything_else_is_not_a_phone_number() {
        for bad in
            ["", "600123456", "+", "+1234567", "+1234567890123456", "+0123456789", "+34 600 12a 456", "++34600123456"]
        {
            assert_eq!(validate_target(Sms, bad, false), Err(TargetError::Phone), "{bad}");
        }
        assert!(TargetError::Phone.to_string().contains("E.164"));
    }
}
