//! The server-side request forgery guard: which addresses a person's webhook or push URL may reach.
//!
//! Checked twice: [`crate::validate_target`] refuses literal internal IPs and `localhost` in the URL,
//! and the guarded resolver, the HTTP client's only DNS resolver, drops internal addresses from every
//! lookup. Because the check sits in the resolver, a name that resolves to a public address when the
//! channel is added and to `127.0.0.1` later (DNS rebinding) is still refused, and no redirect is
//! followed, so a receiver cannot bounce the request inward either.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether `ip` is internal to a network rather than a public host on the internet: unspecified,
/// loopback, private (RFC 1918, fc00::/7), link-local, CGNAT (100.64.0.0/10), multicast, broadcast or
/// reserved; IPv4 inside IPv6 (mapped, NAT64) is judged by its IPv4 address.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_unspecified()
        || a == 0 // "this network", 0.0.0.0/8
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || (a == 100 && (64..128).contains(&b)) // CGNAT, 100.64.0.0/10
        || ip.is_multicast()
        || ip.is_broadcast()
        || a >= 240 // reserved, 240.0.0.0/4
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_forbidden_v4(v4);
    }
    let segments = ip.segments();
    // NAT64's well-known prefix 64:ff9b::/96 reaches the IPv4 address in its last 32 bits.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let octets = ip.octets();
        return is_forbidden_v4(Ipv4Addr::new(octets[12], octets[13], octets[14], octets[15]));
    }
    ip.is_unspecified()
        || ip.is_loopback()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local, fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80 // link-local, fe80::/10
        || (segments[0] & 0xffc0) == 0xfec0 // deprecated site-local, fec0::/10
        || ip.is_multicast()
}

/// Refused because every address the name resolved to is internal.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to internal addresses (such as {address}), which are not allowed")]
pub(crate) struct ForbiddenAddress {
    pub host: String,
    pub address: IpAddr,
}

/// The webhook and push client's DNS resolver: the system's lookup (`tokio::net::lookup_host`) with
/// internal addresses removed unless `allow_private`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                resolved.iter().copied().filter(|address| allow_private || !is_forbidden(address.ip())).collect();
            match (allowed.is_empty(), resolved.first()) {
                (false, _) => Ok(Box::new(allowed.into_iter()) as Addrs),
                (true, Some(first)) => {
                    tracing::warn!(%host, address = %first.ip(), "refused a delivery to an internal address");
                    Err(Box::new(ForbiddenAddress { host, address: first.ip() }) as _)
                }
                (true, None) => Err(format!("{host} resolved to no address").into()),
            }
        })
    }
}

/// Whether a client error came from [`GuardedResolver`] refusing the target.
pub(crate) fn refused_by_guard(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<ForbiddenAddress>() {
            return true;
        }
        current = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(text: &str) -> bool {
        is_forbidden(text.parse().unwrap())
    }

    #[test]
    fn internal_addresses_are_forbidden() {
        for address in [
            "0.0.0.0",
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(forbidden(address), "{address} should be forbidden");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for address in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(!forbidden(address), "{address} should be allowed");
        }
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_with_only_internal_addresses_unless_allowed() {
        let name = || "localhost".parse::<Name>().unwrap();

        let error = match (GuardedResolver { allow_private: false }).resolve(name()).await {
            Ok(addresses) => panic!("resolved to {:?}", addresses.collect::<Vec<_>>()),
            Err(error) => error,
        };
        assert!(refused_by_guard(error.as_ref()), "{error}");
        assert!(error.to_string().contains("not allowed"), "{error}");

        let allowed: Vec<SocketAddr> =
            (GuardedResolver { allow_private: true }).resolve(name()).await.unwrap().collect();
        assert!(!allowed.is_empty() && allowed.iter().all(|address| address.ip().is_loopback()), "{allowed:?}");
    }
}
