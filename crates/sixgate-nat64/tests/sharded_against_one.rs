//! The sharded stateful NAT64 against one engine: the same packets through the shards and
//! through one `Nat64` (RFC 6146 behaviour must not depend on the number of workers,
//! except where the `Nat64Shards` docs say so).

mod common;

use std::net::Ipv6Addr;
use std::time::Instant;

use common::sharded::*;
use common::{a4, dst6, src6};
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_core::Protocol;
use sixgate_nat64::{Nat64, Nat64Config, Nat64Drop, Nat64Shards, Pool4Range, TcpState};
use sixgate_testkit::packets::{
    echo6, echo_reply4, frag4, frag6, icmp6, tcp4_flags, tcp6_flags, udp4_ports, udp6_ports,
};

fn one(c: Nat64Config) -> Nat64 {
    Nat64::new(c).unwrap()
}
fn run1(e: &mut Nat64, pkt: &[u8], now: Instant) -> (Verdict<Nat64Drop>, Vec<u8>, Vec<Vec<u8>>) {
    let mut b = PacketBuf::from_slice(pkt);
    let v = e.process(&mut b, now);
    let mut more = Vec::new();
    let mut x = PacketBuf::new();
    while e.poll_transmit(&mut x).is_some() {
        more.push(x.as_slice().to_vec());
    }
    (v, b.as_slice().to_vec(), more)
}

/// Exhaustive-ish: the shard the IPv4 steering picks (seen by where an unsolicited SYN
/// is held) is the one whose `Nat64Config::shard` slice holds the port.
#[test]
fn ipv4_steering_matches_the_pool_slices() {
    for n in 1..=8usize {
        let mut spans: Vec<u32> = (n as u32..n as u32 + 40).collect();
        spans.extend([97, 1001, 4093, 64511]);
        for span in spans {
            let first = 1000u16;
            let last = (u32::from(first) + span - 1).min(65535) as u16;
            let mut c = cfg();
            c.pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), first, last)];
            c.max_held_syns = 1 << 20;
            let s = Nat64Shards::new(c.clone(), n).unwrap();
            let mut h = s.clone().into_handles().swap_remove(0);
            let now = Instant::now();
            let mut ports: Vec<u16> = if span > 200 {
                (0..n)
                    .flat_map(|k| {
                        let b = (u32::from(first) + span * k as u32 / n as u32) as u16;
                        [b.saturating_sub(1).max(first), b, b.saturating_add(1).min(last)]
                    })
                    .chain([first, last])
                    .collect()
            } else {
                (first..=last).collect()
            };
            // Each port once: a second SYN to one is a retransmission, not held again.
            ports.sort_unstable();
            ports.dedup();
            for p in ports {
                let held = |k| s.with_shard(k, |e| e.stats().held_syns).unwrap();
                let before: Vec<usize> = (0..n).map(held).collect();
                let mut b = PacketBuf::from_slice(&tcp4_flags("203.0.113.5", P4, 53, p, 0x02));
                assert_eq!(h.process(&mut b, now), Verdict::Drop(Nat64Drop::SynHeld));
                let got: Vec<usize> = (0..n).filter(|&k| held(k) != before[k]).collect();
                let want = c.shard_of_v4(a4(P4), p, n).unwrap();
                assert_eq!(got, vec![want], "n={n} span={span} port={p}");
                let sc = c.shard(want, n);
                assert!(sc.pool4.iter().any(|r| (r.first..=r.last).contains(&p)));
            }
        }
    }
}

/// An ICMPv6 error sent by a router (source ≠ the quoted packet's destination).
fn router_error_case(n_ext: usize) -> Vec<(String, Verdict<Nat64Drop>, Verdict<Nat64Drop>)> {
    let mut res = Vec::new();
    let mut w = W::new(cfg(), 2);
    let (c0, c1) = clients_in_two_shards(&mut w);
    let mut u = one(cfg());
    let t = w.at(1.0);
    for c in [&c0, &c1] {
        let out = udp6_ports(c, &remote6(7), 5555, 9, b"payload!");
        let (_, o, _) = w.send(0, &out, 1.0);
        let (_, ou, _) = run1(&mut u, &out, t);
        let back = w.send(1, &udp4_ports("203.0.113.7", P4, 9, port(&o, 20), b"r"), 1.2);
        let backu = run1(&mut u, &udp4_ports("203.0.113.7", P4, 9, port(&ou, 20), b"r"), t);
        let mk = |b: &[u8]| {
            let mut q = b.to_vec();
            q.truncate(48);
            let mut e = icmp6("2001:db8:ffff::2", &src6(b).to_string(), 1, 4, [0; 4], &q);
            for _ in 0..n_ext {
                let nh = e[6];
                e[6] = 60;
                e.splice(40..40, [nh, 0, 1, 4, 0, 0, 0, 0]);
                let pl = u16::from_be_bytes([e[4], e[5]]) + 8;
                e[4..6].copy_from_slice(&pl.to_be_bytes());
            }
            e
        };
        let (vs, _, _) = w.send(0, &mk(&back.1), 1.3);
        let (vu, _, _) = run1(&mut u, &mk(&backu.1), t);
        res.push((c.clone(), vs, vu));
    }
    res
}

#[test]
fn icmpv6_error_from_a_router() {
    for (c, vs, vu) in router_error_case(0) {
        assert_eq!(vs, vu, "client {c}: sharded {vs:?}, one engine {vu:?}");
    }
}

#[test]
fn icmpv6_error_from_a_router_behind_five_extension_headers() {
    for (c, vs, vu) in router_error_case(5) {
        assert_eq!(vs, vu, "client {c}: sharded {vs:?}, one engine {vu:?}");
    }
}

/// RFC 6146 §3.5.2.2 simultaneous open with port preservation, for a port in the slice
/// of the client's shard (the case the shards support, see the module docs).
#[test]
fn simultaneous_open_within_the_clients_shard() {
    let mut w = W::new(cfg(), 2);
    let (c0, _c1) = clients_in_two_shards(&mut w);
    let mut u = one(cfg());
    let t = w.at(1.0);
    // 20000 is in shard 0's slice (1024–33279); c0 lives in shard 0.
    let syn4 = tcp4_flags("203.0.113.5", P4, 80, 20000, 0x02);
    let syn6 = tcp6_flags(&c0, &remote6(5), 20000, 80, 0x02);
    let (v, _, _) = run1(&mut u, &syn4, t);
    assert_eq!(v, Verdict::Drop(Nat64Drop::SynHeld));
    let (v, o, _) = run1(&mut u, &syn6, t);
    assert_eq!(v, Verdict::Forward(Side::V4));
    let st_u = u.session_state(Protocol::Tcp, c0.parse().unwrap(), 20000, a4("203.0.113.5"), 80);
    let pu = port(&o, 20);
    let (v, _, _) = w.send(1, &syn4, 1.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::SynHeld));
    let (v, o, _) = w.send(0, &syn6, 1.0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    let ps = port(&o, 20);
    let st_s = w
        .shards
        .with_shard(0, |e| e.session_state(Protocol::Tcp, c0.parse().unwrap(), 20000, a4("203.0.113.5"), 80))
        .unwrap();
    w.tick(8.0);
    let held = w.shards.stats().held_syns;
    assert_eq!(
        (pu, st_u, ps, st_s, held),
        (20000, Some(TcpState::Established), 20000, Some(TcpState::Established), 0),
        "one engine vs sharded"
    );
}

/// Garbage first fragments (to a non-pool address) fill the shared owners map; a
/// legitimate fragmented answer then loses its later fragment.
#[test]
fn refused_first_fragments_take_no_room() {
    let mut c = cfg();
    c.max_fragment_flows = 8;
    let mut w = W::new(c.clone(), 2);
    let mut u = one(c);
    let (c0, _) = clients_in_two_shards(&mut w);
    let t = w.at(1.0);
    for id in 0..8u16 {
        let g = frag4(&udp4_ports("203.0.113.66", "203.0.113.200", 1, 2, &[0; 64]), id, 32)[0].clone();
        let (vs, _, _) = w.send(0, &g, 1.0);
        let (vu, _, _) = run1(&mut u, &g, t);
        assert!(matches!(vs, Verdict::Drop(_)) && matches!(vu, Verdict::Drop(_)));
    }
    let req = udp6_ports(&c0, &remote6(9), 6000, 53, b"q");
    let (_, o, _) = w.send(0, &req, 1.0);
    let (_, ou, _) = run1(&mut u, &req, t);
    let [f, l] = frag4(&udp4_ports("203.0.113.9", P4, 53, port(&o, 20), &[0x5a; 100]), 500, 32);
    let [fu, lu] = frag4(&udp4_ports("203.0.113.9", P4, 53, port(&ou, 20), &[0x5a; 100]), 500, 32);
    let (v1, _, _) = w.send(0, &f, 1.1);
    let (v2, _, _) = w.send(1, &l, 1.1);
    let (u1, _, _) = run1(&mut u, &fu, t);
    let (u2, _, _) = run1(&mut u, &lu, t);
    assert_eq!((v1, v2), (u1, u2), "sharded vs one engine");
}

/// Garbage later fragments (to a non-pool address) fill the shared stash.
#[test]
fn refused_later_fragments_take_no_room() {
    let mut c = cfg();
    c.max_fragment_bytes = 4096;
    let mut w = W::new(c.clone(), 2);
    let mut u = one(c);
    let (c0, _) = clients_in_two_shards(&mut w);
    let t = w.at(1.0);
    for id in 0..4u16 {
        let g = frag4(&udp4_ports("203.0.113.66", "203.0.113.200", 1, 2, &[0; 1000]), id, 32)[1].clone();
        let (vs, _, _) = w.send(0, &g, 1.0);
        let (vu, _, _) = run1(&mut u, &g, t);
        eprintln!("garbage later fragment: sharded {vs:?}, one engine {vu:?}");
    }
    let req = udp6_ports(&c0, &remote6(9), 6000, 53, b"q");
    let (_, o, _) = w.send(0, &req, 1.0);
    let (_, ou, _) = run1(&mut u, &req, t);
    let [f, l] = frag4(&udp4_ports("203.0.113.9", P4, 53, port(&o, 20), &[0x5a; 400]), 500, 32);
    let [fu, lu] = frag4(&udp4_ports("203.0.113.9", P4, 53, port(&ou, 20), &[0x5a; 400]), 500, 32);
    let (v2, _, _) = w.send(1, &l, 1.1);
    let (v1, _, m) = w.send(0, &f, 1.1);
    let (u2, _, _) = run1(&mut u, &lu, t);
    let (u1, _, mu) = run1(&mut u, &fu, t);
    assert_eq!((v2, v1, m.len()), (u2, u1, mu.len()), "sharded vs one engine");
}

/// A hairpinned packet that the destination shard drops.
#[test]
fn a_dropped_hairpin_is_counted_once() {
    let mut w = W::new(cfg(), 2);
    let (c0, _) = clients_in_two_shards(&mut w);
    let mut u = one(cfg());
    let t = w.at(1.0);
    let base = w.counters();
    let p = udp6_ports(&c0, "64:ff9b:1::c633:6401", 7001, 40000, b"x");
    let (vs, _, _) = w.send(0, &p, 1.0);
    let (vu, _, _) = run1(&mut u, &p, t);
    let c = w.counters();
    let (fs, ds) = (c.forwarded - base.forwarded, c.dropped_total() - base.dropped_total());
    let cu = u.counters();
    assert_eq!((vs, fs, ds), (vu, cu.forwarded, cu.dropped_total()), "sharded vs one engine");
}

#[test]
fn echo_identifiers_across_workers() {
    let mut w = W::new(cfg(), 2);
    for i in 1..20 {
        let c = client(i);
        let (v, o, _) = w.send(0, &echo6(&c, &remote6(5), 7 + i as u16, 1, b"ping"), 1.0);
        assert_eq!(v, Verdict::Forward(Side::V4));
        let id = port(&o, 24);
        let (v, b, _) = w.send(1, &echo_reply4("203.0.113.5", P4, id, 1, b"ping"), 1.1);
        assert_eq!(v, Verdict::Forward(Side::V6), "client {c}");
        assert_eq!(port(&b, 44), 7 + i as u16);
    }
}

#[test]
fn hairpinned_ipv6_fragments() {
    let (mut w, a, b, pb) = hairpin_pair();
    let full = udp6_ports(&a, "64:ff9b:1::c633:6401", 7001, pb, &[0x33; 200]);
    // in order, different workers
    let [f, l] = frag6(&full, 0x1111, 64);
    let (v1, o1, _) = w.send(0, &f, 2.0);
    let (v2, o2, _) = w.send(1, &l, 2.0);
    assert_eq!((v1, v2), (Verdict::Forward(Side::V6), Verdict::Forward(Side::V6)));
    assert_eq!((dst6(&o1), dst6(&o2)), (b.parse().unwrap(), b.parse().unwrap()));
    // later first
    let [f, l] = frag6(&full, 0x2222, 64);
    let (v2, _, m2) = w.send(1, &l, 2.1);
    let (v1, _, m1) = w.send(0, &f, 2.1);
    assert_eq!(
        (v2, v1, m2.len(), m1.len()),
        (Verdict::Drop(Nat64Drop::FragmentHeld), Verdict::Forward(Side::V6), 0, 1)
    );
    assert_eq!(dst6(&m1[0].1), b.parse::<Ipv6Addr>().unwrap());
}
