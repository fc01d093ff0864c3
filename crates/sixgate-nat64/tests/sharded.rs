//! The stateful NAT64 cut into shards for several workers (`Nat64Shards`): whichever
//! worker a packet comes in on, it meets its session; hairpinning and IPv4 fragments
//! cross shards; limits and counters add up. The comparison with one engine is in
//! `sharded_against_one.rs`.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use common::sharded::*;
use common::{a4, dst4, dst6, naive_sum, src4, src6, v4l4ok, v6ok};
use proptest::prelude::*;
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_core::Protocol;
use sixgate_nat64::{Nat64Config, Nat64Drop, Nat64Shards, Pool4Range};
use sixgate_testkit::packets::{frag4, icmp4, udp4_ports, udp6_ports};

#[test]
fn either_worker_finds_the_session_and_ports_come_from_the_owner_slice() {
    let mut w = W::new(cfg(), 2);
    let mut by_shard = [0, 0];
    for i in 1..=40u32 {
        let c = client(i);
        // Out on worker i % 2 ...
        let (v, o, _) = w.send(i as usize % 2, &udp6_ports(&c, &remote6(5), 40000, 53, b"q"), 1.0);
        assert_eq!(v, Verdict::Forward(Side::V4));
        v4l4ok(&o);
        assert_eq!(src4(&o), a4(P4));
        let p = port(&o, 20);
        let k = w.bib_shard(&c, 40000);
        assert_eq!(k.len(), 1);
        by_shard[k[0]] += 1;
        // ... the port is in the owning shard's half of 1024-65535 ...
        let half = 1024 + (65535 - 1024 + 1) / 2;
        assert_eq!(usize::from(p >= half as u16), k[0], "port {p} from shard {}'s slice", k[0]);
        // ... and the answer comes back on the other worker.
        let (v, o, _) = w.send((i as usize + 1) % 2, &udp4_ports("203.0.113.5", P4, 53, p, b"a"), 1.5);
        assert_eq!(v, Verdict::Forward(Side::V6), "client {c}");
        v6ok(&o);
        assert_eq!((dst6(&o), port(&o, 42)), (c.parse::<Ipv6Addr>().unwrap(), 40000));
    }
    assert!(by_shard[0] > 5 && by_shard[1] > 5, "sources spread over the shards: {by_shard:?}");
    assert_eq!(w.shards.stats().bib, 40);
    assert_eq!(w.shards.stats().sessions, 40);
}

#[test]
fn icmp_errors_reach_the_session_from_either_worker() {
    let mut w = W::new(cfg(), 2);
    let (c0, c1) = clients_in_two_shards(&mut w);
    for c in [&c0, &c1] {
        let (_, o, _) = w.send(0, &udp6_ports(c, &remote6(7), 5555, 9, b"payload!"), 1.0);
        // The IPv4 side answers with Port Unreachable quoting the translated packet.
        for wk in 0..2 {
            let e = icmp4("203.0.113.7", P4, 3, 3, [0; 4], &o[..28]);
            let (v, out, _) = w.send(wk, &e, 1.1);
            assert_eq!(v, Verdict::Forward(Side::V6), "worker {wk}, client {c}");
            assert_eq!(dst6(&out), c.parse::<Ipv6Addr>().unwrap());
            assert_eq!(out[40], 1, "ICMPv6 destination unreachable");
        }
        // And the client's own ICMPv6 error about the answer reaches the session.
        let back = w.send(1, &udp4_ports("203.0.113.7", P4, 9, port(&o, 20), b"r"), 1.2);
        assert_eq!(back.0, Verdict::Forward(Side::V6));
        let mut quoted = back.1.clone();
        quoted.truncate(48);
        let err = sixgate_testkit::packets::icmp6(c, &src6(&back.1).to_string(), 1, 4, [0; 4], &quoted);
        let (v, out, _) = w.send(0, &err, 1.3);
        assert_eq!(v, Verdict::Forward(Side::V4), "ICMPv6 error to the session of {c}");
        assert_eq!(dst4(&out), a4("203.0.113.7"));
    }
}

/// RFC 6146 §3.8 for an ICMP error: b's Port Unreachable about the packet a hairpinned to
/// it goes back to a, whichever worker it comes in on, quoting what a sent.
#[test]
fn hairpinned_icmp_error_crosses_shards() {
    let (mut w, a, b, pb) = hairpin_pair();
    let to_b = "64:ff9b:1::c633:6401";
    let sent = udp6_ports(&a, to_b, 7001, pb, b"hairpin");
    let (_, got, _) = w.send(0, &sent, 2.0);
    for wk in 0..2 {
        let err = sixgate_testkit::packets::icmp6(&b, to_b, 1, 4, [0; 4], &got);
        let (v, o, _) = w.send(wk, &err, 3.0);
        assert_eq!(v, Verdict::Forward(Side::V6), "worker {wk}");
        v6ok(&o);
        assert_eq!((o[40], o[41]), (1, 4));
        assert_eq!(dst6(&o), a.parse::<Ipv6Addr>().unwrap());
        assert_eq!(src6(&o), to_b.parse::<Ipv6Addr>().unwrap());
        assert_eq!(&o[48 + 8..48 + 44], &sent[8..44], "worker {wk}: the quote is what a sent");
    }
}

#[test]
fn hairpinning_crosses_shards() {
    // b has no session with a's pool address: let any IPv4 host in.
    // b's binding 7000 → pool port pb (made by clients_in_two_shards).
    let (mut w, a, b, pb) = hairpin_pair();
    // a sends to b's pool transport address, under the NAT64 prefix (RFC 6146 §3.8).
    let to_b = "64:ff9b:1::c633:6401";
    for wk in 0..2 {
        let (v, o, _) = w.send(wk, &udp6_ports(&a, to_b, 7001, pb, b"hairpin"), 2.0);
        assert_eq!(v, Verdict::Forward(Side::V6), "worker {wk}");
        v6ok(&o);
        assert_eq!((dst6(&o), port(&o, 42)), (b.parse::<Ipv6Addr>().unwrap(), 7000));
        // From a's pool transport address, under the prefix.
        assert_eq!(src6(&o), to_b.parse::<Ipv6Addr>().unwrap());
        let pa = port(&o, 40);
        let ka = w.bib_shard(&a, 7001);
        assert_eq!(
            w.shards.with_shard(ka[0], |e| e.binding(Protocol::Udp, a.parse().unwrap(), 7001)).unwrap().unwrap().1,
            pa
        );
    }
    // Counted once as forwarded per packet, not twice.
    let c = w.counters();
    assert_eq!(c.dropped_total(), 0);
}

/// The identification and offset of a translated IPv6 fragment.
fn frag6_of(p: &[u8]) -> (u32, u16) {
    assert_eq!(p[6], 44, "a fragment header");
    (u32::from_be_bytes(p[44..48].try_into().unwrap()), port(p, 42) & 0xfff8)
}

#[test]
fn ipv4_fragments_follow_their_first_fragment_across_workers() {
    let mut w = W::new(cfg(), 2);
    let (c0, c1) = clients_in_two_shards(&mut w);
    for (i, c) in [c0, c1].iter().enumerate() {
        let (_, o, _) = w.send(0, &udp6_ports(c, &remote6(9), 6000, 53, b"q"), 1.0);
        let p = port(&o, 20);
        let answer = udp4_ports("203.0.113.9", P4, 53, p, &[0x5a; 100]);
        let id = 77 + i as u16;
        let [first, later] = frag4(&answer, id, 32);
        // In order, on different workers.
        let (v, f1, _) = w.send(0, &first, 1.1);
        assert_eq!(v, Verdict::Forward(Side::V6));
        let (v, f2, _) = w.send(1, &later, 1.1);
        assert_eq!(v, Verdict::Forward(Side::V6), "the later fragment finds its first fragment's shard");
        assert_eq!(dst6(&f2), c.parse::<Ipv6Addr>().unwrap());
        assert_eq!(frag6_of(&f1).0, frag6_of(&f2).0);
        assert_eq!(frag6_of(&f2).1, 32);
        // Out of order: the later fragment first (it waits), then the first one on the
        // other worker, which sends both.
        let [first, later] = frag4(&answer, id + 100, 32);
        let (v, _, more) = w.send(1, &later, 1.2);
        assert_eq!((v, more.len()), (Verdict::Drop(Nat64Drop::FragmentHeld), 0));
        let (v, f1, more) = w.send(0, &first, 1.3);
        assert_eq!(v, Verdict::Forward(Side::V6));
        assert_eq!(more.len(), 1, "the waiting fragment comes out after its first one");
        assert_eq!(more[0].0, Side::V6);
        assert_eq!(frag6_of(&more[0].1), (frag6_of(&f1).0, 32));
        assert_eq!(dst6(&more[0].1), c.parse::<Ipv6Addr>().unwrap());
    }
    // A later fragment whose first one never comes is dropped when its time is up and
    // counted then (`fragment-timeout`), as one engine counts it.
    let stray = frag4(&udp4_ports("203.0.113.9", P4, 53, 1234, &[1; 64]), 999, 32)[1].clone();
    let (v, _, _) = w.send(1, &stray, 5.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::FragmentHeld));
    w.tick(6.9);
    assert_eq!(w.counters().dropped(Nat64Drop::FragmentTimeout), 0, "still waiting before 2 s");
    w.tick(7.1);
    let c = w.counters();
    assert_eq!(c.dropped(Nat64Drop::FragmentTimeout), 1);
    assert_eq!(
        c.dropped(Nat64Drop::FragmentHeld) + c.dropped(Nat64Drop::Fragment),
        0,
        "counted once, when it was lost"
    );
}

#[test]
fn sessions_expire_on_their_shards_timers_and_counters_add_up() {
    let mut c = cfg();
    c.timers.udp = Duration::from_secs(300);
    let mut w = W::new(c, 3);
    for i in 1..=30 {
        let (v, _, _) = w.send(i as usize % 3, &udp6_ports(&client(i), &remote6(3), 1000 + i as u16, 53, b"q"), 0.0);
        assert_eq!(v, Verdict::Forward(Side::V4));
    }
    // Something dropped, counted in some shard.
    let (v, _, _) = w.send(2, &udp4_ports("203.0.113.3", P4, 53, 4444, b"nobody"), 1.0);
    assert!(matches!(v, Verdict::Drop(_)));
    assert_eq!(w.shards.stats().sessions, 30);
    w.tick(299.0);
    assert_eq!(w.shards.stats().sessions, 30);
    w.tick(301.0);
    assert_eq!(w.shards.stats().sessions, 0, "every shard's timers ran");
    // Each handle counted what its worker was given, wherever the shard was, current
    // without a sync: 10 packets each, and worker 2's drop.
    let per_worker: Vec<(u64, u64)> =
        w.h.iter().map(|h| (h.counters().forwarded, h.counters().dropped_total())).collect();
    assert_eq!(per_worker, [(10, 0), (10, 0), (10, 1)]);
    let sum = w.counters();
    assert_eq!(sum.forwarded, 30);
    assert_eq!(sum.dropped_total(), 1);
}

#[test]
fn limits_split_between_shards_and_per_source_stays_exact() {
    let mut c = cfg();
    c.max_sessions_per_source = 5;
    let mut w = W::new(c, 2);
    let who = client(3);
    for i in 0..8u16 {
        let (v, _, _) = w.send(usize::from(i % 2), &udp6_ports(&who, &remote6(4), 2000 + i, 53, b"q"), 0.0);
        // Refused with an ICMPv6 Address Unreachable (RFC 6146 §3.5.1.1).
        let want = if i < 5 { Verdict::Forward(Side::V4) } else { Verdict::Reply(Side::V6) };
        assert_eq!(v, want, "session {i} of one source");
    }
    assert_eq!(w.counters().answered(Nat64Drop::SourceLimit), 3);
    let mut c = cfg();
    c.max_sessions = 4;
    let mut w = W::new(c, 2);
    let mut ok = 0;
    for i in 1..=20 {
        if w.send(0, &udp6_ports(&client(i), &remote6(4), 2000, 53, b"q"), 0.0).0 == Verdict::Forward(Side::V4) {
            ok += 1;
        }
    }
    // Two per shard; which clients get them depends on the hash.
    assert_eq!(ok, 4);
}

#[test]
fn too_few_ports_for_the_shards_is_refused() {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 5000, 5002)];
    let c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    assert!(Nat64Shards::new(c.clone(), 3).is_ok());
    let e = Nat64Shards::new(c, 4).unwrap_err().to_string();
    assert!(e.contains("5000-5002") && e.contains("4 shards"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Flows from many clients, each packet on a random worker, over 1–4 shards: every
    /// request goes out from the pool, every answer (on a random worker) reaches its
    /// client, as one engine would do it.
    #[test]
    fn any_worker_any_shard_count(n in 1usize..=4, flows in prop::collection::vec((1u32..50, 1024u16..2000, 0usize..4, 0usize..4), 1..40)) {
        let mut w = W::new(cfg(), n);
        for (i, &(cl, sport, wo, wi)) in flows.iter().enumerate() {
            let c = client(cl);
            let secs = i as f64;
            let (v, o, _) = w.send(wo % n, &udp6_ports(&c, &remote6(2), sport, 53, b"q"), secs);
            prop_assert_eq!(v, Verdict::Forward(Side::V4));
            prop_assert_eq!(src4(&o), Ipv4Addr::new(198, 51, 100, 1));
            let (v, back, _) = w.send(wi % n, &udp4_ports("203.0.113.2", P4, 53, port(&o, 20), b"a"), secs + 0.5);
            prop_assert_eq!(v, Verdict::Forward(Side::V6));
            prop_assert_eq!((dst6(&back), port(&back, 42)), (c.parse::<Ipv6Addr>().unwrap(), sport));
        }
    }
}

#[test]
fn idle_tcp_sessions_are_probed_by_the_worker_running_their_shards_timers() {
    let mut w = W::new(cfg(), 2);
    let (c0, c1) = clients_in_two_shards(&mut w);
    for c in [&c0, &c1] {
        let (v, o, _) = w.send(0, &sixgate_testkit::packets::tcp6_flags(c, &remote6(5), 40000, 80, 0x02), 1.0);
        assert_eq!(v, Verdict::Forward(Side::V4));
        let syn_ack = sixgate_testkit::packets::tcp4_flags("203.0.113.5", P4, 80, port(&o, 20), 0x12);
        assert_eq!(w.send(1, &syn_ack, 1.5).0, Verdict::Forward(Side::V6));
    }
    // RFC 6146 §3.5.2.2: after TCP_EST (2 h 4 min) idle, each session's shard sends a
    // probe to its IPv6 end, through the handle that runs that shard's timers.
    let now = w.at(1.5 + 7440.5);
    let mut probes = Vec::new();
    for (k, h) in w.h.iter_mut().enumerate() {
        while h.poll_timeout().is_some_and(|d| d <= now) {
            h.handle_timeout(now);
        }
        let mut b = PacketBuf::new();
        while let Some(side) = h.poll_transmit(&mut b) {
            assert_eq!(side, Side::V6);
            probes.push((k, dst6(b.as_slice()).to_string(), b.as_slice()[53]));
        }
    }
    probes.sort();
    assert_eq!(probes, vec![(0, c0, 0x10), (1, c1, 0x10)], "one bare ACK to each client, from its own shard");
}

#[test]
fn two_threads_share_the_shards() {
    let shards = Nat64Shards::new(cfg(), 2).unwrap();
    let now = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel::<(String, u16, u16)>();
    let Ok([mut h0, mut h1]) = <[_; 2]>::try_from(shards.clone().into_handles()) else { panic!("two handles") };
    // Thread 0 sends requests from 500 clients; thread 1 answers each as it comes, at
    // the same time.
    let out = std::thread::spawn(move || {
        for i in 1..=500u32 {
            let c = client(i);
            let mut b = PacketBuf::from_slice(&udp6_ports(&c, &remote6(8), 3000, 53, b"q"));
            assert_eq!(h0.process(&mut b, now), Verdict::Forward(Side::V4));
            tx.send((c, port(b.as_slice(), 20), 3000)).unwrap();
        }
    });
    let back = std::thread::spawn(move || {
        let mut n = 0;
        for (c, p, sport) in rx {
            let mut b = PacketBuf::from_slice(&udp4_ports("203.0.113.8", P4, 53, p, b"a"));
            assert_eq!(h1.process(&mut b, now), Verdict::Forward(Side::V6), "{c}");
            assert_eq!((dst6(b.as_slice()).to_string(), port(b.as_slice(), 42)), (c, sport));
            n += 1;
        }
        n
    });
    out.join().unwrap();
    assert_eq!(back.join().unwrap(), 500);
    assert_eq!(shards.stats().sessions, 500);
    for k in 0..2 {
        shards.with_shard(k, |e| e.check_invariants()).unwrap().unwrap();
    }
}

/// Checks `e` is an ICMPv6 Destination Unreachable, Address Unreachable from the
/// translator to the source of `pkt`, quoting all of it, with a good checksum.
fn assert_address_unreachable(e: &[u8], pkt: &[u8]) {
    assert_eq!((e[0] >> 4, e[6]), (6, 58));
    assert_eq!(&e[8..24], &"2001:db8:ffff::1".parse::<Ipv6Addr>().unwrap().octets());
    assert_eq!(&e[24..40], &pkt[8..24]);
    assert_eq!(usize::from(port(e, 4)), e.len() - 40);
    assert_eq!((e[40], e[41]), (1, 3));
    assert_eq!(&e[44..48], &[0; 4]);
    assert_eq!(&e[48..], pkt);
    let len = ((e.len() - 40) as u32).to_be_bytes();
    let ck = naive_sum(&[&e[8..40], &len, &[0, 0, 0, 58], &e[40..42], &e[44..]]);
    assert_eq!(port(e, 42), ck, "ICMPv6 checksum");
}

#[test]
fn refusals_are_answered_by_the_refusing_shard_and_rate_limited() {
    // Ports 2000-2003, two shards: two each.
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 2000, 2003)];
    let mut c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    // Split between the shards: 2 a second and bursts of 2 each.
    c.xlate.icmp_rate.per_second = 4;
    c.xlate.icmp_rate.burst = 4;
    c.max_sessions = 6;
    let mut w = W::new(c, 2);
    let mut ok = 0;
    let mut errors = 0;
    for i in 1..=40 {
        let pkt = udp6_ports(&client(i), &remote6(4), 5000, 53, b"q");
        let (v, e, _) = w.send(usize::from(i % 2 == 0), &pkt, 0.0);
        match v {
            Verdict::Forward(Side::V4) => ok += 1,
            Verdict::Reply(Side::V6) => {
                assert_address_unreachable(&e, &pkt);
                errors += 1;
            }
            Verdict::Drop(Nat64Drop::PoolExhausted) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ok, 4, "two ports per shard");
    assert_eq!(errors, 4, "each shard's burst of 2");
    let all = w.counters();
    assert_eq!(all.dropped(Nat64Drop::PoolExhausted) + all.answered(Nat64Drop::PoolExhausted), 36);
    assert_eq!((all.replied, all.answered(Nat64Drop::PoolExhausted)), (4, 4));
    let suppressed: u64 = (0..2).map(|k| w.shards.with_shard(k, |e| e.icmp_suppressed()).unwrap()).sum();
    assert_eq!(suppressed, 32);
}

#[test]
fn the_creation_budget_is_split_between_shards() {
    let mut c = cfg();
    c.max_new_sessions_per_second = 1000;
    c.new_sessions_burst = 10;
    let mut w = W::new(c, 2);
    let mut ok = 0;
    for i in 1..=200 {
        let (v, _, _) = w.send(0, &udp6_ports(&client(i), &remote6(4), 5000, 53, b"q"), 0.0);
        match v {
            Verdict::Forward(Side::V4) => ok += 1,
            Verdict::Drop(Nat64Drop::NewFlowBudget) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ok, 10, "a burst of 5 per shard");
    assert_eq!(w.counters().dropped(Nat64Drop::NewFlowBudget), 190);
    assert_eq!(w.counters().replied, 0, "no ICMP error for congestion (RFC 4443 §3.1)");
}

#[test]
fn mass_expiry_runs_in_slices_on_every_shard() {
    use sixgate_nat64::stateful::EXPIRY_SLICE;
    let mut c = cfg();
    c.max_new_sessions_per_second = 0;
    let mut w = W::new(c, 2);
    let n = 3 * EXPIRY_SLICE as u32 * 2 + 11;
    let now0 = w.at(0.0);
    let mut b = PacketBuf::new();
    for i in 1..=n {
        let _ = b.set(&udp6_ports(&client(i), &remote6(4), 5000, 53, b"q"));
        assert_eq!(w.h[(i % 2) as usize].process(&mut b, now0), Verdict::Forward(Side::V4));
    }
    let per_shard: Vec<usize> = (0..2).map(|k| w.shards.with_shard(k, |e| e.stats()).unwrap().sessions).collect();
    assert_eq!(per_shard.iter().sum::<usize>(), n as usize);
    let now = w.at(301.0);
    for (k, h) in w.h.iter_mut().enumerate() {
        let mut calls = 0;
        let mut left = per_shard[k];
        while h.poll_timeout().is_some_and(|d| d <= now) {
            h.handle_timeout(now);
            calls += 1;
            let s = w.shards.with_shard(k, |e| e.stats()).unwrap().sessions;
            assert!(left - s <= EXPIRY_SLICE, "shard {k}: {} deleted in one call", left - s);
            left = s;
        }
        assert_eq!(left, 0);
        let slices = per_shard[k].div_ceil(EXPIRY_SLICE);
        assert!((slices..slices + 12).contains(&calls), "shard {k}: {calls} calls for {slices} slices");
        w.shards.with_shard(k, |e| e.check_invariants()).unwrap().unwrap();
    }
    assert_eq!(w.shards.stats(), Default::default());
    assert_eq!(w.counters().forwarded, u64::from(n));
}

#[test]
fn session_and_source_limits_are_answered_from_the_shards() {
    // The per-source limit is exact (a source lives in one shard).
    let mut c = cfg();
    c.max_sessions_per_source = 2;
    let mut w = W::new(c, 2);
    let who = client(9);
    for i in 0..2u16 {
        assert_eq!(
            w.send(usize::from(i), &udp6_ports(&who, &remote6(4), 3000 + i, 53, b"q"), 0.0).0,
            Verdict::Forward(Side::V4)
        );
    }
    let pkt = udp6_ports(&who, &remote6(4), 3002, 53, b"third");
    let (v, e, _) = w.send(1, &pkt, 0.0);
    assert_eq!(v, Verdict::Reply(Side::V6));
    assert_address_unreachable(&e, &pkt);
    assert_eq!(w.counters().answered(Nat64Drop::SourceLimit), 1);
    // The session limit, split: 1 per shard of 2.
    let mut c = cfg();
    c.max_sessions = 2;
    let mut w = W::new(c, 2);
    let mut refused = 0;
    for i in 1..=20 {
        let pkt = udp6_ports(&client(i), &remote6(4), 3000, 53, b"q");
        let (v, e, _) = w.send(0, &pkt, 0.0);
        if v == Verdict::Reply(Side::V6) {
            assert_address_unreachable(&e, &pkt);
            refused += 1;
        }
    }
    assert_eq!(refused, 18);
    assert_eq!(w.counters().answered(Nat64Drop::SessionLimit), 18);
    assert_eq!(w.counters().replied, 18);
}
