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
use sixgate_core::checksum::{self, finish, sum};
use sixgate_core::engine::{Counters, Engine, Side, Verdict};
use sixgate_core::ratelimit::TokenBucket;
use sixgate_core::wire::put16;

use crate::config::SiitConfig;
use crate::reason::DropReason;
use crate::Error;

use DropReason as R;

mod addresses;
mod fastpath;
mod fragments;
mod icmp;
mod v4_to_v6;
mod v6_to_v4;

pub(crate) use v6_to_v4::refused_after_fragment;

use fastpath::Fast;
use fragments::Pending;

/// What a translation step decided (the reason of a reply is counted too).
pub(crate) enum Out {
    Fwd(Side),
    Reply(Side, Option<DropReason>),
    Drop(DropReason),
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
        self.next_fragment(buf)
    }

    fn counters(&self) -> &Counters<DropReason> {
        &self.counters
    }
}
