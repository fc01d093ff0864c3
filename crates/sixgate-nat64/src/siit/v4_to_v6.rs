//! IPv4 → IPv6, the general path (RFC 7915 §4): header and transport translation, and
//! echo requests to the translator's own IPv4 address.
use std::time::Instant;

use sixgate_core::buf::PacketBuf;
use sixgate_core::checksum::{self, add, finish, pseudo_v6, sum, sum_v4, sum_v6};
use sixgate_core::class::is_forbidden_v4;
use sixgate_core::engine::Side;
use sixgate_core::router::forward_hop;
use sixgate_core::wire::{be16, put16, v4at};

use crate::icmp::{self, Map};
use crate::reason::DropReason;

use DropReason as R;

use super::{write_ipv4_header, write_ipv6_header, Out, Siit};

/// RFC 7915 §4.1: an unexpired Loose or Strict Source Route option (pointer ≤ length).
pub(super) fn has_unexpired_source_route(opts: &[u8]) -> bool {
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            0 => return false,
            1 => i += 1,
            t => {
                let Some(&len) = opts.get(i + 1) else { return false };
                if len < 2 {
                    return false;
                }
                if t == 131 || t == 137 {
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
        let p = buf.as_slice();
        if p.len() < 20 {
            return Out::Drop(R::Malformed);
        }
        let ihl = usize::from(p[0] & 0x0f) * 4;
        let total = usize::from(be16(p, 2));
        if ihl < 20 || total < ihl || total > p.len() {
            return Out::Drop(R::Malformed);
        }
        // RFC 1812 §5.2.2: a router verifies the header checksum.
        if checksum::checksum(&p[..ihl]) != 0 {
            return Out::Drop(R::Ipv4HeaderChecksum);
        }
        buf.truncate(total);
        let p = buf.as_slice();
        let tos = p[1];
        let id = be16(p, 4);
        let ff = be16(p, 6);
        let df = ff & 0x4000 != 0;
        let mf = ff & 0x2000 != 0;
        let frag_off = usize::from(ff & 0x1fff) * 8;
        let ttl = p[8];
        let proto = p[9];
        let src = v4at(p, 12);
        let dst = v4at(p, 16);
        let is_frag = mf || frag_off != 0;
        let plen = total - ihl;
        // RFC 791: a fragment may not reach past 65,535 bytes (its offsets would wrap).
        if frag_off + plen > 0xffff {
            return Out::Drop(R::Malformed);
        }

        if !hairpin && dst == self.cfg.own_ipv4 {
            return self.local_v4(buf, ihl, now);
        }
        // RFC 7915 §4.1: an illegal destination (multicast, broadcast, 0/8, 127/8, ...) is
        // silently dropped, before any error could be sent about it.
        if is_forbidden_v4(dst) {
            return Out::Drop(R::ForbiddenAddress);
        }
        // No fragment of an ICMP message can be translated without reassembly: its
        // checksum needs the whole message's length (ICMPv6 pseudo-header).
        if proto == 1 && is_frag {
            return Out::Drop(R::FragmentedIcmp);
        }
        // RFC 7915 §4.1 Hop Limit: the translator is a router; TTL reaching zero → Time
        // Exceeded. A hairpinned packet was decremented on its way in from IPv6.
        let hop = match (hairpin, forward_hop(ttl)) {
            (true, _) => ttl,
            (false, Some(h)) => h,
            (false, None) => return self.icmp4_error(buf, now, 11, 0, [0; 4], R::TtlExceeded),
        };
        // RFC 7915 §4.1: options are ignored, but an unexpired source route is refused.
        if !hairpin && ihl > 20 && has_unexpired_source_route(&p[20..ihl]) {
            return self.icmp4_error(buf, now, 3, 5, [0; 4], R::SourceRoute);
        }
        // RFC 7915 §4.2: IGMP is single-hop.
        if proto == 2 {
            return Out::Drop(R::SingleHop);
        }
        if proto == 1 && frag_off == 0 && plen >= 8 && icmp::is_icmp4_error(p[ihl]) {
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
        let nh = if proto == 1 { 58 } else { proto };

        let frag_hdr = is_frag;
        let hdr_len = if frag_hdr { 48 } else { 40 };
        let out_len = hdr_len + plen;
        let ipv6_mtu = usize::from(self.cfg.ipv6_mtu);
        // Decided before anything is rewritten: the Fragmentation Needed sent instead
        // quotes the packet as it arrived (RFC 7915 §4.4, RFC 1812 §4.3.2.3).
        let too_big = df && out_len > ipv6_mtu;

        // Transport headers (only the first fragment has them), checked in any case and
        // rewritten only when the packet is forwarded.
        if frag_off == 0 {
            match proto {
                1 => {
                    if is_frag {
                        // The ICMPv6 checksum covers a pseudo-header with the whole
                        // message's length, unknown without reassembly.
                        return Out::Drop(R::FragmentedIcmp);
                    }
                    if plen < 8 {
                        return Out::Drop(R::Malformed);
                    }
                    let rest = [p[ihl + 4], p[ihl + 5], p[ihl + 6], p[ihl + 7]];
                    match icmp::map_4to6(p[ihl], p[ihl + 1], rest) {
                        Map::Echo(_) if too_big => {}
                        Map::Echo(t6) => {
                            // RFC 7915 §4.2: new type; the checksum gains the ICMPv6
                            // pseudo-header (RFC 1624 incremental update).
                            let l4 = &mut buf.as_mut_slice()[ihl..];
                            let old = u32::from(be16(l4, 0));
                            let new =
                                add(u32::from(u16::from_be_bytes([t6, l4[1]])), pseudo_v6(src6, dst6, 58, plen as u32));
                            let c = checksum::update(be16(l4, 2), old, new);
                            l4[0] = t6;
                            put16(l4, 2, c);
                        }
                        Map::SingleHop => return Out::Drop(R::SingleHop),
                        Map::Drop | Map::Error { .. } => return Out::Drop(R::UntranslatableIcmp),
                    }
                }
                6 | 17 => {
                    let (min, at) = if proto == 6 { (20, 16) } else { (8, 6) };
                    if plen < min {
                        return Out::Drop(R::Malformed);
                    }
                    let hc = be16(p, ihl + at);
                    // RFC 7915 §4.5: zero UDP checksum. Computed for unfragmented packets
                    // when allowed; otherwise refused.
                    if proto == 17 && !checksum::udp_has_checksum(hc) && (is_frag || !self.cfg.amend_udp_checksum_zero)
                    {
                        return self.icmp4_error(buf, now, 3, 13, [0; 4], R::UdpZeroChecksum);
                    }
                    if !too_big {
                        let old = add(sum_v4(src), sum_v4(dst));
                        let new = add(sum_v6(src6), sum_v6(dst6));
                        let l4 = &mut buf.as_mut_slice()[ihl..];
                        let c = if proto == 6 {
                            checksum::update(hc, old, new)
                        } else if checksum::udp_has_checksum(hc) {
                            checksum::update_udp(hc, old, new)
                        } else {
                            checksum::udp_field(finish(add(pseudo_v6(src6, dst6, 17, plen as u32), sum(l4))))
                        };
                        put16(l4, at, c);
                    }
                }
                _ => {}
            }
        }

        if too_big {
            // Fragmentation Needed with the MTU in IPv4 terms.
            let mtu = (ipv6_mtu - (hdr_len - 20)) as u16;
            let mut rest = [0; 4];
            rest[2..].copy_from_slice(&mtu.to_be_bytes());
            let out = self.icmp4_error(buf, now, 3, 4, rest, R::TooBig);
            return match out {
                // RFC 7757 §4: a hairpinned packet came from the IPv6 side, so the error
                // hairpins too and reaches its source as ICMPv6 Packet Too Big.
                Out::Reply(Side::V4, r) if hairpin => match self.err46(buf, now, 20, true) {
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
        if frag_hdr {
            write_ipv6_header(h, tc, (plen + 8) as u16, 44, hop, src6, dst6);
            // RFC 7915 §4.1 Fragment Header: offset and M copied, identification from the
            // IPv4 header (high 16 bits zero).
            h[40] = nh;
            h[41] = 0;
            put16(h, 42, (frag_off as u16) | u16::from(mf));
            h[44..48].copy_from_slice(&u32::from(id).to_be_bytes());
        } else {
            write_ipv6_header(h, tc, plen as u16, nh, hop, src6, dst6);
        }
        if split {
            self.split_v6(buf, limit, id);
        }
        Out::Fwd(Side::V6)
    }

    /// Echo requests to the translator's own IPv4 address are answered.
    pub(super) fn local_v4(&mut self, buf: &mut PacketBuf, ihl: usize, _now: Instant) -> Out {
        let p = buf.as_slice();
        let ff = be16(p, 6);
        if !self.cfg.answer_pings || p[9] != 1 || ff & 0x3fff != 0 || p.len() < ihl + 8 || p[ihl] != 8 {
            return Out::Drop(R::ToTranslator);
        }
        if checksum::checksum(&p[ihl..]) != 0 {
            return Out::Drop(R::IcmpChecksum);
        }
        let src = v4at(p, 12);
        let own = self.cfg.own_ipv4;
        let id = self.ident();
        let len = p.len();
        let Ok(h) = buf.replace_front(ihl, 20) else { return Out::Drop(R::NoRoom) };
        write_ipv4_header(h, 0, (len - ihl + 20) as u16, id, 0, 64, 1, own, src);
        let l4 = &mut buf.as_mut_slice()[20..];
        let c = checksum::update(be16(l4, 2), 0x0800, 0);
        l4[0] = 0;
        put16(l4, 2, c);
        Out::Reply(Side::V4, None)
    }
}
