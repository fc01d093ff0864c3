//! The IPv4 pool: address ↔ index, port (and ICMP identifier) allocation by the rules of
//! RFC 6146 §3.5.1.1 and RFC 4787 REQ-1..4 (range and parity kept; a hash keyed by the
//! configuration's seed picks where the search starts, so that ports are not predictable
//! from outside, in the spirit of RFC 6056), and rewriting a port with an RFC 1624
//! checksum update.

use std::net::Ipv4Addr;

use sixgate_core::checksum::{self, add};
use sixgate_core::wire::{be16, fragment, ipv6, proto, Ipv6Packet};

use super::tables::{Tables, ICMP, TCP};
use super::Pool4Range;

/// The index of `proto` (UDP, TCP, ICMP) in [`Pool::full_until`].
#[inline]
pub(super) fn pool_kind(proto: u8) -> usize {
    usize::from(proto == TCP) + 2 * usize::from(proto == ICMP)
}

/// The IPv4 pool of one engine.
#[derive(Debug)]
pub(super) struct Pool {
    pub(super) ranges: Vec<Pool4Range>,
    /// `ranges` as (first address, last address, index of the first address) for quick
    /// membership tests and address ↔ index.
    spans: Vec<(u32, u32, u32)>,
    n_addrs: u32,
    /// Seed of the port-choice hash.
    pub(super) seed: u64,
    /// For UDP, TCP, ICMP: until when (ms) the pool counts as full, after a search for a
    /// free port failed.
    pub(super) full_until: [u64; 3],
}

impl Pool {
    /// The pool of `ranges` (validated), with the port-choice hash keyed by `seed`.
    pub(super) fn new(ranges: Vec<Pool4Range>, seed: u64) -> Self {
        let n_addrs = ranges.iter().map(|r| 1u32 << (32 - r.prefix.prefix_len())).sum();
        let mut base = 0;
        let spans = ranges
            .iter()
            .map(|r| {
                let s = (u32::from(r.prefix.network()), u32::from(r.prefix.broadcast()), base);
                base += 1u32 << (32 - r.prefix.prefix_len());
                s
            })
            .collect();
        Self { ranges, spans, n_addrs, seed, full_until: [0; 3] }
    }

    /// Whether transport address `addr:port` is in the pool.
    pub(super) fn contains(&self, addr: u32, port: u16) -> bool {
        self.ranges.iter().any(|r| r.prefix.contains(&Ipv4Addr::from(addr)) && (r.first..=r.last).contains(&port))
    }

    /// Whether `addr` is a pool address.
    #[inline]
    pub(super) fn has_addr(&self, addr: u32) -> bool {
        self.spans.iter().any(|&(a, b, _)| (a..=b).contains(&addr))
    }

    /// The index of a pool address (at most 65,536 addresses, see `validate`).
    #[inline]
    pub(super) fn idx(&self, addr: u32) -> Option<u16> {
        self.spans.iter().find(|&&(a, b, _)| (a..=b).contains(&addr)).map(|&(a, _, base)| (base + addr - a) as u16)
    }

    /// The pool address with index `i`.
    #[inline]
    pub(super) fn addr_of(&self, i: u16) -> u32 {
        self.nth_addr(u32::from(i)).map_or(0, |(a, _, _)| a)
    }

    fn mix(&self, a: u64, b: u64) -> u64 {
        let mut x = a ^ self.seed ^ b.rotate_left(29);
        x = (x ^ (x >> 31)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^ (x >> 32)
    }

    /// The `i`-th pool address and its port range.
    #[inline]
    fn nth_addr(&self, mut i: u32) -> Option<(u32, u16, u16)> {
        for r in &self.ranges {
            let n = 1u32 << (32 - r.prefix.prefix_len());
            if i < n {
                return Some((u32::from(r.prefix.network()) + i, r.first, r.last));
            }
            i -= n;
        }
        None
    }

    /// RFC 6146 §3.5.1.1 / RFC 4787 REQ-2..4: an IPv4 transport address (pool address
    /// index, port) for `client`:`want`. The client's addresses start at one pool address
    /// chosen by a hash of the IPv6 address (so a client keeps one IPv4 address while it
    /// can); the client's own port is tried first, then ports of the same range (0–1023 or
    /// 1024–65535) and parity from a hashed start. Probing is bounded, so a nearly full
    /// pool costs a bounded effort.
    pub(super) fn allocate(&self, t: &Tables, proto: u8, client: &[u8; 16], want: u16) -> Option<(u16, u16)> {
        let c = u128::from_be_bytes(*client);
        let h = self.mix((c >> 64) as u64 ^ (c as u64).rotate_left(17), u64::from(proto));
        let start = (h % u64::from(self.n_addrs.max(1))) as u32;
        let mut budget: u32 = 4096;
        for step in 0..self.n_addrs.min(64) {
            let idx = (start + step) % self.n_addrs;
            let (_, first, last) = self.nth_addr(idx)?;
            let a4 = idx as u16;
            let free = |port: u16| t.find_b4(proto, a4, port).is_none();
            if (first..=last).contains(&want) && free(want) {
                return Some((a4, want));
            }
            // The range class of the original port, if the pool has ports in it.
            let (lo, hi) = if want < 1024 { (first, last.min(1023)) } else { (first.max(1024), last) };
            let (lo, hi) = if lo <= hi { (lo, hi) } else { (first, last) };
            let span = u32::from(hi - lo) + 1;
            let off = (self.mix(h, u64::from(want) ^ u64::from(step)) % u64::from(span)) as u32;
            // Same parity first (ICMP identifiers have none to keep), then any.
            for pass in 0..2 {
                let stride = if pass == 0 && proto != ICMP { 2 } else { 1 };
                let mut p = u32::from(lo) + off;
                if stride == 2 && (p & 1) != u32::from(want & 1) {
                    p += 1;
                }
                for _ in 0..span.div_ceil(stride).min(1024) {
                    if p > u32::from(hi) {
                        p = u32::from(lo) + (p - u32::from(hi) - 1);
                        if stride == 2 && (p & 1) != u32::from(want & 1) {
                            p += 1;
                            if p > u32::from(hi) {
                                break;
                            }
                        }
                    }
                    if free(p as u16) {
                        return Some((a4, p as u16));
                    }
                    p += stride;
                    budget = budget.saturating_sub(1);
                    if budget == 0 {
                        return None;
                    }
                }
            }
        }
        None
    }
}
/// Where the upper-layer header starts in an IPv6 packet the translator built: after the
/// IPv6 header and the Fragment Header, if it added one (RFC 7915 §4.1; it adds no
/// other extension header). Never panics: a buffer shorter than the IPv6 header gets the
/// plain header length, past its end.
#[inline]
pub(super) fn l4_after_v6(p: &[u8]) -> usize {
    let frag = p.get(..ipv6::HEADER_LEN).is_some_and(|h| Ipv6Packet::new_unchecked(h).next_header() == proto::FRAGMENT);
    ipv6::HEADER_LEN + if frag { fragment::HEADER_LEN } else { 0 }
}

/// Writes `new` into the 16-bit word at `at` (a port or ICMP identifier) and keeps the
/// checksums right (RFC 1624): the transport checksum at `ck` (`true`: UDP, where 0 means
/// none), and the enclosing ICMP error's checksum at `outer`, which covers both words.
/// Words outside a truncated quote are left alone.
///
/// The offsets are the callers', built from the views' named field offsets (which header
/// the word lies in differs per caller); the words are read with the non-panicking
/// [`be16`], which costs no more than a view here and needs no view per header.
pub(super) fn rewrite(p: &mut [u8], at: usize, new: u16, ck: Option<(usize, bool)>, outer: Option<usize>) {
    if p.len() < at + 2 {
        return;
    }
    let old = be16(p, at);
    if old == new {
        return;
    }
    p[at..at + 2].copy_from_slice(&new.to_be_bytes());
    let (mut old_sum, mut new_sum) = (u32::from(old), u32::from(new));
    if let Some((c, udp)) = ck {
        if p.len() >= c + 2 {
            let hc = be16(p, c);
            // RFC 768: a UDP field of zero carries no checksum and stays zero.
            if !udp || checksum::udp_has_checksum(hc) {
                let nc = if udp {
                    checksum::update_udp(hc, u32::from(old), u32::from(new))
                } else {
                    checksum::update(hc, u32::from(old), u32::from(new))
                };
                p[c..c + 2].copy_from_slice(&nc.to_be_bytes());
                old_sum = add(old_sum, u32::from(hc));
                new_sum = add(new_sum, u32::from(nc));
            }
        }
    }
    if let Some(o) = outer {
        if p.len() >= o + 2 {
            let hc = be16(p, o);
            let nc = checksum::update(hc, old_sum, new_sum);
            p[o..o + 2].copy_from_slice(&nc.to_be_bytes());
        }
    }
}
