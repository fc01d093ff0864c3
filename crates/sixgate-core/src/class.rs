//! Classification of IPv4 and IPv6 addresses against the IANA special-purpose address
//! registries (RFC 6890 and its updates), so that any caller can say *why* an address is
//! refused.
//!
//! ```
//! use sixgate_core::class::{classify_v4, AddrClass};
//! let c = classify_v4("100.64.0.1".parse().unwrap());
//! assert_eq!(c.class, AddrClass::SharedAddressSpace);
//! assert_eq!(c.rfc, "RFC 6598");
//! assert!(!c.global);
//! assert!(classify_v4("74.207.254.16".parse().unwrap()).global);
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The class of an address: which special-purpose block (if any) it falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddrClass {
    /// Ordinary globally routable unicast.
    GlobalUnicast,
    /// IPv4 "this network" 0.0.0.0/8.
    ThisNetwork,
    /// Private-use (RFC 1918).
    Private,
    /// Shared address space for carrier-grade NAT, 100.64.0.0/10.
    SharedAddressSpace,
    /// Loopback.
    Loopback,
    /// Link-local unicast.
    LinkLocal,
    /// IETF protocol assignments (192.0.0.0/24, 2001::/23) not listed more specifically.
    IetfProtocolAssignments,
    /// DS-Lite B4/AFTR addresses 192.0.0.0/29.
    DsLite,
    /// IPv4 dummy address 192.0.0.8/32.
    Ipv4Dummy,
    /// Port Control Protocol anycast.
    PcpAnycast,
    /// TURN anycast.
    TurnAnycast,
    /// NAT64/DNS64 discovery addresses 192.0.0.170/31 (ipv4only.arpa).
    Nat64Discovery,
    /// Documentation (TEST-NET-1/2/3, 2001:db8::/32, 3fff::/20).
    Documentation,
    /// AS112 service.
    As112,
    /// Automatic Multicast Tunnelling.
    Amt,
    /// The deprecated 6to4 relay anycast block 192.88.99.0/24.
    SixToFourRelayAnycast,
    /// Network interconnect device benchmarking.
    Benchmarking,
    /// Multicast.
    Multicast,
    /// Reserved for future use (240.0.0.0/4) or IETF-reserved IPv6 space.
    Reserved,
    /// The limited broadcast address 255.255.255.255.
    LimitedBroadcast,
    /// IPv6 unspecified address ::.
    Unspecified,
    /// IPv4-mapped IPv6 ::ffff:0:0/96.
    Ipv4Mapped,
    /// Deprecated IPv4-compatible IPv6 ::/96.
    Ipv4Compatible,
    /// The NAT64 well-known prefix 64:ff9b::/96.
    Nat64WellKnown,
    /// The NAT64 local-use prefix 64:ff9b:1::/48.
    Nat64LocalUse,
    /// Discard-only 100::/64.
    DiscardOnly,
    /// Teredo 2001::/32.
    Teredo,
    /// Deprecated ORCHID 2001:10::/28.
    OrchidDeprecated,
    /// ORCHIDv2 2001:20::/28.
    OrchidV2,
    /// Drone remote ID DETs 2001:30::/28.
    DroneRemoteId,
    /// 6to4 2002::/16.
    SixToFour,
    /// Segment routing SIDs 5f00::/16.
    SegmentRouting,
    /// Unique local fc00::/7.
    UniqueLocal,
}

impl AddrClass {
    /// A short human name, e.g. "private-use".
    pub const fn name(self) -> &'static str {
        match self {
            Self::GlobalUnicast => "global unicast",
            Self::ThisNetwork => "\"this network\"",
            Self::Private => "private-use",
            Self::SharedAddressSpace => "shared address space (CGN)",
            Self::Loopback => "loopback",
            Self::LinkLocal => "link-local",
            Self::IetfProtocolAssignments => "IETF protocol assignments",
            Self::DsLite => "DS-Lite",
            Self::Ipv4Dummy => "IPv4 dummy address",
            Self::PcpAnycast => "PCP anycast",
            Self::TurnAnycast => "TURN anycast",
            Self::Nat64Discovery => "NAT64/DNS64 discovery",
            Self::Documentation => "documentation",
            Self::As112 => "AS112",
            Self::Amt => "AMT",
            Self::SixToFourRelayAnycast => "deprecated 6to4 relay anycast",
            Self::Benchmarking => "benchmarking",
            Self::Multicast => "multicast",
            Self::Reserved => "reserved",
            Self::LimitedBroadcast => "limited broadcast",
            Self::Unspecified => "unspecified",
            Self::Ipv4Mapped => "IPv4-mapped",
            Self::Ipv4Compatible => "IPv4-compatible (deprecated)",
            Self::Nat64WellKnown => "NAT64 well-known prefix",
            Self::Nat64LocalUse => "NAT64 local-use prefix",
            Self::DiscardOnly => "discard-only",
            Self::Teredo => "Teredo",
            Self::OrchidDeprecated => "ORCHID (deprecated)",
            Self::OrchidV2 => "ORCHIDv2",
            Self::DroneRemoteId => "drone remote ID",
            Self::SixToFour => "6to4",
            Self::SegmentRouting => "SRv6 SIDs",
            Self::UniqueLocal => "unique local",
        }
    }
}

impl fmt::Display for AddrClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The result of classifying an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    /// The class.
    pub class: AddrClass,
    /// The registry block the address matched, e.g. "10.0.0.0/8".
    pub block: &'static str,
    /// The RFC that defines the block, e.g. "RFC 1918".
    pub rfc: &'static str,
    /// Whether the IANA registry marks the block globally reachable.
    pub global: bool,
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {})", self.class, self.block, self.rfc)
    }
}

struct Entry<T> {
    net: T,
    len: u8,
    class: AddrClass,
    block: &'static str,
    rfc: &'static str,
    global: bool,
}

macro_rules! v4 {
    ($a:expr, $b:expr, $c:expr, $d:expr, $len:expr, $class:ident, $block:expr, $rfc:expr, $g:expr) => {
        Entry {
            net: u32::from_be_bytes([$a, $b, $c, $d]),
            len: $len,
            class: AddrClass::$class,
            block: $block,
            rfc: $rfc,
            global: $g,
        }
    };
}

/// IANA IPv4 Special-Purpose Address Registry, plus multicast and limited broadcast.
/// Longest match wins.
static V4: &[Entry<u32>] = &[
    v4!(0, 0, 0, 0, 8, ThisNetwork, "0.0.0.0/8", "RFC 791", false),
    v4!(10, 0, 0, 0, 8, Private, "10.0.0.0/8", "RFC 1918", false),
    v4!(100, 64, 0, 0, 10, SharedAddressSpace, "100.64.0.0/10", "RFC 6598", false),
    v4!(127, 0, 0, 0, 8, Loopback, "127.0.0.0/8", "RFC 1122", false),
    v4!(169, 254, 0, 0, 16, LinkLocal, "169.254.0.0/16", "RFC 3927", false),
    v4!(172, 16, 0, 0, 12, Private, "172.16.0.0/12", "RFC 1918", false),
    v4!(192, 0, 0, 0, 24, IetfProtocolAssignments, "192.0.0.0/24", "RFC 6890", false),
    v4!(192, 0, 0, 0, 29, DsLite, "192.0.0.0/29", "RFC 7335", false),
    v4!(192, 0, 0, 8, 32, Ipv4Dummy, "192.0.0.8/32", "RFC 7600", false),
    v4!(192, 0, 0, 9, 32, PcpAnycast, "192.0.0.9/32", "RFC 7723", true),
    v4!(192, 0, 0, 10, 32, TurnAnycast, "192.0.0.10/32", "RFC 8155", true),
    v4!(192, 0, 0, 170, 31, Nat64Discovery, "192.0.0.170/31", "RFC 8880", false),
    v4!(192, 0, 2, 0, 24, Documentation, "192.0.2.0/24", "RFC 5737", false),
    v4!(192, 31, 196, 0, 24, As112, "192.31.196.0/24", "RFC 7535", true),
    v4!(192, 52, 193, 0, 24, Amt, "192.52.193.0/24", "RFC 7450", true),
    v4!(192, 88, 99, 0, 24, SixToFourRelayAnycast, "192.88.99.0/24", "RFC 7526", false),
    v4!(192, 168, 0, 0, 16, Private, "192.168.0.0/16", "RFC 1918", false),
    v4!(192, 175, 48, 0, 24, As112, "192.175.48.0/24", "RFC 7534", true),
    v4!(198, 18, 0, 0, 15, Benchmarking, "198.18.0.0/15", "RFC 2544", false),
    v4!(198, 51, 100, 0, 24, Documentation, "198.51.100.0/24", "RFC 5737", false),
    v4!(203, 0, 113, 0, 24, Documentation, "203.0.113.0/24", "RFC 5737", false),
    v4!(224, 0, 0, 0, 4, Multicast, "224.0.0.0/4", "RFC 5771", false),
    v4!(240, 0, 0, 0, 4, Reserved, "240.0.0.0/4", "RFC 1112", false),
    v4!(255, 255, 255, 255, 32, LimitedBroadcast, "255.255.255.255/32", "RFC 919", false),
];

macro_rules! v6 {
    ($a:expr, $len:expr, $class:ident, $block:expr, $rfc:expr, $g:expr) => {
        Entry { net: $a, len: $len, class: AddrClass::$class, block: $block, rfc: $rfc, global: $g }
    };
}

/// IANA IPv6 Special-Purpose Address Registry, plus the IPv6 addressing architecture's
/// blocks (RFC 4291). Longest match wins.
static V6: &[Entry<u128>] = &[
    v6!(0, 128, Unspecified, "::/128", "RFC 4291", false),
    v6!(1, 128, Loopback, "::1/128", "RFC 4291", false),
    v6!(0, 96, Ipv4Compatible, "::/96", "RFC 4291", false),
    v6!(0xffff_0000_0000, 96, Ipv4Mapped, "::ffff:0:0/96", "RFC 4291", false),
    v6!(0x0064_ff9b_u128 << 96, 96, Nat64WellKnown, "64:ff9b::/96", "RFC 6052", true),
    v6!(0x0064_ff9b_0001_u128 << 80, 48, Nat64LocalUse, "64:ff9b:1::/48", "RFC 8215", false),
    v6!(0x0100_u128 << 112, 64, DiscardOnly, "100::/64", "RFC 6666", false),
    v6!(0x2001_u128 << 112, 23, IetfProtocolAssignments, "2001::/23", "RFC 2928", false),
    v6!(0x2001_u128 << 112, 32, Teredo, "2001::/32", "RFC 4380", false),
    v6!((0x2001_0001_u128 << 96) | 1, 128, PcpAnycast, "2001:1::1/128", "RFC 7723", true),
    v6!((0x2001_0001_u128 << 96) | 2, 128, TurnAnycast, "2001:1::2/128", "RFC 8155", true),
    v6!(0x2001_0002_0000_u128 << 80, 48, Benchmarking, "2001:2::/48", "RFC 5180", false),
    v6!(0x2001_0003_u128 << 96, 32, Amt, "2001:3::/32", "RFC 7450", true),
    v6!(0x2001_0004_0112_u128 << 80, 48, As112, "2001:4:112::/48", "RFC 7535", true),
    v6!(0x2001_0010_u128 << 96, 28, OrchidDeprecated, "2001:10::/28", "RFC 4843", false),
    v6!(0x2001_0020_u128 << 96, 28, OrchidV2, "2001:20::/28", "RFC 7343", true),
    v6!(0x2001_0030_u128 << 96, 28, DroneRemoteId, "2001:30::/28", "RFC 9374", true),
    v6!(0x2001_0db8_u128 << 96, 32, Documentation, "2001:db8::/32", "RFC 3849", false),
    v6!(0x2002_u128 << 112, 16, SixToFour, "2002::/16", "RFC 3056", true),
    v6!(0x2620_004f_8000_u128 << 80, 48, As112, "2620:4f:8000::/48", "RFC 7534", true),
    v6!(0x3fff_u128 << 112, 20, Documentation, "3fff::/20", "RFC 9637", false),
    v6!(0x5f00_u128 << 112, 16, SegmentRouting, "5f00::/16", "RFC 9602", false),
    v6!(0xfc00_u128 << 112, 7, UniqueLocal, "fc00::/7", "RFC 4193", false),
    v6!(0xfe80_u128 << 112, 10, LinkLocal, "fe80::/10", "RFC 4291", false),
    v6!(0xff00_u128 << 112, 8, Multicast, "ff00::/8", "RFC 4291", false),
];

fn mask32(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

fn to_class<T>(e: &Entry<T>) -> Classification {
    Classification { class: e.class, block: e.block, rfc: e.rfc, global: e.global }
}

/// Classifies an IPv4 address. Addresses in no special-purpose block are
/// [`AddrClass::GlobalUnicast`].
pub fn classify_v4(a: Ipv4Addr) -> Classification {
    let x = u32::from(a);
    V4.iter().filter(|e| x & mask32(e.len) == e.net).max_by_key(|e| e.len).map(to_class).unwrap_or(Classification {
        class: AddrClass::GlobalUnicast,
        block: "0.0.0.0/0",
        rfc: "RFC 791",
        global: true,
    })
}

/// Classifies an IPv6 address. Outside the special-purpose blocks, 2000::/3 is global
/// unicast and everything else is reserved by the IETF (RFC 4291 §2.4).
pub fn classify_v6(a: Ipv6Addr) -> Classification {
    let x = u128::from(a);
    if let Some(e) = V6.iter().filter(|e| x & mask128(e.len) == e.net).max_by_key(|e| e.len) {
        return to_class(e);
    }
    if x >> 125 == 1 {
        Classification { class: AddrClass::GlobalUnicast, block: "2000::/3", rfc: "RFC 4291", global: true }
    } else {
        Classification { class: AddrClass::Reserved, block: "::/0", rfc: "RFC 4291", global: false }
    }
}

/// Classifies either family.
pub fn classify(a: IpAddr) -> Classification {
    match a {
        IpAddr::V4(a) => classify_v4(a),
        IpAddr::V6(a) => classify_v6(a),
    }
}

/// Whether an IPv4 address is globally reachable per the IANA registry. A first-octet
/// filter answers most addresses without a table walk (this sits on the NAT64 fast path).
#[inline]
pub fn is_global_v4(a: Ipv4Addr) -> bool {
    match a.octets()[0] {
        0 | 10 | 100 | 127 | 169 | 172 | 192 | 198 | 203 | 224..=255 => classify_v4(a).global,
        _ => true,
    }
}

/// Whether an IPv6 packet from `src` to `dst` is confined to its link: a link-local
/// source (fe80::/10) or a multicast destination of interface-local or link-local scope
/// (scop 1 or 2: ff01::/16, ff02::/16). Routers forward neither (RFC 4291 §2.5.6: "Routers
/// must not forward any packets with Link-Local source or destination addresses to other
/// links"; §2.7: nor multicast beyond its scope). On a TUN device these are the host's own
/// stack speaking to the link: router solicitations, MLD reports, neighbour discovery.
#[inline]
pub fn is_link_scoped_v6(src: Ipv6Addr, dst: Ipv6Addr) -> bool {
    let (s, d) = (src.segments()[0], dst.segments()[0]);
    s & 0xffc0 == 0xfe80 || (d >> 8 == 0xff && matches!(d & 0x000f, 1 | 2))
}

/// Whether an IPv4 address is one that no translator (or router) may forward to or from:
/// 0.0.0.0/8, 127.0.0.0/8, 169.254.0.0/16, and everything that is not unicast — 224.0.0.0/4
/// (multicast) and 240.0.0.0/4 (reserved "Class E", with 255.255.255.255 in it).
///
/// RFC 7915 §4.1 has the translator silently drop "an illegal source address (e.g.,
/// 0.0.0.0, 127.0.0.1, etc.)", citing RFC 1812 §5.3.7 (§5.1 says the same of an illegal
/// IPv6 source; the IPv4 addresses an IPv6 packet translates to are held to this rule
/// too). RFC 1812 §5.3.7 (Martian Address Filtering) makes a source invalid on
/// network 0, on network 127 or when it is not unicast, and a destination invalid on network
/// 0, network 127 or in Class E (255.255.255.255 is never forwarded either, §5.3.5.1);
/// RFC 3927 §7: a router MUST NOT forward a packet with a link-local source or destination.
/// These are the blocks the IANA IPv4 Special-Purpose Address Registry marks not
/// forwardable because of what they are, not what they are for: the registry also says
/// "forwardable: false" for the documentation blocks and 192.0.0.0/24, which stay
/// translatable (a translator that refused them would refuse every documented example and
/// RFC 7600's dummy address).
///
/// One rule for every engine: the stateless translator (general and fast path), the
/// stateful NAT64 and its pool validation all call this. Every block is a /16 or shorter,
/// so the answer depends only on the first 16 bits.
#[inline(always)]
pub const fn is_forbidden_v4(a: Ipv4Addr) -> bool {
    let x = a.to_bits();
    let top = x >> 24;
    // RFC 1812 §5.3.7: networks 0 and 127; RFC 3927 §7: 169.254/16; RFC 1812 §5.3.7: not
    // unicast (224.0.0.0/4 multicast, 240.0.0.0/4 Class E including 255.255.255.255).
    top == 0 || top == 127 || x >> 16 == 0xa9fe || top >= 224
}

/// For each first octet, whether some address with that first octet is
/// [forbidden](is_forbidden_v4): a one-load screen in front of the full check. Built from
/// [`is_forbidden_v4`] itself (every one of its blocks is a /16 or shorter, so looking at
/// each /16 decides it).
pub static MAY_BE_FORBIDDEN_V4: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let mut j = 0;
        while j < 256 {
            if is_forbidden_v4(Ipv4Addr::new(i as u8, j as u8, 0, 0)) {
                t[i] = true;
            }
            j += 1;
        }
        i += 1;
    }
    t
};

/// The IPv4 addresses the IANA registry marks not globally reachable, as merged inclusive
/// ranges in address order (longest match decides, so 192.0.0.9, PCP anycast, is not in
/// them although 192.0.0.0/24 is). Packet filters built from these agree with
/// [`is_global_v4`] on every address.
///
/// ```
/// use std::net::Ipv4Addr;
/// let r = sixgate_core::class::non_global_v4_ranges();
/// assert_eq!(r[0], (Ipv4Addr::new(0, 0, 0, 0), Ipv4Addr::new(0, 255, 255, 255)));
/// assert_eq!(r.last(), Some(&(Ipv4Addr::new(224, 0, 0, 0), Ipv4Addr::new(255, 255, 255, 255))));
/// ```
pub fn non_global_v4_ranges() -> Vec<(Ipv4Addr, Ipv4Addr)> {
    // Classification is constant between two consecutive block edges.
    let mut edges: Vec<u64> = vec![0, 1 << 32];
    for e in V4 {
        let start = u64::from(e.net);
        edges.push(start);
        edges.push(start + (1u64 << (32 - u32::from(e.len))));
    }
    edges.sort_unstable();
    edges.dedup();
    let mut out: Vec<(u32, u32)> = Vec::new();
    for w in edges.windows(2) {
        let (Ok(lo), Ok(hi)) = (u32::try_from(w[0]), u32::try_from(w[1] - 1)) else { continue };
        if classify_v4(Ipv4Addr::from(lo)).global {
            continue;
        }
        match out.last_mut() {
            Some(last) if u64::from(last.1) + 1 == u64::from(lo) => last.1 = hi,
            _ => out.push((lo, hi)),
        }
    }
    out.into_iter().map(|(a, b)| (Ipv4Addr::from(a), Ipv4Addr::from(b))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_scoped_v6() {
        let a = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        // A router solicitation and an MLDv2 report as Linux sends them on a new device,
        // and a report sent before the device has an address.
        assert!(is_link_scoped_v6(a("fe80::3dfc:a4eb:d786:f339"), a("ff02::2")));
        assert!(is_link_scoped_v6(a("fe80::1"), a("ff02::16")));
        assert!(is_link_scoped_v6(a("::"), a("ff02::16")));
        assert!(is_link_scoped_v6(a("2001:db8::1"), a("ff01::1")));
        assert!(is_link_scoped_v6(a("febf::1"), a("2001:db8::1")), "fe80::/10 ends at febf");
        assert!(is_link_scoped_v6(a("2001:db8::1"), a("ff12::1")), "transient link-scope group");
        for (s, d) in [
            ("2001:db8::1", "ff05::2"),
            ("2001:db8::1", "ff0e::1"),
            ("fec0::1", "2001:db8::1"),
            ("2001:db8::1", "fe80::1"),
        ] {
            assert!(!is_link_scoped_v6(a(s), a(d)), "{s} → {d}");
        }
    }

    fn c4(s: &str) -> Classification {
        classify_v4(s.parse().unwrap())
    }
    fn c6(s: &str) -> Classification {
        classify_v6(s.parse().unwrap())
    }

    #[test]
    fn v4_blocks() {
        assert_eq!(c4("10.1.2.3").class, AddrClass::Private);
        assert_eq!(c4("10.1.2.3").rfc, "RFC 1918");
        assert_eq!(c4("172.31.255.255").class, AddrClass::Private);
        assert_eq!(c4("172.32.0.0").class, AddrClass::GlobalUnicast);
        assert_eq!(c4("100.64.0.1").class, AddrClass::SharedAddressSpace);
        assert_eq!(c4("100.128.0.1").class, AddrClass::GlobalUnicast);
        assert_eq!(c4("192.0.2.1").class, AddrClass::Documentation);
        assert_eq!(c4("192.0.0.9").class, AddrClass::PcpAnycast);
        assert!(c4("192.0.0.9").global);
        assert_eq!(c4("192.0.0.5").class, AddrClass::DsLite);
        assert_eq!(c4("192.0.0.100").class, AddrClass::IetfProtocolAssignments);
        assert_eq!(c4("192.0.0.171").class, AddrClass::Nat64Discovery);
        assert_eq!(c4("192.88.99.1").class, AddrClass::SixToFourRelayAnycast);
        assert_eq!(c4("198.19.255.1").class, AddrClass::Benchmarking);
        assert_eq!(c4("239.1.1.1").class, AddrClass::Multicast);
        assert_eq!(c4("250.0.0.1").class, AddrClass::Reserved);
        assert_eq!(c4("255.255.255.255").class, AddrClass::LimitedBroadcast);
        assert_eq!(c4("0.1.2.3").class, AddrClass::ThisNetwork);
        assert_eq!(c4("127.0.0.1").class, AddrClass::Loopback);
        assert_eq!(c4("169.254.1.1").class, AddrClass::LinkLocal);
        assert!(c4("8.8.8.8").global);
        assert!(c4("74.207.254.16").global);
    }

    #[test]
    fn v6_blocks() {
        assert_eq!(c6("::").class, AddrClass::Unspecified);
        assert_eq!(c6("::1").class, AddrClass::Loopback);
        assert_eq!(c6("::1.2.3.4").class, AddrClass::Ipv4Compatible);
        assert_eq!(c6("::ffff:1.2.3.4").class, AddrClass::Ipv4Mapped);
        assert_eq!(c6("64:ff9b::1.2.3.4").class, AddrClass::Nat64WellKnown);
        assert_eq!(c6("64:ff9b:1::1").class, AddrClass::Nat64LocalUse);
        assert_eq!(c6("2001::1").class, AddrClass::Teredo);
        assert_eq!(c6("2001:1::1").class, AddrClass::PcpAnycast);
        assert_eq!(c6("2001:1::5").class, AddrClass::IetfProtocolAssignments);
        assert_eq!(c6("2001:2::1").class, AddrClass::Benchmarking);
        assert_eq!(c6("2001:10::1").class, AddrClass::OrchidDeprecated);
        assert_eq!(c6("2001:20::1").class, AddrClass::OrchidV2);
        assert_eq!(c6("2001:db8::1").class, AddrClass::Documentation);
        assert_eq!(c6("3fff:fff::1").class, AddrClass::Documentation);
        assert_eq!(c6("2002:4acf:fe10::1").class, AddrClass::SixToFour);
        assert_eq!(c6("fd00::1").class, AddrClass::UniqueLocal);
        assert_eq!(c6("fe80::1").class, AddrClass::LinkLocal);
        assert_eq!(c6("ff02::1").class, AddrClass::Multicast);
        assert_eq!(c6("2600::1").class, AddrClass::GlobalUnicast);
        assert_eq!(c6("4000::1").class, AddrClass::Reserved);
        assert_eq!(c6("2001:200::1").class, AddrClass::GlobalUnicast);
    }

    #[test]
    fn fast_global_agrees_with_table() {
        for first in 0..=255u8 {
            for rest in [
                [0u8, 0, 0],
                [64, 0, 1],
                [88, 99, 1],
                [168, 1, 1],
                [0, 2, 1],
                [18, 0, 1],
                [51, 100, 7],
                [0, 113, 9],
                [254, 1, 1],
                [255, 255, 255],
                [31, 196, 1],
                [0, 0, 9],
            ] {
                let a = Ipv4Addr::new(first, rest[0], rest[1], rest[2]);
                assert_eq!(is_global_v4(a), classify_v4(a).global, "{a}");
            }
        }
    }

    /// [`is_forbidden_v4`] against every block of the IANA IPv4 special-purpose registry
    /// (first, middle and last address), with the reason for each answer.
    #[test]
    fn forbidden_v4_over_the_registry() {
        // (block, forbidden): RFC 7915 §4.1 → RFC 1812 §5.3.7, RFC 3927 §7.
        let expected: &[(&str, bool)] = &[
            ("0.0.0.0/8", true),          // RFC 1812 §5.3.7: network 0
            ("10.0.0.0/8", false),        // private use
            ("100.64.0.0/10", false),     // shared address space: forwardable
            ("127.0.0.0/8", true),        // RFC 1812 §5.3.7: network 127
            ("169.254.0.0/16", true),     // RFC 3927 §7: never forwarded
            ("172.16.0.0/12", false),     // private use
            ("192.0.0.0/24", false),      // IETF protocol assignments: not a martian
            ("192.0.0.0/29", false),      // DS-Lite: forwardable
            ("192.0.0.8/32", false),      // RFC 7600 dummy: the source of translators' errors
            ("192.0.0.9/32", false),      // PCP anycast: global
            ("192.0.0.10/32", false),     // TURN anycast: global
            ("192.0.0.170/31", false),    // NAT64 discovery: only ever a DNS answer
            ("192.0.2.0/24", false),      // documentation
            ("192.31.196.0/24", false),   // AS112: global
            ("192.52.193.0/24", false),   // AMT: global
            ("192.88.99.0/24", false),    // deprecated 6to4 relay anycast
            ("192.168.0.0/16", false),    // private use
            ("192.175.48.0/24", false),   // AS112: global
            ("198.18.0.0/15", false),     // benchmarking: forwardable
            ("198.51.100.0/24", false),   // documentation
            ("203.0.113.0/24", false),    // documentation
            ("224.0.0.0/4", true),        // RFC 1812 §5.3.7: not unicast (multicast)
            ("240.0.0.0/4", true),        // RFC 1812 §5.3.7: Class E destination, not unicast
            ("255.255.255.255/32", true), // RFC 1812 §5.3.5.1: limited broadcast
        ];
        for e in V4 {
            let Some(&(_, want)) = expected.iter().find(|x| x.0 == e.block) else {
                panic!("registry block {} has no expected answer", e.block);
            };
            let n: ipnet::Ipv4Net = e.block.parse().unwrap();
            let (lo, hi) = (u32::from(n.network()), u32::from(n.broadcast()));
            for x in [lo, lo + (hi - lo) / 2, hi] {
                let a = Ipv4Addr::from(x);
                // A block nested in a forbidden one is forbidden (255.255.255.255 in 240/4).
                assert_eq!(is_forbidden_v4(a), want, "{a} in {}", e.block);
            }
        }
        assert_eq!(expected.len(), V4.len());
        // Outside the registry: ordinary unicast.
        for a in ["1.1.1.1", "8.8.8.8", "74.207.254.16", "126.255.255.255", "128.0.0.0", "223.255.255.255"] {
            assert!(!is_forbidden_v4(a.parse().unwrap()), "{a}");
        }
        for a in ["169.253.255.255", "169.255.0.0"] {
            assert!(!is_forbidden_v4(a.parse().unwrap()), "{a}");
        }
    }

    /// The screen agrees with the function: it is true exactly for the first octets that
    /// have a forbidden address, and the function depends only on the first 16 bits.
    #[test]
    fn forbidden_v4_screen_is_exact() {
        for hi in 0..=0xffffu32 {
            let f = is_forbidden_v4(Ipv4Addr::from(hi << 16));
            for lo in [1u32, 0x00ff, 0x8000, 0xffff] {
                assert_eq!(is_forbidden_v4(Ipv4Addr::from((hi << 16) | lo)), f, "{hi:#x}/16");
            }
            if f {
                assert!(MAY_BE_FORBIDDEN_V4[(hi >> 8) as usize], "{hi:#x}/16");
            }
        }
        for (o, &m) in MAY_BE_FORBIDDEN_V4.iter().enumerate() {
            let any = (0..=255u8).any(|b| is_forbidden_v4(Ipv4Addr::new(o as u8, b, 0, 0)));
            assert_eq!(m, any, "first octet {o}");
        }
    }

    /// Every block string in the tables parses to exactly the numeric entry it labels.
    #[test]
    fn table_labels_match_numbers() {
        for e in V4 {
            let n: ipnet::Ipv4Net = e.block.parse().unwrap();
            assert_eq!((u32::from(n.addr()), n.prefix_len()), (e.net, e.len), "{}", e.block);
        }
        for e in V6 {
            let n: ipnet::Ipv6Net = e.block.parse().unwrap();
            assert_eq!((u128::from(n.addr()), n.prefix_len()), (e.net, e.len), "{}", e.block);
        }
    }

    #[test]
    fn non_global_ranges_agree_with_is_global() {
        let r = non_global_v4_ranges();
        let inside = |a: u32| r.iter().any(|(lo, hi)| (u32::from(*lo)..=u32::from(*hi)).contains(&a));
        for e in V4 {
            for a in [e.net, e.net | !mask32(e.len), e.net.wrapping_sub(1), e.net | (!mask32(e.len)).wrapping_add(1)] {
                assert_eq!(inside(a), !is_global_v4(Ipv4Addr::from(a)), "{}", Ipv4Addr::from(a));
            }
        }
        assert!(!inside(u32::from(Ipv4Addr::new(192, 0, 0, 9))));
        assert!(!inside(u32::from(Ipv4Addr::new(8, 8, 8, 8))));
    }
}
