//! Each punt class of the 6in4 programs, one packet each: the program answers `TC_ACT_OK`,
//! leaves the frame unchanged and counts it once, under its reason and nothing else. Every
//! reason of `SIT_PUNT_REASONS` a test run can reach is here (a test run has no GSO packet and
//! no failing helper). Needs root; otherwise each test prints why it skips.
#![cfg(all(feature = "programs", target_os = "linux"))]

mod sit_common;

use std::net::Ipv4Addr;

use sixgate_6in4::SitConfig;
use sixgate_bpf::sit::SIT_PUNT_REASONS;
use sixgate_bpf::{Direction, SitFastPath, TC_ACT_OK};
use sixgate_testkit::fuzz::sit::{config, LOCAL, REMOTE};
use sixgate_testkit::packets::sit::{encap, frag_needed, ipv4_header, udp6};

use sit_common::*;

/// Reasons no test run reaches: GSO packets, helpers failing under memory pressure.
const NOT_BY_TEST_RUN: [&str; 3] = ["gso_unsupported", "adjust_failed", "dropped"];

fn fix_checksum(p: &mut [u8]) {
    p[10] = 0;
    p[11] = 0;
    let c = sixgate_core::checksum::checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

fn valid() -> Vec<u8> {
    encap("198.51.100.1", "192.0.2.1", 0, &udp6("2001:db8:b::2", "2001:db8:a::2", b"punt"))
}

fn with_remote(remote: Ipv4Addr) -> SitConfig {
    SitConfig::new_static(LOCAL, remote, "2001:db8:ffff::1".parse().unwrap())
}

/// Runs `frame` through the program of `direction` and checks it was punted for `reason`
/// alone.
fn punted(fp: &mut SitFastPath, direction: Direction, frame: &[u8], reason: &str) {
    let before = fp.counters().unwrap();
    let out = fp.test_run(direction, frame).unwrap();
    let after = fp.counters().unwrap();
    assert_eq!(out.action, TC_ACT_OK, "{reason}: not punted");
    assert_eq!(out.data, frame, "{reason}: the punted frame was changed");
    assert_eq!(after.forwarded, before.forwarded, "{reason}: counted as forwarded");
    for ((r, a), (_, b)) in before.punted.iter().zip(&after.punted) {
        let want = u64::from(*r == reason);
        assert_eq!(b - a, want, "{reason}: counter {r} moved by {}", b - a);
    }
}

#[test]
fn each_punt_class_is_counted_once_under_its_reason() {
    let Some(mut st) = setup(&config(0)) else { return };
    let mut six = load(&config(2)).unwrap();
    let mut six_norelay = load(&config(3)).unwrap();
    let mut covered: Vec<&str> = Vec::new();
    let mut case = |fp: &mut SitFastPath, d: Direction, ethertype: u16, pkt: &[u8], reason: &'static str| {
        punted(fp, d, &frame(ethertype, pkt), reason);
        covered.push(reason);
    };
    let (ing, eg) = (Direction::Ingress, Direction::Egress);

    // Decapsulation, in the engine's order of checks.
    case(&mut st, ing, 0x0806, &[0; 28], "not_ipv4");
    let mut p = valid();
    p[2..4].copy_from_slice(&2000u16.to_be_bytes());
    fix_checksum(&mut p);
    case(&mut st, ing, 0x0800, &p, "malformed");
    let mut p = valid();
    p[0] = 0x46;
    case(&mut st, ing, 0x0800, &p, "ipv4_options");
    let mut p = valid();
    p[10] ^= 1;
    case(&mut st, ing, 0x0800, &p, "ipv4_header_checksum");
    let mut p = valid();
    p[6] |= 0x20;
    fix_checksum(&mut p);
    case(&mut st, ing, 0x0800, &p, "outer_fragment");
    let inner = udp6("2001:db8:b::2", "2001:db8:a::2", b"punt");
    case(&mut st, ing, 0x0800, &encap("198.51.100.1", "192.0.2.2", 0, &inner), "wrong_outer_destination");
    let mut q = ipv4_header(LOCAL, REMOTE, 41, 1400, 0, true).to_vec();
    q.extend_from_slice(&inner[..40]);
    case(&mut st, ing, 0x0800, &frag_needed("203.0.113.9", "192.0.2.1", 1300, &q, q.len()), "icmpv4");
    let mut p = ipv4_header(REMOTE, LOCAL, 17, 8, 0, true).to_vec();
    p.extend_from_slice(&[0; 8]);
    case(&mut st, ing, 0x0800, &p, "not_protocol_41");
    case(&mut st, ing, 0x0800, &encap("198.51.100.9", "192.0.2.1", 0, &inner), "wrong_outer_source");
    let mut bad = inner.clone();
    bad[0] = 0x50;
    case(&mut st, ing, 0x0800, &encap("198.51.100.1", "192.0.2.1", 0, &bad), "inner_malformed");
    let mut short = inner.clone();
    short[5] -= 2;
    case(&mut st, ing, 0x0800, &encap("198.51.100.1", "192.0.2.1", 0, &short), "length_mismatch");
    let lo = udp6("::1", "2001:db8:a::2", b"punt");
    case(&mut st, ing, 0x0800, &encap("198.51.100.1", "192.0.2.1", 0, &lo), "forbidden_inner_source");
    let to_us = |src: &str| udp6(src, "2002:b00:1::1", b"6to4");
    case(&mut six, ing, 0x0800, &encap("10.0.0.1", "11.0.0.1", 0, &to_us("2002:a00:1::1")), "non_global_6to4");
    case(&mut six, ing, 0x0800, &encap("13.0.0.2", "11.0.0.1", 0, &to_us("2002:d00:1::1")), "spoofed_6to4");
    case(&mut six, ing, 0x0800, &encap("12.0.0.2", "11.0.0.1", 0, &to_us("2001:db8:b::2")), "not_from_relay");
    let elsewhere = udp6("2001:db8:b::2", "2002:b00:2::1", b"6to4");
    case(&mut six, ing, 0x0800, &encap("12.0.0.1", "11.0.0.1", 0, &elsewhere), "inner_destination_not_ours");
    case(&mut st, ing, 0x0800, &encap("198.51.100.1", "192.0.2.1", 3, &inner), "ecn_ce_on_not_ect");

    // Encapsulation.
    case(&mut st, eg, 0x0800, &valid(), "not_ipv6");
    let out = udp6("2001:db8:a::2", "2001:db8:b::2", b"out");
    let mut long = out.clone();
    long[5] += 2;
    case(&mut st, eg, 0x86dd, &long, "malformed");
    let mut trailing = out.clone();
    trailing.extend_from_slice(&[0; 2]);
    case(&mut st, eg, 0x86dd, &trailing, "length_mismatch");
    case(&mut six, eg, 0x86dd, &udp6("2002:b00:1::1", "2002:a00:1::1", b"x"), "non_global_6to4");
    case(&mut six_norelay, eg, 0x86dd, &udp6("2002:b00:1::1", "2001:db8:b::2", b"x"), "no_relay");
    let big = udp6("2001:db8:a::2", "2001:db8:b::2", &[0; 1481 - 48]);
    case(&mut st, eg, 0x86dd, &big, "too_big");
    // A path MTU below 1300: the engine sends the outer packet without DF.
    st.set_path_mtu(REMOTE, Some(1290)).unwrap();
    case(&mut st, eg, 0x86dd, &out, "outer_fragmentation");
    st.set_path_mtu(REMOTE, None).unwrap();
    for (remote, reason, len) in
        [(NO_ROUTE, "no_route", 8), (NO_NEIGH, "no_neighbour", 8), (ROUTE_1300, "route_mtu", 1400)]
    {
        let mut fp = load(&with_remote(remote)).unwrap();
        case(&mut fp, eg, 0x86dd, &udp6("2001:db8:a::2", "2001:db8:b::2", &vec![0; len]), reason);
    }

    let mut want: Vec<&str> = SIT_PUNT_REASONS.iter().copied().filter(|r| !NOT_BY_TEST_RUN.contains(r)).collect();
    want.sort_unstable();
    covered.sort_unstable();
    covered.dedup();
    assert_eq!(covered, want, "every reason a test run can reach");
}

#[test]
fn a_forwarded_packet_counts_as_forwarded_only() {
    let Some(mut st) = setup(&config(0)) else { return };
    let before = st.counters().unwrap();
    let out = st.test_run(Direction::Ingress, &frame(0x0800, &valid())).unwrap();
    assert_eq!(out.action, sixgate_bpf::TC_ACT_REDIRECT);
    let after = st.counters().unwrap();
    assert_eq!((after.forwarded - before.forwarded, after.punted_total() - before.punted_total()), (1, 0));
}
