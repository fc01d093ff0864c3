//! Rules every translator applies because it is a router.
//!
//! ```
//! use sixgate_core::router::forward_hop;
//! assert_eq!(forward_hop(64), Some(63));
//! assert_eq!(forward_hop(1), None); // Time Exceeded, code 0
//! assert_eq!(forward_hop(0), None);
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::buf::PacketBuf;
use crate::wire::Ipv4Packet;

/// Why an arriving IPv4 header is refused by [`accept_ipv4`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4Refusal {
    /// Shorter than 20 bytes, an IHL below 5 or past the buffer, a Total Length below the
    /// header or past the buffer.
    Malformed,
    /// The header checksum does not verify.
    HeaderChecksum,
}

/// Accepts an arriving IPv4 packet the way a router does before it looks any further, and
/// returns its header length: RFC 1812 §5.2.2, "a router MUST verify the IP header … the
/// packet length reported by the Link Layer must be large enough to hold the minimum
/// length legal IP datagram (20 bytes); the IP checksum must be correct; the IP header
/// length must be at least 20 bytes; the IP total length field must be large enough to
/// hold the IP datagram header, whose length is specified in the IP header length field."
/// Bytes after Total Length (link-layer padding) are cut from `buf`, so a checked
/// [`Ipv4Packet`] view of it stays checked. Every engine that receives IPv4 calls this.
#[inline]
pub fn accept_ipv4(buf: &mut PacketBuf) -> Result<usize, Ipv4Refusal> {
    let Ok(ip) = Ipv4Packet::new_checked(buf.as_slice()) else { return Err(Ipv4Refusal::Malformed) };
    if !ip.verify_checksum() {
        return Err(Ipv4Refusal::HeaderChecksum);
    }
    let (ihl, total) = (ip.header_len(), usize::from(ip.total_len()));
    buf.truncate(total);
    Ok(ihl)
}

/// The TTL (IPv4) or Hop Limit (IPv6) a forwarded packet leaves with, or `None` when the
/// packet must not be forwarded and the router sends ICMPv4 Time Exceeded (type 11, code 0)
/// or ICMPv6 Time Exceeded (type 3, code 0) instead.
///
/// RFC 7915 §4.1 and §5.1: "Since the translator is a router, as part of forwarding the
/// packet it needs to decrement either the IPv4 TTL (before the translation) or the IPv6
/// Hop Limit (after the translation). As part of decrementing the TTL or Hop Limit, the
/// translator (as any router) MUST check for zero and send the ICMPv4 'TTL Exceeded' or
/// ICMPv6 'Hop Limit Exceeded' error." RFC 1812 §5.3.1 and RFC 8200 §3 (a packet arriving
/// with 0, or reaching 0, is discarded). Every engine (the stateless translator's general
/// and fast paths, the stateful NAT64) decides it here.
#[inline(always)]
pub const fn forward_hop(ttl: u8) -> Option<u8> {
    if ttl <= 1 {
        None
    } else {
        Some(ttl - 1)
    }
}

/// The TTL an IPv4 packet starts with unless something says otherwise: 64, IANA's default
/// ("IP Parameters" registry, from the Assigned Numbers RFC 1700). RFC 4213 §3.3 leaves the
/// encapsulating IPv4 header's TTL of a 6in4 tunnel implementation dependent and points at
/// this suggested value; every tunnel sixgate runs or configures starts with it.
pub const DEFAULT_IPV4_TTL: u8 = 64;

/// The Hop Limit of an IPv6 packet an engine originates itself (its ICMPv6 errors, the
/// stateful translator's probes): the same 64. RFC 4443 leaves it to the node's default
/// (RFC 8200 §3, "Hop Limit"); 255 is for Neighbor Discovery only (RFC 4861 §3.1).
pub const DEFAULT_HOP_LIMIT: u8 = 64;

/// Whether an ICMPv4 error may be sent to `src` at all, before any rate limit.
///
/// RFC 1812 §4.3.2.7: "An ICMP error message MUST NOT be sent as the result of receiving
/// … a packet whose source address does not define a single host — e.g., a zero address,
/// a loopback address, a broadcast address, a multicast address, or a Class E address."
/// (The other cases of that list, an ICMP error, a non-first fragment and a
/// broadcast/multicast destination, depend on the invoking packet and stay with the
/// caller.) Every engine that answers an IPv4 source asks here.
pub const fn icmp4_error_allowed_to(src: Ipv4Addr) -> bool {
    let o = src.octets();
    // 0.0.0.0, 127/8, 224/4 (multicast) and 240/4 (Class E, 255.255.255.255 included).
    !(src.is_unspecified() || o[0] == 127 || o[0] >= 224)
}

/// Whether an ICMPv6 error may be sent to `src` at all, before any rate limit.
///
/// RFC 4443 §2.4(e.5): no error message as a result of receiving "a packet whose source
/// address does not uniquely identify a single node -- e.g., the IPv6 Unspecified Address,
/// an IPv6 multicast address"; the loopback address (RFC 4291 §2.5.3: never a source
/// outside a node) is refused too. Every engine that answers an IPv6 source asks here.
pub const fn icmp6_error_allowed_to(src: Ipv6Addr) -> bool {
    !(src.is_unspecified() || src.is_multicast() || src.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_errors_go_only_to_a_single_host() {
        for a in ["192.0.2.1", "10.0.0.1", "223.255.255.254", "1.2.3.4"] {
            assert!(icmp4_error_allowed_to(a.parse().unwrap()), "{a}");
        }
        for a in ["0.0.0.0", "127.0.0.1", "127.255.0.1", "224.0.0.1", "239.1.2.3", "240.0.0.1", "255.255.255.255"] {
            assert!(!icmp4_error_allowed_to(a.parse().unwrap()), "{a}");
        }
        for a in ["2001:db8::1", "fe80::1", "64:ff9b::c000:201"] {
            assert!(icmp6_error_allowed_to(a.parse().unwrap()), "{a}");
        }
        for a in ["::", "::1", "ff02::1", "ff0e::1"] {
            assert!(!icmp6_error_allowed_to(a.parse().unwrap()), "{a}");
        }
    }

    #[test]
    fn every_value() {
        for t in 0..=255u8 {
            match forward_hop(t) {
                None => assert!(t <= 1, "{t}"),
                Some(n) => assert_eq!(u16::from(n) + 1, u16::from(t)),
            }
        }
    }
}
