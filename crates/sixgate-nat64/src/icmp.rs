//! ICMPv4 ↔ ICMPv6 type/code mapping (RFC 7915 §4.2 and §5.2), Parameter Problem pointer
//! mapping (Figures 3 and 6) and the RFC 1191 plateau table.

use sixgate_core::wire::icmpv4::{self, code as c4};
use sixgate_core::wire::icmpv6::{self, code as c6};

/// What an ICMP message becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Map {
    /// An informational message (echo): new type, same code 0, rest of header copied.
    Echo(u8),
    /// An error: new type and code, and how to build the 4-byte rest of the header.
    Error { typ: u8, code: u8, rest: Rest },
    /// No counterpart: silently drop.
    Drop,
    /// Single-hop message: silently drop.
    SingleHop,
}

/// How to fill bytes 4..8 of the translated error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rest {
    /// Zero (with an RFC 4884 length attribute if the message carries extensions).
    Unused,
    /// A pointer (Parameter Problem); the value is already translated.
    Pointer(u8),
    /// The MTU must be computed (Packet Too Big / Fragmentation Needed).
    Mtu,
}

/// RFC 7915 §4.2: ICMPv4 type/code → ICMPv6.
pub(crate) fn map_4to6(typ: u8, code: u8, rest: [u8; 4]) -> Map {
    use c4::*;
    use icmpv4 as t4;
    use icmpv6 as t6;
    let err = |typ, code| Map::Error { typ, code, rest: Rest::Unused };
    match typ {
        t4::ECHO_REQUEST => Map::Echo(t6::ECHO_REQUEST),
        t4::ECHO_REPLY => Map::Echo(t6::ECHO_REPLY),
        // Router Advertisement/Solicitation: single-hop. Redirect: single-hop.
        t4::ROUTER_ADVERTISEMENT | t4::ROUTER_SOLICITATION | t4::REDIRECT => Map::SingleHop,
        t4::DEST_UNREACHABLE => match code {
            // Net/Host Unreachable, Source Route Failed, 6-8, 11, 12 → No route to destination.
            NET_UNREACHABLE
            | HOST_UNREACHABLE
            | SOURCE_ROUTE_FAILED
            | NET_UNKNOWN
            | HOST_UNKNOWN
            | SOURCE_HOST_ISOLATED
            | NET_UNREACHABLE_FOR_TOS
            | HOST_UNREACHABLE_FOR_TOS => err(t6::DEST_UNREACHABLE, c6::NO_ROUTE),
            // Protocol Unreachable → Parameter Problem, Unrecognized Next Header, pointer 6
            // (the Next Header field).
            PROTOCOL_UNREACHABLE => {
                Map::Error { typ: t6::PARAM_PROBLEM, code: c6::UNRECOGNIZED_NEXT_HEADER, rest: Rest::Pointer(6) }
            }
            // Port Unreachable → Port Unreachable.
            PORT_UNREACHABLE => err(t6::DEST_UNREACHABLE, c6::PORT_UNREACHABLE),
            // Fragmentation Needed → Packet Too Big.
            FRAGMENTATION_NEEDED => Map::Error { typ: t6::PACKET_TOO_BIG, code: c6::PACKET_TOO_BIG, rest: Rest::Mtu },
            // Administratively prohibited, precedence cutoff → Administratively prohibited.
            NET_PROHIBITED | HOST_PROHIBITED | COMMUNICATION_PROHIBITED | PRECEDENCE_CUTOFF => {
                err(t6::DEST_UNREACHABLE, c6::ADMIN_PROHIBITED)
            }
            // Host Precedence Violation (14) and unknown codes: silently drop.
            _ => Map::Drop,
        },
        // Time Exceeded: type 3, code unchanged (in transit, reassembly).
        t4::TIME_EXCEEDED if code <= REASSEMBLY_TIME_EXCEEDED => err(t6::TIME_EXCEEDED, code),
        // Parameter Problem: codes 0 and 2 with the pointer translated per Figure 3.
        t4::PARAM_PROBLEM if code == POINTER_INDICATES_ERROR || code == BAD_LENGTH => match pointer_4to6(rest[0]) {
            Some(p) => Map::Error { typ: t6::PARAM_PROBLEM, code: c6::ERRONEOUS_HEADER_FIELD, rest: Rest::Pointer(p) },
            None => Map::Drop,
        },
        // Source Quench, Alternative Host Address, timestamp, information, address mask,
        // unknown types: silently drop.
        _ => Map::Drop,
    }
}

/// RFC 7915 §5.2: ICMPv6 type/code → ICMPv4.
pub(crate) fn map_6to4(typ: u8, code: u8, rest: [u8; 4]) -> Map {
    use icmpv4 as t4;
    use icmpv6 as t6;
    let err = |typ, code| Map::Error { typ, code, rest: Rest::Unused };
    match typ {
        t6::ECHO_REQUEST => Map::Echo(t4::ECHO_REQUEST),
        t6::ECHO_REPLY => Map::Echo(t4::ECHO_REPLY),
        // MLD (130-132, 143) and ND (133-137): single-hop.
        t6::MLD_QUERY..=t6::REDIRECT | t6::MLDV2_REPORT => Map::SingleHop,
        t6::DEST_UNREACHABLE => match code {
            // No route, beyond scope, address unreachable → Host Unreachable.
            c6::NO_ROUTE | c6::BEYOND_SCOPE | c6::ADDRESS_UNREACHABLE => {
                err(t4::DEST_UNREACHABLE, c4::HOST_UNREACHABLE)
            }
            // Administratively prohibited → Communication with destination host admin. prohibited.
            c6::ADMIN_PROHIBITED => err(t4::DEST_UNREACHABLE, c4::HOST_PROHIBITED),
            // Port unreachable → Port unreachable.
            c6::PORT_UNREACHABLE => err(t4::DEST_UNREACHABLE, c4::PORT_UNREACHABLE),
            _ => Map::Drop,
        },
        // Packet Too Big → Fragmentation Needed.
        t6::PACKET_TOO_BIG => Map::Error { typ: t4::DEST_UNREACHABLE, code: c4::FRAGMENTATION_NEEDED, rest: Rest::Mtu },
        // Time Exceeded: type 11, code unchanged (in transit, reassembly).
        t6::TIME_EXCEEDED if code <= c6::REASSEMBLY_TIME_EXCEEDED => err(t4::TIME_EXCEEDED, code),
        t6::PARAM_PROBLEM => match code {
            // Erroneous header field → Parameter Problem, pointer per Figure 6.
            c6::ERRONEOUS_HEADER_FIELD => {
                let ptr = u32::from_be_bytes(rest);
                match pointer_6to4(ptr) {
                    Some(p) => {
                        Map::Error { typ: t4::PARAM_PROBLEM, code: c4::POINTER_INDICATES_ERROR, rest: Rest::Pointer(p) }
                    }
                    None => Map::Drop,
                }
            }
            // Unrecognized Next Header → Protocol Unreachable.
            c6::UNRECOGNIZED_NEXT_HEADER => err(t4::DEST_UNREACHABLE, c4::PROTOCOL_UNREACHABLE),
            // Unrecognized IPv6 option and others: silently drop.
            _ => Map::Drop,
        },
        _ => Map::Drop,
    }
}

/// RFC 7915 Figure 3: IPv4 pointer → IPv6 pointer.
pub(crate) fn pointer_4to6(p: u8) -> Option<u8> {
    match p {
        0 => Some(0),
        1 => Some(1),
        2 | 3 => Some(4),
        8 => Some(7),
        9 => Some(6),
        12..=15 => Some(8),
        16..=19 => Some(24),
        // 4-7 (identification, flags, offset), 10-11 (checksum): n/a.
        _ => None,
    }
}

/// RFC 7915 Figure 6: IPv6 pointer → IPv4 pointer.
pub(crate) fn pointer_6to4(p: u32) -> Option<u8> {
    match p {
        0 => Some(0),
        1 => Some(1),
        4 | 5 => Some(2),
        6 => Some(9),
        7 => Some(8),
        8..=23 => Some(12),
        24..=39 => Some(16),
        // 2-3 (flow label): n/a.
        _ => None,
    }
}

/// RFC 1191 §7 plateau table.
pub(crate) const PLATEAUS: [u16; 11] = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

/// RFC 7915 §4.2: the MTU of an ICMPv6 Packet Too Big translated from Fragmentation
/// Needed: min(advertised + 20, IPv6 next-hop MTU, IPv4 next-hop MTU + 20), where a zero
/// advertised MTU (a router predating RFC 1191) is replaced by the greatest plateau below
/// the returned packet's Total Length. Never below the IPv6 minimum of 1280.
pub(crate) fn ptb_mtu_4to6(advertised: u16, inner_total_len: u16, ipv6_mtu: u16, ipv4_mtu: u16) -> u32 {
    let adv = if advertised == 0 {
        PLATEAUS.iter().copied().find(|&p| p < inner_total_len).unwrap_or(68)
    } else {
        advertised
    };
    let m = (u32::from(adv) + 20).min(u32::from(ipv6_mtu)).min(u32::from(ipv4_mtu) + 20);
    m.max(1280)
}

/// RFC 7915 §5.2: the MTU of a Fragmentation Needed translated from Packet Too Big:
/// min(advertised − 20, IPv4 next-hop MTU, IPv6 next-hop MTU − 20), capped to 16 bits.
pub(crate) fn ptb_mtu_6to4(advertised: u32, ipv4_mtu: u16, ipv6_mtu: u16) -> u16 {
    let m = advertised.saturating_sub(20).min(u32::from(ipv4_mtu)).min(u32::from(ipv6_mtu).saturating_sub(20));
    m.min(0xffff) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of RFC 7915 §4.2 (ICMPv4 → ICMPv6).
    #[test]
    fn table_4to6() {
        let z = [0; 4];
        assert_eq!(map_4to6(8, 0, z), Map::Echo(128));
        assert_eq!(map_4to6(0, 0, z), Map::Echo(129));
        for t in [13, 14, 15, 16, 17, 18, 4, 6, 42, 200] {
            assert_eq!(map_4to6(t, 0, z), Map::Drop, "type {t}");
        }
        for t in [9, 10, 5] {
            assert_eq!(map_4to6(t, 0, z), Map::SingleHop, "type {t}");
        }
        let unused = |typ, code| Map::Error { typ, code, rest: Rest::Unused };
        for c in [0, 1, 5, 6, 7, 8, 11, 12] {
            assert_eq!(map_4to6(3, c, z), unused(1, 0), "code {c}");
        }
        assert_eq!(map_4to6(3, 2, z), Map::Error { typ: 4, code: 1, rest: Rest::Pointer(6) });
        assert_eq!(map_4to6(3, 3, z), unused(1, 4));
        assert_eq!(map_4to6(3, 4, z), Map::Error { typ: 2, code: 0, rest: Rest::Mtu });
        for c in [9, 10, 13, 15] {
            assert_eq!(map_4to6(3, c, z), unused(1, 1), "code {c}");
        }
        assert_eq!(map_4to6(3, 14, z), Map::Drop);
        assert_eq!(map_4to6(3, 16, z), Map::Drop);
        assert_eq!(map_4to6(11, 0, z), unused(3, 0));
        assert_eq!(map_4to6(11, 1, z), unused(3, 1));
        assert_eq!(map_4to6(12, 0, [9, 0, 0, 0]), Map::Error { typ: 4, code: 0, rest: Rest::Pointer(6) });
        assert_eq!(map_4to6(12, 2, [16, 0, 0, 0]), Map::Error { typ: 4, code: 0, rest: Rest::Pointer(24) });
        assert_eq!(map_4to6(12, 1, z), Map::Drop);
        assert_eq!(map_4to6(12, 0, [4, 0, 0, 0]), Map::Drop);
        assert_eq!(map_4to6(12, 3, z), Map::Drop);
    }

    /// Every row of RFC 7915 §5.2 (ICMPv6 → ICMPv4).
    #[test]
    fn table_6to4() {
        let z = [0; 4];
        assert_eq!(map_6to4(128, 0, z), Map::Echo(8));
        assert_eq!(map_6to4(129, 0, z), Map::Echo(0));
        for t in [130, 131, 132, 133, 134, 135, 136, 137, 143] {
            assert_eq!(map_6to4(t, 0, z), Map::SingleHop, "type {t}");
        }
        for t in [138, 139, 200, 5, 100] {
            assert_eq!(map_6to4(t, 0, z), Map::Drop, "type {t}");
        }
        let unused = |typ, code| Map::Error { typ, code, rest: Rest::Unused };
        assert_eq!(map_6to4(1, 0, z), unused(3, 1));
        assert_eq!(map_6to4(1, 1, z), unused(3, 10));
        assert_eq!(map_6to4(1, 2, z), unused(3, 1));
        assert_eq!(map_6to4(1, 3, z), unused(3, 1));
        assert_eq!(map_6to4(1, 4, z), unused(3, 3));
        assert_eq!(map_6to4(1, 5, z), Map::Drop);
        assert_eq!(map_6to4(2, 0, z), Map::Error { typ: 3, code: 4, rest: Rest::Mtu });
        assert_eq!(map_6to4(3, 0, z), unused(11, 0));
        assert_eq!(map_6to4(3, 1, z), unused(11, 1));
        assert_eq!(map_6to4(4, 0, [0, 0, 0, 7]), Map::Error { typ: 12, code: 0, rest: Rest::Pointer(8) });
        assert_eq!(map_6to4(4, 0, [0, 0, 0, 2]), Map::Drop);
        assert_eq!(map_6to4(4, 0, [0, 0, 1, 0]), Map::Drop);
        assert_eq!(map_6to4(4, 1, z), unused(3, 2));
        assert_eq!(map_6to4(4, 2, z), Map::Drop);
    }

    /// RFC 7915 Figures 3 and 6, every row.
    #[test]
    fn pointers() {
        let f3 = [
            (0, Some(0)),
            (1, Some(1)),
            (2, Some(4)),
            (3, Some(4)),
            (4, None),
            (5, None),
            (6, None),
            (7, None),
            (8, Some(7)),
            (9, Some(6)),
            (10, None),
            (11, None),
            (12, Some(8)),
            (15, Some(8)),
            (16, Some(24)),
            (19, Some(24)),
            (20, None),
        ];
        for (i, o) in f3 {
            assert_eq!(pointer_4to6(i), o, "v4 pointer {i}");
        }
        let f6 = [
            (0, Some(0)),
            (1, Some(1)),
            (2, None),
            (3, None),
            (4, Some(2)),
            (5, Some(2)),
            (6, Some(9)),
            (7, Some(8)),
            (8, Some(12)),
            (23, Some(12)),
            (24, Some(16)),
            (39, Some(16)),
            (40, None),
        ];
        for (i, o) in f6 {
            assert_eq!(pointer_6to4(i), o, "v6 pointer {i}");
        }
    }

    #[test]
    fn mtu_arithmetic() {
        // Advertised 1400 on a 1500/1500 translator: 1420.
        assert_eq!(ptb_mtu_4to6(1400, 1500, 1500, 1500), 1420);
        // Limited by the IPv6 next hop.
        assert_eq!(ptb_mtu_4to6(1480, 1500, 1450, 1500), 1450);
        // Zero MTU (pre-RFC 1191 router): plateau below Total Length 1500 is 1492 → 1512,
        // capped by the IPv6 MTU 1500.
        assert_eq!(ptb_mtu_4to6(0, 1500, 1500, 1500), 1500);
        assert_eq!(ptb_mtu_4to6(0, 4000, 9000, 9000), 2022);
        // Never below 1280.
        assert_eq!(ptb_mtu_4to6(576, 1500, 1500, 1500), 1280);
        assert_eq!(ptb_mtu_6to4(1400, 1500, 1500), 1380);
        assert_eq!(ptb_mtu_6to4(1500, 1300, 1500), 1300);
        assert_eq!(ptb_mtu_6to4(1500, 1500, 1400), 1380);
        assert_eq!(ptb_mtu_6to4(10, 1500, 1500), 0);
    }
}
