//! Stateful NAT64 on several workers: the tables cut into shards, each behind its own lock.
//!
//! A multi-queue TUN device spreads packets over its queues by the kernel's flow hash,
//! which knows nothing of the NAT64's tables: the two directions of one session can come
//! in on different queues. [`Nat64Shards`] cuts the engine into `n` shards, each a
//! [`Nat64`] with its own slice of every pool4 port range ([`Nat64Config::shard`]) and
//! its own lock, and gives each worker a [`Nat64Handle`] (an [`Engine`]) that takes every
//! packet to the shard that owns its session:
//!
//! * IPv6 packets by a hash of the source address, so all the sessions of one IPv6 host
//!   (and its per-source limit) live in one shard; ICMPv6 errors by the destination of the
//!   packet they quote, which is that host (RFC 6146 §3.5.4).
//! * IPv4 packets by the pool port (or ICMP identifier) they are sent to; ICMPv4 errors by
//!   the source port of the packet they quote (RFC 6146 §3.5.4).
//! * Later fragments of a TCP or UDP datagram to the pool by the shard that translated its
//!   first fragment (remembered for `fragment_timeout` after the datagram's latest
//!   fragment); those that come before their first one wait here (RFC 6146 §3.4). Other
//!   IPv4 fragments go to the worker's own shard, which refuses them as one engine would.
//! * Hairpinned packets (RFC 6146 §3.8): translated to IPv4 by the source's shard, then
//!   back to IPv6 by the shard owning the pool destination.
//!
//! Locks are never nested (a shard's, or the fragment table's, is let go before another
//! is taken) and never held across I/O (a handle only translates under them); the kernel
//! keeps a flow on one queue, so a shard's lock is mostly taken by one worker at a time.
//!
//! # Handles and counters
//! [`Nat64Shards::into_handles`] makes the handles, one per shard, once: the handle of
//! shard `k` runs that shard's timers (so each shard's run exactly once). Each handle
//! counts what it did itself — the packets it was given, what it sent after them or
//! after a timer, the drops its timers decided — in its own [`Counters`], updated in
//! place as it works (while it holds a shard's lock, the shard counts into the handle's
//! counters). So [`Engine::counters`] of a handle is always current, needs no
//! [`Engine::sync_counters`], and agrees with what its worker gave it: a worker that
//! reads its handle's counters next to its own count of packets received reads both
//! from the same instant. The counters of the whole engine are the sum of the handles'.
//!
//! Limits are split evenly between the shards: each allows `max_sessions / n` sessions
//! (rounded up, so the total may exceed the limit by up to `n − 1`), likewise held SYNs,
//! the ICMP error rate and burst, the session-creation budget, and fragment state; the
//! per-source limit stays exact, since a source lives in one shard. Of `max_fragment_bytes`, half is for IPv4 fragments
//! that wait here for their first one, half (split between the shards) for IPv6 ones.
//!
//! Not the same as one engine: a simultaneous open (RFC 6146 §3.5.2.2) meets its held
//! IPv4 SYN only when the IPv6 host's shard owns the pool port that SYN was sent to, and
//! the host's own port is kept (RFC 4787 REQ-1's "port preservation") only when it falls
//! in that shard's slice of the pool; otherwise the SYN is answered with Port Unreachable
//! after TCP_INCOMING_SYN, as if no IPv6 SYN had come.
//!
//! ```
//! use std::time::Instant;
//! use sixgate_core::{buf::PacketBuf, engine::{Engine, Side, Verdict}, rfc6052::Pool6};
//! use sixgate_nat64::{Nat64Shards, Pool4Range, Nat64Config};
//! use etherparse::PacketBuilder; // builds the test packets
//!
//! let pool6 = Pool6::new("64:ff9b:1::/96".parse()?)?;
//! let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse()?, 1024, 65535)];
//! let cfg = Nat64Config::new(pool6, pool4, "192.0.2.1".parse()?, "2001:db8::1".parse()?);
//! let shards = Nat64Shards::new(cfg, 2)?;
//! let Ok([mut w0, mut w1]) = <[_; 2]>::try_from(shards.into_handles()) else { unreachable!() };
//! let now = Instant::now();
//! // The request comes in on one worker, the answer on the other.
//! let addr = |a: &str| a.parse::<std::net::Ipv6Addr>().map(|a| a.octets());
//! let mut q = Vec::new();
//! PacketBuilder::ipv6(addr("2001:db8::10")?, addr("64:ff9b:1::cb00:7105")?, 64).udp(5000, 53).write(&mut q, b"q")?;
//! let mut b = PacketBuf::from_slice(&q);
//! assert_eq!(w0.process(&mut b, now), Verdict::Forward(Side::V4));
//! let out = sixgate_core::wire::Ipv4Packet::new_checked(b.as_slice())?;
//! let port = sixgate_core::wire::UdpPacket::new_checked(out.payload())?.src_port();
//! let mut a = Vec::new();
//! PacketBuilder::ipv4([203, 0, 113, 5], [198, 51, 100, 1], 64).udp(53, port).write(&mut a, b"a")?;
//! let mut r = PacketBuf::from_slice(&a);
//! assert_eq!(w1.process(&mut r, now), Verdict::Forward(Side::V6));
//! // Each worker's counters are its own, current without being synced.
//! assert_eq!((w0.counters().forwarded, w1.counters().forwarded), (1, 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{HashMap, VecDeque};
use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Counters, Engine, Side, Verdict};
use sixgate_core::wire::ipv6::ext;
use sixgate_core::wire::{
    be16, fragment, icmpv4, icmpv6, ipv4, ipv6, proto, udp, FragmentHeader, Icmpv4Packet, Ipv4Packet, Ipv6Packet,
    UdpPacket,
};

use crate::stateful::{slice_of, Nat64, Nat64Config, Nat64Drop, NatEvent, TableStats};
use crate::{ConfigError, Error};

mod reload;

/// A stateful NAT64 cut into shards for several workers (see the module docs).
#[derive(Debug, Clone)]
pub struct Nat64Shards {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    shards: Box<[Mutex<Nat64>]>,
    steer: Steer,
    frags: Mutex<FragSteer>,
    /// Whether the fragment table holds anything (so that looking for its next deadline
    /// does not take its lock on every wake-up of every worker).
    frags_busy: AtomicBool,
    /// Whether the handles have been made ([`Nat64Shards::into_handles`]).
    handed_out: AtomicBool,
}

/// Which shard owns what.
#[derive(Debug)]
struct Steer {
    n: usize,
    seed: u64,
    /// The pool4 ranges: (first address, last address, first port, last port).
    pool: Vec<(u32, u32, u16, u16)>,
}

/// The IPv4 fragments of one datagram: (source, destination, identification, protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FragKey(u32, u32, u16, u8);

/// Where IPv4 fragments after the first go, and those that came too early.
#[derive(Debug)]
struct FragSteer {
    /// Datagram → (owning shard, expiry).
    owners: HashMap<FragKey, (usize, Instant)>,
    max_owners: usize,
    /// Fragments whose first fragment has not come: (deadline, datagram, bytes).
    waiting: VecDeque<(Instant, FragKey, Vec<u8>)>,
    /// How many of them each datagram has.
    waiting_keys: HashMap<FragKey, usize>,
    waiting_bytes: usize,
    max_bytes: usize,
    life: Duration,
    /// When expired owners are next swept out.
    sweep: Option<Instant>,
}

/// What to do with a packet.
enum Route {
    /// Translate it in this shard.
    Shard(usize),
    /// The first fragment of a fragmented IPv4 datagram: translate it in this shard and
    /// send the datagram's other fragments there.
    First(usize, FragKey),
    /// A later IPv4 fragment: to wherever its first fragment went.
    Later(FragKey),
}

fn lock(m: &Mutex<Nat64>) -> MutexGuard<'_, Nat64> {
    // A shard's state stays consistent between calls: a panic in another worker does
    // not leave it half-changed in a way that matters more than losing that worker.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Nat64Shards {
    /// `n` shards (at least 1) of the engine `cfg` describes. Fails when the
    /// configuration is invalid or a pool4 port range has fewer ports than shards.
    pub fn new(cfg: Nat64Config, n: usize) -> Result<Self, Error> {
        cfg.validate()?;
        let n = n.max(1);
        if n > 1 && matches!(cfg.allocation, crate::Allocation::Deterministic(_)) {
            return Err(ConfigError::DeterministicSharded { shards: n }.into());
        }
        if let Some(r) = cfg.pool4.iter().find(|r| usize::from(r.last - r.first) + 1 < n) {
            return Err(ConfigError::TooFewPortsForShards {
                prefix: r.prefix,
                first: r.first,
                last: r.last,
                shards: n,
            }
            .into());
        }
        let split = |v: usize| v.div_ceil(n);
        let split32 = |v: u32| v.div_ceil(n as u32);
        let shards = (0..n)
            .map(|k| {
                let mut c = cfg.shard(k, n);
                c.max_sessions = split(cfg.max_sessions);
                c.max_held_syns = split(cfg.max_held_syns);
                c.max_fragment_flows = split(cfg.max_fragment_flows);
                // The other half waits in the shared table (IPv4 fragments, see below).
                c.max_fragment_bytes = split(cfg.max_fragment_bytes / 2);
                // 0 stays 0 (no limit).
                c.xlate.icmp_rate.per_second = split32(cfg.xlate.icmp_rate.per_second);
                c.xlate.icmp_rate.burst = split32(cfg.xlate.icmp_rate.burst);
                // Likewise the session-creation budget (0 stays 0: no limit).
                c.max_new_sessions_per_second = split32(cfg.max_new_sessions_per_second);
                c.new_sessions_burst = split32(cfg.new_sessions_burst);
                // Every shard its own port-choice key.
                c.seed = cfg.seed ^ (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let mut e = Nat64::new(c)?;
                e.set_local_hairpin(n == 1);
                Ok(Mutex::new(e))
            })
            .collect::<Result<Box<[_]>, Error>>()?;
        let steer = Steer {
            n,
            seed: cfg.seed,
            pool: cfg
                .pool4
                .iter()
                .map(|r| (u32::from(r.prefix.network()), u32::from(r.prefix.broadcast()), r.first, r.last))
                .collect(),
        };
        let frags = FragSteer {
            owners: HashMap::new(),
            max_owners: cfg.max_fragment_flows,
            waiting: VecDeque::new(),
            waiting_keys: HashMap::new(),
            waiting_bytes: 0,
            max_bytes: cfg.max_fragment_bytes - cfg.max_fragment_bytes / 2,
            life: cfg.fragment_timeout,
            sweep: None,
        };
        Ok(Self {
            shared: Arc::new(Shared {
                shards,
                steer,
                frags: Mutex::new(frags),
                frags_busy: AtomicBool::new(false),
                handed_out: AtomicBool::new(false),
            }),
        })
    }

    /// How many shards.
    pub fn len(&self) -> usize {
        self.shared.shards.len()
    }

    /// Never: there is at least one shard.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The workers' engines, one per shard: handle `k` runs the timers of shard `k`.
    /// Every packet may go to any handle (each steers it to the shard that owns it), and
    /// each handle counts what it did (see the module docs), so the handles' counters add
    /// up to the engine's. The handles are made once: after the first call, this (or a
    /// clone's) returns none, so no shard's timers run twice.
    pub fn into_handles(self) -> Vec<Nat64Handle> {
        if self.shared.handed_out.swap(true, Ordering::AcqRel) {
            return Vec::new();
        }
        (0..self.len())
            .map(|k| Nat64Handle {
                shared: Arc::clone(&self.shared),
                me: k,
                out: VecDeque::new(),
                spare: PacketBuf::new(),
                now: None,
                counters: Counters::new(),
                events: VecDeque::new(),
            })
            .collect()
    }

    /// Runs `f` on shard `k` (for inspection: bindings, sessions, statistics, invariants),
    /// under its lock; `None` when `k` is not below [`Nat64Shards::len`]. A shard's own
    /// [`Engine::counters`] stay zero: the handles count (see the module docs).
    pub fn with_shard<T>(&self, k: usize, f: impl FnOnce(&Nat64) -> T) -> Option<T> {
        self.shared.shards.get(k).map(|m| f(&lock(m)))
    }

    /// The oldest port-block event waiting in any shard (port-block mode;
    /// [`Nat64::poll_block_event`]), shard by shard.
    pub fn poll_block_event(&self) -> Option<crate::BlockEvent> {
        self.shared.shards.iter().find_map(|m| lock(m).poll_block_event())
    }

    /// Table statistics summed over the shards, all taken at one instant (every shard is
    /// locked, in order, while they are read; handles never hold two locks, so this
    /// cannot deadlock with them).
    pub fn stats(&self) -> TableStats {
        let shards: Vec<_> = self.shared.shards.iter().map(lock).collect();
        let mut all = TableStats::default();
        for t in shards.iter().map(|e| e.stats()) {
            all.bib += t.bib;
            all.sessions += t.sessions;
            all.timers += t.timers;
            all.held_syns += t.held_syns;
        }
        all
    }
}

impl Steer {
    /// The shard owning pool transport address `addr:port` (the slices of
    /// [`Nat64Config::shard`]), or `None` outside the pool.
    fn v4(&self, addr: u32, port: u16) -> Option<usize> {
        let &(_, _, first, last) =
            self.pool.iter().find(|r| (r.0..=r.1).contains(&addr) && (r.2..=r.3).contains(&port))?;
        Some(slice_of(first, last, port, self.n))
    }

    fn v6(&self, addr: Ipv6Addr) -> usize {
        let x = u128::from(addr);
        let h = ((x as u64) ^ ((x >> 64) as u64) ^ self.seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (((h >> 32) * self.n as u64) >> 32) as usize
    }

    fn in_pool(&self, addr: u32) -> bool {
        self.pool.iter().any(|r| (r.0..=r.1).contains(&addr))
    }

    fn route(&self, p: &[u8], me: usize) -> Route {
        match p.first().map(|b| b >> 4) {
            Some(6) if p.len() >= ipv6::HEADER_LEN => Route::Shard(self.route6(p)),
            Some(4) if p.len() >= ipv4::HEADER_LEN => self.route4(p, me),
            _ => Route::Shard(me),
        }
    }

    /// `p` holds the IPv6 header (`route`).
    fn route6(&self, p: &[u8]) -> usize {
        let ip = Ipv6Packet::new_unchecked(p);
        let (mut nh, mut off) = (ip.next_header(), ipv6::HEADER_LEN);
        // Every extension header is at least 8 bytes, so this ends.
        while off < p.len() {
            match nh {
                proto::HOP_BY_HOP | proto::ROUTING | proto::DST_OPTS => {
                    let Some(h) = p.get(off..off + 2) else { break };
                    off += ext::header_len(nh, h[ext::LENGTH]);
                    nh = h[ext::NEXT_HEADER];
                }
                proto::FRAGMENT => match p.get(off..off + fragment::HEADER_LEN).map(FragmentHeader::new_unchecked) {
                    Some(f) if f.frag_offset() == 0 => {
                        nh = f.next_header();
                        off += fragment::HEADER_LEN;
                    }
                    _ => break,
                },
                _ => break,
            }
        }
        // An ICMPv6 error quotes a packet sent to the IPv6 host whose session it concerns.
        if nh == proto::ICMPV6 && p.get(off).is_some_and(|&t| icmpv6::is_error(t)) {
            let quoted = p.get(off + icmpv6::HEADER_LEN..).and_then(|q| q.get(..ipv6::HEADER_LEN));
            if let Some(q) = quoted {
                return self.v6(Ipv6Packet::new_unchecked(q).dst_addr());
            }
        }
        self.v6(ip.src_addr())
    }

    /// `p` holds the fixed IPv4 header (`route`).
    fn route4(&self, p: &[u8], me: usize) -> Route {
        let ip = Ipv4Packet::new_unchecked(p);
        let ihl = ip.header_len();
        let (src, dst, protocol) = (u32::from(ip.src_addr()), u32::from(ip.dst_addr()), ip.protocol());
        let key = FragKey(src, dst, ip.ident(), protocol);
        // RFC 6146 §3.4: only TCP and UDP fragments to the pool can be translated (one
        // engine refuses the others before keeping anything; so does `me`'s shard).
        let tracked = matches!(protocol, proto::TCP | proto::UDP) && self.in_pool(dst);
        if ip.frag_offset() != 0 {
            return if tracked { Route::Later(key) } else { Route::Shard(me) };
        }
        let l4 = p.get(ihl..).unwrap_or_default();
        let owner = match protocol {
            // Only the ports need be there; TCP and UDP place them alike.
            proto::TCP | proto::UDP if l4.len() >= udp::DST_PORT_AT + 2 => self.v4(dst, be16(l4, udp::DST_PORT_AT)),
            proto::ICMP if l4.len() >= icmpv4::HEADER_LEN => {
                let m = Icmpv4Packet::new_unchecked(l4);
                match m.msg_type() {
                    icmpv4::ECHO_REPLY | icmpv4::ECHO_REQUEST => self.v4(dst, m.echo_ident()),
                    // The quoted packet left from a pool address: its source names the BIB
                    // entry.
                    icmpv4::DEST_UNREACHABLE | icmpv4::TIME_EXCEEDED | icmpv4::PARAM_PROBLEM => {
                        let q = m.payload();
                        let ih = q.get(..ipv4::HEADER_LEN).map(Ipv4Packet::new_unchecked);
                        let iihl = ih.map_or(0, |h| h.header_len());
                        match (ih, q.get(iihl..iihl + 8)) {
                            (Some(ih), Some(il4)) if iihl >= ipv4::HEADER_LEN => {
                                let isrc = u32::from(ih.src_addr());
                                match ih.protocol() {
                                    proto::TCP | proto::UDP => self.v4(isrc, UdpPacket::new_unchecked(il4).src_port()),
                                    proto::ICMP => self.v4(isrc, Icmpv4Packet::new_unchecked(il4).echo_ident()),
                                    _ => None,
                                }
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        let k = owner.unwrap_or(me);
        if tracked && ip.more_frags() {
            Route::First(k, key)
        } else {
            Route::Shard(k)
        }
    }
}

impl FragSteer {
    fn remember(&mut self, key: FragKey, shard: usize, now: Instant) {
        let n = self.owners.len();
        match self.owners.get_mut(&key) {
            Some(o) => *o = (shard, now + self.life),
            None if n < self.max_owners => {
                self.owners.insert(key, (shard, now + self.life));
                self.sweep.get_or_insert(now + self.life);
            }
            // Full: the datagram's later fragments wait and time out (counted).
            None => {}
        }
    }

    /// The shard of a later fragment, its datagram's expiry moved on.
    fn owner(&mut self, key: FragKey, now: Instant) -> Option<usize> {
        let o = self.owners.get_mut(&key)?;
        if o.1 <= now {
            return None;
        }
        o.1 = now + self.life;
        Some(o.0)
    }

    fn deadline(&self) -> Option<Instant> {
        [self.waiting.front().map(|w| w.0), self.sweep].into_iter().flatten().min()
    }

    fn is_empty(&self) -> bool {
        self.owners.is_empty() && self.waiting.is_empty()
    }

    /// Keeps a fragment that came before its first one, if there is room.
    fn hold(&mut self, key: FragKey, p: &[u8], now: Instant) -> bool {
        if self.waiting_bytes + p.len() > self.max_bytes {
            return false;
        }
        self.waiting_bytes += p.len();
        self.waiting.push_back((now + self.life, key, p.to_vec()));
        *self.waiting_keys.entry(key).or_default() += 1;
        true
    }

    /// Takes the fragments of `key` that wait.
    fn take(&mut self, key: FragKey) -> Vec<Vec<u8>> {
        if self.waiting_keys.remove(&key).is_none() {
            return Vec::new();
        }
        let mut ready = Vec::new();
        let mut bytes = self.waiting_bytes;
        self.waiting.retain_mut(|w| {
            if w.1 == key {
                bytes -= w.2.len();
                ready.push(std::mem::take(&mut w.2));
                false
            } else {
                true
            }
        });
        self.waiting_bytes = bytes;
        ready
    }

    /// Drops what has expired; returns how many waiting fragments timed out.
    fn expire(&mut self, now: Instant) -> u64 {
        let mut lost = 0;
        while self.waiting.front().is_some_and(|w| w.0 <= now) {
            if let Some((_, k, p)) = self.waiting.pop_front() {
                self.waiting_bytes -= p.len();
                if let Some(c) = self.waiting_keys.get_mut(&k) {
                    *c -= 1;
                    if *c == 0 {
                        self.waiting_keys.remove(&k);
                    }
                }
                lost += 1;
            }
        }
        if self.sweep.is_some_and(|s| s <= now) {
            self.owners.retain(|_, o| o.1 > now);
            self.sweep = self.owners.values().map(|o| o.1).min();
        }
        lost
    }
}

/// One worker's engine on the shared shards ([`Nat64Shards::into_handles`]).
#[derive(Debug)]
pub struct Nat64Handle {
    shared: Arc<Shared>,
    me: usize,
    /// Extra packets for `poll_transmit`.
    out: VecDeque<(Side, Vec<u8>)>,
    spare: PacketBuf,
    /// The latest `now` seen (for hairpinning packets that come out of `poll_transmit`).
    now: Option<Instant>,
    /// What this handle did (see the module docs).
    counters: Counters<Nat64Drop>,
    /// BIB and session events of the shards this handle worked on, for [`Nat64Handle::poll_event`].
    events: VecDeque<NatEvent>,
}

impl Nat64Handle {
    /// Runs `f` on shard `k`, locked, counting into this handle's counters, and moves
    /// what the shard queued to send into this handle's queue.
    fn on_shard<T>(&mut self, k: usize, f: impl FnOnce(&mut Nat64) -> T) -> T {
        let mut e = lock(&self.shared.shards[k]);
        e.swap_counters(&mut self.counters);
        let v = f(&mut e);
        while let Some(side) = e.poll_transmit(&mut self.spare) {
            self.out.push_back((side, self.spare.as_slice().to_vec()));
        }
        // Events go with the handle (taken under the shard's lock, like its packets).
        while let Some(ev) = e.poll_event() {
            self.events.push_back(ev);
        }
        e.swap_counters(&mut self.counters);
        v
    }

    /// The oldest port-block event waiting in any shard (port-block mode; see
    /// [`Nat64Shards::poll_block_event`]). Locks the shards in turn: call it now and then
    /// (at a counter publication), not per packet.
    pub fn poll_block_event(&self) -> Option<crate::BlockEvent> {
        self.shared.shards.iter().find_map(|m| lock(m).poll_block_event())
    }

    /// The oldest BIB or session event not yet taken, of the shards this handle worked on
    /// (see [`Nat64::poll_event`]; none while logging is off).
    #[inline]
    pub fn poll_event(&mut self) -> Option<NatEvent> {
        self.events.pop_front()
    }

    fn frags(&self) -> MutexGuard<'_, FragSteer> {
        self.shared.frags.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Translates `buf` in shard `k`.
    fn run(&mut self, k: usize, buf: &mut PacketBuf, now: Instant) -> Verdict<Nat64Drop> {
        self.on_shard(k, |e| e.process(buf, now))
    }

    /// Whether `p` is an IPv4 packet to a pool address (RFC 6146 §3.8 hairpinning).
    fn hairpinned(&self, p: &[u8]) -> bool {
        match p.get(..ipv4::HEADER_LEN).map(Ipv4Packet::new_unchecked) {
            Some(ip) => ip.version() == 4 && self.shared.steer.in_pool(u32::from(ip.dst_addr())),
            None => false,
        }
    }

    /// An IPv4 packet a shard made of an IPv6 one (counted as forwarded by this handle),
    /// addressed to the pool: to IPv6 again by the shard that owns the destination. If
    /// that drops or answers it (counted so there), the count as forwarded is taken back,
    /// so that it is counted once, as one engine counts it.
    fn hairpin(&mut self, buf: &mut PacketBuf, now: Instant) -> Verdict<Nat64Drop> {
        let route = self.shared.steer.route(buf.as_slice(), self.me);
        let k = match route {
            Route::Shard(k) | Route::First(k, _) => Some(k),
            Route::Later(key) => self.frags().owner(key, now),
        };
        let v = match k {
            Some(k) => self.on_shard(k, |e| e.process_hairpin(buf, now)),
            // A later fragment whose first one did not come through.
            None => {
                self.counters.drop(Nat64Drop::Fragment);
                Verdict::Drop(Nat64Drop::Fragment)
            }
        };
        match (v, route) {
            (Verdict::Forward(_), Route::First(k, key)) => self.first_done(key, k, now),
            (Verdict::Drop(_) | Verdict::Reply(_), _) => {
                self.counters.forwarded = self.counters.forwarded.saturating_sub(1)
            }
            _ => {}
        }
        v
    }

    /// A first fragment went through shard `k`: its datagram's later fragments go there
    /// too, and those that came before it are translated now.
    fn first_done(&mut self, key: FragKey, k: usize, now: Instant) {
        let ready = {
            let mut f = self.frags();
            f.remember(key, k, now);
            self.shared.frags_busy.store(true, Ordering::Relaxed);
            f.take(key)
        };
        self.release(ready, k, now);
    }

    /// Translates, in shard `k`, fragments that waited for their first one. Each leaves
    /// `waiting` (of whichever handle kept it: the counts add up over the handles) and is
    /// counted by the shard as any packet it is given.
    fn release(&mut self, ready: Vec<Vec<u8>>, k: usize, now: Instant) {
        let mut tmp = PacketBuf::new();
        for p in ready {
            if tmp.set(&p).is_err() {
                self.counters.release_dropped(Nat64Drop::Fragment);
                continue;
            }
            self.counters.waiting -= 1;
            match self.run(k, &mut tmp, now) {
                Verdict::Forward(side) | Verdict::Reply(side) => self.out.push_back((side, tmp.as_slice().to_vec())),
                Verdict::Drop(_) => {}
            }
        }
    }
}

impl Engine for Nat64Handle {
    type Reason = Nat64Drop;

    /// Its own shard's tables (the shards are one per handle).
    fn gauges(&self, out: &mut Vec<sixgate_core::engine::Gauge>) {
        if let Some(m) = self.shared.shards.get(self.me) {
            lock(m).gauges(out);
        }
    }

    fn process(&mut self, buf: &mut PacketBuf, now: Instant) -> Verdict<Nat64Drop> {
        self.now = Some(now);
        let v = match self.shared.steer.route(buf.as_slice(), self.me) {
            Route::Shard(k) => self.run(k, buf, now),
            Route::First(k, key) => {
                let v = self.run(k, buf, now);
                // Remembered only once the shard took it (so refused first fragments
                // take no room), then the early ones: a later fragment sees either the
                // owner or, before it, waits and is taken here.
                if matches!(v, Verdict::Forward(_)) {
                    self.first_done(key, k, now);
                }
                v
            }
            Route::Later(key) => {
                let mut f = self.frags();
                match f.owner(key, now) {
                    Some(k) => {
                        drop(f);
                        self.run(k, buf, now)
                    }
                    // RFC 6146 §3.4: a fragment before its first one waits for it (bounded).
                    None => {
                        let held = f.hold(key, buf.as_slice(), now);
                        if held {
                            self.shared.frags_busy.store(true, Ordering::Relaxed);
                        }
                        drop(f);
                        // Counted as waiting until its fate is known, as one engine does:
                        // forwarded when its first fragment comes, else `fragment-timeout`.
                        if !held {
                            self.counters.drop(Nat64Drop::Fragment);
                            return Verdict::Drop(Nat64Drop::Fragment);
                        }
                        self.counters.hold();
                        return Verdict::Drop(Nat64Drop::FragmentHeld);
                    }
                }
            }
        };
        if v == Verdict::Forward(Side::V4) && self.shared.shards.len() > 1 && self.hairpinned(buf.as_slice()) {
            return self.hairpin(buf, now);
        }
        v
    }

    fn poll_transmit(&mut self, buf: &mut PacketBuf) -> Option<Side> {
        while let Some((side, p)) = self.out.pop_front() {
            if buf.set(&p).is_err() {
                continue;
            }
            if side == Side::V4 && self.shared.shards.len() > 1 && self.hairpinned(buf.as_slice()) {
                let now = self.now.unwrap_or_else(Instant::now);
                match self.hairpin(buf, now) {
                    Verdict::Forward(s) | Verdict::Reply(s) => return Some(s),
                    Verdict::Drop(_) => continue,
                }
            }
            return Some(side);
        }
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let own = lock(&self.shared.shards[self.me]).poll_timeout();
        if !self.shared.frags_busy.load(Ordering::Relaxed) {
            return own;
        }
        let frags = self.frags().deadline();
        [own, frags].into_iter().flatten().min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = Some(now);
        self.on_shard(self.me, |e| e.handle_timeout(now));
        if !self.shared.frags_busy.load(Ordering::Relaxed) {
            return;
        }
        let lost = {
            let mut f = self.frags();
            let lost = f.expire(now);
            // Under the lock, so that a concurrent `hold` or `remember` (which set it
            // after taking the lock) is not undone.
            self.shared.frags_busy.store(!f.is_empty(), Ordering::Relaxed);
            lost
        };
        for _ in 0..lost {
            self.counters.release_dropped(Nat64Drop::FragmentTimeout);
        }
    }

    /// What this handle did: always current (see the module docs).
    fn counters(&self) -> &Counters<Nat64Drop> {
        &self.counters
    }
}
