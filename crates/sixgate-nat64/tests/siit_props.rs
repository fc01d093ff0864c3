//! Property tests of the stateless translator: random TCP, UDP and ICMP echo packets are
//! translated there and back (4→6→4 and 6→4→6) and must come back equal to the original
//! except for the fields RFC 7915 says change. Addresses are random but translatable,
//! either through a network-specific pool6 (2001:db8:64::/96, RFC 6052) or through EAM
//! entries (RFC 7757) on one side and pool6 on the other.
//!
//! # What a round trip may change
//!
//! 4→6→4 (the original is an IPv4 packet, unfragmented, with or without options):
//! - **TTL**: one less per translation, so the original minus 2 (§4.1 "Hop Limit", §5.1
//!   "TTL"). With TTL 2 the second translation answers ICMPv6 Time Exceeded instead.
//! - **Identification**: the IPv6 packet has no Fragment Header (§4.1: none unless the
//!   IPv4 packet is fragmented, RFC 8021), so 6→4 assigns a new one (§5.1).
//! - **DF**: set on 6→4 iff the IPv4 packet is over 1260 bytes (§5.1); the original's DF
//!   is lost.
//! - **IPv4 options** are dropped (§4.1: "ignored"), so IHL becomes 5 and Total Length
//!   shrinks by the options' length.
//! - **Header checksum** is recomputed.
//! - Unchanged: TOS (Traffic Class copied both ways, §4.1/§5.1), protocol, addresses, and
//!   every byte of the transport header and payload, checksum included — right or wrong
//!   (§4.5 and §5.5 update it for the pseudo-header; ICMP echo types are mapped back,
//!   §4.2/§5.2, and the ICMPv6 pseudo-header is added and removed again). The one
//!   exception: a TCP or ICMP checksum field may come back as 0x0000 instead of 0xffff
//!   or the reverse, the two one's-complement zeros, which verify alike (RFC 1624 §3).
//! - An ICMP echo that 4→6 had to fragment does not come back: the ICMPv6 checksum of a
//!   fragment cannot be translated without reassembly, so its first fragment is dropped.
//! - A DF-clear packet whose IPv6 form would exceed 1280 bytes is fragmented (§4.1);
//!   the IPv4 fragments that come back carry the original Identification, DF clear, and
//!   reassemble to the original transport bytes.
//!
//! 6→4→6 (the original is an IPv6 packet, optionally with Hop-by-Hop and Destination
//! Options headers and a Fragment Header):
//! - **Hop limit** minus 2; with hop limit 2 the second translation answers ICMPv4 Time
//!   Exceeded.
//! - **Flow label** becomes 0 (§4.1).
//! - **Hop-by-Hop and Destination Options headers** are removed (§5.1), and with them the
//!   Payload Length shrinks and Next Header names the transport protocol.
//! - **Fragment Header**: an atomic one (offset 0, M clear) is removed; a real one is kept,
//!   but only the low 16 bits of its Identification survive (§5.1 copies them into the
//!   IPv4 Identification, §4.1 copies that back with the high bits zero). Offset and M are
//!   unchanged. A packet that had a Fragment Header (atomic or not) becomes a DF-clear
//!   IPv4 packet, so if it no longer fits in 1280 bytes it is split further (§4.1).
//!   The first fragment of an ICMPv6 message is dropped (checksum, see above).
//! - Unchanged: Traffic Class, addresses, transport header and payload bytes.
//!
//! # Other properties
//! - The transport checksum of a translated unfragmented packet verifies iff the input's
//!   did, and a wrong one stays wrong by exactly the same amount (same one's-complement
//!   residual).
//! - Any mutation of a valid packet (random bytes flipped, truncation), with or without
//!   repaired lengths and checksums, runs through the translator without a panic, and
//!   every output passes the checks of `sixgate_testkit::fuzz::nat64::check` (length fields,
//!   header checksum, ICMP error sizes, fragment tiling, checksum validity).

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use common::*;
use proptest::prelude::*;
use sixgate_core::engine::{Side, Verdict};
use sixgate_nat64::{Siit, SiitConfig};
use sixgate_testkit::fuzz::nat64 as fuzz;

const OWN4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// pool6 2001:db8:64::/96 only.
fn cfg_pool() -> SiitConfig {
    config()
}

/// pool6 plus EAM entries: 10.4.0.0/16 and 192.0.2.0/24.
fn cfg_eam() -> SiitConfig {
    let mut c = config();
    c.add_eam("2001:db8:e4::/112", "10.4.0.0/16").unwrap();
    c.add_eam("2001:db8:e6::/120", "192.0.2.0/24").unwrap();
    c
}

fn eam_covered(a: Ipv4Addr) -> bool {
    let o = a.octets();
    (o[0] == 10 && o[1] == 4) || (o[0] == 192 && o[1] == 0 && o[2] == 2)
}

/// IPv4 addresses translatable through pool6 (not 0/8, 127/8, 169.254/16, 224/4,
/// not the translator's, not EAM-covered).
fn pool_v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from).prop_filter("translatable", |a| {
        let o = a.octets();
        !(o[0] == 0 || o[0] == 127 || (o[0] == 169 && o[1] == 254) || o[0] >= 224 || *a == OWN4 || eam_covered(*a))
    })
}

fn pool_v6(a: Ipv4Addr) -> Ipv6Addr {
    let mut o = Ipv6Addr::new(0x2001, 0xdb8, 0x64, 0, 0, 0, 0, 0).octets();
    o[12..].copy_from_slice(&a.octets());
    Ipv6Addr::from(o)
}

/// (source, destination) for 4→6→4: both through pool6, or the source EAM-mapped.
fn addrs4(eam: bool) -> BoxedStrategy<(Ipv4Addr, Ipv4Addr)> {
    if eam {
        (any::<u16>(), pool_v4()).prop_map(|(h, d)| (Ipv4Addr::from(0x0a04_0000 | u32::from(h)), d)).boxed()
    } else {
        (pool_v4(), pool_v4()).boxed()
    }
}

/// (source, destination) for 6→4→6.
fn addrs6(eam: bool) -> BoxedStrategy<(Ipv6Addr, Ipv6Addr)> {
    if eam {
        (any::<u16>(), pool_v4())
            .prop_map(|(h, d)| (Ipv6Addr::new(0x2001, 0xdb8, 0xe4, 0, 0, 0, 0, h), pool_v6(d)))
            .boxed()
    } else {
        (pool_v4(), pool_v4()).prop_map(|(s, d)| (pool_v6(s), pool_v6(d))).boxed()
    }
}

/// What to build, apart from the addresses.
#[derive(Debug, Clone)]
struct Spec {
    /// 0 TCP, 1 UDP, 2 echo request, 3 echo reply.
    kind: u8,
    sport: u16,
    dport: u16,
    payload: Vec<u8>,
    tos: u8,
    ttl: u8,
    df: bool,
    id: u16,
    /// IPv4 options: 0 none, 1 NOPs, 2 Record Route, 3 Timestamp.
    opts: u8,
    /// IPv6 extension headers: bit 0 Hop-by-Hop, bit 1 Destination Options.
    ext: u8,
    ext_len: u8,
    /// 0 no Fragment Header, 1 atomic, 2 first fragment, 3 later fragment.
    frag: u8,
    frag_id: u32,
    frag_off: u16,
    frag_m: bool,
    flow: u32,
    /// Added to the correct transport checksum (0: correct).
    bad: u16,
}

fn spec() -> impl Strategy<Value = Spec> {
    let a = (0u8..4, any::<u16>(), any::<u16>(), prop::collection::vec(any::<u8>(), 0..1400), any::<u8>(), 2u8..=255);
    let b = (any::<bool>(), any::<u16>(), 0u8..4, 0u8..4, 0u8..3, prop_oneof![3 => Just(0u8), 1 => 1u8..4]);
    let c = (any::<u32>(), 1u16..8000, any::<bool>(), 0u32..0x10_0000, prop_oneof![3 => Just(0u16), 1 => any::<u16>()]);
    (a, b, c).prop_map(
        |(
            (kind, sport, dport, payload, tos, ttl),
            (df, id, opts, ext, ext_len, frag),
            (frag_id, frag_off, frag_m, flow, bad),
        )| Spec {
            kind,
            sport,
            dport,
            payload,
            tos,
            ttl,
            df,
            id,
            opts,
            ext,
            ext_len,
            frag,
            frag_id,
            frag_off,
            frag_m,
            flow,
            bad,
        },
    )
}

fn proto(s: &Spec) -> u8 {
    match s.kind {
        0 => 6,
        1 => 17,
        _ => 1,
    }
}

/// The transport header and payload, checksum zero, and the checksum's offset.
fn l4(s: &Spec, v6: bool) -> (Vec<u8>, usize) {
    let mut t = Vec::new();
    match s.kind {
        0 => {
            t.extend_from_slice(&s.sport.to_be_bytes());
            t.extend_from_slice(&s.dport.to_be_bytes());
            t.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 0x50, 0x18, 0x20, 0, 0, 0, 0, 0]);
            t.extend_from_slice(&s.payload);
            (t, 16)
        }
        1 => {
            t.extend_from_slice(&s.sport.to_be_bytes());
            t.extend_from_slice(&s.dport.to_be_bytes());
            t.extend_from_slice(&((8 + s.payload.len()) as u16).to_be_bytes());
            t.extend_from_slice(&[0, 0]);
            t.extend_from_slice(&s.payload);
            (t, 6)
        }
        k => {
            let typ = match (k, v6) {
                (2, false) => 8,
                (_, false) => 0,
                (2, true) => 128,
                (_, true) => 129,
            };
            t.extend_from_slice(&[typ, 0, 0, 0]);
            t.extend_from_slice(&s.sport.to_be_bytes());
            t.extend_from_slice(&s.dport.to_be_bytes());
            t.extend_from_slice(&s.payload);
            (t, 2)
        }
    }
}

fn put_csum(t: &mut [u8], at: usize, pseudo: &[u8], s: &Spec) {
    let mut c = naive_sum(&[pseudo, t]);
    if s.kind == 1 && c == 0 {
        c = 0xffff;
    }
    c = c.wrapping_add(s.bad);
    if s.kind == 1 && c == 0 {
        c = 1; // zero would mean "no checksum"
    }
    t[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

fn pseudo4(s: Ipv4Addr, d: Ipv4Addr, proto: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&s.octets());
    p.extend_from_slice(&d.octets());
    p.extend_from_slice(&[0, proto]);
    p.extend_from_slice(&(len as u16).to_be_bytes());
    p
}

fn pseudo6(s: Ipv6Addr, d: Ipv6Addr, nh: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&s.octets());
    p.extend_from_slice(&d.octets());
    p.extend_from_slice(&(len as u32).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, nh]);
    p
}

fn options(kind: u8) -> Vec<u8> {
    let mut o = match kind {
        1 => vec![1, 1, 1],
        2 => vec![7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0],
        3 => vec![68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        _ => vec![],
    };
    while o.len() % 4 != 0 {
        o.push(0);
    }
    o
}

fn build4(s: &Spec, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let (mut t, at) = l4(s, false);
    let ph = if s.kind >= 2 { Vec::new() } else { pseudo4(src, dst, proto(s), t.len()) };
    put_csum(&mut t, at, &ph, s);
    let opts = options(s.opts);
    let ihl = 20 + opts.len();
    let mut p = vec![0u8; ihl];
    p[0] = 0x40 | (ihl / 4) as u8;
    p[1] = s.tos;
    p[2..4].copy_from_slice(&((ihl + t.len()) as u16).to_be_bytes());
    p[4..6].copy_from_slice(&s.id.to_be_bytes());
    p[6] = if s.df { 0x40 } else { 0 };
    p[8] = s.ttl;
    p[9] = proto(s);
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    p[20..].copy_from_slice(&opts);
    let c = naive_sum(&[&p]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&t);
    p
}

/// The IPv6 packet: header, extension headers, Fragment Header, transport. Returns the
/// packet and the offset of the transport bytes.
fn build6(s: &Spec, src: Ipv6Addr, dst: Ipv6Addr) -> (Vec<u8>, usize) {
    let nh = if s.kind >= 2 { 58 } else { proto(s) };
    let (mut t, at) = l4(s, true);
    let ph = pseudo6(src, dst, nh, t.len());
    put_csum(&mut t, at, &ph, s);
    // Chain, innermost last: (header type, bytes without the next-header octet).
    let mut chain: Vec<(u8, Vec<u8>)> = Vec::new();
    let opt_hdr = |n: u8| {
        let len = (usize::from(n) + 1) * 8;
        let mut h = vec![n, 1, (len - 4) as u8];
        h.resize(len - 1, 0);
        h
    };
    if s.ext & 1 != 0 {
        chain.push((0, opt_hdr(s.ext_len)));
    }
    if s.ext & 2 != 0 {
        chain.push((60, opt_hdr(s.ext_len)));
    }
    if s.frag != 0 {
        let fo: u16 = match s.frag {
            1 => 0,
            2 => 1,
            _ => (s.frag_off << 3) | u16::from(s.frag_m),
        };
        let mut h = vec![0u8];
        h.extend_from_slice(&fo.to_be_bytes());
        h.extend_from_slice(&s.frag_id.to_be_bytes());
        chain.push((44, h));
    }
    let mut ext = Vec::new();
    for (i, (_, body)) in chain.iter().enumerate() {
        let next = chain.get(i + 1).map_or(nh, |c| c.0);
        ext.push(next);
        ext.extend_from_slice(body);
    }
    let first = chain.first().map_or(nh, |c| c.0);
    let mut p = vec![0u8; 40];
    let w = (6u32 << 28) | (u32::from(s.tos) << 20) | s.flow;
    p[..4].copy_from_slice(&w.to_be_bytes());
    p[4..6].copy_from_slice(&((ext.len() + t.len()) as u16).to_be_bytes());
    p[6] = first;
    p[7] = s.ttl;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    p.extend_from_slice(&ext);
    let off = p.len();
    p.extend_from_slice(&t);
    (p, off)
}

/// The one's-complement residual of an unfragmented packet's TCP/UDP/ICMP checksum
/// (0 when it verifies; 0xffff and 0 are the same value).
fn residual(p: &[u8]) -> u16 {
    let r = if p[0] >> 4 == 4 {
        let ihl = usize::from(p[0] & 15) * 4;
        let t = &p[ihl..];
        if p[9] == 1 {
            naive_sum(&[t])
        } else {
            naive_sum(&[&p[12..20], &[0, p[9]], &(t.len() as u16).to_be_bytes(), t])
        }
    } else {
        assert!(matches!(p[6], 6 | 17 | 58), "unfragmented IPv6 without extension headers expected");
        naive_sum(&[&p[8..40], &((p.len() - 40) as u32).to_be_bytes(), &[0, 0, 0, p[6]], &p[40..]])
    };
    if r == 0xffff {
        0
    } else {
        r
    }
}

fn csum_at(s: &Spec) -> usize {
    match s.kind {
        0 => 16,
        1 => 6,
        _ => 2,
    }
}

/// 0x0000 and 0xffff are the two one's-complement zeros: an incremental update (RFC 1624)
/// may turn one into the other in a TCP or ICMP checksum, and no receiver can tell them
/// apart. Where `got` and `want` differ only so, `got` takes `want`'s.
fn same_zero(got: &mut [u8], want: &[u8], at: usize) {
    if got.len() >= at + 2 && want.len() >= at + 2 {
        let pair = [&got[at..at + 2], &want[at..at + 2]];
        if pair == [&[0, 0][..], &[0xff, 0xff][..]] || pair == [&[0xff, 0xff][..], &[0, 0][..]] {
            got[at..at + 2].copy_from_slice(&want[at..at + 2]);
        }
    }
}

fn ff4(p: &[u8]) -> u16 {
    u16::from_be_bytes([p[6], p[7]])
}

fn process(s: &mut Siit, p: &[u8]) -> (Verdict<sixgate_nat64::SiitDrop>, Vec<Vec<u8>>) {
    let (v, outs) = run_all(s, p);
    fuzz::check(s.config(), p, v, &outs);
    (v, outs)
}

/// 4→6→4 for one packet.
fn roundtrip4(cfg: SiitConfig, s: &Spec, src: Ipv4Addr, dst: Ipv4Addr) -> Result<(), TestCaseError> {
    let mut siit = Siit::new(cfg).unwrap();
    let p = build4(s, src, dst);
    let ihl = usize::from(p[0] & 15) * 4;
    let (v, o6) = process(&mut siit, &p);
    prop_assert_eq!(v, FWD6);
    let fragmented = !s.df && p.len() - ihl + 40 > 1280;
    prop_assert_eq!(o6.len() > 1, fragmented, "fragmented iff DF clear and over 1280 bytes as IPv6");
    if !fragmented {
        let q = &o6[0];
        // §4.1: traffic class copied, flow label zero, no fragment header, hop limit - 1.
        prop_assert_eq!(u32::from_be_bytes([q[0], q[1], q[2], q[3]]), 0x6000_0000 | (u32::from(s.tos) << 20));
        prop_assert_eq!(q[6], if proto(s) == 1 { 58 } else { proto(s) });
        prop_assert_eq!(q[7], s.ttl - 1);
        prop_assert_eq!(q.len(), p.len() - ihl + 40);
        prop_assert_eq!(residual(q), residual(&p), "checksum residual changed 4→6");
    }
    let mut back = Vec::new();
    for q in &o6 {
        let (v, o4) = process(&mut siit, q);
        if s.ttl == 2 {
            // Hop limit 1 now: §5.1 sends Time Exceeded from the translator.
            prop_assert_eq!(v, Verdict::Reply(Side::V6));
            prop_assert_eq!((o4[0][40], o4[0][41]), (3, 0));
            return Ok(());
        }
        if fragmented && s.kind >= 2 && back.is_empty() {
            // The ICMPv6 checksum of a fragment cannot be translated without reassembly:
            // a fragmented echo does not come back (later fragments alone are harmless).
            prop_assert_eq!(v, Verdict::Drop(sixgate_nat64::SiitDrop::FragmentedIcmp));
            return Ok(());
        }
        prop_assert_eq!(v, FWD4);
        prop_assert_eq!(o4.len(), 1);
        back.push(o4.into_iter().next().unwrap());
    }
    if !fragmented {
        let r = &back[0];
        let mut want = p.clone();
        want.drain(20..ihl);
        want[0] = 0x45;
        let total = want.len() as u16;
        want[2..4].copy_from_slice(&total.to_be_bytes());
        want[4..6].copy_from_slice(&r[4..6]); // new Identification (§5.1)
        want[6] = if want.len() > 1260 { 0x40 } else { 0 };
        want[7] = 0;
        want[8] = s.ttl - 2;
        want[10] = 0;
        want[11] = 0;
        let c = naive_sum(&[&want[..20]]);
        want[10..12].copy_from_slice(&c.to_be_bytes());
        let mut got = r.clone();
        same_zero(&mut got, &want, 20 + csum_at(s));
        prop_assert_eq!(&got, &want);
    } else {
        // The fragments come back as IPv4 fragments of the original datagram.
        let mut data = Vec::new();
        for (i, r) in back.iter().enumerate() {
            v4ok(r);
            prop_assert_eq!(&r[4..6], &p[4..6], "fragments keep the Identification");
            prop_assert_eq!(ff4(r) & 0x4000, 0, "DF clear");
            prop_assert_eq!(ff4(r) & 0x2000 != 0, i + 1 < back.len(), "MF on all but the last");
            prop_assert_eq!(usize::from(ff4(r) & 0x1fff) * 8, data.len(), "offsets tile");
            prop_assert_eq!((r[1], r[8], r[9]), (s.tos, s.ttl - 2, p[9]));
            prop_assert_eq!(&r[12..20], &p[12..20]);
            data.extend_from_slice(&r[20..]);
        }
        same_zero(&mut data, &p[ihl..], csum_at(s));
        prop_assert_eq!(&data[..], &p[ihl..], "fragments reassemble to the original");
    }
    Ok(())
}

/// 6→4→6 for one packet.
fn roundtrip6(cfg: SiitConfig, s: &Spec, src: Ipv6Addr, dst: Ipv6Addr) -> Result<(), TestCaseError> {
    let mut siit = Siit::new(cfg).unwrap();
    let (p, off) = build6(s, src, dst);
    let ulen = p.len() - off;
    let (v, o4) = process(&mut siit, &p);
    if s.kind >= 2 && s.frag >= 2 {
        // A fragment of an ICMPv6 message: its checksum covers a pseudo-header with the
        // whole message's length, unknown without reassembly, so no fragment of it is
        // translated (a later one alone would be useless to the receiver).
        prop_assert_eq!(v, Verdict::Drop(sixgate_nat64::SiitDrop::FragmentedIcmp));
        return Ok(());
    }
    prop_assert_eq!(v, FWD4);
    prop_assert_eq!(o4.len(), 1);
    let q = &o4[0];
    prop_assert_eq!(q.len(), 20 + ulen);
    prop_assert_eq!((q[1], q[8]), (s.tos, s.ttl - 1));
    let real_frag = s.frag >= 2;
    match s.frag {
        0 => prop_assert_eq!(ff4(q), if q.len() > 1260 { 0x4000 } else { 0 }, "§5.1 DF above 1260 only"),
        _ => {
            let fo = u16::from_be_bytes([p[off - 6], p[off - 5]]);
            prop_assert_eq!(ff4(q), ((fo & 1) << 13) | (fo >> 3), "§5.1 offset and M copied, DF clear");
            prop_assert_eq!(u16::from_be_bytes([q[4], q[5]]), s.frag_id as u16, "§5.1 low 16 bits of the id");
        }
    }
    let nh = if s.kind >= 2 { 58 } else { proto(s) };
    if !real_frag {
        let mut bare = p[..40].to_vec();
        bare[6] = nh;
        bare.extend_from_slice(&p[off..]);
        prop_assert_eq!(residual(q), residual(&bare), "checksum residual changed 6→4");
    }
    let (v, o6) = process(&mut siit, q);
    if s.ttl == 2 && s.frag == 3 {
        // RFC 1812 §4.3.2.7: no ICMP error about a non-first fragment.
        prop_assert_eq!(v, Verdict::Drop(sixgate_nat64::SiitDrop::TtlExceeded));
        return Ok(());
    }
    if s.ttl == 2 {
        prop_assert_eq!(v, Verdict::Reply(Side::V4));
        prop_assert_eq!((o6[0][20], o6[0][21]), (11, 0));
        return Ok(());
    }
    prop_assert_eq!(v, FWD6);
    // Expected: the original without Hop-by-Hop/Destination Options (and without an
    // atomic Fragment Header), flow label 0, hop limit - 2, id high bits zero.
    let mut want = p[..40].to_vec();
    want[1] &= 0xf0;
    want[2] = 0;
    want[3] = 0;
    want[7] = s.ttl - 2;
    // Atomic fragments come back split too when they no longer fit in 1280 bytes.
    if o6.len() > 1 {
        prop_assert!(s.frag != 0, "only a packet that had a Fragment Header comes back fragmented");
    }
    if real_frag || o6.len() > 1 {
        want[6] = 44;
        want.push(nh);
        want.push(0);
        want.extend_from_slice(&p[off - 6..off - 4]);
        want.extend_from_slice(&u32::from(s.frag_id as u16).to_be_bytes());
    } else {
        want[6] = nh;
    }
    if o6.len() == 1 {
        want.extend_from_slice(&p[off..]);
        let n = (want.len() - 40) as u16;
        want[4..6].copy_from_slice(&n.to_be_bytes());
        let mut got = o6[0].clone();
        same_zero(&mut got, &want, 40 + csum_at(s));
        prop_assert_eq!(&got, &want);
        if !real_frag {
            prop_assert_eq!(residual(&o6[0]), residual(q), "checksum residual changed 4→6");
        }
    } else {
        // Split further to fit 1280 bytes (§4.1): same headers, data tiles the original.
        let base = usize::from(u16::from_be_bytes([p[off - 6], p[off - 5]]) & 0xfff8);
        let mut data = Vec::new();
        for (i, r) in o6.iter().enumerate() {
            prop_assert!(r.len() <= 1280);
            prop_assert_eq!(&r[..4], &want[..4]);
            prop_assert_eq!(&r[6..42], &want[6..42]);
            prop_assert_eq!(&r[44..48], &want[44..48]);
            let fo = u16::from_be_bytes([r[42], r[43]]);
            prop_assert_eq!(usize::from(fo & 0xfff8), base + data.len());
            let last_m = u16::from_be_bytes([p[off - 6], p[off - 5]]) & 1 == 1;
            prop_assert_eq!(fo & 1 == 1, i + 1 < o6.len() || last_m);
            data.extend_from_slice(&r[48..]);
        }
        if s.frag != 3 {
            same_zero(&mut data, &p[off..], csum_at(s));
        }
        prop_assert_eq!(&data[..], &p[off..]);
    }
    Ok(())
}

fn mutate(mut p: Vec<u8>, flips: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    for &(i, x) in flips {
        let n = p.len();
        p[i % n] ^= x;
    }
    if let Some(c) = cut {
        p.truncate(c % (p.len() + 1));
    }
    p
}

proptest! {
    #[test]
    fn roundtrip_4to6to4_pool6(s in spec(), (src, dst) in addrs4(false)) {
        roundtrip4(cfg_pool(), &s, src, dst)?;
    }

    #[test]
    fn roundtrip_4to6to4_eam(s in spec(), (src, dst) in addrs4(true)) {
        roundtrip4(cfg_eam(), &s, src, dst)?;
    }

    #[test]
    fn roundtrip_6to4to6_pool6(s in spec(), (src, dst) in addrs6(false)) {
        roundtrip6(cfg_pool(), &s, src, dst)?;
    }

    #[test]
    fn roundtrip_6to4to6_eam(s in spec(), (src, dst) in addrs6(true)) {
        roundtrip6(cfg_eam(), &s, src, dst)?;
    }

    /// Mutated packets never panic the translator and every output is well formed.
    #[test]
    fn mutations_never_break_outputs(
        s in spec(),
        (s4, d4) in addrs4(false),
        v6 in any::<bool>(),
        cfg in 0u8..8,
        repair in 0u8..8,
        flips in prop::collection::vec((any::<usize>(), 1u8..=255), 0..6),
        cut in prop::option::of(any::<usize>()),
    ) {
        let p = if v6 { build6(&s, pool_v6(s4), pool_v6(d4)).0 } else { build4(&s, s4, d4) };
        let mut input = vec![(cfg << 3) | repair];
        input.extend(mutate(p, &flips, cut));
        if v6 {
            fuzz::siit_6to4(&input);
        } else {
            fuzz::siit_4to6(&input);
        }
    }
}
