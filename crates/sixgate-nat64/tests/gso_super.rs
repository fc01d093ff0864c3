//! Super-packets (GSO) through the stateless translator with
//! `sixgate_core::gso::process_super`, checked against the reference: cutting the
//! super-packet into segments first and translating each one.
//!
//! A super-packet arrives as the kernel hands it to a TUN device with offload: one header,
//! up to 64 KiB of payload, and a *partial* transport checksum (the pseudo-header sum,
//! finished per segment by whoever segments it). Properties:
//! - translated whole, its partial checksum is exactly the pseudo-header sum of the new
//!   addresses (so the segmenter downstream produces correct checksums);
//! - its segments are byte for byte the packets the translator makes of the input's
//!   segments one at a time (same addresses, hop limit/TTL, traffic class, DF, IPv4
//!   identifications counting up, transport bytes and complete checksums);
//! - what cannot go whole (hop limit 1, a FIN, a segment over the MTU) goes segment by
//!   segment with exactly the reference's results.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use common::*;
use proptest::prelude::*;
use sixgate_core::checksum::{fold, pseudo_v4, pseudo_v6};
use sixgate_core::engine::{Engine, Verdict};
use sixgate_core::gso::{layout, process_super, segment, SuperOutcome};
use sixgate_core::PacketBuf;
use sixgate_nat64::{Siit, SiitConfig};

fn cfg() -> SiitConfig {
    let mut c = config();
    c.add_eam("2001:db8:6::/120", "203.0.113.0/24").unwrap();
    c
}

/// An IPv6 or IPv4 TCP/UDP super-packet with a partial checksum (the pseudo-header sum
/// over the whole super-packet's upper-layer length, as Linux leaves it for GSO).
#[allow(clippy::too_many_arguments)]
fn super_packet(v6: bool, tcp: bool, payload: &[u8], hop: u8, tc: u8, flags: u8, seq: u32, df: bool) -> Vec<u8> {
    let a = (a6("2001:db8:6::2"), a6("2001:db8:64::c633:6402"), a4("198.51.100.2"), a4("203.0.113.2"));
    super_packet_at(a, 12345, v6, tcp, payload, hop, tc, flags, seq, df)
}

#[allow(clippy::too_many_arguments)]
fn super_packet_at(
    (s6, d6, s4, d4): (Ipv6Addr, Ipv6Addr, Ipv4Addr, Ipv4Addr),
    sport: u16,
    v6: bool,
    tcp: bool,
    payload: &[u8],
    hop: u8,
    tc: u8,
    flags: u8,
    seq: u32,
    df: bool,
) -> Vec<u8> {
    let l4 = if tcp { 20 } else { 8 };
    let ulen = l4 + payload.len();
    let proto = if tcp { 6 } else { 17 };
    let mut p = Vec::new();
    if v6 {
        p.extend_from_slice(&[0x60 | (tc >> 4), tc << 4, 0, 0]);
        p.extend_from_slice(&(ulen as u16).to_be_bytes());
        p.extend_from_slice(&[proto, hop]);
        p.extend_from_slice(&s6.octets());
        p.extend_from_slice(&d6.octets());
    } else {
        p.extend_from_slice(&[0x45, tc]);
        p.extend_from_slice(&((20 + ulen) as u16).to_be_bytes());
        p.extend_from_slice(&[0x12, 0x34, if df { 0x40 } else { 0 }, 0, hop, proto, 0, 0]);
        p.extend_from_slice(&s4.octets());
        p.extend_from_slice(&d4.octets());
        let c = sixgate_core::checksum::checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
    }
    let partial =
        if v6 { fold(pseudo_v6(s6, d6, proto, ulen as u32)) } else { fold(pseudo_v4(s4, d4, proto, ulen as u16)) };
    if tcp {
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&[0x14, 0x51]);
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 7, 0x50, flags, 0x01, 0xf5]);
        p.extend_from_slice(&partial.to_be_bytes());
        p.extend_from_slice(&[0, 0]);
    } else {
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&[0x14, 0x51]);
        p.extend_from_slice(&(ulen as u16).to_be_bytes());
        p.extend_from_slice(&partial.to_be_bytes());
    }
    p.extend_from_slice(payload);
    p
}

/// Per segment: the verdict (as text, so engines with different reasons compare) and the
/// packets that came out.
type Outs = Vec<(String, Vec<Vec<u8>>)>;

/// The reference: segment first, translate each segment; (verdict, packets) per segment.
fn reference(pkt: &[u8], seg: u16) -> Outs {
    reference_with(Siit::new(cfg()).unwrap(), pkt, seg)
}

fn reference_with<E: Engine>(mut e: E, pkt: &[u8], seg: u16) -> Outs {
    let l = layout(pkt).unwrap();
    let n = sixgate_core::gso::segments(&l, seg);
    let mut b = PacketBuf::new();
    (0..n)
        .map(|i| {
            segment(pkt, &l, seg, i, &mut b).unwrap();
            let v = e.process(&mut b, Instant::now());
            result(&mut e, v, &b)
        })
        .collect()
}

/// The engine's verdict on the packet now in `b`, with `b` and whatever it queued after it.
fn result<E: Engine>(e: &mut E, v: Verdict<E::Reason>, b: &PacketBuf) -> (String, Vec<Vec<u8>>) {
    let mut pkts = Vec::new();
    if !matches!(v, Verdict::Drop(_)) {
        pkts.push(norm(b.as_slice().to_vec()));
        let mut x = PacketBuf::new();
        while e.poll_transmit(&mut x).is_some() {
            pkts.push(norm(x.as_slice().to_vec()));
        }
    }
    (format!("{v:?}"), pkts)
}

/// The same through `process_super`: Whole → the super-packet's segments; Segmented →
/// the probe's result, then the rest one by one, as the gateway's worker does.
fn via_super(pkt: &[u8], seg: u16) -> (bool, Vec<u8>, Outs) {
    via_super_with(Siit::new(cfg()).unwrap(), pkt, seg)
}

fn via_super_with<E: Engine>(mut e: E, pkt: &[u8], seg: u16) -> (bool, Vec<u8>, Outs) {
    let mut buf = PacketBuf::from_slice(pkt);
    let mut probe = PacketBuf::new();
    let mut out = Vec::new();
    match process_super(&mut e, &mut buf, seg, &mut probe, Instant::now()).unwrap() {
        SuperOutcome::Whole { side, layout: l, tail } => {
            let whole = buf.as_slice().to_vec();
            assert_eq!(layout(&whole), Some(l));
            let n = sixgate_core::gso::segments(&l, seg);
            let mut b = PacketBuf::new();
            for i in 0..n {
                let k = kernel_segment(&whole, &l, seg, i, &mut b);
                out.push((format!("{:?}", Verdict::<E::Reason>::Forward(side)), vec![norm(k)]));
            }
            if tail {
                let v = e.process(&mut probe, Instant::now());
                let mut t = probe.as_slice().to_vec();
                // Its identification is the engine's next one, not first + n as the
                // reference's; take the reference's for the comparison (a DF-set head's
                // identifications carry no meaning, RFC 6864 §4.1) after checking it.
                assert_eq!(be16(&t, 4), be16(&whole, 4).wrapping_add(1));
                assert_eq!(t[6] & 0x40, 0, "the short tail goes without DF (RFC 7915 §5.1)");
                let id = be16(&whole, 4).wrapping_add(n as u16);
                t[4..6].copy_from_slice(&id.to_be_bytes());
                t[10..12].copy_from_slice(&[0, 0]);
                let c = sixgate_core::checksum::checksum(&t[..20]);
                t[10..12].copy_from_slice(&c.to_be_bytes());
                out.push((format!("{v:?}"), vec![norm(t)]));
            }
            (true, whole, out)
        }
        SuperOutcome::Segmented { verdict, layout: l, count } => {
            out.push(result(&mut e, verdict, &probe));
            let mut b = PacketBuf::new();
            for i in 1..count {
                segment(pkt, &l, seg, i, &mut b).unwrap();
                let v = e.process(&mut b, Instant::now());
                out.push(result(&mut e, v, &b));
            }
            (false, buf.as_slice().to_vec(), out)
        }
    }
}

/// Segment `i` of a whole-translated super-packet, cut and finished the way Linux does it
/// (software GSO, then checksum offload done in software): the headers and payload as
/// `segment` lays them out, but the transport checksum computed from the super-packet's
/// *partial* field — TCP (tcp_gso_segment): partial + ~(whole L4 length) + segment L4
/// length; UDP (__udp_gso_segment): partial − the UDP length *field* + segment length —
/// then summed from the transport header to the end and complemented
/// (skb_checksum_help, 0 sent as 0xffff). A wrong partial checksum or UDP length in the
/// super-packet shows up here as a wrong segment checksum.
fn kernel_segment(whole: &[u8], l: &sixgate_core::gso::Layout, seg: u16, i: usize, b: &mut PacketBuf) -> Vec<u8> {
    use sixgate_core::checksum::{add, sum};
    segment(whole, l, seg, i, b).unwrap();
    let mut p = b.as_slice().to_vec();
    let t = l.l3;
    let at = t + l.csum_offset();
    let f = u32::from(be16(whole, at));
    let seg_len = (p.len() - t) as u32;
    let partial = if l.proto == 6 {
        let whole_len = (whole.len() - t) as u16;
        fold(add(add(f, u32::from(!whole_len)), seg_len))
    } else {
        fold(add(add(f, u32::from(!be16(whole, t + 4))), seg_len))
    };
    p[at..at + 2].copy_from_slice(&partial.to_be_bytes());
    let c = match !fold(sum(&p[t..])) {
        0 => 0xffff,
        c => c,
    };
    p[at..at + 2].copy_from_slice(&c.to_be_bytes());
    p
}

/// TCP checksum 0x0000 written as 0xffff (the same one's-complement value) so that
/// packets compare by value.
fn norm(mut p: Vec<u8>) -> Vec<u8> {
    if let Some(l) = layout(&p) {
        let at = l.l3 + l.csum_offset();
        if l.proto == 6 && be16(&p, at) == 0 {
            p[at..at + 2].copy_from_slice(&[0xff, 0xff]);
        }
    }
    p
}

fn be16(p: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([p[o], p[o + 1]])
}

/// The partial checksum of a whole-translated super-packet is the pseudo-header sum of
/// its own addresses and length.
fn partial_ok(p: &[u8]) {
    let l = layout(p).unwrap();
    let ulen = p.len() - l.l3;
    let want = if l.v6 {
        let s: [u8; 16] = p[8..24].try_into().unwrap();
        let d: [u8; 16] = p[24..40].try_into().unwrap();
        fold(pseudo_v6(Ipv6Addr::from(s), Ipv6Addr::from(d), l.proto, ulen as u32))
    } else {
        let s: [u8; 4] = p[12..16].try_into().unwrap();
        let d: [u8; 4] = p[16..20].try_into().unwrap();
        fold(pseudo_v4(Ipv4Addr::from(s), Ipv4Addr::from(d), l.proto, ulen as u16))
    };
    let at = l.l3 + l.csum_offset();
    let got = u16::from_be_bytes([p[at], p[at + 1]]);
    // 0x0000 and 0xffff are the same one's-complement value.
    assert!(got == want || (got | want) == 0xffff && (got & want) == 0, "partial {got:#06x} want {want:#06x}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Arbitrary bytes as a super-packet: a typed error or an outcome, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(
        v6 in any::<bool>(),
        tcp in any::<bool>(),
        payload in proptest::collection::vec(any::<u8>(), 0..3000),
        noise in proptest::collection::vec((0usize..80, any::<u8>()), 0..8),
        seg in 0u16..1600,
    ) {
        let mut pkt = super_packet(v6, tcp, &payload, 64, 0, 0x10, 1, true);
        for (at, b) in noise {
            if at < pkt.len() {
                pkt[at] = b;
            }
        }
        let mut e = Siit::new(cfg()).unwrap();
        let mut buf = PacketBuf::from_slice(&pkt);
        let mut probe = PacketBuf::new();
        let _ = process_super(&mut e, &mut buf, seg, &mut probe, Instant::now());
    }

    #[test]
    fn whole_equals_segment_by_segment(
        v6 in any::<bool>(),
        tcp in any::<bool>(),
        payload in proptest::collection::vec(any::<u8>(), 1..20_000),
        seg in 500u16..1400,
        hop in 1u8..=255,
        tc in any::<u8>(),
        fin in any::<bool>(),
        seq in any::<u32>(),
        df in any::<bool>(),
    ) {
        let flags = 0x10 | if fin { 0x09 } else { 0x08 };
        let pkt = super_packet(v6, tcp, &payload, hop, tc, flags, seq, df);
        let (whole, out, got) = via_super(&pkt, seg);
        let want = reference(&pkt, seg);
        prop_assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
            prop_assert_eq!(g, w, "segment {} of {} (whole: {})", i, want.len(), whole);
        }
        // When it must go segment by segment: hop limit/TTL 1 (Time Exceeded), a FIN
        // (connection state), IPv4 DF clear with segments over the 1280-byte IPv6 minimum
        // (the translator fragments them, RFC 7915 §4.1), IPv6 segments of ≤ 1260 bytes as
        // IPv4 (no DF, so each needs its own identification, §5.1).
        let l4 = if tcp { 20 } else { 8 };
        let first = 20 + l4 + payload.len().min(seg as usize);
        let expect_segmented = hop <= 1
            || (tcp && fin)
            || (!v6 && !df && first + 20 > 1280)
            || (v6 && first <= 1260 && payload.len() > seg as usize);
        prop_assert_eq!(whole, !expect_segmented);
        if whole {
            partial_ok(&out);
        }
    }
}

#[test]
fn a_64k_tcp_super_packet_goes_whole_both_ways() {
    for v6 in [true, false] {
        let payload: Vec<u8> = (0..65_000u32).map(|i| (i * 7) as u8).collect();
        let pkt = super_packet(v6, true, &payload[..if v6 { 65_000 } else { 65_000 - 20 - 20 }], 64, 0, 0x18, 1, true);
        let (whole, out, got) = via_super(&pkt, 1428);
        assert!(whole, "v6={v6}");
        partial_ok(&out);
        assert_eq!(got, reference(&pkt, 1428));
        // IPv4 → IPv6: all of it, 20 bytes longer. IPv6 → IPv4: 20 bytes shorter, less the
        // 740-byte last segment, which goes on its own without DF.
        assert_eq!(out.len(), if v6 { pkt.len() - 20 - 740 } else { pkt.len() + 20 });
    }
}

#[test]
fn too_long_for_ipv4_goes_segment_by_segment() {
    // An IPv6 payload of 65,535 bytes cannot be one IPv4 packet (65,555 > 65,535); with
    // 1365-byte segments the last one (1360) is long enough to keep DF, so nothing is cut.
    let payload = vec![0u8; 65_535 - 20];
    let pkt = super_packet(true, true, &payload, 64, 0, 0x10, 1, true);
    let (whole, _, got) = via_super(&pkt, 1365);
    assert!(!whole);
    assert_eq!(got, reference(&pkt, 1365));
}

/// The stateful translator rewrites the client's port (80 is outside the pool's
/// 1024–65535): the partial checksum must carry only the pseudo-header change, since the
/// segmenter sums the rewritten port itself.
#[test]
fn stateful_port_rewrite_whole_equals_segment_by_segment() {
    use sixgate_core::rfc6052::Pool6;
    use sixgate_nat64::{Nat64, Nat64Config, Pool4Range};
    let engine = || {
        let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
        let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 1024, 65535)];
        let c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
        let mut e = Nat64::new(c).unwrap();
        // The connection opens with an ordinary SYN.
        let syn = super_packet_at(addrs(), 80, true, true, &[], 64, 0, 0x02, 1, true);
        let mut b = PacketBuf::from_slice(&syn);
        assert!(matches!(e.process(&mut b, Instant::now()), Verdict::Forward(_)));
        assert_ne!(be16(b.as_slice(), 20), 80, "the port was rewritten");
        e
    };
    fn addrs() -> (Ipv6Addr, Ipv6Addr, Ipv4Addr, Ipv4Addr) {
        (a6("2001:db8::10"), a6("64:ff9b:1::cb00:7105"), a4("0.0.0.0"), a4("0.0.0.0"))
    }
    for len in [5_000usize, 5_600, 40_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 13) as u8).collect();
        let pkt = super_packet_at(addrs(), 80, true, true, &payload, 64, 0, 0x18, 2, true);
        let (whole, out, got) = via_super_with(engine(), &pkt, 1400);
        assert!(whole, "len {len}");
        partial_ok(&out);
        assert_eq!(got, reference_with(engine(), &pkt, 1400), "len {len}");
    }
}
