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
//! * Limits: sessions in all and per IPv6 source; when a limit is reached new flows are
//!   dropped and counted while existing sessions keep working.
//!
//! Not done: fragments are dropped (counted as `fragment`; RFC 6146 §3.4 needs
//! reassembly or fragment tracking); an unsolicited IPv4 SYN under address-dependent
//! filtering is dropped and counted (`incoming-syn`) instead of being held for
//! TCP_INCOMING_SYN (§3.5.2.2 allows "drop"; a simultaneous open still completes when the
//! IPv6 SYN arrives first or the IPv4 side retransmits); an established TCP session that
//! idles out moves to the transitory state instead of being probed.
//!
//! # Memory
//! Tables are per protocol. A session costs a 40-byte entry (24-byte key, 16-byte value:
//! expiry and timer ticks of 100 ms, pool address and port, state), its timer a 32-byte
//! heap entry, its BIB entry 32 bytes in each direction and its filtering count 16 bytes:
//! about 150 bytes of entries. Hash tables keep between 1/8 and 9/16 of their buckets
//! free (power-of-two growth), so the measured cost at 1,000,000 UDP sessions is 297–346
//! bytes per session (`BENCHMARKS.md`), above the 200 aimed at; a direct-indexed port
//! table per pool address in place of the IPv4-side BIB map would be the next step.
//!
//! # Sharding
//! An engine is meant to run on one worker. To scale out without shared state give every
//! worker its own slice of the IPv4 pool ([`StatefulConfig::shard`]), steer IPv6 packets
//! by a hash of the source address and IPv4 packets by destination port
//! ([`StatefulConfig::shard_of_v4`]) so that both directions of a flow meet the same
//! tables.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ipnet::Ipv4Net;
use sixgate_core::buf::PacketBuf;
use sixgate_core::checksum::{self, add};
use sixgate_core::engine::{Counters, Engine, Reason, Side, Verdict};
use sixgate_core::rfc6052::{self, Pool6};

use crate::config::SiitConfig;
use crate::reason::DropReason;
use crate::siit::{Out, Siit};
use crate::Error;

// ------------------------------------------------------------------ configuration

/// A slice of the IPv4 pool: every address of `prefix`, ports `first..=last` (for ICMP:
/// identifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

impl StatefulConfig {
    /// A configuration with the NAT64 prefix `pool6`, the IPv4 pool `pool4` and the
    /// translator's own addresses; defaults elsewhere (address-dependent filtering,
    /// RFC 6146 timers, 1,000,000 sessions, 4,096 per source).
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
        }
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), Error> {
        self.xlate.validate()?;
        if self.xlate.pool6.is_none() {
            return Err(Error::Config("stateful NAT64 needs a pool6 prefix".into()));
        }
        if !self.xlate.eamt.is_empty() {
            return Err(Error::Config("stateful NAT64 takes no EAM entries".into()));
        }
        if self.pool4.is_empty() {
            return Err(Error::Config("stateful NAT64 needs a pool4".into()));
        }
        let mut n = 0u64;
        for r in &self.pool4 {
            if r.first > r.last {
                return Err(Error::Config(format!("pool4 {}: port range {}-{} is empty", r.prefix, r.first, r.last)));
            }
            let net = u32::from(r.prefix.network());
            let o = r.prefix.network().octets();
            if o[0] == 0 || o[0] == 127 || o[0] >= 224 || (o[0] == 169 && o[1] == 254) {
                return Err(Error::Config(format!("pool4 {} is not usable unicast space", r.prefix)));
            }
            if self
                .pool4
                .iter()
                .filter(|q| q.prefix.contains(&Ipv4Addr::from(net)) || r.prefix.contains(&q.prefix.network()))
                .count()
                > 1
            {
                return Err(Error::Config(format!("pool4 {} overlaps another pool4 entry", r.prefix)));
            }
            n += 1u64 << (32 - r.prefix.prefix_len());
        }
        if n > 65536 {
            return Err(Error::Config("pool4 holds more than 65,536 addresses".into()));
        }
        if self.max_sessions == 0 || self.max_sessions_per_source == 0 {
            return Err(Error::Config("session limits must be at least 1".into()));
        }
        if self.max_sessions_per_source > 65535 {
            return Err(Error::Config("at most 65,535 sessions per source".into()));
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
        (0..n).find(|&k| slice(r.first, r.last, k, n).is_some_and(|(a, b)| (a..=b).contains(&port)))
    }
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
    Nat64Drop::TcpNotSyn,
    Nat64Drop::NoSession,
    Nat64Drop::SessionLimit,
    Nat64Drop::SourceLimit,
    Nat64Drop::PoolExhausted,
    Nat64Drop::Fragment,
    Nat64Drop::UnsupportedProtocol,
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
    /// An unsolicited IPv4 SYN under address-dependent filtering (RFC 6146 §3.5.2.2:
    /// dropped rather than held).
    IncomingSyn,
    /// A new TCP flow from IPv6 that does not start with SYN (RFC 6146 §3.5.2.2, CLOSED).
    TcpNotSyn,
    /// An IPv4 TCP segment with a BIB entry but no session that is not a SYN.
    NoSession,
    /// The session table is full; a new flow was refused.
    SessionLimit,
    /// The IPv6 source has its maximum of sessions; a new flow was refused.
    SourceLimit,
    /// No free port (or identifier) in the IPv4 pool.
    PoolExhausted,
    /// A fragment (not tracked by this engine).
    Fragment,
    /// A protocol or ICMP type the stateful translator does not carry.
    UnsupportedProtocol,
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
            Self::TcpNotSyn => "tcp-not-syn",
            Self::NoSession => "no-session",
            Self::SessionLimit => "session-limit",
            Self::SourceLimit => "source-limit",
            Self::PoolExhausted => "pool-exhausted",
            Self::Fragment => "fragment",
            Self::UnsupportedProtocol => "unsupported-protocol",
            Self::Xlate(r) => r.name(),
        }
    }
}

// ------------------------------------------------------------------ tables

/// Protocols as stored: 6 TCP, 17 UDP, 1 ICMP (queries). Each has its own tables.
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;

/// Table index of a protocol (TCP, UDP, ICMP; ICMPv6 counts as ICMP).
fn pi(proto: u8) -> Option<usize> {
    match proto {
        TCP => Some(0),
        UDP => Some(1),
        ICMP | 58 => Some(2),
        _ => None,
    }
}

/// Time in the tables: ticks of 100 ms since the engine's time base, in 32 bits (13 years).
/// Deadlines are rounded up, so a lifetime is never cut short.
const TICK_MS: u64 = 100;

/// An IPv6 transport address (BIB key, IPv6 side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct B6 {
    hi: u64,
    lo: u64,
    port: u16,
}

/// An IPv4 pool transport address (BIB key, IPv4 side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct B4 {
    addr: u32,
    port: u16,
}

/// A BIB entry as stored under its IPv6 key.
#[derive(Debug, Clone, Copy)]
struct Bib {
    addr: u32,
    port: u16,
    /// Sessions using it (at most the per-source limit, itself at most 65,535).
    sessions: u16,
}

/// A session: the IPv6 transport address and the remote IPv4 transport address (the
/// remote IPv6 address is pool6 + that IPv4 address). For ICMP the remote port is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct SKey {
    hi: u64,
    lo: u64,
    remote: u32,
    port: u16,
    rport: u16,
}

impl SKey {
    fn b6(&self) -> B6 {
        B6 { hi: self.hi, lo: self.lo, port: self.port }
    }
}

/// TCP states of RFC 6146 §3.5.2.2 (UDP and ICMP sessions use `Open`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TcpState {
    /// UDP or ICMP session (no state machine).
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

#[derive(Debug, Clone, Copy)]
struct Sess {
    /// Expiry (ticks).
    expires: u32,
    /// The deadline of this session's entry in the timer heap (ticks).
    queued: u32,
    addr4: u32,
    port4: u16,
    state: TcpState,
}

/// One protocol's tables.
#[derive(Debug, Default)]
struct Table {
    bib6: HashMap<B6, Bib>,
    bib4: HashMap<B4, B6>,
    sessions: HashMap<SKey, Sess>,
    /// Address-dependent filtering: sessions per (BIB entry, remote IPv4 address).
    adf: HashMap<(B4, u32), u32>,
}

fn split6(a: Ipv6Addr) -> (u64, u64) {
    let x = u128::from(a);
    ((x >> 64) as u64, x as u64)
}
fn join6(hi: u64, lo: u64) -> Ipv6Addr {
    Ipv6Addr::from((u128::from(hi) << 64) | u128::from(lo))
}

/// TCP flags that drive the state machine.
const SYN: u8 = 0x02;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;

/// Counts of what the tables hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableStats {
    /// BIB entries.
    pub bib: usize,
    /// Sessions.
    pub sessions: usize,
    /// Entries in the timer queue (sessions plus stale entries not yet popped).
    pub timers: usize,
}

/// The stateful NAT64 engine (RFC 6146). [`Side::V6`] is the IPv6 client network,
/// [`Side::V4`] the IPv4 Internet.
#[derive(Debug)]
pub struct Nat64 {
    siit: Siit,
    pool6: Pool6,
    pool4: Vec<Pool4Range>,
    /// `pool4` as (first address, last address) for quick membership tests.
    pool4_spans: Vec<(u32, u32)>,
    n_addrs: u32,
    filtering: Filtering,
    timers: Timers,
    max_sessions: usize,
    max_per_source: usize,
    seed: u64,
    /// TCP, UDP, ICMP.
    t: [Table; 3],
    n_sessions: usize,
    per_source: HashMap<(u64, u64), u32>,
    /// (deadline in ticks, protocol, session).
    heap: BinaryHeap<Reverse<(u32, u8, SKey)>>,
    base: Option<Instant>,
    counters: Counters<Nat64Drop>,
}

impl Nat64 {
    /// An engine with a validated configuration.
    pub fn new(cfg: StatefulConfig) -> Result<Self, Error> {
        cfg.validate()?;
        let pool6 = cfg.xlate.pool6.ok_or_else(|| Error::Config("stateful NAT64 needs a pool6 prefix".into()))?;
        let n_addrs = cfg.pool4.iter().map(|r| 1u32 << (32 - r.prefix.prefix_len())).sum();
        let pool4_spans =
            cfg.pool4.iter().map(|r| (u32::from(r.prefix.network()), u32::from(r.prefix.broadcast()))).collect();
        Ok(Self {
            siit: Siit::new(cfg.xlate)?,
            pool6,
            pool4: cfg.pool4,
            pool4_spans,
            n_addrs,
            filtering: cfg.filtering,
            timers: cfg.timers,
            max_sessions: cfg.max_sessions,
            max_per_source: cfg.max_sessions_per_source,
            seed: cfg.seed,
            t: Default::default(),
            n_sessions: 0,
            per_source: HashMap::new(),
            heap: BinaryHeap::new(),
            base: None,
            counters: Counters::new(),
        })
    }

    /// Reserves table room for `n` UDP sessions (and as many BIB entries) up front.
    pub fn reserve(&mut self, n: usize) {
        let t = &mut self.t[1];
        t.sessions.reserve(n);
        t.bib6.reserve(n);
        t.bib4.reserve(n);
        t.adf.reserve(n);
        self.heap.reserve(n);
    }

    /// Bytes the tables hold (computed from their capacities: a hash table of capacity
    /// `c` has `c × 8 / 7` buckets rounded up to a power of two, each an entry plus one
    /// control byte; the timer heap is a vector). Excludes the allocator's own overhead.
    pub fn table_bytes(&self) -> usize {
        fn map<K, V>(m: &HashMap<K, V>) -> usize {
            let c = m.capacity();
            if c == 0 {
                return 0;
            }
            let buckets = (c * 8 / 7).next_power_of_two();
            buckets * (size_of::<(K, V)>() + 1) + 16
        }
        self.t.iter().map(|t| map(&t.bib6) + map(&t.bib4) + map(&t.sessions) + map(&t.adf)).sum::<usize>()
            + map(&self.per_source)
            + self.heap.capacity() * size_of::<Reverse<(u32, u8, SKey)>>()
    }

    /// What the tables hold.
    pub fn stats(&self) -> TableStats {
        TableStats {
            bib: self.t.iter().map(|t| t.bib6.len()).sum(),
            sessions: self.n_sessions,
            timers: self.heap.len(),
        }
    }

    /// The IPv4 transport address bound to an IPv6 one (`proto` 6, 17 or 1 for ICMP
    /// identifiers), if any.
    pub fn binding(&self, proto: u8, addr: Ipv6Addr, port: u16) -> Option<(Ipv4Addr, u16)> {
        let (hi, lo) = split6(addr);
        self.t[pi(proto)?].bib6.get(&B6 { hi, lo, port }).map(|b| (Ipv4Addr::from(b.addr), b.port))
    }

    /// The IPv6 transport address bound to an IPv4 pool one, if any.
    pub fn binding_v4(&self, proto: u8, addr: Ipv4Addr, port: u16) -> Option<(Ipv6Addr, u16)> {
        self.t[pi(proto)?].bib4.get(&B4 { addr: u32::from(addr), port }).map(|k| (join6(k.hi, k.lo), k.port))
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
        let (hi, lo) = split6(client);
        let i = pi(proto)?;
        let rport = if i == 2 { 0 } else { rport };
        self.t[i].sessions.get(&SKey { hi, lo, remote: u32::from(remote), port, rport }).map(|s| s.state)
    }

    /// Checks the tables' invariants (for tests and fuzzing): the two BIB maps are inverse
    /// one-to-one maps, every session has its BIB entry and counts add up.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut n = 0;
        for t in &self.t {
            if t.bib6.len() != t.bib4.len() {
                return Err(format!("bib6 {} != bib4 {}", t.bib6.len(), t.bib4.len()));
            }
            for (k6, b) in &t.bib6 {
                let k4 = B4 { addr: b.addr, port: b.port };
                if t.bib4.get(&k4) != Some(k6) {
                    return Err(format!("bib {k6:?} -> {k4:?} not inverse"));
                }
                if !self.in_pool(b.addr, b.port) {
                    return Err(format!("bib {k4:?} outside pool4"));
                }
            }
            let mut per_bib: HashMap<B6, u32> = HashMap::new();
            let mut adf: HashMap<(B4, u32), u32> = HashMap::new();
            for (k, s) in &t.sessions {
                let b = t.bib6.get(&k.b6()).ok_or_else(|| format!("session {k:?} without BIB"))?;
                if (b.addr, b.port) != (s.addr4, s.port4) {
                    return Err(format!("session {k:?} disagrees with its BIB"));
                }
                *per_bib.entry(k.b6()).or_default() += 1;
                *adf.entry((B4 { addr: b.addr, port: b.port }, k.remote)).or_default() += 1;
            }
            for (k6, b) in &t.bib6 {
                if per_bib.get(k6).copied().unwrap_or(0) != u32::from(b.sessions) || b.sessions == 0 {
                    return Err(format!("bib {k6:?} counts {} sessions", b.sessions));
                }
            }
            if adf != t.adf {
                return Err("filtering counts disagree".into());
            }
            n += t.sessions.len();
        }
        if n != self.n_sessions || n > self.max_sessions {
            return Err(format!("{n} sessions, counted {}, limit {}", self.n_sessions, self.max_sessions));
        }
        if self.per_source.values().any(|&n| n as usize > self.max_per_source) {
            return Err("a source over its limit".into());
        }
        let total: u32 = self.per_source.values().sum();
        if total as usize != n {
            return Err("per-source counts disagree".into());
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
        self.pool4_spans.iter().any(|&(a, b)| (a..=b).contains(&addr))
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

    fn mix(&self, a: u64, b: u64) -> u64 {
        let mut x = a ^ self.seed ^ b.rotate_left(29);
        x = (x ^ (x >> 31)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^ (x >> 32)
    }

    /// The `i`-th pool address and its port range.
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

    /// RFC 6146 §3.5.1.1 / RFC 4787 REQ-2..4: an IPv4 transport address for `b6`. The
    /// client's addresses start at one pool address chosen by a hash of the IPv6 address
    /// (so a client keeps one IPv4 address while it can); the client's own port is tried
    /// first, then ports of the same range (0–1023 or 1024–65535) and parity from a
    /// hashed start. Probing is bounded, so a nearly full pool costs a bounded effort.
    fn allocate(&self, proto: u8, b6: &B6) -> Option<B4> {
        let bib4 = &self.t[pi(proto)?].bib4;
        let h = self.mix(b6.hi ^ b6.lo.rotate_left(17), u64::from(proto));
        let start = (h % u64::from(self.n_addrs.max(1))) as u32;
        let want = b6.port;
        let mut budget: u32 = 4096;
        for step in 0..self.n_addrs.min(64) {
            let (addr, first, last) = self.nth_addr((start + step) % self.n_addrs)?;
            let free = |port: u16| !bib4.contains_key(&B4 { addr, port });
            if (first..=last).contains(&want) && free(want) {
                return Some(B4 { addr, port: want });
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
                        return Some(B4 { addr, port: p as u16 });
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

    /// Creates a session (and its BIB entry if needed).
    fn create(&mut self, proto: u8, key: SKey, state: TcpState, ms: u64) -> Result<(u32, u16), Nat64Drop> {
        let i = pi(proto).ok_or(Nat64Drop::UnsupportedProtocol)?;
        if self.n_sessions >= self.max_sessions {
            return Err(Nat64Drop::SessionLimit);
        }
        if self.per_source.get(&(key.hi, key.lo)).is_some_and(|&n| n as usize >= self.max_per_source) {
            return Err(Nat64Drop::SourceLimit);
        }
        let b6 = key.b6();
        let (addr, port) = match self.t[i].bib6.get_mut(&b6) {
            Some(b) => {
                b.sessions += 1;
                (b.addr, b.port)
            }
            None => {
                let b4 = self.allocate(proto, &b6).ok_or(Nat64Drop::PoolExhausted)?;
                self.t[i].bib6.insert(b6, Bib { addr: b4.addr, port: b4.port, sessions: 1 });
                self.t[i].bib4.insert(b4, b6);
                (b4.addr, b4.port)
            }
        };
        *self.per_source.entry((key.hi, key.lo)).or_default() += 1;
        let expires = Self::deadline(ms, self.lifetime(proto, state));
        let t = &mut self.t[i];
        *t.adf.entry((B4 { addr, port }, key.remote)).or_default() += 1;
        t.sessions.insert(key, Sess { expires, queued: expires, addr4: addr, port4: port, state });
        self.n_sessions += 1;
        self.heap.push(Reverse((expires, proto, key)));
        Ok((addr, port))
    }

    fn remove(&mut self, proto: u8, key: &SKey) {
        let Some(i) = pi(proto) else { return };
        let t = &mut self.t[i];
        let Some(s) = t.sessions.remove(key) else { return };
        self.n_sessions -= 1;
        let b6 = key.b6();
        let b4 = B4 { addr: s.addr4, port: s.port4 };
        if let Some(n) = self.per_source.get_mut(&(key.hi, key.lo)) {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&(key.hi, key.lo));
            }
        }
        if let Some(n) = t.adf.get_mut(&(b4, key.remote)) {
            *n -= 1;
            if *n == 0 {
                t.adf.remove(&(b4, key.remote));
            }
        }
        if let Some(b) = t.bib6.get_mut(&b6) {
            b.sessions -= 1;
            // RFC 6146 §3.5.1: a BIB entry lives as long as it has sessions.
            if b.sessions == 0 {
                t.bib6.remove(&b6);
                t.bib4.remove(&b4);
            }
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
    /// returns its IPv4 pool transport address, or `None` when there is no such session.
    /// (It runs before the header translation, so one lookup serves both; a packet the
    /// translator then refuses has still refreshed its session.)
    fn touch(&mut self, proto: u8, key: SKey, from: Side, flags: u8, ms: u64) -> Option<(u32, u16)> {
        let s = self.t[pi(proto)?].sessions.get_mut(&key)?;
        let found = (s.addr4, s.port4);
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
                (UDP, _) => self.timers.udp,
                (ICMP, _) => self.timers.icmp,
                (_, TcpState::Established | TcpState::V4FinRcv | TcpState::V6FinRcv) => self.timers.tcp_est,
                (_, TcpState::V4Init) => self.timers.tcp_incoming_syn,
                _ => self.timers.tcp_trans,
            };
            let exp = Self::deadline(ms, life);
            s.expires = exp;
            // A later expiry is picked up when the queued entry pops; an earlier one
            // needs a new entry (the old one becomes stale and is skipped).
            if exp < s.queued {
                s.queued = exp;
                self.heap.push(Reverse((exp, proto, key)));
            }
        }
        Some(found)
    }

    // -------------------------------------------------------------- parsing

    /// Walks the IPv6 extension headers: the upper-layer offset and protocol.
    fn tuple6(&self, p: &[u8]) -> Result<(usize, u8), Nat64Drop> {
        if p.len() < 40 || p[0] >> 4 != 6 {
            return Err(Nat64Drop::Xlate(DropReason::Malformed));
        }
        let len = (40 + usize::from(u16::from_be_bytes([p[4], p[5]]))).min(p.len());
        let mut nh = p[6];
        let mut off = 40;
        loop {
            match nh {
                0 | 43 | 60 => {
                    if off + 8 > len {
                        return Err(Nat64Drop::Xlate(DropReason::Malformed));
                    }
                    nh = p[off];
                    off += (usize::from(p[off + 1]) + 1) * 8;
                }
                44 => return Err(Nat64Drop::Fragment),
                _ => break,
            }
        }
        if off > len {
            return Err(Nat64Drop::Xlate(DropReason::Malformed));
        }
        Ok((off, nh))
    }

    // -------------------------------------------------------------- IPv6 → IPv4

    fn outbound(&mut self, buf: &mut PacketBuf, now: Instant) -> Result<Out, Nat64Drop> {
        let t = self.now_ms(now);
        let p = buf.as_slice();
        let (off, nh) = self.tuple6(p)?;
        let dst6 = Ipv6Addr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap_or_default());
        // Local delivery and hop-limit errors need no state: the translator answers.
        if dst6 == self.siit.config().own_ipv6 || p[7] <= 1 {
            return Ok(self.siit.xlate_v6_with(buf, now, None));
        }
        let end = (40 + usize::from(u16::from_be_bytes([p[4], p[5]]))).min(p.len());
        let l4 = &p[off..end];
        let src6 = Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap_or_default());
        if !self.pool6.contains(dst6) {
            return Err(Nat64Drop::Xlate(DropReason::UntranslatableDestination));
        }
        let remote =
            rfc6052::extract(&self.pool6, dst6).map_err(|_| Nat64Drop::Xlate(DropReason::UntranslatableDestination))?;
        let (hi, lo) = split6(src6);
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
        let key = SKey { hi, lo, remote: u32::from(remote), port, rport };
        let mut created = false;
        let (a4, p4) = match self.touch(proto, key, Side::V6, flags, t) {
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
                self.create(proto, key, st, t)?
            }
        };
        let over = Some((src6, Ipv4Addr::from(a4)));
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
                // RFC 6146 §3.8 hairpinning: a destination in the pool goes back in.
                if self.pool_addr(u32::from(remote)) {
                    return self.inbound(buf, now, true);
                }
                Ok(Out::Fwd(Side::V4))
            }
            other => {
                if created {
                    self.remove(proto, &key);
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
        let (hi, lo) = split6(idst);
        let b = *self.t[pi(proto).unwrap_or(2)].bib6.get(&B6 { hi, lo, port }).ok_or(Nat64Drop::NoBinding)?;
        match self.siit.xlate_v6_with(buf, now, Some((idst, Ipv4Addr::from(b.addr)))) {
            Out::Fwd(Side::V4) => {
                // Outer IPv4 20, ICMPv4 8, inner IPv4 20 (always rebuilt without options).
                let p = buf.as_mut_slice();
                let (at, ck) = match proto {
                    TCP => (50, Some((64, false))),
                    UDP => (50, Some((54, true))),
                    _ => (52, Some((50, false))),
                };
                rewrite(p, at, b.port, ck, Some(22));
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
        if !hairpin && (Ipv4Addr::from(dst) == self.siit.config().own_ipv4 || p[8] <= 1) {
            return Ok(self.siit.xlate_v4_with(buf, now, false, None));
        }
        if be16(p, 6) & 0x3fff != 0 {
            return Err(Nat64Drop::Fragment);
        }
        if !self.pool_addr(dst) {
            return Err(Nat64Drop::Xlate(DropReason::UntranslatableDestination));
        }
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
        let tab = &self.t[pi(proto).unwrap_or(2)];
        let b6 = *tab.bib4.get(&B4 { addr: dst, port }).ok_or(Nat64Drop::NoBinding)?;
        let key = SKey { hi: b6.hi, lo: b6.lo, remote: src, port: b6.port, rport };
        let mut created = false;
        if self.touch(proto, key, Side::V4, flags, t).is_none() {
            let tab = &self.t[pi(proto).unwrap_or(2)];
            let allowed = self.filtering == Filtering::EndpointIndependent
                || tab.adf.contains_key(&(B4 { addr: dst, port }, src));
            if proto == TCP {
                if flags & SYN == 0 {
                    return Err(Nat64Drop::NoSession);
                }
                // RFC 6146 §3.5.2.2 CLOSED + V4 SYN: under address-dependent filtering
                // the SYN would be held for TCP_INCOMING_SYN; this engine drops it.
                if !allowed {
                    return Err(Nat64Drop::IncomingSyn);
                }
            } else if !allowed {
                return Err(Nat64Drop::Filtered);
            }
            let st = if proto == TCP { TcpState::V4Init } else { TcpState::Open };
            self.create(proto, key, st, t)?;
            created = true;
        }
        let client = join6(b6.hi, b6.lo);
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
                Ok(Out::Fwd(Side::V6))
            }
            other => {
                if created {
                    self.remove(proto, &key);
                }
                Ok(other)
            }
        }
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
        let b6 = *self.t[pi(proto).unwrap_or(2)].bib4.get(&B4 { addr: isrc, port }).ok_or(Nat64Drop::NoBinding)?;
        let client = join6(b6.hi, b6.lo);
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
                self.counters.drop(r);
                Verdict::Drop(r)
            }
        }
    }
}

#[inline]
fn be16(p: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([p[o], p[o + 1]])
}
#[inline]
fn be32(p: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([p[o], p[o + 1], p[o + 2], p[o + 3]])
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
            if !(udp && hc == 0) {
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
        let s = self.siit.poll_transmit(buf)?;
        self.counters.forwarded += 1;
        Some(s)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let base = self.base?;
        self.heap.peek().map(|Reverse((d, _, _))| base + Duration::from_millis(u64::from(*d) * TICK_MS))
    }

    fn handle_timeout(&mut self, now: Instant) {
        let tick = (self.now_ms(now) / TICK_MS).min(u64::from(u32::MAX)) as u32;
        let ms = u64::from(tick) * TICK_MS;
        while let Some(&Reverse((d, proto, key))) = self.heap.peek() {
            if d > tick {
                break;
            }
            self.heap.pop();
            let Some(i) = pi(proto) else { continue };
            let Some(s) = self.t[i].sessions.get_mut(&key) else { continue };
            if s.queued != d {
                continue; // stale: a newer entry for this session is queued
            }
            if s.expires > tick {
                // Refreshed since it was queued: queue it again at its real expiry.
                s.queued = s.expires;
                self.heap.push(Reverse((s.expires, proto, key)));
                continue;
            }
            if proto == TCP && matches!(s.state, TcpState::Established | TcpState::V4FinRcv | TcpState::V6FinRcv) {
                // RFC 6146 §3.5.2.2: an idle established session is not deleted at once;
                // it becomes transitory (this engine sends no probe) and any packet
                // revives it.
                s.state = TcpState::Trans;
                let exp = Self::deadline(ms, self.timers.tcp_trans);
                s.expires = exp;
                s.queued = exp;
                self.heap.push(Reverse((exp, proto, key)));
                continue;
            }
            self.remove(proto, &key);
        }
    }

    fn counters(&self) -> &Counters<Nat64Drop> {
        &self.counters
    }
}
