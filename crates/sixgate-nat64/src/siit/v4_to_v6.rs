//! IPv4 → IPv6, the general path (RFC 7915 §4): header and transport translation, and
//! echo requests to the translator's own IPv4 address.
use std::time::Instant;

use sixgate_core::buf::PacketBuf;
use sixgate_core::checksum::{self, add, finish, pseudo_v6, sum, sum_v4, sum_v6};
use sixgate_core::class::is_forbidden_v4;
use sixgate_core::engine::Side;
use sixgate_core::router::{accept_ipv4, forward_hop, Ipv4Refusal};
use sixgate_core::wire::icmpv4::{self, code as code4};
use sixgate_core::wire::ipv4::{self, option};
use sixgate_core::wire::{
    be16, fragment, ipv6, proto, put16, transport_checksum, FragmentRepr, Icmpv4Packet, Ipv4Packet, Ipv4Repr, Ipv6Repr,
};

use crate::icmp::{self, Map};
use crate::reason::SiitDrop;

use SiitDrop as R;

use super::{Out, Siit, OWN_TTL};

/// RFC 7915 §4.1: an unexpired Loose or Strict Source Route option (pointer ≤ length).
pub(super) fn has_unexpired_source_route(opts: &[u8]) -> bool {
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            option::END => return false,
            option::NOP => i += 1,
            t => {
                let Some(&len) = opts.get(i + 1) else { return false };
                if len < 2 {
                    return false;
                }
                if t == option::LSRR || t == option::SSRR {
                    return opts.get(i + 2).is_some_and(|&ptr| ptr <= len);
                }
                i += usize::from(len);
            }
        }
    }
    false
}

impl Siit {
    pub(super) fn xlate_v4(&mut self, buf: &mut PacketBuf, now: Instant, hairpin: bool) -> Out {
        let ihl = match accept_ipv4(buf) {
            Ok(ihl) => ihl,
            Err(Ipv4Refusal::Malformed) => return Out::Drop(R::Malformed),
            Err(Ipv4Refusal::HeaderChecksum) => return Out::Drop(R::Ipv4HeaderChecksum),
        };
        // Still a checked view: the buffer now ends at Total Length.
        let ip = Ipv4Packet::new_unchecked(buf.as_slice());
        let tos = ip.tos();
        let id = ip.ident();
        let df = ip.dont_frag();
        let mf = ip.more_frags();
        let frag_off = ip.frag_offset();
        let ttl = ip.ttl();
        let protocol = ip.protocol();
        let src = ip.src_addr();
        let dst = ip.dst_addr();
        let is_frag = mf || frag_off != 0;
        let l4 = ip.payload();
        let plen = l4.len();
        // RFC 791: a fragment may not reach past 65,535 bytes (its offsets would wrap).
        if frag_off + plen > 0xffff {
            return Out::Drop(R::Malformed);
        }

        if !hairpin && dst == self.cfg.own_ipv4 {
            return self.local_v4(buf, now);
        }
        // RFC 7915 §4.1: an illegal destination (multicast, broadcast, 0/8, 127/8, ...) is
        // silently dropped, before any error could be sent about it.
        if is_forbidden_v4(dst) {
            return Out::Drop(R::ForbiddenAddress);
        }
        // No fragment of an ICMP message can be translated without reassembly: its
        // checksum needs the whole message's length (ICMPv6 pseudo-header).
        if protocol == proto::ICMP && is_frag {
            return Out::Drop(R::FragmentedIcmp);
        }
        // RFC 7915 §4.1 Hop Limit: the translator is a router; TTL reaching zero → Time
        // Exceeded. A hairpinned packet was decremented on its way in from IPv6.
        let hop = match (hairpin, forward_hop(ttl)) {
            (true, _) => ttl,
            (false, Some(h)) => h,
            (false, None) => {
                return self.icmp4_error(
                    buf,
                    now,
                    icmpv4::TIME_EXCEEDED,
                    code4::TTL_EXCEEDED_IN_TRANSIT,
                    [0; 4],
                    R::TtlExceeded,
                )
            }
        };
        // RFC 7915 §4.1: options are ignored, but an unexpired source route is refused.
        if !hairpin && has_unexpired_source_route(ip.options()) {
            return self.icmp4_error(
                buf,
                now,
                icmpv4::DEST_UNREACHABLE,
                code4::SOURCE_ROUTE_FAILED,
                [0; 4],
                R::SourceRoute,
            );
        }
        // RFC 7915 §4.2: IGMP is single-hop.
        if protocol == proto::IGMP {
            return Out::Drop(R::SingleHop);
        }
        // The ICMP header, when the payload holds one.
        let msg = Icmpv4Packet::new_checked(l4).ok();
        if protocol == proto::ICMP && frag_off == 0 && msg.is_some_and(|m| icmpv4::is_error(m.msg_type())) {
            if is_frag {
                return Out::Drop(R::FragmentedIcmp);
            }
            return self.err46(buf, now, ihl, hairpin);
        }
        // RFC 7757 §4: a hairpinned packet's source is built with pool6, not the EAMT.
        let src6 = match if hairpin {
            self.map46_hairpin(src, R::UntranslatableSource)
        } else {
            self.map46_plain(src, R::UntranslatableSource)
        } {
            Ok(a) => a,
            Err(r) => return Out::Drop(r),
        };
        let dst6 = match self.map46(dst, R::UntranslatableDestination) {
            Ok(a) => a,
            Err(r) => return Out::Drop(r),
        };
        let nh = if protocol == proto::ICMP { proto::ICMPV6 } else { protocol };

        let frag_hdr = is_frag;
        let hdr_len = ipv6::HEADER_LEN + if frag_hdr { fragment::HEADER_LEN } else { 0 };
        let out_len = hdr_len + plen;
        let ipv6_mtu = usize::from(self.cfg.ipv6_mtu);
        // Decided before anything is rewritten: the Fragmentation Needed sent instead
        // quotes the packet as it arrived (RFC 7915 §4.4, RFC 1812 §4.3.2.3).
        let too_big = df && out_len > ipv6_mtu;

        // Transport headers (only the first fragment has them), checked in any case and
        // rewritten only when the packet is forwarded.
        if frag_off == 0 {
            if protocol == proto::ICMP {
                if is_frag {
                    // The ICMPv6 checksum covers a pseudo-header with the whole
                    // message's length, unknown without reassembly.
                    return Out::Drop(R::FragmentedIcmp);
                }
                let Some(m) = msg else { return Out::Drop(R::Malformed) };
                match icmp::map_4to6(m.msg_type(), m.msg_code(), m.rest()) {
                    Map::Echo(_) if too_big => {}
                    Map::Echo(t6) => {
                        // RFC 7915 §4.2: new type; the checksum gains the ICMPv6
                        // pseudo-header (RFC 1624 incremental update).
                        let Some(l4) = buf.as_mut_slice().get_mut(ihl..) else { return Out::Drop(R::Malformed) };
                        let mut m = Icmpv4Packet::new_unchecked(l4);
                        let old = u32::from(m.type_code_word());
                        let new = add(
                            u32::from(u16::from_be_bytes([t6, m.msg_code()])),
                            pseudo_v6(src6, dst6, proto::ICMPV6, plen as u32),
                        );
                        let c = checksum::update(m.checksum(), old, new);
                        m.set_msg_type(t6);
                        m.set_checksum(c);
                    }
                    Map::SingleHop => return Out::Drop(R::SingleHop),
                    Map::Drop | Map::Error { .. } => return Out::Drop(R::UntranslatableIcmp),
                }
            } else if let Some((min, at)) = transport_checksum(protocol) {
                let udp = protocol == proto::UDP;
                if plen < min {
                    return Out::Drop(R::Malformed);
                }
                let hc = be16(l4, at);
                // RFC 7915 §4.5: zero UDP checksum. Computed for unfragmented packets
                // when allowed; otherwise refused.
                if udp && !checksum::udp_has_checksum(hc) && (is_frag || !self.cfg.amend_udp_checksum_zero) {
                    return self.icmp4_error(
                        buf,
                        now,
                        icmpv4::DEST_UNREACHABLE,
                        code4::COMMUNICATION_PROHIBITED,
                        [0; 4],
                        R::UdpZeroChecksum,
                    );
                }
                if !too_big {
                    let old = add(sum_v4(src), sum_v4(dst));
                    let new = add(sum_v6(src6), sum_v6(dst6));
                    let Some(l4) = buf.as_mut_slice().get_mut(ihl..) else { return Out::Drop(R::Malformed) };
                    let c = if !udp {
                        checksum::update(hc, old, new)
                    } else if checksum::udp_has_checksum(hc) {
                        checksum::update_udp(hc, old, new)
                    } else {
                        checksum::udp_field(finish(add(pseudo_v6(src6, dst6, proto::UDP, plen as u32), sum(l4))))
                    };
                    put16(l4, at, c);
                }
            }
        }

        if too_big {
            // Fragmentation Needed with the MTU in IPv4 terms.
            let mtu = (ipv6_mtu - (hdr_len - ipv4::HEADER_LEN)) as u16;
            let mut rest = [0; 4];
            rest[2..].copy_from_slice(&mtu.to_be_bytes());
            let out =
                self.icmp4_error(buf, now, icmpv4::DEST_UNREACHABLE, code4::FRAGMENTATION_NEEDED, rest, R::TooBig);
            return match out {
                // RFC 7757 §4: a hairpinned packet came from the IPv6 side, so the error
                // hairpins too and reaches its source as ICMPv6 Packet Too Big.
                Out::Reply(Side::V4, r) if hairpin => match self.err46(buf, now, ipv4::HEADER_LEN, true) {
                    Out::Fwd(Side::V6) => Out::Reply(Side::V6, r),
                    other => other,
                },
                other => other,
            };
        }
        // RFC 7915 §4.1: DF-clear packets are fragmented to fit the lowest IPv6 MTU.
        let limit = ipv6_mtu.min(usize::from(self.cfg.lowest_ipv6_mtu));
        let split = !df && out_len > limit;

        let tc = self.cfg.traffic_class.apply(tos);
        let Ok(h) = buf.replace_front(ihl, hdr_len) else { return Out::Drop(R::NoRoom) };
        let Some((h6, after)) = h.split_first_chunk_mut() else { return Out::Drop(R::NoRoom) };
        Ipv6Repr {
            traffic_class: tc,
            payload_len: (hdr_len - ipv6::HEADER_LEN + plen) as u16,
            next_header: if frag_hdr { proto::FRAGMENT } else { nh },
            hop_limit: hop,
            src_addr: src6,
            dst_addr: dst6,
        }
        .emit(h6);
        if frag_hdr {
            // RFC 7915 §4.1 Fragment Header: offset and M copied, identification from the
            // IPv4 header (high 16 bits zero).
            let Some(fh) = after.first_chunk_mut() else { return Out::Drop(R::NoRoom) };
            FragmentRepr { next_header: nh, offset: frag_off as u16, more_frags: mf, ident: u32::from(id) }.emit(fh);
        }
        if split {
            self.split_v6(buf, limit, id);
        }
        Out::Fwd(Side::V6)
    }

    /// Echo requests to the translator's own IPv4 address are answered. `buf` holds a
    /// packet [`Siit::xlate_v4`] has checked and cut to its Total Length.
    pub(super) fn local_v4(&mut self, buf: &mut PacketBuf, _now: Instant) -> Out {
        let ip = Ipv4Packet::new_unchecked(buf.as_slice());
        let echo = Icmpv4Packet::new_checked(ip.payload()).is_ok_and(|m| m.msg_type() == icmpv4::ECHO_REQUEST);
        let fragment = ip.frag_field() & (ipv4::MF | ipv4::OFFSET_MASK) != 0;
        if !self.cfg.answer_pings || ip.protocol() != proto::ICMP || fragment || !echo {
            return Out::Drop(R::ToTranslator);
        }
        if checksum::checksum(ip.payload()) != 0 {
            return Out::Drop(R::IcmpChecksum);
        }
        let src = ip.src_addr();
        let ihl = ip.header_len();
        let own = self.cfg.own_ipv4;
        let id = self.ident();
        let len = buf.len();
        let Ok(h) = buf.replace_front(ihl, ipv4::HEADER_LEN) else { return Out::Drop(R::NoRoom) };
        let Some(h) = h.first_chunk_mut() else { return Out::Drop(R::NoRoom) };
        Ipv4Repr {
            tos: 0,
            total_len: (len - ihl + ipv4::HEADER_LEN) as u16,
            ident: id,
            frag_field: 0,
            ttl: OWN_TTL,
            protocol: proto::ICMP,
            src_addr: own,
            dst_addr: src,
        }
        .emit(h);
        let Some(l4) = buf.as_mut_slice().get_mut(ipv4::HEADER_LEN..) else { return Out::Drop(R::NoRoom) };
        let mut m = Icmpv4Packet::new_unchecked(l4);
        let (request, reply) = ([icmpv4::ECHO_REQUEST, 0], [icmpv4::ECHO_REPLY, 0]);
        let c = checksum::update(m.checksum(), u16::from_be_bytes(request).into(), u16::from_be_bytes(reply).into());
        m.set_msg_type(icmpv4::ECHO_REPLY);
        m.set_checksum(c);
        Out::Reply(Side::V4, None)
    }
}
