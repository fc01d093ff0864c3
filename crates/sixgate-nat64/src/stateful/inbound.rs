//! IPv4 → IPv6 (RFC 6146 §3.5: the session tables from the IPv4 side, filtering and the
//! unsolicited-SYN rule; §3.5.4: ICMPv4 errors).

use std::net::Ipv4Addr;
use std::net::Ipv6Addr;
use std::time::Instant;

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::Side;
use sixgate_core::router::forward_hop;
use sixgate_core::wire::{icmpv4, icmpv6, ipv4, ipv6, proto, tcp, udp, Icmpv4Packet, Ipv4Packet, TcpPacket, UdpPacket};

use super::fragments::FKey;
use super::ports::{l4_after_v6, rewrite};
use super::tables::{Bib, SKey, ICMP, TCP, UDP};
use super::tcp::SYN;
use super::{Filtering, Nat64, Nat64Drop, TcpState};
use crate::reason::SiitDrop;
use crate::siit::Out;

impl Nat64 {
    pub(super) fn inbound(&mut self, buf: &mut PacketBuf, now: Instant, hairpin: bool) -> Result<Out, Nat64Drop> {
        let t = self.now_ms(now);
        let p = buf.as_slice();
        // Header length within the buffer, Total Length covering it and within the buffer.
        let ip = match Ipv4Packet::new_checked(p) {
            Ok(ip) if ip.version() == 4 => ip,
            _ => return Err(Nat64Drop::Xlate(SiitDrop::Malformed)),
        };
        let ihl = ip.header_len();
        let total = usize::from(ip.total_len());
        let src = u32::from(ip.src_addr());
        let dst = u32::from(ip.dst_addr());
        let protocol = ip.protocol();
        // RFC 7915 §4.1 via sixgate_core::router::forward_hop, applied by the translator.
        if !hairpin && (Ipv4Addr::from(dst) == self.siit.config().own_ipv4 || forward_hop(ip.ttl()).is_none()) {
            return Ok(self.siit.xlate_v4_with(buf, now, false, None));
        }
        let Some(a4) = self.pool.idx(dst) else {
            return Err(Nat64Drop::Xlate(SiitDrop::UntranslatableDestination));
        };
        let ff = ip.frag_field();
        let fkey = if ff & (ipv4::MF | ipv4::OFFSET_MASK) != 0 {
            match protocol {
                proto::TCP | proto::UDP => {}
                // RFC 7915 §1.2: ICMP fragments are not translated (see the module doc).
                proto::ICMP => return Err(Nat64Drop::Xlate(SiitDrop::FragmentedIcmp)),
                _ => return Err(Nat64Drop::UnsupportedProtocol),
            }
            let id = u32::from(ip.ident());
            let k = FKey { v6: false, src: u128::from(src), dst: u128::from(dst), id, proto: protocol };
            if ff & ipv4::OFFSET_MASK != 0 {
                // RFC 6146 §3.4: a non-first fragment follows its first fragment's mapping.
                return self.fragment(buf, now, k, hairpin, t);
            }
            Some(k)
        } else {
            None
        };
        // Within the buffer: `new_checked` above.
        let l4 = &p[ihl..total];
        // Each view is made once the length of its fixed header is checked.
        let (proto, port, rport, flags) = match protocol {
            proto::TCP if l4.len() >= tcp::HEADER_LEN => {
                let t = TcpPacket::new_unchecked(l4);
                (TCP, t.dst_port(), t.src_port(), t.flags())
            }
            proto::UDP if l4.len() >= udp::HEADER_LEN => {
                let u = UdpPacket::new_unchecked(l4);
                (UDP, u.dst_port(), u.src_port(), 0)
            }
            proto::ICMP if l4.len() >= icmpv4::HEADER_LEN => {
                let m = Icmpv4Packet::new_unchecked(l4);
                match m.msg_type() {
                    // RFC 6146 §3.5.3: the echo Identifier is the query's "port".
                    icmpv4::ECHO_REPLY | icmpv4::ECHO_REQUEST => (ICMP, m.echo_ident(), 0, m.msg_type()),
                    icmpv4::DEST_UNREACHABLE | icmpv4::TIME_EXCEEDED | icmpv4::PARAM_PROBLEM => {
                        return self.err46(buf, now, ihl, hairpin)
                    }
                    _ => return Err(Nat64Drop::UnsupportedProtocol),
                }
            }
            proto::TCP | proto::UDP | proto::ICMP => return Err(Nat64Drop::Xlate(SiitDrop::Malformed)),
            _ => return Err(Nat64Drop::UnsupportedProtocol),
        };
        // An established session: one lookup on its IPv4 side.
        let (b6, created) = if let Some(i) = self.t.find_sess4(proto, a4, port, src, rport) {
            self.touch_slot(i, Side::V4, flags, t);
            let s = self.t.sess.get(i);
            (Bib { client: s.client, port: s.port, ..Bib::default() }, None)
        } else {
            self.inbound_new(&buf.as_slice()[..total], hairpin, (proto, a4, port), (src, rport, flags), (now, t))?
        };
        let client = Ipv6Addr::from(b6.client);
        match self.siit.xlate_v4_with(buf, now, hairpin, Some((client, Ipv4Addr::from(dst)))) {
            Out::Fwd(Side::V6) => {
                let p = buf.as_mut_slice();
                // The IPv4 destination port (or echo Identifier) becomes the client's.
                let l = l4_after_v6(p);
                let (at, ck) = match proto {
                    TCP => (l + tcp::DST_PORT_AT, Some((l + tcp::CHECKSUM_AT, false))),
                    UDP => (l + udp::DST_PORT_AT, Some((l + udp::CHECKSUM_AT, true))),
                    _ => (l + icmpv6::ECHO_IDENT_AT, Some((l + icmpv6::CHECKSUM_AT, false))),
                };
                rewrite(p, at, b6.port, ck, None);
                if let Some(k) = fkey {
                    self.first_fragment(k, b6.client, a4, now, t);
                }
                Ok(Out::Fwd(Side::V6))
            }
            other => {
                if let Some(slot) = created {
                    self.remove(slot);
                }
                Ok(other)
            }
        }
    }

    /// An IPv4 packet without a session (`pkt`, to pool address index `a4`, `port`): the
    /// BIB entry, filtering and the unsolicited-SYN rule decide; returns the BIB entry and
    /// the slot of the session created for it.
    pub(super) fn inbound_new(
        &mut self,
        pkt: &[u8],
        hairpin: bool,
        to: (u8, u16, u16),
        from: (u32, u16, u8),
        (now, t): (Instant, u64),
    ) -> Result<(Bib, Option<u32>), Nat64Drop> {
        let ((proto, a4, port), (src, rport, flags)) = (to, from);
        let Some(bi) = self.t.find_b4(proto, a4, port) else {
            // RFC 6146 §3.5.2.2 CLOSED, V4 SYN to a transport address not in the BIB: held.
            if proto == TCP && flags & SYN != 0 {
                return Err(self.hold(pkt, hairpin, (a4, port), (src, rport), t));
            }
            return Err(Nat64Drop::NoBinding);
        };
        let b6 = *self.t.bib.get(bi);
        let key = SKey { client: b6.client, remote: src, port: b6.port, rport, proto };
        let allowed =
            self.filtering == Filtering::EndpointIndependent || self.t.find_adf(proto, a4, port, src).is_some();
        if proto == TCP {
            if flags & SYN == 0 {
                return Err(Nat64Drop::NoSession);
            }
            // RFC 6146 §3.5.2.2 CLOSED + V4 SYN under address-dependent filtering: held
            // for TCP_INCOMING_SYN rather than dropped.
            if !allowed {
                return Err(self.hold(pkt, hairpin, (a4, port), (src, rport), t));
            }
        } else if !allowed {
            return Err(Nat64Drop::Filtered);
        }
        let st = if proto == TCP { TcpState::V4Init } else { TcpState::Open };
        let (slot, _, _) = self.create(key, st, now, t)?;
        Ok((b6, Some(slot)))
    }

    /// RFC 6146 §3.5.4 (ICMPv4 error from the IPv4 side): the packet inside went from the
    /// pool address to the remote; its source transport address names the BIB entry.
    pub(super) fn err46(
        &mut self,
        buf: &mut PacketBuf,
        now: Instant,
        ihl: usize,
        hairpin: bool,
    ) -> Result<Out, Nat64Drop> {
        let p = buf.as_slice();
        // The caller checked the outer header and the ICMPv4 header after it.
        let outer = Ipv4Packet::new_unchecked(p);
        let inner = p.get(ihl + icmpv4::HEADER_LEN..).unwrap_or_default();
        // The quoted header (a truncated quote's Total Length may exceed what is there,
        // so only its header length is checked) and the 8 bytes of transport after it.
        if inner.len() < ipv4::HEADER_LEN + 8 {
            return Err(Nat64Drop::Xlate(SiitDrop::Malformed));
        }
        let ih = Ipv4Packet::new_unchecked(inner);
        let iihl = ih.header_len();
        if ih.version() != 4 || iihl < ipv4::HEADER_LEN || inner.len() < iihl + 8 {
            return Err(Nat64Drop::Xlate(SiitDrop::Malformed));
        }
        let isrc = u32::from(ih.src_addr());
        // The error is about a packet the pool address sent, so it is addressed to it.
        if isrc != u32::from(outer.dst_addr()) {
            return Err(Nat64Drop::NoBinding);
        }
        let il4 = &inner[iihl..];
        let (proto, port) = match ih.protocol() {
            // Source port: at the same offset in TCP and UDP (and the 8 bytes hold it).
            pr @ (proto::TCP | proto::UDP) => (pr, UdpPacket::new_unchecked(il4).src_port()),
            proto::ICMP => {
                let m = Icmpv4Packet::new_unchecked(il4);
                match m.msg_type() {
                    icmpv4::ECHO_REQUEST | icmpv4::ECHO_REPLY => (ICMP, m.echo_ident()),
                    _ => return Err(Nat64Drop::UnsupportedProtocol),
                }
            }
            _ => return Err(Nat64Drop::UnsupportedProtocol),
        };
        let a4 = self.pool.idx(isrc).ok_or(Nat64Drop::NoBinding)?;
        let b6 = *self.t.bib.get(self.t.find_b4(proto, a4, port).ok_or(Nat64Drop::NoBinding)?);
        let client = Ipv6Addr::from(b6.client);
        match self.siit.xlate_v4_with(buf, now, hairpin, Some((client, Ipv4Addr::from(isrc)))) {
            Out::Fwd(Side::V6) => {
                let p = buf.as_mut_slice();
                // Outer IPv6, ICMPv6, inner IPv6 (with a fragment header, if any); the
                // quoted source port (or echo Identifier) becomes the client's.
                let quote = ipv6::HEADER_LEN + icmpv6::HEADER_LEN;
                let l = quote + l4_after_v6(p.get(quote..).unwrap_or_default());
                let (at, ck) = match proto {
                    TCP => (l + tcp::SRC_PORT_AT, Some((l + tcp::CHECKSUM_AT, false))),
                    UDP => (l + udp::SRC_PORT_AT, Some((l + udp::CHECKSUM_AT, true))),
                    _ => (l + icmpv6::ECHO_IDENT_AT, Some((l + icmpv6::CHECKSUM_AT, false))),
                };
                rewrite(p, at, b6.port, ck, Some(ipv6::HEADER_LEN + icmpv6::CHECKSUM_AT));
                Ok(Out::Fwd(Side::V6))
            }
            other => Ok(other),
        }
    }
}
