//! ICMP in the translator: the errors it sends itself (RFC 792 / RFC 1812 §4.3.2, RFC 4443
//! §2.4, RFC 7915 §4.4, §5.4), and ICMP errors translated with the packet they quote (RFC
//! 7915 §4.2-4.3, §5.2-5.3) and their RFC 4884 extensions. The type and code tables are
//! `crate::icmp`.
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use sixgate_core::buf::PacketBuf;
use sixgate_core::checksum::{self, add, pseudo_v6, sum_v4, sum_v6};
use sixgate_core::engine::Side;
use sixgate_core::router::forward_hop;
use sixgate_core::wire::ipv4::{self, DF, MF};
use sixgate_core::wire::ipv6::{self, ext};
use sixgate_core::wire::{
    be16, fragment, icmpv4, icmpv6, proto, put16, transport_checksum, FragmentHeader, FragmentRepr, Icmpv4Packet,
    Icmpv6Packet, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr,
};

use crate::icmp::{self, Map, Rest};
use crate::reason::SiitDrop;

use SiitDrop as R;

use super::v6_to_v4::upper_layer6;
use super::{Out, Siit, OWN_TTL};

/// RFC 1812 §4.3.2.3: an ICMPv4 error is at most 576 bytes.
const ICMP4_ERROR_MAX: usize = 576;
/// RFC 4443 §2.4(c): an ICMPv6 error is at most the IPv6 minimum MTU.
const ICMP6_ERROR_MAX: usize = sixgate_core::icmp6::MAX_ERROR_LEN;
/// The IP and ICMP headers in front of the quoted packet of an ICMPv4 error.
const ERR4_HDRS: usize = ipv4::HEADER_LEN + icmpv4::HEADER_LEN;
/// The IP and ICMP headers in front of the quoted packet of an ICMPv6 error.
const ERR6_HDRS: usize = ipv6::HEADER_LEN + icmpv6::HEADER_LEN;
/// RFC 1812 §4.3.2.5: ICMP errors a router sends carry precedence 6 (internetwork
/// control) in the TOS octet.
const ICMP4_ERROR_TOS: u8 = 0xc0;

/// Writes `r` at `at` in `s`, which the caller has sized to hold it.
fn emit4_at(s: &mut [u8], at: usize, r: Ipv4Repr) {
    if let Some(h) = s.get_mut(at..).and_then(<[u8]>::first_chunk_mut) {
        r.emit(h);
    }
}

/// Writes `r` at the start of `s`, which the caller has sized to hold it.
fn emit6_at(s: &mut [u8], r: Ipv6Repr) {
    if let Some(h) = s.first_chunk_mut() {
        r.emit(h);
    }
}

impl Siit {
    /// Builds an ICMPv4 error about the IPv4 packet in `buf` (RFC 792, RFC 1812 §4.3.2),
    /// sent from the translator's own address, at most 576 bytes. `buf` holds a packet
    /// [`Siit::xlate_v4`] has checked and cut to its Total Length.
    pub(super) fn icmp4_error(
        &mut self,
        buf: &mut PacketBuf,
        now: Instant,
        typ: u8,
        code: u8,
        rest: [u8; 4],
        reason: SiitDrop,
    ) -> Out {
        let p = buf.as_slice();
        let ip = Ipv4Packet::new_unchecked(p);
        let src = ip.src_addr();
        let dst = ip.dst_addr();
        // RFC 1812 §4.3.2.7: no error about an ICMP error, a non-first fragment, a
        // non-unicast source or a broadcast/multicast destination.
        let about_error = ip.protocol() == proto::ICMP && ip.payload().first().is_some_and(|&t| icmpv4::is_error(t));
        let bad_src = !sixgate_core::router::icmp4_error_allowed_to(src);
        if ip.frag_offset() != 0 || about_error || bad_src || dst.is_multicast() || dst.is_broadcast() {
            self.suppressed += 1;
            return Out::Drop(reason);
        }
        if !self.bucket.take(now, self.cfg.icmp_rate.per_second, self.cfg.icmp_rate.burst) {
            self.suppressed += 1;
            return Out::Drop(reason);
        }
        let quote = p.len().min(ICMP4_ERROR_MAX - ERR4_HDRS);
        let id = self.ident();
        let mut s = std::mem::take(&mut self.scratch);
        s.clear();
        s.resize(ERR4_HDRS, 0);
        s.extend_from_slice(&p[..quote]);
        let r = Ipv4Repr {
            tos: ICMP4_ERROR_TOS,
            total_len: (ERR4_HDRS + quote) as u16,
            ident: id,
            frag_field: 0,
            ttl: OWN_TTL,
            protocol: proto::ICMP,
            src_addr: self.cfg.own_ipv4,
            dst_addr: src,
        };
        emit4_at(&mut s, 0, r);
        if let Some(m) = s.get_mut(ipv4::HEADER_LEN..) {
            let mut m = Icmpv4Packet::new_unchecked(m);
            m.set_msg_type(typ);
            m.set_msg_code(code);
            m.set_rest(rest);
            m.fill_checksum();
        }
        let r = buf.set(&s);
        self.scratch = s;
        match r {
            Ok(()) => Out::Reply(Side::V4, Some(reason)),
            Err(_) => Out::Drop(R::NoRoom),
        }
    }

    /// RFC 7915 §4.2-4.3: translates an ICMPv4 error (unfragmented, header valid) and
    /// the packet inside it; its ICMP header is at `ihl` and holds at least 8 bytes.
    pub(super) fn err46(&mut self, buf: &mut PacketBuf, now: Instant, ihl: usize, hairpin: bool) -> Out {
        let _ = now;
        let p = buf.as_slice();
        let outer = Ipv4Packet::new_unchecked(p);
        let Some(msg) = p.get(ihl..) else { return Out::Drop(R::Malformed) };
        let Ok(m) = Icmpv4Packet::new_checked(msg) else { return Out::Drop(R::Malformed) };
        // The message is rebuilt, so a corrupt one must not come out with a good checksum.
        if checksum::checksum(msg) != 0 {
            return Out::Drop(R::IcmpChecksum);
        }
        let (t6, c6, how) = match icmp::map_4to6(m.msg_type(), m.msg_code(), m.rest()) {
            Map::Error { typ, code, rest } => (typ, code, rest),
            Map::SingleHop => return Out::Drop(R::SingleHop),
            Map::Echo(_) => return Out::Drop(R::UntranslatableIcmp),
            Map::Drop => {
                let pointer = m.msg_type() == icmpv4::PARAM_PROBLEM
                    && matches!(m.msg_code(), icmpv4::code::POINTER_INDICATES_ERROR | icmpv4::code::BAD_LENGTH);
                return Out::Drop(if pointer { R::UntranslatablePointer } else { R::UntranslatableIcmp });
            }
        };
        // RFC 4884 §4.1: the length attribute (32-bit words) in the sixth octet separates
        // the original datagram from an extension structure.
        let la = usize::from(m.length_attr()) * 4;
        let body = m.payload();
        let (orig, ext) = if la > 0 && la <= body.len() { body.split_at(la) } else { (body, &[][..]) };

        // The inner packet (its header whole; the rest may be cut short).
        if orig.len() < ipv4::HEADER_LEN {
            return Out::Drop(R::Malformed);
        }
        let inner = Ipv4Packet::new_unchecked(orig);
        if inner.version() != 4 {
            return Out::Drop(R::Malformed);
        }
        let iihl = inner.header_len();
        if iihl < ipv4::HEADER_LEN || iihl > orig.len() {
            return Out::Drop(R::Malformed);
        }
        let itotal = usize::from(inner.total_len());
        // Zero padding after the quoted datagram (RFC 4884 §4) is not datagram: the quote
        // ends at the datagram's own Total Length when that is shorter.
        let orig = if itotal >= iihl && itotal < orig.len() { &orig[..itotal] } else { orig };
        let inner = Ipv4Packet::new_unchecked(orig);
        let imf = inner.more_frags();
        let ioff = inner.frag_offset();
        let ifrag = imf || ioff != 0;
        let iproto = inner.protocol();
        let il4 = &orig[iihl..];
        // RFC 7915 §4.3: one level only.
        if iproto == proto::ICMP && ioff == 0 && il4.first().is_some_and(|&t| icmpv4::is_error(t)) {
            return Out::Drop(R::NestedIcmpError);
        }
        let osrc = outer.src_addr();
        let odst = outer.dst_addr();
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
        let isrc = inner.src_addr();
        let idst = inner.dst_addr();
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
        s.resize(ERR6_HDRS, 0);
        // Inner IPv6 header (and fragment header), lengths from the original packet.
        let inh = if iproto == proto::ICMP { proto::ICMPV6 } else { iproto };
        let iplen = itotal.saturating_sub(iihl) + if ifrag { fragment::HEADER_LEN } else { 0 };
        let itc = self.cfg.traffic_class.apply(inner.tos());
        let mut ih = [0u8; ipv6::HEADER_LEN];
        Ipv6Repr {
            traffic_class: itc,
            payload_len: iplen.min(0xffff) as u16,
            next_header: if ifrag { proto::FRAGMENT } else { inh },
            hop_limit: inner.ttl(),
            src_addr: isrc6,
            dst_addr: idst6,
        }
        .emit(&mut ih);
        s.extend_from_slice(&ih);
        if ifrag {
            let mut fh = [0u8; fragment::HEADER_LEN];
            let ident = u32::from(inner.ident());
            FragmentRepr { next_header: inh, offset: ioff as u16, more_frags: imf, ident }.emit(&mut fh);
            s.extend_from_slice(&fh);
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
        if !ext.is_empty() && icmpv6::has_length_attr(t6) {
            if let Some(field) = rfc4884_field(s.len() - ERR6_HDRS, ext.len(), ICMP6_ERROR_MAX - ipv6::HEADER_LEN, 8) {
                s.resize(ERR6_HDRS + field, 0);
                len_attr = (field / 8) as u8;
                s.extend_from_slice(ext);
            }
        }
        // RFC 4443 §2.4(c): an ICMPv6 error is at most 1280 bytes.
        s.truncate(ICMP6_ERROR_MAX);
        let rest6: [u8; 4] = match how {
            Rest::Unused => [len_attr, 0, 0, 0],
            Rest::Pointer(ptr) => u32::from(ptr).to_be_bytes(),
            Rest::Mtu => {
                icmp::ptb_mtu_4to6(m.next_hop_mtu(), itotal as u16, self.cfg.ipv6_mtu, self.cfg.ipv4_mtu).to_be_bytes()
            }
        };
        let mlen = s.len() - ipv6::HEADER_LEN;
        if let Some(msg6) = s.get_mut(ipv6::HEADER_LEN..) {
            let mut m6 = Icmpv6Packet::new_unchecked(msg6);
            m6.set_msg_type(t6);
            m6.set_msg_code(c6);
            m6.set_rest(rest6);
            m6.fill_checksum(osrc6, odst6);
        }
        let tc = self.cfg.traffic_class.apply(outer.tos());
        let hop = if hairpin { outer.ttl() } else { forward_hop(outer.ttl()).unwrap_or(0) };
        let r = Ipv6Repr {
            traffic_class: tc,
            payload_len: mlen as u16,
            next_header: proto::ICMPV6,
            hop_limit: hop,
            src_addr: osrc6,
            dst_addr: odst6,
        };
        emit6_at(&mut s, r);
        let r = buf.set(&s);
        self.scratch = s;
        match r {
            Ok(()) => Out::Fwd(Side::V6),
            Err(_) => Out::Drop(R::NoRoom),
        }
    }

    /// Builds an ICMPv6 error about the IPv6 packet in `buf` (RFC 4443), sent from the
    /// translator's own address, at most 1280 bytes. `buf` holds a packet
    /// [`Siit::xlate_v6`] has checked.
    pub(super) fn icmp6_error(
        &mut self,
        buf: &mut PacketBuf,
        now: Instant,
        typ: u8,
        code: u8,
        rest: [u8; 4],
        reason: SiitDrop,
    ) -> Out {
        let p = buf.as_slice();
        let ip = Ipv6Packet::new_unchecked(p);
        let src = ip.src_addr();
        let dst = ip.dst_addr();
        // RFC 4443 §2.4(e.1): not about an ICMPv6 error message, whatever extension headers
        // come before it (a chain that cannot be walked, or an ICMPv6 header that cannot be
        // read in a non-first fragment, counts as one). RFC 7915 §5.4: a packet the
        // translator discards is answered "unless the discarded packet is itself an ICMPv6
        // message" (any type). RFC 4443 §2.4(e.2-e.3): not about a multicast destination
        // (bar Packet Too Big, which is not needed here) or a source that is not unicast.
        let about_error = match upper_layer6(p) {
            Some((proto::ICMPV6, off, later)) => {
                reason == R::ExtensionAfterFragment || later || p.get(off).is_none_or(|&t| icmpv6::is_error(t))
            }
            Some(_) => false,
            None => true,
        };
        let bad_src = !sixgate_core::router::icmp6_error_allowed_to(src);
        if about_error || bad_src || (dst.is_multicast() && typ != icmpv6::PACKET_TOO_BIG) {
            self.suppressed += 1;
            return Out::Drop(reason);
        }
        if !self.bucket.take(now, self.cfg.icmp_rate.per_second, self.cfg.icmp_rate.burst) {
            self.suppressed += 1;
            return Out::Drop(reason);
        }
        let mut s = std::mem::take(&mut self.scratch);
        sixgate_core::icmp6::build_error(
            &mut s,
            self.cfg.own_ipv6,
            src,
            sixgate_core::router::DEFAULT_HOP_LIMIT,
            typ,
            code,
            rest,
            p,
        );
        let r = buf.set(&s);
        self.scratch = s;
        match r {
            Ok(()) => Out::Reply(Side::V6, Some(reason)),
            Err(_) => Out::Drop(R::NoRoom),
        }
    }

    /// RFC 7915 §5.2-5.3: translates an ICMPv6 error (unfragmented) and the packet inside;
    /// its ICMPv6 header is at `off` and holds at least 8 bytes. `frag_id` is the
    /// Identification of the (atomic) Fragment Header it came with.
    pub(super) fn err64(&mut self, buf: &mut PacketBuf, now: Instant, off: usize, frag_id: Option<u32>) -> Out {
        let p = buf.as_slice();
        let outer = Ipv6Packet::new_unchecked(p);
        let osrc6 = outer.src_addr();
        let odst6 = outer.dst_addr();
        let Some(msg) = p.get(off..) else { return Out::Drop(R::Malformed) };
        let Ok(m) = Icmpv6Packet::new_checked(msg) else { return Out::Drop(R::Malformed) };
        if !m.verify_checksum(osrc6, odst6) {
            return Out::Drop(R::IcmpChecksum);
        }
        let (t4, c4, how) = match icmp::map_6to4(m.msg_type(), m.msg_code(), m.rest()) {
            Map::Error { typ, code, rest } => (typ, code, rest),
            Map::SingleHop => return Out::Drop(R::SingleHop),
            Map::Echo(_) => return Out::Drop(R::UntranslatableIcmp),
            Map::Drop => {
                let pointer =
                    m.msg_type() == icmpv6::PARAM_PROBLEM && m.msg_code() == icmpv6::code::ERRONEOUS_HEADER_FIELD;
                return Out::Drop(if pointer { R::UntranslatablePointer } else { R::UntranslatableIcmp });
            }
        };
        // RFC 4884 §4.2: ICMPv6 Destination Unreachable and Time Exceeded carry a length
        // attribute (64-bit words) in the fifth octet.
        let la = if icmpv6::has_length_attr(m.msg_type()) { usize::from(m.length_attr()) * 8 } else { 0 };
        let body = m.payload();
        let (orig, ext) = if la > 0 && la <= body.len() { body.split_at(la) } else { (body, &[][..]) };

        // The inner IPv6 packet (its header whole; the rest may be cut short) and its
        // extension headers.
        if orig.len() < ipv6::HEADER_LEN {
            return Out::Drop(R::Malformed);
        }
        let inner = Ipv6Packet::new_unchecked(orig);
        if inner.version() != 6 {
            return Out::Drop(R::Malformed);
        }
        let iplen = usize::from(inner.payload_len());
        // Zero padding after the quoted datagram (RFC 4884 §4) is not datagram: the quote
        // ends at 40 + its own Payload Length when that is shorter (a zero Payload Length,
        // possibly a jumbogram, is left as it is).
        let orig =
            if iplen > 0 && ipv6::HEADER_LEN + iplen < orig.len() { &orig[..ipv6::HEADER_LEN + iplen] } else { orig };
        let mut inh = inner.next_header();
        let mut ioff_hdr = ipv6::HEADER_LEN;
        let mut ifrag: Option<(usize, bool, u32)> = None;
        while matches!(inh, proto::HOP_BY_HOP | proto::ROUTING | proto::DST_OPTS | proto::FRAGMENT) {
            if ioff_hdr + ext::MIN_LEN > orig.len() {
                return Out::Drop(R::Malformed);
            }
            if inh == proto::FRAGMENT {
                let f = FragmentHeader::new_unchecked(&orig[ioff_hdr..]);
                ifrag = Some((f.frag_offset(), f.more_frags(), f.ident()));
            }
            let len = ext::header_len(inh, orig[ioff_hdr + ext::LENGTH]);
            inh = orig[ioff_hdr + ext::NEXT_HEADER];
            ioff_hdr += len;
        }
        if ioff_hdr > orig.len() {
            return Out::Drop(R::Malformed);
        }
        let ifoff = ifrag.map_or(0, |f| f.0);
        let il4 = &orig[ioff_hdr..];
        if inh == proto::ICMPV6 && ifoff == 0 && il4.first().is_some_and(|&t| icmpv6::is_error(t)) {
            return Out::Drop(R::NestedIcmpError);
        }
        let osrc4 = self.map64(osrc6, R::UntranslatableSource).unwrap_or_else(|_| self.rfc6791_v4(osrc6));
        let odst4 = match self.map64(odst6, R::UntranslatableDestination) {
            Ok(a) => a,
            Err(r) => return Out::Drop(r),
        };
        let isrc6 = inner.src_addr();
        let idst6 = inner.dst_addr();
        let (isrc4, idst4) =
            match (self.map64(isrc6, R::UntranslatableSource), self.map64(idst6, R::UntranslatableDestination)) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(r), _) | (_, Err(r)) => return Out::Drop(r),
            };
        // Upper-layer length of the original packet.
        let iulen = (ipv6::HEADER_LEN + iplen).saturating_sub(ioff_hdr);
        let itotal = (ipv4::HEADER_LEN + iulen).min(0xffff);
        let (idf, iid, imf) = match ifrag {
            Some((_, m, id)) => (false, id as u16, m),
            None => (itotal > 1260, 0, false),
        };
        let iproto = if inh == proto::ICMPV6 { proto::ICMP } else { inh };

        let mut s = std::mem::take(&mut self.scratch);
        s.clear();
        s.resize(ERR4_HDRS + ipv4::HEADER_LEN, 0);
        let iflags = (if idf { DF } else { 0 }) | (if imf { MF } else { 0 }) | (ifoff / 8) as u16;
        let itos = self.cfg.tos.apply(inner.traffic_class());
        let r = Ipv4Repr {
            tos: itos,
            total_len: itotal as u16,
            ident: iid,
            frag_field: iflags,
            ttl: inner.hop_limit(),
            protocol: iproto,
            src_addr: isrc4,
            dst_addr: idst4,
        };
        emit4_at(&mut s, ERR4_HDRS, r);
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
            if let Some(field) = rfc4884_field(s.len() - ERR4_HDRS, ext.len(), ICMP4_ERROR_MAX - ipv4::HEADER_LEN, 4) {
                s.resize(ERR4_HDRS + field, 0);
                len_attr = (field / 4) as u8;
                s.extend_from_slice(ext);
            }
        }
        // RFC 1812 §4.3.2.3: an ICMPv4 error is at most 576 bytes.
        s.truncate(ICMP4_ERROR_MAX);
        let rest4: [u8; 4] = match how {
            Rest::Unused => [0, len_attr, 0, 0],
            Rest::Pointer(ptr) => [ptr, len_attr, 0, 0],
            Rest::Mtu => {
                let m = icmp::ptb_mtu_6to4(m.rest_word(), self.cfg.ipv4_mtu, self.cfg.ipv6_mtu).to_be_bytes();
                [0, len_attr, m[0], m[1]]
            }
        };
        if let Some(msg4) = s.get_mut(ipv4::HEADER_LEN..) {
            let mut m4 = Icmpv4Packet::new_unchecked(msg4);
            m4.set_msg_type(t4);
            m4.set_msg_code(c4);
            m4.set_rest(rest4);
            m4.fill_checksum();
        }
        let total = s.len();
        // RFC 7915 §5.1.1: with a Fragment Header, the Identification is the low-order 16
        // bits of its Identification (errors included); without, a fresh one.
        let id = match frag_id {
            Some(x) => x as u16,
            None => self.ident(),
        };
        let tos = self.cfg.tos.apply(outer.traffic_class());
        // The hop limit was checked in xlate_v6 (forward_hop); 0 cannot be reached here.
        let ttl4 = forward_hop(outer.hop_limit()).unwrap_or(0);
        let r = Ipv4Repr {
            tos,
            total_len: total as u16,
            ident: id,
            frag_field: 0,
            ttl: ttl4,
            protocol: proto::ICMP,
            src_addr: osrc4,
            dst_addr: odst4,
        };
        emit4_at(&mut s, 0, r);
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
    protocol: u8,
    s4: Ipv4Addr,
    d4: Ipv4Addr,
    s6: Ipv6Addr,
    d6: Ipv6Addr,
    ulen: usize,
) {
    if let Some((_, at)) = transport_checksum(protocol) {
        let udp = protocol == proto::UDP;
        if l4.len() >= at + 2 {
            let hc = be16(l4, at);
            if udp && !checksum::udp_has_checksum(hc) {
                return;
            }
            let c = checksum::update(hc, add(sum_v4(s4), sum_v4(d4)), add(sum_v6(s6), sum_v6(d6)));
            put16(l4, at, if udp { checksum::udp_field(c) } else { c });
        }
    } else if protocol == proto::ICMP && l4.len() >= 4 {
        // The type, code and checksum are the first four bytes.
        let mut m = Icmpv4Packet::new_unchecked(l4);
        let t6 = match m.msg_type() {
            icmpv4::ECHO_REQUEST => icmpv6::ECHO_REQUEST,
            icmpv4::ECHO_REPLY => icmpv6::ECHO_REPLY,
            _ => return,
        };
        let old = u32::from(m.type_code_word());
        let new = add(u32::from(u16::from_be_bytes([t6, m.msg_code()])), pseudo_v6(s6, d6, proto::ICMPV6, ulen as u32));
        let c = checksum::update(m.checksum(), old, new);
        m.set_msg_type(t6);
        m.set_checksum(c);
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
    if let Some((_, at)) = transport_checksum(nh) {
        if l4.len() >= at + 2 {
            let hc = be16(l4, at);
            let c = checksum::update(hc, add(sum_v6(s6), sum_v6(d6)), add(sum_v4(s4), sum_v4(d4)));
            put16(l4, at, if nh == proto::UDP { checksum::udp_field(c) } else { c });
        }
    } else if nh == proto::ICMPV6 && l4.len() >= 4 {
        // The type, code and checksum are the first four bytes.
        let mut m = Icmpv6Packet::new_unchecked(l4);
        let t4 = match m.msg_type() {
            icmpv6::ECHO_REQUEST => icmpv4::ECHO_REQUEST,
            icmpv6::ECHO_REPLY => icmpv4::ECHO_REPLY,
            _ => return,
        };
        let old = add(u32::from(m.type_code_word()), pseudo_v6(s6, d6, proto::ICMPV6, ulen as u32));
        let new = u32::from(u16::from_be_bytes([t4, m.msg_code()]));
        let c = checksum::update(m.checksum(), old, new);
        m.set_msg_type(t4);
        m.set_checksum(c);
    }
}
