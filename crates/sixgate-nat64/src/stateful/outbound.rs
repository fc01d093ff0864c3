//! IPv6 → IPv4 (RFC 6146 §3.5: the session tables from the IPv6 side, §3.5.4: ICMPv6
//! errors), and the ICMPv6 error for a refused new flow (§3.5.1.1, §3.5.3).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::Side;
use sixgate_core::rfc6052;
use sixgate_core::router::forward_hop;
use sixgate_core::wire::{be16, be32};

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
        if !matches!(r, Nat64Drop::PoolExhausted | Nat64Drop::SessionLimit | Nat64Drop::SourceLimit) {
            return Err(r);
        }
        let p = buf.as_slice();
        let src = Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap_or_default());
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
        if p.len() < 40 || p[0] >> 4 != 6 {
            return Err(Nat64Drop::Xlate(SiitDrop::Malformed));
        }
        let len = (40 + usize::from(u16::from_be_bytes([p[4], p[5]]))).min(p.len());
        let mut nh = p[6];
        let mut off = 40;
        let mut frag = None;
        while let 0 | 43 | 60 | 44 = nh {
            // RFC 7915 §5.1.1: an extension header after the Fragment Header ends the walk
            // (the packet is refused, `crate::siit::refused_after_fragment`).
            if frag.is_some() {
                break;
            }
            if off + 8 > len {
                return Err(Nat64Drop::Xlate(SiitDrop::Malformed));
            }
            if nh == 44 {
                let fo = be16(p, off + 2);
                frag = Some((fo & 0xfff8, fo & 1 == 1, be32(p, off + 4)));
                nh = p[off];
                off += 8;
            } else {
                nh = p[off];
                off += (usize::from(p[off + 1]) + 1) * 8;
            }
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
        let dst6 = Ipv6Addr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap_or_default());
        // Local delivery, hop-limit errors and an extension header after the Fragment
        // Header (refused, RFC 6146 §3.5 → RFC 7915 §5.1.1) need no state: the translator
        // answers. Hop limit: RFC 7915 §5.1 via sixgate_core::router::forward_hop.
        let ext_after_frag = frag.is_some() && crate::siit::refused_after_fragment(nh);
        if dst6 == self.siit.config().own_ipv6 || forward_hop(p[7]).is_none() || ext_after_frag {
            return Ok(self.siit.xlate_v6_with(buf, now, None));
        }
        // A fragment header with offset 0 and M clear is a whole datagram.
        let frag = frag.filter(|f| f.0 != 0 || f.1);
        let end = (40 + usize::from(u16::from_be_bytes([p[4], p[5]]))).min(p.len());
        let l4 = &p[off..end];
        let src6 = Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap_or_default());
        if sixgate_core::class::is_link_scoped_v6(src6, dst6) {
            return Err(Nat64Drop::Xlate(SiitDrop::LinkLocal));
        }
        if !self.pool6.contains(dst6) {
            return Err(Nat64Drop::Xlate(SiitDrop::UntranslatableDestination));
        }
        let remote =
            rfc6052::extract(&self.pool6, dst6).map_err(|_| Nat64Drop::Xlate(SiitDrop::UntranslatableDestination))?;
        let fkey = match frag {
            Some((fo, _, id)) if nh == 6 || nh == 17 => {
                let k = FKey { v6: true, src: u128::from(src6), dst: u128::from(dst6), id, proto: nh };
                if fo != 0 {
                    // RFC 6146 §3.4: a non-first fragment follows its first fragment's
                    // mapping.
                    return self.fragment(buf, now, k, false, t);
                }
                Some(k)
            }
            // RFC 7915 §1.2: ICMP fragments are not translated (see the module doc).
            Some(_) if nh == 58 => return Err(Nat64Drop::Xlate(SiitDrop::FragmentedIcmp)),
            Some(_) => return Err(Nat64Drop::UnsupportedProtocol),
            None => None,
        };
        let (proto, port, rport, flags) = match nh {
            6 if l4.len() >= 20 => (TCP, be16(l4, 0), be16(l4, 2), l4[13]),
            17 if l4.len() >= 8 => (UDP, be16(l4, 0), be16(l4, 2), 0),
            58 if l4.len() >= 8 && l4[0] < 128 => return self.err64(buf, now, off),
            // RFC 6146 §3.5.3: echo request (and reply) identifiers are the "ports".
            58 if l4.len() >= 8 && (l4[0] == 128 || l4[0] == 129) => (ICMP, be16(l4, 4), 0, l4[0]),
            58 if l4.len() >= 8 => return Err(Nat64Drop::UnsupportedProtocol),
            6 | 17 | 58 => return Err(Nat64Drop::Xlate(SiitDrop::Malformed)),
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
                if proto == ICMP && flags == 129 {
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
                // Source port (or identifier) → the pool's.
                let at = if proto == ICMP { 24 } else { 20 };
                let ck = match proto {
                    TCP => Some((36, false)),
                    UDP => Some((26, true)),
                    _ => Some((22, false)),
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
        let inner = p.get(off + 8..).ok_or(Nat64Drop::Xlate(SiitDrop::Malformed))?;
        if inner.len() < 48 || inner[0] >> 4 != 6 {
            return Err(Nat64Drop::Xlate(SiitDrop::Malformed));
        }
        let idst = Ipv6Addr::from(<[u8; 16]>::try_from(&inner[24..40]).unwrap_or_default());
        let il4 = &inner[40..];
        let (proto, port) = match inner[6] {
            6 | 17 => (inner[6], be16(il4, 2)),
            58 if il4[0] == 129 || il4[0] == 128 => (ICMP, be16(il4, 4)),
            _ => return Err(Nat64Drop::UnsupportedProtocol),
        };
        let b = *self.t.bib.get(self.t.find_b6(proto, &idst.octets(), port).ok_or(Nat64Drop::NoBinding)?);
        match self.siit.xlate_v6_with(buf, now, Some((idst, Ipv4Addr::from(self.pool.addr_of(b.a4))))) {
            Out::Fwd(Side::V4) => {
                // Outer IPv4 20, ICMPv4 8, inner IPv4 20 (always rebuilt without options).
                let p = buf.as_mut_slice();
                let (at, ck) = match proto {
                    TCP => (50, Some((64, false))),
                    UDP => (50, Some((54, true))),
                    _ => (52, Some((50, false))),
                };
                rewrite(p, at, b.p4, ck, Some(22));
                // RFC 6146 §3.8 hairpinning: an error to a pool address goes back in, like
                // any other packet (outbound).
                if self.local_hairpin && self.pool.has_addr(be32(p, 16)) {
                    return self.inbound(buf, now, true);
                }
                Ok(Out::Fwd(Side::V4))
            }
            other => Ok(other),
        }
    }
}
