//! Stateful NAT64 (RFC 6146) with a simulated clock: limits under floods, port
//! allocation and pool exhaustion, refusals and their rate, mass expiry, shards, and
//! property tests over arbitrary packet sequences.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_core::Protocol;
use sixgate_nat64::{Filtering, Nat64, Nat64Config, Nat64Drop, Pool4Range, SiitDrop};
use sixgate_testkit::packets::*;

mod common;

use common::stateful::*;

#[test]
fn limits_hold_under_a_flood_and_established_flows_keep_working() {
    let mut c = cfg(Filtering::AddressDependent);
    c.max_sessions = 50;
    c.max_sessions_per_source = 10;
    let mut t = T::new(c);
    let p4 = t.establish(0.0, 0.1);
    // One source floods: it stops at its own limit.
    let mut source_limited = 0;
    for i in 0..100u16 {
        let (v, _) = t.send(&udp6_ports(C, S, 1000 + i, 53, b"x"), 1.0);
        // Refused: answered with an ICMPv6 error while the rate allows, dropped after.
        if v != Verdict::Forward(Side::V4) {
            source_limited += 1;
        }
    }
    assert_eq!(source_limited, 100 - 9);
    // Many sources flood: the table stops at its limit.
    let mut table_limited = 0;
    for i in 0..200u16 {
        let src = format!("2001:db8:1::{i:x}");
        let (v, _) = t.send(&udp6_ports(&src, S, 2000 + i, 53, b"x"), 2.0);
        if v != Verdict::Forward(Side::V4) {
            table_limited += 1;
        }
    }
    assert_eq!(t.e.stats().sessions, 50);
    assert_eq!(table_limited, 200 - 40);
    // Every refusal counted once, answered (as the ICMP error rate allows) or silently.
    let c = t.e.counters();
    assert_eq!(c.dropped(Nat64Drop::SessionLimit) + c.answered(Nat64Drop::SessionLimit), 160, "{c}");
    assert_eq!(c.dropped(Nat64Drop::SourceLimit) + c.answered(Nat64Drop::SourceLimit), 91, "{c}");
    assert_eq!(c.answered_total(), c.replied, "{c}");
    // The established connection still works both ways.
    let (v, _) = t.send(&tcp6_flags(C, S, 40000, 80, ACK), 3.0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    let (v, _) = t.send(&tcp4_flags(S4, P4, 80, p4, ACK), 3.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
}

#[test]
fn port_allocation_keeps_range_and_parity() {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 1, 65535)];
    let c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    let mut t = T::new(c);
    for (i, sport) in [53u16, 53, 53, 40001, 40001, 40001, 1023, 1023].into_iter().enumerate() {
        let src = format!("2001:db8:2::{}", i + 1);
        let (v, o) = t.send(&udp6_ports(&src, S, sport, 53, b"x"), 0.0);
        assert_eq!(v, Verdict::Forward(Side::V4));
        let got = port(&o, 20);
        assert_eq!(got & 1, sport & 1, "parity of {sport} → {got}");
        assert_eq!(got < 1024, sport < 1024, "range of {sport} → {got}");
    }
}

#[test]
fn pool_exhaustion_is_counted() {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 2000, 2003)];
    let c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    let mut t = T::new(c);
    for i in 0..4 {
        let (v, _) = t.send(&udp6_ports(&format!("2001:db8:3::{}", i + 1), S, 5000, 53, b"x"), 0.0);
        assert_eq!(v, Verdict::Forward(Side::V4));
    }
    let (v, _) = t.send(&udp6_ports("2001:db8:3::99", S, 5000, 53, b"x"), 0.0);
    assert_eq!(v, Verdict::Reply(Side::V6), "refused with an ICMPv6 error");
    assert_eq!(t.e.counters().answered(Nat64Drop::PoolExhausted), 1);
    // An existing binding gets new sessions without a new port.
    let (v, _) = t.send(&udp6_ports("2001:db8:3::1", S2, 5000, 53, b"x"), 0.0);
    assert_eq!(v, Verdict::Forward(Side::V4));
}

/// Checks that `e` is the ICMPv6 Destination Unreachable, Address Unreachable (type 1,
/// code 3) that the translator (own address `2001:db8:ffff::1`) sends back about `pkt`:
/// addresses, lengths, the unused word, the quote (all of `pkt`, under 1280 bytes) and
/// the checksum, computed here with the independent sum of the SIIT tests.
fn assert_address_unreachable(e: &[u8], pkt: &[u8]) {
    assert_eq!(e[0] >> 4, 6, "IPv6");
    assert_eq!(e[6], 58, "ICMPv6");
    assert!(e[7] > 1, "a hop limit that reaches the client");
    assert_eq!(v6(e, 8), "2001:db8:ffff::1".parse::<Ipv6Addr>().unwrap(), "from the translator");
    assert_eq!(v6(e, 24), v6(pkt, 8), "to the refused packet's source");
    assert_eq!(usize::from(port(e, 4)), e.len() - 40, "payload length");
    assert_eq!((e[40], e[41]), (1, 3), "Destination Unreachable, Address Unreachable");
    assert_eq!(&e[44..48], &[0; 4], "unused");
    assert_eq!(&e[48..], pkt, "the whole invoking packet is quoted");
    assert!(e.len() <= 1280);
    let len = ((e.len() - 40) as u32).to_be_bytes();
    let ck = common::naive_sum(&[&e[8..40], &len, &[0, 0, 0, 58], &e[40..42], &e[44..]]);
    assert_eq!(port(e, 42), ck, "ICMPv6 checksum");
}

/// A pool of four ports (2000–2003) on one address.
fn tiny_pool() -> Nat64Config {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 2000, 2003)];
    Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap())
}

#[test]
fn pool_exhaustion_answers_address_unreachable_for_udp_tcp_and_icmp() {
    let mut t = T::new(tiny_pool());
    for i in 0..4 {
        let (v, _) = t.send(&udp6_ports(&format!("2001:db8:3::{}", i + 1), S, 5000, 53, b"x"), 0.0);
        assert_eq!(v, Verdict::Forward(Side::V4));
    }
    // RFC 6146 §3.5.1.1 (UDP; TCP by §3.5.2.2) and §3.5.3 (ICMP queries): no IPv4
    // transport address left, so Destination Unreachable, code 3. TCP and ICMP have
    // their own BIBs: fill those too.
    for i in 0..4 {
        let c = format!("2001:db8:3::{}", i + 1);
        assert_eq!(t.send(&tcp6_flags(&c, S, 5000, 80, SYN), 0.0).0, Verdict::Forward(Side::V4));
        assert_eq!(t.send(&echo6(&c, S, 7, 1, b"ping"), 0.0).0, Verdict::Forward(Side::V4));
    }
    let before = t.e.counters().replied;
    let udp = udp6_ports("2001:db8:3::99", S, 5000, 53, b"refused udp");
    let tcp = tcp6_flags("2001:db8:3::99", S, 5000, 80, SYN);
    let icmp = echo6("2001:db8:3::99", S, 7, 1, b"refused ping");
    for (i, pkt) in [udp, tcp, icmp].iter().enumerate() {
        let (v, e) = t.send(pkt, 0.0);
        assert_eq!(v, Verdict::Reply(Side::V6), "refusal {i}");
        assert_address_unreachable(&e, pkt);
        assert_eq!(t.e.counters().answered(Nat64Drop::PoolExhausted), i as u64 + 1);
    }
    assert_eq!(t.e.counters().replied, before + 3, "each error counted as a reply");
    assert_eq!((t.e.stats().bib, t.e.stats().sessions), (12, 12), "no state for the refused");
}

#[test]
fn a_full_pool_is_refused_at_once_until_a_port_is_freed() {
    let mut c = tiny_pool();
    c.timers.udp = Duration::from_secs(300);
    let mut t = T::new(c);
    for i in 0..4 {
        let (v, _) = t.send(&udp6_ports(&format!("2001:db8:3::{}", i + 1), S, 5000, 53, b"x"), f64::from(i));
        assert_eq!(v, Verdict::Forward(Side::V4));
    }
    // Refused (found full, then known full) at every instant up to the first expiry...
    for (i, secs) in [10.0, 10.0, 10.05, 200.0, 299.9].into_iter().enumerate() {
        let (v, _) = t.send(&udp6_ports(&format!("2001:db8:4::{i:x}"), S, 5000, 53, b"x"), secs);
        assert_eq!(v, Verdict::Reply(Side::V6), "refusal {i}");
    }
    // ... and when the oldest binding expires (at 300 s) its port serves the next flow at
    // once, not a tick later.
    t.tick(300.05);
    assert_eq!(t.e.stats().bib, 3);
    let (v, o) = t.send(&udp6_ports("2001:db8:4::99", S, 5000, 53, b"x"), 300.05);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert!((2000..=2003).contains(&port(&o, 20)));
    assert_eq!(t.e.counters().answered(Nat64Drop::PoolExhausted), 5);
}

#[test]
fn session_and_source_limits_answer_address_unreachable() {
    let mut c = cfg(Filtering::AddressDependent);
    c.max_sessions = 3;
    c.max_sessions_per_source = 2;
    let mut t = T::new(c);
    for p in [1000, 1001] {
        assert_eq!(t.send(&udp6_ports(C, S, p, 53, b"x"), 0.0).0, Verdict::Forward(Side::V4));
    }
    // The per-source limit: a third flow from C, even on an existing binding.
    let pkt = udp6_ports(C, S2, 1000, 53, b"third");
    let (v, e) = t.send(&pkt, 0.0);
    assert_eq!(v, Verdict::Reply(Side::V6));
    assert_address_unreachable(&e, &pkt);
    assert_eq!(t.e.counters().answered(Nat64Drop::SourceLimit), 1);
    // The session limit: the table holds 3.
    assert_eq!(t.send(&udp6_ports(C2, S, 1000, 53, b"x"), 0.0).0, Verdict::Forward(Side::V4));
    let pkt = tcp6_flags(C2, S, 1001, 80, SYN);
    let (v, e) = t.send(&pkt, 0.0);
    assert_eq!(v, Verdict::Reply(Side::V6));
    assert_address_unreachable(&e, &pkt);
    assert_eq!(t.e.counters().answered(Nat64Drop::SessionLimit), 1);
    assert_eq!(t.e.counters().replied, 2);
    assert_eq!(t.e.stats().sessions, 3);
    // A refused TCP segment that is not a SYN opens nothing and gets no error
    // (RFC 6146 §3.5.2.2 CLOSED: silently dropped).
    assert_eq!(t.send(&tcp6_flags(C2, S, 1002, 80, ACK), 0.0).0, Verdict::Drop(Nat64Drop::TcpNotSyn));
}

#[test]
fn refusal_errors_are_rate_limited_and_counted() {
    let mut c = tiny_pool();
    c.xlate.icmp_rate.per_second = 1;
    c.xlate.icmp_rate.burst = 3;
    let mut t = T::new(c);
    for i in 0..4 {
        let _ = t.send(&udp6_ports(&format!("2001:db8:3::{}", i + 1), S, 5000, 53, b"x"), 0.0);
    }
    let refuse =
        |t: &mut T, i: u32, secs: f64| t.send(&udp6_ports(&format!("2001:db8:4::{i:x}"), S, 5000, 53, b"x"), secs).0;
    let v: Vec<_> = (0..10).map(|i| refuse(&mut t, i, 1.0)).collect();
    assert_eq!(v.iter().filter(|v| **v == Verdict::Reply(Side::V6)).count(), 3, "the burst");
    assert_eq!(v.iter().filter(|v| **v == Verdict::Drop(Nat64Drop::PoolExhausted)).count(), 7);
    assert_eq!(t.e.icmp_suppressed(), 7);
    let c = t.e.counters();
    assert_eq!(
        c.dropped(Nat64Drop::PoolExhausted) + c.answered(Nat64Drop::PoolExhausted),
        10,
        "every refusal counted once"
    );
    assert_eq!((c.replied, c.answered(Nat64Drop::PoolExhausted)), (3, 3));
    // One a second: one more a second later, not two.
    assert_eq!(refuse(&mut t, 100, 2.0), Verdict::Reply(Side::V6));
    assert_eq!(refuse(&mut t, 101, 2.0), Verdict::Drop(Nat64Drop::PoolExhausted));
    // The bucket is the one the engine's other errors use: the Port Unreachable for a
    // held SYN (RFC 6146 §3.5.2.2, TCP_INCOMING_SYN 6 s) takes a token of the refilled
    // bucket, which leaves two for refusals.
    assert_eq!(t.send(&tcp4_flags(S4, P4, 80, 2000, SYN), 2.0).0, Verdict::Drop(Nat64Drop::SynHeld));
    t.tick(8.05);
    let (_, to_v4) = transmitted_by_side(&mut t);
    assert_eq!(to_v4.len(), 1, "the held SYN's Port Unreachable");
    let v: Vec<_> = (200..205).map(|i| refuse(&mut t, i, 8.05)).collect();
    assert_eq!(v.iter().filter(|v| **v == Verdict::Reply(Side::V6)).count(), 2);
    // A source that must not get an error (RFC 4443 §2.4(e)): none, counted.
    let supp = t.e.icmp_suppressed();
    let (v, _) = t.send(&udp6_ports("::", S, 5000, 53, b"x"), 30.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::PoolExhausted));
    assert_eq!(t.e.icmp_suppressed(), supp + 1);
}

#[test]
fn new_flow_budget_refuses_silently_and_spares_established_flows() {
    let mut c = cfg(Filtering::AddressDependent);
    c.max_new_sessions_per_second = 100;
    c.new_sessions_burst = 5;
    let mut t = T::new(c);
    let p4 = t.establish(0.0, 0.0);
    // A flood of new flows at one instant: the burst's 4 remaining tokens, then refusals,
    // with no ICMP error (RFC 4443 §3.1: not for congestion).
    let mut created = 0;
    for i in 0..50u32 {
        let (v, _) = t.send(&udp6_ports(&format!("2001:db8:5::{i:x}"), S, 3000, 53, b"x"), 0.0);
        match v {
            Verdict::Forward(Side::V4) => created += 1,
            Verdict::Drop(Nat64Drop::NewFlowBudget) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(created, 4);
    assert_eq!(t.e.counters().dropped(Nat64Drop::NewFlowBudget), 46);
    assert_eq!(t.e.counters().replied, 0);
    assert_eq!(t.e.icmp_suppressed(), 0, "not an error withheld: none is due");
    // Established traffic goes on, both ways, and so does a known flow's.
    assert_eq!(t.send(&tcp6_flags(C, S, 40000, 80, ACK), 0.0).0, Verdict::Forward(Side::V4));
    assert_eq!(t.send(&tcp4_flags(S4, P4, 80, p4, ACK), 0.0).0, Verdict::Forward(Side::V6));
    assert_eq!(t.send(&udp6_ports("2001:db8:5::0", S, 3000, 53, b"x"), 0.0).0, Verdict::Forward(Side::V4));
    // 100 ms later, 10 tokens earned, at most the burst kept.
    let mut later = 0;
    for i in 0..50u32 {
        let (v, _) = t.send(&udp6_ports(&format!("2001:db8:6::{i:x}"), S, 3000, 53, b"x"), 0.1);
        later += usize::from(v == Verdict::Forward(Side::V4));
    }
    assert_eq!(later, 5, "the burst refilled to at most 5 (10 tokens earned)");
    // 0 disables it.
    let mut c = cfg(Filtering::AddressDependent);
    c.max_new_sessions_per_second = 0;
    let mut t = T::new(c);
    for i in 0..500u32 {
        assert_eq!(
            t.send(&udp6_ports(&format!("2001:db8:5::{i:x}"), S, 3000, 53, b"x"), 0.0).0,
            Verdict::Forward(Side::V4)
        );
    }
}

#[test]
fn new_flow_budget_covers_flows_opened_from_ipv4() {
    let mut c = cfg(Filtering::EndpointIndependent);
    c.max_new_sessions_per_second = 10;
    c.new_sessions_burst = 2;
    let mut t = T::new(c);
    let (_, o) = t.send(&udp6_ports(C, S, 40000, 53, b"q"), 0.0);
    let p4 = port(&o, 20);
    // One token left: one new IPv4 remote gets a session, the next is refused silently.
    assert_eq!(t.send(&udp4_ports(S24, P4, 53, p4, b"a"), 0.0).0, Verdict::Forward(Side::V6));
    assert_eq!(t.send(&udp4_ports("203.0.113.7", P4, 53, p4, b"a"), 0.0).0, Verdict::Drop(Nat64Drop::NewFlowBudget));
    // The established one still answers.
    assert_eq!(t.send(&udp4_ports(S4, P4, 53, p4, b"a"), 0.0).0, Verdict::Forward(Side::V6));
}

/// An engine without a creation budget, over 16 pool addresses.
fn big() -> T {
    let mut c = cfg(Filtering::AddressDependent);
    c.max_new_sessions_per_second = 0;
    c.pool4 = vec![Pool4Range::new("198.51.100.0/28".parse().unwrap(), 1024, 65535)];
    T::new(c)
}

/// `n` more UDP sessions, each from its own source, created at the engine's start.
fn fill(t: &mut T, n: u32) {
    let mut b = PacketBuf::new();
    let tmpl = udp6_ports("2001:db8:7::", S, 1024, 53, b"x");
    for i in 0..n {
        let _ = b.set(&tmpl);
        b.as_mut_slice()[20..24].copy_from_slice(&i.to_be_bytes());
        assert_eq!(t.e.process(&mut b, t.t0), Verdict::Forward(Side::V4));
    }
}

#[test]
fn mass_expiry_runs_in_slices_and_gives_memory_back() {
    use sixgate_nat64::stateful::EXPIRY_SLICE;
    let n = 80 * EXPIRY_SLICE as u32 + 77;
    let mut t = big();
    // One session, created first, stays alive throughout (refreshed now and then).
    let keep = udp6_ports(C, S, 4000, 53, b"k");
    assert_eq!(t.send(&keep, 0.0).0, Verdict::Forward(Side::V4));
    fill(&mut t, n);
    for secs in [60.0, 120.0, 180.0, 240.0, 290.0] {
        assert_eq!(t.send(&keep, secs).0, Verdict::Forward(Side::V4));
    }
    assert_eq!(t.e.stats().sessions, n as usize + 1);
    let full = t.e.table_bytes();
    // At 301 s every other session is due: each wake-up deletes at most a slice and,
    // while some are left, the timer queue says "now" (a deadline already passed).
    let now = t.at(301.0);
    let mut calls = 0;
    let mut left = t.e.stats().sessions;
    while t.e.poll_timeout().is_some_and(|d| d <= now) {
        t.e.handle_timeout(now);
        calls += 1;
        let s = t.e.stats().sessions;
        assert!(left - s <= EXPIRY_SLICE, "{} deleted in one call", left - s);
        left = s;
        if calls % 20 == 0 {
            t.e.check_invariants().unwrap();
        }
        assert!(calls < 1000, "expiry does not end");
    }
    // n entries and the survivor's own (requeued at its later expiry), then perhaps a few
    // calls that only give memory back (a slab or a hash index each).
    let slices = (n as usize + 1).div_ceil(EXPIRY_SLICE);
    assert!((slices..slices + 12).contains(&calls), "{calls} calls for {slices} slices");
    assert_eq!((t.e.stats().sessions, t.e.stats().bib), (1, 1));
    assert!(t.e.poll_timeout().unwrap() > now, "nothing due is left");
    assert_eq!(t.e.counters().dropped_total(), 0);
    // The survivor still works, and the memory of the others is given back.
    assert_eq!(t.send(&keep, 301.0).0, Verdict::Forward(Side::V4));
    let after = t.e.table_bytes();
    // What is left: about one slab chunk of each kind (4,096 entries).
    assert!(after * 8 < full, "{after} bytes of tables left of {full}");
    // The tables work after shrinking: new sessions, and their expiry.
    for i in 0..3 * EXPIRY_SLICE as u16 {
        let mut b = PacketBuf::from_slice(&udp6_ports(&format!("2001:db8:8::{i:x}"), S, 5000, 53, b"x"));
        assert_eq!(t.e.process(&mut b, t.at(302.0)), Verdict::Forward(Side::V4));
    }
    t.e.check_invariants().unwrap();
    assert_eq!(t.e.stats().sessions, 1 + 3 * EXPIRY_SLICE);
    t.tick(302.0 + 301.0);
    assert_eq!((t.e.stats().sessions, t.e.stats().bib, t.e.stats().timers), (0, 0, 0));
    assert_eq!(t.e.counters().forwarded, u64::from(n) + 7 + 3 * EXPIRY_SLICE as u64);
}

#[test]
fn expiry_slice_is_a_bound_for_every_kind_of_work() {
    // Idle established TCP sessions are probed (and requeued) rather than deleted; stale
    // queue entries are skipped: each counts against the slice.
    let mut c = cfg(Filtering::AddressDependent);
    c.max_new_sessions_per_second = 0;
    let mut t = T::new(c);
    for i in 0..40u16 {
        let (_, o) = t.send(&tcp6_flags(C, S, 10000 + i, 80, SYN), 0.0);
        let _ = t.send(&tcp4_flags(S4, P4, 80, port(&o, 20), SYNACK), 0.0);
    }
    t.e.set_expiry_slice(7);
    let now = t.at(2.0 * 3600.0 + 4.0 * 60.0 + 1.0);
    let mut calls = 0;
    while t.e.poll_timeout().is_some_and(|d| d <= now) {
        t.e.handle_timeout(now);
        calls += 1;
    }
    // 40 entries, each a probe (both lifetimes have passed).
    assert_eq!(calls, 40usize.div_ceil(7));
    let (to_v6, _) = transmitted_by_side(&mut t);
    assert_eq!(to_v6.len(), 40, "one probe each");
}

#[test]
fn refused_packets_leave_no_state() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    // A zero IPv6 UDP checksum is refused by the header translator after the session
    // was tentatively created: it must be rolled back.
    let mut p = udp6_ports(C, S, 40000, 53, b"q");
    p[46] = 0;
    p[47] = 0;
    let (v, _) = t.send(&p, 0.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::Xlate(SiitDrop::Udp6ZeroChecksum)));
    assert_eq!(t.e.stats().sessions, 0);
    assert_eq!(t.e.stats().bib, 0);
    // A first fragment without a binding is refused like a whole packet; ICMP fragments
    // are refused and counted (RFC 7915 §1.2).
    let mut f = udp4_ports(S4, P4, 53, 40000, b"a");
    f[6] = 0x20;
    fix_ipv4_checksum(&mut f);
    assert_eq!(t.send(&f, 0.0).0, Verdict::Drop(Nat64Drop::NoBinding));
    let mut f = echo_reply4(S4, P4, 40000, 1, b"a");
    f[6] = 0x20;
    fix_ipv4_checksum(&mut f);
    assert_eq!(t.send(&f, 0.0).0, Verdict::Drop(Nat64Drop::Xlate(SiitDrop::FragmentedIcmp)));
    assert_eq!((t.e.stats().sessions, t.e.stats().bib), (0, 0));
}

#[test]
fn drop_reason_names_are_unique() {
    use sixgate_core::engine::Reason;
    let mut names: Vec<_> = Nat64Drop::ALL.iter().map(|r| r.name()).collect();
    for (i, r) in Nat64Drop::ALL.iter().enumerate() {
        assert_eq!(r.index(), i);
    }
    names.sort_unstable();
    let n = names.len();
    names.dedup();
    assert_eq!(names.len(), n);
}

// ------------------------------------------------------------------ properties

#[derive(Debug, Clone)]
enum Op {
    /// Client `c` sends proto `p` from port `sp` to server `s` port `dp`, TCP flags `f`.
    Out { c: u8, s: u8, p: u8, sp: u16, dp: u16, f: u8 },
    /// Server `s` sends to pool port `pp` (index into the bindings seen so far).
    In { s: u8, p: u8, sp: u16, pick: u8, f: u8 },
    /// Time passes.
    Wait(u32),
}

fn op() -> impl Strategy<Value = Op> {
    let flags = prop::sample::select(vec![SYN, ACK, FIN, RST, SYNACK]);
    prop_oneof![
        (0u8..4, 0u8..3, 0u8..3, 1000u16..1008, 1u16..4, flags.clone()).prop_map(|(c, s, p, sp, dp, f)| Op::Out {
            c,
            s,
            p,
            sp,
            dp,
            f
        }),
        (0u8..3, 0u8..3, 1u16..4, any::<u8>(), flags).prop_map(|(s, p, sp, pick, f)| Op::In { s, p, sp, pick, f }),
        prop_oneof![0u32..5_000, 0u32..400_000, 0u32..8_000_000].prop_map(Op::Wait),
    ]
}

fn client(i: u8) -> String {
    format!("2001:db8:9::{}", i + 1)
}
fn server4(i: u8) -> String {
    format!("203.0.113.{}", i + 1)
}
fn server6(i: u8) -> String {
    format!("64:ff9b:1::cb00:71{:02x}", i + 1)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Any sequence keeps the tables consistent (BIB one-to-one, counts right), and every
    /// packet that goes out and comes back is translated back to its original tuple.
    #[test]
    fn any_sequence_keeps_invariants_and_round_trips(
        ops in prop::collection::vec(op(), 1..60),
        eif in any::<bool>(),
    ) {
        let mut c = cfg(if eif { Filtering::EndpointIndependent } else { Filtering::AddressDependent });
        c.pool4 = vec![Pool4Range::new("198.51.100.0/31".parse().unwrap(), 1000, 1011)];
        c.max_sessions = 20;
        c.max_sessions_per_source = 8;
        let mut t = T::new(c);
        let mut now = 0.0f64;
        let mut seen: Vec<(u8, Ipv4Addr, u16)> = Vec::new();
        for op in ops {
            match op {
                Op::Wait(ms) => {
                    now += f64::from(ms) / 1000.0;
                    t.tick(now);
                }
                Op::Out { c, s, p, sp, dp, f } => {
                    let (cl, sv) = (client(c), server6(s));
                    let pkt = match p {
                        0 => tcp6_flags(&cl, &sv, sp, dp, f),
                        1 => udp6_ports(&cl, &sv, sp, dp, b"x"),
                        _ => echo6(&cl, &sv, sp, 1, b"x"),
                    };
                    let (v, o) = t.send(&pkt, now);
                    if v == Verdict::Forward(Side::V4) {
                        let a = v4(&o, 12);
                        let pp = if p == 2 { port(&o, 24) } else { port(&o, 20) };
                        let proto = [Protocol::Tcp, Protocol::Udp, Protocol::Icmp][usize::from(p)];
                        // The binding the packet used is the one the BIB holds.
                        prop_assert_eq!(t.e.binding(proto, cl.parse().unwrap(), sp), Some((a, pp)));
                        prop_assert_eq!(t.e.binding_v4(proto, a, pp), Some((cl.parse().unwrap(), sp)));
                        seen.push((p, a, pp));
                        // A reply now must come back to the original tuple (ICMP: echo reply).
                        let sv4 = server4(s);
                        let back = match p {
                            0 => tcp4_flags(&sv4, &a.to_string(), dp, pp, ACK),
                            1 => udp4_ports(&sv4, &a.to_string(), dp, pp, b"y"),
                            _ => echo_reply4(&sv4, &a.to_string(), pp, 1, b"y"),
                        };
                        let (v, r) = t.send(&back, now);
                        prop_assert_eq!(v, Verdict::Forward(Side::V6));
                        prop_assert_eq!(v6(&r, 24), cl.parse::<Ipv6Addr>().unwrap());
                        prop_assert_eq!(v6(&r, 8), sv.parse::<Ipv6Addr>().unwrap());
                        let got = if p == 2 { port(&r, 44) } else { port(&r, 42) };
                        prop_assert_eq!(got, sp);
                    }
                }
                Op::In { s, p, sp, pick, f } => {
                    let (proto_i, a, pp) = if seen.is_empty() {
                        (p, "198.51.100.0".parse().unwrap(), 1000)
                    } else {
                        seen[usize::from(pick) % seen.len()]
                    };
                    let sv4 = server4(s);
                    let pkt = match proto_i {
                        0 => tcp4_flags(&sv4, &a.to_string(), sp, pp, f),
                        1 => udp4_ports(&sv4, &a.to_string(), sp, pp, b"z"),
                        _ => echo_reply4(&sv4, &a.to_string(), pp, 1, b"z"),
                    };
                    let _ = t.send(&pkt, now);
                }
            }
        }
        // Everything expires eventually, leaving empty tables.
        t.tick(now + 3.0 * 3600.0);
        prop_assert_eq!(t.e.stats(), Default::default());
    }
}

#[test]
fn shards_split_the_port_ranges_and_steer_return_traffic() {
    let base = cfg(Filtering::AddressDependent);
    let n = 3;
    let mut covered = 0u32;
    let mut engines: Vec<Nat64> = (0..n).map(|k| Nat64::new(base.shard(k, n)).unwrap()).collect();
    for k in 0..n {
        let r = base.shard(k, n).pool4[0];
        covered += u32::from(r.last - r.first) + 1;
        for other in 0..k {
            let o = base.shard(other, n).pool4[0];
            assert!(r.first > o.last || r.last < o.first, "shards {k} and {other} overlap");
        }
    }
    assert_eq!(covered, 65535 - 1024 + 1);
    let now = Instant::now();
    for (k, e) in engines.iter_mut().enumerate() {
        let mut b = PacketBuf::from_slice(&udp6_ports(C, S, 40000, 53, b"q"));
        assert_eq!(e.process(&mut b, now), Verdict::Forward(Side::V4));
        let p4 = port(&b, 20);
        assert_eq!(base.shard_of_v4(P4.parse().unwrap(), p4, n), Some(k), "port {p4}");
    }
    assert_eq!(base.shard_of_v4("198.51.100.9".parse().unwrap(), 2000, n), None);
}
