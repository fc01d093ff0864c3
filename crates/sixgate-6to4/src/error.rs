//! The crate's one error type.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use sixgate_core::class::AddrClass;

/// Everything that can go wrong in 6to4, 6rd, ISATAP, Teredo arithmetic and tunnel
/// configuration. Every message names the offending value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Text that is not an IPv4 address.
    #[error("{0:?} is not an IPv4 address")]
    NotIpv4(String),
    /// Text that is not an IPv6 address.
    #[error("{0:?} is not an IPv6 address")]
    NotIpv6(String),
    /// Text that is not an IPv4 or IPv6 address.
    #[error("{0:?} is not an IPv4 or IPv6 address")]
    NotAnAddress(String),
    /// Address text in a refused form (ambiguous port, bad brackets, zone or prefix).
    #[error(transparent)]
    Text(#[from] sixgate_core::text::TextError),
    /// A non-global IPv4 address where 6to4 needs a global one (RFC 3056 §2).
    #[error("{addr} is {class} ({block}, {rfc}), not a global IPv4 address: 6to4 needs a global one (RFC 3056 §2)")]
    NotGlobal {
        /// The address.
        addr: Ipv4Addr,
        /// Its class.
        class: AddrClass,
        /// The special-purpose block it falls in.
        block: &'static str,
        /// The RFC defining that block.
        rfc: &'static str,
    },
    /// The 6rd prefix has bits set beyond its length (RFC 5969 §7.1.1).
    #[error("6rd prefix {0} has host bits set (did you mean {net}?)", net = .0.trunc())]
    SixRdPrefixHostBits(Ipv6Net),
    /// IPv4MaskLen is above 32 (RFC 5969 §7.1.1).
    #[error("IPv4MaskLen {0} is out of range: it is 0 to 32 (RFC 5969 §7.1.1)")]
    SixRdMaskLen(u8),
    /// The delegated prefix would be longer than /64 (RFC 5969 §4).
    #[error(
        "6rd prefix /{prefix_len} plus {suffix_bits} IPv4 bits (IPv4MaskLen {ipv4_mask_len}) gives a /{delegated_len}: \
         the delegated prefix must be /64 or shorter (RFC 5969 §4)",
        suffix_bits = 32 - u16::from(*.ipv4_mask_len),
        delegated_len = u16::from(*.prefix_len) + 32 - u16::from(*.ipv4_mask_len)
    )]
    SixRdTooLong {
        /// The 6rd prefix length.
        prefix_len: u8,
        /// IPv4MaskLen.
        ipv4_mask_len: u8,
    },
    /// The relay (common) IPv4 prefix has a length other than IPv4MaskLen.
    #[error("IPv4 relay prefix {relay} does not have the IPv4MaskLen {ipv4_mask_len} as its length (RFC 5969 §7.1.1)")]
    SixRdRelayLength {
        /// The relay prefix given.
        relay: Ipv4Net,
        /// IPv4MaskLen.
        ipv4_mask_len: u8,
    },
    /// The CE's IPv4 address is outside the domain's common IPv4 prefix.
    #[error("CE address {ce} is outside the 6rd domain's IPv4 relay prefix {relay} (RFC 5969 §4)")]
    CeOutsideRelay {
        /// The CE address.
        ce: Ipv4Addr,
        /// The domain's common IPv4 prefix.
        relay: Ipv4Net,
    },
    /// Going from a delegated prefix back to the CE's IPv4 needs the common IPv4 bits.
    #[error(
        "IPv4MaskLen is {0}: the CE's IPv4 address cannot be rebuilt without the domain's IPv4 relay prefix \
         (its first {0} bits, RFC 5969 §7.1.1)"
    )]
    SixRdRelayNeeded(u8),
    /// An address or prefix outside the 6rd prefix.
    #[error("{given} is not inside the 6rd prefix {prefix}")]
    NotInSixRdPrefix {
        /// What was given.
        given: Ipv6Net,
        /// The 6rd prefix.
        prefix: Ipv6Net,
    },
    /// A prefix shorter than the delegated prefix length does not hold all the IPv4 bits.
    #[error("{given} is shorter than the /{needed} delegated prefixes of this 6rd domain, so it holds no single CE")]
    SixRdPrefixTooShort {
        /// What was given.
        given: Ipv6Net,
        /// The delegated prefix length.
        needed: u8,
    },
    /// An ISATAP address needs a /64 prefix (RFC 5214 §6.1).
    #[error("ISATAP addresses are built on a /64 prefix (RFC 5214 §6.1), not on {0}")]
    IsatapPrefix(Ipv6Net),
    /// A link MTU out of range for a tunnel.
    #[error(
        "link MTU {0} is out of range: it must be 1300 to 65535, so that the tunnel MTU (link MTU - 20) is at least \
         IPv6's minimum of 1280 (RFC 8200 §5)"
    )]
    LinkMtu(u32),
    /// A bad tunnel interface name.
    #[error("{0:?} is not a usable interface name (1 to 15 characters, no '/', ':' or whitespace)")]
    InterfaceName(String),
    /// Tunnel endpoints or addresses that contradict each other.
    #[error("{0}")]
    TunnelAddresses(String),
    /// A tunnel endpoint or address in a special-purpose block (checked against the IANA
    /// registries by `sixgate_core::class`).
    #[error("{what} {addr} is {class}: {rule}; {fix}")]
    SpecialAddress {
        /// Which address, e.g. "remote IPv4 address".
        what: &'static str,
        /// The address.
        addr: std::net::IpAddr,
        /// Its classification.
        class: sixgate_core::class::Classification,
        /// Why it cannot be used there.
        rule: &'static str,
        /// What to give instead.
        fix: &'static str,
        /// Whether allowing non-global addresses (a lab, a NAT) accepts it.
        overridable: bool,
    },
    /// A line of batch input that could not be converted.
    #[error("line {line}: {source}")]
    Line {
        /// The line number, from 1.
        line: u64,
        /// What was wrong with it.
        source: Box<Self>,
    },
    /// Reading or writing failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The [`Error::NotGlobal`] error for `addr`.
    pub(crate) fn not_global(addr: Ipv4Addr) -> Self {
        let c = sixgate_core::class::classify_v4(addr);
        Self::NotGlobal { addr, class: c.class, block: c.block, rfc: c.rfc }
    }
}

/// The address of a prefix as a /128, for messages about single addresses.
pub(crate) fn host_net(a: Ipv6Addr) -> Ipv6Net {
    Ipv6Net::from(a)
}
