//! The IPv4 pool: address ↔ index, port (and ICMP identifier) allocation by the rules of
//! RFC 6146 §3.5.1.1 and RFC 4787 REQ-1..4 (range and parity kept; a hash keyed by the
//! configuration's seed picks where the search starts, so that ports are not predictable
//! from outside, in the spirit of RFC 6056), and rewriting a port with an RFC 1624
//! checksum update.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Instant;

use sixgate_core::checksum::{self, add};
use sixgate_core::wire::{be16, fragment, ipv6, proto, Ipv6Packet};

use super::blocks::{BlockEvent, BlockEventKind, Blocks};
use super::deterministic::DeterministicMap;
use super::tables::{SKey, Tables, ICMP, TCP};
use super::{Allocation, Nat64, Nat64Drop, Pool4Range, TICK_MS};
use crate::ConfigError;

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

    pub(super) fn mix(&self, a: u64, b: u64) -> u64 {
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
impl Allocation {
    /// Checks the allocation's parameters against pool4.
    pub(super) fn validate(&self, pool4: &[Pool4Range]) -> Result<(), ConfigError> {
        match self {
            Self::Dynamic => Ok(()),
            Self::Blocks(b) => b.validate(pool4),
            Self::Deterministic(d) => DeterministicMap::new(d, pool4).map(|_| ()),
        }
    }
}

/// How this engine hands out pool4 ports: per BIB entry anywhere in the pool, in blocks
/// per subscriber, or in each subscriber's fixed range.
#[derive(Debug)]
pub(super) enum Alloc {
    Dynamic,
    Blocks(Box<Blocks>),
    Deterministic(DeterministicMap),
}

impl Alloc {
    /// The allocator of `a` (validated) over `pool4`.
    pub(super) fn new(a: &Allocation, pool4: &[Pool4Range]) -> Result<Self, ConfigError> {
        Ok(match a {
            Allocation::Dynamic => Self::Dynamic,
            Allocation::Blocks(b) => Self::Blocks(Box::new(Blocks::new(*b, pool4, TICK_MS))),
            Allocation::Deterministic(d) => Self::Deterministic(DeterministicMap::new(d, pool4)?),
        })
    }

    /// What the per-source session count is kept for: the source address (dynamic
    /// mode), or its subscriber prefix (port blocks, deterministic), so that
    /// `max_sessions_per_source` bounds a subscriber's sessions and the table holds one
    /// count per subscriber, not per host.
    #[inline]
    pub(super) fn source_key(&self, c: &[u8; 16]) -> [u8; 16] {
        let len = match self {
            Self::Dynamic => return *c,
            Self::Blocks(b) => b.cfg.prefix_len,
            Self::Deterministic(m) => m.params().prefix_len,
        };
        super::blocks::mask(u128::from_be_bytes(*c), len).to_be_bytes()
    }

    /// Whether ports are allocated per BIB entry anywhere in the pool.
    #[inline]
    pub(super) fn is_dynamic(&self) -> bool {
        matches!(self, Self::Dynamic)
    }

    /// The parameters it was made with.
    pub(super) fn config(&self) -> Allocation {
        match self {
            Self::Dynamic => Allocation::Dynamic,
            Self::Blocks(b) => Allocation::Blocks(b.cfg),
            Self::Deterministic(m) => Allocation::Deterministic(*m.params()),
        }
    }

    /// The earliest block hold time that ends (ticks).
    pub(super) fn deadline(&self) -> Option<u32> {
        match self {
            Self::Blocks(b) => b.deadline(),
            _ => None,
        }
    }

    /// Bytes the allocator holds beyond the tables.
    pub(super) fn bytes(&self) -> usize {
        match self {
            Self::Blocks(b) => b.bytes(),
            _ => 0,
        }
    }
}

/// Ports (or identifiers) tried at most per search of a block or a subscriber's range.
const RANGE_BUDGET: u32 = 4096;

impl Pool {
    /// A free port for `proto` in `range` = (pool address `a4`, ports `lo..lo + n`): the client's `want`
    /// if it is in there and free (RFC 4787 REQ-3), else one of its parity (REQ-4; ICMP
    /// identifiers have none) from a start hashed from `h`, else any; bounded probing.
    pub(super) fn in_range(&self, t: &Tables, proto: u8, range: (u16, u16, u16), want: u16, h: u64) -> Option<u16> {
        let (a4, lo, n) = range;
        let free = |p: u32| t.find_b4(proto, a4, p as u16).is_none();
        let (lo, n) = (u32::from(lo), u32::from(n.max(1)));
        if (lo..lo + n).contains(&u32::from(want)) && free(u32::from(want)) {
            return Some(want);
        }
        let off = (self.mix(h, u64::from(want)) % u64::from(n)) as u32;
        let mut budget = RANGE_BUDGET;
        for pass in 0..2 {
            let stride = if pass == 0 && proto != ICMP && n > 1 { 2 } else { 1 };
            let mut o = off;
            if stride == 2 && ((lo + o) & 1) != u32::from(want & 1) {
                o += 1;
            }
            for _ in 0..n.div_ceil(stride) {
                if o >= n {
                    o -= n;
                    if stride == 2 && ((lo + o) & 1) != u32::from(want & 1) {
                        o += 1;
                        if o >= n {
                            break;
                        }
                    }
                }
                if free(lo + o) {
                    return Some((lo + o) as u16);
                }
                o += stride;
                budget -= 1;
                if budget == 0 {
                    return None;
                }
            }
        }
        None
    }
}

impl Nat64 {
    /// A pool4 transport address (address index, port) for the new BIB entry of `key`, by
    /// the engine's allocation mode. Port-block mode may take a new block for the
    /// subscriber (an [`BlockEvent`] at `now`).
    pub(super) fn allocate_port(&mut self, key: &SKey, now: Instant) -> Result<(u16, u16), Nat64Drop> {
        let c = u128::from_be_bytes(key.client);
        let h = self.pool.mix((c >> 64) as u64 ^ (c as u64).rotate_left(17), u64::from(key.proto));
        match &mut self.alloc {
            Alloc::Dynamic => {
                self.pool.allocate(&self.t, key.proto, &key.client, key.port).ok_or(Nat64Drop::PoolExhausted)
            }
            Alloc::Deterministic(m) => {
                // RFC 7422 §2: the subscriber's one address and port range, nothing else.
                let (a, p) = m.index_of(c).and_then(|i| m.slot_of(i)).ok_or(Nat64Drop::NotSubscriber)?;
                let n = m.params().ports;
                let a4 = self.pool.idx(a).ok_or(Nat64Drop::NotSubscriber)?;
                let port = self.pool.in_range(&self.t, key.proto, (a4, p, n), key.port, h);
                port.map(|p| (a4, p)).ok_or(Nat64Drop::SubscriberPorts)
            }
            Alloc::Blocks(b) => {
                let sub = b.subscriber(&key.client);
                let pk = pool_kind(key.proto);
                let size = b.cfg.size;
                let mut near = None;
                if let Some(list) = b.subs.get(&sub) {
                    // The client's own port first, in whichever of its blocks holds it.
                    let order = list.iter().copied().filter(|&id| b.owned.get(&id).is_some_and(|o| o.used[pk] < size));
                    for id in order {
                        let (a4, lo) = b.block(id);
                        near.get_or_insert(a4);
                        if let Some(p) = self.pool.in_range(&self.t, key.proto, (a4, lo, size), key.port, h) {
                            return Ok((a4, p));
                        }
                    }
                    if near.is_none() {
                        near = list.first().map(|&id| b.block(id).0);
                    }
                    if list.len() >= usize::from(b.cfg.max_per_subscriber) {
                        return Err(Nat64Drop::BlockLimit);
                    }
                }
                // No free block a moment ago: none still, until the next tick or a release
                // (a flood of new subscribers would otherwise scan the bitset each time).
                let ms = self.last_ms;
                if ms < b.full_until {
                    return Err(Nat64Drop::PoolExhausted);
                }
                let Some(id) = b.take(sub, near, h) else {
                    b.full_until = ms + TICK_MS;
                    return Err(Nat64Drop::PoolExhausted);
                };
                let (a4, lo) = b.block(id);
                b.event(BlockEventKind::Allocated, now, sub, Ipv4Addr::from(self.pool.addr_of(a4)), lo);
                // A block just taken holds no BIB entry (a block is given back only
                // once it holds none), so this finds the client's port or its parity.
                let p = self.pool.in_range(&self.t, key.proto, (a4, lo, size), key.port, h);
                if p.is_none() {
                    // Not expected (see above); the block then goes back after its hold.
                    b.idle(id, (ms / TICK_MS).min(u64::from(u32::MAX)) as u32);
                }
                p.map(|p| (a4, p)).ok_or(Nat64Drop::PoolExhausted)
            }
        }
    }

    /// A BIB entry was created on (`a4`, `p4`).
    #[inline]
    pub(super) fn port_taken(&mut self, proto: u8, a4: u16, p4: u16) {
        if let Alloc::Blocks(b) = &mut self.alloc {
            b.bib_added(a4, p4, pool_kind(proto));
        }
    }

    /// The BIB entry on (`a4`, `p4`) ended at `ms`.
    #[inline]
    pub(super) fn port_freed(&mut self, proto: u8, a4: u16, p4: u16, ms: u64) {
        if let Alloc::Blocks(b) = &mut self.alloc {
            b.bib_removed(a4, p4, pool_kind(proto), (ms / TICK_MS).min(u64::from(u32::MAX)) as u32);
        }
    }

    /// Releases port blocks whose hold time ended by `tick`.
    pub(super) fn expire_blocks(&mut self, tick: u32, now: Instant) {
        if let Alloc::Blocks(b) = &mut self.alloc {
            let pool = &self.pool;
            b.expire(tick, now, |a4| pool.addr_of(a4));
        }
    }

    /// The oldest port-block event not yet taken (port-block mode only; at most
    /// [`super::BLOCK_EVENTS`] wait, more are counted in
    /// [`Nat64::block_events_dropped`]). The engine writes no log itself: the caller
    /// drains these into its log.
    pub fn poll_block_event(&mut self) -> Option<BlockEvent> {
        match &mut self.alloc {
            Alloc::Blocks(b) => b.poll_event(),
            _ => None,
        }
    }

    /// Port-block events dropped because nobody took them out in time.
    pub fn block_events_dropped(&self) -> u64 {
        match &self.alloc {
            Alloc::Blocks(b) => b.events_dropped,
            _ => 0,
        }
    }

    /// Port blocks held (port-block mode) and subscribers holding them.
    pub fn block_stats(&self) -> (usize, usize) {
        match &self.alloc {
            Alloc::Blocks(b) => (b.owned.len(), b.subs.len()),
            _ => (0, 0),
        }
    }

    /// The allocation's part of the self-check: in port-block mode every BIB entry lies
    /// in a block of its subscriber and the blocks' counts agree; in deterministic mode
    /// every BIB entry lies in its subscriber's range.
    pub(super) fn check_alloc(&self) -> Result<(), String> {
        match &self.alloc {
            Alloc::Dynamic => Ok(()),
            Alloc::Blocks(b) => {
                let mut used: HashMap<u32, [u16; 3]> = HashMap::new();
                for (_, e) in self.t.bib.slots().filter(|(_, e)| e.proto != 0) {
                    let id = b.id_of(e.a4, e.p4).ok_or_else(|| format!("bib {e:?} outside the block grid"))?;
                    if b.owned.get(&id).map(|o| o.sub) != Some(b.subscriber(&e.client)) {
                        return Err(format!("bib {e:?} in a block of another subscriber"));
                    }
                    used.entry(id).or_default()[pool_kind(e.proto)] += 1;
                }
                b.check(&used)
            }
            Alloc::Deterministic(m) => {
                for (_, e) in self.t.bib.slots().filter(|(_, e)| e.proto != 0) {
                    let (a, p) = m
                        .index_of(u128::from_be_bytes(e.client))
                        .and_then(|i| m.slot_of(i))
                        .ok_or_else(|| format!("bib {e:?} of no subscriber"))?;
                    if self.pool.addr_of(e.a4) != a || !(p..=p + (m.params().ports - 1)).contains(&e.p4) {
                        return Err(format!("bib {e:?} outside its subscriber's range"));
                    }
                }
                Ok(())
            }
        }
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
