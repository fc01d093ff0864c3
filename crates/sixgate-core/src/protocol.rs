//! The transport protocols a stateful translator keeps sessions for.

use std::fmt;

/// A transport protocol with sessions in a stateful NAT64 (RFC 6146 §3): TCP, UDP, or ICMP
/// queries (an ICMP or ICMPv6 echo identifier plays the part of a port, RFC 6146 §3.5.3).
///
/// ```
/// use sixgate_core::Protocol;
///
/// assert_eq!(u8::from(Protocol::Udp), 17);
/// assert_eq!(Protocol::try_from(6), Ok(Protocol::Tcp));
/// // ICMPv6 queries share the ICMP tables.
/// assert_eq!(Protocol::try_from(58), Ok(Protocol::Icmp));
/// assert!(Protocol::try_from(47).is_err());
/// assert_eq!(Protocol::Icmp.to_string(), "icmp");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP (IP protocol 6).
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
    /// ICMP queries (IP protocol 1; ICMPv6, 58, maps here too).
    Icmp,
}

impl Protocol {
    /// The IPv4 protocol number: 6, 17 or 1.
    pub const fn number(self) -> u8 {
        match self {
            Self::Tcp => 6,
            Self::Udp => 17,
            Self::Icmp => 1,
        }
    }

    /// The protocol of IP protocol (or IPv6 next header) number `n`: 6 TCP, 17 UDP, 1
    /// (ICMP) or 58 (ICMPv6) ICMP; `None` otherwise.
    pub const fn from_number(n: u8) -> Option<Self> {
        match n {
            6 => Some(Self::Tcp),
            17 => Some(Self::Udp),
            1 | 58 => Some(Self::Icmp),
            _ => None,
        }
    }

    /// The lower-case name: `tcp`, `udp` or `icmp`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Icmp => "icmp",
        }
    }
}

impl From<Protocol> for u8 {
    fn from(p: Protocol) -> Self {
        p.number()
    }
}

/// An IP protocol number that is not TCP, UDP, ICMP or ICMPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownProtocol(pub u8);

impl fmt::Display for UnknownProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IP protocol {} is not TCP, UDP or ICMP", self.0)
    }
}

impl std::error::Error for UnknownProtocol {}

impl TryFrom<u8> for Protocol {
    type Error = UnknownProtocol;

    fn try_from(n: u8) -> Result<Self, UnknownProtocol> {
        Self::from_number(n).ok_or(UnknownProtocol(n))
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Protocol {
    type Err = UnknownProtocol;

    /// `tcp`, `udp` or `icmp` (any case), or a protocol number.
    fn from_str(s: &str) -> Result<Self, UnknownProtocol> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Self::Tcp),
            "udp" => Ok(Self::Udp),
            "icmp" | "icmpv6" => Ok(Self::Icmp),
            n => n.parse::<u8>().map_err(|_| UnknownProtocol(0)).and_then(Self::try_from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for p in [Protocol::Tcp, Protocol::Udp, Protocol::Icmp] {
            assert_eq!(Protocol::try_from(u8::from(p)), Ok(p));
            assert_eq!(p.name().parse::<Protocol>(), Ok(p));
        }
        let known = (0..=255u8).filter(|&n| Protocol::from_number(n).is_some()).collect::<Vec<_>>();
        assert_eq!(known, [1, 6, 17, 58]);
    }
}
