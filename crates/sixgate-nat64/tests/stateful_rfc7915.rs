//! The header and ICMP rules of RFC 7915 through the stateful translator, which applies
//! them to its packets (RFC 6146 §3.5): extension headers after a Fragment Header, the
//! identification of an ICMPv6 error that came with a Fragment Header, and RFC 4884
//! extensions that do not fit.

mod common;

use std::time::Instant;

use common::{a4, a6, dst4, dst6, src4, v4l4ok, v6ok};
use sixgate_core::buf::PacketBuf;
use sixgate_core::checksum::{finish, sum};
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_core::Protocol;
use sixgate_nat64::{Filtering, Nat64, Nat64Config, Nat64Drop, Pool4Range, SiitDrop as R};
use sixgate_testkit::packets::*;

const C: &str = "2001:db8::10";
const S: &str = "64:ff9b:1::cb00:7105"; // 203.0.113.5
const S4: &str = "203.0.113.5";
const R4: &str = "203.0.113.99"; // a router on the IPv4 side
const P4: &str = "198.51.100.1";

fn nat64() -> Nat64 {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 1024, 65535)];
    let mut c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    c.filtering = Filtering::EndpointIndependent;
    Nat64::new(c).unwrap()
}

fn send(e: &mut Nat64, pkt: &[u8]) -> (Verdict<Nat64Drop>, Vec<u8>) {
    let mut b = PacketBuf::from_slice(pkt);
    let v = e.process(&mut b, Instant::now());
    (v, b.to_vec())
}

/// A UDP session from the client's port 40000 to the server's port 53; its pool port.
fn udp_session(e: &mut Nat64) -> u16 {
    let (v, o) = send(e, &udp6_ports(C, S, 40000, 53, b"q"));
    assert_eq!(v, Verdict::Forward(Side::V4));
    u16::from_be_bytes([o[20], o[21]])
}

/// An RFC 4884 extension structure (version 2, valid checksum) of `len` bytes.
fn extension(len: usize, fill: u8) -> Vec<u8> {
    let mut e = vec![0x20, 0, 0, 0];
    e.extend_from_slice(&((len - 4) as u16).to_be_bytes());
    e.extend_from_slice(&[0xfe, 1]);
    e.resize(len, fill);
    let c = finish(sum(&e));
    e[2..4].copy_from_slice(&c.to_be_bytes());
    e
}

#[test]
fn extension_header_after_fragment_header_is_refused_without_state() {
    let mut e = nat64();
    for ext in [0u8, 43, 60, 44] {
        let inner = udp6_ports(C, S, 40000, 53, b"x");
        let mut pkt = inner[..40].to_vec();
        pkt[6] = 44;
        // An atomic fragment (offset 0, M clear), then the extension header, then UDP.
        pkt.extend_from_slice(&[ext, 0, 0, 0, 0, 0, 0, 5]);
        pkt.extend_from_slice(&[17, 0, 0, 0, 0, 0, 0, 0]);
        pkt.extend_from_slice(&inner[40..]);
        let pl = (pkt.len() - 40) as u16;
        pkt[4..6].copy_from_slice(&pl.to_be_bytes());
        let (v, out) = send(&mut e, &pkt);
        assert_eq!(v, Verdict::Reply(Side::V6), "ext {ext}");
        v6ok(&out);
        assert_eq!((out[40], out[41]), (1, 1), "administratively prohibited, not Parameter Problem: ext {ext}");
        assert_eq!(&out[44..48], &[0; 4]);
        assert_eq!(&out[48..], &pkt[..]);
        assert_eq!(dst6(&out), a6(C));
    }
    assert_eq!(e.counters().answered(Nat64Drop::Xlate(R::ExtensionAfterFragment)), 4);
    // Nothing was mapped for them.
    assert_eq!(e.binding(Protocol::Udp, a6(C), 40000), None);
}

/// RFC 7915 §5.1.1 (through RFC 6146 §3.5): AH after the Fragment Header is refused like
/// any extension header but ESP; ESP is translated.
#[test]
fn ah_after_fragment_header_is_refused_esp_is_not() {
    let mut e = nat64();
    let inner = udp6_ports(C, S, 40001, 53, b"x");
    let build = |ext: u8| {
        let mut pkt = inner[..40].to_vec();
        pkt[6] = 44;
        pkt.extend_from_slice(&[ext, 0, 0, 0, 0, 0, 0, 6]);
        pkt.extend_from_slice(&[17, 0, 0, 0, 0, 0, 0, 0]);
        pkt.extend_from_slice(&inner[40..]);
        let pl = (pkt.len() - 40) as u16;
        pkt[4..6].copy_from_slice(&pl.to_be_bytes());
        pkt
    };
    let pkt = build(51);
    let (v, out) = send(&mut e, &pkt);
    assert_eq!(v, Verdict::Reply(Side::V6));
    v6ok(&out);
    assert_eq!((out[40], out[41]), (1, 1));
    assert_eq!(&out[48..], &pkt[..]);
    assert_eq!(e.counters().answered(Nat64Drop::Xlate(R::ExtensionAfterFragment)), 1);
    // ESP: not refused as an extension after the Fragment Header (the stateful
    // translator has no mapping for it, so it is not forwarded either).
    let (v, _) = send(&mut e, &build(50));
    assert_ne!(v, Verdict::Reply(Side::V6));
    assert_eq!(e.counters().answered(Nat64Drop::Xlate(R::ExtensionAfterFragment)), 1);
}

#[test]
fn icmp6_error_in_a_fragment_header_keeps_its_identification() {
    let mut e = nat64();
    let pu = udp_session(&mut e);
    // The client answers the server's datagram with Port Unreachable, in an atomic fragment.
    let inner = udp6_ports(S, C, 53, 40000, b"reply");
    let err = icmp6(C, S, 1, 4, [0; 4], &inner);
    let [pkt] = <[Vec<u8>; 1]>::try_from(frag6_at(&err, 0x1234_abcd, &[])).unwrap();
    let (v, out) = send(&mut e, &pkt);
    assert_eq!(v, Verdict::Forward(Side::V4));
    v4l4ok(&out);
    assert_eq!((out[20], out[21]), (3, 3));
    assert_eq!(u16::from_be_bytes([out[4], out[5]]), 0xabcd, "RFC 7915 §5.1.1: low 16 bits");
    assert_eq!(u16::from_be_bytes([out[6], out[7]]), 0, "DF clear");
    assert_eq!((src4(&out), dst4(&out)), (a4(P4), a4(S4)));
    // The quoted datagram goes to the pool port.
    assert_eq!(u16::from_be_bytes([out[50], out[51]]), pu);
}

#[test]
fn rfc4884_extensions_that_do_not_fit_trim_the_original_datagram() {
    let mut e = nat64();
    let pu = udp_session(&mut e);
    // 4→6: a router's Time Exceeded about a 1000-byte datagram the pool address sent, with
    // 300 bytes of extension.
    let inner = udp4_ports(P4, S4, pu, 53, &[0x5a; 1000 - 28]);
    let ext = extension(300, 0x11);
    let mut data = inner.clone();
    data.extend_from_slice(&ext);
    let (v, out) = send(&mut e, &icmp4(R4, P4, 11, 0, [0, (1000 / 4) as u8, 0, 0], &data));
    assert_eq!(v, Verdict::Forward(Side::V6));
    v6ok(&out);
    let field = usize::from(out[44]) * 8;
    assert_eq!(field, (1280 - 48 - 300) / 8 * 8);
    assert_eq!(out.len(), 48 + field + 300);
    assert_eq!(&out[48 + field..], &ext[..], "the extension, whole");
    assert_eq!(dst6(&out), a6(C));
    assert_eq!(u16::from_be_bytes([out[88], out[89]]), 40000, "the quoted datagram's source is the client's port");

    // 6→4: the client's Destination Unreachable about a 1000-byte datagram from the
    // server, with 200 bytes of extension.
    let inner6 = udp6_ports(S, C, 53, 40000, &[0x5a; 1000 - 48]);
    let ext = extension(200, 0x22);
    let mut data = inner6.clone();
    data.extend_from_slice(&ext);
    let (v, out) = send(&mut e, &icmp6(C, S, 1, 4, [(1000 / 8) as u8, 0, 0, 0], &data));
    assert_eq!(v, Verdict::Forward(Side::V4));
    v4l4ok(&out);
    assert_eq!(out.len(), 576);
    let field = usize::from(out[25]) * 4;
    assert_eq!(field, 576 - 28 - 200);
    assert_eq!(&out[28 + field..], &ext[..]);
    assert_eq!(u16::from_be_bytes([out[50], out[51]]), pu, "the quoted datagram's destination is the pool port");
}

/// RFC 4443 §2.4(e.1), RFC 7915 §5.4 (through RFC 6146 §3.5): no ICMPv6 error about an
/// ICMPv6 error behind a Hop-by-Hop header (hop limit 1), and none about an ICMPv6 message
/// refused for an extension header after its Fragment Header.
#[test]
fn no_icmpv6_error_about_icmpv6_behind_extension_headers() {
    let mut e = nat64();
    let quoted = udp6_ports(S, C, 53, 40002, b"q");
    let err = icmp6(C, S, 1, 4, [0; 4], &quoted);
    let mut pkt = err[..40].to_vec();
    pkt[6] = 0;
    pkt[7] = 1;
    pkt.extend_from_slice(&[58, 0, 1, 4, 0, 0, 0, 0]);
    pkt.extend_from_slice(&err[40..]);
    let pl = (pkt.len() - 40) as u16;
    pkt[4..6].copy_from_slice(&pl.to_be_bytes());
    let (v, _) = send(&mut e, &pkt);
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
    let echo = echo6(C, S, 9, 1, b"ping");
    let mut pkt = echo[..40].to_vec();
    pkt[6] = 44;
    pkt.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 4]);
    pkt.extend_from_slice(&[58, 0, 1, 4, 0, 0, 0, 0]);
    pkt.extend_from_slice(&echo[40..]);
    let pl = (pkt.len() - 40) as u16;
    pkt[4..6].copy_from_slice(&pl.to_be_bytes());
    let (v, _) = send(&mut e, &pkt);
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
    assert_eq!(e.counters().dropped(Nat64Drop::Xlate(R::ExtensionAfterFragment)), 1);
}
