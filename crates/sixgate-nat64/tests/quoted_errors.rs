//! Every ICMP error the translators originate about a packet quotes that packet byte for
//! byte as it arrived: no rewritten transport checksum, no translated ICMP type, no
//! decremented TTL (RFC 7915 §1.4, §4.4, §5.4; RFC 1812 §4.3.2.3; RFC 4443 §3.2). Both
//! directions, through the stateless translator and through the stateful one (RFC 6146
//! §3.5 applies RFC 7915 to its packets).

mod common;

use std::time::Instant;

use common::*;
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_core::Protocol;
use sixgate_nat64::{Nat64, Nat64Config, Nat64Drop, Pool4Range, Siit, SiitDrop as R};
use sixgate_testkit::packets::*;

// Stateless: 192.0.2.10 (IPv4 side) ↔ 2001:db8:64::c633:6414 (IPv6 side, 198.51.100.20).
const V4H: &str = "192.0.2.10";
const V4H6: &str = "2001:db8:64::c000:20a";
const V6H: &str = "2001:db8:64::c633:6414";
const V6H4: &str = "198.51.100.20";

/// Checks an ICMPv4 error `out` of type/code `tc` (from the translator, IPv4 and ICMP
/// checksums right) and that it quotes `orig` as it arrived, as much as fits in 576 bytes.
fn quotes4(out: &[u8], tc: (u8, u8), orig: &[u8], what: &str) {
    v4l4ok(out);
    assert_eq!(out[9], 1, "{what}: ICMPv4");
    assert_eq!((out[20], out[21]), tc, "{what}: type and code");
    let n = orig.len().min(576 - 28);
    assert_eq!(out.len(), 28 + n, "{what}: length");
    assert_eq!(&out[28..], &orig[..n], "{what}: the quote is the packet as it arrived");
}

/// The ICMPv6 counterpart of [`quotes4`] (1280 bytes at most).
fn quotes6(out: &[u8], tc: (u8, u8), orig: &[u8], what: &str) {
    v6ok(out);
    assert_eq!(out[6], 58, "{what}: ICMPv6");
    assert_eq!((out[40], out[41]), tc, "{what}: type and code");
    let n = orig.len().min(1280 - 48);
    assert_eq!(out.len(), 48 + n, "{what}: length");
    assert_eq!(&out[48..], &orig[..n], "{what}: the quote is the packet as it arrived");
}

/// What is sent, the error type and code expected, and the reason counted.
type Case = (&'static str, Vec<u8>, (u8, u8), R);

fn set_ttl4(mut p: Vec<u8>, ttl: u8) -> Vec<u8> {
    p[8] = ttl;
    fix_ipv4_checksum(&mut p);
    p
}

fn set_df4(mut p: Vec<u8>) -> Vec<u8> {
    p[6] |= 0x40;
    fix_ipv4_checksum(&mut p);
    p
}

/// `p` with a Loose Source Route option (RFC 791) after its header, pointer `ptr` (4:
/// unexpired, 8: expired).
fn with_source_route4(p: &[u8], ptr: u8) -> Vec<u8> {
    let mut out = p[..20].to_vec();
    out.extend_from_slice(&[131, 7, ptr, 203, 0, 113, 1, 0]);
    out.extend_from_slice(&p[20..]);
    out[0] = 0x47;
    let total = out.len() as u16;
    out[2..4].copy_from_slice(&total.to_be_bytes());
    fix_ipv4_checksum(&mut out);
    out
}

fn set_hop6(mut p: Vec<u8>, hop: u8) -> Vec<u8> {
    p[7] = hop;
    p
}

/// `p` with an 8-byte extension header `nh` (with `body` after its Next Header and
/// length octets) in front of its upper layer.
fn with_ext6(p: &[u8], nh: u8, body: [u8; 6]) -> Vec<u8> {
    let mut out = p[..40].to_vec();
    out[6] = nh;
    out.push(p[6]);
    out.push(0);
    out.extend_from_slice(&body);
    out.extend_from_slice(&p[40..]);
    let pl = (out.len() - 40) as u16;
    out[4..6].copy_from_slice(&pl.to_be_bytes());
    out
}

/// A first fragment (M set) whose Fragment Header is followed by Destination Options.
fn ext_after_fragment6(p: &[u8]) -> Vec<u8> {
    let with_dst = with_ext6(p, 60, [1, 4, 0, 0, 0, 0]);
    let mut out = p[..40].to_vec();
    out[6] = 44;
    out.extend_from_slice(&[60, 0, 0, 1, 0, 0, 0, 9]);
    out.extend_from_slice(&with_dst[40..]);
    let pl = (out.len() - 40) as u16;
    out[4..6].copy_from_slice(&pl.to_be_bytes());
    out
}

fn siit_with(f: impl FnOnce(&mut sixgate_nat64::SiitConfig)) -> Siit {
    let mut c = config();
    f(&mut c);
    Siit::new(c).unwrap()
}

#[test]
fn stateless_icmpv4_errors_quote_the_packet_as_received() {
    // 1481-byte IPv4 packets with DF set: 1501 bytes as IPv6, over the 1500-byte MTU.
    let cases: Vec<Case> = vec![
        ("TTL 1", set_ttl4(udp4(V4H, V6H4, 53, b"ttl"), 1), (11, 0), R::TtlExceeded),
        ("TTL 1, TCP", set_ttl4(tcp4(V4H, V6H4, 80, b"ttl"), 1), (11, 0), R::TtlExceeded),
        ("source route", with_source_route4(&udp4(V4H, V6H4, 53, b"lsrr"), 4), (3, 5), R::SourceRoute),
        (
            "UDP checksum zero",
            {
                let mut p = udp4(V4H, V6H4, 53, b"zero");
                p[26] = 0;
                p[27] = 0;
                p
            },
            (3, 13),
            R::UdpZeroChecksum,
        ),
        ("DF TCP too big", tcp4(V4H, V6H4, 80, &[7; 1481 - 40]), (3, 4), R::TooBig),
        ("DF UDP too big", udp4(V4H, V6H4, 53, &[7; 1481 - 28]), (3, 4), R::TooBig),
        ("DF echo too big", set_df4(echo4(V4H, V6H4, 9, 1, &[7; 1481 - 28])), (3, 4), R::TooBig),
        // An expired source route is ignored (RFC 7915 §4.1), and quoted like the rest.
        (
            "DF TCP too big, with options",
            with_source_route4(&tcp4(V4H, V6H4, 80, &[7; 1489 - 48]), 8),
            (3, 4),
            R::TooBig,
        ),
    ];
    for (what, pkt, tc, reason) in cases {
        let mut s = siit();
        let (v, out) = run(&mut s, &pkt);
        assert_eq!(v, Verdict::Reply(Side::V4), "{what}");
        quotes4(&out, tc, &pkt, what);
        assert_eq!((src4(&out), dst4(&out)), (a4("198.51.100.1"), a4(V4H)), "{what}: from the translator");
        assert_eq!(s.counters().answered(reason), 1, "{what}");
    }
}

#[test]
fn stateless_icmpv6_errors_quote_the_packet_as_received() {
    let cases: Vec<Case> = vec![
        ("TCP too big", tcp6(V6H, V4H6, 80, &[7; 1400 - 60]), (2, 0), R::TooBig),
        ("UDP too big", udp6(V6H, V4H6, 53, &[7; 1400 - 48]), (2, 0), R::TooBig),
        ("echo too big", echo6(V6H, V4H6, 3, 4, &[7; 1400 - 48]), (2, 0), R::TooBig),
        (
            "TCP too big, behind Destination Options",
            with_ext6(&tcp6(V6H, V4H6, 80, &[7; 1400 - 68]), 60, [1, 4, 0, 0, 0, 0]),
            (2, 0),
            R::TooBig,
        ),
        ("hop limit 1", set_hop6(udp6(V6H, V4H6, 53, b"hop"), 1), (3, 0), R::HopLimitExceeded),
        ("hop limit 1, echo", set_hop6(echo6(V6H, V4H6, 3, 4, b"hop"), 1), (3, 0), R::HopLimitExceeded),
        (
            "routing header, segments left 1",
            with_ext6(&udp6(V6H, V4H6, 53, b"rh"), 43, [0, 1, 0, 0, 0, 0]),
            (4, 0),
            R::RoutingHeader,
        ),
        (
            "extension header after the Fragment Header",
            ext_after_fragment6(&udp6(V6H, V4H6, 53, b"frag")),
            (1, 1),
            R::ExtensionAfterFragment,
        ),
    ];
    for (what, pkt, tc, reason) in cases {
        // IPv4 MTU 1280: the 1400-byte packets (DF set above 1260 bytes) do not fit.
        let mut s = siit_with(|c| c.ipv4_mtu = 1280);
        let (v, out) = run(&mut s, &pkt);
        assert_eq!(v, Verdict::Reply(Side::V6), "{what}");
        quotes6(&out, tc, &pkt, what);
        assert_eq!((src6(&out), dst6(&out)), (a6("2001:db8::1"), a6(V6H)), "{what}: from the translator");
        assert_eq!(s.counters().answered(reason), 1, "{what}");
    }
}

// ---------------------------------------------------------------- stateful

const C: &str = "2001:db8::10";
const S: &str = "64:ff9b:1::cb00:7105"; // 203.0.113.5
const S4: &str = "203.0.113.5";
const P4: &str = "198.51.100.1";

fn nat64_with(f: impl FnOnce(&mut Nat64Config)) -> Nat64 {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 1024, 65535)];
    let mut c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    c.filtering = sixgate_nat64::Filtering::EndpointIndependent;
    f(&mut c);
    Nat64::new(c).unwrap()
}

fn send(e: &mut Nat64, pkt: &[u8], now: Instant) -> (Verdict<Nat64Drop>, Vec<u8>) {
    let mut b = PacketBuf::from_slice(pkt);
    let v = e.process(&mut b, now);
    (v, b.to_vec())
}

fn port_at(p: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([p[o], p[o + 1]])
}

#[test]
fn stateful_icmpv4_errors_quote_the_packet_as_received() {
    let now = Instant::now();
    let mut e = nat64_with(|c| c.xlate.ipv6_mtu = 1280);
    // Sessions: UDP 40000 → 53, TCP 40001 → 80 (established), echo identifier 77.
    let (v, o) = send(&mut e, &udp6_ports(C, S, 40000, 53, b"q"), now);
    assert_eq!(v, Verdict::Forward(Side::V4));
    let pu = port_at(&o, 20);
    let (_, o) = send(&mut e, &tcp6_flags(C, S, 40001, 80, 0x02), now);
    let pt = port_at(&o, 20);
    let (v, _) = send(&mut e, &tcp4_flags(S4, P4, 80, pt, 0x12), now);
    assert_eq!(v, Verdict::Forward(Side::V6));
    let (_, o) = send(&mut e, &echo6(C, S, 77, 1, b"ping"), now);
    let pe = port_at(&o, 24);
    let mut tcp_big = tcp4(S4, P4, 80, &[7; 1300 - 40]);
    tcp_big[20..22].copy_from_slice(&80u16.to_be_bytes());
    tcp_big[22..24].copy_from_slice(&pt.to_be_bytes());
    let tcp_big = refill_tcp4(tcp_big);
    let cases: Vec<Case> = vec![
        ("TTL 1", set_ttl4(udp4_ports(S4, P4, 53, pu, b"ttl"), 1), (11, 0), R::TtlExceeded),
        (
            "UDP checksum zero",
            {
                let mut p = udp4_ports(S4, P4, 53, pu, b"zero");
                p[26] = 0;
                p[27] = 0;
                p
            },
            (3, 13),
            R::UdpZeroChecksum,
        ),
        // IPv6 MTU 1280: 1300-byte IPv4 packets with DF set do not fit.
        ("DF UDP too big", udp4_ports(S4, P4, 53, pu, &[7; 1300 - 28]), (3, 4), R::TooBig),
        ("DF TCP too big", tcp_big, (3, 4), R::TooBig),
        ("DF echo reply too big", set_df4(echo_reply4(S4, P4, pe, 1, &[7; 1300 - 28])), (3, 4), R::TooBig),
    ];
    for (what, pkt, tc, reason) in cases {
        let before = e.counters().answered(Nat64Drop::Xlate(reason));
        let (v, out) = send(&mut e, &pkt, now);
        assert_eq!(v, Verdict::Reply(Side::V4), "{what}");
        quotes4(&out, tc, &pkt, what);
        assert_eq!(dst4(&out), a4(S4), "{what}");
        assert_eq!(e.counters().answered(Nat64Drop::Xlate(reason)), before + 1, "{what}");
    }
}

/// The TCP checksum of an IPv4 packet recomputed after a test changed its ports.
fn refill_tcp4(mut p: Vec<u8>) -> Vec<u8> {
    use sixgate_core::checksum::{add, finish, pseudo_v4, sum};
    p[36] = 0;
    p[37] = 0;
    let l4 = &p[20..];
    let c = finish(add(pseudo_v4(src4(&p), dst4(&p), 6, l4.len() as u16), sum(l4)));
    p[36..38].copy_from_slice(&c.to_be_bytes());
    p
}

#[test]
fn stateful_icmpv6_errors_quote_the_packet_as_received() {
    let now = Instant::now();
    let mut e = nat64_with(|c| c.xlate.ipv4_mtu = 1280);
    // An established TCP session for the data segment below.
    let (_, o) = send(&mut e, &tcp6_flags(C, S, 40000, 80, 0x02), now);
    let (v, _) = send(&mut e, &tcp4_flags(S4, P4, 80, port_at(&o, 20), 0x12), now);
    assert_eq!(v, Verdict::Forward(Side::V6));
    let cases: Vec<Case> = vec![
        // IPv4 MTU 1280: 1400-byte packets (DF set above 1260 bytes) do not fit.
        ("UDP too big", udp6_ports(C, S, 40005, 53, &[7; 1400 - 48]), (2, 0), R::TooBig),
        ("TCP too big", tcp6(C, S, 80, &[7; 1400 - 60]), (2, 0), R::TooBig),
        ("echo too big", echo6(C, S, 78, 1, &[7; 1400 - 48]), (2, 0), R::TooBig),
        ("hop limit 1", set_hop6(udp6_ports(C, S, 40002, 53, b"hop"), 1), (3, 0), R::HopLimitExceeded),
        (
            "routing header, segments left 1",
            with_ext6(&udp6_ports(C, S, 40003, 53, b"rh"), 43, [0, 1, 0, 0, 0, 0]),
            (4, 0),
            R::RoutingHeader,
        ),
        (
            "extension header after the Fragment Header",
            ext_after_fragment6(&udp6_ports(C, S, 40004, 53, b"frag")),
            (1, 1),
            R::ExtensionAfterFragment,
        ),
    ];
    for (what, pkt, tc, reason) in cases {
        let before = e.counters().answered(Nat64Drop::Xlate(reason));
        let (v, out) = send(&mut e, &pkt, now);
        assert_eq!(v, Verdict::Reply(Side::V6), "{what}");
        quotes6(&out, tc, &pkt, what);
        assert_eq!((src6(&out), dst6(&out)), (a6("2001:db8:ffff::1"), a6(C)), "{what}: from the translator");
        assert_eq!(e.counters().answered(Nat64Drop::Xlate(reason)), before + 1, "{what}");
    }
    // No session was left behind by the packets that were refused.
    assert_eq!(e.binding(Protocol::Udp, a6(C), 40005), None);
}
