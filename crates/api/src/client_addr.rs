//! Who a call comes from, for the limits keyed by client: the TCP peer, or, when the peer is a
//! trusted proxy (`CASHFLOW_TRUSTED_PROXIES`), the first untrusted hop of its `x-forwarded-for`
//! read from the right. A limit counts an IPv6 client as its /64, which one subscriber holds whole.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// Hops of `x-forwarded-for` looked at, from the right: more than any real chain of proxies.
const MAX_HOPS: usize = 16;

/// An address block (`10.0.0.0/8`, `2001:db8::/32`) or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr = addr
            .trim()
            .parse::<IpAddr>()
            .map_err(|_| format!("{text:?} is not an address or a block like 10.0.0.0/8"))?
            .to_canonical();
        let most = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => most,
            Some(prefix) => prefix
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= most)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {most}"))?,
        };
        Ok(Self { addr: mask(addr, prefix), prefix })
    }
}

/// `ip` with all but its first `prefix` bits cleared.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4).checked_shr(32 - u32::from(prefix.min(32))).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits.checked_shl(32 - u32::from(prefix.min(32))).unwrap_or(0)))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6).checked_shr(128 - u32::from(prefix.min(128))).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits.checked_shl(128 - u32::from(prefix.min(128))).unwrap_or(0)))
        }
    }
}

/// The proxies whose `x-forwarded-for` is believed; none unless configured, since any client
/// can send the header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma-separated list of addresses and blocks, e.g. `10.0.0.0/8, 192.0.2.10`.
    fn from_str(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl TrustedProxies {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// The client of a call from `peer` that carries the `x-forwarded-for` values
    /// `forwarded_for`, in the order received. Each trusted proxy appends the address it heard
    /// from, so the entries are read from the right and the first one not trusted is the
    /// client; what is left of it anyone could have written. An entry that is not an address
    /// stops the walk at the proxy that passed it on.
    pub fn client<'a>(&self, peer: Option<SocketAddr>, forwarded_for: impl IntoIterator<Item = &'a str>) -> IpAddr {
        let Some(peer) = peer.map(|peer| peer.ip().to_canonical()) else {
            return IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        };
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for.into_iter().flat_map(|value| value.split(',')).collect();
        let mut client = peer;
        for hop in hops.iter().rev().take(MAX_HOPS) {
            match parse_hop(hop) {
                Some(ip) if self.trusts(ip) => client = ip,
                Some(ip) => return ip,
                None => return client,
            }
        }
        client
    }
}

/// An `x-forwarded-for` entry: an address, possibly with a port (`192.0.2.1:4711`, `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let ip = hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|addr| addr.ip()))?;
    Some(ip.to_canonical())
}

/// What a limit counts as one client: an IPv4 address, or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    pub fn of(ip: IpAddr) -> Self {
        let ip = ip.to_canonical();
        Self(if ip.is_ipv4() { ip } else { mask(ip, 64) })
    }
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn peer(text: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip(text), 40_000))
    }

    #[test]
    fn blocks_parse_and_contain_their_addresses() {
        let net: IpNet = "10.1.2.3/8".parse().unwrap();
        assert!(net.contains(ip("10.200.0.1")) && !net.contains(ip("11.0.0.1")));
        assert!(net.contains(ip("::ffff:10.0.0.1")), "an IPv4-mapped address is its IPv4 address");
        let one: IpNet = "192.0.2.10".parse().unwrap();
        assert!(one.contains(ip("192.0.2.10")) && !one.contains(ip("192.0.2.11")));
        let v6: IpNet = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")) && !v6.contains(ip("2001:db9::1")) && !v6.contains(ip("10.0.0.1")));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.1")));
        for bad in ["", "10.0.0.0/33", "::/129", "example.com", "10.0.0.0/x"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad:?}");
        }
        let list: TrustedProxies = " 10.0.0.0/8, 192.0.2.10 ,".parse().unwrap();
        assert!(list.trusts(ip("10.9.9.9")) && list.trusts(ip("192.0.2.10")) && !list.trusts(ip("192.0.2.11")));
        assert!("10.0.0.0/8, nope".parse::<TrustedProxies>().is_err());
    }

    #[test]
    fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let none = TrustedProxies::default();
        assert_eq!(none.client(peer("198.51.100.7"), ["203.0.113.1"]), ip("198.51.100.7"), "nobody is believed");
        assert_eq!(none.client(None, []), ip("0.0.0.0"));

        let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        assert_eq!(proxies.client(peer("198.51.100.7"), ["203.0.113.1"]), ip("198.51.100.7"), "an untrusted peer");
        assert_eq!(proxies.client(peer("10.0.0.2"), ["203.0.113.1"]), ip("203.0.113.1"));
        // A forged entry on the left is not what the proxy heard.
        assert_eq!(proxies.client(peer("10.0.0.2"), ["1.2.3.4, 203.0.113.1"]), ip("203.0.113.1"));
        // Two proxies of ours; header values are one list in order.
        assert_eq!(proxies.client(peer("10.0.0.2"), ["1.2.3.4, 203.0.113.1", "10.0.0.9"]), ip("203.0.113.1"));
        assert_eq!(proxies.client(peer("10.0.0.2"), ["[2001:db8::1]:443"]), ip("2001:db8::1"));
        assert_eq!(proxies.client(peer("10.0.0.2"), ["203.0.113.1:5000"]), ip("203.0.113.1"));
        // No header, garbage, or only proxies: the last proxy that can be named.
        assert_eq!(proxies.client(peer("10.0.0.2"), []), ip("10.0.0.2"));
        assert_eq!(proxies.client(peer("10.0.0.2"), ["unknown, 10.0.0.9"]), ip("10.0.0.9"));
        assert_eq!(proxies.client(peer("::ffff:10.0.0.2"), ["203.0.113.1"]), ip("203.0.113.1"));
    }

    #[test]
    fn an_ipv6_client_counts_as_its_64() {
        assert_eq!(ClientKey::of(ip("2001:db8:1:2::1")), ClientKey::of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")));
        assert_ne!(ClientKey::of(ip("2001:db8:1:2::1")), ClientKey::of(ip("2001:db8:1:3::1")));
        assert_ne!(ClientKey::of(ip("192.0.2.1")), ClientKey::of(ip("192.0.2.2")));
        assert_eq!(ClientKey::of(ip("::ffff:192.0.2.1")), ClientKey::of(ip("192.0.2.1")));
        assert_eq!(ClientKey::of(ip("2001:db8:1:2::1")).to_string(), "2001:db8:1:2::/64");
    }
}
