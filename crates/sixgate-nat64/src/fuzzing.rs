//! Checks shared by the fuzz targets (`fuzz/fuzz_targets/siit_{4to6,6to4}.rs`) and their
//! corpus-replay test (`tests/fuzz_corpus.rs`). Not part of the stable API.
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
use sixgate_core::wire::be16;

use crate::{IcmpRateLimit, Siit, SiitConfig, TosPolicy};

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
            c.icmp_rate = IcmpRateLimit { per_second: 0, burst: 0 };
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
                    assert_eq!(p[9], 1, "an IPv4 reply is ICMP");
                    p[20] != 0
                }
                Side::V6 => {
                    assert_eq!(p[6], 58, "an IPv6 reply is ICMPv6");
                    p[40] != 129
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
            assert_eq!(naive(&[&pseudo(p, 58, p.len() - 40), &p[40..]]), 0, "ICMPv6 checksum");
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
    let (proto, off, fragment, first) = match p.first()? >> 4 {
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
    let proto = match (proto, v6) {
        (58, false) | (1, true) => 256 + u16::from(proto),
        (58, true) => 1,
        (x, _) => u16::from(x),
    };
    let (checksummed, icmp_error) = match proto {
        // A later fragment has no upper-layer header.
        _ if !first => (false, false),
        6 => (l4.len() >= 20, false),
        17 => (l4.len() >= 8 && be16(l4, 6) != 0, false),
        1 if l4.len() >= 8 => {
            let echo = if v6 { matches!(l4[0], 128 | 129) } else { matches!(l4[0], 0 | 8) };
            let err = if v6 { l4[0] < 128 } else { matches!(l4[0], 3 | 4 | 5 | 11 | 12) };
            (echo, err)
        }
        _ => (false, false),
    };
    // An all-zero ICMPv4 message with a zero checksum sums to the other one's-complement
    // zero (0x0000, not 0xffff): receivers refuse it, but incremental updates (RFC 1624)
    // treat the two zeros alike, so it may come out valid. Count it as valid here.
    let valid = match proto {
        1 if !v6 => matches!(naive(&[l4]), 0 | 0xffff),
        1 => naive(&[&pseudo(p, 58, l4.len()), l4]) == 0,
        6 | 17 => naive(&[&pseudo(p, proto as u8, l4.len()), l4]) == 0,
        _ => false,
    };
    Some(Upper { proto, checksummed, valid, fragment, icmp_error })
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
            0 | 43 | 60 => {
                let h = p.get(off..off + 2)?;
                nh = h[0];
                off += (usize::from(h[1]) + 1) * 8;
            }
            44 => {
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
                assert_eq!(p[6], 44, "IPv6 fragment without a fragment header");
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
    let (proto, off, end) = match p[0] >> 4 {
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
            (if nh == 58 { 1 } else { nh }, off, (40 + usize::from(be16(p, 4))).min(p.len()))
        }
    };
    if off > end {
        return;
    }
    let at = match proto {
        6 => 16,
        17 => 6,
        1 => 2,
        _ => return,
    };
    if end - off < at + 2 {
        return;
    }
    p[off + at] = 0;
    p[off + at + 1] = 0;
    let v4icmp = proto == 1 && p[0] >> 4 == 4;
    let ph = if v4icmp { Vec::new() } else { pseudo(p, if proto == 1 { 58 } else { proto }, end - off) };
    let mut c = naive(&[&ph, &p[off..end]]);
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    p[off + at..off + at + 2].copy_from_slice(&c.to_be_bytes());
}

/// Seed inputs for `siit_4to6`: real packets (built with [`crate::testpkt`]) of every kind
/// the translator handles, each with a mode byte that repairs lengths and checksums, for
/// every configuration.
pub fn seeds_4to6() -> Vec<Vec<u8>> {
    use crate::testpkt::*;
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
    use crate::testpkt::*;
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

/// Fuzz target `dns64` (`fuzz/fuzz_targets/dns64.rs`): a client query and up to three
/// upstream answers through [`crate::dns64::Dns64`], plus the same bytes through the PREF64
/// decoder.
///
/// # Input format
///
/// Byte 0 is a mode: bit 0 TCP (else UDP), bit 1 the network-specific prefix
/// `2001:db8:64::/96` (else `64:ff9b::/96`), bit 2 *repair* the upstream answers (each is
/// parsed as a DNS message and given the ID and question of the pending query, so the fuzzer
/// reaches the synthesis paths without guessing IDs). Then a two-byte length and the client
/// query, then upstream answers, each behind a two-byte length (a missing one is a timeout).
///
/// # Properties checked
///
/// Every answer sent to the client is at least a DNS header with QR set and the client's
/// ID; over UDP it fits the client's buffer ([`crate::dns64::MAX_UDP_PAYLOAD`] at most); a
/// query that is a response or shorter than a header is never answered; no step panics.
/// A PREF64 option that decodes re-encodes to the same option.
#[doc(hidden)]
pub fn dns64(data: &[u8]) {
    use crate::dns64::{Action, Dns64, Dns64Config, Transport, MAX_UDP_PAYLOAD};

    if let Ok(p) = crate::pref64::Pref64::decode(data) {
        assert_eq!(crate::pref64::Pref64::decode(&p.encode()), Ok(p));
    }
    let Some((&mode, rest)) = data.split_first() else { return };
    let transport = if mode & 1 != 0 { Transport::Tcp } else { Transport::Udp };
    let prefix = if mode & 2 != 0 { "2001:db8:64::/96" } else { "64:ff9b::/96" };
    let repair = mode & 4 != 0;
    let mut chunks = Chunks(rest);
    let Some(query) = chunks.next() else { return };
    let d = Dns64::new(Dns64Config::new(prefix.parse().expect("valid prefix"))).expect("valid config");
    let now = Instant::now();
    let check_reply = |r: &[u8]| {
        assert!(r.len() >= 12, "answer shorter than a header: {r:?}");
        assert!(r[2] & 0x80 != 0, "answer without QR");
        assert_eq!(r[..2], query[..2], "answer with another ID");
        if transport == Transport::Udp {
            assert!(r.len() <= MAX_UDP_PAYLOAD, "UDP answer of {} bytes", r.len());
        }
    };
    let mut action = d.handle_query(query, transport, now);
    if query.len() < 12 || query[2] & 0x80 != 0 {
        assert!(matches!(action, Action::Drop), "answered a non-query");
        return;
    }
    for _ in 0..4 {
        match action {
            Action::Drop => return,
            Action::Reply(r) => return check_reply(&r),
            Action::Ask(p) => {
                assert!(p.query().len() >= 12);
                let Some(up) = chunks.next() else {
                    return check_reply(&d.handle_timeout(p));
                };
                let up = if repair { repair_answer(p.query(), up) } else { up.to_vec() };
                action = d.handle_upstream(p, &up, now);
            }
        }
    }
    if let Action::Ask(p) = action {
        check_reply(&d.handle_timeout(p));
    }
}

/// Length-prefixed chunks.
struct Chunks<'a>(&'a [u8]);

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (len, rest) = self.0.split_first_chunk::<2>()?;
        let n = usize::from(u16::from_be_bytes(*len)).min(rest.len());
        let (chunk, rest) = rest.split_at(n);
        self.0 = rest;
        Some(chunk)
    }
}

/// `answer` parsed as a DNS message and made the response to `query` (its ID and question).
fn repair_answer(query: &[u8], answer: &[u8]) -> Vec<u8> {
    use hickory_proto::op::{Message, MessageType};
    let (Ok(q), Ok(mut a)) = (Message::from_vec(query), Message::from_vec(answer)) else {
        return answer.to_vec();
    };
    a.metadata.id = q.metadata.id;
    a.metadata.message_type = MessageType::Response;
    a.queries = q.queries;
    a.to_vec().unwrap_or_else(|_| answer.to_vec())
}

/// Seeds for the `dns64` target: the exchanges of the unit tests, in the input format of
/// [`dns64`].
#[doc(hidden)]
pub fn seeds_dns64() -> Vec<Vec<u8>> {
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR, SOA};
    use hickory_proto::rr::{Name, RData, Record, RecordType};

    let name = |s: &str| Name::from_ascii(s).expect("valid name");
    let query = |qname: &str, qt: RecordType, edns: bool| {
        let mut m = Message::new(0x1234, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(name(qname), qt));
        if edns {
            let mut e = Edns::new();
            e.set_max_payload(1232);
            m.set_edns(e);
        }
        m
    };
    let answer = |q: &Message, rcode: ResponseCode, answers: Vec<Record>, soa: bool| {
        let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
        m.metadata.response_code = rcode;
        m.queries = q.queries.clone();
        m.insert_answers(answers);
        if soa {
            let s = SOA::new(name("ns.example."), name("h.example."), 1, 2, 3, 4, 300);
            m.add_authority(Record::from_rdata(name("example."), 3600, RData::SOA(s)));
        }
        m.to_vec().expect("encodes")
    };
    let frame = |mode: u8, parts: &[Vec<u8>]| {
        let mut v = vec![mode];
        for p in parts {
            v.extend_from_slice(&(p.len() as u16).to_be_bytes());
            v.extend_from_slice(p);
        }
        v
    };
    let a = |n: &str, ip: [u8; 4]| Record::from_rdata(name(n), 600, RData::A(A(Ipv4Addr::from(ip))));
    let mut out = Vec::new();
    for mode in [0u8, 1, 2, 4, 6, 7] {
        let q = query("a.example.", RecordType::AAAA, mode & 1 == 0);
        let q_a = query("a.example.", RecordType::A, true);
        out.push(frame(
            mode,
            &[
                q.to_vec().expect("encodes"),
                answer(&q, ResponseCode::NoError, vec![], true),
                answer(
                    &q_a,
                    ResponseCode::NoError,
                    vec![a("a.example.", [8, 8, 4, 4]), a("a.example.", [10, 0, 0, 1])],
                    false,
                ),
            ],
        ));
        let t = query("t.example.", RecordType::A, true);
        out.push(frame(
            mode,
            &[
                q.to_vec().expect("encodes"),
                answer(
                    &q,
                    ResponseCode::NoError,
                    vec![Record::from_rdata(name("a.example."), 60, RData::CNAME(CNAME(name("t.example."))))],
                    true,
                ),
                answer(&t, ResponseCode::NoError, vec![a("t.example.", [9, 9, 9, 9])], false),
            ],
        ));
        let mapped =
            Record::from_rdata(name("a.example."), 60, RData::AAAA(AAAA("::ffff:1.2.3.4".parse().expect("addr"))));
        out.push(frame(mode, &[q.to_vec().expect("encodes"), answer(&q, ResponseCode::NoError, vec![mapped], false)]));
        out.push(frame(mode, &[q.to_vec().expect("encodes"), answer(&q, ResponseCode::NXDomain, vec![], true)]));
        out.push(frame(mode, &[q.to_vec().expect("encodes")]));
        let ip4 = query("ipv4only.arpa.", RecordType::AAAA, false);
        out.push(frame(mode, &[ip4.to_vec().expect("encodes")]));
        let pname = if mode & 2 != 0 {
            "4.0.4.0.8.0.8.0.0.0.0.0.0.0.0.0.0.0.0.0.4.6.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
        } else {
            "4.0.4.0.8.0.8.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.0.0.0.0.ip6.arpa."
        };
        let p = query(pname, RecordType::PTR, true);
        let p4 = query("4.4.8.8.in-addr.arpa.", RecordType::PTR, true);
        let ptr = Record::from_rdata(name("4.4.8.8.in-addr.arpa."), 60, RData::PTR(PTR(name("a.example."))));
        out.push(frame(mode, &[p.to_vec().expect("encodes"), answer(&p4, ResponseCode::NoError, vec![ptr], false)]));
        let mx = query("a.example.", RecordType::MX, false);
        out.push(frame(mode, &[mx.to_vec().expect("encodes"), answer(&mx, ResponseCode::NoError, vec![], true)]));
    }
    out.push(vec![0, 0, 3, 1, 2, 3]);
    out
}

/// Fuzz check of the stateful NAT64 (`fuzz/fuzz_targets/stateful.rs`): a sequence of
/// packets from both sides and time steps through one [`crate::Nat64`].
///
/// Byte 0 configures (bit 0 endpoint-independent filtering, bit 1 a small pool of 2
/// addresses × 12 ports, bit 2 small session limits). Then records, by the low two bits
/// of a tag byte `t`:
/// - 0: time passes, `b << (t >> 2 & 15)` milliseconds for the next byte `b`; timers run
///   the way a driver runs them (at each [`Engine::poll_timeout`] deadline);
/// - 1: a valid IPv6 packet from one of 4 clients to one of 3 servers (5 bytes: client,
///   server, protocol, ports, TCP flags), or (by the protocol byte's top bits) its first or
///   second fragment, split after 8 bytes of payload;
/// - 2: a valid IPv4 packet from a server to a pool transport address (5 bytes), or (by
///   the last byte's top bits) its first or second fragment;
/// - 3: raw bytes (length byte, then the bytes; bit 2 of `t` picks the family, bit 3
///   repairs the length fields and IPv4 header checksum); with bit 4, instead, an ICMP
///   error about the last packet the engine forwarded, sent back from where it went.
///
/// Checked: no panic; the tables' invariants ([`crate::Nat64::check_invariants`]) after
/// every step; outputs are of their side's family; a forwarded packet made from a valid
/// input has valid checksums; after timers ran, the next deadline is in the future and
/// the Port Unreachable errors for held SYNs and the probes of idle TCP sessions are well
/// formed.
#[doc(hidden)]
pub fn stateful(data: &[u8]) {
    use crate::stateful::{Filtering, Nat64, Pool4Range, StatefulConfig};
    use crate::testpkt;
    use sixgate_core::rfc6052::Pool6;

    let Some((&c0, mut rest)) = data.split_first() else { return };
    let Ok(pool6) = Pool6::new("64:ff9b:1::/96".parse().expect("literal")) else { return };
    let pool4 = if c0 & 2 != 0 {
        vec![Pool4Range::new("198.51.100.0/31".parse().expect("literal"), 1000, 1011)]
    } else {
        vec![Pool4Range::new("198.51.100.0/32".parse().expect("literal"), 1024, 65535)]
    };
    let mut cfg = StatefulConfig::new(
        pool6,
        pool4,
        "192.0.2.1".parse().expect("literal"),
        "2001:db8:ffff::1".parse().expect("literal"),
    );
    if c0 & 1 != 0 {
        cfg.filtering = Filtering::EndpointIndependent;
    }
    if c0 & 4 != 0 {
        cfg.max_sessions = 6;
        cfg.max_sessions_per_source = 3;
    }
    // With bit 3 of the first byte, the tables are cut into two shards and each packet
    // goes in through the worker that bit 7 of its step byte names.
    let mut eng = if c0 & 8 != 0 {
        let Ok(s) = crate::Nat64Shards::new(cfg, 2) else { return };
        let h = s.clone().into_handles();
        Eng::Shards(s, h)
    } else {
        let Ok(e) = Nat64::new(cfg) else { return };
        Eng::One(Box::new(e))
    };
    let t0 = Instant::now();
    let mut now = t0;
    let mut last: Option<(Side, Vec<u8>)> = None;
    let servers4 = ["203.0.113.1", "203.0.113.2", "198.51.100.0"];
    let servers6 = ["64:ff9b:1::cb00:7101", "64:ff9b:1::cb00:7102", "64:ff9b:1::c633:6400"];
    let flags = [0x02u8, 0x12, 0x10, 0x11, 0x04, 0x01, 0x18, 0x00];
    let take = |rest: &mut &[u8], n: usize| -> Option<Vec<u8>> {
        if rest.len() < n {
            return None;
        }
        let (a, b) = rest.split_at(n);
        *rest = b;
        Some(a.to_vec())
    };
    while let Some((&t, r)) = rest.split_first() {
        rest = r;
        let (pkt, valid) = match t & 3 {
            0 => {
                let Some(b) = take(&mut rest, 1) else { break };
                now += Duration::from_millis(u64::from(b[0]) << ((t >> 2) & 15));
                for w in 0..eng.workers() {
                    let e = eng.get(w);
                    let mut guard = 0;
                    while let Some(d) = e.poll_timeout() {
                        if d > now || guard > 100_000 {
                            break;
                        }
                        e.handle_timeout(d);
                        guard += 1;
                    }
                    e.handle_timeout(now);
                    assert!(e.poll_timeout().is_none_or(|d| d > now), "a deadline left in the past");
                    // Port Unreachable errors for held SYNs whose time ran out (IPv4), probes
                    // of idle established TCP sessions (IPv6).
                    let mut b = PacketBuf::new();
                    while let Some(side) = e.poll_transmit(&mut b) {
                        let o = b.as_slice();
                        if side == Side::V6 {
                            assert!(o.len() == 60 && o[0] >> 4 == 6 && o[6] == 6, "probe: IPv6 TCP, no data");
                            assert!(
                                o[44..52].iter().all(|&x| x == 0) && o[53] == 0x10,
                                "probe: SEQ 0, ACK 0, only ACK"
                            );
                            stateful_sums_ok(o);
                            continue;
                        }
                        assert!(
                            o.len() >= 48 && o[0] == 0x45 && o[9] == 1 && o[20] == 3 && o[21] == 3,
                            "held-SYN error"
                        );
                        assert_eq!(sixgate_core::checksum::checksum(&o[..20]), 0, "held-SYN error header checksum");
                        assert_eq!(sixgate_core::checksum::checksum(&o[20..]), 0, "held-SYN error ICMP checksum");
                    }
                }
                if let Err(m) = eng.check() {
                    panic!("{m}");
                }
                continue;
            }
            1 => {
                let Some(b) = take(&mut rest, 5) else { break };
                let c = format!("2001:db8:9::{}", b[0] & 3);
                let s = servers6[usize::from(b[1]) % 3];
                let (sp, dp) = (1000 + u16::from(b[3] & 15), 1 + u16::from(b[3] >> 4));
                let p = match b[2] % 3 {
                    0 => testpkt::tcp6_flags(&c, s, sp, dp, flags[usize::from(b[4] & 7)]),
                    1 => testpkt::udp6_ports(&c, s, sp, dp, &b[4..]),
                    _ => testpkt::echo6(&c, s, sp, u16::from(b[4]), b"x"),
                };
                match b[2] >> 6 {
                    w @ (1 | 2) => (fragment6(&p, u32::from(b[0] >> 2), w == 1), false),
                    _ => (p, true),
                }
            }
            2 => {
                let Some(b) = take(&mut rest, 5) else { break };
                let s = servers4[usize::from(b[0]) % 3];
                let dst = if b[4] & 8 != 0 { "198.51.100.1" } else { "198.51.100.0" };
                let pp = u16::from_be_bytes([b[2], b[3]]);
                let pp = if b[4] & 16 != 0 { 1000 + (pp % 12) } else { pp };
                let sp = 1 + u16::from(b[1] >> 4);
                let p = match b[1] % 3 {
                    0 => testpkt::tcp4_flags(s, dst, sp, pp, flags[usize::from(b[4] & 7)]),
                    1 => testpkt::udp4_ports(s, dst, sp, pp, b"y"),
                    _ => testpkt::echo_reply4(s, dst, pp, 1, b"y"),
                };
                match b[4] >> 5 {
                    w @ (1 | 2) => (fragment4(&p, u16::from(b[0] >> 2), w == 1), false),
                    _ => (p, true),
                }
            }
            _ if t & 16 != 0 => {
                let Some(b) = take(&mut rest, 1) else { break };
                let Some((side, out)) = last.clone() else { continue };
                let p = if side == Side::V4 {
                    let to = Ipv4Addr::new(out[12], out[13], out[14], out[15]);
                    let (typ, code) = [(3u8, 3u8), (3, 1), (11, 0), (3, 4), (12, 0)][usize::from(b[0]) % 5];
                    let mut rest4 = [0u8; 4];
                    rest4[3] = b[0];
                    testpkt::icmp4("192.0.2.99", &to.to_string(), typ, code, rest4, &out[..out.len().min(548)])
                } else {
                    let to = Ipv6Addr::from(<[u8; 16]>::try_from(&out[8..24]).unwrap_or_default());
                    let (typ, code) = [(1u8, 4u8), (1, 0), (3, 0), (2, 0), (4, 0)][usize::from(b[0]) % 5];
                    testpkt::icmp6(
                        &to.to_string(),
                        "64:ff9b:1::cb00:7101",
                        typ,
                        code,
                        [0, 0, 5, b[0]],
                        &out[..out.len().min(1232)],
                    )
                };
                (p, true)
            }
            _ => {
                let Some(n) = take(&mut rest, 1) else { break };
                let Some(mut p) = take(&mut rest, usize::from(n[0])) else { break };
                if let Some(b) = p.first_mut() {
                    *b = (*b & 0x0f) | if t & 4 != 0 { 0x60 } else { 0x40 };
                }
                if t & 8 != 0 {
                    if t & 4 != 0 && p.len() >= 40 {
                        let l = (p.len() - 40) as u16;
                        p[4..6].copy_from_slice(&l.to_be_bytes());
                    } else if t & 4 == 0 && p.len() >= 20 {
                        p[0] = 0x45;
                        let l = p.len() as u16;
                        p[2..4].copy_from_slice(&l.to_be_bytes());
                        testpkt::fix_ipv4_checksum(&mut p);
                    }
                }
                (p, false)
            }
        };
        let mut buf = PacketBuf::from_slice(&pkt);
        let e = eng.get(usize::from(t >> 7));
        let v = e.process(&mut buf, now);
        let out = buf.as_slice();
        match v {
            Verdict::Forward(side) | Verdict::Reply(side) => {
                let fam = if side == Side::V4 { 4 } else { 6 };
                assert_eq!(out.first().map(|b| b >> 4), Some(fam), "{v:?} of the wrong family");
                if valid && matches!(v, Verdict::Forward(_)) {
                    stateful_sums_ok(out);
                }
                if matches!(v, Verdict::Forward(_)) {
                    last = Some((side, out.to_vec()));
                }
            }
            Verdict::Drop(_) => {}
        }
        while e.poll_transmit(&mut buf).is_some() {}
        if let Err(m) = eng.check() {
            panic!("{m}");
        }
    }
}

/// The stateful engine under [`stateful`]: one, or two shards with a handle each.
enum Eng {
    One(Box<crate::Nat64>),
    Shards(crate::Nat64Shards, Vec<crate::Nat64Handle>),
}

impl Eng {
    fn workers(&self) -> usize {
        match self {
            Self::One(_) => 1,
            Self::Shards(_, h) => h.len(),
        }
    }

    fn get(&mut self, w: usize) -> &mut dyn Engine<Reason = crate::Nat64Drop> {
        match self {
            Self::One(e) => &mut **e,
            Self::Shards(_, h) => {
                let n = h.len();
                &mut h[w % n]
            }
        }
    }

    fn check(&self) -> Result<(), String> {
        match self {
            Self::One(e) => e.check_invariants(),
            Self::Shards(s, _) => {
                (0..s.len()).try_for_each(|k| s.with_shard(k, |e| e.check_invariants()).unwrap_or(Ok(())))
            }
        }
    }
}

/// The first (`first`) or second fragment of an IPv6 packet without extension headers,
/// split after 8 bytes of payload, with identification `id`.
fn fragment6(p: &[u8], id: u32, first: bool) -> Vec<u8> {
    let (off, chunk) = if first { (0, &p[40..48]) } else { (8, &p[48..]) };
    let mut f = p[..40].to_vec();
    f[6] = 44;
    f[4..6].copy_from_slice(&((8 + chunk.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[p[6], 0]);
    f.extend_from_slice(&(off | u16::from(first)).to_be_bytes());
    f.extend_from_slice(&id.to_be_bytes());
    f.extend_from_slice(chunk);
    f
}

/// The first or second fragment of an IPv4 packet (20-byte header), split after 8 bytes.
fn fragment4(p: &[u8], id: u16, first: bool) -> Vec<u8> {
    let (ff, chunk) = if first { (0x2000u16, &p[20..28]) } else { (1, &p[28..]) };
    let mut f = p[..20].to_vec();
    f[2..4].copy_from_slice(&((20 + chunk.len()) as u16).to_be_bytes());
    f[4..6].copy_from_slice(&id.to_be_bytes());
    f[6..8].copy_from_slice(&ff.to_be_bytes());
    f.extend_from_slice(chunk);
    crate::testpkt::fix_ipv4_checksum(&mut f);
    f
}

/// Transport checksums of an unfragmented output verify (naive sums, as above).
fn stateful_sums_ok(p: &[u8]) {
    fn s(d: &[u8]) -> u32 {
        let mut a = 0u32;
        for c in d.chunks(2) {
            a += u32::from(c[0]) << 8 | u32::from(c.get(1).copied().unwrap_or(0));
        }
        a
    }
    fn ok(mut a: u32) -> bool {
        while a > 0xffff {
            a = (a & 0xffff) + (a >> 16);
        }
        a == 0xffff
    }
    if p[0] >> 4 == 4 {
        let ihl = usize::from(p[0] & 15) * 4;
        assert!(ok(s(&p[..ihl])), "IPv4 header checksum");
        if u16::from_be_bytes([p[6], p[7]]) & 0x3fff != 0 {
            return;
        }
        let l4 = &p[ihl..];
        let ps = if p[9] == 1 { 0 } else { s(&p[12..20]) + u32::from(p[9]) + l4.len() as u32 };
        assert!(ok(ps + s(l4)), "IPv4 transport checksum of {p:02x?}");
    } else if p[6] != 44 {
        let l4 = &p[40..];
        let ps = s(&p[8..40]) + u32::from(p[6]) + l4.len() as u32;
        assert!(ok(ps + s(l4)), "IPv6 transport checksum of {p:02x?}");
    }
}

/// Seed inputs for [`stateful`]: handshakes, exchanges, errors, floods and time steps.
#[doc(hidden)]
pub fn seeds_stateful() -> Vec<Vec<u8>> {
    // Records: [1, client, server, proto, ports, flags] IPv6; [2, server, proto|sport,
    // port hi, port lo, flags] IPv4; [t, b] time; [0x13, b] ICMP error about the last.
    let tcp_open = [1u8, 0, 0, 0, 0x10, 0, 2, 0, 0x10, 0x03, 0xe8, 1 | 16];
    let mut out = Vec::new();
    // Bit 3 of `cfg`: two shards; a step byte with bit 7 goes in through worker 1.
    for cfg in 0u8..16 {
        let mut s = vec![cfg];
        s.extend_from_slice(&tcp_open);
        if cfg & 8 != 0 {
            // The answer comes in on the other worker.
            let mut x = s.clone();
            x[7] = 0x82;
            out.push(x);
        }
        s.extend_from_slice(&[1, 0, 0, 0, 0x10, 2, 1, 0, 0, 0x10, 3, 2, 0, 0x10, 0x03, 0xe8, 3 | 16]);
        s.extend_from_slice(&[0x30, 200, 0x3c, 255, 0x3c, 255]);
        out.push(s);
        let mut s = vec![cfg];
        for i in 0..8u8 {
            s.extend_from_slice(&[1, i & 3, i % 3, 1, i, b'q']);
            s.extend_from_slice(&[2, i % 3, 1 | 0x10, 0x03, 0xe8 + i, 16]);
            s.extend_from_slice(&[0x13, i]);
        }
        s.extend_from_slice(&[0x28, 255, 0x28, 255]);
        out.push(s);
        let mut s = vec![cfg];
        for i in 0..6u8 {
            s.extend_from_slice(&[1, i & 3, 2, 2, i, i]);
            s.extend_from_slice(&[0x13, i]);
            s.extend_from_slice(&[2, i, 2, 0x03, 0xe8 + i, 16]);
        }
        s.extend_from_slice(&[0x20, 255, 0x24, 255]);
        out.push(s);
        // Fragments: a UDP datagram's second fragment before its first, then the reply's
        // fragments in both orders to both pool addresses, then time for them to expire.
        let mut s = vec![cfg, 1, 0, 0, 0x82, 0x10, b'q', 1, 0, 0, 0x40, 0x10, b'q'];
        for last in [0x40u8, 0x20, 0x28, 0x48] {
            s.extend_from_slice(&[2, 0, 0x10, 0, 0, 16 | last]);
        }
        s.extend_from_slice(&[0x2c, 255]);
        out.push(s);
        // Hairpin: a client to the pool's own addresses (server index 2).
        let mut s = vec![cfg, 1, 1, 0, 1, 0x21, 0, 1, 0, 2, 1, 0x12, 0];
        s.extend_from_slice(&[2, 2, 1, 0x03, 0xe8, 16]);
        out.push(s);
        // Raw bytes of both families.
        let mut s = vec![cfg, 0x0b, 28];
        s.extend_from_slice(&crate::testpkt::udp4_ports("203.0.113.1", "198.51.100.0", 53, 1024, b""));
        s.extend_from_slice(&[0x0f, 48]);
        s.extend_from_slice(&crate::testpkt::udp6_ports("2001:db8:9::1", "64:ff9b:1::cb00:7101", 1000, 53, b""));
        out.push(s);
    }
    // A TCP handshake on the small pool (to either pool address), then idle past TCP_EST:
    // the session is probed (RFC 6146 §3.5.2.2).
    for dst in [0u8, 8] {
        out.push(vec![2, 1, 0, 0, 0, 0x10, 0, 2, 0, 0x12, 0x03, 0xe8, 1 | dst, 0x3c, 255]);
    }
    out
}
