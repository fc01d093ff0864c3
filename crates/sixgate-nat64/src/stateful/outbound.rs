//! IPv6 → IPv4 (RFC 6146 §3.5: the session tables from the IPv6 side, §3.5.4: ICMPv6
//! errors), and the ICMPv6 error for a refused new flow (§3.5.1.1, §3.5.3).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::Side;
use sixgate_core::rfc6052;
use sixgate_core::router::forward_hop;
use sixgate_core::wire::ipv6::ext;
use sixgate_core::wire::{
    fragment, icmpv4, icmpv6, ipv4, ipv6, proto, tcp, udp, FragmentHeader, Icmpv6Packet, Ipv4Packet, Ipv6Packet,
    TcpPacket, UdpPacket,
};

use super::fragments::{FKey, Frag6};
use super::ports::rewrite;
use super::tables::{SKey, ICMP, TCP, UDP};
use super::tcp::SYN;
use super::{Nat64, Nat64Drop, TcpState};
use crate::reason::SiitDrop;
use crate::siit::Out;

impl Nat64 {
    /// A new flow from the IPv6 side (the packet in `buf`) was refused for `r`. When no
    /// IPv4 transport address could be given to it — the pool is exhausted, or a limit
    /// keeps its BIB entry and session from being created — RFC 6146 says what to send:
    /// "If it is not possible to allocate an appropriate IPv4 transport address or create
    /// a BIB entry, then the packet is discarded. The NAT64 SHOULD send an ICMPv6
    /// Destination Unreachable error message with Code 3 (Address Unreachable)" (§3.5.1.1
    /// for UDP, which §3.5.2.2 applies to a TCP V6 SYN, and §3.5.3 for ICMP queries). A
    /// limit that refuses a session while the flow's BIB entry exists gets the same
    /// answer: the session is what the packet needed, and the sender learns the same.
    /// Rate-limited by the engine's ICMP error bucket; never to a source that is not
    /// unicast (RFC 4443 §2.4(e)); an error that is not sent is counted
    /// ([`Nat64::icmp_suppressed`]). The refusal is counted for `r` either way, and a
    /// sent error as a reply. Other refusals (the creation budget: congestion, RFC 4443
    /// §3.1) send nothing.
    pub(super) fn refuse(&mut self, buf: &mut PacketBuf, now: Instant, r: Nat64Drop) -> Result<Out, Nat64Drop> {
        if !matches!(
            r,
            Nat64Drop::PoolExhausted
                | Nat64Drop::SessionLimit
                | Nat64Drop::SourceLimit
                | Nat64Drop::BlockLimit
                | Nat64Drop::SubscriberPorts
        ) {
            return Err(r);
        }
        let p = buf.as_slice();
        let src = p.get(..ipv6::HEADER_LEN).map_or(Ipv6Addr::UNSPECIFIED, |h| Ipv6Packet::new_unchecked(h).src_addr());
        if !sixgate_core::router::icmp6_error_allowed_to(src)
            || !self.bucket.take(now, self.icmp_rate.per_second, self.icmp_rate.burst)
        {
            self.icmp_suppressed += 1;
            return Err(r);
        }
        // Type 1 Destination Unreachable, code 3 Address Unreachable (RFC 6146 §3.5.1.1,
        // §3.5.3), unused word 0; as much of the invoking packet as fits in the minimum
        // MTU (RFC 4443 §3.1).
        let mut s = Vec::new();
        use sixgate_core::wire::icmpv6;
        let (typ, code) = (icmpv6::DEST_UNREACHABLE, icmpv6::code::ADDRESS_UNREACHABLE);
        let hop_limit = sixgate_core::router::DEFAULT_HOP_LIMIT;
        sixgate_core::icmp6::build_error(&mut s, self.siit.config().own_ipv6, src, hop_limit, typ, code, [0; 4], p);
        if buf.set(&s).is_err() {
            self.icmp_suppressed += 1;
            return Err(r);
        }
        // Counted as answered for `r` by `verdict`.
        self.refused = Some(r);
        Ok(Out::Reply(Side::V6, None))
    }

    /// Walks the IPv6 extension headers: the upper-layer offset and protocol, and the
    /// fragment header's (offset, more fragments, identification) if there is one. The
    /// walk stops at an extension header after the Fragment Header (returned as the
    /// protocol), which the translator refuses.
    pub(super) fn tuple6(&self, p: &[u8]) -> Result<(usize, u8, Option<Frag6>), Nat64Drop> {
        if p.len() < ipv6::HEADER_LEN {
            return Err(Nat64Drop::Xlate(SiitDrop::Malformed));
        }
        let ip = Ipv6Packet::new_unchecked(p);
        if ip.version() != 6 {
            return Err(Nat64Drop::Xlate(SiitDrop::Malformed));
        }
        // The Payload Length is clamped to the buffer, not checked against it: a packet
        // cut short is the translator's to refuse.
        let len = (ipv6::HEADER_LEN + usize::from(ip.payload_len())).min(p.len());
        let mut nh = ip.next_header();
        let mut off = ipv6::HEADER_LEN;
        let mut frag = None;
        while let proto::HOP_BY_HOP | proto::ROUTING | proto::DST_OPTS | proto::FRAGMENT = nh {
            // RFC 7915 §5.1.1: an extension header after the Fragment Header ends the walk
            // (the packet is refused, `crate::siit::refused_after_fragment`).
            if frag.is_some() {
                break;
            }
            if off + ext::MIN_LEN > len {
                return Err(Nat64Drop::Xlate(SiitDrop::Malformed));
            }
            let h = &p[off..off + ext::MIN_LEN];
            if nh == proto::FRAGMENT {
                let f = FragmentHeader::new_unchecked(h);
                let fo = f.offset_word();
                frag = Some((fo & fragment::OFFSET_MASK, fo & fragment::M != 0, f.ident()));
            }
            off += ext::header_len(nh, h[ext::LENGTH]);
            nh = h[ext::NEXT_HEADER];
        }
        if off > len {
            return Err(Nat64Drop::Xlate(SiitDrop::Malformed));
        }
        Ok((off, nh, frag))
    }

    pub(super) fn outbound(&mut self, buf: &mut PacketBuf, now: Instant) -> Result<Out, Nat64Drop> {
        let t = self.now_ms(now);
        let p = buf.as_slice();
        let (off, nh, frag) = self.tuple6(p)?;
        // `tuple6` checked the header.
        let ip = Ipv6Packet::new_unchecked(p);
        let dst6 = ip.dst_addr();
        // Local delivery, hop-limit errors and an extension header after the Fragment
        // Header (refused, RFC 6146 §3.5 → RFC 7915 §5.1.1) need no state: the translator
        // answers. Hop limit: RFC 7915 §5.1 via sixgate_core::router::forward_hop.
        let ext_after_frag = frag.is_some() && crate::siit::refused_after_fragment(nh);
        if dst6 == self.siit.config().own_ipv6 || forward_hop(ip.hop_limit()).is_none() || ext_after_frag {
            return Ok(self.siit.xlate_v6_with(buf, now, None));
        }
        // A fragment header with offset 0 and M clear is a whole datagram.
        let frag = frag.filter(|f| f.0 != 0 || f.1);
        let end = (ipv6::HEADER_LEN + usize::from(ip.payload_len())).min(p.len());
        let l4 = &p[off..end];
        let src6 = ip.src_addr();
        if sixgate_core::class::is_link_scoped_v6(src6, dst6) {
            return Err(Nat64Drop::Xlate(SiitDrop::LinkLocal));
        }
        if !self.pool6.contains(dst6) {
            return Err(Nat64Drop::Xlate(SiitDrop::UntranslatableDestination));
        }
        let remote =
            rfc6052::extract(&self.pool6, dst6).map_err(|_| Nat64Drop::Xlate(SiitDrop::UntranslatableDestination))?;
        let fkey = match frag {
            Some((fo, _, id)) if nh == proto::TCP || nh == proto::UDP => {
                let k = FKey { v6: true, src: u128::from(src6), dst: u128::from(dst6), id, proto: nh };
                if fo != 0 {
                    // RFC 6146 §3.4: a non-first fragment follows its first fragment's
                    // mapping.
                    return self.fragment(buf, now, k, false, t);
                }
                Some(k)
            }
            // RFC 7915 §1.2: ICMP fragments are not translated (see the module doc).
            Some(_) if nh == proto::ICMPV6 => return Err(Nat64Drop::Xlate(SiitDrop::FragmentedIcmp)),
            Some(_) => return Err(Nat64Drop::UnsupportedProtocol),
            None => None,
        };
        // Each view is made once the length of its fixed header is checked.
        let (proto, port, rport, flags) = match nh {
            proto::TCP if l4.len() >= tcp::HEADER_LEN => {
                let t = TcpPacket::new_unchecked(l4);
                (TCP, t.src_port(), t.dst_port(), t.flags())
            }
            proto::UDP if l4.len() >= udp::HEADER_LEN => {
                let u = UdpPacket::new_unchecked(l4);
                (UDP, u.src_port(), u.dst_port(), 0)
            }
            proto::ICMPV6 if l4.len() >= icmpv6::HEADER_LEN => {
                let m = Icmpv6Packet::new_unchecked(l4);
                match m.msg_type() {
                    t if icmpv6::is_error(t) => return self.err64(buf, now, off),
                    // RFC 6146 §3.5.3: echo request (and reply) identifiers are the "ports".
                    icmpv6::ECHO_REQUEST | icmpv6::ECHO_REPLY => (ICMP, m.echo_ident(), 0, m.msg_type()),
                    _ => return Err(Nat64Drop::UnsupportedProtocol),
                }
            }
            proto::TCP | proto::UDP | proto::ICMPV6 => return Err(Nat64Drop::Xlate(SiitDrop::Malformed)),
            _ => return Err(Nat64Drop::UnsupportedProtocol),
        };
        let key = SKey { client: src6.octets(), remote: u32::from(remote), port, rport, proto };
        let mut created = false;
        let (slot, a4, p4) = match self.touch(&key, Side::V6, flags, t) {
            Some(found) => found,
            None => {
                // RFC 6146 §3.5.2.2 CLOSED: only a SYN opens a TCP session from IPv6.
                if proto == TCP && flags & SYN == 0 {
                    return Err(Nat64Drop::TcpNotSyn);
                }
                // An echo reply opens nothing (RFC 6146 §3.5.3: requests create state).
                if proto == ICMP && flags == icmpv6::ECHO_REPLY {
                    return Err(Nat64Drop::NoSession);
                }
                created = true;
                let st = if proto == TCP { TcpState::V6Init } else { TcpState::Open };
                let (slot, a4, p4) = match self.create(key, st, now, t) {
                    Ok(c) => c,
                    Err(r) => return self.refuse(buf, now, r),
                };
                if proto == TCP && !self.held.is_empty() {
                    self.simultaneous_open(slot, t);
                }
                (slot, a4, p4)
            }
        };
        let over = Some((src6, Ipv4Addr::from(self.pool.addr_of(a4))));
        let out = self.siit.xlate_v6_with(buf, now, over);
        match out {
            Out::Fwd(Side::V4) => {
                // Source port (or identifier) → the pool's. The translated IPv4 header
                // carries no options (RFC 7915 §5.1).
                let l = ipv4::HEADER_LEN;
                let (at, ck) = match proto {
                    TCP => (l + tcp::SRC_PORT_AT, Some((l + tcp::CHECKSUM_AT, false))),
                    UDP => (l + udp::SRC_PORT_AT, Some((l + udp::CHECKSUM_AT, true))),
                    _ => (l + icmpv4::ECHO_IDENT_AT, Some((l + icmpv4::CHECKSUM_AT, false))),
                };
                rewrite(buf.as_mut_slice(), at, p4, ck, None);
                if let Some(k) = fkey {
                    self.first_fragment(k, src6.octets(), a4, now, t);
                }
                // RFC 6146 §3.8 hairpinning: a destination in the pool goes back in.
                if self.local_hairpin && self.pool.has_addr(u32::from(remote)) {
                    return self.inbound(buf, now, true);
                }
                Ok(Out::Fwd(Side::V4))
            }
            other => {
                if created {
                    self.remove(slot);
                }
                Ok(other)
            }
        }
    }

    /// RFC 6146 §3.5.4 (ICMPv6 error from the IPv6 side): the packet inside went from the
    /// remote to the IPv6 host; its destination transport address names the BIB entry.
    pub(super) fn err64(&mut self, buf: &mut PacketBuf, now: Instant, off: usize) -> Result<Out, Nat64Drop> {
        let p = buf.as_slice();
        let inner = p.get(off + icmpv6::HEADER_LEN..).ok_or(Nat64Drop::Xlate(SiitDrop::Malformed))?;
        // The quoted header (a truncated quote's Payload Length may exceed what is there)
        // and the 8 bytes of transport after it.
        if inner.len() < ipv6::HEADER_LEN + 8 {
            return Err(Nat64Drop::Xlate(SiitDrop::Malformed));
        }
        let ih = Ipv6Packet::new_unchecked(inner);
        if ih.version() != 6 {
            return Err(Nat64Drop::Xlate(SiitDrop::Malformed));
        }
        let idst = ih.dst_addr();
        let il4 = &inner[ipv6::HEADER_LEN..];
        let (proto, port) = match ih.next_header() {
            // Destination port: at the same offset in TCP and UDP (and the 8 bytes hold it).
            pr @ (proto::TCP | proto::UDP) => (pr, UdpPacket::new_unchecked(il4).dst_port()),
            proto::ICMPV6 => {
                let m = Icmpv6Packet::new_unchecked(il4);
                match m.msg_type() {
                    icmpv6::ECHO_REQUEST | icmpv6::ECHO_REPLY => (ICMP, m.echo_ident()),
                    _ => return Err(Nat64Drop::UnsupportedProtocol),
                }
            }
            _ => return Err(Nat64Drop::UnsupportedProtocol),
        };
        let b = *self.t.bib.get(self.t.find_b6(proto, &idst.octets(), port).ok_or(Nat64Drop::NoBinding)?);
        match self.siit.xlate_v6_with(buf, now, Some((idst, Ipv4Addr::from(self.pool.addr_of(b.a4))))) {
            Out::Fwd(Side::V4) => {
                // Outer IPv4, ICMPv4, inner IPv4 (always rebuilt without options); the
                // quoted destination port (or echo Identifier) becomes the pool's.
                let p = buf.as_mut_slice();
                let l = 2 * ipv4::HEADER_LEN + icmpv4::HEADER_LEN;
                let (at, ck) = match proto {
                    TCP => (l + tcp::DST_PORT_AT, Some((l + tcp::CHECKSUM_AT, false))),
                    UDP => (l + udp::DST_PORT_AT, Some((l + udp::CHECKSUM_AT, true))),
                    _ => (l + icmpv4::ECHO_IDENT_AT, Some((l + icmpv4::CHECKSUM_AT, false))),
                };
                rewrite(p, at, b.p4, ck, Some(ipv4::HEADER_LEN + icmpv4::CHECKSUM_AT));
                // RFC 6146 §3.8 hairpinning: an error to a pool address goes back in, like
                // any other packet (outbound).
                let dst = p.get(..ipv4::HEADER_LEN).map(|h| Ipv4Packet::new_unchecked(h).dst_addr());
                if self.local_hairpin && dst.is_some_and(|d| self.pool.has_addr(u32::from(d))) {
                    return self.inbound(buf, now, true);
                }
                Ok(Out::Fwd(Side::V4))
            }
            other => Ok(other),
        }
    }
}
