//! ICMP in the translator: the errors it sends itself (RFC 792 / RFC 1812 §4.3.2, RFC 4443
//! §2.4, RFC 7915 §4.4, §5.4), and ICMP errors translated with the packet they quote (RFC
//! 7915 §4.2-4.3, §5.2-5.3) and their RFC 4884 extensions. The type and code tables are
//! `crate::icmp`.
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use sixgate_core::buf::PacketBuf;
use sixgate_core::checksum::{self, add, finish, pseudo_v6, sum, sum_v4, sum_v6};
use sixgate_core::engine::Side;
use sixgate_core::router::forward_hop;
use sixgate_core::wire::{be16, be32, put16, v4at, v6at};

use crate::icmp::{self, Map, Rest};
use crate::reason::DropReason;

use DropReason as R;

use super::v6_to_v4::upper_layer6;
use super::{write_ipv4_header, write_ipv6_header, Out, Siit};

impl Siit {
    /// Builds an ICMPv4 error about the IPv4 packet in `buf` (RFC 792, RFC 1812 §4.3.2),
    /// sent from the translator's own address, at most 576 bytes.
    pub(super) fn icmp4_error(
        &mut self,
        buf: &mut PacketBuf,
        now: Instant,
        typ: u8,
        code: u8,
        rest: [u8; 4],
        reason: DropReason,
    ) -> Out {
        let p = buf.as_slice();
        let ihl = usize::from(p[0] & 0x0f) * 4;
        let src = v4at(p, 12);
        let dst = v4at(p, 16);
        let frag_off = be16(p, 6) & 0x1fff;
        // RFC 1812 §4.3.2.7: no error about an ICMP error, a non-first fragment, a
        // non-unicast source or a broadcast/multicast destination.
        let about_error = p[9] == 1 && p.len() > ihl && icmp::is_icmp4_error(p[ihl]);
        let bad_src = src.is_unspecified() || src.is_multicast() || src.is_broadcast() || src.is_loopback();
        if frag_off != 0 || about_error || bad_src || dst.is_multicast() || dst.is_broadcast() {
            self.suppressed += 1;
            return Out::Drop(reason);
        }
        if !self.bucket.take(now, self.cfg.icmp_rate.per_second, self.cfg.icmp_rate.burst) {
            self.suppressed += 1;
            return Out::Drop(reason);
        }
        let quote = p.len().min(576 - 28);
        let id = self.ident();
        let mut s = std::mem::take(&mut self.scratch);
        s.clear();
        s.resize(28, 0);
        s.extend_from_slice(&p[..quote]);
        write_ipv4_header(&mut s[..20], 0xc0, (28 + quote) as u16, id, 0, 64, 1, self.cfg.own_ipv4, src);
        s[20] = typ;
        s[21] = code;
        s[24..28].copy_from_slice(&rest);
        let c = finish(sum(&s[20..]));
        put16(&mut s, 22, c);
        let r = buf.set(&s);
        self.scratch = s;
        match r {
            Ok(()) => Out::Reply(Side::V4, Some(reason)),
            Err(_) => Out::Drop(R::NoRoom),
        }
    }

    /// RFC 7915 §4.2-4.3: translates an ICMPv4 error (unfragmented, header valid) and
    /// the packet inside it.
    pub(super) fn err46(&mut self, buf: &mut PacketBuf, now: Instant, ihl: usize, hairpin: bool) -> Out {
        let _ = now;
        let p = buf.as_slice();
        let msg = &p[ihl..];
        // The message is rebuilt, so a corrupt one must not come out with a good checksum.
        if checksum::checksum(msg) != 0 {
            return Out::Drop(R::IcmpChecksum);
        }
        let rest = [msg[4], msg[5], msg[6], msg[7]];
        let (t6, c6, how) = match icmp::map_4to6(msg[0], msg[1], rest) {
            Map::Error { typ, code, rest } => (typ, code, rest),
            Map::SingleHop => return Out::Drop(R::SingleHop),
            Map::Echo(_) => return Out::Drop(R::UntranslatableIcmp),
            Map::Drop => {
                return Out::Drop(if msg[0] == 12 && (msg[1] == 0 || msg[1] == 2) {
                    R::UntranslatablePointer
                } else {
                    R::UntranslatableIcmp
                })
            }
        };
        // RFC 4884 §4.1: the length attribute (32-bit words) in the sixth octet separates
        // the original datagram from an extension structure.
        let la = usize::from(msg[5]) * 4;
        let (orig, ext) =
            if la > 0 && 8 + la <= msg.len() { (&msg[8..8 + la], &msg[8 + la..]) } else { (&msg[8..], &[][..]) };

        // The inner packet.
        if orig.len() < 20 || orig[0] >> 4 != 4 {
            return Out::Drop(R::Malformed);
        }
        let iihl = usize::from(orig[0] & 0x0f) * 4;
        if iihl < 20 || iihl > orig.len() {
            return Out::Drop(R::Malformed);
        }
        let itotal = usize::from(be16(orig, 2));
        // Zero padding after the quoted datagram (RFC 4884 §4) is not datagram: the quote
        // ends at the datagram's own Total Length when that is shorter.
        let orig = if itotal >= iihl && itotal < orig.len() { &orig[..itotal] } else { orig };
        let iff = be16(orig, 6);
        let imf = iff & 0x2000 != 0;
        let ioff = usize::from(iff & 0x1fff) * 8;
        let ifrag = imf || ioff != 0;
        let iproto = orig[9];
        let il4 = &orig[iihl..];
        // RFC 7915 §4.3: one level only.
        if iproto == 1 && ioff == 0 && !il4.is_empty() && icmp::is_icmp4_error(il4[0]) {
            return Out::Drop(R::NestedIcmpError);
        }
        let osrc = v4at(p, 12);
        let odst = v4at(p, 16);
        // RFC 6791: a router whose address cannot be translated gets a pool address. RFC 7757
        // §4: a hairpinned error's source is built with pool6, not the EAMT.
        let osrc6 = if hairpin {
            self.map46_hairpin(osrc, R::UntranslatableSource)
        } else {
            self.map46(osrc, R::UntranslatableSource)
        }
        .unwrap_or_else(|_| self.rfc6791_v6(osrc));
        let odst6 = match self.map46(odst, R::UntranslatableDestination) {
            Ok(a) => a,
            Err(r) => return Out::Drop(r),
        };
        let isrc = v4at(orig, 12);
        let idst = v4at(orig, 16);
        // RFC 7757 §4, Appendix B: in a hairpinned error the quoted packet went from the
        // IPv6 sender to a hairpinned destination, which the sender addressed through pool6:
        // the quoted destination is built the same way, so the quote matches what it sent.
        let idst6 = if hairpin {
            self.map46_hairpin(idst, R::UntranslatableDestination)
        } else {
            self.map46(idst, R::UntranslatableDestination)
        };
        let (isrc6, idst6) = match (self.map46(isrc, R::UntranslatableSource), idst6) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(r), _) | (_, Err(r)) => return Out::Drop(r),
        };

        let mut s = std::mem::take(&mut self.scratch);
        s.clear();
        s.resize(48, 0);
        // Inner IPv6 header (and fragment header), lengths from the original packet.
        let inh = if iproto == 1 { 58 } else { iproto };
        let iplen = itotal.saturating_sub(iihl) + if ifrag { 8 } else { 0 };
        let itc = self.cfg.traffic_class.apply(orig[1]);
        let mut ih = [0u8; 48];
        write_ipv6_header(&mut ih, itc, iplen.min(0xffff) as u16, if ifrag { 44 } else { inh }, orig[8], isrc6, idst6);
        s.extend_from_slice(&ih[..40]);
        if ifrag {
            s.extend_from_slice(&[inh, 0]);
            s.extend_from_slice(&((ioff as u16) | u16::from(imf)).to_be_bytes());
            s.extend_from_slice(&u32::from(be16(orig, 4)).to_be_bytes());
        }
        let l4_at = s.len();
        s.extend_from_slice(il4);
        if ioff == 0 {
            translate_inner_l4_46(&mut s[l4_at..], iproto, isrc, idst, isrc6, idst6, itotal.saturating_sub(iihl));
        }
        // RFC 4884 §4 (field zero-padded, at least 128 octets) and §4.2 (ICMPv6 types 1
        // and 3: length attribute in 64-bit words): the extension structure is kept whole
        // after the original datagram field. Other types carry no length attribute, so
        // their extensions cannot be kept.
        let mut len_attr = 0u8;
        if !ext.is_empty() && (t6 == 1 || t6 == 3) {
            if let Some(field) = rfc4884_field(s.len() - 48, ext.len(), 1280 - 40, 8) {
                s.resize(48 + field, 0);
                len_attr = (field / 8) as u8;
                s.extend_from_slice(ext);
            }
        }
        // RFC 4443 §2.4(c): an ICMPv6 error is at most 1280 bytes.
        s.truncate(1280);
        let rest6: [u8; 4] = match how {
            Rest::Unused => [len_attr, 0, 0, 0],
            Rest::Pointer(ptr) => u32::from(ptr).to_be_bytes(),
            Rest::Mtu => {
                icmp::ptb_mtu_4to6(be16(msg, 6), itotal as u16, self.cfg.ipv6_mtu, self.cfg.ipv4_mtu).to_be_bytes()
            }
        };
        s[40] = t6;
        s[41] = c6;
        s[42] = 0;
        s[43] = 0;
        s[44..48].copy_from_slice(&rest6);
        let mlen = s.len() - 40;
        let c = finish(add(pseudo_v6(osrc6, odst6, 58, mlen as u32), sum(&s[40..])));
        put16(&mut s, 42, c);
        let tc = self.cfg.traffic_class.apply(p[1]);
        let hop = if hairpin { p[8] } else { forward_hop(p[8]).unwrap_or(0) };
        write_ipv6_header(&mut s[..40], tc, mlen as u16, 58, hop, osrc6, odst6);
        let r = buf.set(&s);
        self.scratch = s;
        match r {
            Ok(()) => Out::Fwd(Side::V6),
            Err(_) => Out::Drop(R::NoRoom),
        }
    }

    /// Builds an ICMPv6 error about the IPv6 packet in `buf` (RFC 4443), sent from the
    /// translator's own address, at most 1280 bytes.
    pub(super) fn icmp6_error(
        &mut self,
        buf: &mut PacketBuf,
        now: Instant,
        typ: u8,
        code: u8,
        rest: [u8; 4],
        reason: DropReason,
    ) -> Out {
        let p = buf.as_slice();
        let src = v6at(p, 8);
        let dst = v6at(p, 24);
        // RFC 4443 §2.4(e.1): not about an ICMPv6 error message, whatever extension headers
        // come before it (a chain that cannot be walked, or an ICMPv6 header that cannot be
        // read in a non-first fragment, counts as one). RFC 7915 §5.4: a packet the
        // translator discards is answered "unless the discarded packet is itself an ICMPv6
        // message" (any type). RFC 4443 §2.4(e.2-e.3): not about a multicast destination
        // (bar Packet Too Big, which is not needed here) or a source that is not unicast.
        let about_error = match upper_layer6(p) {
            Some((58, off, later)) => {
                reason == R::ExtensionAfterFragment || later || p.len() <= off || icmp::is_icmp6_error(p[off])
            }
            Some(_) => false,
            None => true,
        };
        let bad_src = src.is_unspecified() || src.is_multicast() || src.is_loopback();
        if about_error || bad_src || (dst.is_multicast() && typ != 2) {
            self.suppressed += 1;
            return Out::Drop(reason);
        }
        if !self.bucket.take(now, self.cfg.icmp_rate.per_second, self.cfg.icmp_rate.burst) {
            self.suppressed += 1;
            return Out::Drop(reason);
        }
        let mut s = std::mem::take(&mut self.scratch);
        sixgate_core::icmp6::build_error(&mut s, self.cfg.own_ipv6, src, 64, typ, code, rest, p);
        let r = buf.set(&s);
        self.scratch = s;
        match r {
            Ok(()) => Out::Reply(Side::V6, Some(reason)),
            Err(_) => Out::Drop(R::NoRoom),
        }
    }

    /// RFC 7915 §5.2-5.3: translates an ICMPv6 error (unfragmented) and the packet inside.
    /// `frag_id` is the Identification of the (atomic) Fragment Header it came with.
    pub(super) fn err64(&mut self, buf: &mut PacketBuf, now: Instant, off: usize, frag_id: Option<u32>) -> Out {
        let p = buf.as_slice();
        let osrc6 = v6at(p, 8);
        let odst6 = v6at(p, 24);
        let msg = &p[off..];
        if finish(add(pseudo_v6(osrc6, odst6, 58, msg.len() as u32), sum(msg))) != 0 {
            return Out::Drop(R::IcmpChecksum);
        }
        let rest = [msg[4], msg[5], msg[6], msg[7]];
        let (t4, c4, how) = match icmp::map_6to4(msg[0], msg[1], rest) {
            Map::Error { typ, code, rest } => (typ, code, rest),
            Map::SingleHop => return Out::Drop(R::SingleHop),
            Map::Echo(_) => return Out::Drop(R::UntranslatableIcmp),
            Map::Drop => {
                return Out::Drop(if msg[0] == 4 && msg[1] == 0 {
                    R::UntranslatablePointer
                } else {
                    R::UntranslatableIcmp
                })
            }
        };
        // RFC 4884 §4.2: ICMPv6 Destination Unreachable and Time Exceeded carry a length
        // attribute (64-bit words) in the fifth octet.
        let la = if msg[0] == 1 || msg[0] == 3 { usize::from(msg[4]) * 8 } else { 0 };
        let (orig, ext) =
            if la > 0 && 8 + la <= msg.len() { (&msg[8..8 + la], &msg[8 + la..]) } else { (&msg[8..], &[][..]) };

        // The inner IPv6 packet and its extension headers.
        if orig.len() < 40 || orig[0] >> 4 != 6 {
            return Out::Drop(R::Malformed);
        }
        let iplen = usize::from(be16(orig, 4));
        // Zero padding after the quoted datagram (RFC 4884 §4) is not datagram: the quote
        // ends at 40 + its own Payload Length when that is shorter (a zero Payload Length,
        // possibly a jumbogram, is left as it is).
        let orig = if iplen > 0 && 40 + iplen < orig.len() { &orig[..40 + iplen] } else { orig };
        let mut inh = orig[6];
        let mut ioff_hdr = 40;
        let mut ifrag: Option<(usize, bool, u32)> = None;
        while matches!(inh, 0 | 43 | 60 | 44) {
            if ioff_hdr + 8 > orig.len() {
                return Out::Drop(R::Malformed);
            }
            if inh == 44 {
                let fo = be16(orig, ioff_hdr + 2);
                ifrag = Some((usize::from(fo & 0xfff8), fo & 1 == 1, be32(orig, ioff_hdr + 4)));
                inh = orig[ioff_hdr];
                ioff_hdr += 8;
            } else {
                inh = orig[ioff_hdr];
                ioff_hdr += (usize::from(orig[ioff_hdr + 1]) + 1) * 8;
            }
        }
        if ioff_hdr > orig.len() {
            return Out::Drop(R::Malformed);
        }
        let ifoff = ifrag.map_or(0, |f| f.0);
        let il4 = &orig[ioff_hdr..];
        if inh == 58 && ifoff == 0 && !il4.is_empty() && icmp::is_icmp6_error(il4[0]) {
            return Out::Drop(R::NestedIcmpError);
        }
        let osrc4 = self.map64(osrc6, R::UntranslatableSource).unwrap_or_else(|_| self.rfc6791_v4(osrc6));
        let odst4 = match self.map64(odst6, R::UntranslatableDestination) {
            Ok(a) => a,
            Err(r) => return Out::Drop(r),
        };
        let isrc6 = v6at(orig, 8);
        let idst6 = v6at(orig, 24);
        let (isrc4, idst4) =
            match (self.map64(isrc6, R::UntranslatableSource), self.map64(idst6, R::UntranslatableDestination)) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(r), _) | (_, Err(r)) => return Out::Drop(r),
            };
        // Upper-layer length of the original packet.
        let iulen = (40 + iplen).saturating_sub(ioff_hdr);
        let itotal = (20 + iulen).min(0xffff);
        let (idf, iid, imf) = match ifrag {
            Some((_, m, id)) => (false, id as u16, m),
            None => (itotal > 1260, 0, false),
        };
        let iproto = if inh == 58 { 1 } else { inh };

        let mut s = std::mem::take(&mut self.scratch);
        s.clear();
        s.resize(48, 0);
        let iflags = (u16::from(idf) << 14) | (u16::from(imf) << 13) | (ifoff / 8) as u16;
        let itos = self.cfg.tos.apply(((be16(orig, 0) >> 4) & 0xff) as u8);
        write_ipv4_header(&mut s[28..48], itos, itotal as u16, iid, iflags, orig[7], iproto, isrc4, idst4);
        let l4_at = s.len();
        s.extend_from_slice(il4);
        if ifoff == 0 {
            translate_inner_l4_64(&mut s[l4_at..], inh, isrc6, idst6, isrc4, idst4, iulen);
        }
        // RFC 4884 §4 (field zero-padded, at least 128 octets) and §4.1 (ICMPv4: length
        // attribute in 32-bit words): the extension structure is kept whole after the
        // original datagram field.
        let mut len_attr = 0u8;
        if !ext.is_empty() {
            if let Some(field) = rfc4884_field(s.len() - 28, ext.len(), 576 - 20, 4) {
                s.resize(28 + field, 0);
                len_attr = (field / 4) as u8;
                s.extend_from_slice(ext);
            }
        }
        // RFC 1812 §4.3.2.3: an ICMPv4 error is at most 576 bytes.
        s.truncate(576);
        let rest4: [u8; 4] = match how {
            Rest::Unused => [0, len_attr, 0, 0],
            Rest::Pointer(ptr) => [ptr, len_attr, 0, 0],
            Rest::Mtu => {
                let m = icmp::ptb_mtu_6to4(be32(msg, 4), self.cfg.ipv4_mtu, self.cfg.ipv6_mtu).to_be_bytes();
                [0, len_attr, m[0], m[1]]
            }
        };
        s[20] = t4;
        s[21] = c4;
        s[22] = 0;
        s[23] = 0;
        s[24..28].copy_from_slice(&rest4);
        let c = finish(sum(&s[20..]));
        put16(&mut s, 22, c);
        let total = s.len();
        // RFC 7915 §5.1.1: with a Fragment Header, the Identification is the low-order 16
        // bits of its Identification (errors included); without, a fresh one.
        let id = match frag_id {
            Some(x) => x as u16,
            None => self.ident(),
        };
        let tos = self.cfg.tos.apply(((be16(p, 0) >> 4) & 0xff) as u8);
        // The hop limit was checked in xlate_v6 (forward_hop); 0 cannot be reached here.
        let ttl4 = forward_hop(p[7]).unwrap_or(0);
        write_ipv4_header(&mut s[..20], tos, total as u16, id, 0, ttl4, 1, osrc4, odst4);
        let r = buf.set(&s);
        self.scratch = s;
        match r {
            Ok(()) if self.cfg.eamt.covers_v4(odst4) => self.xlate_v4(buf, now, true),
            Ok(()) => Out::Fwd(Side::V4),
            Err(_) => Out::Drop(R::NoRoom),
        }
    }
}

/// RFC 4884 §4.1 (ICMPv4, `word` 4) and §4.2 (ICMPv6, `word` 8): the length of the
/// original datagram field of an ICMP error that carries an extension structure of
/// `ext_len` bytes after an original datagram of `orig_len` bytes, when the ICMP message
/// (from its type field) may take `room` bytes (576 or 1280 in all: RFC 1812 §4.3.2.3, RFC
/// 4443 §2.4(c)). The field is the datagram zero-padded to a multiple of `word` and to at
/// least 128 bytes (RFC 4884 §4); when that and the extension do not fit, the datagram is
/// trimmed (never below 128 bytes, RFC 4884 §4; §5.1 gives the reason) so the extension
/// stays whole — a deliberate departure from RFC 7915 §4.2, see the crate docs. `None` when the
/// extension cannot be kept (it does not fit next to 128 bytes, or the field would not
/// fit the 8-bit length attribute).
pub(super) fn rfc4884_field(orig_len: usize, ext_len: usize, room: usize, word: usize) -> Option<usize> {
    let padded = orig_len.max(128).div_ceil(word) * word;
    let fits = room.checked_sub(8 + ext_len)? / word * word;
    let field = padded.min(fits);
    (field >= 128 && field / word <= 255).then_some(field)
}

/// Updates the transport checksum of a (possibly truncated) inner packet translated
/// 4→6, when the checksum field is within the quoted bytes.
pub(super) fn translate_inner_l4_46(
    l4: &mut [u8],
    proto: u8,
    s4: Ipv4Addr,
    d4: Ipv4Addr,
    s6: Ipv6Addr,
    d6: Ipv6Addr,
    ulen: usize,
) {
    match proto {
        6 | 17 => {
            let at = if proto == 6 { 16 } else { 6 };
            if l4.len() >= at + 2 {
                let hc = be16(l4, at);
                if proto == 17 && !checksum::udp_has_checksum(hc) {
                    return;
                }
                let c = checksum::update(hc, add(sum_v4(s4), sum_v4(d4)), add(sum_v6(s6), sum_v6(d6)));
                put16(l4, at, if proto == 17 { checksum::udp_field(c) } else { c });
            }
        }
        1 if l4.len() >= 4 && (l4[0] == 8 || l4[0] == 0) => {
            let t6 = if l4[0] == 8 { 128 } else { 129 };
            let old = u32::from(be16(l4, 0));
            let new = add(u32::from(u16::from_be_bytes([t6, l4[1]])), pseudo_v6(s6, d6, 58, ulen as u32));
            let c = checksum::update(be16(l4, 2), old, new);
            l4[0] = t6;
            put16(l4, 2, c);
        }
        _ => {}
    }
}

/// Updates the transport checksum of a (possibly truncated) inner packet translated 6→4.
pub(super) fn translate_inner_l4_64(
    l4: &mut [u8],
    nh: u8,
    s6: Ipv6Addr,
    d6: Ipv6Addr,
    s4: Ipv4Addr,
    d4: Ipv4Addr,
    ulen: usize,
) {
    match nh {
        6 | 17 => {
            let at = if nh == 6 { 16 } else { 6 };
            if l4.len() >= at + 2 {
                let hc = be16(l4, at);
                let c = checksum::update(hc, add(sum_v6(s6), sum_v6(d6)), add(sum_v4(s4), sum_v4(d4)));
                put16(l4, at, if nh == 17 { checksum::udp_field(c) } else { c });
            }
        }
        58 if l4.len() >= 4 && (l4[0] == 128 || l4[0] == 129) => {
            let t4 = if l4[0] == 128 { 8 } else { 0 };
            let old = add(u32::from(be16(l4, 0)), pseudo_v6(s6, d6, 58, ulen as u32));
            let new = u32::from(u16::from_be_bytes([t4, l4[1]]));
            let c = checksum::update(be16(l4, 2), old, new);
            l4[0] = t4;
            put16(l4, 2, c);
        }
        _ => {}
    }
}
