//! Where a connection goes, from the name it asked for: a static map of names and
//! wildcards, a DNS mode bounded by allowed prefixes, a default backend. Sans-IO: the
//! DNS lookup itself is the caller's, [`Routes::admit`] judges its answer.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;

use ipnet::Ipv6Net;
use sixgate_core::rfc6052::{embed, Pool6};

/// Which PROXY protocol header the proxy writes to a backend before the client's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendProxy {
    /// Version 1, text.
    V1,
    /// Version 2, binary, with the requested name as a `PP2_TYPE_AUTHORITY` TLV.
    V2,
}

impl std::str::FromStr for SendProxy {
    type Err = RouteError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "v1" => Ok(Self::V1),
            "v2" => Ok(Self::V2),
            _ => Err(RouteError::SendProxy(s.to_owned())),
        }
    }
}

/// A backend: an IPv6 address and port, and the PROXY header it expects (if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Backend {
    /// Where to connect.
    pub addr: SocketAddrV6,
    /// The PROXY header to send first; `None`: the client's bytes only.
    pub send_proxy: Option<SendProxy>,
}

/// Why a route table or a name in it is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The name is not a host name (letters, digits, `-`, `_`, dots; labels of 1 to 63
    /// bytes, 253 in all) or a wildcard `*.` before one.
    #[error("{0:?} is not a host name or a wildcard `*.example.com`")]
    BadName(String),
    /// The same name twice.
    #[error("{0:?} is routed twice")]
    Duplicate(String),
    /// A backend is not an IPv6 `[addr]:port`.
    #[error("{0:?} is not an IPv6 backend: write [2001:db8::1]:443")]
    BadBackend(String),
    /// A `send_proxy` value other than `v1` and `v2`.
    #[error("send_proxy {0:?}: use \"v1\" or \"v2\"")]
    SendProxy(String),
}

/// Parses a backend `[v6]:port`; a bare IPv6 address takes `default_port`.
pub fn parse_backend(s: &str, default_port: u16) -> Result<SocketAddrV6, RouteError> {
    let bad = || RouteError::BadBackend(s.to_owned());
    if let Ok(SocketAddr::V6(a)) = s.parse::<SocketAddr>() {
        return if a.port() == 0 || a.scope_id() != 0 { Err(bad()) } else { Ok(a) };
    }
    let ip: Ipv6Addr = s.parse().map_err(|_| bad())?;
    Ok(SocketAddrV6::new(ip, default_port, 0, 0))
}

/// A requested name as the table keys it ([`crate::normalize_host_name`]: lower case, no
/// trailing dot); `None` when it is not a host name (an address literal included: RFC 6066
/// §3 forbids those in SNI).
pub fn normalize(name: &str) -> Option<String> {
    if name.parse::<IpAddr>().is_ok() {
        return None;
    }
    crate::normalize_host_name(name.as_bytes()).ok()
}

/// DNS mode: a name not in the map is looked up (AAAA) and connected to only when the
/// answer lies inside one of `prefixes`, so the proxy never relays to arbitrary addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsMode {
    /// The prefixes backends found by DNS must lie in.
    pub prefixes: Vec<Ipv6Net>,
    /// The port to connect to.
    pub port: u16,
    /// The PROXY header those backends get.
    pub send_proxy: Option<SendProxy>,
}

/// One listener's routes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    exact: HashMap<String, Backend>,
    /// Keyed by the suffix after `*.`: `example.com` for `*.example.com`.
    wildcard: HashMap<String, Backend>,
    dns: Option<DnsMode>,
    default: Option<Backend>,
    nat46: Option<Pool6>,
}

/// What to do with a connection whose first bytes named `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Connect to this backend.
    Connect(Backend),
    /// Look up the AAAA records of `name` and pass them to [`Routes::admit`].
    Resolve {
        /// The normalized name.
        name: String,
    },
    /// Refuse the connection (TLS: `unrecognized_name` alert; HTTP: 421, or 400 without a Host).
    Refuse(Refusal),
}

/// Why a connection is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// No route for the name (or no name) and no default backend.
    UnknownName,
    /// The name's addresses all lie outside the allowed backend prefixes.
    RefusedPrefix,
}

impl Refusal {
    /// The outcome's counter name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::UnknownName => "unknown_name",
            Self::RefusedPrefix => "refused_prefix",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Routes {
    /// No routes: every name refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `name` (a host name or `*.suffix`) to `backend`. A wildcard matches one or
    /// more labels before the suffix, never the suffix itself; the longest suffix wins.
    pub fn insert(&mut self, name: &str, backend: Backend) -> Result<(), RouteError> {
        let bad = || RouteError::BadName(name.to_owned());
        let (map, key) = match name.strip_prefix("*.") {
            Some(suffix) => (&mut self.wildcard, normalize(suffix).ok_or_else(bad)?),
            None => (&mut self.exact, normalize(name).ok_or_else(bad)?),
        };
        if map.insert(key, backend).is_some() {
            return Err(RouteError::Duplicate(name.to_owned()));
        }
        Ok(())
    }

    /// Turns DNS mode on.
    pub fn set_dns(&mut self, dns: DnsMode) {
        self.dns = Some(dns);
    }

    /// The backend for names nothing else routes.
    pub fn set_default(&mut self, backend: Backend) {
        self.default = Some(backend);
    }

    /// Connects from `prefix` + the client's IPv4 address (RFC 6052 §2.2) instead of the
    /// host's own address.
    pub fn set_nat46(&mut self, prefix: Pool6) {
        self.nat46 = Some(prefix);
    }

    /// The NAT46 prefix, if set.
    pub fn nat46(&self) -> Option<Pool6> {
        self.nat46
    }

    /// Whether DNS mode is on.
    pub fn dns(&self) -> Option<&DnsMode> {
        self.dns.as_ref()
    }

    /// The decision for a connection that asked for `name` (`None`: no SNI, no Host).
    /// Order: the exact name, the most specific wildcard, DNS mode, the default backend.
    pub fn route(&self, name: Option<&str>) -> Decision {
        let Some(name) = name.and_then(normalize) else {
            return self.fallback();
        };
        if let Some(b) = self.exact.get(&name) {
            return Decision::Connect(*b);
        }
        if !self.wildcard.is_empty() {
            let mut rest = name.as_str();
            while let Some((_, suffix)) = rest.split_once('.') {
                if let Some(b) = self.wildcard.get(suffix) {
                    return Decision::Connect(*b);
                }
                rest = suffix;
            }
        }
        if self.dns.is_some() {
            return Decision::Resolve { name };
        }
        self.fallback()
    }

    /// Judges the AAAA answer for a [`Decision::Resolve`]: the first address inside the
    /// allowed prefixes; none inside is a refusal; no address at all falls back to the
    /// default backend. [`Routes::candidates`] gives the addresses to try after it.
    pub fn admit(&self, addrs: &[Ipv6Addr]) -> Decision {
        if self.dns.is_none() || addrs.is_empty() {
            return self.fallback();
        }
        match self.candidates(addrs).first() {
            Some(b) => Decision::Connect(*b),
            None => Decision::Refuse(Refusal::RefusedPrefix),
        }
    }

    /// DNS mode: the backends to try, in turn, for the AAAA answer `addrs` — the addresses
    /// inside the allowed prefixes, in the order the resolver gave them, each once, at most
    /// [`MAX_DNS_TRIES`]. Empty when DNS mode is off or no address is inside (then
    /// [`Routes::admit`] says what to do).
    pub fn candidates(&self, addrs: &[Ipv6Addr]) -> Vec<Backend> {
        let Some(dns) = &self.dns else { return Vec::new() };
        let mut v: Vec<Backend> = Vec::with_capacity(MAX_DNS_TRIES.min(addrs.len()));
        for a in addrs.iter().filter(|a| dns.prefixes.iter().any(|p| p.contains(*a))) {
            if v.len() == MAX_DNS_TRIES {
                break;
            }
            let b = Backend { addr: SocketAddrV6::new(*a, dns.port, 0, 0), send_proxy: dns.send_proxy };
            if !v.contains(&b) {
                v.push(b);
            }
        }
        v
    }

    fn fallback(&self) -> Decision {
        match self.default {
            Some(b) => Decision::Connect(b),
            None => Decision::Refuse(Refusal::UnknownName),
        }
    }

    /// The number of names and wildcards routed.
    pub fn len(&self) -> usize {
        self.exact.len() + self.wildcard.len()
    }

    /// Whether no name or wildcard is routed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The most addresses of one name that DNS mode tries, in the resolver's order, before it
/// gives up on the connection.
pub const MAX_DNS_TRIES: usize = 3;

/// The time one connection attempt may take when `remaining` of the connect timeout is
/// left and `left` attempts (this one included) remain: an equal share of what is left,
/// so a first address whose packets are silently dropped leaves time for the others and
/// all attempts together stay within the connect timeout. An attempt that fails early
/// leaves its unused time to the next ones.
pub fn attempt_budget(remaining: Duration, left: usize) -> Duration {
    let left = u32::try_from(left.max(1)).unwrap_or(u32::MAX);
    remaining / left
}

/// The source address of the connection to the backend for a client at `client`: the
/// client's IPv4 address embedded in `prefix` (RFC 6052 §2.2); `None` for an IPv6 client,
/// which keeps the host's own source address.
pub fn nat46_source(prefix: &Pool6, client: IpAddr) -> Option<Ipv6Addr> {
    let v4 = match client {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => v6.to_ipv4_mapped()?,
    };
    Some(embed(prefix, v4))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b(s: &str) -> Backend {
        Backend { addr: parse_backend(s, 443).unwrap(), send_proxy: None }
    }

    #[test]
    fn exact_then_most_specific_wildcard_then_default() {
        let mut r = Routes::new();
        r.insert("www.example.com", b("[2001:db8::1]:443")).unwrap();
        r.insert("*.example.com", b("[2001:db8::2]:443")).unwrap();
        r.insert("*.api.example.com", b("[2001:db8::3]:443")).unwrap();
        assert_eq!(r.route(Some("WWW.Example.com.")), Decision::Connect(b("[2001:db8::1]:443")));
        assert_eq!(r.route(Some("a.example.com")), Decision::Connect(b("[2001:db8::2]:443")));
        assert_eq!(r.route(Some("x.y.api.example.com")), Decision::Connect(b("[2001:db8::3]:443")));
        assert_eq!(r.route(Some("api.example.com")), Decision::Connect(b("[2001:db8::2]:443")));
        assert_eq!(r.route(Some("example.com")), Decision::Refuse(Refusal::UnknownName));
        assert_eq!(r.route(None), Decision::Refuse(Refusal::UnknownName));
        assert_eq!(r.route(Some("192.0.2.1")), Decision::Refuse(Refusal::UnknownName));
        r.set_default(b("2001:db8::99"));
        assert_eq!(r.route(Some("other.org")), Decision::Connect(b("[2001:db8::99]:443")));
        assert_eq!(r.insert("*.example.com", b("::1")), Err(RouteError::Duplicate("*.example.com".into())));
        assert!(r.insert("*", b("::1")).is_err());
        assert!(r.insert("a..b", b("::1")).is_err());
    }

    #[test]
    fn dns_answers_outside_the_prefixes_are_refused() {
        let mut r = Routes::new();
        r.set_dns(DnsMode { prefixes: vec!["2001:db8:100::/48".parse().unwrap()], port: 8443, send_proxy: None });
        assert_eq!(r.route(Some("Site.Example")), Decision::Resolve { name: "site.example".into() });
        let inside: Ipv6Addr = "2001:db8:100::5".parse().unwrap();
        let outside: Ipv6Addr = "2001:db8:200::5".parse().unwrap();
        assert_eq!(
            r.admit(&[outside, inside]),
            Decision::Connect(Backend { addr: SocketAddrV6::new(inside, 8443, 0, 0), send_proxy: None })
        );
        assert_eq!(r.admit(&[outside]), Decision::Refuse(Refusal::RefusedPrefix));
        assert_eq!(r.admit(&[]), Decision::Refuse(Refusal::UnknownName));
    }

    #[test]
    fn dns_tries_up_to_three_inside_addresses_in_the_resolvers_order() {
        let mut r = Routes::new();
        r.set_dns(DnsMode {
            prefixes: vec!["2001:db8:100::/48".parse().unwrap()],
            port: 443,
            send_proxy: Some(SendProxy::V2),
        });
        let a = |s: &str| -> Ipv6Addr { s.parse().unwrap() };
        let bk = |s: &str| Backend { addr: SocketAddrV6::new(a(s), 443, 0, 0), send_proxy: Some(SendProxy::V2) };
        let answer = [
            a("2001:db8:100::9"),
            a("2001:db8:200::1"),
            a("2001:db8:100::3"),
            a("2001:db8:100::9"),
            a("2001:db8:100::1"),
            a("2001:db8:100::2"),
        ];
        // Outside addresses and repeats left out, the order kept, the fourth inside one not tried.
        assert_eq!(r.candidates(&answer), vec![bk("2001:db8:100::9"), bk("2001:db8:100::3"), bk("2001:db8:100::1")]);
        assert_eq!(r.admit(&answer), Decision::Connect(bk("2001:db8:100::9")));
        assert_eq!(r.candidates(&answer[..2]), vec![bk("2001:db8:100::9")]);
        assert!(r.candidates(&[a("2001:db8:200::1")]).is_empty());
        assert!(r.candidates(&[]).is_empty());
        assert!(Routes::new().candidates(&answer).is_empty());
    }

    #[test]
    fn attempts_share_the_connect_timeout() {
        let t = Duration::from_millis(3000);
        assert_eq!(attempt_budget(t, 3), Duration::from_millis(1000));
        assert_eq!(attempt_budget(t, 1), t);
        assert_eq!(attempt_budget(t, 0), t);
        // A first attempt refused at once leaves the rest to the other two.
        assert_eq!(attempt_budget(t - Duration::from_millis(2), 2), Duration::from_millis(1499));
    }

    #[test]
    fn backends_are_ipv6_only() {
        assert!(parse_backend("192.0.2.1:443", 443).is_err());
        assert!(parse_backend("[2001:db8::1]:0", 443).is_err());
        assert_eq!(parse_backend("2001:db8::1", 80).unwrap().port(), 80);
    }

    #[test]
    fn nat46_sources_embed_the_client() {
        let p: Pool6 = "2001:db8:46::/96".parse().unwrap();
        assert_eq!(nat46_source(&p, "192.0.2.7".parse().unwrap()), Some("2001:db8:46::c000:207".parse().unwrap()));
        assert_eq!(nat46_source(&p, "2001:db8::7".parse().unwrap()), None);
    }

    fn label() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,8}"
    }

    proptest! {
        /// A wildcard routes every name below its suffix, never the suffix itself, and an
        /// exact name always wins over it.
        #[test]
        fn wildcard_matches_below_the_suffix(
            suffix in prop::collection::vec(label(), 1..4),
            below in prop::collection::vec(label(), 1..4),
        ) {
            let suffix = suffix.join(".");
            let name = format!("{}.{suffix}", below.join("."));
            let mut r = Routes::new();
            r.insert(&format!("*.{suffix}"), b("::2")).unwrap();
            prop_assert_eq!(r.route(Some(&name.to_ascii_uppercase())), Decision::Connect(b("::2")));
            prop_assert_eq!(r.route(Some(&suffix)), Decision::Refuse(Refusal::UnknownName));
            r.insert(&name, b("::1")).unwrap();
            prop_assert_eq!(r.route(Some(&name)), Decision::Connect(b("::1")));
        }

        /// Of two wildcards that both match, the longer suffix wins.
        #[test]
        fn the_longer_wildcard_wins(
            base in prop::collection::vec(label(), 1..3),
            extra in label(),
            host in label(),
        ) {
            let base = base.join(".");
            let mut r = Routes::new();
            r.insert(&format!("*.{base}"), b("::1")).unwrap();
            r.insert(&format!("*.{extra}.{base}"), b("::2")).unwrap();
            prop_assert_eq!(r.route(Some(&format!("{host}.{extra}.{base}"))), Decision::Connect(b("::2")));
        }

        /// Any string routes without panicking, and only to something configured.
        #[test]
        fn any_name_is_judged(name in ".{0,300}") {
            let mut r = Routes::new();
            r.insert("*.example.com", b("::2")).unwrap();
            match r.route(Some(&name)) {
                Decision::Connect(x) => prop_assert_eq!(x, b("::2")),
                d => prop_assert_eq!(d, Decision::Refuse(Refusal::UnknownName)),
            }
        }

        /// The candidates are the answer's inside addresses, in its order, each once, at most three;
        /// together the attempts' budgets never exceed the connect timeout.
        #[test]
        fn candidates_keep_the_answers_order(addrs in prop::collection::vec(0u128..8, 0..10), ms in 0u64..100_000) {
            let net: Ipv6Net = "2001:db8:100::/125".parse().unwrap();
            let mut r = Routes::new();
            r.set_dns(DnsMode { prefixes: vec![net], port: 443, send_proxy: None });
            let addrs: Vec<Ipv6Addr> =
                addrs.into_iter().map(|n| Ipv6Addr::from(u128::from(net.network()) + n * 3)).collect();
            let mut want: Vec<Ipv6Addr> = Vec::new();
            for a in addrs.iter().filter(|a| net.contains(*a)) {
                if !want.contains(a) {
                    want.push(*a);
                }
            }
            want.truncate(MAX_DNS_TRIES);
            let got: Vec<Ipv6Addr> = r.candidates(&addrs).iter().map(|b| *b.addr.ip()).collect();
            prop_assert_eq!(got, want);
            let total = Duration::from_millis(ms);
            let mut left = total;
            let mut spent = Duration::ZERO;
            for n in (1..=MAX_DNS_TRIES).rev() {
                let b = attempt_budget(left, n);
                spent += b;
                left -= b;
            }
            prop_assert!(spent <= total);
        }

        /// DNS answers are admitted only inside the prefixes.
        #[test]
        fn dns_never_relays_outside(addrs in prop::collection::vec(any::<u128>(), 0..6)) {
            let net: Ipv6Net = "2001:db8:100::/48".parse().unwrap();
            let mut r = Routes::new();
            r.set_dns(DnsMode { prefixes: vec![net], port: 443, send_proxy: None });
            let addrs: Vec<Ipv6Addr> = addrs.into_iter().map(Ipv6Addr::from).collect();
            if let Decision::Connect(x) = r.admit(&addrs) {
                prop_assert!(net.contains(x.addr.ip()));
            }
        }
    }
}
