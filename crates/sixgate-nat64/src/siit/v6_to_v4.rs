//! IPv6 → IPv4, the general path (RFC 7915 §5): the extension header walk, header and
//! transport translation, and echo requests to the translator's own IPv6 address.
use std::time::Instant;

use sixgate_core::buf::PacketBuf;
use sixgate_core::checksum::{self, add, pseudo_v6, sum_v4, sum_v6};
use sixgate_core::engine::Side;
use sixgate_core::router::forward_hop;
use sixgate_core::wire::icmpv6::{self, code as code6};
use sixgate_core::wire::ipv4::{self, DF, MF};
use sixgate_core::wire::ipv6::{self, ext, option};
use sixgate_core::wire::{
    be16, proto, put16, transport_checksum, FragmentHeader, Icmpv6Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr,
};

use crate::icmp::{self, Map};
use crate::reason::SiitDrop;

use SiitDrop as R;

use super::{Out, Siit, OWN_TTL};

/// RFC 2675 §2: whether the Hop-by-Hop Options header right after the IPv6 header `p`
/// carries a Jumbo Payload option (type 0xC2). Reads only the bytes present.
pub(super) fn has_jumbo_payload_option(p: &[u8]) -> bool {
    let Some(&hlen) = p.get(ipv6::HEADER_LEN + ext::LENGTH) else { return false };
    let end = (ipv6::HEADER_LEN + ext::header_len(proto::HOP_BY_HOP, hlen)).min(p.len());
    let mut i = ipv6::HEADER_LEN + 2;
    while i < end {
        match p[i] {
            // Pad1 has no length octet (RFC 8200 §4.2).
            option::PAD1 => i += 1,
            option::JUMBO_PAYLOAD => return true,
            _ => {
                let Some(&len) = p.get(i + 1) else { return false };
                i += 2 + usize::from(len);
            }
        }
    }
    false
}

/// RFC 7915 §5.1.1: "If the Next Header field of the Fragment Header is an extension
/// header (except ESP, but including the Authentication Header (AH)), then the packet
/// SHOULD be dropped and logged." Whether `nh`, found after a Fragment Header, is one.
pub(crate) fn refused_after_fragment(nh: u8) -> bool {
    nh != proto::ESP && proto::is_ipv6_extension(nh)
}

/// The upper-layer protocol of the IPv6 packet `p`, its offset, and whether a Fragment
/// Header with a non-zero offset came before it (the upper-layer header is then in another
/// fragment), found by walking every extension header that has the RFC 8200 §4 / RFC 6564
/// length format (and AH, RFC 4302 §2.2, in 4-octet units). ESP, whose contents cannot be
/// read, ends the walk like an upper layer. `None` when the chain runs past the packet.
pub(super) fn upper_layer6(p: &[u8]) -> Option<(u8, usize, bool)> {
    if p.len() < ipv6::HEADER_LEN {
        return None;
    }
    let mut nh = Ipv6Packet::new_unchecked(p).next_header();
    let mut off = ipv6::HEADER_LEN;
    let mut later_fragment = false;
    while nh != proto::ESP && proto::is_ipv6_extension(nh) {
        if off + ext::MIN_LEN > p.len() {
            return None;
        }
        if nh == proto::FRAGMENT {
            later_fragment |= FragmentHeader::new_unchecked(&p[off..]).frag_offset() != 0;
        }
        let len = ext::header_len(nh, p[off + ext::LENGTH]);
        nh = p[off + ext::NEXT_HEADER];
        off += len;
    }
    (off <= p.len()).then_some((nh, off, later_fragment))
}

impl Siit {
    pub(super) fn xlate_v6(&mut self, buf: &mut PacketBuf, now: Instant) -> Out {
        // Shorter than the header, or a Payload Length past the buffer: malformed.
        let Ok(ip) = Ipv6Packet::new_checked(buf.as_slice()) else { return Out::Drop(R::Malformed) };
        let plen = usize::from(ip.payload_len());
        // RFC 2675 §3: a zero Payload Length is a jumbogram only with a Hop-by-Hop Jumbo
        // Payload option; IPv4 cannot carry one. Without that option it is an empty payload
        // (RFC 8200 §3), translated like any other (Next Header 59 → Protocol 59).
        if plen == 0 && ip.next_header() == proto::HOP_BY_HOP && has_jumbo_payload_option(buf.as_slice()) {
            return Out::Drop(R::Jumbogram);
        }
        buf.truncate(ipv6::HEADER_LEN + plen);
        // Still a checked view: the buffer now ends at the Payload Length.
        let ip = Ipv6Packet::new_unchecked(buf.as_slice());
        let len = buf.len();
        let tc = ip.traffic_class();
        let hop = ip.hop_limit();
        let src6 = ip.src_addr();
        let dst6 = ip.dst_addr();
        let p = ip.into_inner();

        // Walk the extension headers (RFC 7915 §5.1).
        let mut nh = Ipv6Packet::new_unchecked(p).next_header();
        let mut off = ipv6::HEADER_LEN;
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
                    return self.icmp6_error(
                        buf,
                        now,
                        icmpv6::DEST_UNREACHABLE,
                        code6::ADMIN_PROHIBITED,
                        [0; 4],
                        R::ExtensionAfterFragment,
                    );
                }
                proto::HOP_BY_HOP | proto::DST_OPTS | proto::ROUTING => {
                    if off + ext::MIN_LEN > len {
                        return Out::Drop(R::Malformed);
                    }
                    // RFC 7915 §5.1: a routing header with Segments Left ≠ 0 is refused with
                    // Parameter Problem pointing at Segments Left.
                    if nh == proto::ROUTING && p[off + ext::SEGMENTS_LEFT] != 0 {
                        let ptr = ((off + ext::SEGMENTS_LEFT) as u32).to_be_bytes();
                        return self.icmp6_error(
                            buf,
                            now,
                            icmpv6::PARAM_PROBLEM,
                            code6::ERRONEOUS_HEADER_FIELD,
                            ptr,
                            R::RoutingHeader,
                        );
                    }
                    let len = ext::header_len(nh, p[off + ext::LENGTH]);
                    nh = p[off + ext::NEXT_HEADER];
                    off += len;
                }
                proto::FRAGMENT => {
                    let Ok(f) = FragmentHeader::new_checked(&p[off..]) else { return Out::Drop(R::Malformed) };
                    frag = Some((f.frag_offset(), f.more_frags(), f.ident()));
                    nh = f.next_header();
                    off += ext::header_len(proto::FRAGMENT, 0);
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
            return self.icmp6_error(
                buf,
                now,
                icmpv6::TIME_EXCEEDED,
                code6::HOP_LIMIT_EXCEEDED,
                [0; 4],
                R::HopLimitExceeded,
            );
        };
        let frag_off = frag.map_or(0, |f| f.0);
        let is_frag = frag.is_some_and(|f| f.0 != 0 || f.1);
        let l4 = &p[off..];
        let ulen = l4.len();
        // RFC 8200 §4.5: a fragment may not reach past 65,535 bytes (its offsets would wrap).
        if frag_off + ulen > 0xffff {
            return Out::Drop(R::Malformed);
        }
        if nh == proto::ICMPV6 && is_frag {
            return Out::Drop(R::FragmentedIcmp);
        }
        // The ICMPv6 header, when the payload holds one.
        let msg = Icmpv6Packet::new_checked(l4).ok();
        if nh == proto::ICMPV6 && msg.is_some_and(|m| icmpv6::is_error(m.msg_type())) {
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
        let protocol = if nh == proto::ICMPV6 { proto::ICMP } else { nh };

        let total = ipv4::HEADER_LEN + ulen;
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
            if nh == proto::ICMPV6 {
                if is_frag {
                    return Out::Drop(R::FragmentedIcmp);
                }
                let Some(m) = msg else { return Out::Drop(R::Malformed) };
                match icmp::map_6to4(m.msg_type(), m.msg_code(), m.rest()) {
                    Map::Echo(_) if too_big => {}
                    Map::Echo(t4) => {
                        // RFC 7915 §5.2: new type; the pseudo-header leaves the checksum.
                        let Some(l4) = buf.as_mut_slice().get_mut(off..) else { return Out::Drop(R::Malformed) };
                        let mut m = Icmpv6Packet::new_unchecked(l4);
                        let old = add(u32::from(m.type_code_word()), pseudo_v6(src6, dst6, proto::ICMPV6, ulen as u32));
                        let new = u32::from(u16::from_be_bytes([t4, m.msg_code()]));
                        let c = checksum::update(m.checksum(), old, new);
                        m.set_msg_type(t4);
                        m.set_checksum(c);
                    }
                    Map::SingleHop => return Out::Drop(R::SingleHop),
                    Map::Drop | Map::Error { .. } => return Out::Drop(R::UntranslatableIcmp),
                }
            } else if let Some((min, at)) = transport_checksum(nh) {
                let udp = nh == proto::UDP;
                if ulen < min {
                    return Out::Drop(R::Malformed);
                }
                let hc = be16(l4, at);
                // RFC 8200 §8.1: an IPv6 UDP checksum of zero is invalid.
                if udp && !checksum::udp_has_checksum(hc) {
                    return Out::Drop(R::Udp6ZeroChecksum);
                }
                if !too_big {
                    let old = add(sum_v6(src6), sum_v6(dst6));
                    let new = add(sum_v4(src4), sum_v4(dst4));
                    let c = if udp { checksum::update_udp(hc, old, new) } else { checksum::update(hc, old, new) };
                    put16(buf.as_mut_slice(), off + at, c);
                }
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
            return self.icmp6_error(
                buf,
                now,
                icmpv6::PACKET_TOO_BIG,
                code6::PACKET_TOO_BIG,
                mtu.to_be_bytes(),
                R::TooBig,
            );
        }
        // DF-clear packets are fragmented to fit the IPv4 MTU (RFC 7915 §1.4, §5.1).
        let split = !hairpin && total > ipv4_mtu;
        let tos = self.cfg.tos.apply(tc);
        let flags = (if df { DF } else { 0 }) | (if mf { MF } else { 0 }) | (frag_off / 8) as u16;
        let Ok(h) = buf.replace_front(off, ipv4::HEADER_LEN) else { return Out::Drop(R::NoRoom) };
        let Some(h) = h.first_chunk_mut() else { return Out::Drop(R::NoRoom) };
        Ipv4Repr {
            tos,
            total_len: total as u16,
            ident: id,
            frag_field: flags,
            ttl: ttl4,
            protocol,
            src_addr: src4,
            dst_addr: dst4,
        }
        .emit(h);
        if hairpin {
            return self.xlate_v4(buf, now, true);
        }
        if split {
            self.split_v4(buf, ipv4_mtu);
        }
        Out::Fwd(Side::V4)
    }

    /// Echo requests to the translator's own IPv6 address are answered. `buf` holds a
    /// packet [`Siit::xlate_v6`] has checked and cut to its Payload Length, whose upper
    /// layer `nh` starts at `off`.
    pub(super) fn local_v6(&mut self, buf: &mut PacketBuf, off: usize, nh: u8, fragmented: bool) -> Out {
        let p = buf.as_slice();
        let l4 = p.get(off..).unwrap_or(&[]);
        let echo = Icmpv6Packet::new_checked(l4).is_ok_and(|m| m.msg_type() == icmpv6::ECHO_REQUEST);
        if !self.cfg.answer_pings || nh != proto::ICMPV6 || fragmented || !echo {
            return Out::Drop(R::ToTranslator);
        }
        let src = Ipv6Packet::new_unchecked(p).src_addr();
        let ulen = l4.len();
        if !Icmpv6Packet::new_unchecked(l4).verify_checksum(src, self.cfg.own_ipv6) {
            return Out::Drop(R::IcmpChecksum);
        }
        let own = self.cfg.own_ipv6;
        let Ok(h) = buf.replace_front(off, ipv6::HEADER_LEN) else { return Out::Drop(R::NoRoom) };
        let Some(h) = h.first_chunk_mut() else { return Out::Drop(R::NoRoom) };
        Ipv6Repr {
            traffic_class: 0,
            payload_len: ulen as u16,
            next_header: proto::ICMPV6,
            hop_limit: OWN_TTL,
            src_addr: own,
            dst_addr: src,
        }
        .emit(h);
        let Some(l4) = buf.as_mut_slice().get_mut(ipv6::HEADER_LEN..) else { return Out::Drop(R::NoRoom) };
        let mut m = Icmpv6Packet::new_unchecked(l4);
        let (request, reply) = ([icmpv6::ECHO_REQUEST, 0], [icmpv6::ECHO_REPLY, 0]);
        let c = checksum::update(m.checksum(), u16::from_be_bytes(request).into(), u16::from_be_bytes(reply).into());
        m.set_msg_type(icmpv6::ECHO_REPLY);
        m.set_checksum(c);
        Out::Reply(Side::V6, None)
    }
}
