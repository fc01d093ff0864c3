//! IPv4 → IPv6 (RFC 6146 §3.5: the session tables from the IPv4 side, filtering and the
//! unsolicited-SYN rule; §3.5.4: ICMPv4 errors).

use std::net::Ipv4Addr;
use std::net::Ipv6Addr;
use std::time::Instant;

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::Side;
use sixgate_core::router::forward_hop;
use sixgate_core::wire::{be16, be32};

use super::fragments::FKey;
use super::ports::rewrite;
use super::tables::{Bib, SKey, ICMP, TCP, UDP};
use super::tcp::SYN;
use super::{Filtering, Nat64, Nat64Drop, TcpState};
use crate::reason::SiitDrop;
use crate::siit::Out;

impl Nat64 {
    pub(super) fn inbound(&mut self, buf: &mut PacketBuf, now: Instant, hairpin: bool) -> Result<Out, Nat64Drop> {
        let t = self.now_ms(now);
        let p = buf.as_slice();
        if p.len() < 20 || p[0] >> 4 != 4 {
            return Err(Nat64Drop::Xlate(SiitDrop::Malformed));
        }
        let ihl = usize::from(p[0] & 0x0f) * 4;
        let total = usize::from(be16(p, 2));
        if ihl < 20 || total < ihl || total > p.len() {
            return Err(Nat64Drop::Xlate(SiitDrop::Malformed));
        }
        let src = be32(p, 12);
        let dst = be32(p, 16);
        // RFC 7915 §4.1 via sixgate_core::router::forward_hop, applied by the translator.
        if !hairpin && (Ipv4Addr::from(dst) == self.siit.config().own_ipv4 || forward_hop(p[8]).is_none()) {
            return Ok(self.siit.xlate_v4_with(buf, now, false, None));
        }
        let Some(a4) = self.pool.idx(dst) else {
            return Err(Nat64Drop::Xlate(SiitDrop::UntranslatableDestination));
        };
        let ff = be16(p, 6);
        let fkey = if ff & 0x3fff != 0 {
            match p[9] {
                6 | 17 => {}
                // RFC 7915 §1.2: ICMP fragments are not translated (see the module doc).
                1 => return Err(Nat64Drop::Xlate(SiitDrop::FragmentedIcmp)),
                _ => return Err(Nat64Drop::UnsupportedProtocol),
            }
            let k =
                FKey { v6: false, src: u128::from(src), dst: u128::from(dst), id: u32::from(be16(p, 4)), proto: p[9] };
            if ff & 0x1fff != 0 {
                // RFC 6146 §3.4: a non-first fragment follows its first fragment's mapping.
                return self.fragment(buf, now, k, hairpin, t);
            }
            Some(k)
        } else {
            None
        };
        let l4 = &p[ihl..total];
        let (proto, port, rport, flags) = match p[9] {
            6 if l4.len() >= 20 => (TCP, be16(l4, 2), be16(l4, 0), l4[13]),
            17 if l4.len() >= 8 => (UDP, be16(l4, 2), be16(l4, 0), 0),
            1 if l4.len() >= 8 && (l4[0] == 0 || l4[0] == 8) => (ICMP, be16(l4, 4), 0, l4[0]),
            1 if l4.len() >= 8 && matches!(l4[0], 3 | 11 | 12) => return self.err46(buf, now, ihl, hairpin),
            1 if l4.len() >= 8 => return Err(Nat64Drop::UnsupportedProtocol),
            6 | 17 | 1 => return Err(Nat64Drop::Xlate(SiitDrop::Malformed)),
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
                let l = if p.get(6) == Some(&44) { 48 } else { 40 };
                let (at, ck) = match proto {
                    TCP => (l + 2, Some((l + 16, false))),
                    UDP => (l + 2, Some((l + 6, true))),
                    _ => (l + 4, Some((l + 2, false))),
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
        let inner = &p[ihl + 8..];
        if inner.len() < 28 || inner[0] >> 4 != 4 {
            return Err(Nat64Drop::Xlate(SiitDrop::Malformed));
        }
        let iihl = usize::from(inner[0] & 0x0f) * 4;
        if iihl < 20 || inner.len() < iihl + 8 {
            return Err(Nat64Drop::Xlate(SiitDrop::Malformed));
        }
        let isrc = be32(inner, 12);
        // The error is about a packet the pool address sent, so it is addressed to it.
        if isrc != be32(p, 16) {
            return Err(Nat64Drop::NoBinding);
        }
        let il4 = &inner[iihl..];
        let (proto, port) = match inner[9] {
            6 | 17 => (inner[9], be16(il4, 0)),
            1 if il4[0] == 8 || il4[0] == 0 => (ICMP, be16(il4, 4)),
            _ => return Err(Nat64Drop::UnsupportedProtocol),
        };
        let a4 = self.pool.idx(isrc).ok_or(Nat64Drop::NoBinding)?;
        let b6 = *self.t.bib.get(self.t.find_b4(proto, a4, port).ok_or(Nat64Drop::NoBinding)?);
        let client = Ipv6Addr::from(b6.client);
        match self.siit.xlate_v4_with(buf, now, hairpin, Some((client, Ipv4Addr::from(isrc)))) {
            Out::Fwd(Side::V6) => {
                let p = buf.as_mut_slice();
                // Outer IPv6 40, ICMPv6 8, inner IPv6 40 (+8 with a fragment header).
                let l = if p.get(54) == Some(&44) { 96 } else { 88 };
                let (at, ck) = match proto {
                    TCP => (l, Some((l + 16, false))),
                    UDP => (l, Some((l + 6, true))),
                    _ => (l + 4, Some((l + 2, false))),
                };
                rewrite(p, at, b6.port, ck, Some(42));
                Ok(Out::Fwd(Side::V6))
            }
            other => Ok(other),
        }
    }
}
