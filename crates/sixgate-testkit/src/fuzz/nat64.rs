//! Checks of the NAT64 fuzz targets, shared with their corpus replay tests
//! (`crates/sixgate-nat64/tests/fuzz_corpus.rs`, `fuzz_corpus_dns64.rs`): the stateless
//! translator here (`fuzz/fuzz_targets/siit_{4to6,6to4}.rs`), the DNS64 state machine in
//! [`dns64()`] and the stateful translator in [`stateful()`].
//!
//! # Input format
//!
//! Byte 0 is a mode; the rest is the packet, whose version nibble is forced to 4
//! ([`siit_4to6`]) or 6 ([`siit_6to4`]). The mode bits ask for repairs that let the fuzzer
//! get past the first checks without having to guess checksums:
//!
//! | bits | meaning |
//! |------|---------|
//! | 0    | set the IPv4 Total Length / IPv6 Payload Length to the real length |
//! | 1    | recompute the IPv4 header checksum (after the other repairs) |
//! | 2    | recompute the TCP/UDP/ICMP checksum of the outer packet |
//! | 3-5  | which of eight translator configurations to use ([`config`]) |
//! | 6    | process the packet a second time on the same engine (state: ids, rate limit) |
//!
//! Mode 0 is raw bytes; mode 7 gives a packet that is valid wherever the fuzzer did not
//! break its structure.
//!
//! # Properties checked
//!
//! Every packet that comes out ([`Verdict::Forward`], [`Verdict::Reply`] and every fragment
//! from [`Engine::poll_transmit`]):
//! - is of the family of its side, with a 20-byte IPv4 header or a 40-byte IPv6 header,
//!   a Total Length / Payload Length equal to its real length, and a valid IPv4 header
//!   checksum;
//! - if forwarded, has its TTL / hop limit one lower than the input's;
//! - if it is an ICMP error (generated or translated), is at most 576 bytes (ICMPv4,
//!   RFC 1812 §4.3.2.3) or 1280 bytes (ICMPv6, RFC 4443 §2.4(c)) and has a valid checksum;
//! - replies go back out of the side the input came from; fragments go out of the side of
//!   the verdict, tile the payload contiguously and fit the MTU;
//! - an error the translator generates about the input (not a hairpinned, translated one)
//!   quotes it byte for byte as it arrived, as much as fits.
//!
//! And for an unfragmented TCP, UDP or ICMP echo input forwarded as one unfragmented
//! packet, the output's transport checksum verifies if and only if the input's did.
//!
//! Checksums are computed here with a separate, naive RFC 1071 sum, not with
//! `sixgate_core::checksum`, which the translator uses.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
// Only the registry numbers: the checks read the header fields themselves (below).
use sixgate_core::wire::{icmpv4, icmpv6, proto};

use sixgate_nat64::{IcmpRateLimit, Siit, SiitConfig, TosPolicy};

mod dns64;
mod events;
mod stateful;

pub use dns64::{dns64, seeds_dns64};
pub use events::{seeds_stateful_events, stateful_events};
pub use stateful::{seeds_stateful, stateful};

/// Runs an IPv4 fuzz input through the translator and checks the outputs.
pub fn siit_4to6(data: &[u8]) {
    run(data, 4);
}

/// Runs an IPv6 fuzz input through the translator and checks the outputs.
pub fn siit_6to4(data: &[u8]) {
    run(data, 6);
}

/// The eight translator configurations the mode byte selects from.
pub fn config(i: u8) -> SiitConfig {
    let v4 = |s: &str| s.parse::<Ipv4Addr>().expect("literal");
    let v6 = |s: &str| s.parse::<Ipv6Addr>().expect("literal");
    let mut c = SiitConfig::new(v4("198.51.100.1"), v6("2001:db8::1"));
    let pool = |s: &str| Some(s.parse().expect("literal"));
    match i & 7 {
        0 => c.pool6 = pool("2001:db8:64::/96"),
        1 => c.pool6 = pool("64:ff9b::/96"),
        2 => {
            c.pool6 = pool("2001:db8:100::/40");
            c.amend_udp_checksum_zero = true;
        }
        3 => {
            // EAM with hairpinning (RFC 7757 §4).
            c.pool6 = pool("2001:db8:64::/96");
            c.add_eam("2001:db8:1::/120", "192.0.2.0/24").expect("literal");
            c.add_eam("2001:db8:2::5/128", "203.0.113.5/32").expect("literal");
        }
        4 => {
            c.add_eam("2001:db8:1::/112", "10.1.0.0/16").expect("literal");
            c.add_eam("2001:db8:3::/104", "100.0.0.0/8").expect("literal");
            // Suffixes of unequal size (RFC 7757 §3.2).
            c.add_eam("2001:db8:4::/72", "198.18.0.0/24").expect("literal");
            c.add_eam("2001:db8:5::/120", "198.19.0.0/25").expect("literal");
        }
        5 => {
            c.pool6 = pool("2001:db8:5::/64");
            c.ipv4_mtu = 576;
            c.ipv6_mtu = 1280;
            c.amend_udp_checksum_zero = true;
        }
        6 => {
            c.pool6 = pool("2001:db8::/32");
            c.ipv4_mtu = 1400;
            c.ipv6_mtu = 1400;
            c.rfc6791_v4 = Some("192.0.2.0/28".parse().expect("literal"));
            c.rfc6791_v6 = Some("2001:db8:ffff::/120".parse().expect("literal"));
            c.tos = TosPolicy::Force(0x2e);
            c.traffic_class = TosPolicy::Zero;
        }
        _ => {
            c.pool6 = pool("2001:db8:600::/56");
            c.ipv4_mtu = 9000;
            c.ipv6_mtu = 9000;
            c.lowest_ipv6_mtu = 1500;
            c.denylist4 = vec!["192.0.2.128/25".parse().expect("literal")];
            c.icmp_rate = IcmpRateLimit::new(0, 0);
            c.add_eam("2001:db8:1::/120", "192.0.2.0/24").expect("literal");
        }
    }
    c
}

/// The packet a fuzz input describes (see the module documentation), and its mode byte.
pub fn prepare(data: &[u8], version: u8) -> Option<(u8, Vec<u8>)> {
    let (&mode, rest) = data.split_first()?;
    let mut p = rest.to_vec();
    if p.is_empty() {
        p.push(0);
    }
    p[0] = (p[0] & 0x0f) | (version << 4);
    if mode & 1 != 0 {
        if version == 4 && p.len() >= 4 && p.len() <= 0xffff {
            let n = p.len() as u16;
            p[2..4].copy_from_slice(&n.to_be_bytes());
        } else if version == 6 && p.len() >= 40 && p.len() - 40 <= 0xffff {
            let n = (p.len() - 40) as u16;
            p[4..6].copy_from_slice(&n.to_be_bytes());
        }
    }
    if mode & 4 != 0 {
        fix_transport_checksum(&mut p);
    }
    if mode & 2 != 0 && version == 4 {
        fix_ipv4_header_checksum(&mut p);
    }
    Some((mode, p))
}

fn run(data: &[u8], version: u8) {
    let Some((mode, pkt)) = prepare(data, version) else { return };
    let cfg = config((mode >> 3) & 7);
    let mut siit = Siit::new(cfg.clone()).expect("the fuzz configurations are valid");
    let now = Instant::now();
    let rounds = if mode & 0x40 != 0 { 2 } else { 1 };
    for round in 0..rounds {
        let mut buf = PacketBuf::from_slice(&pkt);
        let v = siit.process(&mut buf, now + Duration::from_millis(round));
        let mut outs = vec![buf.to_vec()];
        while let Some(side) = siit.poll_transmit(&mut buf) {
            assert_eq!(Verdict::Forward(side), v, "poll_transmit side differs from the verdict");
            outs.push(buf.to_vec());
            assert!(outs.len() <= 8192, "endless poll_transmit");
        }
        check(&cfg, &pkt, v, &outs);
    }
}

/// Checks the outputs of one `process` + `poll_transmit` run (see the module docs).
pub fn check<R: std::fmt::Debug>(cfg: &SiitConfig, input: &[u8], v: Verdict<R>, outs: &[Vec<u8>]) {
    let in_side = if input[0] >> 4 == 4 { Side::V4 } else { Side::V6 };
    match v {
        Verdict::Drop(_) => assert_eq!(outs.len(), 1, "a dropped packet queued fragments"),
        Verdict::Reply(side) => {
            assert_eq!(side, in_side, "a reply must go back where the packet came from");
            assert_eq!(outs.len(), 1, "a reply queued fragments");
            let p = &outs[0];
            header_ok(p, side);
            let err = match side {
                Side::V4 => {
                    assert_eq!(p[9], proto::ICMP, "an IPv4 reply is ICMP");
                    p[20] != icmpv4::ECHO_REPLY
                }
                Side::V6 => {
                    assert_eq!(p[6], proto::ICMPV6, "an IPv6 reply is ICMPv6");
                    p[40] != icmpv6::ECHO_REPLY
                }
            };
            icmp_ok(p, side, err);
            // A hairpinned packet's error is translated (RFC 7757 §4), not generated: it
            // quotes the packet's IPv4 form translated back, so only tables without EAM
            // are checked on the IPv6 side.
            if err && (side == Side::V4 || cfg.eamt.is_empty()) {
                quote_ok(input, p, side);
            }
        }
        Verdict::Forward(side) => {
            let in_hop = if in_side == Side::V4 { input[8] } else { input[7] };
            for p in outs {
                header_ok(p, side);
                let hop = if side == Side::V4 { p[8] } else { p[7] };
                assert_eq!(hop, in_hop.wrapping_sub(1), "TTL/hop limit must drop by exactly one");
            }
            if outs.len() > 1 {
                fragments_ok(cfg, outs, side);
            } else if let (Some(u), Some(ui)) = (upper(&outs[0]), upper(input)) {
                if u.proto != ui.proto {
                    // ICMPv6 in IPv4 or ICMPv4 in IPv6: the protocol number is copied
                    // (RFC 7915 §4.1, §5.1) and means something else on the other side.
                } else if u.icmp_error {
                    if !u.fragment {
                        icmp_ok(&outs[0], side, true);
                    }
                } else if ui.checksummed && u.checksummed && !u.fragment && !ui.fragment {
                    assert_eq!(ui.valid, u.valid, "transport checksum validity changed (protocol {})", u.proto);
                }
            }
        }
    }
}

/// The 16-bit big-endian word at `o`. The checks read fields themselves, not through the
/// `sixgate_core` wire code the translator uses.
fn be16(p: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([p[o], p[o + 1]])
}

/// A naive RFC 1071 checksum over the concatenation of `chunks` (0 means it verifies).
fn naive(chunks: &[&[u8]]) -> u16 {
    let mut acc: u64 = 0;
    let mut odd: Option<u8> = None;
    for c in chunks {
        for &b in c.iter() {
            match odd.take() {
                Some(h) => acc += u64::from(u16::from_be_bytes([h, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(h) = odd {
        acc += u64::from(h) << 8;
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

fn pseudo(p: &[u8], proto: u8, ulen: usize) -> Vec<u8> {
    let mut ph = Vec::with_capacity(40);
    if p[0] >> 4 == 4 {
        ph.extend_from_slice(&p[12..20]);
        ph.extend_from_slice(&[0, proto]);
        ph.extend_from_slice(&(ulen as u16).to_be_bytes());
    } else {
        ph.extend_from_slice(&p[8..40]);
        ph.extend_from_slice(&(ulen as u32).to_be_bytes());
        ph.extend_from_slice(&[0, 0, 0, proto]);
    }
    ph
}

fn header_ok(p: &[u8], side: Side) {
    match side {
        Side::V4 => {
            assert!(p.len() >= 20, "IPv4 output shorter than its header");
            assert_eq!(p[0], 0x45, "IPv4 output: version 4, 20-byte header");
            assert_eq!(usize::from(be16(p, 2)), p.len(), "IPv4 Total Length");
            assert_eq!(naive(&[&p[..20]]), 0, "IPv4 header checksum");
        }
        Side::V6 => {
            assert!(p.len() >= 40, "IPv6 output shorter than its header");
            assert_eq!(p[0] >> 4, 6, "IPv6 output: version 6");
            assert_eq!(usize::from(be16(p, 4)) + 40, p.len(), "IPv6 Payload Length");
        }
    }
}

/// Checks an ICMP message's checksum, and its size if it is an error.
fn icmp_ok(p: &[u8], side: Side, error: bool) {
    match side {
        Side::V4 => {
            if error {
                assert!(p.len() <= 576, "ICMPv4 error of {} bytes", p.len());
            }
            // 0xffff: an all-zero message with a zero checksum (see `upper`), which the
            // translator's RFC 1624 update can produce for an all-zero echo reply.
            assert!(matches!(naive(&[&p[20..]]), 0 | 0xffff), "ICMPv4 checksum");
        }
        Side::V6 => {
            if error {
                assert!(p.len() <= 1280, "ICMPv6 error of {} bytes", p.len());
            }
            assert_eq!(naive(&[&pseudo(p, proto::ICMPV6, p.len() - 40), &p[40..]]), 0, "ICMPv6 checksum");
        }
    }
}

/// An error the translator generated quotes the packet as it arrived (RFC 1812
/// §4.3.2.3, RFC 4443 §3.2), up to its Total Length / Payload Length, as much as fits.
fn quote_ok(input: &[u8], p: &[u8], side: Side) {
    let (declared, hdr, limit) = match side {
        Side::V4 => (usize::from(be16(input, 2)), 28, 576),
        Side::V6 => (40 + usize::from(be16(input, 4)), 48, 1280),
    };
    let orig = &input[..declared.min(input.len())];
    let n = orig.len().min(limit - hdr);
    assert_eq!(p.len(), hdr + n, "a generated error quotes as much as fits");
    assert!(p[hdr..] == orig[..n], "a generated error quotes the packet as it arrived");
}

/// The upper layer of a packet as the checks see it.
struct Upper {
    proto: u16,
    /// The checksum covers the whole datagram here (TCP, UDP with a checksum, ICMP echo).
    checksummed: bool,
    valid: bool,
    fragment: bool,
    icmp_error: bool,
}

fn upper(p: &[u8]) -> Option<Upper> {
    let (number, off, fragment, first) = match p.first()? >> 4 {
        4 => {
            if p.len() < 20 {
                return None;
            }
            let ihl = usize::from(p[0] & 15) * 4;
            let total = usize::from(be16(p, 2));
            if ihl < 20 || total < ihl || total > p.len() {
                return None;
            }
            (p[9], ihl, be16(p, 6) & 0x3fff != 0, be16(p, 6) & 0x1fff == 0)
        }
        6 => {
            if p.len() < 40 || 40 + usize::from(be16(p, 4)) > p.len() {
                return None;
            }
            let (nh, off, frag, first) = walk6(p)?;
            (nh, off, frag, first)
        }
        _ => return None,
    };
    let end = if p[0] >> 4 == 4 { usize::from(be16(p, 2)) } else { 40 + usize::from(be16(p, 4)) };
    let l4 = p.get(off..end)?;
    let v6 = p[0] >> 4 == 6;
    // Protocol numbers as the checks compare them: 1 for ICMP in either family, and the
    // other family's ICMP number (58 in IPv4, 1 in IPv6) as 256 + number: not ICMP.
    let number = match (number, v6) {
        (proto::ICMPV6, false) | (proto::ICMP, true) => 256 + u16::from(number),
        (proto::ICMPV6, true) => u16::from(proto::ICMP),
        (x, _) => u16::from(x),
    };
    const TCP: u16 = proto::TCP as u16;
    const UDP: u16 = proto::UDP as u16;
    const ICMP: u16 = proto::ICMP as u16;
    let (checksummed, icmp_error) = match number {
        // A later fragment has no upper-layer header.
        _ if !first => (false, false),
        TCP => (l4.len() >= 20, false),
        UDP => (l4.len() >= 8 && be16(l4, 6) != 0, false),
        ICMP if l4.len() >= 8 => {
            let echo = if v6 {
                matches!(l4[0], icmpv6::ECHO_REQUEST | icmpv6::ECHO_REPLY)
            } else {
                matches!(l4[0], icmpv4::ECHO_REPLY | icmpv4::ECHO_REQUEST)
            };
            // Types 0-127 (RFC 4443 §2.1); the ICMPv4 errors (RFC 792) the translator knows.
            let err = if v6 {
                icmpv6::is_error(l4[0])
            } else {
                use icmpv4::*;
                matches!(l4[0], DEST_UNREACHABLE | SOURCE_QUENCH | REDIRECT | TIME_EXCEEDED | PARAM_PROBLEM)
            };
            (echo, err)
        }
        _ => (false, false),
    };
    // An all-zero ICMPv4 message with a zero checksum sums to the other one's-complement
    // zero (0x0000, not 0xffff): receivers refuse it, but incremental updates (RFC 1624)
    // treat the two zeros alike, so it may come out valid. Count it as valid here.
    let valid = match number {
        ICMP if !v6 => matches!(naive(&[l4]), 0 | 0xffff),
        ICMP => naive(&[&pseudo(p, proto::ICMPV6, l4.len()), l4]) == 0,
        TCP | UDP => naive(&[&pseudo(p, number as u8, l4.len()), l4]) == 0,
        _ => false,
    };
    Some(Upper { proto: number, checksummed, valid, fragment, icmp_error })
}

/// Walks the IPv6 extension headers the translator knows: (upper protocol, its offset,
/// whether a fragment header makes this a real fragment, whether the offset is zero).
fn walk6(p: &[u8]) -> Option<(u8, usize, bool, bool)> {
    let mut nh = p[6];
    let mut off = 40;
    let mut frag = false;
    let mut first = true;
    for _ in 0..64 {
        match nh {
            proto::HOP_BY_HOP | proto::ROUTING | proto::DST_OPTS => {
                let h = p.get(off..off + 2)?;
                nh = h[0];
                off += (usize::from(h[1]) + 1) * 8;
            }
            proto::FRAGMENT => {
                let h = p.get(off..off + 8)?;
                nh = h[0];
                frag |= be16(h, 2) & 0xfff9 != 0;
                first &= be16(h, 2) & 0xfff8 == 0;
                off += 8;
            }
            _ => return (off <= p.len()).then_some((nh, off, frag, first)),
        }
    }
    None
}

/// Fragments the translator made: all carry the fragment information of one datagram,
/// tile it without gaps, and fit the MTU.
fn fragments_ok(cfg: &SiitConfig, outs: &[Vec<u8>], side: Side) {
    let mut next: Option<usize> = None;
    for (i, p) in outs.iter().enumerate() {
        let last = i + 1 == outs.len();
        let (off, mf, data, limit) = match side {
            Side::V4 => {
                let ff = be16(p, 6);
                (usize::from(ff & 0x1fff) * 8, ff & 0x2000 != 0, p.len() - 20, usize::from(cfg.ipv4_mtu))
            }
            Side::V6 => {
                assert_eq!(p[6], proto::FRAGMENT, "IPv6 fragment without a fragment header");
                assert!(p.len() >= 48, "IPv6 fragment shorter than its headers");
                let fo = be16(p, 42);
                let limit = cfg.ipv6_mtu.min(cfg.lowest_ipv6_mtu);
                (usize::from(fo & 0xfff8), fo & 1 == 1, p.len() - 48, usize::from(limit))
            }
        };
        assert!(p.len() <= limit, "fragment of {} bytes over the MTU {limit}", p.len());
        if !last {
            assert!(mf, "a fragment before the last has no More Fragments flag");
            assert_eq!(data % 8, 0, "a fragment before the last carries a multiple of 8 bytes");
            assert!(data > 0, "empty fragment");
        }
        if let Some(n) = next {
            assert_eq!(off, n, "fragments do not tile the datagram");
        }
        next = Some(off + data);
    }
}

fn fix_ipv4_header_checksum(p: &mut [u8]) {
    let ihl = usize::from(p[0] & 15) * 4;
    if ihl < 20 || p.len() < ihl {
        return;
    }
    p[10] = 0;
    p[11] = 0;
    let c = naive(&[&p[..ihl]]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Recomputes the TCP/UDP/ICMP(v6) checksum of a packet whose structure allows it.
fn fix_transport_checksum(p: &mut [u8]) {
    let (number, off, end) = match p[0] >> 4 {
        4 => {
            if p.len() < 20 {
                return;
            }
            let ihl = usize::from(p[0] & 15) * 4;
            let total = usize::from(be16(p, 2)).min(p.len());
            if ihl < 20 || total < ihl {
                return;
            }
            (p[9], ihl, total)
        }
        _ => {
            if p.len() < 40 {
                return;
            }
            let Some((nh, off, _, _)) = walk6(p) else { return };
            (if nh == proto::ICMPV6 { proto::ICMP } else { nh }, off, (40 + usize::from(be16(p, 4))).min(p.len()))
        }
    };
    if off > end {
        return;
    }
    // The checksum offsets, read from RFC 9293 §3.1, RFC 768, RFC 792 / RFC 4443 §2.1.
    let at = match number {
        proto::TCP => 16,
        proto::UDP => 6,
        proto::ICMP => 2,
        _ => return,
    };
    if end - off < at + 2 {
        return;
    }
    p[off + at] = 0;
    p[off + at + 1] = 0;
    let v4icmp = number == proto::ICMP && p[0] >> 4 == 4;
    let ph = if v4icmp {
        Vec::new()
    } else {
        pseudo(p, if number == proto::ICMP { proto::ICMPV6 } else { number }, end - off)
    };
    let mut c = naive(&[&ph, &p[off..end]]);
    if number == proto::UDP && c == 0 {
        c = 0xffff;
    }
    p[off + at..off + at + 2].copy_from_slice(&c.to_be_bytes());
}

/// Seed inputs for `siit_4to6`: real packets (built with [`crate::packets`]) of every kind
/// the translator handles, each with a mode byte that repairs lengths and checksums, for
/// every configuration.
pub fn seeds_4to6() -> Vec<Vec<u8>> {
    use crate::packets::*;
    let mut out = Vec::new();
    for cfg in 0..8u8 {
        // Addresses each configuration translates: a global one (for the well-known prefix)
        // and one inside the EAM entries where there are some.
        let (a, b) = match cfg {
            4 => ("10.1.2.3", "100.64.0.9"),
            3 | 7 => ("192.0.2.10", "8.8.8.8"),
            _ => ("8.8.4.4", "9.9.9.9"),
        };
        let mut pk = vec![
            udp4(a, b, 53, b"hello"),
            udp4(a, b, 53, &[0x5a; 1400]),
            tcp4(a, b, 80, &[]),
            tcp4(a, b, 443, &[7; 600]),
            echo4(a, b, 1, 2, b"ping"),
            echo4(b, "198.51.100.1", 1, 2, b"to the translator"),
        ];
        // DF clear and big: fragmented to the lowest IPv6 MTU.
        let mut big = tcp4(a, b, 80, &[3; 1450]);
        big[6] = 0;
        fix_ipv4_checksum(&mut big);
        pk.push(big);
        // A first and a later fragment.
        let mut f = udp4(a, b, 53, &[1; 64]);
        f[6] = 0x20;
        fix_ipv4_checksum(&mut f);
        pk.push(f.clone());
        f[6] = 0x00;
        f[7] = 0x10;
        fix_ipv4_checksum(&mut f);
        pk.push(f);
        // Options: record route, and an unexpired loose source route.
        for opt in [[7u8, 7, 4, 0, 0, 0, 0, 1], [131, 7, 4, 1, 2, 3, 4, 0]] {
            let mut p = udp4(a, b, 53, b"opts");
            p.splice(20..20, opt);
            p[0] = 0x47;
            let n = p.len() as u16;
            p[2..4].copy_from_slice(&n.to_be_bytes());
            fix_ipv4_checksum(&mut p);
            pk.push(p);
        }
        // TTL 1: Time Exceeded.
        let mut t = udp4(a, b, 53, b"ttl");
        t[8] = 1;
        fix_ipv4_checksum(&mut t);
        pk.push(t);
        // ICMPv4 errors about a packet the IPv6 side sent, one of each kind.
        let inner = udp4(b, a, 53, b"inner packet");
        let inner_tcp = tcp4(b, a, 80, &[9; 40]);
        for (typ, code, rest) in [
            (3u8, 0u8, [0u8; 4]),
            (3, 1, [0; 4]),
            (3, 2, [0; 4]),
            (3, 3, [0; 4]),
            (3, 4, [0, 0, 5, 0xdc]),
            (3, 4, [0; 4]),
            (3, 9, [0; 4]),
            (3, 13, [0; 4]),
            (11, 0, [0; 4]),
            (11, 1, [0; 4]),
            (12, 0, [9, 0, 0, 0]),
            (12, 2, [16, 0, 0, 0]),
        ] {
            pk.push(icmp4("203.0.113.1", a, typ, code, rest, &inner));
            pk.push(icmp4("203.0.113.1", a, typ, code, rest, &inner_tcp[..28]));
        }
        // RFC 4884: length attribute 32 words, then an extension structure.
        let mut orig = inner.clone();
        orig.resize(128, 0);
        orig.extend_from_slice(&[0x20, 0, 0, 0, 0, 8, 1, 1, 0, 0, 0, 1]);
        pk.push(icmp4("203.0.113.1", a, 11, 0, [0, 32, 0, 0], &orig));
        // An error about an echo request.
        pk.push(icmp4("203.0.113.1", a, 3, 1, [0; 4], &echo4(b, a, 5, 6, b"x")));
        for p in pk {
            for fix in [7u8, 0] {
                let mut s = vec![fix | (cfg << 3)];
                s.extend_from_slice(&p);
                out.push(s);
            }
        }
    }
    out
}

/// Seed inputs for `siit_6to4`, like [`seeds_4to6`].
pub fn seeds_6to4() -> Vec<Vec<u8>> {
    use crate::packets::*;
    let mut out = Vec::new();
    for cfg in 0..8u8 {
        let c = config(cfg);
        let emb = |s: &str| -> String {
            let a: Ipv4Addr = s.parse().expect("literal");
            match (c.eamt.v4_to_v6(a), c.pool6.as_ref()) {
                (Some(x), _) => x.to_string(),
                (None, Some(p)) => sixgate_core::rfc6052::embed(p, a).to_string(),
                (None, None) => Ipv6Addr::UNSPECIFIED.to_string(),
            }
        };
        let (a, b) = match cfg {
            4 => (emb("10.1.2.3"), emb("100.64.0.9")),
            3 | 7 => (emb("192.0.2.10"), emb("8.8.8.8")),
            _ => (emb("8.8.4.4"), emb("9.9.9.9")),
        };
        let (a, b) = (a.as_str(), b.as_str());
        let mut pk = vec![
            udp6(a, b, 53, b"hello"),
            udp6(a, b, 53, &[0x5a; 1400]),
            tcp6(a, b, 80, &[]),
            tcp6(a, b, 443, &[7; 1300]),
            echo6(a, b, 1, 2, b"ping"),
            echo6(a, "2001:db8::1", 1, 2, b"to the translator"),
        ];
        if cfg == 3 {
            // Hairpin: to an EAM-mapped IPv4 address.
            let h = emb("203.0.113.5");
            pk.push(udp6(a, &h, 53, &[1; 1300]));
            pk.push(tcp6(a, &h, 53, b"hairpin"));
        }
        // Extension headers: hop-by-hop, destination options, routing (segments left 0
        // and 1), fragment (atomic, first, later), and one after the fragment header.
        let u = udp6(a, b, 53, b"with extension headers");
        for (nh, ext) in [
            (0u8, vec![17u8, 0, 1, 4, 0, 0, 0, 0]),
            (60, vec![17, 0, 1, 4, 0, 0, 0, 0]),
            (43, vec![17, 0, 0, 0, 0, 0, 0, 0]),
            (43, vec![17, 0, 0, 1, 0, 0, 0, 0]),
            (44, vec![17, 0, 0, 0, 0, 0, 0x12, 0x34]),
            (44, vec![17, 0, 0, 1, 0xab, 0xcd, 0x12, 0x34]),
            (44, vec![17, 0, 0, 0x81, 0xab, 0xcd, 0x12, 0x34]),
            (44, vec![60, 0, 0, 1, 0, 0, 0, 1, 17, 0, 1, 4, 0, 0, 0, 0]),
            (0, vec![60, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0]),
        ] {
            let mut p = u.clone();
            let n = p.len() - 40 + ext.len();
            p.splice(40..40, ext);
            p[6] = nh;
            p[4..6].copy_from_slice(&(n as u16).to_be_bytes());
            pk.push(p);
        }
        let mut t = udp6(a, b, 53, b"hop");
        t[7] = 1;
        pk.push(t);
        // ICMPv6 errors about a packet the IPv4 side sent.
        let inner = udp6(b, a, 53, b"inner packet");
        let inner_tcp = tcp6(b, a, 80, &[9; 40]);
        for (typ, code, rest) in [
            (1u8, 0u8, [0u8; 4]),
            (1, 1, [0; 4]),
            (1, 3, [0; 4]),
            (1, 4, [0; 4]),
            (2, 0, [0, 0, 5, 0]),
            (3, 0, [0; 4]),
            (3, 1, [0; 4]),
            (4, 0, [0, 0, 0, 7]),
            (4, 0, [0, 0, 0, 24]),
            (4, 1, [0, 0, 0, 6]),
        ] {
            pk.push(icmp6("2001:db8:ff::1", a, typ, code, rest, &inner));
            pk.push(icmp6("2001:db8:ff::1", a, typ, code, rest, &inner_tcp[..48]));
        }
        let mut orig = inner.clone();
        orig.resize(128, 0);
        orig.extend_from_slice(&[0x20, 0, 0, 0, 0, 8, 1, 1, 0, 0, 0, 1]);
        pk.push(icmp6("2001:db8:ff::1", a, 3, 0, [16, 0, 0, 0], &orig));
        pk.push(icmp6("2001:db8:ff::1", a, 1, 0, [0; 4], &echo6(b, a, 5, 6, b"x")));
        for p in pk {
            for fix in [7u8, 0] {
                let mut s = vec![fix | (cfg << 3)];
                s.extend_from_slice(&p);
                out.push(s);
            }
        }
    }
    out
}
