//! The stateful translator's configuration: pool4 ranges, filtering, timers, limits,
//! validation, and the slices of the pool that shards own.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ipnet::Ipv4Net;
use sixgate_core::class::is_forbidden_v4;
use sixgate_core::rfc6052::Pool6;

pub use super::blocks::PortBlocks;
pub use super::deterministic::Deterministic;
use crate::config::SiitConfig;
use crate::ConfigError;

/// How pool4 ports are handed to IPv6 subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Allocation {
    /// Port by port for each BIB entry, anywhere in the pool (RFC 6146 §3.5.1.1): the
    /// most out of the pool, a log line per BIB entry.
    #[default]
    Dynamic,
    /// In blocks of ports per subscriber ([`PortBlocks`]): a log line per block.
    Blocks(PortBlocks),
    /// A fixed address and port range per subscriber (RFC 7422, [`Deterministic`]): no
    /// log at all. Needs one shard (queue).
    Deterministic(Deterministic),
}

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
pub struct Nat64Config {
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
    /// Sessions per IPv6 source address (per subscriber prefix under port blocks and the
    /// deterministic mapping, [`Nat64Config::allocation`]).
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
    /// How pool4 ports are handed out: dynamically (the default), in port blocks per
    /// subscriber, or deterministically (RFC 7422).
    pub allocation: Allocation,
    /// Which BIB and session events the engine records for the log
    /// ([`super::EventLevel::Off`] by default; drained with [`super::Nat64::poll_event`]).
    pub events: super::EventLevel,
}

impl Nat64Config {
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
            allocation: Allocation::Dynamic,
            events: super::EventLevel::Off,
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
        self.allocation.validate(&self.pool4)?;
        Ok(())
    }

    /// The configuration of gateway `inst` (`k/n`) of several that serve one pool6 side by
    /// side: pool4's addresses (all its entries, in order) cut into `n` contiguous parts,
    /// this one keeping part `k` (with each entry's ports), as prefixes, so that ordinary
    /// IPv4 routes to its part bring each instance its own return traffic. The same
    /// arithmetic as the workers' port slices ([`Nat64Config::shard`]), over addresses.
    /// Fails when pool4 has fewer addresses than instances, and in deterministic mode
    /// (give each instance its own `subscribers` prefix and pool4 instead).
    pub fn instance(&self, inst: Instance) -> Result<Self, ConfigError> {
        // RFC 7422 §2: the mapping is computed over the whole pool4 and subscriber prefix;
        // cutting pool4 would move every subscriber's range.
        if inst.n > 1 && matches!(self.allocation, Allocation::Deterministic(_)) {
            return Err(ConfigError::DeterministicInstance { k: inst.k, n: inst.n });
        }
        let total: u64 = self.pool4.iter().map(|r| 1u64 << (32 - r.prefix.prefix_len())).sum();
        let (k, n) = (inst.k as usize - 1, inst.n as usize);
        if total < u64::from(inst.n) {
            return Err(ConfigError::InstanceTooFewAddresses { k: inst.k, n: inst.n, addresses: total });
        }
        let (lo, hi) = span_slice(total as usize, k, n).ok_or(ConfigError::BadInstance { text: inst.to_string() })?;
        let mut c = self.clone();
        c.pool4.clear();
        let mut at = 0usize;
        for r in &self.pool4 {
            let size = 1usize << (32 - r.prefix.prefix_len());
            let (a, b) = (lo.max(at), hi.min(at + size));
            if a < b {
                let base = u32::from(r.prefix.network());
                for p in cidrs(base + (a - at) as u32, base + (b - at) as u32 - 1) {
                    c.pool4.push(Pool4Range::new(p, r.first, r.last));
                }
            }
            at += size;
        }
        Ok(c)
    }

    /// The configuration of worker `k` of `n`: the same pool addresses with every port
    /// range cut into `n` contiguous slices, worker `k` keeping slice `k`. IPv4 packets
    /// are steered with [`Nat64Config::shard_of_v4`].
    pub fn shard(&self, k: usize, n: usize) -> Self {
        let mut c = self.clone();
        let n = n.max(1);
        c.pool4 = self
            .pool4
            .iter()
            .filter_map(|r| {
                let (a, b) = slice(r.first, r.last, k, n)?;
                // Port blocks: each shard keeps the whole blocks of its slice.
                let (a, b) = match self.allocation {
                    Allocation::Blocks(pb) if n > 1 => whole_blocks(r.first, a, b, pb.size)?,
                    _ => (a, b),
                };
                Some(Pool4Range { prefix: r.prefix, first: a, last: b })
            })
            .collect();
        c
    }

    /// Which of `n` workers (made with [`Nat64Config::shard`]) owns IPv4 transport
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

/// The whole blocks of `size` ports (counted from `first`) inside `a..=b`.
fn whole_blocks(first: u16, a: u16, b: u16, size: u16) -> Option<(u16, u16)> {
    let size = u32::from(size.max(1));
    let lo = u32::from(first) + (u32::from(a - first)).div_ceil(size) * size;
    let hi = u32::from(first) + (u32::from(b - first) + 1) / size * size;
    (hi > lo).then(|| (lo as u16, (hi - 1) as u16))
}

fn slice(first: u16, last: u16, k: usize, n: usize) -> Option<(u16, u16)> {
    let (a, b) = span_slice(usize::from(last - first) + 1, k, n)?;
    Some(((first as usize + a) as u16, (first as usize + b - 1) as u16))
}

/// Slice `k` of `n` of `0..span`: `span·k/n .. span·(k+1)/n` (none when empty or `k ≥ n`).
/// The one cut of pool4: ports between workers, addresses between instances.
fn span_slice(span: usize, k: usize, n: usize) -> Option<(usize, usize)> {
    let a = span * k / n;
    let b = span * (k + 1) / n;
    (k < n && b > a).then_some((a, b))
}

/// The fewest prefixes that cover the addresses `a..=b` exactly.
fn cidrs(mut a: u32, b: u32) -> Vec<Ipv4Net> {
    let mut out = Vec::new();
    loop {
        // The largest aligned block at `a` that stays within `b`.
        let mut len = 32 - a.trailing_zeros().min(32);
        while len < 32 && u64::from(a) + (1u64 << (32 - len)) - 1 > u64::from(b) {
            len += 1;
        }
        out.push(Ipv4Net::new(Ipv4Addr::from(a), len as u8).expect("length at most 32"));
        let next = u64::from(a) + (1u64 << (32 - len));
        if next > u64::from(b) {
            return out;
        }
        a = next as u32;
    }
}

/// Which of several gateways this one is: `k` of `n` (`"k/n"`, 1 ≤ k ≤ n), for
/// [`Nat64Config::instance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instance {
    /// This instance (from 1).
    pub k: u32,
    /// Instances in all.
    pub n: u32,
}

impl std::str::FromStr for Instance {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::BadInstance { text: s.to_owned() };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (u32, u32) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if k == 0 || k > n {
            return Err(bad());
        }
        Ok(Self { k, n })
    }
}

impl std::fmt::Display for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}
