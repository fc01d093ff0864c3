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
//!   [`StatefulConfig::max_new_sessions_per_second`] (a token bucket on the `now` passed
//!   in); a new flow over that budget is refused before any pool search, silently
//!   (`new-flow-budget`), so a flood of new flows leaves time for established ones.
//!   Timers run in slices ([`EXPIRY_SLICE`] per [`Engine::handle_timeout`]), so a mass
//!   expiry does not stall the worker, and tables emptied by one give memory back.
//!
//! * An unsolicited IPv4 SYN that filtering or a missing BIB entry would drop is held for
//!   TCP_INCOMING_SYN (RFC 6146 §3.5.2.2): an IPv6 SYN for the same addresses and ports in
//!   that time (a simultaneous open) discards it and establishes the session; otherwise an
//!   ICMP Port Unreachable quoting it comes out of [`Engine::poll_transmit`] after
//!   [`Engine::handle_timeout`]. At most [`StatefulConfig::max_held_syns`] are held;
//!   more are dropped and counted (`incoming-syn`).
//!
//! * TCP and UDP fragments (RFC 6146 §3.4, §3.5) are translated without reassembly: the
//!   first fragment goes through the session tables like a whole packet, and the mapping
//!   it chose (IPv6 client ↔ pool address) serves the datagram's other fragments, keyed
//!   by (direction, addresses, identification, protocol), until
//!   [`StatefulConfig::fragment_timeout`] (FRAGMENT_MIN, 2 s) after the last fragment
//!   that used it. Fragments that come before their first one wait (at most
//!   [`StatefulConfig::max_fragment_bytes`], for `fragment_timeout`) and come out of
//!   [`Engine::poll_transmit`] when it arrives. Each fragment is counted once, when its
//!   fate is known: forwarded (at once or from `poll_transmit`), `fragment-timeout` (its
//!   first fragment never came) or `fragment` (no room to wait).
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
//!   counted as a reply) and the session moves to TRANS for TCP_TRANS; the endpoint's
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
//! workers: each shard has its own slice of the IPv4 pool ([`StatefulConfig::shard`]) and
//! its own lock; IPv6 packets go to the shard of their source address's hash, IPv4
//! packets to the shard owning their destination port ([`StatefulConfig::shard_of_v4`]),
//! so that both directions of a flow meet the same tables whichever worker reads them.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use hashbrown::HashTable;
use ipnet::Ipv4Net;
use sixgate_core::buf::PacketBuf;
use sixgate_core::checksum::{self, add};
use sixgate_core::class::is_forbidden_v4;
use sixgate_core::engine::{Counters, Engine, Reason, Side, Verdict};
use sixgate_core::ratelimit::TokenBucket;
use sixgate_core::rfc6052::{self, Pool6};
use sixgate_core::router::forward_hop;
use sixgate_core::wire::{be16, be32};

use crate::config::{IcmpRateLimit, SiitConfig};
use crate::reason::DropReason;
use crate::siit::{Out, Siit};
use crate::{ConfigError, Error};

// ------------------------------------------------------------------ configuration

/// A slice of the IPv4 pool: every address of `prefix`, ports `first..=last` (for ICMP:
/// identifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pool4Range {
    /// Addresses.
    pub prefix: Ipv4Net,
    /// First port.
    pub first: u16,
    /// Last port.
    pub last: u16,
}

impl Pool4Range {
    /// `prefix` with ports `first..=last`.
    pub fn new(prefix: Ipv4Net, first: u16, last: u16) -> Self {
        Self { prefix: prefix.trunc(), first, last }
    }
}

/// How IPv4 packets to an existing BIB entry are filtered (RFC 4787 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Filtering {
    /// Only from IPv4 addresses the IPv6 host has sent to (the default, RFC 6146 §3.5.1).
    #[default]
    AddressDependent,
    /// From any IPv4 host.
    EndpointIndependent,
}

/// Session lifetimes (RFC 6146 §4 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timers {
    /// UDP_DEFAULT: at least 5 minutes.
    pub udp: Duration,
    /// ICMP_DEFAULT: 60 seconds.
    pub icmp: Duration,
    /// TCP_EST: at least 2 hours 4 minutes.
    pub tcp_est: Duration,
    /// TCP_TRANS: at least 4 minutes.
    pub tcp_trans: Duration,
    /// TCP_INCOMING_SYN: at least 6 seconds (the V4 INIT state).
    pub tcp_incoming_syn: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            udp: Duration::from_secs(300),
            icmp: Duration::from_secs(60),
            tcp_est: Duration::from_secs(2 * 3600 + 4 * 60),
            tcp_trans: Duration::from_secs(240),
            tcp_incoming_syn: Duration::from_secs(6),
        }
    }
}

/// Configuration of the stateful translator.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StatefulConfig {
    /// Header translation settings (own addresses, MTUs, TOS, ICMP rate); its `pool6` is
    /// the NAT64 prefix and must be set; its EAM table must be empty.
    pub xlate: SiitConfig,
    /// IPv4 pool for TCP and UDP ports and ICMP identifiers.
    pub pool4: Vec<Pool4Range>,
    /// Filtering behaviour.
    pub filtering: Filtering,
    /// Lifetimes.
    pub timers: Timers,
    /// Sessions in all (every protocol).
    pub max_sessions: usize,
    /// Sessions per IPv6 source address.
    pub max_sessions_per_source: usize,
    /// Seed of the port-choice hash (so ports are not predictable from outside).
    pub seed: u64,
    /// Unsolicited IPv4 SYNs held at once for TCP_INCOMING_SYN (RFC 6146 §3.5.2.2); more
    /// are dropped and counted (`incoming-syn`). 0 holds none.
    pub max_held_syns: usize,
    /// How long the mapping chosen by a datagram's first fragment serves its other
    /// fragments after the last one that used it, and how long a fragment that came
    /// before its first one is kept (FRAGMENT_MIN, at least 2 seconds: RFC 6146 §4).
    pub fragment_timeout: Duration,
    /// Datagrams whose fragments are tracked at once.
    pub max_fragment_flows: usize,
    /// Bytes of fragments kept while their first fragment has not come.
    pub max_fragment_bytes: usize,
    /// Sessions created per second at most, in the long run (0: no limit). Under a flood
    /// of new flows the packets of existing sessions keep being translated: a new flow
    /// over this budget is refused early (before a pool port is searched for) and counted
    /// (`new-flow-budget`), silently — RFC 4443 §3.1: no ICMPv6 error for a packet
    /// dropped for congestion.
    pub max_new_sessions_per_second: u32,
    /// Sessions that may be created at once above that rate (the token bucket's depth).
    pub new_sessions_burst: u32,
}

impl StatefulConfig {
    /// A configuration with the NAT64 prefix `pool6`, the IPv4 pool `pool4` and the
    /// translator's own addresses; defaults elsewhere (address-dependent filtering,
    /// RFC 6146 timers, 1,000,000 sessions, 4,096 per source, 64 held SYNs; fragments:
    /// 2 s, 4,096 datagrams, 256 KiB waiting; 100,000 new sessions a second with bursts
    /// of 10,000).
    pub fn new(pool6: Pool6, pool4: Vec<Pool4Range>, own_ipv4: Ipv4Addr, own_ipv6: Ipv6Addr) -> Self {
        let mut xlate = SiitConfig::new(own_ipv4, own_ipv6);
        xlate.pool6 = Some(pool6);
        Self {
            xlate,
            pool4,
            filtering: Filtering::default(),
            timers: Timers::default(),
            max_sessions: 1_000_000,
            max_sessions_per_source: 4096,
            seed: 0x5158_6a7e_2c4d_9b01,
            max_held_syns: 64,
            fragment_timeout: Duration::from_secs(2),
            max_fragment_flows: 4096,
            max_fragment_bytes: 256 * 1024,
            max_new_sessions_per_second: 100_000,
            new_sessions_burst: 10_000,
        }
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.xlate.validate()?;
        if self.xlate.pool6.is_none() {
            return Err(ConfigError::StatefulNeedsPool6);
        }
        if !self.xlate.eamt.is_empty() {
            return Err(ConfigError::StatefulWithEam { count: self.xlate.eamt.len() });
        }
        if self.pool4.is_empty() {
            return Err(ConfigError::Pool4Missing);
        }
        let mut n = 0u64;
        for r in &self.pool4 {
            if r.first > r.last {
                return Err(ConfigError::Pool4EmptyRange { prefix: r.prefix, first: r.first, last: r.last });
            }
            let net = u32::from(r.prefix.network());
            // RFC 7915 §4.1 (RFC 6146 §3.5 applies it): the pool holds no address that the
            // translator must drop. Every forbidden block is a /16 or shorter, so looking at
            // each /16 the prefix touches decides it.
            let (lo, hi) = (u32::from(r.prefix.network()) >> 16, u32::from(r.prefix.broadcast()) >> 16);
            if (lo..=hi).any(|x| is_forbidden_v4(Ipv4Addr::from(x << 16))) {
                return Err(ConfigError::Pool4Forbidden { prefix: r.prefix });
            }
            if let Some(q) = self.pool4.iter().find(|q| {
                !std::ptr::eq(*q, r)
                    && (q.prefix.contains(&Ipv4Addr::from(net)) || r.prefix.contains(&q.prefix.network()))
            }) {
                return Err(ConfigError::Pool4Overlap { prefix: r.prefix, other: q.prefix });
            }
            n += 1u64 << (32 - r.prefix.prefix_len());
        }
        if n > 65536 {
            return Err(ConfigError::Pool4TooLarge { addresses: n, max: 65536 });
        }
        if self.max_sessions == 0 {
            return Err(ConfigError::ZeroLimit { field: "max_sessions" });
        }
        if self.max_sessions_per_source == 0 {
            return Err(ConfigError::ZeroLimit { field: "max_sessions_per_source" });
        }
        if self.max_sessions_per_source > 65535 {
            return Err(ConfigError::SessionsPerSourceTooLarge { value: self.max_sessions_per_source, max: 65535 });
        }
        Ok(())
    }

    /// The configuration of worker `k` of `n`: the same pool addresses with every port
    /// range cut into `n` contiguous slices, worker `k` keeping slice `k`. IPv4 packets
    /// are steered with [`StatefulConfig::shard_of_v4`].
    pub fn shard(&self, k: usize, n: usize) -> Self {
        let mut c = self.clone();
        let n = n.max(1);
        c.pool4 = self
            .pool4
            .iter()
            .filter_map(|r| {
                let (a, b) = slice(r.first, r.last, k, n)?;
                Some(Pool4Range { prefix: r.prefix, first: a, last: b })
            })
            .collect();
        c
    }

    /// Which of `n` workers (made with [`StatefulConfig::shard`]) owns IPv4 transport
    /// address `addr:port`, or `None` when it is not in the pool.
    pub fn shard_of_v4(&self, addr: Ipv4Addr, port: u16, n: usize) -> Option<usize> {
        let n = n.max(1);
        let r = self.pool4.iter().find(|r| r.prefix.contains(&addr) && (r.first..=r.last).contains(&port))?;
        Some(slice_of(r.first, r.last, port, n))
    }
}

/// Which of the `n` slices of `first..=last` ([`slice`]) holds `port` (in that range).
pub(crate) fn slice_of(first: u16, last: u16, port: u16, n: usize) -> usize {
    let (span, off) = (usize::from(last - first) + 1, usize::from(port - first));
    // Slice k starts at span·k/n; the one holding `off` is the last that starts at or
    // before it (empty slices start where the next one does).
    let mut k = off * n / span;
    while k + 1 < n && span * (k + 1) / n <= off {
        k += 1;
    }
    while k > 0 && span * k / n > off {
        k -= 1;
    }
    k
}

fn slice(first: u16, last: u16, k: usize, n: usize) -> Option<(u16, u16)> {
    let span = usize::from(last - first) + 1;
    let a = first as usize + span * k / n;
    let b = first as usize + span * (k + 1) / n;
    (k < n && b > a).then(|| (a as u16, (b - 1) as u16))
}

// ------------------------------------------------------------------ drop reasons

/// Stateful NAT64 reasons (after the translator's own, [`Nat64Drop::Xlate`]).
const OWN: &[Nat64Drop] = &[
    Nat64Drop::NoBinding,
    Nat64Drop::Filtered,
    Nat64Drop::IncomingSyn,
    Nat64Drop::SynHeld,
    Nat64Drop::TcpNotSyn,
    Nat64Drop::NoSession,
    Nat64Drop::SessionLimit,
    Nat64Drop::SourceLimit,
    Nat64Drop::PoolExhausted,
    Nat64Drop::Fragment,
    Nat64Drop::FragmentHeld,
    Nat64Drop::FragmentTimeout,
    Nat64Drop::UnsupportedProtocol,
    Nat64Drop::NewFlowBudget,
];
const N_ALL: usize = OWN.len() + DropReason::ALL.len();
const ALL: [Nat64Drop; N_ALL] = {
    let mut a = [Nat64Drop::NoBinding; N_ALL];
    let mut i = 0;
    while i < OWN.len() {
        a[i] = OWN[i];
        i += 1;
    }
    let mut j = 0;
    while j < DropReason::ALL.len() {
        a[OWN.len() + j] = Nat64Drop::Xlate(DropReason::ALL[j]);
        j += 1;
    }
    a
};

/// Why the stateful translator did not forward a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Nat64Drop {
    /// An IPv4 packet (or ICMP error) for a pool transport address with no BIB entry.
    NoBinding,
    /// Refused by address-dependent filtering (RFC 6146 §3.5.1, RFC 4787 REQ-8).
    Filtered,
    /// An unsolicited IPv4 SYN (no BIB entry, or refused by address-dependent filtering)
    /// that could not be held: the store of held SYNs is full (or the SYN came back in
    /// by hairpinning).
    IncomingSyn,
    /// An unsolicited IPv4 SYN held for TCP_INCOMING_SYN (RFC 6146 §3.5.2.2), or a
    /// retransmission of one already held: not forwarded now; a matching IPv6 SYN
    /// discards it, else an ICMP Port Unreachable goes back for it.
    SynHeld,
    /// A new TCP flow from IPv6 that does not start with SYN (RFC 6146 §3.5.2.2, CLOSED).
    TcpNotSyn,
    /// An IPv4 TCP segment with a BIB entry but no session that is not a SYN.
    NoSession,
    /// The session table is full; a new flow was refused (from IPv6: with an ICMPv6
    /// Address Unreachable, rate-limited, see [`Nat64::icmp_suppressed`]).
    SessionLimit,
    /// The IPv6 source has its maximum of sessions; a new flow was refused (with an
    /// ICMPv6 Address Unreachable, rate-limited).
    SourceLimit,
    /// No free port (or identifier) in the IPv4 pool (with an ICMPv6 Address
    /// Unreachable, rate-limited: RFC 6146 §3.5.1.1, §3.5.3).
    PoolExhausted,
    /// A fragment that came before its datagram's first fragment and could not be kept
    /// for it: the store of waiting fragments (`max_fragment_bytes`) was full, or it came
    /// back in by hairpinning. Counted when refused.
    Fragment,
    /// The verdict for a fragment that came before its datagram's first fragment and is
    /// kept (not forwarded now). Never counted itself: such a fragment is counted once,
    /// when its fate is known — as forwarded when it comes out of `poll_transmit` after
    /// its first fragment, or as [`Nat64Drop::FragmentTimeout`].
    FragmentHeld,
    /// A kept fragment whose datagram's first fragment did not come within
    /// `fragment_timeout` (FRAGMENT_MIN): dropped then, and counted then (once).
    FragmentTimeout,
    /// A protocol or ICMP type the stateful translator does not carry.
    UnsupportedProtocol,
    /// A new flow over the session-creation budget
    /// ([`StatefulConfig::max_new_sessions_per_second`]): refused before any table work,
    /// without an ICMP error (RFC 4443 §3.1: none for a packet dropped for congestion).
    NewFlowBudget,
    /// The header translator refused the packet.
    Xlate(DropReason),
}

impl Reason for Nat64Drop {
    const ALL: &'static [Self] = &ALL;
    fn index(self) -> usize {
        match self {
            Self::Xlate(r) => OWN.len() + r.index(),
            own => OWN.iter().position(|&x| x == own).unwrap_or(0),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Self::NoBinding => "no-binding",
            Self::Filtered => "filtered",
            Self::IncomingSyn => "incoming-syn",
            Self::SynHeld => "incoming-syn-held",
            Self::TcpNotSyn => "tcp-not-syn",
            Self::NoSession => "no-session",
            Self::SessionLimit => "session-limit",
            Self::SourceLimit => "source-limit",
            Self::PoolExhausted => "pool-exhausted",
            Self::Fragment => "fragment",
            Self::FragmentHeld => "fragment-held",
            Self::FragmentTimeout => "fragment-timeout",
            Self::UnsupportedProtocol => "unsupported-protocol",
            Self::NewFlowBudget => "new-flow-budget",
            Self::Xlate(r) => r.name(),
        }
    }
}

// ------------------------------------------------------------------ tables

/// Protocols as stored: 6 TCP, 17 UDP, 1 ICMP (queries). 0 marks a free slot.
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;

/// The stored protocol of `proto` (ICMPv6 counts as ICMP).
fn pnorm(proto: u8) -> Option<u8> {
    match proto {
        TCP => Some(TCP),
        UDP => Some(UDP),
        ICMP | 58 => Some(ICMP),
        _ => None,
    }
}

/// Time in the tables: ticks of 100 ms since the engine's time base, in 32 bits (13 years).
/// Deadlines are rounded up, so a lifetime is never cut short.
const TICK_MS: u64 = 100;

/// Slab chunks hold 2^12 entries.
const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;

/// Entries addressed by a `u32`, kept in fixed chunks of 4,096 (growth never copies
/// and leaves at most one chunk unused), with a free list of released slots and a count
/// of live entries per chunk, so that trailing chunks left empty (after a mass expiry)
/// can be given back ([`Slab::shrink`]).
#[derive(Debug)]
struct Slab<T> {
    chunks: Vec<Box<[T]>>,
    /// Live entries of each chunk.
    live: Vec<u16>,
    /// Live entries in all.
    n_live: usize,
    /// Slots handed out so far (live or on the free list).
    len: u32,
    /// Released slots. Slots of chunks given back stay on it until popped, and are
    /// skipped then: the slab grows again only once the list is empty, so such a slot is
    /// never handed out twice.
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self { chunks: Vec::new(), live: Vec::new(), n_live: 0, len: 0, free: Vec::new() }
    }
}

impl<T: Copy + Default> Slab<T> {
    #[inline]
    fn get(&self, i: u32) -> &T {
        &self.chunks[(i >> CHUNK_BITS) as usize][i as usize & (CHUNK - 1)]
    }
    #[inline]
    fn get_mut(&mut self, i: u32) -> &mut T {
        &mut self.chunks[(i >> CHUNK_BITS) as usize][i as usize & (CHUNK - 1)]
    }
    /// The slot `i`, if the slab still has it (a timer entry may outlive a chunk given
    /// back by [`Slab::shrink`]).
    #[inline]
    fn try_get_mut(&mut self, i: u32) -> Option<&mut T> {
        self.chunks.get_mut((i >> CHUNK_BITS) as usize)?.get_mut(i as usize & (CHUNK - 1))
    }
    fn grow(&mut self) {
        self.chunks.push(vec![T::default(); CHUNK].into_boxed_slice());
        self.live.push(0);
    }
    /// Stores `v`. The engine holds fewer than `u32::MAX` live entries of any kind (the
    /// session limit is capped below it), so a slot index always exists.
    fn alloc(&mut self, v: T) -> u32 {
        let mut slot = None;
        while let Some(i) = self.free.pop() {
            if i < self.len {
                slot = Some(i);
                break;
            }
        }
        let i = match slot {
            Some(i) => i,
            None => {
                let i = self.len;
                if i as usize == self.chunks.len() * CHUNK {
                    self.grow();
                }
                self.len += 1;
                i
            }
        };
        *self.get_mut(i) = v;
        self.live[(i >> CHUNK_BITS) as usize] += 1;
        self.n_live += 1;
        i
    }
    fn release(&mut self, i: u32) {
        *self.get_mut(i) = T::default();
        self.live[(i >> CHUNK_BITS) as usize] -= 1;
        self.n_live -= 1;
        self.free.push(i);
    }
    fn reserve(&mut self, n: usize) {
        let n = n.min(u32::MAX as usize);
        while self.chunks.len() * CHUNK < n {
            self.grow();
        }
    }
    /// Gives back up to `max` trailing chunks that hold no live entry, when those are at
    /// least an eighth of the slab (or all of it), so that a slab is not cut and regrown
    /// a chunk at a time, or else the room of a free list much longer than the slab
    /// needs. Returns whether it did something (so there may be more to do).
    fn shrink(&mut self, max: usize) -> bool {
        let empty = self.live.iter().rev().take_while(|&&n| n == 0).count();
        if empty == 0 || (empty * 8 < self.chunks.len() && self.n_live > 0) {
            // Few entries left, on a free list grown by a mass expiry: rebuilt without
            // the slots of chunks given back (one pass over it, about a millisecond at a
            // million).
            let stale = self.free.len() > self.len as usize - self.n_live;
            if stale && self.n_live <= SHRINK_MAX_LIVE && self.free.capacity() > 4 * (self.n_live + CHUNK) {
                let len = self.len;
                self.free.retain(|&i| i < len);
                self.free.shrink_to_fit();
                return true;
            }
            return false;
        }
        let keep = self.chunks.len() - empty.min(max);
        self.chunks.truncate(keep);
        self.live.truncate(keep);
        self.len = self.len.min((keep * CHUNK) as u32);
        if keep == 0 {
            *self = Self::default();
        }
        true
    }
    /// Checks the bookkeeping: the live counts (per chunk and in all) agree with the
    /// entries `is_live` says are live, and every slot below `len` is live or on the free
    /// list exactly once (entries of chunks given back may remain above it).
    fn check(&self, is_live: impl Fn(&T) -> bool) -> Result<(), String> {
        let mut per_chunk = vec![0u16; self.chunks.len()];
        let mut n = 0;
        for (i, e) in self.slots() {
            if is_live(e) {
                per_chunk[(i >> CHUNK_BITS) as usize] += 1;
                n += 1;
            }
        }
        if per_chunk != self.live || n != self.n_live || self.live.len() != self.chunks.len() {
            return Err(format!("slab live counts: {n} live, counted {}", self.n_live));
        }
        let mut seen = vec![false; self.len as usize];
        for &i in self.free.iter().filter(|&&i| i < self.len) {
            if is_live(self.get(i)) || std::mem::replace(&mut seen[i as usize], true) {
                return Err(format!("slab slot {i} free twice or free and live"));
            }
        }
        if seen.iter().filter(|&&f| f).count() + n != self.len as usize {
            return Err("slab slots neither live nor free".into());
        }
        Ok(())
    }
    /// Live and free slots (for iteration in checks).
    fn slots(&self) -> impl Iterator<Item = (u32, &T)> {
        (0..self.len).map(move |i| (i, self.get(i)))
    }
    fn bytes(&self) -> usize {
        self.chunks.len() * CHUNK * size_of::<T>()
            + self.chunks.capacity() * size_of::<Box<[T]>>()
            + self.live.capacity() * size_of::<u16>()
            + self.free.capacity() * size_of::<u32>()
    }
}

/// The index of `proto` (UDP, TCP, ICMP) in [`Nat64`]'s per-protocol pool state.
#[inline]
fn pool_kind(proto: u8) -> usize {
    usize::from(proto == TCP) + 2 * usize::from(proto == ICMP)
}

/// Slab chunks given back at most per [`Engine::handle_timeout`] (each is one `munmap`).
const SHRINK_CHUNKS: usize = 16;

/// Hash indices are rebuilt smaller after a mass expiry when they hold at most this
/// many entries (a rehash of this many is well under a millisecond) and use at most an
/// eighth of their room.
const SHRINK_MAX_LIVE: usize = 4096;

/// Shrinks a hash index of slab slots (see [`SHRINK_MAX_LIVE`]); `hash` rehashes a slot.
/// Shrinks one: giving back a large index's memory takes about a millisecond (a
/// million-session index is 10 MiB), so at most `budget` indices are shrunk per call.
/// Returns whether `t` still wants shrinking.
fn shrink_index(t: &mut HashTable<u32>, budget: &mut u32, hash: impl Fn(&u32) -> u64) -> bool {
    if t.capacity() <= 64 || t.len() > SHRINK_MAX_LIVE || t.len() * 8 > t.capacity() {
        return false;
    }
    if *budget == 0 {
        return true;
    }
    *budget -= 1;
    t.shrink_to(t.len() * 2, hash);
    false
}

/// Bytes of a hash table of `u32` slab indices: `buckets` × (4 + 1 control byte) plus a
/// group of trailing control bytes (hashbrown keeps 1/8 of the buckets free).
fn index_bytes(t: &HashTable<u32>) -> usize {
    let c = t.capacity();
    if c == 0 {
        return 0;
    }
    let buckets = if c < 8 { (c + 1).next_power_of_two() } else { (c * 8 / 7).next_power_of_two() };
    buckets * (size_of::<u32>() + 1) + 16
}

/// A session key: the IPv6 transport address, the remote IPv4 transport address (the
/// remote IPv6 address is pool6 + that IPv4 address; for ICMP the remote port is 0) and
/// the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SKey {
    client: [u8; 16],
    remote: u32,
    port: u16,
    rport: u16,
    proto: u8,
}

/// TCP states of RFC 6146 §3.5.2.2 (UDP and ICMP sessions use `Open`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum TcpState {
    /// UDP or ICMP session (no state machine).
    #[default]
    Open,
    /// An IPv6 SYN was seen.
    V6Init,
    /// An IPv4 SYN was seen.
    V4Init,
    /// Both SYNs seen.
    Established,
    /// FIN from IPv4.
    V4FinRcv,
    /// FIN from IPv6.
    V6FinRcv,
    /// FIN from both.
    V4FinV6FinRcv,
    /// Transitory: RST seen or idle; deleted when its timer runs out.
    Trans,
}

/// A session (40 bytes): its key, its BIB entry's IPv4 side (pool address index and
/// port), expiry and timer-queue deadline in ticks, TCP state.
#[derive(Debug, Clone, Copy, Default)]
struct Sess {
    client: [u8; 16],
    remote: u32,
    port: u16,
    rport: u16,
    a4: u16,
    p4: u16,
    /// Expiry (ticks).
    expires: u32,
    /// The deadline of this session's entry in the timer queue (ticks).
    queued: u32,
    /// 0: free slot.
    proto: u8,
    state: TcpState,
}

impl Sess {
    #[inline]
    fn key(&self) -> SKey {
        SKey { client: self.client, remote: self.remote, port: self.port, rport: self.rport, proto: self.proto }
    }
}

/// A BIB entry (26 bytes): IPv6 transport address ↔ (pool address index, port).
#[derive(Debug, Clone, Copy, Default)]
struct Bib {
    client: [u8; 16],
    port: u16,
    a4: u16,
    p4: u16,
    /// Sessions using it (at most the per-source limit, itself at most 65,535).
    sessions: u16,
    /// 0: free slot.
    proto: u8,
}

/// Sessions of one IPv6 source address (18 bytes; `n` 0: free slot).
#[derive(Debug, Clone, Copy, Default)]
struct Client {
    addr: [u8; 16],
    n: u16,
}

/// Address-dependent filtering: sessions of one BIB entry with one remote IPv4 address
/// (12 bytes).
#[derive(Debug, Clone, Copy, Default)]
struct Adf {
    remote: u32,
    a4: u16,
    p4: u16,
    n: u16,
    /// 0: free slot.
    proto: u8,
}

/// The tables: entries in slabs, and hash indices of `u32` slab slots whose keys are read
/// from the slabs. Hashing is SipHash keyed per engine ([`RandomState`]), so colliding
/// keys cannot be chosen from outside.
#[derive(Debug, Default)]
struct Tables {
    hs: RandomState,
    sess: Slab<Sess>,
    /// Sessions by key.
    sidx: HashTable<u32>,
    /// Sessions by their IPv4 side (pool address index and port, remote address and
    /// port, protocol), so that an IPv4 packet of an established session costs one lookup.
    s4idx: HashTable<u32>,
    bib: Slab<Bib>,
    /// BIB entries by IPv6 transport address.
    b6: HashTable<u32>,
    /// BIB entries by IPv4 transport address.
    b4: HashTable<u32>,
    clients: Slab<Client>,
    cidx: HashTable<u32>,
    /// Kept only under address-dependent filtering.
    adf: Slab<Adf>,
    aidx: HashTable<u32>,
}

#[inline]
fn hash_s(hs: &RandomState, k: &SKey) -> u64 {
    let x = (u64::from(k.remote) << 32) | (u64::from(k.port) << 16) | u64::from(k.rport);
    hs.hash_one((u128::from_ne_bytes(k.client), x, k.proto))
}
#[inline]
fn hash_s4(hs: &RandomState, proto: u8, a4: u16, p4: u16, remote: u32, rport: u16) -> u64 {
    let x = (u64::from(a4) << 32) | (u64::from(p4) << 16) | u64::from(rport);
    hs.hash_one((x, remote, proto))
}
#[inline]
fn hash_s4_of(hs: &RandomState, s: &Sess) -> u64 {
    hash_s4(hs, s.proto, s.a4, s.p4, s.remote, s.rport)
}
#[inline]
fn hash_b6(hs: &RandomState, proto: u8, client: &[u8; 16], port: u16) -> u64 {
    hs.hash_one((u128::from_ne_bytes(*client), (u32::from(port) << 8) | u32::from(proto)))
}
#[inline]
fn hash_b4(hs: &RandomState, proto: u8, a4: u16, p4: u16) -> u64 {
    hs.hash_one((u64::from(a4) << 24) | (u64::from(p4) << 8) | u64::from(proto))
}
#[inline]
fn hash_c(hs: &RandomState, addr: &[u8; 16]) -> u64 {
    hs.hash_one(u128::from_ne_bytes(*addr))
}
#[inline]
fn hash_a(hs: &RandomState, proto: u8, a4: u16, p4: u16, remote: u32) -> u64 {
    hs.hash_one(((u64::from(a4) << 24) | (u64::from(p4) << 8) | u64::from(proto), remote))
}

impl Tables {
    #[inline]
    fn find_sess(&self, k: &SKey) -> Option<u32> {
        self.sidx.find(hash_s(&self.hs, k), |&i| self.sess.get(i).key() == *k).copied()
    }
    #[inline]
    fn find_sess4(&self, proto: u8, a4: u16, p4: u16, remote: u32, rport: u16) -> Option<u32> {
        let h = hash_s4(&self.hs, proto, a4, p4, remote, rport);
        self.s4idx
            .find(h, |&i| {
                let s = self.sess.get(i);
                s.p4 == p4 && s.rport == rport && s.remote == remote && s.a4 == a4 && s.proto == proto
            })
            .copied()
    }
    #[inline]
    fn find_b6(&self, proto: u8, client: &[u8; 16], port: u16) -> Option<u32> {
        let h = hash_b6(&self.hs, proto, client, port);
        self.b6
            .find(h, |&i| {
                let b = self.bib.get(i);
                b.port == port && b.proto == proto && b.client == *client
            })
            .copied()
    }
    #[inline]
    fn find_b4(&self, proto: u8, a4: u16, p4: u16) -> Option<u32> {
        let h = hash_b4(&self.hs, proto, a4, p4);
        self.b4
            .find(h, |&i| {
                let b = self.bib.get(i);
                b.p4 == p4 && b.a4 == a4 && b.proto == proto
            })
            .copied()
    }
    fn find_client(&self, addr: &[u8; 16]) -> Option<u32> {
        self.cidx.find(hash_c(&self.hs, addr), |&i| self.clients.get(i).addr == *addr).copied()
    }
    fn find_adf(&self, proto: u8, a4: u16, p4: u16, remote: u32) -> Option<u32> {
        let h = hash_a(&self.hs, proto, a4, p4, remote);
        self.aidx
            .find(h, |&i| {
                let a = self.adf.get(i);
                a.remote == remote && a.p4 == p4 && a.a4 == a4 && a.proto == proto
            })
            .copied()
    }

    fn insert_sess(&mut self, s: Sess) -> u32 {
        let i = self.sess.alloc(s);
        let (hs, sess) = (&self.hs, &self.sess);
        self.sidx.insert_unique(hash_s(hs, &s.key()), i, |&j| hash_s(hs, &sess.get(j).key()));
        self.s4idx.insert_unique(hash_s4_of(hs, &s), i, |&j| hash_s4_of(hs, sess.get(j)));
        i
    }
    fn insert_bib(&mut self, b: Bib) -> u32 {
        let i = self.bib.alloc(b);
        let (hs, bib) = (&self.hs, &self.bib);
        self.b6.insert_unique(hash_b6(hs, b.proto, &b.client, b.port), i, |&j| {
            let b = bib.get(j);
            hash_b6(hs, b.proto, &b.client, b.port)
        });
        self.b4.insert_unique(hash_b4(hs, b.proto, b.a4, b.p4), i, |&j| {
            let b = bib.get(j);
            hash_b4(hs, b.proto, b.a4, b.p4)
        });
        i
    }
    fn insert_client(&mut self, c: Client) -> u32 {
        let i = self.clients.alloc(c);
        let (hs, cl) = (&self.hs, &self.clients);
        self.cidx.insert_unique(hash_c(hs, &c.addr), i, |&j| hash_c(hs, &cl.get(j).addr));
        i
    }
    fn insert_adf(&mut self, a: Adf) -> u32 {
        let i = self.adf.alloc(a);
        let (hs, adf) = (&self.hs, &self.adf);
        self.aidx.insert_unique(hash_a(hs, a.proto, a.a4, a.p4, a.remote), i, |&j| {
            let a = adf.get(j);
            hash_a(hs, a.proto, a.a4, a.p4, a.remote)
        });
        i
    }

    fn remove_sess(&mut self, i: u32) {
        let h = hash_s(&self.hs, &self.sess.get(i).key());
        if let Ok(e) = self.sidx.find_entry(h, |&j| j == i) {
            e.remove();
        }
        let h = hash_s4_of(&self.hs, self.sess.get(i));
        if let Ok(e) = self.s4idx.find_entry(h, |&j| j == i) {
            e.remove();
        }
        self.sess.release(i);
    }
    fn remove_bib(&mut self, i: u32) {
        let b = *self.bib.get(i);
        if let Ok(e) = self.b6.find_entry(hash_b6(&self.hs, b.proto, &b.client, b.port), |&j| j == i) {
            e.remove();
        }
        if let Ok(e) = self.b4.find_entry(hash_b4(&self.hs, b.proto, b.a4, b.p4), |&j| j == i) {
            e.remove();
        }
        self.bib.release(i);
    }
    fn remove_client(&mut self, i: u32) {
        let h = hash_c(&self.hs, &self.clients.get(i).addr);
        if let Ok(e) = self.cidx.find_entry(h, |&j| j == i) {
            e.remove();
        }
        self.clients.release(i);
    }
    fn remove_adf(&mut self, i: u32) {
        let a = *self.adf.get(i);
        if let Ok(e) = self.aidx.find_entry(hash_a(&self.hs, a.proto, a.a4, a.p4, a.remote), |&j| j == i) {
            e.remove();
        }
        self.adf.release(i);
    }

    /// Gives back memory after a mass expiry where that is cheap: empty trailing slab
    /// chunks (a few per call), and hash indices that hold few entries for their size
    /// (see [`SHRINK_MAX_LIVE`]). Slots of live entries do not move. Returns whether
    /// there is more to give back.
    fn shrink(&mut self) -> bool {
        let Self { hs, sess, sidx, s4idx, bib, b6, b4, clients, cidx, adf, aidx } = self;
        let n = SHRINK_CHUNKS;
        // One slab at a time: the last chunks of each go with its free list, a few MiB.
        let mut more = sess.shrink(n) || bib.shrink(n) || clients.shrink(n) || adf.shrink(n);
        let b = &mut 1;
        more |= shrink_index(sidx, b, |&j| hash_s(hs, &sess.get(j).key()));
        more |= shrink_index(s4idx, b, |&j| hash_s4_of(hs, sess.get(j)));
        more |= shrink_index(b6, b, |&j| {
            let b = bib.get(j);
            hash_b6(hs, b.proto, &b.client, b.port)
        });
        more |= shrink_index(b4, b, |&j| {
            let b = bib.get(j);
            hash_b4(hs, b.proto, b.a4, b.p4)
        });
        more |= shrink_index(cidx, b, |&j| hash_c(hs, &clients.get(j).addr));
        more |= shrink_index(aidx, b, |&j| {
            let a = adf.get(j);
            hash_a(hs, a.proto, a.a4, a.p4, a.remote)
        });
        more
    }

    fn bytes(&self) -> usize {
        self.sess.bytes()
            + self.bib.bytes()
            + self.clients.bytes()
            + self.adf.bytes()
            + [&self.sidx, &self.s4idx, &self.b6, &self.b4, &self.cidx, &self.aidx]
                .iter()
                .map(|t| index_bytes(t))
                .sum::<usize>()
    }
}

/// TCP flags that drive the state machine.
const SYN: u8 = 0x02;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// Counts of what the tables hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableStats {
    /// BIB entries.
    pub bib: usize,
    /// Sessions.
    pub sessions: usize,
    /// Entries in the timer queue (sessions plus stale entries not yet popped).
    pub timers: usize,
    /// Unsolicited IPv4 SYNs held (RFC 6146 §3.5.2.2).
    pub held_syns: usize,
}

/// The IPv4 transport addresses a held SYN was sent to (pool address index, port) and
/// from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct HKey {
    a4: u16,
    p4: u16,
    remote: u32,
    rport: u16,
}

/// An unsolicited IPv4 SYN held for TCP_INCOMING_SYN (RFC 6146 §3.5.2.2).
#[derive(Debug)]
struct Held {
    /// Ticks.
    deadline: u32,
    /// The SYN as received, cut to what an ICMP error quotes (576 − 28 bytes).
    pkt: Vec<u8>,
}

/// Expiry queues (oldest first) whose entries are left behind when their item leaves
/// early are rebuilt once they hold this many more entries than twice the live items.
const QUEUE_SLACK: usize = 64;

/// A fragmented datagram: the direction (`v6`: from the IPv6 side), addresses (IPv4 ones
/// in the low 32 bits), identification and protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct FKey {
    v6: bool,
    src: u128,
    dst: u128,
    id: u32,
    proto: u8,
}

/// An IPv6 fragment header: offset (bytes), more fragments, identification.
type Frag6 = (u16, bool, u32);

/// The mapping a datagram's first fragment chose: the IPv6 client and its pool address.
#[derive(Debug, Clone, Copy)]
struct FFlow {
    /// Ticks.
    deadline: u32,
    client: [u8; 16],
    a4: u16,
}

/// The most an ICMPv4 error quotes (RFC 1812 §4.3.2.3: the error at most 576 bytes).
const QUOTE: usize = 576 - 28;

/// Session timer-queue entries one [`Engine::handle_timeout`] handles at most (each
/// deletes a session, probes one, requeues one or skips a stale entry): a slice of
/// deletions takes well under a millisecond at a million sessions (`BENCHMARKS.md`).
pub const EXPIRY_SLICE: usize = 512;

/// Probes of idle TCP sessions waiting for `poll_transmit` at most (60 bytes each); when
/// more sessions idle out at once, the rest move to TRANS without one (the RFC's SHOULD).
const MAX_PROBES: usize = 4096;

/// What a packet waiting in the engine's outbox is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queued {
    /// A translated packet (a fragment that waited for its first fragment).
    Forward,
    /// An ICMP error the engine made.
    Reply,
    /// A probe of an idle established TCP session (RFC 6146 §3.5.2.2).
    Probe,
}

/// The stateful NAT64 engine (RFC 6146). [`Side::V6`] is the IPv6 client network,
/// [`Side::V4`] the IPv4 Internet.
#[derive(Debug)]
pub struct Nat64 {
    siit: Siit,
    pool6: Pool6,
    pool4: Vec<Pool4Range>,
    /// `pool4` as (first address, last address, index of the first address) for quick
    /// membership tests and address ↔ index.
    pool4_spans: Vec<(u32, u32, u32)>,
    n_addrs: u32,
    filtering: Filtering,
    timers: Timers,
    max_sessions: usize,
    max_per_source: usize,
    seed: u64,
    t: Tables,
    n_sessions: usize,
    /// (deadline in ticks, session slot).
    heap: BinaryHeap<Reverse<(u32, u32)>>,
    /// Held SYNs by the transport addresses they were sent to and from.
    held: HashMap<HKey, Held>,
    /// (deadline, key) of every hold, oldest first (all live TCP_INCOMING_SYN, so this is
    /// deadline order); entries of SYNs discarded by a simultaneous open are skipped.
    held_q: VecDeque<(u32, HKey)>,
    max_held: usize,
    /// Packets for `poll_transmit`: ICMP errors for held SYNs whose time ran out,
    /// translated fragments that waited for their first fragment, probes of idle TCP
    /// sessions.
    outbox: VecDeque<(Side, Queued, Vec<u8>)>,
    /// Replies (ICMP errors) and probes in `outbox`.
    queued_replies: usize,
    queued_probes: usize,
    /// Fragmented datagrams whose first fragment was translated.
    frags: HashMap<FKey, FFlow>,
    /// Their expiry: one (deadline, datagram) entry each, requeued at its real deadline
    /// when it pops after the mapping was refreshed.
    frag_q: BinaryHeap<Reverse<(u32, FKey)>>,
    /// Fragments waiting for their datagram's first fragment, by datagram, oldest first,
    /// with their deadlines (ticks).
    frag_wait: HashMap<FKey, Vec<(u32, Vec<u8>)>>,
    /// (deadline, datagram) of every waiting fragment, oldest first; entries of
    /// fragments that left with their first fragment are skipped.
    frag_wait_q: VecDeque<(u32, FKey)>,
    /// Waiting fragments and their bytes.
    frag_wait_n: usize,
    frag_wait_bytes: usize,
    frag_life: Duration,
    max_frag_flows: usize,
    max_frag_bytes: usize,
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
    /// For UDP, TCP, ICMP: until when (ms) the pool counts as full, after a search for a
    /// free port failed.
    pool_full_until: [u64; 3],
    /// Memory is being given back, a few chunks per [`Engine::handle_timeout`].
    shrink_pending: bool,
    base: Option<Instant>,
    counters: Counters<Nat64Drop>,
    /// Hairpinned packets (RFC 6146 §3.8) go straight back in (`true`, one engine) or
    /// leave as IPv4 for the shard that owns their destination ([`crate::Nat64Shards`]).
    local_hairpin: bool,
}

impl Nat64 {
    /// An engine with a validated configuration.
    pub fn new(cfg: StatefulConfig) -> Result<Self, Error> {
        cfg.validate()?;
        let pool6 = cfg.xlate.pool6.ok_or(ConfigError::StatefulNeedsPool6)?;
        let n_addrs = cfg.pool4.iter().map(|r| 1u32 << (32 - r.prefix.prefix_len())).sum();
        let mut base = 0;
        let pool4_spans = cfg
            .pool4
            .iter()
            .map(|r| {
                let s = (u32::from(r.prefix.network()), u32::from(r.prefix.broadcast()), base);
                base += 1u32 << (32 - r.prefix.prefix_len());
                s
            })
            .collect();
        let icmp_rate = cfg.xlate.icmp_rate;
        Ok(Self {
            siit: Siit::new(cfg.xlate)?,
            pool6,
            pool4: cfg.pool4,
            pool4_spans,
            n_addrs,
            filtering: cfg.filtering,
            timers: cfg.timers,
            // Slab slots are `u32`s.
            max_sessions: cfg.max_sessions.min(u32::MAX as usize - 1),
            max_per_source: cfg.max_sessions_per_source,
            seed: cfg.seed,
            t: Tables::default(),
            n_sessions: 0,
            heap: BinaryHeap::new(),
            held: HashMap::new(),
            held_q: VecDeque::new(),
            max_held: cfg.max_held_syns,
            outbox: VecDeque::new(),
            queued_replies: 0,
            queued_probes: 0,
            frags: HashMap::new(),
            frag_q: BinaryHeap::new(),
            frag_wait: HashMap::new(),
            frag_wait_q: VecDeque::new(),
            frag_wait_n: 0,
            frag_wait_bytes: 0,
            frag_life: cfg.fragment_timeout,
            max_frag_flows: cfg.max_fragment_flows,
            max_frag_bytes: cfg.max_fragment_bytes,
            icmp_rate,
            bucket: TokenBucket::default(),
            icmp_suppressed: 0,
            new_rate: (cfg.max_new_sessions_per_second, cfg.new_sessions_burst),
            new_bucket: TokenBucket::default(),
            expiry_slice: EXPIRY_SLICE,
            pool_full_until: [0; 3],
            shrink_pending: false,
            base: None,
            counters: Counters::new(),
            local_hairpin: true,
        })
    }

    /// Reserves table room for `n` sessions (and as many BIB entries) up front.
    pub fn reserve(&mut self, n: usize) {
        let n = n.min(self.max_sessions);
        let t = &mut self.t;
        let hs = &t.hs;
        t.sess.reserve(n);
        let sess = &t.sess;
        t.sidx.reserve(n.saturating_sub(t.sidx.len()), |&j| hash_s(hs, &sess.get(j).key()));
        t.s4idx.reserve(n.saturating_sub(t.s4idx.len()), |&j| hash_s4_of(hs, sess.get(j)));
        t.bib.reserve(n);
        let bib = &t.bib;
        t.b6.reserve(n.saturating_sub(t.b6.len()), |&j| {
            let b = bib.get(j);
            hash_b6(hs, b.proto, &b.client, b.port)
        });
        t.b4.reserve(n.saturating_sub(t.b4.len()), |&j| {
            let b = bib.get(j);
            hash_b4(hs, b.proto, b.a4, b.p4)
        });
        if self.filtering == Filtering::AddressDependent {
            t.adf.reserve(n);
            let adf = &t.adf;
            t.aidx.reserve(n.saturating_sub(t.aidx.len()), |&j| {
                let a = adf.get(j);
                hash_a(hs, a.proto, a.a4, a.p4, a.remote)
            });
        }
        self.heap.reserve(n.saturating_sub(self.heap.len()));
    }

    /// Bytes the tables hold (computed from their capacities: slab chunks, and hash
    /// indices of `u32` slots where a table of capacity `c` has `c × 8 / 7` buckets
    /// rounded up to a power of two, each 4 bytes plus one control byte; the timer queue
    /// is a vector). Excludes the allocator's own overhead.
    pub fn table_bytes(&self) -> usize {
        self.t.bytes() + self.heap.capacity() * size_of::<Reverse<(u32, u32)>>()
    }

    /// Gives back memory the tables no longer need (see [`Tables::shrink`]) and the room
    /// of a timer queue left mostly empty; remembers whether there is more to give back.
    fn shrink(&mut self) {
        self.shrink_pending = self.t.shrink();
        let h = self.heap.len();
        if self.heap.capacity() > 1024 && h <= SHRINK_MAX_LIVE * 4 && h * 8 <= self.heap.capacity() {
            self.heap.shrink_to(h * 2);
        }
    }

    /// Sets how many timer-queue entries one [`Engine::handle_timeout`] handles at most
    /// (default [`EXPIRY_SLICE`]; at least 1). For tests and measurements.
    #[doc(hidden)]
    pub fn set_expiry_slice(&mut self, n: usize) {
        self.expiry_slice = n.max(1);
    }

    /// What the tables hold.
    pub fn stats(&self) -> TableStats {
        TableStats {
            bib: self.t.b6.len(),
            sessions: self.n_sessions,
            timers: self.heap.len(),
            held_syns: self.held.len(),
        }
    }

    /// The IPv4 transport address bound to an IPv6 one (`proto` 6, 17 or 1 for ICMP
    /// identifiers), if any.
    pub fn binding(&self, proto: u8, addr: Ipv6Addr, port: u16) -> Option<(Ipv4Addr, u16)> {
        let i = self.t.find_b6(pnorm(proto)?, &addr.octets(), port)?;
        let b = self.t.bib.get(i);
        Some((Ipv4Addr::from(self.addr_of(b.a4)), b.p4))
    }

    /// The IPv6 transport address bound to an IPv4 pool one, if any.
    pub fn binding_v4(&self, proto: u8, addr: Ipv4Addr, port: u16) -> Option<(Ipv6Addr, u16)> {
        let i = self.t.find_b4(pnorm(proto)?, self.pool_idx(u32::from(addr))?, port)?;
        let b = self.t.bib.get(i);
        Some((Ipv6Addr::from(b.client), b.port))
    }

    /// The TCP state of a session, if it exists (`Open` for UDP and ICMP).
    pub fn session_state(
        &self,
        proto: u8,
        client: Ipv6Addr,
        port: u16,
        remote: Ipv4Addr,
        rport: u16,
    ) -> Option<TcpState> {
        let proto = pnorm(proto)?;
        let rport = if proto == ICMP { 0 } else { rport };
        let k = SKey { client: client.octets(), remote: u32::from(remote), port, rport, proto };
        self.t.find_sess(&k).map(|i| self.t.sess.get(i).state)
    }

    /// Checks the tables' invariants (for tests and fuzzing): every live slab entry is
    /// found through its indices and nothing else is, every session has its BIB entry
    /// and counts add up.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        let t = &self.t;
        t.sess.check(|s| s.proto != 0)?;
        t.bib.check(|b| b.proto != 0)?;
        t.clients.check(|c| c.n != 0)?;
        t.adf.check(|a| a.proto != 0)?;
        let mut n_bib = 0;
        for (i, b) in t.bib.slots().filter(|(_, b)| b.proto != 0) {
            n_bib += 1;
            if t.find_b6(b.proto, &b.client, b.port) != Some(i) || t.find_b4(b.proto, b.a4, b.p4) != Some(i) {
                return Err(format!("bib {b:?} not indexed"));
            }
            if !self.in_pool(self.addr_of(b.a4), b.p4) {
                return Err(format!("bib {b:?} outside pool4"));
            }
        }
        if n_bib != t.b6.len() || n_bib != t.b4.len() {
            return Err(format!("{n_bib} BIB entries, indexed {} and {}", t.b6.len(), t.b4.len()));
        }
        let mut per_bib: HashMap<u32, u32> = HashMap::new();
        let mut adf: HashMap<(u8, u16, u16, u32), u32> = HashMap::new();
        let mut per_source: HashMap<[u8; 16], u32> = HashMap::new();
        let queued: std::collections::HashSet<(u32, u32)> = self.heap.iter().map(|r| r.0).collect();
        let mut n = 0;
        for (i, s) in t.sess.slots().filter(|(_, s)| s.proto != 0) {
            n += 1;
            if t.find_sess(&s.key()) != Some(i) || t.find_sess4(s.proto, s.a4, s.p4, s.remote, s.rport) != Some(i) {
                return Err(format!("session {s:?} not indexed"));
            }
            let b = t.find_b6(s.proto, &s.client, s.port).ok_or_else(|| format!("session {s:?} without BIB"))?;
            let bb = t.bib.get(b);
            if (bb.a4, bb.p4) != (s.a4, s.p4) {
                return Err(format!("session {s:?} disagrees with its BIB"));
            }
            if s.queued > s.expires || !queued.contains(&(s.queued, i)) {
                return Err(format!("session {s:?} has no timer"));
            }
            *per_bib.entry(b).or_default() += 1;
            *adf.entry((s.proto, s.a4, s.p4, s.remote)).or_default() += 1;
            *per_source.entry(s.client).or_default() += 1;
        }
        if n != t.sidx.len() || n != t.s4idx.len() {
            return Err(format!("{n} sessions, indexed {} and {}", t.sidx.len(), t.s4idx.len()));
        }
        for (i, b) in t.bib.slots().filter(|(_, b)| b.proto != 0) {
            if per_bib.get(&i).copied().unwrap_or(0) != u32::from(b.sessions) || b.sessions == 0 {
                return Err(format!("bib {b:?} counts {} sessions", b.sessions));
            }
        }
        if self.filtering == Filtering::AddressDependent {
            let mut got = HashMap::new();
            for (i, a) in t.adf.slots().filter(|(_, a)| a.proto != 0) {
                if t.find_adf(a.proto, a.a4, a.p4, a.remote) != Some(i) {
                    return Err(format!("filtering entry {a:?} not indexed"));
                }
                got.insert((a.proto, a.a4, a.p4, a.remote), u32::from(a.n));
            }
            if got != adf || got.len() != t.aidx.len() {
                return Err("filtering counts disagree".into());
            }
        } else if !t.aidx.is_empty() {
            return Err("filtering entries under endpoint-independent filtering".into());
        }
        let mut got = HashMap::new();
        for (i, c) in t.clients.slots().filter(|(_, c)| c.n != 0) {
            if t.find_client(&c.addr) != Some(i) {
                return Err(format!("source {c:?} not indexed"));
            }
            got.insert(c.addr, u32::from(c.n));
        }
        if got != per_source || got.len() != t.cidx.len() {
            return Err("per-source counts disagree".into());
        }
        if n != self.n_sessions || n > self.max_sessions {
            return Err(format!("{n} sessions, counted {}, limit {}", self.n_sessions, self.max_sessions));
        }
        if per_source.values().any(|&n| n as usize > self.max_per_source) {
            return Err("a source over its limit".into());
        }
        let waiting = self.frag_wait.values().flatten();
        if waiting.clone().map(|w| w.1.len()).sum::<usize>() != self.frag_wait_bytes
            || waiting.count() != self.frag_wait_n
            || self.frag_wait.iter().any(|(k, v)| {
                v.is_empty()
                    || !v.is_sorted_by_key(|w| w.0)
                    || self.frag_wait_q.iter().filter(|q| q.1 == *k).count() < v.len()
            })
            || !self.frag_wait_q.iter().is_sorted_by_key(|q| q.0)
            // At most twice the most fragments ever waiting (20 bytes or more each).
            || self.frag_wait_q.len() > 2 * (self.max_frag_bytes / 20) + QUEUE_SLACK
            || self.frag_wait_bytes > self.max_frag_bytes
            || self.frags.len() > self.max_frag_flows
            || self.frag_q.len() != self.frags.len()
            || self.frag_q.iter().map(|Reverse((_, k))| k).collect::<std::collections::HashSet<_>>().len()
                != self.frags.len()
            || self.frag_q.iter().any(|Reverse((d, k))| self.frags.get(k).is_none_or(|f| f.deadline < *d))
        {
            return Err("fragment store out of bounds or out of step".into());
        }
        if self.held.len() > self.max_held
            || self.held.iter().any(|(k, h)| !self.held_q.contains(&(h.deadline, *k)))
            || !self.held_q.iter().is_sorted_by_key(|q| q.0)
            || self.held_q.len() > 2 * self.max_held + QUEUE_SLACK
        {
            return Err("held SYNs out of bounds or out of step".into());
        }
        let count = |k: Queued| self.outbox.iter().filter(|o| o.1 == k).count();
        if count(Queued::Reply) != self.queued_replies
            || count(Queued::Probe) != self.queued_probes
            || self.queued_probes > MAX_PROBES
        {
            return Err("outbox counts disagree".into());
        }
        Ok(())
    }

    /// Milliseconds since the time base (the first instant the engine saw).
    fn now_ms(&mut self, now: Instant) -> u64 {
        let base = *self.base.get_or_insert(now);
        now.saturating_duration_since(base).as_millis().min(u128::from(u64::MAX / 2)) as u64
    }

    /// The deadline (ticks, rounded up) `life` after `ms`.
    fn deadline(ms: u64, life: Duration) -> u32 {
        let life = life.as_millis().min(u128::from(u32::MAX)) as u64;
        (ms.saturating_add(life).div_ceil(TICK_MS)).min(u64::from(u32::MAX)) as u32
    }

    fn in_pool(&self, addr: u32, port: u16) -> bool {
        self.pool4.iter().any(|r| r.prefix.contains(&Ipv4Addr::from(addr)) && (r.first..=r.last).contains(&port))
    }

    #[inline]
    fn pool_addr(&self, addr: u32) -> bool {
        self.pool4_spans.iter().any(|&(a, b, _)| (a..=b).contains(&addr))
    }

    /// The index of a pool address (at most 65,536 addresses, see `validate`).
    #[inline]
    fn pool_idx(&self, addr: u32) -> Option<u16> {
        self.pool4_spans
            .iter()
            .find(|&&(a, b, _)| (a..=b).contains(&addr))
            .map(|&(a, _, base)| (base + addr - a) as u16)
    }

    /// The pool address with index `i`.
    #[inline]
    fn addr_of(&self, i: u16) -> u32 {
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
        for r in &self.pool4 {
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
    fn allocate(&self, proto: u8, client: &[u8; 16], want: u16) -> Option<(u16, u16)> {
        let c = u128::from_be_bytes(*client);
        let h = self.mix((c >> 64) as u64 ^ (c as u64).rotate_left(17), u64::from(proto));
        let start = (h % u64::from(self.n_addrs.max(1))) as u32;
        let mut budget: u32 = 4096;
        for step in 0..self.n_addrs.min(64) {
            let idx = (start + step) % self.n_addrs;
            let (_, first, last) = self.nth_addr(idx)?;
            let a4 = idx as u16;
            let free = |port: u16| self.t.find_b4(proto, a4, port).is_none();
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

    /// Creates a session (and its BIB entry if needed); returns its slot and IPv4 pool
    /// transport address (address index, port). The limits are checked first, then the
    /// creation budget (before the pool is searched, the costly part of a new flow).
    fn create(&mut self, key: SKey, state: TcpState, now: Instant, ms: u64) -> Result<(u32, u16, u16), Nat64Drop> {
        if self.n_sessions >= self.max_sessions {
            return Err(Nat64Drop::SessionLimit);
        }
        let ci = self.t.find_client(&key.client);
        if ci.is_some_and(|c| usize::from(self.t.clients.get(c).n) >= self.max_per_source) {
            return Err(Nat64Drop::SourceLimit);
        }
        let bib = self.t.find_b6(key.proto, &key.client, key.port);
        let pi = pool_kind(key.proto);
        // A pool found full a moment ago is taken to be full still (a flood of new flows
        // would otherwise search it, at up to thousands of lookups, for every packet):
        // until the next tick, or until one of its BIB entries goes.
        if bib.is_none() && ms < self.pool_full_until[pi] {
            return Err(Nat64Drop::PoolExhausted);
        }
        let (rate, burst) = self.new_rate;
        if !self.new_bucket.take(now, rate, burst) {
            return Err(Nat64Drop::NewFlowBudget);
        }
        let (a4, p4) = match bib {
            Some(b) => {
                let e = self.t.bib.get_mut(b);
                e.sessions += 1;
                (e.a4, e.p4)
            }
            None => {
                let Some((a4, p4)) = self.allocate(key.proto, &key.client, key.port) else {
                    self.pool_full_until[pi] = ms + TICK_MS;
                    return Err(Nat64Drop::PoolExhausted);
                };
                self.t.insert_bib(Bib { client: key.client, port: key.port, a4, p4, sessions: 1, proto: key.proto });
                (a4, p4)
            }
        };
        match ci {
            Some(c) => self.t.clients.get_mut(c).n += 1,
            None => {
                self.t.insert_client(Client { addr: key.client, n: 1 });
            }
        }
        if self.filtering == Filtering::AddressDependent {
            match self.t.find_adf(key.proto, a4, p4, key.remote) {
                Some(a) => self.t.adf.get_mut(a).n += 1,
                None => {
                    self.t.insert_adf(Adf { remote: key.remote, a4, p4, n: 1, proto: key.proto });
                }
            }
        }
        let expires = Self::deadline(ms, self.lifetime(key.proto, state));
        let i = self.t.insert_sess(Sess {
            client: key.client,
            remote: key.remote,
            port: key.port,
            rport: key.rport,
            a4,
            p4,
            expires,
            queued: expires,
            proto: key.proto,
            state,
        });
        self.n_sessions += 1;
        self.heap.push(Reverse((expires, i)));
        Ok((i, a4, p4))
    }

    /// Deletes the session in slot `i` (and its BIB entry when it was the last one).
    fn remove(&mut self, i: u32) {
        let s = *self.t.sess.get(i);
        if s.proto == 0 {
            return;
        }
        self.t.remove_sess(i);
        self.n_sessions -= 1;
        if let Some(c) = self.t.find_client(&s.client) {
            let e = self.t.clients.get_mut(c);
            e.n -= 1;
            if e.n == 0 {
                self.t.remove_client(c);
            }
        }
        if self.filtering == Filtering::AddressDependent {
            if let Some(a) = self.t.find_adf(s.proto, s.a4, s.p4, s.remote) {
                let e = self.t.adf.get_mut(a);
                e.n -= 1;
                if e.n == 0 {
                    self.t.remove_adf(a);
                }
            }
        }
        if let Some(b) = self.t.find_b6(s.proto, &s.client, s.port) {
            let e = self.t.bib.get_mut(b);
            e.sessions -= 1;
            // RFC 6146 §3.5.1: a BIB entry lives as long as it has sessions.
            if e.sessions == 0 {
                self.t.remove_bib(b);
                // Its port is free: the pool is worth searching again.
                self.pool_full_until[pool_kind(s.proto)] = 0;
            }
        }
    }

    fn lifetime(&self, proto: u8, st: TcpState) -> Duration {
        match (proto, st) {
            (UDP, _) => self.timers.udp,
            (ICMP, _) => self.timers.icmp,
            (_, TcpState::Established | TcpState::V4FinRcv | TcpState::V6FinRcv) => self.timers.tcp_est,
            (_, TcpState::V4Init) => self.timers.tcp_incoming_syn,
            _ => self.timers.tcp_trans,
        }
    }

    /// RFC 6146 §3.5.2.2: the TCP state after a segment with `flags` from `from`.
    fn tcp_next(st: TcpState, from: Side, flags: u8) -> TcpState {
        use TcpState as S;
        let syn = flags & SYN != 0;
        let fin = flags & FIN != 0;
        let rst = flags & RST != 0;
        match (st, from) {
            (S::V6Init, Side::V4) if syn => S::Established,
            (S::V4Init, Side::V6) if syn => S::Established,
            (S::Established, _) if rst => S::Trans,
            (S::Established, Side::V4) if fin => S::V4FinRcv,
            (S::Established, Side::V6) if fin => S::V6FinRcv,
            (S::V4FinRcv, Side::V6) if fin => S::V4FinV6FinRcv,
            (S::V6FinRcv, Side::V4) if fin => S::V4FinV6FinRcv,
            (S::V4FinRcv | S::V6FinRcv, _) if rst => S::Trans,
            (S::Trans, _) if !rst => S::Established,
            (s, _) => s,
        }
    }

    /// Updates an existing session for a packet from `from` and refreshes its timer;
    /// returns its slot and IPv4 pool transport address (address index, port), or `None`
    /// when there is no such session. (It runs before the header translation, so one
    /// lookup serves both; a packet the translator then refuses has still refreshed its
    /// session.)
    #[inline]
    fn touch(&mut self, key: &SKey, from: Side, flags: u8, ms: u64) -> Option<(u32, u16, u16)> {
        let i = self.t.find_sess(key)?;
        Some(self.touch_slot(i, from, flags, ms))
    }

    /// [`Nat64::touch`] for the session in slot `i`.
    #[inline]
    fn touch_slot(&mut self, i: u32, from: Side, flags: u8, ms: u64) -> (u32, u16, u16) {
        let proto = self.t.sess.get(i).proto;
        let (tcp_est, tcp_trans, tcp_syn) = (self.timers.tcp_est, self.timers.tcp_trans, self.timers.tcp_incoming_syn);
        let (udp, icmp) = (self.timers.udp, self.timers.icmp);
        let s = self.t.sess.get_mut(i);
        let found = (i, s.a4, s.p4);
        let old = s.state;
        let new = if proto == TCP { Self::tcp_next(old, from, flags) } else { old };
        s.state = new;
        // RFC 6146 §3.5.2.2: in V4 FIN + V6 FIN RCV the lifetime is not refreshed; in the
        // INIT states only the SYN that completes the handshake (or a SYN retransmission
        // from the same side) changes it.
        let refresh = match (old, new) {
            (TcpState::V4FinV6FinRcv, _) => false,
            (TcpState::V6Init, TcpState::V6Init) => from == Side::V6 && flags & SYN != 0,
            (TcpState::V4Init, TcpState::V4Init) => false,
            (TcpState::Trans, TcpState::Trans) => false,
            _ => true,
        };
        if refresh || old != new {
            let life = match (proto, new) {
                (UDP, _) => udp,
                (ICMP, _) => icmp,
                (_, TcpState::Established | TcpState::V4FinRcv | TcpState::V6FinRcv) => tcp_est,
                (_, TcpState::V4Init) => tcp_syn,
                _ => tcp_trans,
            };
            let exp = Self::deadline(ms, life);
            s.expires = exp;
            // A later expiry is picked up when the queued entry pops; an earlier one
            // needs a new entry (the old one becomes stale and is skipped).
            if exp < s.queued {
                s.queued = exp;
                self.heap.push(Reverse((exp, i)));
            }
        }
        found
    }

    // -------------------------------------------------------------- held SYNs

    /// RFC 6146 §3.5.2.2 (CLOSED, V4 SYN): an unsolicited IPv4 SYN `pkt`, sent from
    /// `from` to `to` (pool address index, port), that filtering or a missing BIB entry
    /// would drop is kept for TCP_INCOMING_SYN, so that a simultaneous open from the IPv6
    /// side can still complete. A retransmission of a held SYN is not stored again. The
    /// store is bounded (`max_held_syns`) and indexed by the addresses and ports.
    fn hold(&mut self, pkt: &[u8], hairpin: bool, to: (u16, u16), from: (u32, u16), ms: u64) -> Nat64Drop {
        let ((a4, p4), (remote, rport)) = (to, from);
        if hairpin {
            return Nat64Drop::IncomingSyn;
        }
        let k = HKey { a4, p4, remote, rport };
        if self.held.contains_key(&k) {
            return Nat64Drop::SynHeld;
        }
        if self.held.len() >= self.max_held {
            return Nat64Drop::IncomingSyn;
        }
        let deadline = Self::deadline(ms, self.timers.tcp_incoming_syn);
        let pkt = pkt.get(..QUOTE).unwrap_or(pkt).to_vec();
        self.held.insert(k, Held { deadline, pkt });
        if self.held_q.len() >= 2 * self.held.len() + QUEUE_SLACK {
            // Drop the entries of SYNs that left early.
            let held = &self.held;
            self.held_q.retain(|(d, k)| held.get(k).is_some_and(|h| h.deadline == *d));
        }
        self.held_q.push_back((deadline, k));
        Nat64Drop::SynHeld
    }

    /// RFC 6146 §3.5.2.2: an IPv6 SYN just opened the TCP session in `slot`; if an IPv4
    /// SYN for the same addresses and ports is held, both sides have sent a SYN (a
    /// simultaneous open): the held packet is silently discarded and the session is
    /// established.
    fn simultaneous_open(&mut self, slot: u32, ms: u64) {
        let s = *self.t.sess.get(slot);
        // Its queue entry is skipped when it pops.
        if self.held.remove(&HKey { a4: s.a4, p4: s.p4, remote: s.remote, rport: s.rport }).is_none() {
            return;
        }
        let exp = Self::deadline(ms, self.timers.tcp_est);
        let e = self.t.sess.get_mut(slot);
        e.state = TcpState::Established;
        // The queued timer entry (earlier) pops and requeues at the new expiry.
        e.expires = exp;
    }

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
    fn refuse(&mut self, buf: &mut PacketBuf, now: Instant, r: Nat64Drop) -> Result<Out, Nat64Drop> {
        if !matches!(r, Nat64Drop::PoolExhausted | Nat64Drop::SessionLimit | Nat64Drop::SourceLimit) {
            return Err(r);
        }
        let p = buf.as_slice();
        let src = Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap_or_default());
        if src.is_unspecified()
            || src.is_multicast()
            || src.is_loopback()
            || !self.bucket.take(now, self.icmp_rate.per_second, self.icmp_rate.burst)
        {
            self.icmp_suppressed += 1;
            return Err(r);
        }
        // Type 1 Destination Unreachable, code 3 Address Unreachable (RFC 6146 §3.5.1.1,
        // §3.5.3), unused word 0; as much of the invoking packet as fits in the minimum
        // MTU (RFC 4443 §3.1).
        let mut s = Vec::new();
        sixgate_core::icmp6::build_error(&mut s, self.siit.config().own_ipv6, src, 64, 1, 3, [0; 4], p);
        if buf.set(&s).is_err() {
            self.icmp_suppressed += 1;
            return Err(r);
        }
        self.counters.drop(r);
        Ok(Out::Reply(Side::V6, None))
    }

    /// ICMPv6 errors for refused new flows (pool exhausted, session or per-source limit)
    /// that were not sent: over the ICMP error rate, or to a source that must not get one.
    pub fn icmp_suppressed(&self) -> u64 {
        self.icmp_suppressed
    }

    /// RFC 6146 §3.5.2.2 (V4 INIT, lifetime expired): an ICMP Destination Unreachable,
    /// Port Unreachable (type 3, code 3) quoting the held SYN, back to its source, from
    /// the pool address it was sent to. No error to a non-unicast source (RFC 1812
    /// §4.3.2.7); rate-limited like the translator's own errors; at most `max_held_syns`
    /// wait for `poll_transmit`.
    fn port_unreachable(&mut self, h: &Held, now: Instant) {
        let p = &h.pkt;
        if p.len() < 20 {
            return;
        }
        let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
        if src.is_unspecified() || src.is_multicast() || src.is_broadcast() || src.is_loopback() {
            return;
        }
        if self.queued_replies >= self.max_held.max(1)
            || !self.bucket.take(now, self.icmp_rate.per_second, self.icmp_rate.burst)
        {
            return;
        }
        let mut s = vec![0u8; 28];
        s.extend_from_slice(p);
        let total = s.len() as u16;
        s[0] = 0x45;
        s[2..4].copy_from_slice(&total.to_be_bytes());
        // An atomic datagram (DF, identification 0: RFC 6864 §4.1).
        s[6] = 0x40;
        s[8] = 64;
        s[9] = 1;
        s[12..16].copy_from_slice(&p[16..20]);
        s[16..20].copy_from_slice(&p[12..16]);
        let c = checksum::checksum(&s[..20]);
        s[10..12].copy_from_slice(&c.to_be_bytes());
        s[20] = 3;
        s[21] = 3;
        let c = checksum::checksum(&s[20..]);
        s[22..24].copy_from_slice(&c.to_be_bytes());
        self.queue(Side::V4, Queued::Reply, s);
    }

    /// Puts a packet in the outbox for `poll_transmit`.
    fn queue(&mut self, side: Side, kind: Queued, p: Vec<u8>) {
        match kind {
            Queued::Forward => {}
            Queued::Reply => self.queued_replies += 1,
            Queued::Probe => self.queued_probes += 1,
        }
        self.outbox.push_back((side, kind, p));
    }

    // -------------------------------------------------------------- probes

    /// RFC 6146 §3.5.2.2 (ESTABLISHED, lifetime expired): a probe of TCP session `s`, "a
    /// TCP segment for the connection with no data. The sequence number and the
    /// acknowledgment number are set to zero. All flags but the ACK flag are set to zero."
    /// It goes to the IPv6 endpoint (the RFC asks for at least one), from the remote as
    /// the IPv6 host knows it (pool6 + IPv4 address, port). Being out of the window, it
    /// makes a live endpoint answer with an ACK that moves the session back to
    /// ESTABLISHED (RFC 9293 §3.10.7.4); an endpoint without the connection answers RST,
    /// and one that is gone does not answer, so the session ends after TCP_TRANS. No
    /// sequence numbers need to be kept. At most `MAX_PROBES` wait for `poll_transmit`.
    fn probe(&mut self, s: &Sess) {
        if self.queued_probes >= MAX_PROBES {
            return;
        }
        let src = rfc6052::embed(&self.pool6, Ipv4Addr::from(s.remote));
        let dst = Ipv6Addr::from(s.client);
        let mut p = vec![0u8; 60];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&20u16.to_be_bytes());
        p[6] = TCP;
        p[7] = 64;
        p[8..24].copy_from_slice(&src.octets());
        p[24..40].copy_from_slice(&dst.octets());
        p[40..42].copy_from_slice(&s.rport.to_be_bytes());
        p[42..44].copy_from_slice(&s.port.to_be_bytes());
        // Sequence and acknowledgment numbers 0, data offset 5 words, only ACK, window 0,
        // urgent pointer 0.
        p[52] = 5 << 4;
        p[53] = ACK;
        let c = checksum::finish(add(checksum::pseudo_v6(src, dst, TCP, 20), checksum::sum(&p[40..])));
        p[56..58].copy_from_slice(&c.to_be_bytes());
        self.queue(Side::V6, Queued::Probe, p);
    }

    // -------------------------------------------------------------- fragments

    /// RFC 6146 §3.4 / §3.5: the first fragment of datagram `k` was translated (now in
    /// the caller's buffer) with the mapping `client` ↔ pool address `a4`; the datagram's other
    /// fragments follow that mapping for `fragment_timeout`. Fragments that came before
    /// it are translated now and queued for `poll_transmit`, after the rest of `buf`'s
    /// own output.
    fn first_fragment(&mut self, k: FKey, client: [u8; 16], a4: u16, now: Instant, ms: u64) {
        let deadline = Self::deadline(ms, self.frag_life);
        let n = self.frags.len();
        match self.frags.get_mut(&k) {
            Some(f) => *f = FFlow { deadline, client, a4 },
            None if n < self.max_frag_flows => {
                self.frags.insert(k, FFlow { deadline, client, a4 });
                self.frag_q.push(Reverse((deadline, k)));
            }
            // Full: the other fragments wait and time out (counted).
            None => return,
        }
        // Their queue entries are skipped when they pop.
        let Some(ready) = self.frag_wait.remove(&k) else {
            return;
        };
        self.frag_wait_n -= ready.len();
        self.frag_wait_bytes -= ready.iter().map(|w| w.1.len()).sum::<usize>();
        // What the translator still has to send of this packet goes first.
        let mut tmp = PacketBuf::new();
        while let Some(side) = self.siit.poll_transmit(&mut tmp) {
            self.queue(side, Queued::Forward, tmp.as_slice().to_vec());
        }
        for (_, p) in ready {
            let _ = tmp.set(&p);
            let r = self.fragment(&mut tmp, now, k, false, ms);
            match r {
                Ok(Out::Fwd(side)) => {
                    self.queue(side, Queued::Forward, tmp.as_slice().to_vec());
                    while let Some(side) = self.siit.poll_transmit(&mut tmp) {
                        self.queue(side, Queued::Forward, tmp.as_slice().to_vec());
                    }
                }
                Ok(Out::Reply(side, _)) => self.queue(side, Queued::Reply, tmp.as_slice().to_vec()),
                Ok(Out::Drop(r)) => self.counters.drop(Nat64Drop::Xlate(r)),
                Err(r) => self.counters.drop(r),
            }
        }
    }

    /// A non-first fragment of datagram `k`: translated with the mapping its first
    /// fragment chose, or kept until that comes (at most `max_fragment_bytes` in all, for
    /// `fragment_timeout`; counted when it leaves or times out), indexed by datagram.
    /// Every fragment that uses the mapping keeps it for another `fragment_timeout` (RFC
    /// 6146 §4: FRAGMENT_MIN is a minimum), so a datagram whose fragments keep coming is
    /// not cut off.
    fn fragment(
        &mut self,
        buf: &mut PacketBuf,
        now: Instant,
        k: FKey,
        hairpin: bool,
        ms: u64,
    ) -> Result<Out, Nat64Drop> {
        let refreshed = Self::deadline(ms, self.frag_life);
        let Some(f) = self.frags.get_mut(&k).map(|f| {
            // The queued entry pops at the old deadline and is requeued at this one.
            f.deadline = refreshed;
            *f
        }) else {
            let n = buf.len();
            if hairpin || self.frag_wait_bytes + n > self.max_frag_bytes {
                return Err(Nat64Drop::Fragment);
            }
            self.frag_wait.entry(k).or_default().push((refreshed, buf.as_slice().to_vec()));
            self.frag_wait_n += 1;
            self.frag_wait_bytes += n;
            self.queue_wait(refreshed, k);
            return Err(Nat64Drop::FragmentHeld);
        };
        let client = Ipv6Addr::from(f.client);
        let a = Ipv4Addr::from(self.addr_of(f.a4));
        if k.v6 {
            match self.siit.xlate_v6_with(buf, now, Some((client, a))) {
                // RFC 6146 §3.8 hairpinning.
                Out::Fwd(Side::V4) if self.local_hairpin && self.pool_addr(k.dst as u32) => {
                    self.inbound(buf, now, true)
                }
                other => Ok(other),
            }
        } else {
            Ok(self.siit.xlate_v4_with(buf, now, hairpin, Some((client, a))))
        }
    }

    /// Queues the expiry of a waiting fragment of datagram `k` (deadline `d`, the latest
    /// so far); rebuilds the queue from the waiting fragments when entries left behind by
    /// fragments that went out with their first fragment have piled up.
    fn queue_wait(&mut self, d: u32, k: FKey) {
        if self.frag_wait_q.len() >= 2 * self.frag_wait_n + QUEUE_SLACK {
            let mut q: Vec<(u32, FKey)> =
                self.frag_wait.iter().flat_map(|(k, v)| v.iter().map(move |w| (w.0, *k))).collect();
            q.sort_unstable();
            self.frag_wait_q = q.into();
            // The new fragment is in the map already: its entry is in the rebuilt queue.
            return;
        }
        self.frag_wait_q.push_back((d, k));
    }

    // -------------------------------------------------------------- parsing

    /// Walks the IPv6 extension headers: the upper-layer offset and protocol, and the
    /// fragment header's (offset, more fragments, identification) if there is one. The
    /// walk stops at an extension header after the Fragment Header (returned as the
    /// protocol), which the translator refuses.
    fn tuple6(&self, p: &[u8]) -> Result<(usize, u8, Option<Frag6>), Nat64Drop> {
        if p.len() < 40 || p[0] >> 4 != 6 {
            return Err(Nat64Drop::Xlate(DropReason::Malformed));
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
                return Err(Nat64Drop::Xlate(DropReason::Malformed));
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
            return Err(Nat64Drop::Xlate(DropReason::Malformed));
        }
        Ok((off, nh, frag))
    }

    // -------------------------------------------------------------- IPv6 → IPv4

    fn outbound(&mut self, buf: &mut PacketBuf, now: Instant) -> Result<Out, Nat64Drop> {
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
            return Err(Nat64Drop::Xlate(DropReason::LinkLocal));
        }
        if !self.pool6.contains(dst6) {
            return Err(Nat64Drop::Xlate(DropReason::UntranslatableDestination));
        }
        let remote =
            rfc6052::extract(&self.pool6, dst6).map_err(|_| Nat64Drop::Xlate(DropReason::UntranslatableDestination))?;
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
            Some(_) if nh == 58 => return Err(Nat64Drop::Xlate(DropReason::FragmentedIcmp)),
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
            6 | 17 | 58 => return Err(Nat64Drop::Xlate(DropReason::Malformed)),
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
        let over = Some((src6, Ipv4Addr::from(self.addr_of(a4))));
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
                if self.local_hairpin && self.pool_addr(u32::from(remote)) {
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
    fn err64(&mut self, buf: &mut PacketBuf, now: Instant, off: usize) -> Result<Out, Nat64Drop> {
        let p = buf.as_slice();
        let inner = p.get(off + 8..).ok_or(Nat64Drop::Xlate(DropReason::Malformed))?;
        if inner.len() < 48 || inner[0] >> 4 != 6 {
            return Err(Nat64Drop::Xlate(DropReason::Malformed));
        }
        let idst = Ipv6Addr::from(<[u8; 16]>::try_from(&inner[24..40]).unwrap_or_default());
        let il4 = &inner[40..];
        let (proto, port) = match inner[6] {
            6 | 17 => (inner[6], be16(il4, 2)),
            58 if il4[0] == 129 || il4[0] == 128 => (ICMP, be16(il4, 4)),
            _ => return Err(Nat64Drop::UnsupportedProtocol),
        };
        let b = *self.t.bib.get(self.t.find_b6(proto, &idst.octets(), port).ok_or(Nat64Drop::NoBinding)?);
        match self.siit.xlate_v6_with(buf, now, Some((idst, Ipv4Addr::from(self.addr_of(b.a4))))) {
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
                if self.local_hairpin && self.pool_addr(be32(p, 16)) {
                    return self.inbound(buf, now, true);
                }
                Ok(Out::Fwd(Side::V4))
            }
            other => Ok(other),
        }
    }

    // -------------------------------------------------------------- IPv4 → IPv6

    fn inbound(&mut self, buf: &mut PacketBuf, now: Instant, hairpin: bool) -> Result<Out, Nat64Drop> {
        let t = self.now_ms(now);
        let p = buf.as_slice();
        if p.len() < 20 || p[0] >> 4 != 4 {
            return Err(Nat64Drop::Xlate(DropReason::Malformed));
        }
        let ihl = usize::from(p[0] & 0x0f) * 4;
        let total = usize::from(be16(p, 2));
        if ihl < 20 || total < ihl || total > p.len() {
            return Err(Nat64Drop::Xlate(DropReason::Malformed));
        }
        let src = be32(p, 12);
        let dst = be32(p, 16);
        // RFC 7915 §4.1 via sixgate_core::router::forward_hop, applied by the translator.
        if !hairpin && (Ipv4Addr::from(dst) == self.siit.config().own_ipv4 || forward_hop(p[8]).is_none()) {
            return Ok(self.siit.xlate_v4_with(buf, now, false, None));
        }
        let Some(a4) = self.pool_idx(dst) else {
            return Err(Nat64Drop::Xlate(DropReason::UntranslatableDestination));
        };
        let ff = be16(p, 6);
        let fkey = if ff & 0x3fff != 0 {
            match p[9] {
                6 | 17 => {}
                // RFC 7915 §1.2: ICMP fragments are not translated (see the module doc).
                1 => return Err(Nat64Drop::Xlate(DropReason::FragmentedIcmp)),
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
            6 | 17 | 1 => return Err(Nat64Drop::Xlate(DropReason::Malformed)),
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
    fn inbound_new(
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
    fn err46(&mut self, buf: &mut PacketBuf, now: Instant, ihl: usize, hairpin: bool) -> Result<Out, Nat64Drop> {
        let p = buf.as_slice();
        let inner = &p[ihl + 8..];
        if inner.len() < 28 || inner[0] >> 4 != 4 {
            return Err(Nat64Drop::Xlate(DropReason::Malformed));
        }
        let iihl = usize::from(inner[0] & 0x0f) * 4;
        if iihl < 20 || inner.len() < iihl + 8 {
            return Err(Nat64Drop::Xlate(DropReason::Malformed));
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
        let a4 = self.pool_idx(isrc).ok_or(Nat64Drop::NoBinding)?;
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

    fn verdict(&mut self, r: Result<Out, Nat64Drop>) -> Verdict<Nat64Drop> {
        match r {
            Ok(Out::Fwd(side)) => {
                self.counters.forwarded += 1;
                Verdict::Forward(side)
            }
            Ok(Out::Reply(side, reason)) => {
                self.counters.replied += 1;
                if let Some(r) = reason {
                    self.counters.drop(Nat64Drop::Xlate(r));
                }
                Verdict::Reply(side)
            }
            Ok(Out::Drop(r)) => {
                self.counters.drop(Nat64Drop::Xlate(r));
                Verdict::Drop(Nat64Drop::Xlate(r))
            }
            Err(r) => {
                // A kept fragment is counted when it leaves or times out, not now.
                if r != Nat64Drop::FragmentHeld {
                    self.counters.drop(r);
                }
                Verdict::Drop(r)
            }
        }
    }
}

/// Writes `new` into the 16-bit word at `at` (a port or ICMP identifier) and keeps the
/// checksums right (RFC 1624): the transport checksum at `ck` (`true`: UDP, where 0 means
/// none), and the enclosing ICMP error's checksum at `outer`, which covers both words.
/// Words outside a truncated quote are left alone.
fn rewrite(p: &mut [u8], at: usize, new: u16, ck: Option<(usize, bool)>, outer: Option<usize>) {
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

    /// Counts a drop decided outside the engine (by the shards' steering).
    pub(crate) fn count_drop(&mut self, r: Nat64Drop) {
        self.counters.drop(r);
    }

    /// Takes back one packet counted as forwarded: its hairpin leg, in another shard,
    /// dropped it (one engine counts such a packet as a drop only).
    pub(crate) fn uncount_forward(&mut self) {
        self.counters.forwarded = self.counters.forwarded.saturating_sub(1);
    }
}

impl Engine for Nat64 {
    type Reason = Nat64Drop;

    fn process(&mut self, buf: &mut PacketBuf, now: Instant) -> Verdict<Nat64Drop> {
        let r = match buf.first().map(|b| b >> 4) {
            Some(6) => self.outbound(buf, now),
            Some(4) => self.inbound(buf, now, false),
            _ => Err(Nat64Drop::Xlate(DropReason::Malformed)),
        };
        self.verdict(r)
    }

    fn poll_transmit(&mut self, buf: &mut PacketBuf) -> Option<Side> {
        if let Some(s) = self.siit.poll_transmit(buf) {
            self.counters.forwarded += 1;
            return Some(s);
        }
        // ICMP errors for held SYNs whose time ran out; fragments that waited; probes.
        while let Some((side, kind, p)) = self.outbox.pop_front() {
            match kind {
                Queued::Forward => {}
                Queued::Reply => self.queued_replies -= 1,
                Queued::Probe => self.queued_probes -= 1,
            }
            if buf.set(&p).is_ok() {
                // A probe is the engine's own packet, like an ICMP error: counted as a reply.
                if kind == Queued::Forward {
                    self.counters.forwarded += 1;
                } else {
                    self.counters.replied += 1;
                }
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
        let d = [
            self.heap.peek().map(|Reverse((d, _))| *d),
            self.held_q.front().map(|h| h.0),
            self.frag_q.peek().map(|Reverse((d, _))| *d),
            self.frag_wait_q.front().map(|f| f.0),
        ]
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
        let mut work = self.expiry_slice.max(1);
        let mut removed = false;
        while let Some(&Reverse((d, i))) = self.heap.peek() {
            if d > tick || work == 0 {
                break;
            }
            work -= 1;
            self.heap.pop();
            // Stale: the session is gone (its chunk maybe given back) or a newer entry for
            // it is queued.
            let Some(s) = self.t.sess.try_get_mut(i) else { continue };
            if s.proto == 0 || s.queued != d {
                continue;
            }
            if s.expires > tick {
                // Refreshed since it was queued: queue it again at its real expiry.
                s.queued = s.expires;
                self.heap.push(Reverse((s.expires, i)));
                continue;
            }
            if s.proto == TCP && s.state == TcpState::Established {
                // RFC 6146 §3.5.2.2 ESTABLISHED: "If the lifetime expires, the NAT64 SHOULD
                // send a probe packet [...] The state is moved to TRANS." A packet of the
                // connection (the probe's answer) moves it back to ESTABLISHED.
                s.state = TcpState::Trans;
                let exp = Self::deadline(ms, self.timers.tcp_trans);
                s.expires = exp;
                s.queued = exp;
                let s = *s;
                self.heap.push(Reverse((exp, i)));
                self.probe(&s);
                continue;
            }
            // RFC 6146 §3.5.2.2: in every other state (V4 FIN RCV and V6 FIN RCV included)
            // the Session Table Entry is deleted when its lifetime expires.
            self.remove(i);
            removed = true;
        }
        if removed || self.shrink_pending {
            self.shrink();
        }
        while let Some(&(d, k)) = self.held_q.front() {
            if d > tick {
                break;
            }
            self.held_q.pop_front();
            // Not there (or held again later): it left by a simultaneous open.
            if self.held.get(&k).is_some_and(|h| h.deadline == d) {
                if let Some(h) = self.held.remove(&k) {
                    self.port_unreachable(&h, now);
                }
            }
        }
        while let Some(&Reverse((d, k))) = self.frag_q.peek() {
            if d > tick {
                break;
            }
            self.frag_q.pop();
            match self.frags.get(&k) {
                // Refreshed by a later fragment (or replaced by a newer first fragment).
                Some(f) if f.deadline > tick => self.frag_q.push(Reverse((f.deadline, k))),
                Some(_) => {
                    self.frags.remove(&k);
                }
                None => {}
            }
        }
        while let Some(&(d, k)) = self.frag_wait_q.front() {
            if d > tick {
                break;
            }
            self.frag_wait_q.pop_front();
            // The datagram's oldest waiting fragment, if its time is up. (An entry left by
            // fragments that went out with their first fragment finds a younger one, or
            // none; every waiting fragment has its own entry, so each times out in time.)
            let Some(v) = self.frag_wait.get_mut(&k) else { continue };
            if v.first().is_some_and(|w| w.0 <= tick) {
                let (_, p) = v.remove(0);
                if v.is_empty() {
                    self.frag_wait.remove(&k);
                }
                self.frag_wait_n -= 1;
                self.frag_wait_bytes -= p.len();
                self.counters.drop(Nat64Drop::FragmentTimeout);
            }
        }
    }

    fn counters(&self) -> &Counters<Nat64Drop> {
        &self.counters
    }
}
