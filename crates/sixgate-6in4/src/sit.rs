//! The tunnel endpoint engine.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Instant;

use sixgate_core::buf::PacketBuf;
use sixgate_core::checksum::{finish, sum};
use sixgate_core::class::is_global_v4;
use sixgate_core::engine::{Counters, Engine, Side, Verdict};
use sixgate_core::icmp6;
use sixgate_core::ratelimit::TokenBucket;
use sixgate_core::rfc6052::sixtofour_extract;
use sixgate_core::router;
use sixgate_core::wire::ipv4::{self, MF, OFFSET_MASK};
use sixgate_core::wire::{be16, icmpv4, icmpv6, ipv6, proto, put16, v4at, v6at, Icmpv4Packet, Ipv4Packet, Ipv6Packet};

// `reconfigure`, in its own file (a child of this module, for the fields).
#[path = "reload.rs"]
mod reload;

use crate::config::{EcnMode, Mode, SitConfig, IPV6_MIN_MTU};
use crate::reason::SitDrop;
use crate::Error;

use SitDrop as R;

/// IP protocol number of IPv6-in-IPv4 (RFC 4213 §3.5).
pub const PROTO_IPV6: u8 = proto::IPV6;

enum Out {
    Fwd(Side),
    Reply(Side, SitDrop),
    Drop(SitDrop),
}

/// The 20-byte outer IPv4 header sum without the total length, identification and
/// checksum fields: added to those per packet, it gives the header checksum without
/// summing the header again.
fn header_sum(h: &[u8; 20]) -> u32 {
    sum(h)
}

/// Marks the cell of [`ECN_DECAP`] where the packet is dropped.
const ECN_DROP: u8 = 0xff;

/// RFC 6040 §4.2, Figure 4, indexed `[inner][outer]` by ECN codepoint (0 Not-ECT,
/// 1 ECT(1), 2 ECT(0), 3 CE): the inner ECN field after decapsulation, or [`ECN_DROP`].
const ECN_DECAP: [[u8; 4]; 4] = [
    // outer:  Not-ECT  ECT(1)  ECT(0)  CE
    [0, 0, 0, ECN_DROP], // inner Not-ECT: outer CE → drop
    [1, 1, 1, 3],        // inner ECT(1)
    [2, 1, 2, 3],        // inner ECT(0): outer ECT(1) → ECT(1)
    [3, 3, 3, 3],        // inner CE
];

/// RFC 6040 §4.2, Figure 4: the inner ECN field after decapsulation, or `None` where the
/// packet must be dropped (outer CE on a Not-ECT inner packet).
#[inline]
pub fn ecn_decap(inner: u8, outer: u8) -> Option<u8> {
    let e = ECN_DECAP[usize::from(inner & 3)][usize::from(outer & 3)];
    (e != ECN_DROP).then_some(e)
}

/// RFC 1191 §7 plateau table (descending).
const PLATEAUS: [u16; 10] = [32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

/// One learned path MTU.
#[derive(Debug, Clone, Copy)]
struct PathMtu {
    /// Path MTU in IPv4 terms (outer packet size).
    mtu: u16,
    expires: Instant,
}

/// Outer fragments still to be sent for the packet last processed.
#[derive(Debug, Clone)]
struct Pending {
    active: bool,
    hdr: [u8; 20],
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
}

/// A 6in4 tunnel endpoint (RFC 4213), static or 6to4 (RFC 3056 with the RFC 3964 checks).
///
/// [`Side::V6`] is the inner side (IPv6 packets to encapsulate, decapsulated packets out);
/// [`Side::V4`] is the outer side (protocol-41 packets and ICMPv4 errors in, encapsulated
/// packets out). Encapsulation prepends the outer header into the buffer's headroom and
/// decapsulation strips it: the inner packet is never copied.
#[derive(Debug)]
pub struct SitTunnel {
    cfg: SitConfig,
    /// Sum of the constant words of the outer header (see [`header_sum`]).
    hsum_df: u32,
    hsum_nodf: u32,
    /// The local IPv4 address as the decapsulation fast path loads it (wire bytes, native
    /// order), and the static remote's (`None` in 6to4 mode).
    local_word: u32,
    remote_word: Option<u32>,
    tunnel_mtu: u16,
    counters: Counters<SitDrop>,
    next_id: u16,
    bucket: TokenBucket,
    pmtu: HashMap<Ipv4Addr, PathMtu>,
    /// Changes whenever `pmtu` does (see [`SitTunnel::path_mtu_version`]).
    pmtu_version: u64,
    next_expiry: Option<Instant>,
    pending: Pending,
    scratch: Vec<u8>,
    suppressed: u64,
}

impl SitTunnel {
    /// An endpoint with a validated configuration.
    pub fn new(cfg: SitConfig) -> Result<Self, Error> {
        cfg.validate()?;
        let mut h = [0u8; 20];
        h[0] = 0x45;
        h[8] = cfg.ttl;
        h[9] = PROTO_IPV6;
        h[12..16].copy_from_slice(&cfg.local.octets());
        let hsum_nodf = header_sum(&h);
        h[6] = 0x40;
        let hsum_df = header_sum(&h);
        let local_word = u32::from_ne_bytes(cfg.local.octets());
        let remote_word = match cfg.mode {
            Mode::Static { remote } => Some(u32::from_ne_bytes(remote.octets())),
            Mode::SixToFour { .. } => None,
        };
        Ok(Self {
            tunnel_mtu: cfg.tunnel_mtu(),
            cfg,
            hsum_df,
            hsum_nodf,
            local_word,
            remote_word,
            counters: Counters::new(),
            next_id: 0,
            bucket: TokenBucket::default(),
            pmtu: HashMap::new(),
            pmtu_version: 0,
            next_expiry: None,
            pending: Pending { active: false, hdr: [0; 20], data: Vec::new(), pos: 0, chunk: 0 },
            scratch: Vec::with_capacity(1280),
            suppressed: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SitConfig {
        &self.cfg
    }

    /// Packet Too Big messages the endpoint wanted to send but did not (rate limit, or
    /// packets that must not be answered, RFC 4443 §2.4(e)).
    pub fn icmp_suppressed(&self) -> u64 {
        self.suppressed
    }

    /// The path MTU (outer, IPv4 terms) learned for `dst` and still valid at `now`.
    pub fn path_mtu(&self, dst: Ipv4Addr, now: Instant) -> Option<u16> {
        self.pmtu.get(&dst).filter(|e| e.expires > now).map(|e| e.mtu)
    }

    /// The learned path MTUs still valid at `now`: (destination, MTU in outer IPv4 terms,
    /// as [`Self::path_mtu`] answers), in no particular order. A kernel fast path that
    /// encapsulates beside the engine mirrors this table, on change
    /// ([`Self::path_mtu_version`]) and as entries expire.
    ///
    /// ```
    /// # use std::time::Instant;
    /// # use sixgate_6in4::{SitConfig, SitTunnel};
    /// let cfg = SitConfig::new_static("192.0.2.1".parse().unwrap(), "198.51.100.1".parse().unwrap(), "2001:db8::1".parse().unwrap());
    /// let t = SitTunnel::new(cfg).unwrap();
    /// assert_eq!(t.path_mtus(Instant::now()).count(), 0);
    /// ```
    pub fn path_mtus(&self, now: Instant) -> impl Iterator<Item = (Ipv4Addr, u16)> + '_ {
        self.pmtu.iter().filter(move |(_, e)| e.expires > now).map(|(d, e)| (*d, e.mtu))
    }

    /// A number that changes whenever the path-MTU table does: an entry learned, lowered
    /// or refreshed, entries expired ([`Engine::handle_timeout`]) or let go on
    /// [`SitTunnel::reconfigure`]. Compare it with the last one seen to mirror
    /// [`Self::path_mtus`] only on change (entries also stop being valid at their expiry,
    /// before the timeout removes them).
    pub fn path_mtu_version(&self) -> u64 {
        self.pmtu_version
    }

    /// Number of destinations with a learned path MTU (expired ones included until
    /// [`Engine::handle_timeout`] removes them).
    pub fn path_mtu_entries(&self) -> usize {
        self.pmtu.len()
    }

    /// The largest inner packet that may go to `dst` now, and whether the outer packet
    /// carries DF (RFC 4213 §3.2).
    #[inline]
    fn inner_limit(&self, dst: Ipv4Addr, now: Instant) -> (usize, bool) {
        let tmtu = usize::from(self.tunnel_mtu);
        if self.pmtu.is_empty() {
            return (tmtu, true);
        }
        match self.path_mtu(dst, now) {
            None => (tmtu, true),
            Some(p) => {
                let inner = usize::from(p).saturating_sub(20);
                if inner < usize::from(IPV6_MIN_MTU) {
                    // RFC 4213 §3.2: below 1280, offer 1280 anyway and let the outer
                    // packet be fragmented (DF clear).
                    (usize::from(IPV6_MIN_MTU).min(tmtu), false)
                } else {
                    (inner.min(tmtu), true)
                }
            }
        }
    }

    // ---------------------------------------------------------------- encapsulation

    /// RFC 4213 §3.5: an IPv6 packet from the inner side becomes an IPv4 protocol-41
    /// packet to the tunnel's (or the 6to4 destination's) IPv4 address.
    fn encap(&mut self, buf: &mut PacketBuf, now: Instant) -> Out {
        let p = buf.as_slice();
        if p.len() < 40 {
            return Out::Drop(R::Malformed);
        }
        let len = 40 + usize::from(be16(p, 4));
        if len > p.len() {
            return Out::Drop(R::Malformed);
        }
        buf.truncate(len);
        let p = buf.as_slice();
        let tc = ((p[0] & 0x0f) << 4) | (p[1] >> 4);
        let dst4 = match self.cfg.mode {
            Mode::Static { remote } => remote,
            Mode::SixToFour { relay } => {
                let dst6 = v6at(p, 24);
                match sixtofour_extract(dst6) {
                    // RFC 3964 §5.1: never tunnel to a non-global IPv4 address.
                    Some(a) if !is_global_v4(a) => return Out::Drop(R::NonGlobal6to4),
                    Some(a) => a,
                    None => match relay {
                        Some(r) => r,
                        None => return Out::Drop(R::NoRelay),
                    },
                }
            }
        };
        let (limit, df) = self.inner_limit(dst4, now);
        if len > limit {
            // RFC 4213 §3.2: larger than the tunnel (or path) MTU → Packet Too Big.
            return self.packet_too_big(buf, now, limit as u32, R::TooBig);
        }
        let tos = if self.cfg.copy_dscp { tc & 0xfc } else { 0 }
            | match self.cfg.ecn {
                // RFC 6040 §4.1 normal mode: copy the ECN field.
                EcnMode::Normal => tc & 3,
                // RFC 6040 §4.1 compatibility mode: Not-ECT.
                EcnMode::Compatibility => 0,
            };
        let total = len + 20;
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        let Ok(h) = buf.prepend(20) else { return Out::Drop(R::NoRoom) };
        // The header checksum from the precomputed sum of the constant fields.
        let d = dst4.octets();
        let mut acc = if df { self.hsum_df } else { self.hsum_nodf };
        acc += u32::from(tos) + total as u32 + u32::from(id);
        acc += u32::from(u16::from_be_bytes([d[0], d[1]])) + u32::from(u16::from_be_bytes([d[2], d[3]]));
        h[0] = 0x45;
        h[1] = tos;
        put16(h, 2, total as u16);
        put16(h, 4, id);
        h[6] = if df { 0x40 } else { 0 };
        h[7] = 0;
        h[8] = self.cfg.ttl;
        h[9] = PROTO_IPV6;
        put16(h, 10, finish(acc));
        h[12..16].copy_from_slice(&self.cfg.local.octets());
        h[16..20].copy_from_slice(&d);
        if !df {
            let path = self.path_mtu(dst4, now).map_or(usize::from(self.cfg.link_mtu), usize::from);
            if total > path {
                self.split_v4(buf, path);
            }
        }
        Out::Fwd(Side::V4)
    }

    /// Splits the outer IPv4 packet in `buf` (20-byte header, DF clear) into fragments of
    /// at most `mtu` bytes: the first stays in `buf`, the rest wait for
    /// [`Engine::poll_transmit`].
    fn split_v4(&mut self, buf: &mut PacketBuf, mtu: usize) {
        let chunk = (mtu.max(68) - ipv4::HEADER_LEN) / 8 * 8;
        let p = buf.as_slice();
        let pd = &mut self.pending;
        pd.hdr.copy_from_slice(&p[..ipv4::HEADER_LEN]);
        pd.data.clear();
        pd.data.extend_from_slice(&p[ipv4::HEADER_LEN + chunk..]);
        pd.pos = chunk;
        pd.chunk = chunk;
        pd.active = true;
        buf.truncate(ipv4::HEADER_LEN + chunk);
        let mut h = Ipv4Packet::new_unchecked(buf.as_mut_slice());
        h.set_total_len((ipv4::HEADER_LEN + chunk) as u16);
        h.set_frag_field(MF);
        h.fill_checksum();
    }

    /// RFC 4443 §3.2 Packet Too Big to the source of the IPv6 packet in `buf`, from the
    /// endpoint's address, quoting as much of the packet as fits in 1280 bytes.
    fn packet_too_big(&mut self, buf: &mut PacketBuf, now: Instant, mtu: u32, reason: SitDrop) -> Out {
        let p = buf.as_slice();
        // Both callers hold at least the 40-byte IPv6 header here.
        let ip = Ipv6Packet::new_unchecked(p);
        let src = ip.src_addr();
        // RFC 4443 §2.4(e): never about an ICMPv6 error, never to a source that is not a
        // unicast address (a multicast destination is allowed for Packet Too Big).
        let about_error =
            ip.next_header() == proto::ICMPV6 && p.get(ipv6::HEADER_LEN).is_some_and(|&t| icmpv6::is_error(t));
        let bad_src = !router::icmp6_error_allowed_to(src);
        if about_error || bad_src || !self.bucket.take(now, self.cfg.icmp_rate.per_second, self.cfg.icmp_rate.burst) {
            self.suppressed += 1;
            return Out::Drop(reason);
        }
        let mut s = std::mem::take(&mut self.scratch);
        // RFC 4443 §3.2: type 2, code 0, the MTU of the next-hop link; quote trimmed to
        // 1280 bytes (§2.4(c)).
        let (typ, code) = (icmpv6::PACKET_TOO_BIG, icmpv6::code::PACKET_TOO_BIG);
        icmp6::build_error(&mut s, self.cfg.address, src, router::DEFAULT_HOP_LIMIT, typ, code, mtu.to_be_bytes(), p);
        let r = buf.set(&s);
        self.scratch = s;
        match r {
            Ok(()) => Out::Reply(Side::V6, reason),
            Err(_) => Out::Drop(R::NoRoom),
        }
    }

    // ---------------------------------------------------------------- decapsulation

    /// RFC 4213 §3.6: an IPv4 packet from the outer side: protocol 41 is checked and
    /// decapsulated; an ICMPv4 Fragmentation Needed about one of our packets lowers the
    /// path MTU.
    #[inline]
    fn decap(&mut self, buf: &mut PacketBuf, now: Instant) -> Out {
        if self.decap_fast(buf) {
            return Out::Fwd(Side::V6);
        }
        self.decap_checked(buf, now)
    }

    /// The common case in a few loads and compares: a 20-byte outer header (IHL 5) that
    /// passes every check, an inner packet that passes every check. Returns whether the
    /// packet was decapsulated; on `false` nothing was changed and [`Self::decap_checked`]
    /// decides (and names the drop reason). Accepts only what `decap_checked` accepts, with
    /// the same result.
    #[inline(always)]
    fn decap_fast(&self, buf: &mut PacketBuf) -> bool {
        let p = buf.as_slice();
        let Some(h) = p.first_chunk::<20>() else { return false };
        let w = |i: usize| u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let total = usize::from(be16(h, 2));
        // IHL 5, and room for an inner IPv6 header.
        if h[0] != 0x45 || total > p.len() || total < 20 + 40 {
            return false;
        }
        // RFC 1812 §5.2.2: verify the header checksum. The header is valid when its
        // one's-complement sum is 0xffff, i.e. the plain sum of its 16-bit words is a
        // non-zero multiple of 0xffff (the header is not all zero: byte 0 is 0x45). A
        // 32-bit word is ≡ the sum of its two 16-bit halves mod 0xffff, and reading the
        // words in native order only multiplies the sum by 256, invertible mod 0xffff
        // (RFC 1071 §2(B)): five 32-bit loads, one remainder.
        let acc = u64::from(w(0)) + u64::from(w(4)) + u64::from(w(8)) + u64::from(w(12)) + u64::from(w(16));
        if acc % 0xffff != 0 {
            return false;
        }
        // Not a fragment (MF clear, offset 0), protocol 41, to us (RFC 4213 §3.5).
        if h[6] & 0x3f != 0 || h[7] != 0 || h[9] != PROTO_IPV6 || w(16) != self.local_word {
            return false;
        }
        // RFC 4213 §3.6: a configured tunnel accepts only its remote endpoint.
        if self.remote_word.is_some_and(|r| r != w(12)) {
            return false;
        }
        let Some(inner) = p[20..total].first_chunk::<40>() else { return false };
        let ilen = 40 + usize::from(be16(inner, 4));
        if inner[0] >> 4 != 6 || ilen > total - 20 {
            return false;
        }
        // RFC 4213 §3.6 / RFC 3964 §5.1: no multicast, IPv4-compatible (::, ::1 included) or
        // IPv4-mapped inner source.
        let hi =
            u64::from_be_bytes([inner[8], inner[9], inner[10], inner[11], inner[12], inner[13], inner[14], inner[15]]);
        let mid = u32::from_be_bytes([inner[16], inner[17], inner[18], inner[19]]);
        if hi >> 56 == 0xff || (hi == 0 && (mid == 0 || mid == 0xffff)) {
            return false;
        }
        if self.remote_word.is_none() && !self.sixtofour_accepts(v4at(h, 12), inner) {
            return false;
        }
        // RFC 6040 §4.2.
        let ie = (inner[1] >> 4) & 3;
        let ne = ECN_DECAP[usize::from(ie)][usize::from(h[1] & 3)];
        if ne == ECN_DROP {
            return false;
        }
        let (start, _) = buf.bounds();
        if buf.set_bounds(start + 20, start + 20 + ilen).is_err() {
            return false;
        }
        if ne != ie {
            if let Some(b) = buf.as_mut_slice().get_mut(1) {
                *b = (*b & 0xcf) | (ne << 4);
            }
        }
        true
    }

    /// RFC 3964 §5.1 (6to4 mode) for the fast path: whether the checks of
    /// [`Self::decap_checked`] pass for a packet from `src4` with inner header `inner`.
    #[inline(never)]
    fn sixtofour_accepts(&self, src4: Ipv4Addr, inner: &[u8; 40]) -> bool {
        let Mode::SixToFour { relay } = self.cfg.mode else { return false };
        let from_relay = relay == Some(src4);
        let src_ok = match sixtofour_extract(v6at(inner, 8)) {
            Some(a) => is_global_v4(a) && (a == src4 || from_relay),
            None => from_relay,
        };
        src_ok && sixtofour_extract(v6at(inner, 24)) == Some(self.cfg.local)
    }

    /// Every decapsulation check in RFC order, naming the reason of a drop; ICMPv4 too.
    #[cold]
    #[inline(never)]
    fn decap_checked(&mut self, buf: &mut PacketBuf, now: Instant) -> Out {
        let ihl = match router::accept_ipv4(buf) {
            Ok(ihl) => ihl,
            Err(router::Ipv4Refusal::Malformed) => return Out::Drop(R::Malformed),
            Err(router::Ipv4Refusal::HeaderChecksum) => return Out::Drop(R::Ipv4HeaderChecksum),
        };
        // Still a checked view: the buffer now ends at Total Length.
        let ip = Ipv4Packet::new_unchecked(buf.as_slice());
        if ip.frag_field() & (MF | OFFSET_MASK) != 0 {
            return Out::Drop(R::OuterFragment);
        }
        let src4 = ip.src_addr();
        let dst4 = ip.dst_addr();
        let protocol = ip.protocol();
        if dst4 != self.cfg.local {
            return Out::Drop(R::WrongOuterDestination);
        }
        if protocol == proto::ICMP {
            return self.icmp4(buf, now, ihl);
        }
        if protocol != PROTO_IPV6 {
            return Out::Drop(R::NotProtocol41);
        }
        // RFC 4213 §3.6: a configured tunnel accepts only its remote endpoint.
        if let Mode::Static { remote } = self.cfg.mode {
            if src4 != remote {
                return Out::Drop(R::WrongOuterSource);
            }
        }
        let outer_ecn = ip.tos() & 3;
        // The inner header whole, its Payload Length within the outer packet, version 6.
        let Ok(inner) = Ipv6Packet::new_checked(ip.payload()) else { return Out::Drop(R::InnerMalformed) };
        if inner.version() != 6 {
            return Out::Drop(R::InnerMalformed);
        }
        let ilen = ipv6::HEADER_LEN + usize::from(inner.payload_len());
        let src6 = inner.src_addr();
        let s = src6.octets();
        // RFC 4213 §3.6 / RFC 3964 §5.1: sources that never come through a tunnel.
        let v4compat = s[..12] == [0; 12];
        let v4mapped = s[..10] == [0; 10] && s[10] == 0xff && s[11] == 0xff;
        if src6.is_multicast() || v4compat || v4mapped {
            // `v4compat` covers :: and ::1 too.
            return Out::Drop(R::ForbiddenInnerSource);
        }
        if let Mode::SixToFour { relay } = self.cfg.mode {
            let from_relay = relay == Some(src4);
            match sixtofour_extract(src6) {
                // RFC 3964 §5.1: 6to4 addresses embed global IPv4 addresses only.
                Some(a) if !is_global_v4(a) => return Out::Drop(R::NonGlobal6to4),
                // RFC 3964 §5.1: the 6to4 source must match the IPv4 source, unless the
                // packet comes from the relay.
                Some(a) if a != src4 && !from_relay => return Out::Drop(R::Spoofed6to4),
                Some(_) => {}
                // A native source comes only through the relay.
                None if !from_relay => return Out::Drop(R::NotFromRelay),
                None => {}
            }
            if sixtofour_extract(inner.dst_addr()) != Some(self.cfg.local) {
                return Out::Drop(R::InnerDestinationNotOurs);
            }
        }
        // RFC 6040 §4.2: combine the outer ECN field into the inner one.
        let itc = inner.traffic_class();
        let ie = itc & 3;
        let Some(ne) = ecn_decap(ie, outer_ecn) else { return Out::Drop(R::EcnCeOnNotEct) };
        if buf.strip_front(ihl).is_err() {
            return Out::Drop(R::Malformed);
        }
        buf.truncate(ilen);
        if ne != ie {
            Ipv6Packet::new_unchecked(buf.as_mut_slice()).set_traffic_class((itc & 0xfc) | ne);
        }
        Out::Fwd(Side::V6)
    }

    /// RFC 4213 §3.2 / §3.4: an ICMPv4 message. Only a Fragmentation Needed that quotes
    /// one of our outer packets is used: it lowers the path MTU to that destination and,
    /// when the quote holds the inner IPv6 header and the inner packet no longer fits,
    /// is relayed to the inner source as a Packet Too Big.
    fn icmp4(&mut self, buf: &mut PacketBuf, now: Instant, ihl: usize) -> Out {
        let p = buf.as_slice();
        let m = p.get(ihl..).unwrap_or(&[]);
        // A Fragmentation Needed quoting at least a whole fixed IPv4 header.
        let Ok(msg) = Icmpv4Packet::new_checked(m) else { return Out::Drop(R::IcmpNotForUs) };
        let frag_needed =
            msg.msg_type() == icmpv4::DEST_UNREACHABLE && msg.msg_code() == icmpv4::code::FRAGMENTATION_NEEDED;
        let q = msg.payload();
        if q.len() < ipv4::HEADER_LEN || !frag_needed {
            return Out::Drop(R::IcmpNotForUs);
        }
        let quoted = Ipv4Packet::new_unchecked(q);
        let qihl = quoted.header_len();
        if quoted.version() != 4
            || qihl < ipv4::HEADER_LEN
            || q.len() < qihl
            || quoted.protocol() != PROTO_IPV6
            || quoted.src_addr() != self.cfg.local
        {
            return Out::Drop(R::IcmpNotForUs);
        }
        let qdst = quoted.dst_addr();
        let ours = match self.cfg.mode {
            Mode::Static { remote } => qdst == remote,
            Mode::SixToFour { relay } => relay == Some(qdst) || is_global_v4(qdst),
        };
        if !ours {
            return Out::Drop(R::IcmpNotForUs);
        }
        let qtotal = quoted.total_len();
        let advertised = msg.next_hop_mtu();
        // RFC 1191 §5: an old router reports 0; take the plateau below the quoted length.
        let mtu = if advertised == 0 || advertised >= qtotal {
            PLATEAUS.iter().copied().find(|&x| x < qtotal).unwrap_or(68)
        } else {
            advertised
        }
        .max(68);
        if mtu >= self.cfg.link_mtu {
            return Out::Drop(R::PathMtuLearned);
        }
        self.learn(qdst, mtu, now);
        // Relay a Packet Too Big when the quote holds the inner header and the inner
        // packet is too big for the new limit.
        let inner = &q[qihl..];
        let inner_len = usize::from(qtotal).saturating_sub(qihl);
        let (limit, _) = self.inner_limit(qdst, now);
        if inner.len() >= ipv6::HEADER_LEN && Ipv6Packet::new_unchecked(inner).version() == 6 && inner_len > limit {
            let (start, _) = buf.bounds();
            let s = start + ihl + icmpv4::HEADER_LEN + qihl;
            let e = start + ihl + m.len();
            if buf.set_bounds(s, e).is_err() {
                return Out::Drop(R::PathMtuLearned);
            }
            return self.packet_too_big(buf, now, limit as u32, R::PathMtuLearned);
        }
        Out::Drop(R::PathMtuLearned)
    }

    fn learn(&mut self, dst: Ipv4Addr, mtu: u16, now: Instant) {
        let expires = now + self.cfg.pmtu_expiry;
        if !self.pmtu.contains_key(&dst) && self.pmtu.len() >= self.cfg.pmtu_entries {
            // Full: forget the entry that would expire first.
            if let Some(k) = self.pmtu.iter().min_by_key(|(_, e)| e.expires).map(|(k, _)| *k) {
                self.pmtu.remove(&k);
            }
        }
        let e = self.pmtu.entry(dst).or_insert(PathMtu { mtu, expires });
        if e.expires <= now {
            e.mtu = mtu;
        } else {
            e.mtu = e.mtu.min(mtu);
        }
        e.expires = expires;
        self.next_expiry = self.pmtu.values().map(|e| e.expires).min();
        self.pmtu_version = self.pmtu_version.wrapping_add(1);
    }
}

impl Engine for SitTunnel {
    type Reason = SitDrop;

    fn gauges(&self, out: &mut Vec<sixgate_core::engine::Gauge>) {
        out.push(sixgate_core::engine::Gauge::new(
            "path_mtu_entries",
            "Destinations with a learned path MTU (RFC 4213 3.2)",
            self.path_mtu_entries() as u64,
        ));
    }

    fn process(&mut self, buf: &mut PacketBuf, now: Instant) -> Verdict<SitDrop> {
        self.pending.active = false;
        let out = match buf.first().map(|b| b >> 4) {
            Some(6) => self.encap(buf, now),
            Some(4) => self.decap(buf, now),
            _ => Out::Drop(R::Malformed),
        };
        match out {
            Out::Fwd(side) => {
                self.counters.forwarded += 1;
                Verdict::Forward(side)
            }
            Out::Reply(side, r) => {
                self.counters.answer(r);
                Verdict::Reply(side)
            }
            Out::Drop(r) => {
                self.counters.drop(r);
                Verdict::Drop(r)
            }
        }
    }

    fn poll_transmit(&mut self, buf: &mut PacketBuf) -> Option<Side> {
        let pd = &mut self.pending;
        if !pd.active {
            return None;
        }
        let remaining = pd.data.len() - (pd.pos - pd.chunk);
        let n = remaining.min(pd.chunk);
        let last = n == remaining;
        let from = pd.pos - pd.chunk;
        buf.clear();
        let Ok(out) = buf.extend_back(ipv4::HEADER_LEN + n) else {
            pd.active = false;
            return None;
        };
        out[..ipv4::HEADER_LEN].copy_from_slice(&pd.hdr);
        out[ipv4::HEADER_LEN..].copy_from_slice(&pd.data[from..from + n]);
        let mut h = Ipv4Packet::new_unchecked(out);
        h.set_total_len((ipv4::HEADER_LEN + n) as u16);
        h.set_frag_field((if last { 0 } else { MF }) | (pd.pos / 8) as u16);
        h.fill_checksum();
        pd.pos += n;
        if last {
            pd.active = false;
        }
        // The packet was counted as forwarded with its first fragment.
        self.counters.extra_fragments += 1;
        Some(Side::V4)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_expiry
    }

    fn handle_timeout(&mut self, now: Instant) {
        let before = self.pmtu.len();
        self.pmtu.retain(|_, e| e.expires > now);
        if self.pmtu.len() != before {
            self.pmtu_version = self.pmtu_version.wrapping_add(1);
        }
        self.next_expiry = self.pmtu.values().map(|e| e.expires).min();
    }

    fn counters(&self) -> &Counters<SitDrop> {
        &self.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sixgate_testkit::fuzz::sit::seeds;
    sixgate_testkit::sit_configs!(crate);
    use proptest::prelude::*;
    use sixgate_core::checksum::checksum;

    /// Decapsulates `pkt` through the fast path and through the checked path of an endpoint
    /// in configuration `cfg` (see [`config`]): (fast accepted, fast result, checked verdict
    /// was forward, checked result).
    fn both(cfg: u8, pkt: &[u8]) -> (bool, Vec<u8>, bool, Vec<u8>) {
        let mut e = SitTunnel::new(config(cfg)).unwrap();
        let (mut b1, mut b2) = (PacketBuf::from_slice(pkt), PacketBuf::from_slice(pkt));
        let fast = e.decap_fast(&mut b1);
        let checked = matches!(e.decap_checked(&mut b2, Instant::now()), Out::Fwd(Side::V6));
        (fast, b1.to_vec(), checked, b2.to_vec())
    }

    proptest! {
        /// The fast path accepts exactly the IHL-5 packets the checked path forwards, with
        /// the same bytes out; it changes nothing when it declines.
        #[test]
        fn fast_path_agrees_with_checked_path(
            seed in any::<prop::sample::Index>(), cfg in 0u8..4,
            flips in prop::collection::vec((0usize..80, any::<u8>()), 0..3),
            dst_ours in any::<bool>(), fix_len in any::<bool>(), fix_sum in any::<bool>(),
        ) {
            let seeds = seeds();
            let s = &seeds[seed.index(seeds.len())];
            let mut p = s[1..].to_vec();
            for (at, x) in flips {
                if let Some(b) = p.get_mut(at) {
                    *b ^= x;
                }
            }
            if p.len() >= 20 {
                p[0] = 0x40 | (p[0] & 0x0f);
                if dst_ours {
                    p[16..20].copy_from_slice(&config(cfg).local.octets());
                }
                if fix_len {
                    let l = p.len() as u16;
                    p[2..4].copy_from_slice(&l.to_be_bytes());
                }
                if fix_sum {
                    p[0] = 0x45;
                    p[10..12].fill(0);
                    let c = checksum(&p[..20]);
                    p[10..12].copy_from_slice(&c.to_be_bytes());
                }
            }
            let (fast, out_fast, checked, out_checked) = both(cfg, &p);
            if fast {
                prop_assert!(checked, "the fast path forwarded what the checked path drops");
                prop_assert_eq!(out_fast, out_checked);
            } else {
                prop_assert_eq!(&out_fast[..], &p[..], "a declining fast path changed the packet");
                prop_assert!(!checked || p[0] != 0x45, "an IHL-5 packet missed the fast path");
            }
        }
    }

    #[test]
    fn the_path_mtu_table_is_listed_and_its_version_moves_on_change() {
        use sixgate_testkit::packets::sit::{frag_needed, ipv4_header, udp6};
        let cfg = config(0);
        let far = sixgate_testkit::fuzz::sit::REMOTE;
        let mut e = SitTunnel::new(cfg.clone()).unwrap();
        let now = Instant::now();
        let v0 = e.path_mtu_version();
        let mut q = ipv4_header(cfg.local, far, proto::IPV6, 1400, 0, true).to_vec();
        q.extend_from_slice(&udp6("2001:db8:a::2", "2001:db8:b::2", &[0; 1300])[..40]);
        let fne = frag_needed("203.0.113.9", &cfg.local.to_string(), 1300, &q, q.len());
        let _ = e.process(&mut PacketBuf::from_slice(&fne), now);
        assert_eq!(e.path_mtus(now).collect::<Vec<_>>(), vec![(far, 1300)]);
        let v1 = e.path_mtu_version();
        assert_ne!(v1, v0, "learning changes the version");
        // A packet that teaches nothing leaves it.
        let _ = e.process(&mut PacketBuf::from_slice(&udp6("2001:db8:a::2", "2001:db8:b::2", b"x")), now);
        assert_eq!(e.path_mtu_version(), v1);
        // Expired: no longer listed; the timeout removes it and the version moves.
        let later = now + cfg.pmtu_expiry;
        assert_eq!(e.path_mtus(later).count(), 0);
        e.handle_timeout(later);
        assert_eq!((e.path_mtu_entries(), e.path_mtu_version() != v1), (0, true));
        // A reload moves it too (entries may have been let go).
        let v2 = e.path_mtu_version();
        e.reconfigure(cfg).unwrap();
        assert_ne!(e.path_mtu_version(), v2);
    }

    #[test]
    fn fast_path_takes_the_benchmark_packet_and_6to4() {
        let inner = sixgate_testkit::packets::sit::udp6("2001:db8:b::2", "2001:db8:a::2", b"x");
        let p = sixgate_testkit::packets::sit::encap("198.51.100.1", "192.0.2.1", 2, &inner);
        assert_eq!(both(0, &p), (true, inner.clone(), true, inner));
        // 6to4: from the peer whose prefix is the source, to our prefix.
        let inner = sixgate_testkit::packets::sit::udp6("2002:d00:1::1", "2002:b00:1::1", b"x");
        let p = sixgate_testkit::packets::sit::encap("13.0.0.1", "11.0.0.1", 0, &inner);
        assert_eq!(both(2, &p), (true, inner.clone(), true, inner));
        // Spoofed: declined by both.
        let inner = sixgate_testkit::packets::sit::udp6("2002:d00:1::1", "2002:b00:1::1", b"x");
        let p = sixgate_testkit::packets::sit::encap("13.0.0.2", "11.0.0.1", 0, &inner);
        assert!(matches!(both(2, &p), (false, _, false, _)));
    }
}
