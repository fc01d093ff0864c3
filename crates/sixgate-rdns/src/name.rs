//! Reverse names: `ip6.arpa.` (RFC 3596 §2.5) and `in-addr.arpa.` (RFC 1035 §3.5), for
//! addresses and prefixes, and parsing them back.
//!
//! ```
//! use sixgate_rdns::name::{reverse_name, parse_arpa, ReverseName};
//! let a = "2002:4acf:fe10::1".parse().unwrap();
//! let n = reverse_name(a);
//! assert_eq!(n, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.e.f.f.c.a.4.2.0.0.2.ip6.arpa.");
//! assert_eq!(parse_arpa(&n).unwrap(), ReverseName::Addr(a));
//! assert_eq!(reverse_name("192.0.2.1".parse().unwrap()), "1.2.0.192.in-addr.arpa.");
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::error::{ArpaReason, RdnsError};

pub(crate) const HEX: &[u8; 16] = b"0123456789abcdef";
/// The IPv6 reverse suffix (RFC 3596 §2.5).
pub const IP6_ARPA: &str = "ip6.arpa.";
/// The IPv4 reverse suffix (RFC 1035 §3.5).
pub const IN_ADDR_ARPA: &str = "in-addr.arpa.";

/// Length of the full reverse name of an IPv6 address: 32 nibbles and dots plus `ip6.arpa.`.
pub const V6_NAME_LEN: usize = 64 + IP6_ARPA.len();

/// Writes the 32-label reverse name of `a` into `out` (RFC 3596 §2.5: nibbles in reverse
/// order, lowercase hex, each its own label). No allocation.
pub fn write_v6_name(a: Ipv6Addr, out: &mut [u8; V6_NAME_LEN]) {
    let mut v = u128::from(a);
    for i in 0..32 {
        out[2 * i] = HEX[(v & 0xf) as usize];
        out[2 * i + 1] = b'.';
        v >>= 4;
    }
    out[64..].copy_from_slice(IP6_ARPA.as_bytes());
}

/// Appends the `count` least significant nibbles of `v`, least significant first, as labels
/// separated by dots (no trailing dot). Used for owner names relative to a zone.
pub(crate) fn push_low_nibbles(v: u128, count: usize, out: &mut Vec<u8>) {
    let mut v = v;
    for i in 0..count {
        if i > 0 {
            out.push(b'.');
        }
        out.push(HEX[(v & 0xf) as usize]);
        v >>= 4;
    }
}

/// Appends the decimal text of an octet.
#[inline]
pub(crate) fn push_octet(o: u8, out: &mut Vec<u8>) {
    if o >= 100 {
        out.push(b'0' + o / 100);
    }
    if o >= 10 {
        out.push(b'0' + (o / 10) % 10);
    }
    out.push(b'0' + o % 10);
}

/// The reverse name of any address, absolute (with the trailing dot).
pub fn reverse_name(a: IpAddr) -> String {
    match a {
        IpAddr::V6(a) => {
            let mut buf = [0u8; V6_NAME_LEN];
            write_v6_name(a, &mut buf);
            // Only ASCII is written.
            String::from_utf8(buf.to_vec()).unwrap_or_default()
        }
        IpAddr::V4(a) => {
            let mut out = Vec::with_capacity(16 + IN_ADDR_ARPA.len());
            for o in a.octets().into_iter().rev() {
                push_octet(o, &mut out);
                out.push(b'.');
            }
            out.extend_from_slice(IN_ADDR_ARPA.as_bytes());
            String::from_utf8(out).unwrap_or_default()
        }
    }
}

/// The reverse name of a prefix, to its nibble (IPv6) or octet (IPv4) boundary: the name of
/// the smallest reverse domain that holds the whole prefix. A /48 gives 12 nibbles, a /50
/// also 12 (its /48's domain: see [`crate::plan::plan`] for the zones that cover it
/// exactly), a /0 gives `ip6.arpa.` itself. Host bits are ignored.
///
/// ```
/// use sixgate_rdns::name::prefix_name;
/// assert_eq!(prefix_name("2002:4acf:fe10::/48".parse().unwrap()), "0.1.e.f.f.c.a.4.2.0.0.2.ip6.arpa.");
/// assert_eq!(prefix_name("192.0.2.0/24".parse().unwrap()), "2.0.192.in-addr.arpa.");
/// assert_eq!(prefix_name("10.0.0.0/9".parse().unwrap()), "10.in-addr.arpa.");
/// ```
pub fn prefix_name(net: IpNet) -> String {
    match net {
        IpNet::V6(n) => v6_prefix_name(u128::from(n.addr()), usize::from(n.prefix_len() / 4)),
        IpNet::V4(n) => v4_prefix_name(n.addr(), usize::from(n.prefix_len() / 8)),
    }
}

/// Name of the domain of the `nibbles` most significant nibbles of `v`.
pub(crate) fn v6_prefix_name(v: u128, nibbles: usize) -> String {
    let mut out = Vec::with_capacity(nibbles * 2 + IP6_ARPA.len());
    for k in (0..nibbles).rev() {
        out.push(HEX[((v >> (124 - 4 * k)) & 0xf) as usize]);
        out.push(b'.');
    }
    out.extend_from_slice(IP6_ARPA.as_bytes());
    String::from_utf8(out).unwrap_or_default()
}

/// Name of the domain of the `octets` most significant octets of `a`.
pub(crate) fn v4_prefix_name(a: Ipv4Addr, octets: usize) -> String {
    let o = a.octets();
    let mut out = Vec::with_capacity(4 * octets + IN_ADDR_ARPA.len());
    for k in (0..octets).rev() {
        push_octet(o[k], &mut out);
        out.push(b'.');
    }
    out.extend_from_slice(IN_ADDR_ARPA.as_bytes());
    String::from_utf8(out).unwrap_or_default()
}

/// The RFC 2317 §4 name of the child zone for an IPv4 prefix longer than /24:
/// `FIRST/LEN.C.B.A.in-addr.arpa.` (the form RFC 2317's own example uses, `0/25.2.0.192…`).
/// `None` for a prefix of /24 or shorter.
///
/// ```
/// use sixgate_rdns::name::classless_name;
/// assert_eq!(classless_name("192.0.2.64/26".parse().unwrap()).unwrap(), "64/26.2.0.192.in-addr.arpa.");
/// ```
pub fn classless_name(net: Ipv4Net) -> Option<String> {
    if net.prefix_len() <= 24 {
        return None;
    }
    let n = net.trunc();
    let [a, b, c, d] = n.addr().octets();
    Some(format!("{d}/{}.{c}.{b}.{a}.{IN_ADDR_ARPA}", n.prefix_len()))
}

/// A parsed reverse name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReverseName {
    /// A full name: 32 nibbles or 4 octets.
    Addr(IpAddr),
    /// A partial name: a prefix on a nibble or octet boundary (`ip6.arpa.` itself is `::/0`).
    Prefix(IpNet),
    /// An RFC 2317 classless child zone name `FIRST/LEN.C.B.A.in-addr.arpa.`.
    Classless(Ipv4Net),
}

impl ReverseName {
    /// The address range the name stands for (a /128 or /32 for a full name).
    pub fn net(&self) -> IpNet {
        match *self {
            Self::Addr(a) => IpNet::from(a),
            Self::Prefix(n) => n,
            Self::Classless(n) => IpNet::V4(n),
        }
    }
}

impl fmt::Display for ReverseName {
    /// The canonical name: lowercase, absolute.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Addr(a) => f.write_str(&reverse_name(a)),
            Self::Prefix(n) => f.write_str(&prefix_name(n)),
            Self::Classless(n) => f.write_str(&classless_name(n).unwrap_or_default()),
        }
    }
}

/// Strips a case-insensitive ASCII suffix.
fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let n = s.len().checked_sub(suffix.len())?;
    if !s.is_char_boundary(n) {
        return None;
    }
    let (head, tail) = s.split_at(n);
    tail.eq_ignore_ascii_case(suffix).then_some(head)
}

/// Parses a full or partial reverse name back to an address or prefix. The trailing dot is
/// optional and case does not matter (DNS names compare case-insensitively, RFC 4343);
/// leading zeros in `in-addr.arpa.` labels are refused, since `01.2.0.192.in-addr.arpa.` is
/// not the name of any address.
///
/// ```
/// use sixgate_rdns::name::{parse_arpa, ReverseName};
/// assert_eq!(parse_arpa("8.B.D.0.1.0.0.2.IP6.ARPA").unwrap().net().to_string(), "2001:db8::/32");
/// assert!(matches!(parse_arpa("64/26.2.0.192.in-addr.arpa.").unwrap(), ReverseName::Classless(_)));
/// assert!(parse_arpa("10.2.0.192.ip6.arpa.").is_err());
/// ```
pub fn parse_arpa(name: &str) -> Result<ReverseName, RdnsError> {
    if let Some(a) = full_v6_name(name) {
        return Ok(ReverseName::Addr(IpAddr::V6(a)));
    }
    let s = name.strip_suffix('.').unwrap_or(name);
    if let Some(head) = strip_suffix_ci(s, "ip6.arpa") {
        parse_v6_labels(name, head)
    } else if let Some(head) = strip_suffix_ci(s, "in-addr.arpa") {
        parse_v4_labels(name, head)
    } else {
        Err(RdnsError::arpa(name, ArpaReason::WrongSuffix))
    }
}

/// The address of a full `ip6.arpa.` name (32 nibble labels, RFC 3596 §2.5) without
/// allocating: the common case of [`parse_arpa`], which an authoritative server meets on
/// every PTR query. `None` for any other text (the general path then decides).
fn full_v6_name(name: &str) -> Option<Ipv6Addr> {
    let b = name.as_bytes();
    let b = b.strip_suffix(b".").unwrap_or(b);
    if b.len() != 64 + IP6_ARPA.len() - 1 || !b[64..].eq_ignore_ascii_case(&IP6_ARPA.as_bytes()[..8]) {
        return None;
    }
    let mut v: u128 = 0;
    for i in (0..32).rev() {
        let nib = (b[2 * i] as char).to_digit(16)?;
        if b[2 * i + 1] != b'.' {
            return None;
        }
        v = (v << 4) | u128::from(nib);
    }
    Some(Ipv6Addr::from(v))
}

/// Splits the labels before the suffix; `head` is empty or ends with the dot before it.
fn labels<'a>(name: &str, head: &'a str) -> Result<Vec<&'a str>, RdnsError> {
    if head.is_empty() {
        return Ok(Vec::new());
    }
    let body = head.strip_suffix('.').ok_or_else(|| RdnsError::arpa(name, ArpaReason::WrongSuffix))?;
    let labels: Vec<&str> = body.split('.').collect();
    if labels.iter().any(|l| l.is_empty()) {
        return Err(RdnsError::arpa(name, ArpaReason::EmptyLabel));
    }
    Ok(labels)
}

fn parse_v6_labels(name: &str, head: &str) -> Result<ReverseName, RdnsError> {
    let labels = labels(name, head)?;
    if labels.len() > 32 {
        return Err(RdnsError::arpa(name, ArpaReason::TooManyLabels { count: labels.len(), max: 32 }));
    }
    let mut v: u128 = 0;
    // RFC 3596 §2.5: the first label is the least significant nibble.
    for (k, l) in labels.iter().rev().enumerate() {
        let nib = match l.as_bytes() {
            [c] => (*c as char).to_digit(16),
            _ => None,
        }
        .ok_or_else(|| RdnsError::arpa(name, ArpaReason::BadNibble { label: (*l).to_owned() }))?;
        v |= u128::from(nib) << (124 - 4 * k);
    }
    let addr = Ipv6Addr::from(v);
    if labels.len() == 32 {
        return Ok(ReverseName::Addr(IpAddr::V6(addr)));
    }
    let len = u8::try_from(labels.len() * 4).unwrap_or(0);
    Ipv6Net::new(addr, len)
        .map(|n| ReverseName::Prefix(IpNet::V6(n)))
        .map_err(|_| RdnsError::arpa(name, ArpaReason::WrongSuffix))
}

fn parse_octet(name: &str, l: &str) -> Result<u8, RdnsError> {
    let ok =
        !l.is_empty() && l.len() <= 3 && l.bytes().all(|b| b.is_ascii_digit()) && (l == "0" || !l.starts_with('0'));
    ok.then(|| l.parse::<u8>().ok())
        .flatten()
        .ok_or_else(|| RdnsError::arpa(name, ArpaReason::BadOctet { label: l.to_owned() }))
}

fn parse_v4_labels(name: &str, head: &str) -> Result<ReverseName, RdnsError> {
    let mut labels = labels(name, head)?;
    // RFC 2317 §4: inside the child zone `FIRST/LEN.C.B.A.in-addr.arpa.` an address's owner is
    // `D.FIRST/LEN.C.B.A.in-addr.arpa.` (the target of the parent's CNAME): five labels, the
    // fourth from the right a FIRST/LEN label, and D inside that block.
    if labels.len() == 5 && labels[1].contains('/') {
        let host = labels.remove(0);
        let ReverseName::Classless(net) = parse_v4_labels(name, &format!("{}.", labels.join(".")))? else {
            return Err(RdnsError::arpa(name, ArpaReason::BadClassless { label: labels[0].to_owned() }));
        };
        let d = parse_octet(name, host)?;
        let [a, b, c, _] = net.addr().octets();
        let addr = Ipv4Addr::new(a, b, c, d);
        if !net.contains(&addr) {
            return Err(RdnsError::arpa(name, ArpaReason::OutsideClassless { label: host.to_owned(), net }));
        }
        return Ok(ReverseName::Addr(IpAddr::V4(addr)));
    }
    if labels.len() > 4 {
        return Err(RdnsError::arpa(name, ArpaReason::TooManyLabels { count: labels.len(), max: 4 }));
    }
    let mut o = [0u8; 4];
    let mut classless = None;
    for (k, l) in labels.iter().rev().enumerate() {
        if k == 3 && l.contains('/') {
            // RFC 2317 §4: FIRST/LEN names the child zone of a block inside the /24.
            let bad = || RdnsError::arpa(name, ArpaReason::BadClassless { label: (*l).to_owned() });
            let (first, len) = l.split_once('/').ok_or_else(bad)?;
            let first = parse_octet(name, first).map_err(|_| bad())?;
            let len: u8 = if len.len() == 2 && len.bytes().all(|b| b.is_ascii_digit()) {
                len.parse().map_err(|_| bad())?
            } else {
                return Err(bad());
            };
            if !(25..=32).contains(&len) || u32::from(first) & ((1u32 << (32 - len)) - 1) != 0 {
                return Err(bad());
            }
            o[3] = first;
            classless = Some(len);
        } else {
            o[k] = parse_octet(name, l)?;
        }
    }
    let addr = Ipv4Addr::from(o);
    if let Some(len) = classless {
        return Ipv4Net::new(addr, len)
            .map(ReverseName::Classless)
            .map_err(|_| RdnsError::arpa(name, ArpaReason::WrongSuffix));
    }
    if labels.len() == 4 {
        return Ok(ReverseName::Addr(IpAddr::V4(addr)));
    }
    let len = u8::try_from(labels.len() * 8).unwrap_or(0);
    Ipv4Net::new(addr, len)
        .map(|n| ReverseName::Prefix(IpNet::V4(n)))
        .map_err(|_| RdnsError::arpa(name, ArpaReason::WrongSuffix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn issue_example() {
        let a: IpAddr = "2002:4acf:fe10::1".parse().unwrap();
        assert_eq!(reverse_name(a), "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.e.f.f.c.a.4.2.0.0.2.ip6.arpa.");
        assert_eq!(prefix_name("2002:4acf:fe10::/48".parse().unwrap()), "0.1.e.f.f.c.a.4.2.0.0.2.ip6.arpa.");
        // RFC 3596 §2.5's own example.
        assert_eq!(
            reverse_name("4321:0:1:2:3:4:567:89ab".parse().unwrap()),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa."
        );
        assert_eq!(prefix_name("::/0".parse().unwrap()), "ip6.arpa.");
        assert_eq!(prefix_name("0.0.0.0/0".parse().unwrap()), "in-addr.arpa.");
        assert_eq!(prefix_name("2001:db8::/33".parse().unwrap()), "8.b.d.0.1.0.0.2.ip6.arpa.");
    }

    #[test]
    fn parse_forms() {
        assert_eq!(parse_arpa("ip6.arpa.").unwrap(), ReverseName::Prefix("::/0".parse().unwrap()));
        assert_eq!(parse_arpa("IN-ADDR.ARPA").unwrap(), ReverseName::Prefix("0.0.0.0/0".parse().unwrap()));
        assert_eq!(parse_arpa("2.0.192.in-addr.arpa").unwrap(), ReverseName::Prefix("192.0.2.0/24".parse().unwrap()));
        assert_eq!(
            parse_arpa("0/25.2.0.192.in-addr.arpa.").unwrap(),
            ReverseName::Classless("192.0.2.0/25".parse().unwrap())
        );
    }

    /// Owners inside an RFC 2317 child zone (the targets of the parent's CNAMEs) parse back
    /// to their address.
    #[test]
    fn classless_child_owners() {
        assert_eq!(
            parse_arpa("70.64/26.2.0.192.in-addr.arpa.").unwrap(),
            ReverseName::Addr("192.0.2.70".parse().unwrap())
        );
        assert_eq!(
            parse_arpa("64.64/26.2.0.192.IN-ADDR.ARPA").unwrap(),
            ReverseName::Addr("192.0.2.64".parse().unwrap())
        );
        assert_eq!(
            parse_arpa("127.64/26.2.0.192.in-addr.arpa.").unwrap(),
            ReverseName::Addr("192.0.2.127".parse().unwrap())
        );
        assert_eq!(
            parse_arpa("7.7/32.2.0.192.in-addr.arpa.").unwrap(),
            ReverseName::Addr("192.0.2.7".parse().unwrap())
        );
        // Every CNAME target the delegation writes parses back to the address it stands for.
        for line in crate::plan::delegations("192.0.2.128/27".parse().unwrap(), &["ns.example.".into()]) {
            if let Some((owner, target)) = line.split_once("\tIN\tCNAME\t") {
                assert_eq!(parse_arpa(target).unwrap(), parse_arpa(owner).unwrap(), "{line}");
            }
        }
    }

    #[test]
    fn malformed_names() {
        let reason = |s: &str| match parse_arpa(s) {
            Err(RdnsError::BadArpaName { reason, .. }) => reason,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(reason("1.2.0.192.in-addr.arpa.example."), ArpaReason::WrongSuffix);
        assert_eq!(reason("example.net."), ArpaReason::WrongSuffix);
        assert_eq!(reason("xip6.arpa."), ArpaReason::WrongSuffix);
        assert_eq!(reason("1..ip6.arpa."), ArpaReason::EmptyLabel);
        assert_eq!(reason(".ip6.arpa."), ArpaReason::EmptyLabel);
        assert_eq!(reason("10.ip6.arpa."), ArpaReason::BadNibble { label: "10".into() });
        assert_eq!(reason("g.ip6.arpa."), ArpaReason::BadNibble { label: "g".into() });
        assert_eq!(reason(&format!("{}ip6.arpa.", "0.".repeat(33))), ArpaReason::TooManyLabels { count: 33, max: 32 });
        assert_eq!(reason("1.1.2.0.192.in-addr.arpa."), ArpaReason::TooManyLabels { count: 5, max: 4 });
        assert_eq!(reason("256.in-addr.arpa."), ArpaReason::BadOctet { label: "256".into() });
        assert_eq!(reason("01.in-addr.arpa."), ArpaReason::BadOctet { label: "01".into() });
        assert_eq!(reason("-1.in-addr.arpa."), ArpaReason::BadOctet { label: "-1".into() });
        assert_eq!(reason("1/25.2.0.192.in-addr.arpa."), ArpaReason::BadClassless { label: "1/25".into() });
        assert_eq!(reason("0/24.2.0.192.in-addr.arpa."), ArpaReason::BadClassless { label: "0/24".into() });
        assert_eq!(reason("0/25.0.192.in-addr.arpa."), ArpaReason::BadOctet { label: "0/25".into() });
        assert_eq!(
            reason("200.64/26.2.0.192.in-addr.arpa."),
            ArpaReason::OutsideClassless { label: "200".into(), net: "192.0.2.64/26".parse().unwrap() }
        );
        assert_eq!(reason("1.1.64/26.2.0.192.in-addr.arpa."), ArpaReason::TooManyLabels { count: 6, max: 4 });
        assert_eq!(reason("01.64/26.2.0.192.in-addr.arpa."), ArpaReason::BadOctet { label: "01".into() });
        assert_eq!(reason("1.65/26.2.0.192.in-addr.arpa."), ArpaReason::BadClassless { label: "65/26".into() });
        // A multi-byte character never panics the suffix check.
        assert_eq!(reason("é"), ArpaReason::WrongSuffix);
        assert_eq!(reason("ééééééééé"), ArpaReason::WrongSuffix);
    }

    proptest! {
        /// name(parse(name(x))) == name(x) and parse(name(x)) == x, for addresses and prefixes.
        #[test]
        fn roundtrip(bytes in any::<[u8; 16]>(), len6 in 0u8..=32, len4 in 0u8..=4, v4 in any::<bool>()) {
            let (a, net) = if v4 {
                let a = Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]);
                (IpAddr::V4(a), IpNet::V4(Ipv4Net::new(a, len4 * 8).unwrap().trunc()))
            } else {
                let a = Ipv6Addr::from(bytes);
                (IpAddr::V6(a), IpNet::V6(Ipv6Net::new(a, len6 * 4).unwrap().trunc()))
            };
            let n = reverse_name(a);
            prop_assert_eq!(parse_arpa(&n).unwrap(), ReverseName::Addr(a));
            let upper = n.to_ascii_uppercase();
            prop_assert_eq!(parse_arpa(upper.trim_end_matches('.')).unwrap().to_string(), n);
            let p = prefix_name(net);
            let parsed = parse_arpa(&p).unwrap();
            prop_assert_eq!(parsed.net(), net);
            prop_assert_eq!(parsed.to_string(), p);
        }

        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            if let Ok(r) = parse_arpa(&s) {
                prop_assert_eq!(parse_arpa(&r.to_string()).unwrap(), r);
            }
        }
    }
}
