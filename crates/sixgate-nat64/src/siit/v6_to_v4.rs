//! IPv6 → IPv4, the general path (RFC 7915 §5): the extension header walk, header and
//! transport translation, and echo requests to the translator's own IPv6 address.
use std::time::Instant;

use sixgate_core::buf::PacketBuf;
use sixgate_core::checksum::{self, add, finish, pseudo_v6, sum, sum_v4, sum_v6};
use sixgate_core::engine::Side;
use sixgate_core::router::forward_hop;
use sixgate_core::wire::{be16, be32, put16, v6at};

use crate::icmp::{self, Map};
use crate::reason::DropReason;

use DropReason as R;

use super::{write_ipv4_header, write_ipv6_header, Out, Siit};

/// RFC 2675 §2: whether the Hop-by-Hop Options header right after the IPv6 header `p`
/// carries a Jumbo Payload option (type 0xC2). Reads only the bytes present.
pub(super) fn has_jumbo_payload_option(p: &[u8]) -> bool {
    let Some(&hlen) = p.get(41) else { return false };
    let end = (40 + (usize::from(hlen) + 1) * 8).min(p.len());
    let mut i = 42;
    while i < end {
        match p[i] {
            // Pad1 has no length octet (RFC 8200 §4.2).
            0 => i += 1,
            0xc2 => return true,
            _ => {
                let Some(&len) = p.get(i + 1) else { return false };
                i += 2 + usize::from(len);
            }
        }
    }
    false
}

/// Whether an IPv6 Next Header value names an extension header: the IANA "IPv6
/// Extension Header Types" registry (RFC 8200 §4, RFC 7045): Hop-by-Hop (0), Routing
/// (43), Fragment (44), ESP (50), AH (51), Destination Options (60), Mobility (135), HIP
/// (139), Shim6 (140) and the experimental 253 and 254 (RFC 3692, RFC 4727).
pub(crate) fn is_extension_header(nh: u8) -> bool {
    matches!(nh, 0 | 43 | 44 | 50 | 51 | 60 | 135 | 139 | 140 | 253 | 254)
}

/// RFC 7915 §5.1.1: "If the Next Header field of the Fragment Header is an extension
/// header (except ESP, but including the Authentication Header (AH)), then the packet
/// SHOULD be dropped and logged." Whether `nh`, found after a Fragment Header, is one.
pub(crate) fn refused_after_fragment(nh: u8) -> bool {
    nh != 50 && is_extension_header(nh)
}

/// The upper-layer protocol of the IPv6 packet `p`, its offset, and whether a Fragment
/// Header with a non-zero offset came before it (the upper-layer header is then in another
/// fragment), found by walking every extension header that has the RFC 8200 §4 / RFC 6564
/// length format (and AH, RFC 4302 §2.2, in 4-octet units). ESP, whose contents cannot be
/// read, ends the walk like an upper layer. `None` when the chain runs past the packet.
pub(super) fn upper_layer6(p: &[u8]) -> Option<(u8, usize, bool)> {
    let mut nh = *p.get(6)?;
    let mut off = 40;
    let mut later_fragment = false;
    while nh != 50 && is_extension_header(nh) {
        if off + 8 > p.len() {
            return None;
        }
        let len = match nh {
            44 => {
                later_fragment |= be16(p, off + 2) & 0xfff8 != 0;
                8
            }
            51 => (usize::from(p[off + 1]) + 2) * 4,
            _ => (usize::from(p[off + 1]) + 1) * 8,
        };
        nh = p[off];
        off += len;
    }
    (off <= p.len()).then_some((nh, off, later_fragment))
}

impl Siit {
    pub(super) fn xlate_v6(&mut self, buf: &mut PacketBuf, now: Instant) -> Out {
        let p = buf.as_slice();
        if p.len() < 40 {
            return Out::Drop(R::Malformed);
        }
        let plen = usize::from(be16(p, 4));
        // RFC 2675 §3: a zero Payload Length is a jumbogram only with a Hop-by-Hop Jumbo
        // Payload option; IPv4 cannot carry one. Without that option it is an empty payload
        // (RFC 8200 §3), translated like any other (Next Header 59 → Protocol 59).
        if plen == 0 && p[6] == 0 && has_jumbo_payload_option(p) {
            return Out::Drop(R::Jumbogram);
        }
        if 40 + plen > p.len() {
            return Out::Drop(R::Malformed);
        }
        buf.truncate(40 + plen);
        let p = buf.as_slice();
        let len = p.len();
        let tc = ((be16(p, 0) >> 4) & 0xff) as u8;
        let hop = p[7];
        let src6 = v6at(p, 8);
        let dst6 = v6at(p, 24);

        // Walk the extension headers (RFC 7915 §5.1).
        let mut nh = p[6];
        let mut off = 40;
        let mut frag: Option<(usize, bool, u32)> = None;
        loop {
            match nh {
                n if frag.is_some() && refused_after_fragment(n) => {
                    // RFC 7915 §5.1.1: an extension header other than ESP (AH included)
                    // after the Fragment Header: the packet SHOULD be dropped and logged.
                    // (Such headers are in the Fragmentable Part, RFC 8200 §4.5, and
                    // cannot be removed from one fragment only.) RFC 7915 §5.4: a
                    // discarded packet is answered, unless it is itself an ICMPv6 message,
                    // with Type 1 (Destination Unreachable), Code 1 ("administratively
                    // prohibited"), unused field zero.
                    return self.icmp6_error(buf, now, 1, 1, [0; 4], R::ExtensionAfterFragment);
                }
                0 | 60 | 43 => {
                    if off + 8 > len {
                        return Out::Drop(R::Malformed);
                    }
                    // RFC 7915 §5.1: a routing header with Segments Left ≠ 0 is refused with
                    // Parameter Problem pointing at Segments Left.
                    if nh == 43 && p[off + 3] != 0 {
                        return self.icmp6_error(buf, now, 4, 0, ((off + 3) as u32).to_be_bytes(), R::RoutingHeader);
                    }
                    nh = p[off];
                    off += (usize::from(p[off + 1]) + 1) * 8;
                }
                44 => {
                    if off + 8 > len {
                        return Out::Drop(R::Malformed);
                    }
                    let fo = be16(p, off + 2);
                    frag = Some((usize::from(fo & 0xfff8), fo & 1 == 1, be32(p, off + 4)));
                    nh = p[off];
                    off += 8;
                }
                _ => break,
            }
            if off > len {
                return Out::Drop(R::Malformed);
            }
        }
        if dst6 == self.cfg.own_ipv6 {
            return self.local_v6(buf, off, nh, frag.is_some());
        }
        if sixgate_core::class::is_link_scoped_v6(src6, dst6) {
            return Out::Drop(R::LinkLocal);
        }
        if dst6.is_multicast() {
            return Out::Drop(R::ForbiddenAddress);
        }
        // RFC 7915 §5.1 TTL: the translator is a router; hop limit reaching zero → Time
        // Exceeded.
        let Some(ttl4) = forward_hop(hop) else {
            return self.icmp6_error(buf, now, 3, 0, [0; 4], R::HopLimitExceeded);
        };
        let frag_off = frag.map_or(0, |f| f.0);
        let is_frag = frag.is_some_and(|f| f.0 != 0 || f.1);
        let ulen = len - off;
        // RFC 8200 §4.5: a fragment may not reach past 65,535 bytes (its offsets would wrap).
        if frag_off + ulen > 0xffff {
            return Out::Drop(R::Malformed);
        }
        if nh == 58 && is_frag {
            return Out::Drop(R::FragmentedIcmp);
        }
        if nh == 58 && ulen >= 8 && icmp::is_icmp6_error(p[off]) {
            return self.err64(buf, now, off, frag.map(|f| f.2));
        }
        let src4 = match self.map64(src6, R::UntranslatableSource) {
            Ok(a) => a,
            Err(r) => return Out::Drop(r),
        };
        let dst4 = match self.map64(dst6, R::UntranslatableDestination) {
            Ok(a) => a,
            Err(r) => return Out::Drop(r),
        };
        // RFC 7757 §4: a destination that is itself EAM-mapped goes straight back to IPv6.
        let hairpin = self.cfg.eamt.covers_v4(dst4);
        let proto = if nh == 58 { 1 } else { nh };

        let total = 20 + ulen;
        // RFC 7915 §5.1: with a fragment header, its fields are copied and DF is clear;
        // without, DF is set only above 1260 bytes (so PMTUD works, and nothing ever needs
        // an atomic fragment, RFC 8021).
        let df = frag.is_none() && total > 1260;
        let ipv4_mtu = usize::from(self.cfg.ipv4_mtu);
        // Decided before anything is rewritten: the Packet Too Big sent instead quotes the
        // packet as it arrived (RFC 7915 §5.4, RFC 4443 §3.2).
        let too_big = df && !hairpin && total > ipv4_mtu;

        // Transport headers, checked in any case and rewritten only when the packet is
        // forwarded.
        if frag_off == 0 {
            match nh {
                58 => {
                    if is_frag {
                        return Out::Drop(R::FragmentedIcmp);
                    }
                    if ulen < 8 {
                        return Out::Drop(R::Malformed);
                    }
                    let rest = [p[off + 4], p[off + 5], p[off + 6], p[off + 7]];
                    match icmp::map_6to4(p[off], p[off + 1], rest) {
                        Map::Echo(_) if too_big => {}
                        Map::Echo(t4) => {
                            // RFC 7915 §5.2: new type; the pseudo-header leaves the checksum.
                            let l4 = &mut buf.as_mut_slice()[off..];
                            let old = add(u32::from(be16(l4, 0)), pseudo_v6(src6, dst6, 58, ulen as u32));
                            let new = u32::from(u16::from_be_bytes([t4, l4[1]]));
                            let c = checksum::update(be16(l4, 2), old, new);
                            l4[0] = t4;
                            put16(l4, 2, c);
                        }
                        Map::SingleHop => return Out::Drop(R::SingleHop),
                        Map::Drop | Map::Error { .. } => return Out::Drop(R::UntranslatableIcmp),
                    }
                }
                6 | 17 => {
                    let (min, at) = if nh == 6 { (20, 16) } else { (8, 6) };
                    if ulen < min {
                        return Out::Drop(R::Malformed);
                    }
                    let hc = be16(p, off + at);
                    // RFC 8200 §8.1: an IPv6 UDP checksum of zero is invalid.
                    if nh == 17 && !checksum::udp_has_checksum(hc) {
                        return Out::Drop(R::Udp6ZeroChecksum);
                    }
                    if !too_big {
                        let old = add(sum_v6(src6), sum_v6(dst6));
                        let new = add(sum_v4(src4), sum_v4(dst4));
                        let c =
                            if nh == 6 { checksum::update(hc, old, new) } else { checksum::update_udp(hc, old, new) };
                        put16(buf.as_mut_slice(), off + at, c);
                    }
                }
                _ => {}
            }
        }

        if total > 0xffff {
            return Out::Drop(R::Malformed);
        }
        let (id, mf) = match frag {
            Some((_, m, id)) => (id as u16, m),
            None => (self.ident(), false),
        };
        if too_big {
            // Packet Too Big with the MTU in IPv6 terms, never below 1280.
            let mtu = (ipv4_mtu as u32 + 20).min(u32::from(self.cfg.ipv6_mtu)).max(1280);
            return self.icmp6_error(buf, now, 2, 0, mtu.to_be_bytes(), R::TooBig);
        }
        // DF-clear packets are fragmented to fit the IPv4 MTU (RFC 7915 §1.4, §5.1).
        let split = !hairpin && total > ipv4_mtu;
        let tos = self.cfg.tos.apply(tc);
        let flags = (u16::from(df) << 14) | (u16::from(mf) << 13) | (frag_off / 8) as u16;
        let Ok(h) = buf.replace_front(off, 20) else { return Out::Drop(R::NoRoom) };
        write_ipv4_header(h, tos, total as u16, id, flags, ttl4, proto, src4, dst4);
        if hairpin {
            return self.xlate_v4(buf, now, true);
        }
        if split {
            self.split_v4(buf, ipv4_mtu);
        }
        Out::Fwd(Side::V4)
    }

    /// Echo requests to the translator's own IPv6 address are answered.
    pub(super) fn local_v6(&mut self, buf: &mut PacketBuf, off: usize, nh: u8, fragmented: bool) -> Out {
        let p = buf.as_slice();
        if !self.cfg.answer_pings || nh != 58 || fragmented || p.len() < off + 8 || p[off] != 128 {
            return Out::Drop(R::ToTranslator);
        }
        let src = v6at(p, 8);
        let ulen = p.len() - off;
        if finish(add(pseudo_v6(src, self.cfg.own_ipv6, 58, ulen as u32), sum(&p[off..]))) != 0 {
            return Out::Drop(R::IcmpChecksum);
        }
        let own = self.cfg.own_ipv6;
        let Ok(h) = buf.replace_front(off, 40) else { return Out::Drop(R::NoRoom) };
        write_ipv6_header(h, 0, ulen as u16, 58, 64, own, src);
        let l4 = &mut buf.as_mut_slice()[40..];
        let c = checksum::update(be16(l4, 2), 0x8000, 0x8100);
        l4[0] = 129;
        put16(l4, 2, c);
        Out::Reply(Side::V6, None)
    }
}
