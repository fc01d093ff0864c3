//! Stateful NAT64 (RFC 6146) as a sans-IO engine.
//!
//! [`Nat64`] keeps a Binding Information Base (BIB: IPv6 transport address ↔ IPv4 pool
//! transport address) and session tables for TCP, UDP and ICMP query identifiers, and
//! translates headers and ICMP with the stateless translator ([`crate::Siit`]) by mapping
//! the session's IPv6 client to its IPv4 pool address for each packet and rewriting the
//! port (or identifier) with an RFC 1624 incremental checksum update.
//!
//! * Mapping is endpoint-independent (RFC 4787 REQ-1, RFC 6146 §3.5.1): one BIB entry per
//!   IPv6 transport address, reused for every destination.
//! * Filtering is address-dependent by default (RFC 6146 §3.5.1 / RFC 4787 REQ-8): an
//!   IPv4 packet to a BIB entry passes when a session with that IPv4 address exists;
//!   [`Filtering::EndpointIndependent`] lets any IPv4 host in.
//! * Ports keep their range (0–1023 / 1024–65535) and parity where the pool allows, and
//!   the client's own port is tried first (RFC 6146 §3.5.1.1, RFC 4787 REQ-3, REQ-4).
//! * The TCP state machine is RFC 6146 §3.5.2.2; UDP and ICMP sessions have idle timers
//!   (§3.5.1, §3.5.3). Every timer is driven by [`Engine::handle_timeout`].
//! * Limits: sessions in all and per IPv6 source; when a limit is reached, or the pool has
//!   no port left, new flows are dropped and counted while existing sessions keep
//!   working, and one from IPv6 is answered with an ICMPv6 Destination Unreachable,
//!   Address Unreachable (RFC 6146 §3.5.1.1, §3.5.3), as the ICMP error rate allows.
//! * Overload: sessions are created at most at
//!   [`Nat64Config::max_new_sessions_per_second`] (a token bucket on the `now` passed
//!   in); a new flow over that budget is refused before any pool search, silently
//!   (`new-flow-budget`), so a flood of new flows leaves time for established ones.
//!   Timers run in slices ([`EXPIRY_SLICE`] per [`Engine::handle_timeout`]), so a mass
//!   expiry does not stall the worker, and tables emptied by one give memory back.
//!
//! * An unsolicited IPv4 SYN that filtering or a missing BIB entry would drop is held for
//!   TCP_INCOMING_SYN (RFC 6146 §3.5.2.2): an IPv6 SYN for the same addresses and ports in
//!   that time (a simultaneous open) discards it and establishes the session; otherwise an
//!   ICMP Port Unreachable quoting it comes out of [`Engine::poll_transmit`] after
//!   [`Engine::handle_timeout`]. At most [`Nat64Config::max_held_syns`] are held;
//!   more are dropped and counted (`incoming-syn`).
//!
//! * TCP and UDP fragments (RFC 6146 §3.4, §3.5) are translated without reassembly: the
//!   first fragment goes through the session tables like a whole packet, and the mapping
//!   it chose (IPv6 client ↔ pool address) serves the datagram's other fragments, keyed
//!   by (direction, addresses, identification, protocol), until
//!   [`Nat64Config::fragment_timeout`] (FRAGMENT_MIN, 2 s) after the last fragment
//!   that used it. Fragments that come before their first one wait (at most
//!   [`Nat64Config::max_fragment_bytes`], for `fragment_timeout`) and come out of
//!   [`Engine::poll_transmit`] when it arrives. Each fragment is counted once
//!   ([`Counters`]): a waiting one as `waiting` (its verdict is `Drop(fragment-held)`,
//!   not counted as a drop), which it leaves when its fate is known: forwarded (out of
//!   `poll_transmit`), `fragment-timeout` (its first fragment never came), or `fragment`
//!   (no room to wait: then it is dropped at once).
//! * ICMP query fragments (a large echo request or reply) are dropped
//!   (`fragmented-icmp`), as RFC 7915 §1.2 has it: "Fragmented ICMP/ICMPv6 packets will
//!   not be translated by IP/ICMP translators." The ICMPv6 checksum covers a
//!   pseudo-header with the length of the whole reassembled message, the ICMPv4 one does
//!   not; so translating the checksum, which only the first fragment carries, needs a
//!   length that only the last fragment tells (its offset plus its length). Doing that
//!   right means holding the translated first fragment until the last one has come —
//!   reassembly in all but name — so this engine does not, and the stateless translator
//!   drops them as well.
//!
//! * An established TCP session that idles out for TCP_EST is probed (RFC 6146
//!   §3.5.2.2): an empty ACK segment with sequence and acknowledgment numbers 0 goes to
//!   the IPv6 endpoint (from [`Engine::poll_transmit`], after [`Engine::handle_timeout`],
//!   counted as `generated`, like the Port Unreachable for a held SYN) and the session moves to TRANS for TCP_TRANS; the endpoint's
//!   answer (an ACK) moves it back to ESTABLISHED, an RST or silence lets it end. A
//!   half-closed session (V4 FIN RCV, V6 FIN RCV) that idles out is deleted.
//!
//! # Memory
//! Entries live in slabs (fixed chunks of 4,096, addressed by `u32` slots, with free
//! lists): a session is 40 bytes (IPv6 transport address, remote IPv4 transport address,
//! pool address index and port, expiry and timer ticks of 100 ms, state), a BIB entry 26,
//! a per-source count 18, an address-dependent filtering count 12 (kept only under that
//! filtering). The lookups are hash tables of `u32` slots (5 bytes a bucket, keys read
//! from the slabs, SipHash keyed per engine): sessions by their IPv6 side and by their
//! IPv4 side (so an established packet costs one lookup either way), BIB entries both
//! ways, sources, filtering counts. The timer queue is a heap of 8-byte (deadline, slot)
//! pairs with lazy deletion. Measured at 1,000,000 UDP sessions each with its own BIB
//! entry: 116–145 bytes per session with endpoint-independent filtering, 168 with
//! address-dependent filtering (`BENCHMARKS.md`); most of the rest is hash-table slack
//! (power-of-two growth).
//!
//! # Sharding
//! An engine runs on one worker. [`crate::Nat64Shards`] cuts it into shards for several
//! workers: each shard has its own slice of the IPv4 pool ([`Nat64Config::shard`]) and
//! its own lock; IPv6 packets go to the shard of their source address's hash, IPv4
//! packets to the shard owning their destination port ([`Nat64Config::shard_of_v4`]),
//! so that both directions of a flow meet the same tables whichever worker reads them.
//!
//! # Layout
//! Where each rule lives (the source files of this module):
//!
//! | file | what | RFC |
//! | --- | --- | --- |
//! | `mod.rs` | the engine, its [`Engine`] impl: verdicts, the outbox, the timers (the min of the subsystems' deadlines, and their `expire` calls) | |
//! | `config.rs` | [`Nat64Config`], [`Pool4Range`], [`Filtering`], [`Timers`], validation, shard slices | RFC 6146 §4 (timers), RFC 7915 §4.1 (pool4 addresses) |
//! | `reason.rs` | [`Nat64Drop`] | |
//! | `events.rs` | [`NatEvent`]s for traceability logs: BIB entries and sessions created and deleted | RFC 6888 REQ-12 |
//! | `reconfigure.rs` | [`Nat64::reconfigure`]: a new configuration live, pool4 renumbering, sessions on removed pool4 addresses ended | RFC 6146 §3.5 (lifetimes set by packets) |
//! | `tables.rs` | slabs, hash indices, [`TableStats`] | |
//! | `sessions.rs` | creating and deleting sessions and BIB entries, the session timer queue | RFC 6146 §3.5.1, §3.5.2.2 (expiry) |
//! | `ports.rs` | pool4 addresses and port allocation (dispatching to the allocation mode), port rewriting | RFC 6146 §3.5.1.1, RFC 4787 REQ-1..4, RFC 1624 |
//! | `blocks.rs` | port blocks per subscriber, their hold timer queue, [`BlockEvent`]s | RFC 6888 REQ-2, REQ-4, §5; RFC 7422 §1 |
//! | `deterministic.rs` | the RFC 7422 mapping of subscriber prefixes to an address and port range, [`DeterministicMap`] | RFC 7422 §2 |
//! | `tcp.rs` | the TCP state machine, session refresh, probes | RFC 6146 §3.5.2.2 |
//! | `held.rs` | held unsolicited IPv4 SYNs, simultaneous open, their Port Unreachable | RFC 6146 §3.5.2.2 |
//! | `fragments.rs` | fragments without reassembly, and their timer queues | RFC 6146 §3.4, §3.5, §4 (FRAGMENT_MIN) |
//! | `outbound.rs` | IPv6 → IPv4, ICMPv6 errors, the answer to a refused new flow | RFC 6146 §3.5, §3.5.1.1, §3.5.3, §3.5.4, §3.8 |
//! | `inbound.rs` | IPv4 → IPv6, filtering, ICMPv4 errors | RFC 6146 §3.5, §3.5.1, §3.5.4, §3.8 |

mod blocks;
mod census;
mod config;
mod deterministic;
mod events;
mod fragments;
mod held;
mod inbound;
mod outbound;
mod ports;
mod reason;
mod reconfigure;
mod sessions;
mod tables;
mod tcp;

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Counters, Engine, Side, Verdict};
use sixgate_core::ratelimit::TokenBucket;
use sixgate_core::rfc6052::Pool6;
use sixgate_core::Protocol;

use crate::config::IcmpRateLimit;
use crate::reason::SiitDrop;
use crate::siit::{Out, Siit};
use crate::{ConfigError, Error};

pub use blocks::{BlockEvent, BlockEventKind, BLOCK_EVENTS};
pub(crate) use config::slice_of;
pub use config::{Allocation, Deterministic, Filtering, Instance, Nat64Config, Pool4Range, PortBlocks, Timers};
pub use deterministic::{DeterministicMap, LookupError, Share};
use events::Events;
pub use events::{EventLevel, NatEvent, NatEventKind, Remote, MAX_QUEUED as MAX_QUEUED_EVENTS};
use fragments::Fragments;
use held::HeldSyns;
use ports::{Alloc, Pool};
pub use reason::Nat64Drop;
use sessions::SessionTimers;
pub use tables::TableStats;
use tables::{SKey, Tables, ICMP};
pub use tcp::TcpState;

/// Time in the tables: ticks of 100 ms since the engine's time base, in 32 bits (13 years).
/// Deadlines are rounded up, so a lifetime is never cut short.
const TICK_MS: u64 = 100;

/// Expiry queues (oldest first) whose entries are left behind when their item leaves
/// early are rebuilt once they hold this many more entries than twice the live items.
const QUEUE_SLACK: usize = 64;

/// Session timer-queue entries one [`Engine::handle_timeout`] handles at most (each
/// deletes a session, probes one, requeues one or skips a stale entry): a slice of
/// deletions takes well under a millisecond at a million sessions (`BENCHMARKS.md`).
pub const EXPIRY_SLICE: usize = 512;

/// What a packet waiting in the engine's outbox is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queued {
    /// A translated packet (a fragment that waited for its first fragment): counted as
    /// forwarded when it leaves.
    Forward,
    /// A fragment after the first of a translated packet (counted with that packet).
    Extra,
    /// The answer to a fragment that waited for its first fragment and was then refused
    /// (for this reason, if it refuses one): counted as answered when it leaves.
    Answer(Option<Nat64Drop>),
    /// An ICMP error for a held SYN whose time ran out (a timer's packet: `generated`).
    Reply,
    /// A probe of an idle established TCP session (RFC 6146 §3.5.2.2; `generated`).
    Probe,
}

/// The stateful NAT64 engine (RFC 6146). [`Side::V6`] is the IPv6 client network,
/// [`Side::V4`] the IPv4 Internet.
#[derive(Debug)]
pub struct Nat64 {
    siit: Siit,
    pool6: Pool6,
    /// The IPv4 pool: its ranges, address ↔ index, port allocation.
    pool: Pool,
    filtering: Filtering,
    timers: Timers,
    max_sessions: usize,
    max_per_source: usize,
    t: Tables,
    n_sessions: usize,
    /// The sessions' timer queue.
    expiry: SessionTimers,
    /// Unsolicited IPv4 SYNs held for TCP_INCOMING_SYN, with their timer queue.
    held: HeldSyns,
    /// Packets for `poll_transmit`: ICMP errors for held SYNs whose time ran out,
    /// translated fragments that waited for their first fragment, probes of idle TCP
    /// sessions.
    outbox: Outbox,
    /// Fragment mappings and fragments waiting for their first fragment, with their
    /// timer queues.
    frags: Fragments,
    icmp_rate: IcmpRateLimit,
    bucket: TokenBucket,
    /// ICMPv6 errors for refused new flows not sent (rate limit, or a source that must
    /// not get one).
    icmp_suppressed: u64,
    /// The session-creation budget: (per second, burst; 0 per second: none) and its bucket.
    new_rate: (u32, u32),
    new_bucket: TokenBucket,
    /// Timer-queue entries handled at most per [`Engine::handle_timeout`].
    expiry_slice: usize,
    /// Memory is being given back, a few chunks per [`Engine::handle_timeout`].
    shrink_pending: bool,
    base: Option<Instant>,
    counters: Counters<Nat64Drop>,
    /// The reason a new flow from IPv6 was refused with an ICMPv6 error (set by
    /// `outbound`, counted as answered by `verdict`).
    refused: Option<Nat64Drop>,
    /// Hairpinned packets (RFC 6146 §3.8) go straight back in (`true`, one engine) or
    /// leave as IPv4 for the shard that owns their destination ([`crate::Nat64Shards`]).
    local_hairpin: bool,
    /// What reloads left behind: sessions ended by a pool4 change, limits lowered below
    /// what the tables held ([`Nat64::reconfigure`]).
    reload: reconfigure::ReloadState,
    /// How pool4 ports are handed out (`ports.rs`: dynamic, `blocks.rs`,
    /// `deterministic.rs`).
    alloc: Alloc,
    /// The last time seen (ms since the time base), for the block hold times of
    /// deletions.
    last_ms: u64,
    /// BIB and session events for the log (off by default).
    events: Events,
}

impl Nat64 {
    /// An engine with a validated configuration.
    pub fn new(cfg: Nat64Config) -> Result<Self, Error> {
        cfg.validate()?;
        let pool6 = cfg.xlate.pool6.ok_or(ConfigError::StatefulNeedsPool6)?;
        let icmp_rate = cfg.xlate.icmp_rate;
        let alloc = Alloc::new(&cfg.allocation, &cfg.pool4)?;
        Ok(Self {
            siit: Siit::new(cfg.xlate)?,
            pool6,
            pool: Pool::new(cfg.pool4, cfg.seed),
            filtering: cfg.filtering,
            timers: cfg.timers,
            // Slab slots are `u32`s.
            max_sessions: cfg.max_sessions.min(u32::MAX as usize - 1),
            max_per_source: cfg.max_sessions_per_source,
            t: Tables::default(),
            n_sessions: 0,
            expiry: SessionTimers::default(),
            held: HeldSyns::new(cfg.max_held_syns),
            outbox: Outbox::default(),
            frags: Fragments::new(cfg.fragment_timeout, cfg.max_fragment_flows, cfg.max_fragment_bytes),
            icmp_rate,
            bucket: TokenBucket::default(),
            icmp_suppressed: 0,
            new_rate: (cfg.max_new_sessions_per_second, cfg.new_sessions_burst),
            new_bucket: TokenBucket::default(),
            expiry_slice: EXPIRY_SLICE,
            shrink_pending: false,
            base: None,
            counters: Counters::new(),
            refused: None,
            local_hairpin: true,
            reload: reconfigure::ReloadState::default(),
            alloc,
            last_ms: 0,
            events: Events::new(cfg.events),
        })
    }

    /// Reserves table room for `n` sessions (and as many BIB entries) up front.
    pub fn reserve(&mut self, n: usize) {
        let n = n.min(self.max_sessions);
        self.t.reserve(n, self.filtering == Filtering::AddressDependent);
        self.expiry.reserve(n);
    }

    /// Bytes the tables hold (computed from their capacities: slab chunks, and hash
    /// indices of `u32` slots where a table of capacity `c` has `c × 8 / 7` buckets
    /// rounded up to a power of two, each 4 bytes plus one control byte; the timer queue
    /// is a vector). Excludes the allocator's own overhead.
    pub fn table_bytes(&self) -> usize {
        self.t.bytes() + self.expiry.bytes() + self.alloc.bytes()
    }

    /// Gives back memory the tables no longer need (see [`Tables::shrink`]) and the room
    /// of a timer queue left mostly empty; remembers whether there is more to give back.
    fn shrink(&mut self) {
        self.shrink_pending = self.t.shrink();
        self.expiry.shrink();
    }

    /// Sets the timer slice: how many timer-queue entries one [`Engine::handle_timeout`]
    /// handles at most (default [`EXPIRY_SLICE`]; 0 counts as 1).
    ///
    /// A smaller slice bounds the pause a mass expiry causes between packets more
    /// tightly, at the price of more `handle_timeout` calls to drain the queue (the
    /// engine's [`Engine::poll_timeout`] reports a passed deadline while entries are
    /// due); a larger one drains a backlog in fewer calls. Sessions expire the same
    /// either way, only spread over more or fewer calls.
    pub fn set_expiry_slice(&mut self, n: usize) {
        self.expiry_slice = n.max(1);
    }

    /// What the tables hold.
    pub fn stats(&self) -> TableStats {
        TableStats {
            bib: self.t.b6.len(),
            sessions: self.n_sessions,
            timers: self.expiry.len(),
            held_syns: self.held.len(),
        }
    }

    /// The IPv4 transport address bound to an IPv6 one (for [`Protocol::Icmp`], `port`
    /// is an ICMP query identifier), if any.
    pub fn binding(&self, proto: Protocol, addr: Ipv6Addr, port: u16) -> Option<(Ipv4Addr, u16)> {
        let i = self.t.find_b6(u8::from(proto), &addr.octets(), port)?;
        let b = self.t.bib.get(i);
        Some((Ipv4Addr::from(self.pool.addr_of(b.a4)), b.p4))
    }

    /// The IPv6 transport address bound to an IPv4 pool one, if any.
    pub fn binding_v4(&self, proto: Protocol, addr: Ipv4Addr, port: u16) -> Option<(Ipv6Addr, u16)> {
        let i = self.t.find_b4(u8::from(proto), self.pool.idx(u32::from(addr))?, port)?;
        let b = self.t.bib.get(i);
        Some((Ipv6Addr::from(b.client), b.port))
    }

    /// The TCP state of a session, if it exists (`Open` for UDP and ICMP).
    pub fn session_state(
        &self,
        proto: Protocol,
        client: Ipv6Addr,
        port: u16,
        remote: Ipv4Addr,
        rport: u16,
    ) -> Option<TcpState> {
        let proto = u8::from(proto);
        let rport = if proto == ICMP { 0 } else { rport };
        let k = SKey { client: client.octets(), remote: u32::from(remote), port, rport, proto };
        self.t.find_sess(&k).map(|i| self.t.sess.get(i).state)
    }

    /// Self-check of the tables: every live slab entry (session, BIB entry) is found
    /// through its hash indices and nothing else is, every session has its BIB entry,
    /// the per-source and filtering counts add up, and the fragment, held-SYN and
    /// outgoing queues agree with their own bookkeeping.
    ///
    /// It walks every table, so it costs time linear in their size: a check for tests,
    /// fuzzing and diagnostics (say, after a reconfiguration), not for the packet path.
    /// A healthy engine always returns `Ok`; `Err` describes the first inconsistency
    /// found, which is a bug in the translator.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.check_tables()?;
        self.check_alloc()?;
        self.frags.check()?;
        self.held.check()?;
        self.outbox.check()?;
        Ok(())
    }

    /// Milliseconds since the time base (the first instant the engine saw).
    fn now_ms(&mut self, now: Instant) -> u64 {
        let base = *self.base.get_or_insert(now);
        self.events.now = Some(now);
        let ms = now.saturating_duration_since(base).as_millis().min(u128::from(u64::MAX / 2)) as u64;
        self.last_ms = self.last_ms.max(ms);
        ms
    }

    /// The deadline (ticks, rounded up) `life` after `ms`.
    fn deadline(ms: u64, life: Duration) -> u32 {
        let life = life.as_millis().min(u128::from(u32::MAX)) as u64;
        (ms.saturating_add(life).div_ceil(TICK_MS)).min(u64::from(u32::MAX)) as u32
    }

    /// ICMPv6 errors for refused new flows (pool exhausted, session or per-source limit)
    /// that were not sent: over the ICMP error rate, or to a source that must not get one.
    pub fn icmp_suppressed(&self) -> u64 {
        self.icmp_suppressed
    }

    fn verdict(&mut self, r: Result<Out, Nat64Drop>) -> Verdict<Nat64Drop> {
        match r {
            Ok(Out::Fwd(side)) => {
                self.counters.forwarded += 1;
                Verdict::Forward(side)
            }
            Ok(Out::Reply(side, reason)) => {
                match (self.refused.take(), reason) {
                    (Some(r), _) => self.counters.answer(r),
                    (None, Some(r)) => self.counters.answer(Nat64Drop::Xlate(r)),
                    (None, None) => self.counters.replied += 1,
                }
                Verdict::Reply(side)
            }
            Ok(Out::Drop(r)) => {
                self.counters.drop(Nat64Drop::Xlate(r));
                Verdict::Drop(Nat64Drop::Xlate(r))
            }
            Err(r) => {
                // A kept fragment is counted as waiting until it leaves or times out.
                if r == Nat64Drop::FragmentHeld {
                    self.counters.hold();
                } else {
                    self.counters.drop(r);
                }
                Verdict::Drop(r)
            }
        }
    }
}

/// For [`crate::Nat64Shards`]: shards hand hairpinned packets to each other.
impl Nat64 {
    /// Whether hairpinned packets go straight back in (the default) or leave as IPv4
    /// packets with a pool destination for the caller to hand to [`Nat64::process_hairpin`]
    /// of the shard that owns that destination.
    pub(crate) fn set_local_hairpin(&mut self, on: bool) {
        self.local_hairpin = on;
    }

    /// An IPv4 packet that another shard translated from IPv6 and whose destination is in
    /// this shard's part of the pool (RFC 6146 §3.8): translated back to IPv6 as if the
    /// first shard had done it. Counted as a drop or a reply here, but not forwarded
    /// twice (the first shard counted it).
    pub(crate) fn process_hairpin(&mut self, buf: &mut PacketBuf, now: Instant) -> Verdict<Nat64Drop> {
        match self.inbound(buf, now, true) {
            Ok(Out::Fwd(side)) => Verdict::Forward(side),
            other => self.verdict(other),
        }
    }

    /// Swaps the engine's counters with `c`: a shard counts into the counters of the
    /// handle that holds its lock.
    pub(crate) fn swap_counters(&mut self, c: &mut Counters<Nat64Drop>) {
        std::mem::swap(&mut self.counters, c);
    }
}

impl Engine for Nat64 {
    type Reason = Nat64Drop;

    fn gauges(&self, out: &mut Vec<sixgate_core::engine::Gauge>) {
        self.census(out);
    }

    fn process(&mut self, buf: &mut PacketBuf, now: Instant) -> Verdict<Nat64Drop> {
        let r = match buf.first().map(|b| b >> 4) {
            Some(6) => self.outbound(buf, now),
            Some(4) => self.inbound(buf, now, false),
            _ => Err(Nat64Drop::Xlate(SiitDrop::Malformed)),
        };
        self.verdict(r)
    }

    fn poll_transmit(&mut self, buf: &mut PacketBuf) -> Option<Side> {
        if let Some(s) = self.siit.poll_transmit(buf) {
            self.counters.extra_fragments += 1;
            return Some(s);
        }
        // ICMP errors for held SYNs whose time ran out; fragments that waited; probes.
        while let Some((side, kind, p)) = self.outbox.pop() {
            let sent = buf.set(&p).is_ok();
            // Each packet counted once: a fragment that waited leaves `waiting` now (as
            // dropped, `fragment`, in the unlikely case it no longer fits); a timer's own
            // packets (probes, errors for held SYNs) are `generated`.
            match (kind, sent) {
                (Queued::Forward, true) => self.counters.release_forwarded(),
                (Queued::Answer(Some(r)), true) => self.counters.release_answered(r),
                (Queued::Answer(None), true) => {
                    self.counters.waiting -= 1;
                    self.counters.replied += 1;
                }
                (Queued::Forward | Queued::Answer(_), false) => self.counters.release_dropped(Nat64Drop::Fragment),
                (Queued::Extra, true) => self.counters.extra_fragments += 1,
                (Queued::Reply | Queued::Probe, true) => self.counters.generated += 1,
                (Queued::Extra | Queued::Reply | Queued::Probe, false) => {}
            }
            if sent {
                return Some(side);
            }
        }
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let base = self.base?;
        if self.shrink_pending {
            // Memory to give back: at once (the time base has passed).
            return Some(base);
        }
        // Each subsystem's own timer queue: sessions, held SYNs, fragments, port blocks.
        let d = [self.expiry.deadline(), self.held.deadline(), self.frags.deadline(), self.alloc.deadline()]
            .into_iter()
            .flatten()
            .min()?;
        Some(base + Duration::from_millis(u64::from(d) * TICK_MS))
    }

    /// Runs the timers that are due. The session timer queue is worked through in slices
    /// of at most [`EXPIRY_SLICE`] entries, so that sessions expiring together (a flood's,
    /// a million of them) never hold the worker for long: while due entries remain,
    /// [`Engine::poll_timeout`] reports a deadline that has passed, and the next call goes
    /// on. After a slice that deleted sessions, tables left mostly empty give memory back
    /// where that is cheap (empty trailing slab chunks, a few per call, and sparse hash
    /// indices); while some is left to give back, `poll_timeout` says "now" too.
    fn handle_timeout(&mut self, now: Instant) {
        let tick = (self.now_ms(now) / TICK_MS).min(u64::from(u32::MAX)) as u32;
        let ms = u64::from(tick) * TICK_MS;
        let removed = self.expire_sessions(tick, ms);
        if removed || self.shrink_pending {
            self.shrink();
        }
        while let Some(h) = self.held.expire(tick) {
            self.port_unreachable(&h, now);
        }
        for _ in 0..self.frags.expire(tick) {
            self.counters.release_dropped(Nat64Drop::FragmentTimeout);
        }
        self.expire_blocks(tick, now);
    }

    fn counters(&self) -> &Counters<Nat64Drop> {
        &self.counters
    }
}

/// Packets waiting for [`Engine::poll_transmit`], oldest first, with counts of the
/// replies (ICMP errors) and probes among them (each bounded).
#[derive(Debug, Default)]
struct Outbox {
    q: VecDeque<(Side, Queued, Vec<u8>)>,
    /// Replies (ICMP errors) and probes in `q`.
    replies: usize,
    probes: usize,
}

impl Outbox {
    /// Puts a packet in the outbox for `poll_transmit`.
    fn push(&mut self, side: Side, kind: Queued, p: Vec<u8>) {
        match kind {
            Queued::Forward | Queued::Extra | Queued::Answer(_) => {}
            Queued::Reply => self.replies += 1,
            Queued::Probe => self.probes += 1,
        }
        self.q.push_back((side, kind, p));
    }

    /// The oldest packet.
    fn pop(&mut self) -> Option<(Side, Queued, Vec<u8>)> {
        let o = self.q.pop_front()?;
        match o.1 {
            Queued::Forward | Queued::Extra | Queued::Answer(_) => {}
            Queued::Reply => self.replies -= 1,
            Queued::Probe => self.probes -= 1,
        }
        Some(o)
    }

    /// The outbox's part of [`Nat64::check_invariants`].
    fn check(&self) -> Result<(), String> {
        let count = |k: Queued| self.q.iter().filter(|o| o.1 == k).count();
        if count(Queued::Reply) != self.replies || count(Queued::Probe) != self.probes || self.probes > tcp::MAX_PROBES
        {
            return Err("outbox counts disagree".into());
        }
        Ok(())
    }
}
