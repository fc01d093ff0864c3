//! RFC-derived behaviour of the tunnel endpoint: RFC 4213 §3.2 (MTU, path MTU), §3.5
//! (encapsulation header), §3.6 (decapsulation checks), RFC 3964 §5.1 (6to4 checks),
//! RFC 6040 §4 (ECN), RFC 4443 §2.4 (error generation).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use sixgate_6in4::{ecn_decap, EcnMode, SitConfig, SitDrop, SitTunnel};
use sixgate_core::buf::PacketBuf;
use sixgate_core::checksum;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_testkit::packets::sit::{encap, frag_needed, ipv4_header, udp6};

const A: &str = "192.0.2.1";
const B: &str = "198.51.100.1";

fn a() -> SitTunnel {
    SitTunnel::new(SitConfig::new_static(A.parse().unwrap(), B.parse().unwrap(), "2001:db8:ffff::1".parse().unwrap()))
        .unwrap()
}

fn run(e: &mut SitTunnel, p: &[u8], now: Instant) -> (Verdict<SitDrop>, Vec<u8>) {
    let mut buf = PacketBuf::from_slice(p);
    let v = e.process(&mut buf, now);
    (v, buf.to_vec())
}

#[test]
fn encapsulation_header_rfc4213_3_5() {
    let inner = udp6("2001:db8:a::2", "2001:db8:b::2", b"payload");
    let mut buf = PacketBuf::from_slice(&inner);
    let inner_ptr = buf.as_slice().as_ptr();
    assert_eq!(a().process(&mut buf, Instant::now()), Verdict::Forward(Side::V4));
    assert_eq!(buf[20..].as_ptr(), inner_ptr, "the inner packet is not copied");
    let h = &buf[..20];
    assert_eq!(h[0], 0x45);
    assert_eq!(h[1], 0, "DSCP not copied by default, inner Not-ECT");
    assert_eq!(u16::from_be_bytes([h[2], h[3]]) as usize, inner.len() + 20);
    assert_eq!(h[6] & 0x40, 0x40, "DF set (RFC 4213 §3.2)");
    assert_eq!(h[8], 64, "default TTL (RFC 4213 §3.3)");
    assert_eq!(h[9], 41, "protocol 41 (RFC 4213 §3.5)");
    assert_eq!(&h[12..16], &[192, 0, 2, 1]);
    assert_eq!(&h[16..20], &[198, 51, 100, 1]);
    assert_eq!(checksum::checksum(h), 0, "header checksum");
    assert_eq!(&buf[20..], &inner[..]);
}

#[test]
fn ttl_dscp_and_ecn_options() {
    let mut c = SitConfig::new_static(A.parse().unwrap(), B.parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    c.ttl = 17;
    c.copy_dscp = true;
    let mut e = SitTunnel::new(c.clone()).unwrap();
    // Traffic class: DSCP 46 (EF), ECN ECT(0).
    let mut inner = udp6("2001:db8:a::2", "2001:db8:b::2", b"x");
    let tc = (46u8 << 2) | 2;
    inner[0] = 0x60 | (tc >> 4);
    inner[1] = tc << 4;
    let (v, out) = run(&mut e, &inner, Instant::now());
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert_eq!((out[8], out[1]), (17, tc), "TTL 17, TOS = DSCP 46 + ECT(0) (RFC 6040 normal mode)");
    assert_eq!(checksum::checksum(&out[..20]), 0);
    c.ecn = EcnMode::Compatibility;
    c.copy_dscp = false;
    let mut e = SitTunnel::new(c).unwrap();
    let (_, out) = run(&mut e, &inner, Instant::now());
    assert_eq!(out[1], 0, "RFC 6040 compatibility mode: outer Not-ECT");
    assert_eq!(checksum::checksum(&out[..20]), 0);
}

/// RFC 6040 §4.2 Figure 4, every cell.
#[test]
fn ecn_decapsulation_table_rfc6040() {
    // rows: inner Not-ECT, ECT(0), ECT(1), CE; columns: outer Not-ECT, ECT(0), ECT(1), CE.
    let (n, e0, e1, ce) = (0u8, 2u8, 1u8, 3u8);
    let table = [
        (n, [Some(n), Some(n), Some(n), None]),
        (e0, [Some(e0), Some(e0), Some(e1), Some(ce)]),
        (e1, [Some(e1), Some(e1), Some(e1), Some(ce)]),
        (ce, [Some(ce), Some(ce), Some(ce), Some(ce)]),
    ];
    for (inner, row) in table {
        for (outer, want) in [n, e0, e1, ce].into_iter().zip(row) {
            assert_eq!(ecn_decap(inner, outer), want, "inner {inner} outer {outer}");
        }
    }
    // And through the engine: outer CE on an ECT(0) inner packet marks it CE.
    let mut inner = udp6("2001:db8:b::2", "2001:db8:a::2", b"x");
    inner[1] |= 2 << 4;
    let (v, out) = run(&mut a(), &encap(B, A, 3, &inner), Instant::now());
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!((out[1] >> 4) & 3, 3);
    // Outer CE on Not-ECT: dropped.
    let inner = udp6("2001:db8:b::2", "2001:db8:a::2", b"x");
    let mut e = a();
    let (v, _) = run(&mut e, &encap(B, A, 3, &inner), Instant::now());
    assert_eq!(v, Verdict::Drop(SitDrop::EcnCeOnNotEct));
}

#[test]
fn decapsulation_checks_rfc4213_3_6() {
    let now = Instant::now();
    let inner = udp6("2001:db8:b::2", "2001:db8:a::2", b"in");
    let mut e = a();
    let (v, out) = run(&mut e, &encap(B, A, 0, &inner), now);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!(out, inner);
    let cases: Vec<(Vec<u8>, SitDrop)> = vec![
        (encap("198.51.100.66", A, 0, &inner), SitDrop::WrongOuterSource),
        (encap(B, "192.0.2.99", 0, &inner), SitDrop::WrongOuterDestination),
        (
            {
                let mut p = ipv4_header(B.parse().unwrap(), A.parse().unwrap(), 4, inner.len(), 0, true).to_vec();
                p.extend_from_slice(&inner);
                p
            },
            SitDrop::NotProtocol41,
        ),
        (
            {
                let mut p = encap(B, A, 0, &inner);
                p[10] ^= 1;
                p
            },
            SitDrop::Ipv4HeaderChecksum,
        ),
        (
            {
                let mut p = encap(B, A, 0, &inner);
                p[6] = 0x20; // MF
                p[10] = 0;
                p[11] = 0;
                let c = checksum::checksum(&p[..20]);
                p[10..12].copy_from_slice(&c.to_be_bytes());
                p
            },
            SitDrop::OuterFragment,
        ),
        (encap(B, A, 0, &inner[..30]), SitDrop::InnerMalformed),
        (encap(B, A, 0, &[0x45; 60]), SitDrop::InnerMalformed),
        (encap(B, A, 0, &udp6("ff02::1", "2001:db8:a::2", b"m")), SitDrop::ForbiddenInnerSource),
        (encap(B, A, 0, &udp6("::1", "2001:db8:a::2", b"l")), SitDrop::ForbiddenInnerSource),
        (encap(B, A, 0, &udp6("::192.0.2.7", "2001:db8:a::2", b"c")), SitDrop::ForbiddenInnerSource),
        (encap(B, A, 0, &udp6("::ffff:192.0.2.7", "2001:db8:a::2", b"c")), SitDrop::ForbiddenInnerSource),
        (vec![0x45, 0, 0], SitDrop::Malformed),
        (vec![0x12; 50], SitDrop::Malformed),
    ];
    for (i, (p, want)) in cases.iter().enumerate() {
        let (v, _) = run(&mut e, p, now);
        assert_eq!(v, Verdict::Drop(*want), "case {i}");
    }
    for (_, want) in &cases {
        assert!(e.counters().dropped(*want) >= 1, "{want:?} counted");
    }
    assert_eq!(e.counters().dropped_total(), cases.len() as u64);
    assert_eq!(e.counters().forwarded, 1);
}

fn sixtofour() -> SitTunnel {
    SitTunnel::new(SitConfig::new_6to4("11.0.0.1".parse().unwrap(), Some("12.0.0.1".parse().unwrap()))).unwrap()
}

#[test]
fn sixtofour_checks_rfc3964_5_1() {
    let now = Instant::now();
    let mut e = sixtofour();
    let ours = "2002:b00:1:1::1"; // 11.0.0.1's 6to4 prefix
                                  // A 6to4 peer 13.0.0.1 = 2002:d00:1::/48 sending from its own prefix: accepted.
    let ok = udp6("2002:d00:1::5", ours, b"ok");
    assert_eq!(run(&mut e, &encap("13.0.0.1", "11.0.0.1", 0, &ok), now).0, Verdict::Forward(Side::V6));
    // The same inner source from another IPv4 source: spoofed.
    assert_eq!(run(&mut e, &encap("13.0.0.2", "11.0.0.1", 0, &ok), now).0, Verdict::Drop(SitDrop::Spoofed6to4));
    // ... unless it comes from the relay.
    assert_eq!(run(&mut e, &encap("12.0.0.1", "11.0.0.1", 0, &ok), now).0, Verdict::Forward(Side::V6));
    // A 6to4 source embedding a private address.
    let p = udp6("2002:a00:1::5", ours, b"p");
    assert_eq!(run(&mut e, &encap("10.0.0.1", "11.0.0.1", 0, &p), now).0, Verdict::Drop(SitDrop::NonGlobal6to4));
    // A native source is accepted from the relay only.
    let n = udp6("2001:db8:b::2", ours, b"n");
    assert_eq!(run(&mut e, &encap("12.0.0.1", "11.0.0.1", 0, &n), now).0, Verdict::Forward(Side::V6));
    assert_eq!(run(&mut e, &encap("13.0.0.1", "11.0.0.1", 0, &n), now).0, Verdict::Drop(SitDrop::NotFromRelay));
    // IPv4-compatible, loopback, multicast sources.
    for s in ["::13.0.0.1", "::1", "ff0e::1"] {
        let p = udp6(s, ours, b"x");
        let v = run(&mut e, &encap("12.0.0.1", "11.0.0.1", 0, &p), now).0;
        assert_eq!(v, Verdict::Drop(SitDrop::ForbiddenInnerSource), "{s}");
    }
    // An inner destination outside our 6to4 prefix.
    let p = udp6("2002:d00:1::5", "2002:d00:2::1", b"x");
    assert_eq!(
        run(&mut e, &encap("13.0.0.1", "11.0.0.1", 0, &p), now).0,
        Verdict::Drop(SitDrop::InnerDestinationNotOurs)
    );
}

#[test]
fn sixtofour_destination_choice() {
    let now = Instant::now();
    let mut e = sixtofour();
    // 2002:c633:6401:: embeds 198.51.100.1 — documentation space, not global: refused.
    let (v, _) = run(&mut e, &udp6("2002:b00:1::1", "2002:c633:6401::1", b"x"), now);
    assert_eq!(v, Verdict::Drop(SitDrop::NonGlobal6to4));
    // 2002:d00:1:: embeds 13.0.0.1: sent there.
    let (v, out) = run(&mut e, &udp6("2002:b00:1::1", "2002:d00:1::1", b"x"), now);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert_eq!(&out[16..20], &[13, 0, 0, 1]);
    // Native destination: the relay.
    let (v, out) = run(&mut e, &udp6("2002:b00:1::1", "2001:db8::1", b"x"), now);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert_eq!(&out[16..20], &[12, 0, 0, 1]);
    // No relay: dropped; the deprecated anycast relay is warned about (RFC 7526).
    let c = SitConfig::new_6to4("11.0.0.1".parse().unwrap(), None);
    assert!(c.warnings().iter().any(|w| w.contains("no 6to4 relay")));
    let mut e = SitTunnel::new(c).unwrap();
    let (v, _) = run(&mut e, &udp6("2002:b00:1::1", "2001:db8::1", b"x"), now);
    assert_eq!(v, Verdict::Drop(SitDrop::NoRelay));
    let c = SitConfig::new_6to4("11.0.0.1".parse().unwrap(), Some(Ipv4Addr::new(192, 88, 99, 1)));
    assert!(c.warnings().iter().any(|w| w.contains("RFC 7526")));
    // 6to4 needs a global local address.
    assert!(SitConfig::new_6to4("10.1.1.1".parse().unwrap(), None).validate().is_err());
}

fn check_ptb(out: &[u8], to: &str, mtu: u32) {
    assert_eq!((out[0] >> 4, out[6], out[40], out[41]), (6, 58, 2, 0));
    assert!(out.len() <= 1280);
    assert_eq!(&out[24..40], &to.parse::<std::net::Ipv6Addr>().unwrap().octets());
    assert_eq!(u32::from_be_bytes([out[44], out[45], out[46], out[47]]), mtu);
    let src = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&out[8..24]).unwrap());
    let dst = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&out[24..40]).unwrap());
    let s = checksum::add(checksum::pseudo_v6(src, dst, 58, (out.len() - 40) as u32), checksum::sum(&out[40..]));
    assert_eq!(checksum::finish(s), 0, "ICMPv6 checksum");
}

#[test]
fn tunnel_mtu_and_packet_too_big_rfc4213_3_2() {
    let now = Instant::now();
    let mut e = a();
    // 1480 bytes pass (1500-byte outer packet), 1481 get Packet Too Big 1480.
    let fits = udp6("2001:db8:a::2", "2001:db8:b::2", &[0u8; 1480 - 48]);
    let (v, out) = run(&mut e, &fits, now);
    assert_eq!((v, out.len()), (Verdict::Forward(Side::V4), 1500));
    let big = udp6("2001:db8:a::2", "2001:db8:b::2", &[0u8; 1481 - 48]);
    let (v, out) = run(&mut e, &big, now);
    assert_eq!(v, Verdict::Reply(Side::V6));
    check_ptb(&out, "2001:db8:a::2", 1480);
    assert_eq!(&out[48..], &big[..1280 - 48], "quotes as much as fits in 1280 bytes");
    assert_eq!(e.counters().answered(SitDrop::TooBig), 1);
    assert_eq!(e.counters().replied, 1);
    // RFC 4443 §2.4(e): never about an ICMPv6 error.
    let mut err = udp6("2001:db8:a::2", "2001:db8:b::2", &[0u8; 1500]);
    err[6] = 58;
    err[40] = 1;
    assert_eq!(run(&mut e, &err, now).0, Verdict::Drop(SitDrop::TooBig));
    assert_eq!(e.icmp_suppressed(), 1);
}

#[test]
fn packet_too_big_is_rate_limited() {
    let mut c = SitConfig::new_static(A.parse().unwrap(), B.parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    c.icmp_rate.per_second = 10;
    c.icmp_rate.burst = 3;
    let mut e = SitTunnel::new(c).unwrap();
    let big = udp6("2001:db8:a::2", "2001:db8:b::2", &[0u8; 1500]);
    let t0 = Instant::now();
    let replies = (0..10).filter(|_| matches!(run(&mut e, &big, t0).0, Verdict::Reply(_))).count();
    assert_eq!(replies, 3, "burst of 3");
    assert_eq!(e.icmp_suppressed(), 7);
    // 100 ms later one token more (10 per second).
    let replies =
        (0..5).filter(|_| matches!(run(&mut e, &big, t0 + Duration::from_millis(100)).0, Verdict::Reply(_))).count();
    assert_eq!(replies, 1);
    // Every refusal counted once: answered while the rate allows, silent after.
    let c = e.counters();
    assert_eq!(c.answered(SitDrop::TooBig) + c.dropped(SitDrop::TooBig), 15, "{c}");
    assert_eq!(c.answered(SitDrop::TooBig), c.replied, "{c}");
}

/// An outer packet of ours as a router would quote it.
fn our_outer(inner_len: usize) -> Vec<u8> {
    let inner = udp6("2001:db8:a::2", "2001:db8:b::2", &vec![0u8; inner_len - 48]);
    encap(A, B, 0, &inner)
}

#[test]
fn path_mtu_from_fragmentation_needed() {
    let t0 = Instant::now();
    let mut e = a();
    let outer = our_outer(1480);
    // A router on the path: next-hop MTU 1400, quoting 576 bytes (RFC 1812).
    let fne = frag_needed("203.0.113.1", A, 1400, &outer, 576 - 28);
    let (v, out) = run(&mut e, &fne, t0);
    // The quoted inner packet (1480) no longer fits 1380: relayed as Packet Too Big.
    assert_eq!(v, Verdict::Reply(Side::V6));
    check_ptb(&out, "2001:db8:a::2", 1380);
    assert_eq!(e.path_mtu(B.parse().unwrap(), t0), Some(1400));
    assert_eq!(e.counters().answered(SitDrop::PathMtuLearned), 1);
    // Later senders get Packet Too Big 1380; 1380 bytes pass with DF.
    let (v, out) = run(&mut e, &udp6("2001:db8:c::9", "2001:db8:b::2", &[0u8; 1381 - 48]), t0);
    assert_eq!(v, Verdict::Reply(Side::V6));
    check_ptb(&out, "2001:db8:c::9", 1380);
    let (v, out) = run(&mut e, &udp6("2001:db8:c::9", "2001:db8:b::2", &[0u8; 1380 - 48]), t0);
    assert_eq!((v, out.len(), out[6] & 0x40), (Verdict::Forward(Side::V4), 1400, 0x40));
    // The entry expires after 10 minutes.
    assert_eq!(e.poll_timeout(), Some(t0 + Duration::from_secs(600)));
    e.handle_timeout(t0 + Duration::from_secs(599));
    assert_eq!(e.path_mtu_entries(), 1);
    e.handle_timeout(t0 + Duration::from_secs(600));
    assert_eq!((e.path_mtu_entries(), e.poll_timeout()), (0, None));
    let (v, _) = run(&mut e, &udp6("2001:db8:c::9", "2001:db8:b::2", &[0u8; 1480 - 48]), t0 + Duration::from_secs(600));
    assert_eq!(v, Verdict::Forward(Side::V4));
}

#[test]
fn fragmentation_needed_not_about_us_is_ignored() {
    let t0 = Instant::now();
    let mut e = a();
    // Quoting a packet from another source, or to another destination, or not protocol 41.
    for quoted in [encap("192.0.2.7", B, 0, &[0x60; 48]), encap(A, "198.51.100.7", 0, &[0x60; 48]), {
        let mut p = encap(A, B, 0, &[0x60; 48]);
        p[9] = 17;
        p
    }] {
        let (v, _) = run(&mut e, &frag_needed("203.0.113.1", A, 1300, &quoted, 48), t0);
        assert_eq!(v, Verdict::Drop(SitDrop::IcmpNotForUs));
    }
    // Other ICMP messages: not used.
    let mut echo = frag_needed("203.0.113.1", A, 0, &our_outer(1480), 28);
    echo[20] = 8;
    echo[22] = 0;
    echo[23] = 0;
    let c = checksum::checksum(&echo[20..]);
    echo[22..24].copy_from_slice(&c.to_be_bytes());
    assert_eq!(run(&mut e, &echo, t0).0, Verdict::Drop(SitDrop::IcmpNotForUs));
    assert_eq!(e.path_mtu_entries(), 0);
}

#[test]
fn below_1280_the_outer_packet_is_fragmented() {
    let t0 = Instant::now();
    let mut e = a();
    // A 576-byte path; the quote of only 28 bytes has no inner header: nothing relayed.
    let (v, _) = run(&mut e, &frag_needed("203.0.113.1", A, 576, &our_outer(1480), 28), t0);
    assert_eq!(v, Verdict::Drop(SitDrop::PathMtuLearned));
    // Larger than 1280: Packet Too Big 1280, never less (RFC 4213 §3.2).
    let (v, out) = run(&mut e, &udp6("2001:db8:a::2", "2001:db8:b::2", &[1u8; 1281 - 48]), t0);
    assert_eq!(v, Verdict::Reply(Side::V6));
    check_ptb(&out, "2001:db8:a::2", 1280);
    // 1280 bytes: encapsulated without DF and fragmented to 576.
    let inner = udp6("2001:db8:a::2", "2001:db8:b::2", &(0..1280 - 48).map(|i| i as u8).collect::<Vec<_>>());
    let mut buf = PacketBuf::from_slice(&inner);
    assert_eq!(e.process(&mut buf, t0), Verdict::Forward(Side::V4));
    let mut frags = vec![buf.to_vec()];
    while e.poll_transmit(&mut buf) == Some(Side::V4) {
        frags.push(buf.to_vec());
    }
    assert_eq!(frags.len(), 3);
    let mut whole = Vec::new();
    for (i, f) in frags.iter().enumerate() {
        assert!(f.len() <= 576);
        assert_eq!(checksum::checksum(&f[..20]), 0);
        assert_eq!(f[6] & 0x40, 0, "DF clear");
        assert_eq!(f[6] & 0x20 != 0, i + 1 < frags.len(), "MF on all but the last");
        assert_eq!(usize::from(u16::from_be_bytes([f[6], f[7]]) & 0x1fff) * 8, whole.len());
        assert_eq!(usize::from(u16::from_be_bytes([f[2], f[3]])), f.len());
        whole.extend_from_slice(&f[20..]);
    }
    assert_eq!(whole, inner);
    // 0 advertised (pre-RFC 1191 router): the plateau below the quoted length 1500 is 1492.
    let mut e = a();
    let (v, _) = run(&mut e, &frag_needed("203.0.113.1", A, 0, &our_outer(1480), 28), t0);
    assert_eq!(v, Verdict::Drop(SitDrop::PathMtuLearned));
    assert_eq!(e.path_mtu(B.parse().unwrap(), t0), Some(1492));
}

#[test]
fn configuration_limits() {
    let mut c = SitConfig::new_static(A.parse().unwrap(), B.parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    c.link_mtu = 1299;
    assert!(c.validate().is_err(), "tunnel MTU 1279 < 1280");
    c.link_mtu = 9000;
    assert_eq!(c.tunnel_mtu(), 8980);
    c.mtu = Some(1400);
    assert_eq!(c.tunnel_mtu(), 1400);
    c.validate().unwrap();
    c.ttl = 0;
    assert!(c.validate().is_err());
}
