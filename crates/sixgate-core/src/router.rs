//! Rules every translator applies because it is a router.
//!
//! ```
//! use sixgate_core::router::forward_hop;
//! assert_eq!(forward_hop(64), Some(63));
//! assert_eq!(forward_hop(1), None); // Time Exceeded, code 0
//! assert_eq!(forward_hop(0), None);
//! ```

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

#[cfg(test)]
mod tests {
    use super::*;

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
