//! The stateless translator engine (RFC 7915): the [`Siit`] engine and its [`Engine`]
//! implementation. The translation itself lives in the submodules, one per seam:
//!
//! * `addresses`: RFC 7915 §4.1/§5.1 address mapping (RFC 6052 pool6, RFC 7757 EAM, the
//!   stateful override), the forbidden and denylisted address checks, RFC 6791 pools;
//! * `v4_to_v6` / `v6_to_v4`: the general path of each direction (RFC 7915 §4, §5);
//! * `icmp`: ICMP errors the translator sends, and translated ICMP errors with their
//!   quoted packets (RFC 7915 §4.2-4.3, §5.2-5.3, RFC 4884);
//! * `fragments`: fragmenting a translation to fit the next hop (RFC 7915 §4.1, §5.1);
//! * `fastpath`: the common TCP/UDP case with precomputed constants.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Counters, Engine, Side, Verdict};
use sixgate_core::ratelimit::TokenBucket;

use crate::config::SiitConfig;
use crate::reason::SiitDrop;
use crate::Error;

use SiitDrop as R;

mod addresses;
mod fastpath;
mod fragments;
mod icmp;
mod reload;
mod v4_to_v6;
mod v6_to_v4;

pub(crate) use v6_to_v4::refused_after_fragment;

use fastpath::Fast;
use fragments::Pending;

/// What a translation step decided: a reply carries the reason of the refusal it
/// answers (`None` for an answer that refuses nothing, an echo reply), counted as answered.
pub(crate) enum Out {
    Fwd(Side),
    Reply(Side, Option<SiitDrop>),
    Drop(SiitDrop),
}

/// The TTL of the IPv4 packets the translator originates (its ICMPv4 errors and
/// echo replies; its ICMPv6 ones use `router::DEFAULT_HOP_LIMIT`): the IANA default, 64.
const OWN_TTL: u8 = sixgate_core::router::DEFAULT_IPV4_TTL;

/// The stateless IP/ICMP translator (RFC 7915).
///
/// See the [crate documentation](crate) for an example. Packets are translated in place;
/// the common TCP/UDP path neither allocates nor copies the payload.
#[derive(Debug)]
pub struct Siit {
    cfg: SiitConfig,
    counters: Counters<SiitDrop>,
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
    fn process_general(&mut self, buf: &mut PacketBuf, now: Instant) -> Verdict<SiitDrop> {
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
                match reason {
                    Some(r) => self.counters.answer(r),
                    None => self.counters.replied += 1,
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
}

impl Engine for Siit {
    type Reason = SiitDrop;

    #[inline]
    fn process(&mut self, buf: &mut PacketBuf, now: Instant) -> Verdict<SiitDrop> {
        self.pending.active = false;
        if let Some(side) = self.fast(buf) {
            self.counters.forwarded += 1;
            return Verdict::Forward(side);
        }
        self.process_general(buf, now)
    }

    fn poll_transmit(&mut self, buf: &mut PacketBuf) -> Option<Side> {
        self.next_fragment(buf)
    }

    fn counters(&self) -> &Counters<SiitDrop> {
        &self.counters
    }
}
