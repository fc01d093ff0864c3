//! Port-block allocation: each IPv6 subscriber (its source address cut to
//! [`PortBlocks::prefix_len`]) gets a block of [`PortBlocks::size`] ports on one pool4
//! address with its first session, more blocks (up to
//! [`PortBlocks::max_per_subscriber`]) when those are full, and gives a block back
//! [`PortBlocks::hold`] after the last BIB entry in it ended. One [`BlockEvent`] per
//! block allocated or released replaces a log line per session.
//!
//! Why: RFC 6888 §5 (allocating ports in ranges cuts the log to one entry per range) and
//! RFC 7422 §1; the block limit is the per-subscriber port limit of RFC 6888 REQ-4. What
//! of the RFC 6146 §3.5.1.1 / RFC 4787 port rules is kept inside a block: the client's
//! own port when it lies in one of its blocks and is free (RFC 4787 REQ-3), then a port
//! of the same parity from a hashed start (REQ-4 parity); range preservation (0–1023 vs
//! 1024–65535) is the block's, not the client's. A subscriber's further blocks are taken
//! on the address of its first block while that address has a free block ("paired" IP
//! address pooling, RFC 4787 REQ-2, RFC 6888 REQ-2), else on any address.
//!
//! The block grid: each pool4 range's ports `first..=last` are cut into
//! `⌊(last − first + 1) / size⌋` blocks per address (ports left over at the top of a
//! range are not used; configuration validation refuses a size that does not divide the
//! range). Which blocks are taken is a bitset over every block of the pool (one bit a
//! block), so finding a free one is a scan of 64 blocks per word from a hashed start.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use ipnet::Ipv6Net;

use super::Pool4Range;
use crate::ConfigError;

/// Port-block allocation parameters ([`super::Allocation::Blocks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PortBlocks {
    /// Ports per block (it must divide every pool4 entry's port range).
    pub size: u16,
    /// The subscriber's prefix length: sources sharing their first `prefix_len` bits
    /// share blocks (56 to 128).
    pub prefix_len: u8,
    /// Blocks a subscriber holds at most; a new flow that finds them all full is dropped
    /// (`block-limit`).
    pub max_per_subscriber: u16,
    /// How long a block stays with its subscriber after its last session ended.
    pub hold: Duration,
}

impl PortBlocks {
    /// Blocks of `size` ports, one subscriber a /56, at most 8 blocks each, held 120 s.
    pub fn new(size: u16) -> Self {
        Self { size, prefix_len: 56, max_per_subscriber: 8, hold: Duration::from_secs(120) }
    }

    /// Checks the parameters against pool4.
    pub(super) fn validate(&self, pool4: &[Pool4Range]) -> Result<(), ConfigError> {
        if self.size == 0 {
            return Err(ConfigError::ZeroLimit { field: "port_block" });
        }
        if self.max_per_subscriber == 0 {
            return Err(ConfigError::ZeroLimit { field: "max_blocks_per_subscriber" });
        }
        if !(56..=128).contains(&self.prefix_len) {
            return Err(ConfigError::SubscriberPrefixLen { len: self.prefix_len, subscribers: None });
        }
        for r in pool4 {
            let span = u32::from(r.last.saturating_sub(r.first)) + 1;
            let e = (self.size, r.prefix, r.first, r.last);
            if u32::from(self.size) > span {
                return Err(ConfigError::BlockTooLarge { size: e.0, prefix: e.1, first: e.2, last: e.3 });
            }
            if span % u32::from(self.size) != 0 {
                return Err(ConfigError::BlockSizeNotDividing { size: e.0, prefix: e.1, first: e.2, last: e.3 });
            }
        }
        Ok(())
    }
}

/// What happened to a port block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockEventKind {
    /// Given to the subscriber (its first session in it is being created).
    Allocated,
    /// Given back (its hold time after its last session passed).
    Released,
}

/// A port block allocated or released: one log line ([`super::Nat64::poll_block_event`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEvent {
    /// Allocated or released.
    pub kind: BlockEventKind,
    /// When (the `now` of the packet or timer that did it).
    pub time: Instant,
    /// The subscriber prefix.
    pub subscriber: Ipv6Net,
    /// The pool4 address.
    pub ipv4: Ipv4Addr,
    /// The block's ports (for every protocol; ICMP identifiers too).
    pub ports: RangeInclusive<u16>,
}

/// `a` cut to its first `len` bits (`len` ≤ 128).
#[inline]
pub(super) fn mask(a: u128, len: u8) -> u128 {
    let host = 128 - u32::from(len.min(128));
    if host == 0 {
        a
    } else {
        a & !(u128::MAX >> (128 - host))
    }
}

/// Block events kept for [`super::Nat64::poll_block_event`]; more are dropped and counted.
pub const BLOCK_EVENTS: usize = 65_536;

/// A pool4 range of the grid: its first address's pool index, addresses, first port,
/// blocks per address, first block id.
#[derive(Debug, Clone, Copy)]
struct Span {
    a4: u32,
    n_addrs: u32,
    first: u16,
    k: u32,
    base: u32,
}

/// A block given to a subscriber.
#[derive(Debug, Clone, Copy)]
pub(super) struct Owned {
    /// The subscriber prefix (bytes: no 16-byte alignment to pad the map's entries).
    pub(super) sub: [u8; 16],
    /// BIB entries in it, per protocol ([`super::ports::pool_kind`]).
    pub(super) used: [u16; 3],
    /// When its hold time ends (ticks; 0: in use).
    release_at: u32,
}

/// The port blocks of one engine.
#[derive(Debug)]
pub(super) struct Blocks {
    pub(super) cfg: PortBlocks,
    spans: Vec<Span>,
    n_blocks: u32,
    taken: Vec<u64>,
    pub(super) owned: HashMap<u32, Owned>,
    /// Each subscriber's blocks, first allocated first.
    pub(super) subs: HashMap<[u8; 16], Vec<u32>>,
    timers: BinaryHeap<Reverse<(u32, u32)>>,
    events: VecDeque<BlockEvent>,
    pub(super) events_dropped: u64,
    hold_ticks: u32,
    /// Until when (ms) no block counts as free, after a search for one failed.
    pub(super) full_until: u64,
}

impl Blocks {
    /// The grid of `cfg` (validated) over `pool4`.
    pub(super) fn new(cfg: PortBlocks, pool4: &[Pool4Range], tick_ms: u64) -> Self {
        let (mut a4, mut base) = (0u32, 0u32);
        let spans = pool4
            .iter()
            .map(|r| {
                let n_addrs = 1u32 << (32 - r.prefix.prefix_len());
                let k = (u32::from(r.last - r.first) + 1) / u32::from(cfg.size.max(1));
                let s = Span { a4, n_addrs, first: r.first, k, base };
                a4 += n_addrs;
                base = base.saturating_add(n_addrs.saturating_mul(k));
                s
            })
            .collect();
        let hold = cfg.hold.as_millis().min(u128::from(u32::MAX)) as u64;
        Self {
            cfg,
            spans,
            n_blocks: base,
            taken: vec![0; (base as usize).div_ceil(64)],
            owned: HashMap::new(),
            subs: HashMap::new(),
            timers: BinaryHeap::new(),
            events: VecDeque::new(),
            events_dropped: 0,
            hold_ticks: hold.div_ceil(tick_ms).min(u64::from(u32::MAX)) as u32,
            full_until: 0,
        }
    }

    /// The subscriber of a source address.
    #[inline]
    pub(super) fn subscriber(&self, client: &[u8; 16]) -> [u8; 16] {
        mask(u128::from_be_bytes(*client), self.cfg.prefix_len).to_be_bytes()
    }

    /// Block `id`'s (pool address index, first port).
    #[inline]
    pub(super) fn block(&self, id: u32) -> (u16, u16) {
        let s = self.spans.iter().rev().find(|s| s.base <= id).copied().unwrap_or(self.spans[0]);
        let j = id - s.base;
        ((s.a4 + j / s.k) as u16, s.first + ((j % s.k) as u16) * self.cfg.size)
    }

    /// The block holding pool transport address (index `a4`, `port`), if any.
    #[inline]
    pub(super) fn id_of(&self, a4: u16, port: u16) -> Option<u32> {
        let a4 = u32::from(a4);
        let s = self.spans.iter().find(|s| a4 >= s.a4 && a4 < s.a4 + s.n_addrs)?;
        let b = u32::from(port.checked_sub(s.first)?) / u32::from(self.cfg.size);
        (b < s.k).then(|| s.base + (a4 - s.a4) * s.k + b)
    }

    fn is_taken(&self, id: u32) -> bool {
        self.taken[(id / 64) as usize] & (1 << (id % 64)) != 0
    }

    /// The first free block at or after `start` among ids `lo..hi` (wrapping), by words.
    fn scan(&self, lo: u32, hi: u32, start: u32) -> Option<u32> {
        if lo >= hi {
            return None;
        }
        let mut id = start.clamp(lo, hi - 1);
        let mut left = hi - lo;
        while left > 0 {
            let w = self.taken[(id / 64) as usize] >> (id % 64);
            // Free bits from `id` to the end of its word (bits past `hi` excluded below).
            let free = (!w).trailing_zeros().min(64 - id % 64);
            let run = (64 - id % 64).min(left);
            if free < run && id + free < hi {
                return Some(id + free);
            }
            let step = run.min(hi - id);
            left -= step;
            id += step;
            if id >= hi {
                id = lo;
            }
        }
        None
    }

    /// Takes a free block for subscriber `sub`: on pool address `near` if one is free
    /// there, else anywhere from a start hashed from `h`.
    pub(super) fn take(&mut self, sub: [u8; 16], near: Option<u16>, h: u64) -> Option<u32> {
        let on_near = near.and_then(|a4| {
            let s = self.spans.iter().find(|s| u32::from(a4) >= s.a4 && u32::from(a4) < s.a4 + s.n_addrs)?;
            let lo = s.base + (u32::from(a4) - s.a4) * s.k;
            self.scan(lo, lo + s.k, lo)
        });
        let id = on_near.or_else(|| self.scan(0, self.n_blocks, (h % u64::from(self.n_blocks.max(1))) as u32))?;
        self.taken[(id / 64) as usize] |= 1 << (id % 64);
        self.owned.insert(id, Owned { sub, used: [0; 3], release_at: 0 });
        self.subs.entry(sub).or_default().push(id);
        Some(id)
    }

    /// Records an event (or counts it dropped when the queue is full).
    pub(super) fn event(&mut self, kind: BlockEventKind, time: Instant, sub: [u8; 16], ipv4: Ipv4Addr, first: u16) {
        if self.events.len() >= BLOCK_EVENTS {
            self.events_dropped += 1;
            return;
        }
        let subscriber = Ipv6Net::new(Ipv6Addr::from(sub), self.cfg.prefix_len).unwrap_or_default();
        self.events.push_back(BlockEvent { kind, time, subscriber, ipv4, ports: first..=first + (self.cfg.size - 1) });
    }

    /// The oldest event.
    pub(super) fn poll_event(&mut self) -> Option<BlockEvent> {
        self.events.pop_front()
    }

    /// A BIB entry was created on (`a4`, `port`) for protocol kind `pk`.
    pub(super) fn bib_added(&mut self, a4: u16, port: u16, pk: usize) {
        if let Some(o) = self.id_of(a4, port).and_then(|id| self.owned.get_mut(&id)) {
            o.used[pk] += 1;
            o.release_at = 0;
        }
    }

    /// A BIB entry on (`a4`, `port`) ended at `tick`: its block's hold time starts when it
    /// was the last one.
    pub(super) fn bib_removed(&mut self, a4: u16, port: u16, pk: usize, tick: u32) {
        let Some(id) = self.id_of(a4, port) else { return };
        let Some(o) = self.owned.get_mut(&id) else { return };
        o.used[pk] = o.used[pk].saturating_sub(1);
        if o.used == [0; 3] {
            self.idle(id, tick);
        }
    }

    /// Block `id` holds no BIB entry since `tick`: its hold time starts.
    pub(super) fn idle(&mut self, id: u32, tick: u32) {
        if let Some(o) = self.owned.get_mut(&id) {
            let d = tick.saturating_add(self.hold_ticks).max(1);
            o.release_at = d;
            self.timers.push(Reverse((d, id)));
        }
    }

    /// The earliest hold time queued (ticks).
    pub(super) fn deadline(&self) -> Option<u32> {
        self.timers.peek().map(|r| r.0 .0)
    }

    /// Releases the blocks whose hold time ended by `tick` (stale queue entries, of
    /// blocks used again since, are skipped); `addr_of` names a pool address index.
    pub(super) fn expire(&mut self, tick: u32, now: Instant, addr_of: impl Fn(u16) -> u32) {
        while let Some(&Reverse((d, id))) = self.timers.peek() {
            if d > tick {
                break;
            }
            self.timers.pop();
            let Some(o) = self.owned.get(&id).copied() else { continue };
            if o.release_at != d || o.used != [0; 3] {
                continue;
            }
            self.owned.remove(&id);
            self.taken[(id / 64) as usize] &= !(1 << (id % 64));
            self.full_until = 0;
            if let Some(v) = self.subs.get_mut(&o.sub) {
                v.retain(|&b| b != id);
                if v.is_empty() {
                    self.subs.remove(&o.sub);
                }
            }
            let (a4, first) = self.block(id);
            self.event(BlockEventKind::Released, now, o.sub, Ipv4Addr::from(addr_of(a4)), first);
        }
        if self.timers.len() > 64 + 2 * self.owned.len() {
            let owned = &self.owned;
            self.timers.retain(|Reverse((d, id))| owned.get(id).is_some_and(|o| o.release_at == *d));
        }
    }

    /// Bytes held (capacities: the bitset, the two maps at their entry sizes plus a control
    /// byte, the subscribers' lists, the timer queue).
    pub(super) fn bytes(&self) -> usize {
        let map = |cap: usize, entry: usize| if cap == 0 { 0 } else { (cap * 8 / 7).next_power_of_two() * (entry + 1) };
        self.taken.capacity() * 8
            + map(self.owned.capacity(), size_of::<(u32, Owned)>())
            + map(self.subs.capacity(), size_of::<([u8; 16], Vec<u32>)>())
            + self.subs.values().map(|v| v.capacity() * 4).sum::<usize>()
            + self.timers.capacity() * 8
            + self.events.capacity() * size_of::<BlockEvent>()
    }

    /// The blocks' part of the self-check: the bitset, the owners and the subscribers'
    /// lists agree, and no subscriber holds more than its limit; `used` gives the BIB
    /// entries counted on each block from the BIB.
    pub(super) fn check(&self, used: &HashMap<u32, [u16; 3]>) -> Result<(), String> {
        let n_taken: u32 = self.taken.iter().map(|w| w.count_ones()).sum();
        if n_taken as usize != self.owned.len() {
            return Err(format!("{n_taken} blocks taken, {} owned", self.owned.len()));
        }
        for (id, o) in &self.owned {
            if !self.is_taken(*id) || !self.subs.get(&o.sub).is_some_and(|v| v.contains(id)) {
                return Err(format!("block {id} owned but not listed"));
            }
            if used.get(id).copied().unwrap_or([0; 3]) != o.used {
                return Err(format!("block {id} counts {:?} BIB entries", o.used));
            }
            if o.used == [0; 3] && o.release_at == 0 {
                return Err(format!("block {id} unused without a hold time"));
            }
        }
        if used.keys().any(|id| !self.owned.contains_key(id)) {
            return Err("a BIB entry in a block nobody owns".into());
        }
        let listed: usize = self.subs.values().map(Vec::len).sum();
        if listed != self.owned.len() || self.subs.values().any(|v| v.len() > usize::from(self.cfg.max_per_subscriber))
        {
            return Err("subscribers' block lists disagree".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(size: u16, pool: &[(&str, u16, u16)]) -> Blocks {
        let pool: Vec<_> = pool.iter().map(|&(p, a, b)| Pool4Range::new(p.parse().unwrap(), a, b)).collect();
        Blocks::new(PortBlocks::new(size), &pool, 100)
    }

    #[test]
    fn grid_round_trips() {
        let b = blocks(1000, &[("198.51.100.0/30", 1000, 10999), ("203.0.113.7/32", 20000, 29999)]);
        assert_eq!(b.n_blocks, 4 * 10 + 10);
        for id in 0..b.n_blocks {
            let (a4, p) = b.block(id);
            assert_eq!(b.id_of(a4, p), Some(id));
            assert_eq!(b.id_of(a4, p + 999), Some(id));
        }
        assert_eq!(b.block(40), (4, 20000));
        assert_eq!(b.id_of(0, 999), None);
    }

    #[test]
    fn take_prefers_the_near_address_and_scans_words() {
        let mut b = blocks(64, &[("198.51.100.0/30", 0, 65535)]);
        let first = b.take([1; 16], None, 12345).unwrap();
        let (a4, _) = b.block(first);
        for _ in 0..1023 {
            let id = b.take([1; 16], Some(a4), 0).unwrap();
            assert_eq!(b.block(id).0, a4);
        }
        // That address is full now: the next block comes from another one.
        let id = b.take([1; 16], Some(a4), 0).unwrap();
        assert_ne!(b.block(id).0, a4);
        let mut n = 1025;
        while b.take([2; 16], None, n).is_some() {
            n += 1;
        }
        assert_eq!(n, 4096);
    }

    #[test]
    fn subscriber_masks() {
        let mut b = blocks(64, &[("198.51.100.0/30", 0, 65535)]);
        let a: Ipv6Addr = "2001:db8:1:2ff:1:2:3:4".parse().unwrap();
        assert_eq!(Ipv6Addr::from(b.subscriber(&a.octets())), "2001:db8:1:200::".parse::<Ipv6Addr>().unwrap());
        b.cfg.prefix_len = 128;
        assert_eq!(Ipv6Addr::from(b.subscriber(&a.octets())), a);
        b.cfg.prefix_len = 64;
        assert_eq!(Ipv6Addr::from(b.subscriber(&a.octets())), "2001:db8:1:2ff::".parse::<Ipv6Addr>().unwrap());
    }
}
