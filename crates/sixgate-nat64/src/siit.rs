//! The stateless translator engine (RFC 7915).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use sixgate_core::buf::PacketBuf;
use sixgate_core::checksum::{self, add, finish, pseudo_v6, sum, sum_v4, sum_v6};
use sixgate_core::class::{is_forbidden_v4, is_global_v4, MAY_BE_FORBIDDEN_V4};
use sixgate_core::engine::{Counters, Engine, Side, Verdict};
use sixgate_core::ratelimit::TokenBucket;
use sixgate_core::rfc6052;
use sixgate_core::router::forward_hop;
use sixgate_core::wire::{be16, be32, put16, v4at, v6at};

use crate::config::{SiitConfig, TosPolicy};
use crate::icmp::{self, Map, Rest};
use crate::reason::DropReason;
use crate::Error;

use DropReason as R;

/// What a translation step decided (the reason of a reply is counted too).
pub(crate) enum Out {
    Fwd(Side),
    Reply(Side, Option<DropReason>),
    Drop(DropReason),
}

/// RFC 7915 §4.1: an unexpired Loose or Strict Source Route option (pointer ≤ length).
fn has_unexpired_source_route(opts: &[u8]) -> bool {
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

/// RFC 2675 §2: whether the Hop-by-Hop Options header right after the IPv6 header `p`
/// carries a Jumbo Payload option (type 0xC2). Reads only the bytes present.
fn has_jumbo_payload_option(p: &[u8]) -> bool {
    let Some(&hlen) = p.get(41) else { return false };
    let end = (40 + (usize::from(hlen) + 1) * 8).min(p.len());
    let mut i = 42;
    while i < end {
        match p[i] {
            // Pad1 has no length octet (RFC 8200 §4.2).
            0 => i += 1,
            0xc2 => return true,
            _ => {
                let Some(&len) = p.get(i + 1) else { return false };
                i += 2 + usize::from(len);
            }
        }
    }
    false
}

/// Whether an IPv6 Next Header value names an extension header: the IANA "IPv6
/// Extension Header Types" registry (RFC 8200 §4, RFC 7045): Hop-by-Hop (0), Routing
/// (43), Fragment (44), ESP (50), AH (51), Destination Options (60), Mobility (135), HIP
/// (139), Shim6 (140) and the experimental 253 and 254 (RFC 3692, RFC 4727).
pub(crate) fn is_extension_header(nh: u8) -> bool {
    matches!(nh, 0 | 43 | 44 | 50 | 51 | 60 | 135 | 139 | 140 | 253 | 254)
}

/// RFC 7915 §5.1.1: "If the Next Header field of the Fragment Header is an extension
/// header (except ESP, but including the Authentication Header (AH)), then the packet
/// SHOULD be dropped and logged." Whether `nh`, found after a Fragment Header, is one.
pub(crate) fn refused_after_fragment(nh: u8) -> bool {
    nh != 50 && is_extension_header(nh)
}

/// The upper-layer protocol of the IPv6 packet `p`, its offset, and whether a Fragment
/// Header with a non-zero offset came before it (the upper-layer header is then in another
/// fragment), found by walking every extension header that has the RFC 8200 §4 / RFC 6564
/// length format (and AH, RFC 4302 §2.2, in 4-octet units). ESP, whose contents cannot be
/// read, ends the walk like an upper layer. `None` when the chain runs past the packet.
fn upper_layer6(p: &[u8]) -> Option<(u8, usize, bool)> {
    let mut nh = *p.get(6)?;
    let mut off = 40;
    let mut later_fragment = false;
    while nh != 50 && is_extension_header(nh) {
        if off + 8 > p.len() {
            return None;
        }
        let len = match nh {
            44 => {
                later_fragment |= be16(p, off + 2) & 0xfff8 != 0;
                8
            }
            51 => (usize::from(p[off + 1]) + 2) * 4,
            _ => (usize::from(p[off + 1]) + 1) * 8,
        };
        nh = p[off];
        off += len;
    }
    (off <= p.len()).then_some((nh, off, later_fragment))
}

/// Writes a 20-byte IPv4 header (no options) with its checksum.
#[allow(clippy::too_many_arguments)]
fn write_ipv4_header(
    h: &mut [u8],
    tos: u8,
    total: u16,
    id: u16,
    flags_off: u16,
    ttl: u8,
    proto: u8,
    src: Ipv4Addr,
    dst: Ipv4Addr,
) {
    h[0] = 0x45;
    h[1] = tos;
    put16(h, 2, total);
    put16(h, 4, id);
    put16(h, 6, flags_off);
    h[8] = ttl;
    h[9] = proto;
    h[10] = 0;
    h[11] = 0;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = match <&[u8; 20]>::try_from(&h[..20]) {
        Ok(h20) => finish(checksum::sum20(h20)),
        Err(_) => finish(sum(&h[..20])),
    };
    put16(h, 10, c);
}

/// Writes a 40-byte IPv6 header.
fn write_ipv6_header(h: &mut [u8], tc: u8, payload_len: u16, nh: u8, hop: u8, src: Ipv6Addr, dst: Ipv6Addr) {
    let w = (6u32 << 28) | (u32::from(tc) << 20);
    h[0..4].copy_from_slice(&w.to_be_bytes());
    put16(h, 4, payload_len);
    h[6] = nh;
    h[7] = hop;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&dst.octets());
}

/// Fragments still to be sent for the packet last processed.
#[derive(Debug, Clone)]
struct Pending {
    active: bool,
    v6: bool,
    hdr: [u8; 48],
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
    /// Fragment offset (bytes) of `data[0]` in the original datagram.
    base: usize,
    /// The MF flag the last fragment carries (set when the original was itself a fragment).
    last_mf: bool,
}

/// The stateless IP/ICMP translator (RFC 7915).
///
/// See the [crate documentation](crate) for an example. Packets are translated in place;
/// the common TCP/UDP path neither allocates nor copies the payload.
#[derive(Debug)]
pub struct Siit {
    cfg: SiitConfig,
    counters: Counters<DropReason>,
    next_id: u16,
    bucket: TokenBucket,
    scratch: Vec<u8>,
    pending: Pending,
    suppressed: u64,
    /// Precomputed state of the common-case fast path, when the configuration allows it.
    fast: Option<Fast>,
    /// One address pair that maps both ways before EAM and pool6 (the stateful NAT64 sets
    /// it to a session's IPv6 client and its IPv4 pool address for one packet).
    over: Option<(Ipv6Addr, Ipv4Addr)>,
}

/// The common case, translated with precomputed constants: pool6 is a /96 (not multicast),
/// no EAM entry and no denylist, so an address maps by copying 12 prefix bytes next to the
/// IPv4 address (or checking and dropping them), and the transport checksum changes by a
/// constant (the /96 prefix's words, once per address: RFC 1624).
#[derive(Debug, Clone, Copy)]
struct Fast {
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
fn fold16(s: u64) -> u16 {
    let (lo, c) = (s as u32).overflowing_add((s >> 32) as u32);
    let x = lo + u32::from(c);
    // The high half of x + rotl(x, 16) is hi + lo with the end-around carry.
    (x.wrapping_add(x.rotate_left(16)) >> 16) as u16
}

/// 16-bit one's-complement addition (end-around carry).
#[inline(always)]
fn add16(a: u16, b: u16) -> u16 {
    let (s, c) = a.overflowing_add(b);
    s + u16::from(c)
}

#[inline(always)]
fn be32at(w: &[u8; 80], o: usize) -> u32 {
    u32::from_be_bytes([w[o], w[o + 1], w[o + 2], w[o + 3]])
}

/// A TOS/traffic class policy as `(keep, set)`: the result is `(v & keep) | set`.
fn tos_bits(p: TosPolicy) -> (u8, u8) {
    match p {
        TosPolicy::Copy => (0xff, 0),
        TosPolicy::Zero => (0, 0),
        TosPolicy::Force(x) => (0, x),
    }
}

mod reload;

impl Siit {
    /// A translator with a validated configuration.
    pub fn new(cfg: SiitConfig) -> Result<Self, Error> {
        cfg.validate()?;
        Ok(Self {
            cfg,
            counters: Counters::new(),
            next_id: 1,
            bucket: TokenBucket::default(),
            scratch: Vec::with_capacity(1500),
            pending: Pending {
                active: false,
                v6: false,
                hdr: [0; 48],
                data: Vec::with_capacity(65536),
                pos: 0,
                chunk: 0,
                base: 0,
                last_mf: false,
            },
            suppressed: 0,
            fast: None,
            over: None,
        }
        .with_fast_path())
    }

    fn with_fast_path(mut self) -> Self {
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
    fn fast(&mut self, buf: &mut PacketBuf) -> Option<Side> {
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

    /// IPv4 → IPv6 through the general path, with `over` mapping one address pair both ways
    /// ahead of EAM and pool6 (for the stateful NAT64, which rewrites ports itself).
    /// `hairpin` means the packet came from the IPv6 side (no TTL decrement, no local
    /// delivery).
    pub(crate) fn xlate_v4_with(
        &mut self,
        buf: &mut PacketBuf,
        now: Instant,
        hairpin: bool,
        over: Option<(Ipv6Addr, Ipv4Addr)>,
    ) -> Out {
        self.pending.active = false;
        self.over = over;
        let out = self.xlate_v4(buf, now, hairpin);
        self.over = None;
        out
    }

    /// IPv6 → IPv4 through the general path (see [`Siit::xlate_v4_with`]).
    pub(crate) fn xlate_v6_with(
        &mut self,
        buf: &mut PacketBuf,
        now: Instant,
        over: Option<(Ipv6Addr, Ipv4Addr)>,
    ) -> Out {
        self.pending.active = false;
        self.over = over;
        let out = self.xlate_v6(buf, now);
        self.over = None;
        out
    }

    /// Everything the fast path does not take: the general path (RFC 7915 in full) and
    /// its counting, kept out of line so the fast path stays small.
    #[inline(never)]
    fn process_general(&mut self, buf: &mut PacketBuf, now: Instant) -> Verdict<DropReason> {
        let out = match buf.first().map(|b| b >> 4) {
            Some(4) => self.xlate_v4(buf, now, false),
            Some(6) => self.xlate_v6(buf, now),
            _ => Out::Drop(R::Malformed),
        };
        match out {
            Out::Fwd(side) => {
                self.counters.forwarded += 1;
                Verdict::Forward(side)
            }
            Out::Reply(side, reason) => {
                self.counters.replied += 1;
                if let Some(r) = reason {
                    self.counters.drop(r);
                }
                Verdict::Reply(side)
            }
            Out::Drop(r) => {
                self.counters.drop(r);
                Verdict::Drop(r)
            }
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SiitConfig {
        &self.cfg
    }

    /// ICMP errors the translator wanted to send but did not (rate limit, or packets that
    /// must not be answered, RFC 1812 §4.3.2.7 / RFC 4443 §2.4(e)).
    pub fn icmp_suppressed(&self) -> u64 {
        self.suppressed
    }

    fn ident(&mut self) -> u16 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }

    // ---------------------------------------------------------------- addresses

    /// RFC 7915 §4.1 address translation IPv4 → IPv6: EAM first (RFC 7757 §3.3), then
    /// RFC 6052 with pool6.
    #[inline(always)]
    fn map46(&self, a: Ipv4Addr, untranslatable: DropReason) -> Result<Ipv6Addr, DropReason> {
        if let Some((x6, x4)) = self.over {
            if a == x4 {
                return Ok(x6);
            }
        }
        self.map46_plain(a, untranslatable)
    }

    /// [`Siit::map46`] without the stateful override: the source of a packet from the IPv4
    /// side is never a NAT64 client (a hairpinned packet's pool source maps with pool6).
    fn map46_plain(&self, a: Ipv4Addr, untranslatable: DropReason) -> Result<Ipv6Addr, DropReason> {
        // RFC 7915 §4.1: an illegal address is dropped (sixgate_core::class::is_forbidden_v4).
        if is_forbidden_v4(a) {
            return Err(R::ForbiddenAddress);
        }
        if let Some(x) = self.cfg.eamt.v4_to_v6(a) {
            return Ok(x);
        }
        self.map46_rfc6052(a, untranslatable)
    }

    /// The source of a hairpinned packet (and the quoted destination of a hairpinned ICMP
    /// error): RFC 7757 §4 builds it with the RFC 6052 prefix (pool6), never through the
    /// EAMT, so that the receiver's reply (and the quote the sender gets back) goes through
    /// the translator and matches what the sender addressed (RFC 7757 Appendix B). Neither
    /// the stateful override: RFC 6146 §3.8 gives a hairpinned packet the IPv6
    /// representation of its pool source, which is pool6 too.
    fn map46_hairpin(&self, a: Ipv4Addr, untranslatable: DropReason) -> Result<Ipv6Addr, DropReason> {
        if is_forbidden_v4(a) {
            return Err(R::ForbiddenAddress);
        }
        self.map46_rfc6052(a, untranslatable)
    }

    /// RFC 6052 embedding with pool6 (after the forbidden check and EAM, which the callers
    /// do), with the denylist and the well-known prefix's restriction.
    fn map46_rfc6052(&self, a: Ipv4Addr, untranslatable: DropReason) -> Result<Ipv6Addr, DropReason> {
        let Some(pool) = self.cfg.pool6.as_ref() else { return Err(untranslatable) };
        if self.cfg.denylist4.iter().any(|n| n.contains(&a)) {
            return Err(R::DenylistedAddress);
        }
        // RFC 6052 §3.1: the well-known prefix never carries a non-global IPv4 address.
        if pool.is_well_known() && !is_global_v4(a) {
            return Err(R::WellKnownPrefixNonGlobal);
        }
        Ok(rfc6052::embed(pool, a))
    }

    /// RFC 7915 §5.1 address translation IPv6 → IPv4.
    #[inline(always)]
    fn map64(&self, a: Ipv6Addr, untranslatable: DropReason) -> Result<Ipv4Addr, DropReason> {
        if let Some((x6, x4)) = self.over {
            if a == x6 {
                return Ok(x4);
            }
        }
        if let Some(x) = self.cfg.eamt.v6_to_v4(a) {
            // RFC 7915 §5.1: an illegal translated address is dropped.
            return if is_forbidden_v4(x) { Err(R::ForbiddenAddress) } else { Ok(x) };
        }
        let Some(pool) = self.cfg.pool6.as_ref() else { return Err(untranslatable) };
        if !pool.contains(a) {
            return Err(untranslatable);
        }
        let x = rfc6052::extract(pool, a).map_err(|_| untranslatable)?;
        if is_forbidden_v4(x) {
            return Err(R::ForbiddenAddress);
        }
        if self.cfg.denylist4.iter().any(|n| n.contains(&x)) {
            return Err(R::DenylistedAddress);
        }
        if pool.is_well_known() && !is_global_v4(x) {
            return Err(R::WellKnownPrefixNonGlobal);
        }
        Ok(x)
    }

    /// RFC 6791: an IPv4 source for a translated ICMPv6 error whose IPv6 source has no
    /// translation; chosen from the pool by a hash of that source, or the own address.
    fn rfc6791_v4(&self, a: Ipv6Addr) -> Ipv4Addr {
        match self.cfg.rfc6791_v4 {
            None => self.cfg.own_ipv4,
            Some(p) => {
                let x = u128::from(a);
                let h = (x as u32) ^ ((x >> 32) as u32) ^ ((x >> 64) as u32) ^ ((x >> 96) as u32);
                let bits = 32 - u32::from(p.prefix_len());
                let off = if bits == 0 { 0 } else { h & (u32::MAX >> (32 - bits)) };
                Ipv4Addr::from(u32::from(p.network()) | off)
            }
        }
    }

    /// The IPv6 counterpart of [`Siit::rfc6791_v4`] for translated ICMPv4 errors.
    fn rfc6791_v6(&self, a: Ipv4Addr) -> Ipv6Addr {
        match self.cfg.rfc6791_v6 {
            None => self.cfg.own_ipv6,
            Some(p) => {
                let bits = 128 - u32::from(p.prefix_len());
                let h = u128::from(u32::from(a).wrapping_mul(0x9e37_79b9));
                let off = if bits == 0 {
                    0
                } else if bits >= 32 {
                    h
                } else {
                    h & ((1u128 << bits) - 1)
                };
                Ipv6Addr::from(u128::from(p.network()) | off)
            }
        }
    }

    // ---------------------------------------------------------------- IPv4 → IPv6

    fn xlate_v4(&mut self, buf: &mut PacketBuf, now: Instant, hairpin: bool) -> Out {
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

    /// Splits the IPv6 packet in `buf` into fragments of at most `mtu` bytes: the first
    /// stays in `buf`, the rest wait in `pending` for [`Engine::poll_transmit`].
    fn split_v6(&mut self, buf: &mut PacketBuf, mtu: usize, id16: u16) {
        let p = buf.as_slice();
        let (nh, base, last_mf, id, hlen) = if p[6] == 44 {
            (p[40], usize::from(be16(p, 42) & 0xfff8), be16(p, 42) & 1 == 1, be32(p, 44), 48)
        } else {
            (p[6], 0, false, u32::from(id16), 40)
        };
        let chunk = (mtu - 48) / 8 * 8;
        if p.len() - hlen <= chunk {
            return;
        }
        let pd = &mut self.pending;
        pd.hdr[..40].copy_from_slice(&p[..40]);
        pd.hdr[6] = 44;
        pd.hdr[40] = nh;
        pd.hdr[41] = 0;
        pd.hdr[44..48].copy_from_slice(&id.to_be_bytes());
        pd.data.clear();
        pd.data.extend_from_slice(&p[hlen + chunk..]);
        pd.pos = 0;
        pd.chunk = chunk;
        pd.base = base + chunk;
        pd.last_mf = last_mf;
        pd.v6 = true;
        pd.active = true;
        if hlen == 40 {
            // Make room for the fragment header; the payload does not move.
            if buf.replace_front(40, 48).is_err() {
                pd.active = false;
                return;
            }
        }
        buf.truncate(48 + chunk);
        let h = &mut buf.as_mut_slice()[..48];
        h.copy_from_slice(&pd.hdr);
        put16(h, 4, (8 + chunk) as u16);
        put16(h, 42, (base as u16) | 1);
    }

    /// Splits the IPv4 packet in `buf` (20-byte header) into fragments of at most `mtu`.
    fn split_v4(&mut self, buf: &mut PacketBuf, mtu: usize) {
        let p = buf.as_slice();
        let ff = be16(p, 6);
        let base = usize::from(ff & 0x1fff) * 8;
        let chunk = (mtu - 20) / 8 * 8;
        if p.len() - 20 <= chunk {
            return;
        }
        let pd = &mut self.pending;
        pd.hdr[..20].copy_from_slice(&p[..20]);
        pd.data.clear();
        pd.data.extend_from_slice(&p[20 + chunk..]);
        pd.pos = 0;
        pd.chunk = chunk;
        pd.base = base + chunk;
        pd.last_mf = ff & 0x2000 != 0;
        pd.v6 = false;
        pd.active = true;
        buf.truncate(20 + chunk);
        let h = &mut buf.as_mut_slice()[..20];
        put16(h, 2, (20 + chunk) as u16);
        put16(h, 6, 0x2000 | (base / 8) as u16);
        h[10] = 0;
        h[11] = 0;
        let c = finish(sum(h));
        put16(h, 10, c);
    }

    /// Echo requests to the translator's own IPv4 address are answered.
    fn local_v4(&mut self, buf: &mut PacketBuf, ihl: usize, _now: Instant) -> Out {
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

    /// Builds an ICMPv4 error about the IPv4 packet in `buf` (RFC 792, RFC 1812 §4.3.2),
    /// sent from the translator's own address, at most 576 bytes.
    fn icmp4_error(
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
    fn err46(&mut self, buf: &mut PacketBuf, now: Instant, ihl: usize, hairpin: bool) -> Out {
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

    // ---------------------------------------------------------------- IPv6 → IPv4

    fn xlate_v6(&mut self, buf: &mut PacketBuf, now: Instant) -> Out {
        let p = buf.as_slice();
        if p.len() < 40 {
            return Out::Drop(R::Malformed);
        }
        let plen = usize::from(be16(p, 4));
        // RFC 2675 §3: a zero Payload Length is a jumbogram only with a Hop-by-Hop Jumbo
        // Payload option; IPv4 cannot carry one. Without that option it is an empty payload
        // (RFC 8200 §3), translated like any other (Next Header 59 → Protocol 59).
        if plen == 0 && p[6] == 0 && has_jumbo_payload_option(p) {
            return Out::Drop(R::Jumbogram);
        }
        if 40 + plen > p.len() {
            return Out::Drop(R::Malformed);
        }
        buf.truncate(40 + plen);
        let p = buf.as_slice();
        let len = p.len();
        let tc = ((be16(p, 0) >> 4) & 0xff) as u8;
        let hop = p[7];
        let src6 = v6at(p, 8);
        let dst6 = v6at(p, 24);

        // Walk the extension headers (RFC 7915 §5.1).
        let mut nh = p[6];
        let mut off = 40;
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
                    return self.icmp6_error(buf, now, 1, 1, [0; 4], R::ExtensionAfterFragment);
                }
                0 | 60 | 43 => {
                    if off + 8 > len {
                        return Out::Drop(R::Malformed);
                    }
                    // RFC 7915 §5.1: a routing header with Segments Left ≠ 0 is refused with
                    // Parameter Problem pointing at Segments Left.
                    if nh == 43 && p[off + 3] != 0 {
                        return self.icmp6_error(buf, now, 4, 0, ((off + 3) as u32).to_be_bytes(), R::RoutingHeader);
                    }
                    nh = p[off];
                    off += (usize::from(p[off + 1]) + 1) * 8;
                }
                44 => {
                    if off + 8 > len {
                        return Out::Drop(R::Malformed);
                    }
                    let fo = be16(p, off + 2);
                    frag = Some((usize::from(fo & 0xfff8), fo & 1 == 1, be32(p, off + 4)));
                    nh = p[off];
                    off += 8;
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
            return self.icmp6_error(buf, now, 3, 0, [0; 4], R::HopLimitExceeded);
        };
        let frag_off = frag.map_or(0, |f| f.0);
        let is_frag = frag.is_some_and(|f| f.0 != 0 || f.1);
        let ulen = len - off;
        // RFC 8200 §4.5: a fragment may not reach past 65,535 bytes (its offsets would wrap).
        if frag_off + ulen > 0xffff {
            return Out::Drop(R::Malformed);
        }
        if nh == 58 && is_frag {
            return Out::Drop(R::FragmentedIcmp);
        }
        if nh == 58 && ulen >= 8 && icmp::is_icmp6_error(p[off]) {
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
        let proto = if nh == 58 { 1 } else { nh };

        let total = 20 + ulen;
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
            match nh {
                58 => {
                    if is_frag {
                        return Out::Drop(R::FragmentedIcmp);
                    }
                    if ulen < 8 {
                        return Out::Drop(R::Malformed);
                    }
                    let rest = [p[off + 4], p[off + 5], p[off + 6], p[off + 7]];
                    match icmp::map_6to4(p[off], p[off + 1], rest) {
                        Map::Echo(_) if too_big => {}
                        Map::Echo(t4) => {
                            // RFC 7915 §5.2: new type; the pseudo-header leaves the checksum.
                            let l4 = &mut buf.as_mut_slice()[off..];
                            let old = add(u32::from(be16(l4, 0)), pseudo_v6(src6, dst6, 58, ulen as u32));
                            let new = u32::from(u16::from_be_bytes([t4, l4[1]]));
                            let c = checksum::update(be16(l4, 2), old, new);
                            l4[0] = t4;
                            put16(l4, 2, c);
                        }
                        Map::SingleHop => return Out::Drop(R::SingleHop),
                        Map::Drop | Map::Error { .. } => return Out::Drop(R::UntranslatableIcmp),
                    }
                }
                6 | 17 => {
                    let (min, at) = if nh == 6 { (20, 16) } else { (8, 6) };
                    if ulen < min {
                        return Out::Drop(R::Malformed);
                    }
                    let hc = be16(p, off + at);
                    // RFC 8200 §8.1: an IPv6 UDP checksum of zero is invalid.
                    if nh == 17 && !checksum::udp_has_checksum(hc) {
                        return Out::Drop(R::Udp6ZeroChecksum);
                    }
                    if !too_big {
                        let old = add(sum_v6(src6), sum_v6(dst6));
                        let new = add(sum_v4(src4), sum_v4(dst4));
                        let c =
                            if nh == 6 { checksum::update(hc, old, new) } else { checksum::update_udp(hc, old, new) };
                        put16(buf.as_mut_slice(), off + at, c);
                    }
                }
                _ => {}
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
            return self.icmp6_error(buf, now, 2, 0, mtu.to_be_bytes(), R::TooBig);
        }
        // DF-clear packets are fragmented to fit the IPv4 MTU (RFC 7915 §1.4, §5.1).
        let split = !hairpin && total > ipv4_mtu;
        let tos = self.cfg.tos.apply(tc);
        let flags = (u16::from(df) << 14) | (u16::from(mf) << 13) | (frag_off / 8) as u16;
        let Ok(h) = buf.replace_front(off, 20) else { return Out::Drop(R::NoRoom) };
        write_ipv4_header(h, tos, total as u16, id, flags, ttl4, proto, src4, dst4);
        if hairpin {
            return self.xlate_v4(buf, now, true);
        }
        if split {
            self.split_v4(buf, ipv4_mtu);
        }
        Out::Fwd(Side::V4)
    }

    /// Echo requests to the translator's own IPv6 address are answered.
    fn local_v6(&mut self, buf: &mut PacketBuf, off: usize, nh: u8, fragmented: bool) -> Out {
        let p = buf.as_slice();
        if !self.cfg.answer_pings || nh != 58 || fragmented || p.len() < off + 8 || p[off] != 128 {
            return Out::Drop(R::ToTranslator);
        }
        let src = v6at(p, 8);
        let ulen = p.len() - off;
        if finish(add(pseudo_v6(src, self.cfg.own_ipv6, 58, ulen as u32), sum(&p[off..]))) != 0 {
            return Out::Drop(R::IcmpChecksum);
        }
        let own = self.cfg.own_ipv6;
        let Ok(h) = buf.replace_front(off, 40) else { return Out::Drop(R::NoRoom) };
        write_ipv6_header(h, 0, ulen as u16, 58, 64, own, src);
        let l4 = &mut buf.as_mut_slice()[40..];
        let c = checksum::update(be16(l4, 2), 0x8000, 0x8100);
        l4[0] = 129;
        put16(l4, 2, c);
        Out::Reply(Side::V6, None)
    }

    /// Builds an ICMPv6 error about the IPv6 packet in `buf` (RFC 4443), sent from the
    /// translator's own address, at most 1280 bytes.
    fn icmp6_error(
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
    fn err64(&mut self, buf: &mut PacketBuf, now: Instant, off: usize, frag_id: Option<u32>) -> Out {
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
fn rfc4884_field(orig_len: usize, ext_len: usize, room: usize, word: usize) -> Option<usize> {
    let padded = orig_len.max(128).div_ceil(word) * word;
    let fits = room.checked_sub(8 + ext_len)? / word * word;
    let field = padded.min(fits);
    (field >= 128 && field / word <= 255).then_some(field)
}

/// Updates the transport checksum of a (possibly truncated) inner packet translated
/// 4→6, when the checksum field is within the quoted bytes.
fn translate_inner_l4_46(
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
fn translate_inner_l4_64(l4: &mut [u8], nh: u8, s6: Ipv6Addr, d6: Ipv6Addr, s4: Ipv4Addr, d4: Ipv4Addr, ulen: usize) {
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

/// Whether two IPv4 addresses (from a packet the fast path looks at) translate: neither is
/// forbidden (RFC 7915 §4.1/§5.1, [`is_forbidden_v4`], screened by one table load each of
/// [`MAY_BE_FORBIDDEN_V4`], which is built from it), and with the well-known prefix both are
/// global (RFC 6052 §3.1).
#[inline(always)]
fn fast_addrs_ok(f: &Fast, s: u32, d: u32) -> bool {
    if (MAY_BE_FORBIDDEN_V4[(s >> 24) as usize] || MAY_BE_FORBIDDEN_V4[(d >> 24) as usize])
        && (is_forbidden_v4(Ipv4Addr::from(s)) || is_forbidden_v4(Ipv4Addr::from(d)))
    {
        return false;
    }
    !f.well_known || both_global(s, d)
}

#[inline(never)]
fn both_global(s: u32, d: u32) -> bool {
    is_global_v4(Ipv4Addr::from(s)) && is_global_v4(Ipv4Addr::from(d))
}

/// IPv4 → IPv6 for the common case: an unfragmented TCP or UDP packet without options that
/// fits, between two translatable addresses (RFC 7915 §4.1, §4.5). `w` is a view of 20
/// bytes of headroom and the packet's first 60 bytes, so the 40-byte IPv6 header replaces
/// the 20-byte IPv4 header by moving the start back 20 bytes; the payload stays in place.
#[inline(always)]
fn fast_v4(f: &Fast, w: &mut [u8; 80], len: usize) -> Option<()> {
    // The IPv4 header is w[20..40], read as five 32-bit words. Version 4 without options,
    // TCP or UDP: anything else (ICMP above all) leaves at once.
    let (h0, h2) = (be32at(w, 20), be32at(w, 28));
    let (ttl, proto) = ((h2 >> 24) as u8, (h2 >> 16) as u8);
    let udp = proto == 17;
    if h0 >> 24 != 0x45 || !(proto == 6 || udp) {
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
    let first = (6u64 << 60) | (u64::from(tc) << 52) | ((plen as u64) << 16) | (u64::from(proto) << 8) | u64::from(hop);
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
fn fast_v6(f: &Fast, w: &mut [u8; 80], len: usize, id: u16) -> Option<()> {
    // TCP or UDP right after the IPv6 header (no extension headers), or leave at once.
    let v1 = be32at(w, 24);
    let (nh, hop) = ((v1 >> 8) as u8, v1 as u8);
    let udp = nh == 17;
    if !(nh == 6 || udp) {
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

impl Engine for Siit {
    type Reason = DropReason;

    #[inline]
    fn process(&mut self, buf: &mut PacketBuf, now: Instant) -> Verdict<DropReason> {
        self.pending.active = false;
        if let Some(side) = self.fast(buf) {
            self.counters.forwarded += 1;
            return Verdict::Forward(side);
        }
        self.process_general(buf, now)
    }

    fn poll_transmit(&mut self, buf: &mut PacketBuf) -> Option<Side> {
        let pd = &mut self.pending;
        if !pd.active {
            return None;
        }
        let remaining = pd.data.len() - pd.pos;
        let n = remaining.min(pd.chunk);
        let last = n == remaining;
        let offset = pd.base + pd.pos;
        let hlen = if pd.v6 { 48 } else { 20 };
        buf.clear();
        let Ok(out) = buf.extend_back(hlen + n) else {
            pd.active = false;
            return None;
        };
        out[..hlen].copy_from_slice(&pd.hdr[..hlen]);
        out[hlen..].copy_from_slice(&pd.data[pd.pos..pd.pos + n]);
        let mf = !last || pd.last_mf;
        if pd.v6 {
            put16(out, 4, (8 + n) as u16);
            put16(out, 42, (offset as u16) | u16::from(mf));
        } else {
            put16(out, 2, (20 + n) as u16);
            put16(out, 6, (u16::from(mf) << 13) | (offset / 8) as u16);
            out[10] = 0;
            out[11] = 0;
            let c = finish(sum(&out[..20]));
            put16(out, 10, c);
        }
        pd.pos += n;
        if last {
            pd.active = false;
        }
        self.counters.forwarded += 1;
        Some(if pd.v6 { Side::V6 } else { Side::V4 })
    }

    fn counters(&self) -> &Counters<DropReason> {
        &self.counters
    }
}
