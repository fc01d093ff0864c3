//! IP protocol numbers and IPv6 Next Header values: the IANA "Assigned Internet Protocol
//! Numbers" registry, and its "IPv6 Extension Header Types" subset (RFC 8200 §4, RFC 7045).

/// IPv6 Hop-by-Hop Options (RFC 8200 §4.3).
pub const HOP_BY_HOP: u8 = 0;
/// ICMP for IPv4 (RFC 792).
pub const ICMP: u8 = 1;
/// IGMP (RFC 1112).
pub const IGMP: u8 = 2;
/// TCP (RFC 9293).
pub const TCP: u8 = 6;
/// UDP (RFC 768).
pub const UDP: u8 = 17;
/// IPv6 encapsulation (6in4, RFC 4213 §3.5).
pub const IPV6: u8 = 41;
/// IPv6 Routing header (RFC 8200 §4.4).
pub const ROUTING: u8 = 43;
/// IPv6 Fragment header (RFC 8200 §4.5).
pub const FRAGMENT: u8 = 44;
/// Encapsulating Security Payload (RFC 4303).
pub const ESP: u8 = 50;
/// Authentication Header (RFC 4302).
pub const AH: u8 = 51;
/// ICMP for IPv6 (RFC 4443).
pub const ICMPV6: u8 = 58;
/// No Next Header (RFC 8200 §4.7).
pub const NO_NEXT_HEADER: u8 = 59;
/// IPv6 Destination Options (RFC 8200 §4.6).
pub const DST_OPTS: u8 = 60;
/// Mobility header (RFC 6275).
pub const MOBILITY: u8 = 135;
/// Host Identity Protocol (RFC 7401).
pub const HIP: u8 = 139;
/// Shim6 (RFC 5533).
pub const SHIM6: u8 = 140;
/// Experimentation and testing (RFC 3692, RFC 4727).
pub const EXPERIMENT1: u8 = 253;
/// Experimentation and testing (RFC 3692, RFC 4727).
pub const EXPERIMENT2: u8 = 254;

/// Whether an IPv6 Next Header value names an extension header: the IANA "IPv6
/// Extension Header Types" registry (RFC 8200 §4, RFC 7045): Hop-by-Hop, Routing,
/// Fragment, ESP, AH, Destination Options, Mobility, HIP, Shim6 and the experimental
/// 253 and 254 (RFC 3692, RFC 4727).
#[inline]
pub const fn is_ipv6_extension(nh: u8) -> bool {
    matches!(
        nh,
        HOP_BY_HOP | ROUTING | FRAGMENT | ESP | AH | DST_OPTS | MOBILITY | HIP | SHIM6 | EXPERIMENT1 | EXPERIMENT2
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_headers() {
        let ext: Vec<u8> = (0..=255).filter(|&n| is_ipv6_extension(n)).collect();
        assert_eq!(ext, [0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254]);
    }
}
