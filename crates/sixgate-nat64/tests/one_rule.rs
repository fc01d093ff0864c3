//! One rule, one answer: every engine — the stateless translator's fast path (pool6 /96,
//! nothing else) and general path (an EAM entry turns the fast path off), the stateful
//! NAT64 and its shards — refuses exactly the IPv4 addresses
//! `sixgate_core::class::is_forbidden_v4` names (RFC 7915 §4.1/§5.1), decrements TTL and
//! hop limit with `sixgate_core::router::forward_hop` (Time Exceeded below 2), and treats a
//! zero UDP checksum field the same way (RFC 7915 §4.5, RFC 8200 §8.1).

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use common::{a4, config, v6ok, FWD4, FWD6};
use sixgate_core::buf::PacketBuf;
use sixgate_core::class::is_forbidden_v4;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_nat64::{Nat64, Nat64Config, Nat64Drop, Nat64Shards, Pool4Range, Siit, SiitDrop as R};
use sixgate_testkit::packets::{fix_ipv4_checksum, udp4, udp4_ports, udp6, udp6_ports};

/// Addresses to try: three in every /8, with 169.254/16's and the registry's edges.
fn samples() -> Vec<Ipv4Addr> {
    let mut v = Vec::new();
    for a in 0..=255u8 {
        v.extend([Ipv4Addr::new(a, 0, 0, 1), Ipv4Addr::new(a, 254, 0, 1), Ipv4Addr::new(a, 255, 255, 254)]);
    }
    v.extend(
        ["240.0.0.1", "250.1.2.3", "255.255.255.255", "239.255.255.255", "223.255.255.255", "169.253.0.1"].map(a4),
    );
    v
}

/// `a` under the translators' /96 prefix.
fn under(pre: u128, a: Ipv4Addr) -> String {
    Ipv6Addr::from(pre | u128::from(u32::from(a))).to_string()
}

const POOL6: u128 = 0x2001_0db8_0064_0000_0000_0000_0000_0000;
const NAT64_PRE: u128 = 0x0064_ff9b_0001_0000_0000_0000_0000_0000;

/// Translator with the fast path on (pool6 /96 only) or off (one EAM entry, for
/// 203.0.113.0/24, which no sample is in).
fn siit(fast: bool) -> Siit {
    let mut c = config();
    if !fast {
        c.add_eam("2001:db8:e::/120", "203.0.113.0/24").unwrap();
    }
    Siit::new(c).unwrap()
}

fn stateful_cfg() -> Nat64Config {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 1024, 65535)];
    Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap())
}

fn run<E: Engine>(e: &mut E, pkt: &[u8]) -> (Verdict<E::Reason>, Vec<u8>) {
    let mut b = PacketBuf::from_slice(pkt);
    let v = e.process(&mut b, Instant::now());
    (v, b.to_vec())
}

#[test]
fn stateless_paths_refuse_exactly_the_forbidden_addresses() {
    let other = "8.8.8.8";
    for fast in [true, false] {
        let mut s = siit(fast);
        for a in samples() {
            if a == a4("198.51.100.1") {
                continue; // the translator's own address
            }
            let bad = is_forbidden_v4(a);
            let t = a.to_string();
            let want6 = if bad { Verdict::Drop(R::ForbiddenAddress) } else { FWD6 };
            let want4 = if bad { Verdict::Drop(R::ForbiddenAddress) } else { FWD4 };
            assert_eq!(run(&mut s, &udp4(&t, other, 53, b"x")).0, want6, "fast {fast}: from {a}");
            assert_eq!(run(&mut s, &udp4(other, &t, 53, b"x")).0, want6, "fast {fast}: to {a}");
            let (s6, o6) = (under(POOL6, a), under(POOL6, a4(other)));
            assert_eq!(run(&mut s, &udp6(&s6, &o6, 53, b"x")).0, want4, "fast {fast}: from {s6}");
            assert_eq!(run(&mut s, &udp6(&o6, &s6, 53, b"x")).0, want4, "fast {fast}: to {s6}");
        }
    }
}

#[test]
fn stateful_and_shards_refuse_exactly_the_forbidden_addresses() {
    let mut e = Nat64::new(stateful_cfg()).unwrap();
    let shards = Nat64Shards::new(stateful_cfg(), 2).unwrap();
    let mut h = shards.into_handles().swap_remove(1);
    for (i, a) in samples().into_iter().enumerate() {
        if a == a4("198.51.100.1") {
            continue; // the pool address: hairpinned
        }
        let want = if is_forbidden_v4(a) {
            Verdict::Drop(Nat64Drop::Xlate(R::ForbiddenAddress))
        } else {
            Verdict::Forward(Side::V4)
        };
        let p = udp6_ports("2001:db8::10", &under(NAT64_PRE, a), 1000 + i as u16, 53, b"x");
        assert_eq!(run(&mut e, &p).0, want, "stateful: to {a}");
        assert_eq!(run(&mut h, &p).0, want, "shards: to {a}");
    }
}

/// The pool4 check of the stateful configuration is the same rule.
#[test]
fn pool4_refuses_exactly_the_forbidden_blocks() {
    for a in samples() {
        let net = ipnet::Ipv4Net::new(a, 24).unwrap().trunc();
        let mut c = stateful_cfg();
        c.pool4 = vec![Pool4Range::new(net, 1024, 65535)];
        assert_eq!(c.validate().is_err(), is_forbidden_v4(a), "pool4 {net}");
    }
    // A prefix that straddles a forbidden block is refused as a whole.
    let mut c = stateful_cfg();
    c.pool4 = vec![Pool4Range::new("169.254.0.0/15".parse().unwrap(), 1024, 1024)];
    assert!(c.validate().is_err());
}

/// Sends an IPv4 packet with TTL `ttl` and an IPv6 packet with hop limit `ttl`.
fn with_ttl4(mut p: Vec<u8>, ttl: u8) -> Vec<u8> {
    p[8] = ttl;
    fix_ipv4_checksum(&mut p);
    p
}
fn with_hop6(mut p: Vec<u8>, hop: u8) -> Vec<u8> {
    p[7] = hop;
    p
}

#[test]
fn ttl_and_hop_limit_the_same_everywhere() {
    for fast in [true, false] {
        let mut s = siit(fast);
        for ttl in [0u8, 1] {
            let (v, out) = run(&mut s, &with_ttl4(udp4("192.0.2.10", "8.8.8.8", 53, b"x"), ttl));
            assert_eq!(v, Verdict::Reply(Side::V4), "fast {fast} ttl {ttl}");
            assert_eq!((out[20], out[21]), (11, 0), "ICMPv4 Time Exceeded");
            let p = with_hop6(udp6("2001:db8:64::c000:20a", "2001:db8:64::808:808", 53, b"x"), ttl);
            let (v, out) = run(&mut s, &p);
            assert_eq!(v, Verdict::Reply(Side::V6), "fast {fast} hop {ttl}");
            assert_eq!((out[40], out[41]), (3, 0), "ICMPv6 Time Exceeded");
        }
        let (v, out) = run(&mut s, &with_ttl4(udp4("192.0.2.10", "8.8.8.8", 53, b"x"), 2));
        assert_eq!((v, out[7]), (FWD6, 1), "fast {fast}");
        let (v, out) = run(&mut s, &with_hop6(udp6("2001:db8:64::c000:20a", "2001:db8:64::808:808", 53, b"x"), 2));
        assert_eq!((v, out[8]), (FWD4, 1), "fast {fast}");
    }
    let mut e = Nat64::new(stateful_cfg()).unwrap();
    let shards = Nat64Shards::new(stateful_cfg(), 2).unwrap();
    let mut h = shards.into_handles().swap_remove(0);
    for ttl in [0u8, 1] {
        let p6 = with_hop6(udp6_ports("2001:db8::10", "64:ff9b:1::808:808", 4000, 53, b"x"), ttl);
        let p4 = with_ttl4(udp4_ports("8.8.8.8", "198.51.100.1", 53, 4000, b"x"), ttl);
        for (v, out) in [run(&mut e, &p6), run(&mut h, &p6)] {
            assert_eq!(v, Verdict::Reply(Side::V6), "hop {ttl}");
            assert_eq!((out[40], out[41]), (3, 0));
        }
        for (v, out) in [run(&mut e, &p4), run(&mut h, &p4)] {
            assert_eq!(v, Verdict::Reply(Side::V4), "ttl {ttl}");
            assert_eq!((out[20], out[21]), (11, 0));
        }
    }
    let p6 = with_hop6(udp6_ports("2001:db8::10", "64:ff9b:1::808:808", 4000, 53, b"x"), 2);
    for (v, out) in [run(&mut e, &p6), run(&mut h, &p6)] {
        assert_eq!((v, out[8]), (Verdict::Forward(Side::V4), 1));
    }
}

fn zero_udp4(mut p: Vec<u8>) -> Vec<u8> {
    p[26] = 0;
    p[27] = 0;
    p
}
fn zero_udp6(mut p: Vec<u8>) -> Vec<u8> {
    p[46] = 0;
    p[47] = 0;
    p
}

#[test]
fn zero_udp_checksum_the_same_everywhere() {
    for fast in [true, false] {
        // RFC 7915 §4.5: refused (ICMPv4 Destination Unreachable, code 13) unless allowed.
        let mut s = siit(fast);
        let (v, out) = run(&mut s, &zero_udp4(udp4("192.0.2.10", "8.8.8.8", 53, b"zero")));
        assert_eq!(v, Verdict::Reply(Side::V4), "fast {fast}");
        assert_eq!((out[20], out[21]), (3, 13));
        // RFC 8200 §8.1: invalid in IPv6.
        let p = zero_udp6(udp6("2001:db8:64::c000:20a", "2001:db8:64::808:808", 53, b"zero"));
        assert_eq!(run(&mut s, &p).0, Verdict::Drop(R::Udp6ZeroChecksum), "fast {fast}");
        // Computed when allowed (unfragmented).
        let mut c = config();
        c.amend_udp_checksum_zero = true;
        if !fast {
            c.add_eam("2001:db8:e::/120", "203.0.113.0/24").unwrap();
        }
        let mut s = Siit::new(c).unwrap();
        let (v, out) = run(&mut s, &zero_udp4(udp4("192.0.2.10", "8.8.8.8", 53, b"zero")));
        assert_eq!(v, FWD6, "fast {fast}");
        v6ok(&out);
    }
    // The stateful NAT64 hands both to the same header translator.
    let mut e = Nat64::new(stateful_cfg()).unwrap();
    let p = zero_udp6(udp6_ports("2001:db8::10", "64:ff9b:1::808:808", 4000, 53, b"zero"));
    assert_eq!(run(&mut e, &p).0, Verdict::Drop(Nat64Drop::Xlate(R::Udp6ZeroChecksum)));
    let (v, out) = run(&mut e, &udp6_ports("2001:db8::10", "64:ff9b:1::808:808", 4000, 53, b"open"));
    assert_eq!(v, Verdict::Forward(Side::V4));
    let p4 = u16::from_be_bytes([out[20], out[21]]);
    let (v, out) = run(&mut e, &zero_udp4(udp4_ports("8.8.8.8", "198.51.100.1", 53, p4, b"zero")));
    assert_eq!(v, Verdict::Reply(Side::V4));
    assert_eq!((out[20], out[21]), (3, 13));
}
