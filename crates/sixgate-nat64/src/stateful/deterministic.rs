//! Deterministic address and port mapping (RFC 7422): every subscriber prefix has one
//! pool4 address and one fixed port range, computed from the configuration alone, so that
//! no translation needs to be logged to answer "who held 203.0.113.7 port 40123?".
//!
//! # The mapping
//! The subscribers are the prefixes of length `L` ([`Deterministic::prefix_len`]) inside
//! `S` ([`Deterministic::subscribers`]), numbered `i = 0 .. 2^(L − len(S))` by the bits
//! between the two lengths. Each pool4 range `r` (in configuration order) has `A_r`
//! addresses and ports `first_r ..= last_r`, cut into `k_r = ⌊(last_r − first_r + 1) / P⌋`
//! ranges of `P` ports ([`Deterministic::ports`]); it holds `C_r = A_r · k_r`
//! subscribers, and range `r` starts at subscriber `B_r = C_0 + … + C_{r−1}`. Subscriber
//! `i` with `B_r ≤ i < B_r + C_r`, `j = i − B_r`, gets
//!
//! ```text
//! address = first address of r + (j mod A_r)
//! ports   = first_r + ⌊j / A_r⌋ · P  ..=  first_r + ⌊j / A_r⌋ · P + P − 1
//! ```
//!
//! that is, as RFC 7422 §2 lays it out, subscribers go round the pool addresses first and
//! take the next port range of each address on the next round; the reverse is
//! `j = ⌊(port − first_r) / P⌋ · A_r + (address − first address of r)`. It is a bijection
//! between the `2^(L − len(S))` subscribers and the first that many (address, range) pairs;
//! configuration validation requires `Σ C_r ≥ 2^(L − len(S))` (pool4 sizing:
//! `addresses ≥ subscribers · P / ports per address`).
//!
//! # The trade-off
//! A subscriber can never use more than its `P` ports on its one address (per protocol),
//! however idle the rest of the pool is: a new flow beyond them is dropped
//! (`subscriber-ports`), and one from a source outside `S` is dropped
//! (`not-subscriber`). In exchange nothing is logged at all, and the abuse desk answers
//! from the configuration (`sixgate nat64 lookup`). Changing `S`, `L`, `P` or pool4 moves
//! subscribers, so a reload keeps the running mapping and reports that a restart is needed
//! (and the configuration of a past day is what answers a question about that day).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;

use ipnet::Ipv6Net;

use super::Pool4Range;
use crate::ConfigError;

/// The deterministic mapping's parameters ([`super::Allocation::Deterministic`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Deterministic {
    /// Where the subscribers are: every prefix of length `prefix_len` inside it is one.
    pub subscribers: Ipv6Net,
    /// A subscriber's prefix length (56 to 128).
    pub prefix_len: u8,
    /// Ports per subscriber (the same for every pool4 range).
    pub ports: u16,
}

impl Deterministic {
    /// Subscribers of length `prefix_len` in `subscribers`, `ports` ports each.
    pub fn new(subscribers: Ipv6Net, prefix_len: u8, ports: u16) -> Self {
        Self { subscribers: subscribers.trunc(), prefix_len, ports }
    }
}

/// Why [`DeterministicMap`] has no answer for a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// The IPv4 address or port is in no pool4 range.
    #[error("{addr} port {port} is not in pool4; give an address and port of a pool4 entry")]
    NotInPool {
        /// The address asked about.
        addr: Ipv4Addr,
        /// The port asked about.
        port: u16,
    },
    /// In pool4, but in no subscriber's range (pool4 is larger than the subscribers need,
    /// or the port is in the remainder of a range after its last whole port range).
    #[error("{addr} port {port} is in pool4 but in no subscriber's port range (pool4 has more room than the subscribers take)")]
    Unassigned {
        /// The address asked about.
        addr: Ipv4Addr,
        /// The port asked about.
        port: u16,
    },
    /// The IPv6 address is not in the subscriber prefix.
    #[error("{addr} is not in the subscriber prefix {subscribers}; give an address inside it")]
    NotSubscriber {
        /// The address asked about.
        addr: Ipv6Addr,
        /// The subscriber prefix.
        subscribers: Ipv6Net,
    },
}

/// One subscriber's share: its prefix, pool4 address and port range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// The subscriber prefix.
    pub subscriber: Ipv6Net,
    /// Its pool4 address.
    pub ipv4: Ipv4Addr,
    /// Its ports.
    pub ports: RangeInclusive<u16>,
}

/// A range of the mapping: first address, addresses, first port, port ranges per address,
/// first subscriber index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    addr: u32,
    n_addrs: u64,
    first: u16,
    last: u16,
    k: u64,
    base: u64,
}

/// The RFC 7422 mapping of a configuration (see the module doc for the formula).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeterministicMap {
    d: Deterministic,
    spans: Vec<Span>,
    n_subs: u64,
}

impl DeterministicMap {
    /// The mapping of `d` over `pool4`; refuses parameters out of range and a pool too
    /// small for the subscribers.
    pub fn new(d: &Deterministic, pool4: &[Pool4Range]) -> Result<Self, ConfigError> {
        let plen = d.subscribers.prefix_len();
        if !(56..=128).contains(&d.prefix_len) || d.prefix_len < plen || d.prefix_len - plen > 32 {
            return Err(ConfigError::SubscriberPrefixLen { len: d.prefix_len, subscribers: Some(d.subscribers) });
        }
        if d.ports == 0 {
            return Err(ConfigError::ZeroLimit { field: "port_block" });
        }
        let n_subs = 1u64 << (d.prefix_len - plen);
        let mut spans = Vec::with_capacity(pool4.len());
        let mut base = 0u64;
        for r in pool4 {
            let span = u64::from(r.last.saturating_sub(r.first)) + 1;
            let k = span / u64::from(d.ports);
            if k == 0 || r.first > r.last {
                return Err(ConfigError::BlockTooLarge {
                    size: d.ports,
                    prefix: r.prefix,
                    first: r.first,
                    last: r.last,
                });
            }
            let n_addrs = 1u64 << (32 - r.prefix.prefix_len());
            spans.push(Span { addr: u32::from(r.prefix.network()), n_addrs, first: r.first, last: r.last, k, base });
            base += n_addrs * k;
        }
        if base < n_subs {
            return Err(ConfigError::DeterministicTooSmall { subscribers: n_subs, room: base, ports: d.ports });
        }
        Ok(Self { d: *d, spans, n_subs })
    }

    /// The parameters.
    pub fn params(&self) -> &Deterministic {
        &self.d
    }

    /// Subscribers in the mapping.
    pub fn subscribers(&self) -> u64 {
        self.n_subs
    }

    /// The index of the subscriber holding `addr`, if it is in the subscriber prefix.
    #[inline]
    pub(super) fn index_of(&self, addr: u128) -> Option<u64> {
        let plen = u32::from(self.d.subscribers.prefix_len());
        let net = u128::from(self.d.subscribers.network());
        // `plen` ≤ 128 and the prefix bits of `net` past `plen` are 0.
        if plen > 0 && (addr ^ net) >> (128 - plen) != 0 {
            return None;
        }
        let shift = 128 - u32::from(self.d.prefix_len);
        let low = addr.checked_shr(shift).unwrap_or(0);
        let mask = (1u128 << (u32::from(self.d.prefix_len) - plen)) - 1;
        Some((low & mask) as u64)
    }

    /// Subscriber `i`'s prefix.
    fn prefix_of(&self, i: u64) -> Ipv6Net {
        let shift = 128 - u32::from(self.d.prefix_len);
        let a = u128::from(self.d.subscribers.network()) | u128::from(i).checked_shl(shift).unwrap_or(0);
        Ipv6Net::new(Ipv6Addr::from(a), self.d.prefix_len).map_or(self.d.subscribers, |n| n.trunc())
    }

    /// Subscriber `i`'s (pool4 address, first port) (`i` below [`Self::subscribers`]).
    #[inline]
    pub(super) fn slot_of(&self, i: u64) -> Option<(u32, u16)> {
        let s = self.spans.iter().rev().find(|s| s.base <= i)?;
        let j = i - s.base;
        if j >= s.n_addrs * s.k || i >= self.n_subs {
            return None;
        }
        let a = s.addr + (j % s.n_addrs) as u32;
        let p = u64::from(s.first) + (j / s.n_addrs) * u64::from(self.d.ports);
        Some((a, p as u16))
    }

    /// The share of the subscriber holding IPv6 address `addr`.
    pub fn share_of(&self, addr: Ipv6Addr) -> Result<Share, LookupError> {
        let not = || LookupError::NotSubscriber { addr, subscribers: self.d.subscribers };
        let i = self.index_of(u128::from(addr)).ok_or_else(not)?;
        let (a, p) = self.slot_of(i).ok_or_else(not)?;
        Ok(Share { subscriber: self.prefix_of(i), ipv4: Ipv4Addr::from(a), ports: p..=p + (self.d.ports - 1) })
    }

    /// The share holding pool4 transport address `addr`:`port`.
    pub fn holder_of(&self, addr: Ipv4Addr, port: u16) -> Result<Share, LookupError> {
        let a = u32::from(addr);
        let s = self
            .spans
            .iter()
            .find(|s| a >= s.addr && u64::from(a - s.addr) < s.n_addrs && (s.first..=s.last).contains(&port))
            .ok_or(LookupError::NotInPool { addr, port })?;
        let b = u64::from(port - s.first) / u64::from(self.d.ports);
        let i = s.base + b * s.n_addrs + u64::from(a - s.addr);
        if b >= s.k || i >= self.n_subs {
            return Err(LookupError::Unassigned { addr, port });
        }
        let p = s.first + (b as u16) * self.d.ports;
        Ok(Share { subscriber: self.prefix_of(i), ipv4: addr, ports: p..=p + (self.d.ports - 1) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(subs: &str, len: u8, ports: u16, pool: &[(&str, u16, u16)]) -> Result<DeterministicMap, ConfigError> {
        let pool: Vec<_> = pool.iter().map(|&(p, a, b)| Pool4Range::new(p.parse().unwrap(), a, b)).collect();
        DeterministicMap::new(&Deterministic::new(subs.parse().unwrap(), len, ports), &pool)
    }

    #[test]
    fn round_robin_over_addresses() {
        let m = map("2001:db8::/56", 64, 1000, &[("198.51.100.0/30", 1024, 65535)]).unwrap();
        let s0 = m.share_of("2001:db8::1".parse().unwrap()).unwrap();
        assert_eq!((s0.ipv4, s0.ports), ("198.51.100.0".parse().unwrap(), 1024..=2023));
        let s1 = m.share_of("2001:db8:0:1::".parse().unwrap()).unwrap();
        assert_eq!((s1.ipv4, s1.ports), ("198.51.100.1".parse().unwrap(), 1024..=2023));
        let s4 = m.share_of("2001:db8:0:4::".parse().unwrap()).unwrap();
        assert_eq!((s4.ipv4, s4.ports.clone()), ("198.51.100.0".parse().unwrap(), 2024..=3023));
        assert_eq!(s4.subscriber, "2001:db8:0:4::/64".parse().unwrap());
        assert_eq!(m.holder_of(s4.ipv4, 3000).unwrap(), s4);
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            map("2001:db8::/56", 48, 100, &[("198.51.100.0/30", 1024, 65535)]),
            Err(ConfigError::SubscriberPrefixLen { .. })
        ));
        assert!(matches!(
            map("2001:db8::/40", 64, 4096, &[("198.51.100.0/30", 1024, 65535)]),
            Err(ConfigError::DeterministicTooSmall { subscribers: 16_777_216, .. })
        ));
        let m = map("2001:db8::/126", 128, 1000, &[("198.51.100.0/30", 1024, 65535)]).unwrap();
        assert!(matches!(m.holder_of("198.51.100.0".parse().unwrap(), 2024), Err(LookupError::Unassigned { .. })));
        assert!(matches!(m.holder_of("198.51.100.9".parse().unwrap(), 2024), Err(LookupError::NotInPool { .. })));
        assert!(matches!(m.share_of("2001:db9::".parse().unwrap()), Err(LookupError::NotSubscriber { .. })));
    }
}
