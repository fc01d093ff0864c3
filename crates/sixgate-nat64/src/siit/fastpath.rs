//! The common-case fast path: an unfragmented TCP or UDP packet without options between
//! translatable addresses with a /96 pool6 and no EAM, translated with precomputed
//! constants in one fixed-size view of the buffer. Anything else goes to the general path,
//! which gives the same bytes (the `siit_fastpath` tests compare them).
//!
//! Why this file indexes bytes instead of using the `sixgate_core::wire` views: the fast
//! path reads both headers as 32-bit words of one fixed-size 80-byte array (20 bytes of
//! headroom, then the packet's first 60), so the compiler proves every access in bounds
//! once and emits no per-field checks; the views would re-check each field. The offsets
//! are those of RFC 791 §3.1 and RFC 8200 §3 shifted by the 20 bytes of headroom (each
//! use says which field it is); the instruction counts in BENCHMARKS.md measure the
//! difference.
use std::net::{Ipv4Addr, Ipv6Addr};

use sixgate_core::buf::PacketBuf;
use sixgate_core::checksum::{self, add, sum_v6};
use sixgate_core::class::{is_forbidden_v4, is_global_v4, MAY_BE_FORBIDDEN_V4};
use sixgate_core::engine::Side;
use sixgate_core::router::forward_hop;
use sixgate_core::wire::proto;

use crate::config::TosPolicy;

use super::Siit;

/// The common case, translated with precomputed constants: pool6 is a /96 (not multicast),
/// no EAM entry and no denylist, so an address maps by copying 12 prefix bytes next to the
/// IPv4 address (or checking and dropping them), and the transport checksum changes by a
/// constant (the /96 prefix's words, once per address: RFC 1624).
#[derive(Debug, Clone, Copy)]
pub(super) struct Fast {
    /// The /96 prefix's first 12 bytes, as they appear in an IPv6 header.
    pre: [u8; 12],
    /// RFC 1624 eqn. 3 constants for the TCP/UDP checksum field: `HC' = ~(~HC + k)` with 16-bit
    /// end-around addition. 4→6 adds the prefix's words twice (source and destination, so
    /// `k` = fold(0xffff + sum), as [`checksum::update`] computes it with nothing removed);
    /// 6→4 removes them (`k` = ~fold(sum)).
    k46: u16,
    k64: u16,
    well_known: bool,
    /// The translator's IPv4 address.
    own4: u32,
    /// The low 32 bits of the translator's IPv6 address when that address lies in pool6 (a
    /// packet to it is not translated); otherwise a value no 32-bit field equals.
    own6_low: u64,
    /// IPv6 packet size limits for IPv4 packets with DF set and clear (RFC 7915 §4.1).
    limit_df: u16,
    limit_nodf: u16,
    ipv4_mtu: u16,
    /// The traffic class and TOS policies as `(value & keep) | set`.
    tc: (u8, u8),
    tos: (u8, u8),
}

/// Folds a sum of 32-bit words (below 2^35) to its 16-bit one's-complement sum, in 1..=0xffff
/// for a non-zero sum, like `checksum::fold` does (RFC 1071 §2 (C)).
#[inline(always)]
pub(super) fn fold16(s: u64) -> u16 {
    let (lo, c) = (s as u32).overflowing_add((s >> 32) as u32);
    let x = lo + u32::from(c);
    // The high half of x + rotl(x, 16) is hi + lo with the end-around carry.
    (x.wrapping_add(x.rotate_left(16)) >> 16) as u16
}

/// 16-bit one's-complement addition (end-around carry).
#[inline(always)]
pub(super) fn add16(a: u16, b: u16) -> u16 {
    let (s, c) = a.overflowing_add(b);
    s + u16::from(c)
}

#[inline(always)]
pub(super) fn be32at(w: &[u8; 80], o: usize) -> u32 {
    u32::from_be_bytes([w[o], w[o + 1], w[o + 2], w[o + 3]])
}

/// A TOS/traffic class policy as `(keep, set)`: the result is `(v & keep) | set`.
pub(super) fn tos_bits(p: TosPolicy) -> (u8, u8) {
    match p {
        TosPolicy::Copy => (0xff, 0),
        TosPolicy::Zero => (0, 0),
        TosPolicy::Force(x) => (0, x),
    }
}

impl Siit {
    pub(super) fn with_fast_path(mut self) -> Self {
        // Not for a multicast or link-local pool6 (the general path refuses its addresses), nor for a
        // prefix whose words sum to 0 in one's complement: there the constant update gives
        // 0xffff where the general path's per-address update gives 0 for a TCP checksum
        // field of 0xffff (the same value, another representation).
        let fast_ok = |net: Ipv6Addr| {
            !net.is_multicast()
                && !sixgate_core::class::is_link_scoped_v6(net, net)
                && checksum::fold(sum_v6(net)) != 0xffff
        };
        self.fast = match self.cfg.pool6 {
            Some(p)
                if p.prefix_len() == 96
                    && fast_ok(p.net().network())
                    && self.cfg.eamt.is_empty()
                    && self.cfg.denylist4.is_empty() =>
            {
                let net = p.net().network();
                let mut pre = [0u8; 12];
                pre.copy_from_slice(&net.octets()[..12]);
                let own6 = u128::from(self.cfg.own_ipv6);
                let own6_low = if own6 >> 32 == u128::from(net) >> 32 { u64::from(own6 as u32) } else { u64::MAX };
                let sum2 = add(sum_v6(net), sum_v6(net));
                Some(Fast {
                    pre,
                    // As checksum::update(hc, 0, sum2) and update(hc, sum2, 0) compute them.
                    k46: checksum::fold(add(0xffff, sum2)),
                    k64: !checksum::fold(sum2),
                    well_known: p.is_well_known(),
                    own4: u32::from(self.cfg.own_ipv4),
                    own6_low,
                    limit_df: self.cfg.ipv6_mtu,
                    limit_nodf: self.cfg.ipv6_mtu.min(self.cfg.lowest_ipv6_mtu),
                    ipv4_mtu: self.cfg.ipv4_mtu,
                    tc: tos_bits(self.cfg.traffic_class),
                    tos: tos_bits(self.cfg.tos),
                })
            }
            _ => None,
        };
        self
    }

    /// The common-case fast path, both directions. `None` sends the packet to the general
    /// path, which handles (and counts) everything else; both give the same bytes (the
    /// `siit_fastpath` tests compare them).
    #[inline(always)]
    pub(super) fn fast(&mut self, buf: &mut PacketBuf) -> Option<Side> {
        let f = self.fast.as_ref()?;
        let (start, end) = buf.bounds();
        let len = end.wrapping_sub(start);
        // One view for both directions: 20 bytes of headroom, then the packet's first 60.
        let w: &mut [u8; 80] = buf.backing_mut().get_mut(start.checked_sub(20)?..)?.first_chunk_mut()?;
        let new_start = match w[20] >> 4 {
            4 => {
                fast_v4(f, w, len)?;
                start - 20
            }
            6 => {
                let id = self.next_id.wrapping_add(1);
                fast_v6(f, w, len, id)?;
                self.next_id = id;
                start + 20
            }
            _ => return None,
        };
        // Cannot fail: the new start is within the view, and end was valid.
        buf.set_bounds(new_start, end).ok()?;
        Some(if new_start < start { Side::V6 } else { Side::V4 })
    }
}

/// Whether two IPv4 addresses (from a packet the fast path looks at) translate: neither is
/// forbidden (RFC 7915 §4.1/§5.1, [`is_forbidden_v4`], screened by one table load each of
/// [`MAY_BE_FORBIDDEN_V4`], which is built from it), and with the well-known prefix both are
/// global (RFC 6052 §3.1).
#[inline(always)]
pub(super) fn fast_addrs_ok(f: &Fast, s: u32, d: u32) -> bool {
    if (MAY_BE_FORBIDDEN_V4[(s >> 24) as usize] || MAY_BE_FORBIDDEN_V4[(d >> 24) as usize])
        && (is_forbidden_v4(Ipv4Addr::from(s)) || is_forbidden_v4(Ipv4Addr::from(d)))
    {
        return false;
    }
    !f.well_known || both_global(s, d)
}

#[inline(never)]
pub(super) fn both_global(s: u32, d: u32) -> bool {
    is_global_v4(Ipv4Addr::from(s)) && is_global_v4(Ipv4Addr::from(d))
}

/// IPv4 → IPv6 for the common case: an unfragmented TCP or UDP packet without options that
/// fits, between two translatable addresses (RFC 7915 §4.1, §4.5). `w` is a view of 20
/// bytes of headroom and the packet's first 60 bytes, so the 40-byte IPv6 header replaces
/// the 20-byte IPv4 header by moving the start back 20 bytes; the payload stays in place.
#[inline(always)]
pub(super) fn fast_v4(f: &Fast, w: &mut [u8; 80], len: usize) -> Option<()> {
    // The IPv4 header is w[20..40], read as five 32-bit words. Version 4 without options,
    // TCP or UDP: anything else (ICMP above all) leaves at once.
    let (h0, h2) = (be32at(w, 20), be32at(w, 28));
    let (ttl, protocol) = ((h2 >> 24) as u8, (h2 >> 16) as u8);
    let udp = protocol == proto::UDP;
    if h0 >> 24 != 0x45 || !(protocol == proto::TCP || udp) {
        return None;
    }
    let (src, dst) = (be32at(w, 32), be32at(w, 36));
    if !fast_addrs_ok(f, src, dst) || dst == f.own4 {
        return None;
    }
    let h1 = be32at(w, 24);
    let total = (h0 & 0xffff) as usize;
    // The whole packet, not a fragment (MF clear, offset 0), a TTL that survives the
    // decrement (RFC 7915 §4.1; Time Exceeded is the general path's).
    if total != len || h1 & 0x3fff != 0 {
        return None;
    }
    let hop = forward_hop(ttl)?;
    // RFC 1812 §5.2.2: the header checksum verifies.
    if fold16(u64::from(h0) + u64::from(h1) + u64::from(h2) + u64::from(src) + u64::from(dst)) != 0xffff {
        return None;
    }
    // The checksum field is at 6 (UDP) or 16 (TCP) in the transport header, which must hold it.
    let at = if udp { 46 } else { 56 };
    let plen = total.wrapping_sub(20);
    let limit = if h1 & 0x4000 != 0 { f.limit_df } else { f.limit_nodf };
    if total < at - 20 + 4 || plen + 40 > usize::from(limit) {
        return None;
    }
    let hc = u16::from_be_bytes([w[at], w[at + 1]]);
    // RFC 7915 §4.5: a zero UDP checksum takes the general path (computed or refused there).
    if udp && !checksum::udp_has_checksum(hc) {
        return None;
    }
    // RFC 1624: the pseudo-header gains the prefix's words for both addresses; a UDP
    // result of zero is sent as 0xffff (RFC 768, checksum::udp_field; written as a match,
    // which compiles to fewer instructions here than calling it on every result).
    let c = match !add16(!hc, f.k46) {
        0 if udp => checksum::udp_field(0),
        c => c,
    };
    let tc = ((h0 >> 16) as u8 & f.tc.0) | f.tc.1;
    // RFC 7915 §4.1: version 6, traffic class, flow label 0, payload length, next header,
    // hop limit one less; addresses pool6 + IPv4 (RFC 6052 §2.2, /96). The destination's low
    // 32 bits land exactly where the IPv4 destination already is (w[36..40]).
    let first =
        (6u64 << 60) | (u64::from(tc) << 52) | ((plen as u64) << 16) | (u64::from(protocol) << 8) | u64::from(hop);
    w[..8].copy_from_slice(&first.to_be_bytes());
    w[8..20].copy_from_slice(&f.pre);
    w[20..24].copy_from_slice(&src.to_be_bytes());
    w[24..36].copy_from_slice(&f.pre);
    w[at..at + 2].copy_from_slice(&c.to_be_bytes());
    Some(())
}

/// IPv6 → IPv4 for the common case (see [`fast_v4`]; RFC 7915 §5.1): the IPv6 header is
/// w[20..60], and the IPv4 header is written over its last 20 bytes.
#[inline(always)]
pub(super) fn fast_v6(f: &Fast, w: &mut [u8; 80], len: usize, id: u16) -> Option<()> {
    // TCP or UDP right after the IPv6 header (no extension headers), or leave at once.
    let v1 = be32at(w, 24);
    let (nh, hop) = ((v1 >> 8) as u8, v1 as u8);
    let udp = nh == proto::UDP;
    if !(nh == proto::TCP || udp) {
        return None;
    }
    // Both addresses in pool6 (/96): their first 12 bytes are the prefix.
    if w[28..40] != f.pre || w[44..56] != f.pre {
        return None;
    }
    let (src, dst) = (be32at(w, 40), be32at(w, 56));
    if !fast_addrs_ok(f, src, dst) || u64::from(dst) == f.own6_low {
        return None;
    }
    let v0 = be32at(w, 20);
    let plen = (v1 >> 16) as usize;
    // The whole packet, a hop limit that survives the decrement (RFC 7915 §5.1).
    if plen + 40 != len {
        return None;
    }
    let ttl = forward_hop(hop)?;
    let at = if udp { 66 } else { 76 };
    let total = plen + 20;
    if total > usize::from(f.ipv4_mtu) || plen < at - 60 + 4 {
        return None;
    }
    let hc = u16::from_be_bytes([w[at], w[at + 1]]);
    // RFC 8200 §8.1: a zero IPv6 UDP checksum is invalid (the general path drops it).
    if udp && !checksum::udp_has_checksum(hc) {
        return None;
    }
    // RFC 1624: the pseudo-header loses the prefix's words for both addresses; RFC 768 for
    // a UDP zero, as in fast_v4.
    let c = match !add16(!hc, f.k64) {
        0 if udp => checksum::udp_field(0),
        c => c,
    };
    let tos = ((v0 >> 20) as u8 & f.tos.0) | f.tos.1;
    // RFC 7915 §5.1: DF only above 1260 bytes, a fresh identification, TTL one less.
    let flags: u32 = if total > 1260 { 0x4000 } else { 0 };
    let h0 = (0x45 << 24) | (u32::from(tos) << 16) | total as u32;
    let h1 = (u32::from(id) << 16) | flags;
    let ttl_proto = (u32::from(ttl) << 8) | u32::from(nh);
    let sum = u64::from(h0) + u64::from(h1) + u64::from(ttl_proto) + u64::from(src) + u64::from(dst);
    let h2 = (ttl_proto << 16) | u32::from(!fold16(sum));
    // The IPv4 header is w[40..60]; its destination is already in place (w[56..60]).
    w[40..44].copy_from_slice(&h0.to_be_bytes());
    w[44..48].copy_from_slice(&h1.to_be_bytes());
    w[48..52].copy_from_slice(&h2.to_be_bytes());
    w[52..56].copy_from_slice(&src.to_be_bytes());
    w[at..at + 2].copy_from_slice(&c.to_be_bytes());
    Some(())
}
