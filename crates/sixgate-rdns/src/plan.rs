//! Zone planning: which reverse zones cover a prefix exactly, what the parent zone needs to
//! delegate them, and the RFC 4034 §6.1 canonical order of names inside one zone.
//!
//! Reverse zones can only be cut at label boundaries: every 4 bits in `ip6.arpa.` (RFC 3596
//! §2.5) and every 8 bits in `in-addr.arpa.` (RFC 1035 §3.5). A prefix between two
//! boundaries is covered by the 2^k zones at the next boundary down (a /50 by four /52s); an
//! IPv4 prefix longer than /24 gets one RFC 2317 classless child zone instead.
//!
//! ```
//! use sixgate_rdns::plan::plan;
//! let zones = plan("2001:db8::/50".parse().unwrap());
//! let origins: Vec<String> = zones.iter().map(|z| z.origin()).collect();
//! assert_eq!(origins, [
//!     "0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", "1.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
//!     "2.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", "3.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.",
//! ]);
//! assert_eq!(plan("192.0.2.64/26".parse().unwrap())[0].origin(), "64/26.2.0.192.in-addr.arpa.");
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::error::RdnsError;
use crate::name::{classless_name, push_low_nibbles, push_octet, v4_prefix_name, v6_prefix_name};

/// How a zone is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ZoneKind {
    /// An `ip6.arpa.` zone on a nibble boundary.
    Nibble,
    /// An `in-addr.arpa.` zone on an octet boundary (/0, /8, /16, /24, /32).
    Octet,
    /// An RFC 2317 classless child zone (IPv4, /25 to /32), named `FIRST/LEN.C.B.A.in-addr.arpa.`.
    Classless,
}

/// One reverse zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Zone {
    net: IpNet,
    kind: ZoneKind,
}

impl Zone {
    /// The zone for `net` when `net` is exactly one zone (a nibble-aligned IPv6 prefix, an
    /// octet-aligned IPv4 prefix, or an IPv4 prefix longer than /24 as an RFC 2317 child).
    /// Host bits are ignored. Otherwise [`RdnsError::NotOneZone`] names the zones instead.
    pub fn single(net: IpNet) -> Result<Self, RdnsError> {
        let zones = plan(net);
        match zones.as_slice() {
            [z] => Ok(*z),
            _ => Err(RdnsError::NotOneZone {
                prefix: net.trunc().to_string(),
                count: zones.len(),
                first: zones.first().map(Self::origin).unwrap_or_default(),
            }),
        }
    }

    /// The address range of the zone.
    pub fn net(&self) -> IpNet {
        self.net
    }

    /// How the zone is cut.
    pub fn kind(&self) -> ZoneKind {
        self.kind
    }

    /// The zone's origin, absolute.
    pub fn origin(&self) -> String {
        match (self.net, self.kind) {
            (IpNet::V4(n), ZoneKind::Classless) => classless_name(n).unwrap_or_default(),
            (IpNet::V4(n), _) => v4_prefix_name(n.addr(), usize::from(n.prefix_len() / 8)),
            (IpNet::V6(n), _) => v6_prefix_name(u128::from(n.addr()), usize::from(n.prefix_len() / 4)),
        }
    }

    /// Whether `a` belongs to the zone.
    pub fn contains(&self, a: IpAddr) -> bool {
        self.net.contains(&a)
    }

    /// Appends the owner name of `a` relative to the origin (`@` for the apex itself). `a`
    /// must be in the zone (checked by the callers).
    pub(crate) fn push_relative_owner(&self, a: IpAddr, out: &mut Vec<u8>) {
        match a {
            IpAddr::V6(a) => {
                let labels = 32 - usize::from(self.net.prefix_len() / 4);
                if labels == 0 {
                    out.push(b'@');
                } else {
                    push_low_nibbles(u128::from(a), labels, out);
                }
            }
            IpAddr::V4(a) => {
                let o = a.octets();
                // A classless child holds only the last octet under FIRST/LEN.
                let fixed = if self.kind == ZoneKind::Classless { 3 } else { usize::from(self.net.prefix_len() / 8) };
                if fixed == 4 {
                    out.push(b'@');
                    return;
                }
                for k in (fixed..4).rev() {
                    push_octet(o[k], out);
                    if k > fixed {
                        out.push(b'.');
                    }
                }
            }
        }
    }

    /// The owner name of `a` relative to the origin, `@` for the apex.
    pub fn relative_owner(&self, a: IpAddr) -> String {
        let mut v = Vec::new();
        self.push_relative_owner(a, &mut v);
        String::from_utf8(v).unwrap_or_default()
    }
}

/// The zones that cover `net` exactly (host bits ignored), in address order: one zone when
/// `net` is on a boundary, else the 2^k zones at the next boundary (at most 8 for IPv6,
/// 128 for IPv4); an IPv4 prefix of /25 to /32 gives one RFC 2317 classless zone.
pub fn plan(net: IpNet) -> Vec<Zone> {
    match net.trunc() {
        IpNet::V6(n) => {
            let len = n.prefix_len();
            let boundary = len.div_ceil(4) * 4;
            let count = 1u128 << (boundary - len);
            let step = if boundary == 0 { 0 } else { 1u128 << (128 - u32::from(boundary)) };
            let base = u128::from(n.addr());
            (0..count)
                .filter_map(|i| Ipv6Net::new(Ipv6Addr::from(base + i * step), boundary).ok())
                .map(|z| Zone { net: IpNet::V6(z), kind: ZoneKind::Nibble })
                .collect()
        }
        IpNet::V4(n) if n.prefix_len() > 24 => vec![Zone { net: IpNet::V4(n), kind: ZoneKind::Classless }],
        IpNet::V4(n) => {
            let len = n.prefix_len();
            let boundary = len.div_ceil(8) * 8;
            let count = 1u32 << (boundary - len);
            let step = if boundary == 0 { 0 } else { 1u32 << (32 - u32::from(boundary)) };
            let base = u32::from(n.addr());
            (0..count)
                .filter_map(|i| Ipv4Net::new(Ipv4Addr::from(base + i * step), boundary).ok())
                .map(|z| Zone { net: IpNet::V4(z), kind: ZoneKind::Octet })
                .collect()
        }
    }
}

/// The records a parent zone needs to delegate the zones of `net` to `ns` (absolute names),
/// as zone-file lines with absolute owners: an NS set per zone, and for an RFC 2317 child
/// (RFC 2317 §4) one CNAME per address `N.C.B.A.in-addr.arpa.` → `N.FIRST/LEN.C.B.A.in-addr.arpa.`.
///
/// ```
/// use sixgate_rdns::plan::delegations;
/// let lines = delegations("192.0.2.0/31".parse().unwrap(), &["ns1.example.net.".into()]);
/// assert_eq!(lines, [
///     "0/31.2.0.192.in-addr.arpa.\tIN\tNS\tns1.example.net.",
///     "0.2.0.192.in-addr.arpa.\tIN\tCNAME\t0.0/31.2.0.192.in-addr.arpa.",
///     "1.2.0.192.in-addr.arpa.\tIN\tCNAME\t1.0/31.2.0.192.in-addr.arpa.",
/// ]);
/// ```
pub fn delegations(net: IpNet, ns: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for z in plan(net) {
        let origin = z.origin();
        for n in ns {
            out.push(format!("{origin}\tIN\tNS\t{n}"));
        }
        if let (ZoneKind::Classless, IpNet::V4(n)) = (z.kind, z.net) {
            let [a, b, c, _] = n.addr().octets();
            for h in n.hosts_all() {
                let d = h.octets()[3];
                out.push(format!("{d}.{c}.{b}.{a}.in-addr.arpa.\tIN\tCNAME\t{d}.{origin}"));
            }
        }
    }
    out
}

/// Iterates all addresses of an IPv4 network, network and broadcast included.
trait HostsAll {
    fn hosts_all(&self) -> std::iter::Map<std::ops::RangeInclusive<u32>, fn(u32) -> Ipv4Addr>;
}

impl HostsAll for Ipv4Net {
    fn hosts_all(&self) -> std::iter::Map<std::ops::RangeInclusive<u32>, fn(u32) -> Ipv4Addr> {
        (u32::from(self.network())..=u32::from(self.broadcast())).map(Ipv4Addr::from)
    }
}

/// Whether decimal text `a` sorts before `b` as RFC 4034 §6.1 label octet strings.
const fn dec_less(a: u8, b: u8) -> bool {
    let (da, la) = dec(a);
    let (db, lb) = dec(b);
    let mut i = 0;
    while i < la && i < lb {
        if da[i] != db[i] {
            return da[i] < db[i];
        }
        i += 1;
    }
    la < lb
}

const fn dec(o: u8) -> ([u8; 3], usize) {
    if o >= 100 {
        ([b'0' + o / 100, b'0' + (o / 10) % 10, b'0' + o % 10], 3)
    } else if o >= 10 {
        ([b'0' + o / 10, b'0' + o % 10, 0], 2)
    } else {
        ([b'0' + o, 0, 0], 1)
    }
}

/// `RANK[o]`: the position of octet `o`'s decimal label among all 256 in canonical order
/// ("0" < "1" < "10" < "100" < … < "2" < "20" …).
const RANK: [u8; 256] = {
    let mut r = [0u8; 256];
    let mut o = 0;
    while o < 256 {
        let mut n = 0;
        let mut x = 0;
        while x < 256 {
            if dec_less(x as u8, o as u8) {
                n += 1;
            }
            x += 1;
        }
        r[o] = n as u8;
        o += 1;
    }
    r
};

/// `ORDER[i]`: the octet whose decimal label is the i-th in canonical order.
pub(crate) const ORDER: [u8; 256] = {
    let mut r = [0u8; 256];
    let mut o = 0;
    while o < 256 {
        r[RANK[o] as usize] = o as u8;
        o += 1;
    }
    r
};

/// A sort key that orders the full reverse names of addresses of one family by RFC 4034
/// §6.1 canonical order: labels compared right to left as lowercase octet strings.
///
/// For `ip6.arpa.` every label is one hex digit and `0`–`9` < `a`–`f` in ASCII, so the order is
/// numeric. For `in-addr.arpa.` labels are decimal text of varying length, so it is *not*:
/// `10.2.0.192…` sorts before `9.2.0.192…` ("10" < "9" as octet strings).
///
/// ```
/// use sixgate_rdns::plan::canonical_key;
/// let k = |s: &str| canonical_key(s.parse().unwrap());
/// assert!(k("192.0.2.10") < k("192.0.2.9"));
/// assert!(k("2001:db8::9") < k("2001:db8::a"));
/// ```
pub fn canonical_key(a: IpAddr) -> u128 {
    match a {
        IpAddr::V6(a) => u128::from(a),
        IpAddr::V4(a) => {
            let o = a.octets();
            u128::from(u32::from_be_bytes([
                RANK[o[0] as usize],
                RANK[o[1] as usize],
                RANK[o[2] as usize],
                RANK[o[3] as usize],
            ]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::reverse_name;
    use proptest::prelude::*;

    fn origins(p: &str) -> Vec<String> {
        plan(p.parse().unwrap()).iter().map(Zone::origin).collect()
    }

    #[test]
    fn planned_counts() {
        assert_eq!(origins("2002:4acf:fe10::/48"), ["0.1.e.f.f.c.a.4.2.0.0.2.ip6.arpa."]);
        assert_eq!(origins("2001:db8::/50").len(), 4);
        let z = origins("2001:db8::/127");
        assert_eq!(z.len(), 2);
        assert!(z[0].starts_with("0.0.0.0."), "{}", z[0]);
        assert!(z[1].starts_with("1.0.0.0."), "{}", z[1]);
        assert_eq!(origins("::/0"), ["ip6.arpa."]);
        assert_eq!(origins("8000::/1").len(), 8);
        assert_eq!(origins("0.0.0.0/0"), ["in-addr.arpa."]);
        assert_eq!(origins("10.0.0.0/8"), ["10.in-addr.arpa."]);
        assert_eq!(origins("172.16.0.0/12").len(), 16);
        assert_eq!(origins("172.16.0.0/12")[15], "31.172.in-addr.arpa.");
        assert_eq!(origins("10.0.0.0/17").len(), 128);
        assert_eq!(origins("192.0.2.128/25"), ["128/25.2.0.192.in-addr.arpa."]);
        assert_eq!(origins("192.0.2.7/32"), ["7/32.2.0.192.in-addr.arpa."]);
        assert!(matches!(Zone::single("2001:db8::/50".parse().unwrap()), Err(RdnsError::NotOneZone { count: 4, .. })));
        assert_eq!(Zone::single("2001:db8::1/48".parse().unwrap()).unwrap().net().to_string(), "2001:db8::/48");
    }

    #[test]
    fn relative_owners() {
        let z = Zone::single("2001:db8::/120".parse().unwrap()).unwrap();
        assert_eq!(z.relative_owner("2001:db8::5a".parse().unwrap()), "a.5");
        let z = Zone::single("2001:db8::1/128".parse().unwrap()).unwrap();
        assert_eq!(z.relative_owner("2001:db8::1".parse().unwrap()), "@");
        let z = Zone::single("10.0.0.0/16".parse().unwrap()).unwrap();
        assert_eq!(z.relative_owner("10.0.3.4".parse().unwrap()), "4.3");
        let z = Zone::single("192.0.2.64/26".parse().unwrap()).unwrap();
        assert_eq!(z.relative_owner("192.0.2.70".parse().unwrap()), "70");
    }

    #[test]
    fn octet_order_table() {
        assert_eq!(&ORDER[..5], &[0, 1, 10, 100, 101]);
        assert_eq!(ORDER[255], 99);
        let mut all: Vec<u8> = (0..=255).collect();
        all.sort_by_key(|o| o.to_string());
        assert_eq!(all.as_slice(), ORDER.as_slice());
    }

    /// An independent RFC 4034 §6.1 comparison on name text.
    fn rfc4034_cmp(a: &str, b: &str) -> std::cmp::Ordering {
        let la: Vec<Vec<u8>> =
            a.trim_end_matches('.').split('.').rev().map(|l| l.to_ascii_lowercase().into_bytes()).collect();
        let lb: Vec<Vec<u8>> =
            b.trim_end_matches('.').split('.').rev().map(|l| l.to_ascii_lowercase().into_bytes()).collect();
        la.cmp(&lb)
    }

    proptest! {
        /// Every address of a prefix falls in exactly one planned zone.
        #[test]
        fn exactly_one_zone(bytes in any::<[u8; 16]>(), len in 0u8..=128, probes in proptest::collection::vec(any::<u128>(), 8), v4 in any::<bool>()) {
            let net: IpNet = if v4 {
                IpNet::V4(Ipv4Net::new(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]), len % 33).unwrap().trunc())
            } else {
                IpNet::V6(Ipv6Net::new(Ipv6Addr::from(bytes), len).unwrap().trunc())
            };
            let zones = plan(net);
            let total: u128 = zones.iter().map(|z| 1u128.checked_shl(u32::from(z.net().max_prefix_len() - z.net().prefix_len())).unwrap_or(0)).sum();
            let size = 1u128.checked_shl(u32::from(net.max_prefix_len() - net.prefix_len())).unwrap_or(0);
            prop_assert_eq!(total, size, "zones cover exactly the prefix's size");
            for p in probes {
                let a = match net {
                    IpNet::V6(n) => IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) | (p & u128::from(n.hostmask())))),
                    IpNet::V4(n) => IpAddr::V4(Ipv4Addr::from(u32::from(n.network()) | (p as u32 & u32::from(n.hostmask())))),
                };
                prop_assert_eq!(zones.iter().filter(|z| z.contains(a)).count(), 1);
                // The owner name, qualified by the origin, is the address's reverse name.
                let z = zones.iter().find(|z| z.contains(a)).unwrap();
                let owner = z.relative_owner(a);
                let full = if owner == "@" { z.origin() } else { format!("{owner}.{}", z.origin()) };
                if z.kind() == ZoneKind::Classless {
                    let IpAddr::V4(v) = a else { unreachable!() };
                    prop_assert_eq!(full, format!("{}.{}", v.octets()[3], z.origin()));
                } else {
                    prop_assert_eq!(full, reverse_name(a));
                }
            }
        }

        /// canonical_key agrees with an independent RFC 4034 §6.1 comparison of the names.
        #[test]
        fn key_is_canonical_order(a in any::<[u8; 16]>(), b in any::<[u8; 16]>(), v4 in any::<bool>(), share in 0usize..16) {
            let mut b = b;
            b[..share].copy_from_slice(&a[..share]);
            let (x, y) = if v4 {
                (IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])), IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])))
            } else {
                (IpAddr::V6(Ipv6Addr::from(a)), IpAddr::V6(Ipv6Addr::from(b)))
            };
            prop_assert_eq!(canonical_key(x).cmp(&canonical_key(y)), rfc4034_cmp(&reverse_name(x), &reverse_name(y)));
        }
    }
}
