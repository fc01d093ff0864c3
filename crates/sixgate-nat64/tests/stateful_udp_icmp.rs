//! Stateful NAT64 (RFC 6146) with a simulated clock: UDP and ICMP mapping and filtering,
//! hairpinning, ICMP errors back to their sessions, and fragments.

use std::net::{Ipv4Addr, Ipv6Addr};

use sixgate_core::buf::PacketBuf;
use sixgate_core::checksum::{add, finish, pseudo_v4, pseudo_v6, sum};
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_core::Protocol;
use sixgate_nat64::{Filtering, Nat64Drop, SiitDrop, TcpState};
use sixgate_testkit::packets::*;

mod common;

use common::stateful::*;

#[test]
fn udp_endpoint_independent_mapping_and_return() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let (v, o) = t.send(&udp6_ports(C, S, 40000, 53, b"q"), 0.0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert_eq!((v4(&o, 12), port(&o, 20)), (P4.parse().unwrap(), 40000), "the client's own port is tried first");
    assert_eq!((v4(&o, 16), port(&o, 22)), (S4.parse().unwrap(), 53));
    // EIM: the same source to another destination keeps its mapping.
    let (v, o2) = t.send(&udp6_ports(C, S2, 40000, 123, b"q"), 1.0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert_eq!((v4(&o2, 12), port(&o2, 20)), (v4(&o, 12), port(&o, 20)));
    assert_eq!(t.e.stats().bib, 1);
    assert_eq!(t.e.stats().sessions, 2);
    // The answer comes back to the client's address and port.
    let (v, r) = t.send(&udp4_ports(S4, P4, 53, 40000, b"a"), 2.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!((v6(&r, 24), port(&r, 42)), (C.parse().unwrap(), 40000));
    assert_eq!((v6(&r, 8), port(&r, 40)), (S.parse().unwrap(), 53));
}

#[test]
fn address_dependent_filtering_refuses_strangers() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let _ = t.send(&udp6_ports(C, S, 40000, 53, b"q"), 0.0);
    // The same host from another port passes (address-dependent, not port-dependent).
    let (v, _) = t.send(&udp4_ports(S4, P4, 5353, 40000, b"a"), 1.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    // Another host does not.
    let (v, _) = t.send(&udp4_ports(S24, P4, 53, 40000, b"a"), 1.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::Filtered));
    assert_eq!(t.e.counters().dropped(Nat64Drop::Filtered), 1);
    // No binding at all.
    let (v, _) = t.send(&udp4_ports(S4, P4, 53, 40002, b"a"), 1.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::NoBinding));
}

#[test]
fn endpoint_independent_filtering_lets_anyone_in() {
    let mut t = T::new(cfg(Filtering::EndpointIndependent));
    let _ = t.send(&udp6_ports(C, S, 40000, 53, b"q"), 0.0);
    let (v, r) = t.send(&udp4_ports(S24, P4, 9, 40000, b"a"), 1.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!(v6(&r, 8), S2.parse::<Ipv6Addr>().unwrap());
    assert_eq!(t.e.stats().sessions, 2);
}

#[test]
fn udp_timer_expires_at_five_minutes_and_refreshes() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let _ = t.send(&udp6_ports(C, S, 40000, 53, b"q"), 0.0);
    assert_eq!(t.e.poll_timeout(), Some(t.at(300.0)));
    // Refreshed by the reply at 200 s: alive until 500 s.
    let (v, _) = t.send(&udp4_ports(S4, P4, 53, 40000, b"a"), 200.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    t.tick(499.0);
    assert_eq!(t.e.stats().sessions, 1);
    t.tick(500.0);
    assert_eq!(t.e.stats().sessions, 0);
    assert_eq!(t.e.stats().bib, 0, "the BIB entry goes with its last session");
    let (v, _) = t.send(&udp4_ports(S4, P4, 53, 40000, b"a"), 501.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::NoBinding));
    assert_eq!(t.e.stats().timers, 0, "no timer entries left behind");
}

#[test]
fn icmp_echo_identifiers_are_ports_with_a_minute_timer() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let (v, o) = t.send(&echo6(C, S, 7, 1, b"ping"), 0.0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert_eq!(o[20], 8);
    let id = port(&o, 24);
    assert!(id >= 1024, "identifier from the pool range, got {id}");
    let (v, r) = t.send(&echo_reply4(S4, P4, id, 1, b"ping"), 1.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!((r[40], port(&r, 44)), (129, 7));
    assert_eq!(v6(&r, 24), C.parse::<Ipv6Addr>().unwrap());
    t.tick(60.9);
    assert_eq!(t.e.stats().sessions, 1);
    t.tick(61.0);
    assert_eq!(t.e.stats().sessions, 0);
}

#[test]
fn hairpinning_between_two_clients() {
    let mut t = T::new(cfg(Filtering::EndpointIndependent));
    // C2 has a binding (it talked to a server).
    let (_, o) = t.send(&udp6_ports(C2, S, 5000, 53, b"q"), 0.0);
    let pb = port(&o, 20);
    // C sends to C2's pool transport address through pool6.
    let dst = "64:ff9b:1::c633:6401"; // 198.51.100.1
    let (v, r) = t.send(&udp6_ports(C, dst, 6000, pb, b"hi"), 1.0);
    assert_eq!(v, Verdict::Forward(Side::V6), "hairpinned back to the IPv6 side");
    assert_eq!((v6(&r, 24), port(&r, 42)), (C2.parse().unwrap(), 5000));
    let pa = t.e.binding(Protocol::Udp, C.parse().unwrap(), 6000).unwrap();
    assert_eq!(v6(&r, 8), dst.parse::<Ipv6Addr>().unwrap());
    assert_eq!(port(&r, 40), pa.1);
    // And C2's answer reaches C the same way.
    let (v, r) = t.send(&udp6_ports(C2, dst, 5000, pa.1, b"yo"), 2.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!((v6(&r, 24), port(&r, 42)), (C.parse().unwrap(), 6000));
}

#[test]
fn icmpv4_error_goes_back_to_its_session() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let (_, o) = t.send(&udp6_ports(C, S, 40000, 53, b"query"), 0.0);
    // Move the port: a second client took 40000 first? No: force a different pool port.
    let p4 = port(&o, 20);
    // A router answers Port Unreachable quoting the translated packet.
    let err = icmp4("192.0.2.77", P4, 3, 3, [0; 4], &o);
    let (v, r) = t.send(&err, 1.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!((r[40], r[41]), (1, 4));
    assert_eq!(v6(&r, 24), C.parse::<Ipv6Addr>().unwrap());
    // The quoted packet is the client's original: its address and port.
    assert_eq!(v6(&r, 48 + 8), C.parse::<Ipv6Addr>().unwrap());
    assert_eq!(port(&r, 88), 40000);
    let _ = p4;
    // Inner UDP checksum is right too (the whole packet was quoted).
    let inner = &r[48..];
    let l4 = &inner[40..];
    assert_eq!(finish(add(pseudo_v6(v6(inner, 8), v6(inner, 24), 17, l4.len() as u32), sum(l4))), 0);
    // An error about an unbound port is dropped.
    let mut o2 = o.clone();
    o2[20..22].copy_from_slice(&1999u16.to_be_bytes());
    let (v, _) = t.send(&icmp4("192.0.2.77", P4, 3, 3, [0; 4], &o2), 1.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::NoBinding));
}

#[test]
fn icmp_error_with_a_rewritten_port() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    // C2 takes 40000; C gets another port, so the rewrite is visible.
    let _ = t.send(&udp6_ports(C2, S, 40000, 53, b"x"), 0.0);
    let (_, o) = t.send(&udp6_ports(C, S, 40000, 53, b"query"), 0.0);
    let p4 = port(&o, 20);
    assert_ne!(p4, 40000);
    assert_eq!(p4 & 1, 0, "parity kept");
    let (v, r) = t.send(&icmp4("192.0.2.77", P4, 11, 0, [0; 4], &o), 1.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!(v6(&r, 24), C.parse::<Ipv6Addr>().unwrap());
    assert_eq!(port(&r, 88), 40000);
    // ICMPv6 error from the client about the server's (translated) answer.
    let (_, a) = t.send(&udp4_ports(S4, P4, 53, p4, b"answer"), 2.0);
    assert_eq!(port(&a, 42), 40000);
    let err6 = icmp6(C, S, 1, 4, [0; 4], &a);
    let (v, r) = t.send(&err6, 3.0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert_eq!((r[20], r[21]), (3, 3));
    assert_eq!(v4(&r, 12), P4.parse::<Ipv4Addr>().unwrap());
    assert_eq!(v4(&r, 16), S4.parse::<Ipv4Addr>().unwrap());
    // Inner: server → pool address and port.
    assert_eq!(v4(&r, 28 + 16), P4.parse::<Ipv4Addr>().unwrap());
    assert_eq!(port(&r, 50), p4);
    let inner = &r[28..];
    let l4 = &inner[20..];
    assert_eq!(finish(add(pseudo_v4(v4(inner, 12), v4(inner, 16), 17, l4.len() as u16), sum(l4))), 0);
}

#[test]
fn icmp_errors_about_echo_and_tcp_restore_identifier_and_port() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    // Echo: the identifier 7 is outside the pool range, so it is rewritten.
    let (_, o) = t.send(&echo6(C, S, 7, 1, b"ping"), 0.0);
    let id = port(&o, 24);
    assert_ne!(id, 7);
    let (v, r) = t.send(&icmp4("192.0.2.77", P4, 11, 0, [0; 4], &o), 1.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!((r[40], r[41]), (3, 0));
    let inner = &r[48..];
    assert_eq!((inner[40], port(inner, 44)), (128, 7), "inner echo request with the client's identifier");
    let l4 = &inner[40..];
    assert_eq!(finish(add(pseudo_v6(v6(inner, 8), v6(inner, 24), 58, l4.len() as u32), sum(l4))), 0);
    // TCP, with C2 holding the client's port so it is rewritten.
    let _ = t.send(&tcp6_flags(C2, S, 40000, 80, SYN), 2.0);
    let (_, o) = t.send(&tcp6_flags(C, S, 40000, 80, SYN), 2.0);
    let p4 = port(&o, 20);
    assert_ne!(p4, 40000);
    let (v, r) = t.send(&icmp4("192.0.2.77", P4, 3, 1, [0; 4], &o), 3.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    let inner = &r[48..];
    assert_eq!(port(inner, 40), 40000);
    let l4 = &inner[40..];
    assert_eq!(finish(add(pseudo_v6(v6(inner, 8), v6(inner, 24), 6, l4.len() as u32), sum(l4))), 0);
    // The error does not touch the session: still V6 INIT.
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::V6Init));
}

// ------------------------------------------------------------------ fragments

/// Reassembles translated fragments (either family) and checks the transport checksum of
/// the whole datagram; returns the transport bytes.
fn reassemble(frags: &[Vec<u8>]) -> Vec<u8> {
    let mut parts: Vec<(usize, bool, Vec<u8>)> = frags
        .iter()
        .map(|p| {
            if p[0] >> 4 == 4 {
                assert_eq!(finish(sum(&p[..20])), 0, "IPv4 header checksum");
                let ff = port(p, 6);
                (usize::from(ff & 0x1fff) * 8, ff & 0x2000 != 0, p[20..].to_vec())
            } else {
                assert_eq!(p[6], 44, "a fragment header");
                let fo = port(p, 42);
                (usize::from(fo & 0xfff8), fo & 1 == 1, p[48..].to_vec())
            }
        })
        .collect();
    parts.sort_by_key(|x| x.0);
    let mut data = Vec::new();
    for (off, _, d) in &parts {
        assert_eq!(*off, data.len(), "fragments leave no hole");
        data.extend_from_slice(d);
    }
    assert!(!parts.last().unwrap().1, "the last fragment has M clear");
    let p = &frags[0];
    let ps = if p[0] >> 4 == 4 {
        let ids: Vec<u16> = frags.iter().map(|f| port(f, 4)).collect();
        assert!(ids.iter().all(|&i| i == ids[0]), "one identification");
        pseudo_v4(v4(p, 12), v4(p, 16), p[9], data.len() as u16)
    } else {
        let ids: Vec<u32> = frags.iter().map(|f| u32::from_be_bytes([f[44], f[45], f[46], f[47]])).collect();
        assert!(ids.iter().all(|&i| i == ids[0]), "one identification");
        pseudo_v6(v6(p, 8), v6(p, 24), p[40], data.len() as u32)
    };
    assert_eq!(finish(add(ps, sum(&data))), 0, "transport checksum of the reassembled datagram");
    data
}

impl T {
    /// Processes a fragment (no per-packet checksum check: fragments carry part of the
    /// datagram); returns the verdict, the buffer and what `poll_transmit` then gives.
    fn send_frag(&mut self, pkt: &[u8], secs: f64) -> (Verdict<Nat64Drop>, Vec<u8>, Vec<Vec<u8>>) {
        self.tick(secs);
        let mut b = PacketBuf::from_slice(pkt);
        let v = self.e.process(&mut b, self.at(secs));
        let out = b.as_slice().to_vec();
        let mut more = Vec::new();
        while self.e.poll_transmit(&mut b).is_some() {
            more.push(b.as_slice().to_vec());
        }
        self.e.check_invariants().unwrap();
        (v, out, more)
    }
}

fn udp6_big() -> Vec<u8> {
    udp6_ports(C, S, 6000, 53, &(0..100u8).collect::<Vec<_>>())
}

#[test]
fn fragments_in_order_follow_the_first_fragments_session() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let [f1, f2] = frag6(&udp6_big(), 0x1234_5678, 32);
    let (v, o1, _) = t.send_frag(&f1, 0.0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    let (v, o2, _) = t.send_frag(&f2, 0.1);
    assert_eq!(v, Verdict::Forward(Side::V4));
    let (a, p4) = t.e.binding(Protocol::Udp, C.parse().unwrap(), 6000).unwrap();
    assert_eq!((v4(&o1, 12), v4(&o2, 12)), (a, a));
    assert_eq!(v4(&o2, 16), S4.parse::<Ipv4Addr>().unwrap());
    let l4 = reassemble(&[o1, o2]);
    assert_eq!((port(&l4, 0), port(&l4, 2)), (p4, 53));
    assert_eq!(t.e.stats().sessions, 1);
    // The reply, fragmented on the IPv4 side, goes back to the client's port.
    let reply = udp4_ports(S4, &a.to_string(), 53, p4, &(0..100u8).rev().collect::<Vec<_>>());
    let [r1, r2] = frag4(&reply, 0xbeef, 40);
    let (v, o1, _) = t.send_frag(&r1, 1.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    let (v, o2, _) = t.send_frag(&r2, 1.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!((v6(&o1, 24), v6(&o2, 24)), (C.parse().unwrap(), C.parse().unwrap()));
    let l4 = reassemble(&[o1, o2]);
    assert_eq!((port(&l4, 0), port(&l4, 2)), (53, 6000));
}

#[test]
fn a_fragment_before_its_first_one_waits_for_it() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let [f1, f2] = frag6(&udp6_big(), 7, 32);
    let (v, _, more) = t.send_frag(&f2, 0.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::FragmentHeld));
    assert!(more.is_empty());
    assert_eq!(t.e.stats().sessions, 0, "a non-first fragment creates nothing");
    let (v, o1, more) = t.send_frag(&f1, 0.5);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert_eq!(more.len(), 1, "the waiting fragment comes out after the first");
    let l4 = reassemble(&[o1, more[0].clone()]);
    let (_, p4) = t.e.binding(Protocol::Udp, C.parse().unwrap(), 6000).unwrap();
    assert_eq!(port(&l4, 0), p4);
    // Counted once each, as forwarded: waiting was not a drop.
    assert_eq!(t.e.counters().forwarded, 2);
    assert_eq!(t.e.counters().dropped_total(), 0);
}

#[test]
fn fragments_time_out() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    // A fragment whose first fragment never comes is dropped and counted after 2 s.
    let [_, f2] = frag6(&udp6_big(), 9, 32);
    let (v, _, _) = t.send_frag(&f2, 0.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::FragmentHeld));
    assert_eq!(t.e.poll_timeout(), Some(t.at(2.0)));
    t.tick(1.9);
    assert_eq!(t.e.counters().dropped_total(), 0, "not dropped while it waits");
    t.tick(2.0);
    assert_eq!(t.e.counters().dropped(Nat64Drop::FragmentTimeout), 1);
    assert_eq!(t.e.counters().dropped_total(), 1, "one fragment lost, counted once");
    assert_eq!(t.e.poll_timeout(), None);
    // The mapping a first fragment chose serves its datagram for 2 s, not longer.
    let [f1, f2] = frag6(&udp6_big(), 10, 32);
    let (v, _, _) = t.send_frag(&f1, 3.0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    let (v, _, _) = t.send_frag(&f2, 5.5);
    assert_eq!(v, Verdict::Drop(Nat64Drop::FragmentHeld));
}

#[test]
fn fragments_that_keep_coming_keep_their_mapping() {
    // RFC 6146 §4: FRAGMENT_MIN (2 s) is a minimum. A datagram whose fragments come 1.5 s
    // apart, the last 3 s after the first, is translated whole: each fragment that uses
    // the mapping keeps it another 2 s.
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let fr = frag6_at(&udp6_big(), 0x77, &[32, 64]);
    let mut out = Vec::new();
    for (f, at) in fr.iter().zip([0.0, 1.5, 3.0]) {
        let (v, o, more) = t.send_frag(f, at);
        assert_eq!((v, more.len()), (Verdict::Forward(Side::V4), 0), "fragment at {at} s");
        out.push(o);
    }
    let l4 = reassemble(&out);
    let (a, p4) = t.e.binding(Protocol::Udp, C.parse().unwrap(), 6000).unwrap();
    assert_eq!((port(&l4, 0), port(&l4, 2)), (p4, 53));
    // The mapping lasts 2 s after its last use (3.0 s): a duplicate at 4.9 s still uses
    // it (and keeps it to 6.9 s); at 7.0 s it is gone and the fragment waits.
    let (v, _, _) = t.send_frag(&fr[2], 4.9);
    assert_eq!(v, Verdict::Forward(Side::V4));
    let (v, _, _) = t.send_frag(&fr[2], 7.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::FragmentHeld));
    // The same from the IPv4 side: the reply in three fragments over 3 s.
    let reply = udp4_ports(S4, &a.to_string(), 53, p4, &(0..100u8).rev().collect::<Vec<_>>());
    let mut out = Vec::new();
    for (f, at) in frag4_at(&reply, 0xbeef, &[32, 64]).iter().zip([10.0, 11.5, 13.0]) {
        let (v, o, more) = t.send_frag(f, at);
        assert_eq!((v, more.len()), (Verdict::Forward(Side::V6), 0), "fragment at {at} s");
        out.push(o);
    }
    let l4 = reassemble(&out);
    assert_eq!((port(&l4, 0), port(&l4, 2)), (53, 6000));
}

#[test]
fn every_fragment_is_counted_once() {
    // Fates: translated at once, waited then translated, waited and lost, refused for
    // want of room. Forwarded + dropped must equal the fragments sent, and a lost one is
    // `fragment-timeout`, not also `fragment-held` or `fragment`.
    let mut c = cfg(Filtering::AddressDependent);
    c.max_fragment_bytes = 200;
    let mut t = T::new(c);
    let [a1, a2] = frag6(&udp6_big(), 1, 32);
    let [_, b2] = frag6(&udp6_big(), 2, 32);
    let [_, c2] = frag6(&udp6_big(), 3, 32);
    let (v, _, _) = t.send_frag(&a2, 0.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::FragmentHeld));
    let (v, _, more) = t.send_frag(&a1, 0.1);
    assert_eq!((v, more.len()), (Verdict::Forward(Side::V4), 1));
    let (v, _, _) = t.send_frag(&b2, 0.2);
    assert_eq!(v, Verdict::Drop(Nat64Drop::FragmentHeld));
    let (v, _, _) = t.send_frag(&c2, 0.2);
    assert_eq!(v, Verdict::Drop(Nat64Drop::Fragment), "no room: 200 bytes");
    t.tick(5.0);
    let c = t.e.counters();
    assert_eq!(c.forwarded, 2);
    assert_eq!(c.dropped(Nat64Drop::FragmentTimeout), 1);
    assert_eq!(c.dropped(Nat64Drop::Fragment), 1);
    assert_eq!(c.dropped(Nat64Drop::FragmentHeld), 0);
    assert_eq!(c.forwarded + c.dropped_total(), 4, "four fragments, four counts");
}

#[test]
fn icmp_echo_fragments_are_not_translated() {
    // RFC 7915 §1.2: a fragmented echo request (6 → 4) or reply (4 → 6) is dropped and
    // counted (`fragmented-icmp`): the ICMPv6 checksum needs the whole message's length,
    // which the first fragment does not carry (see the module doc).
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let req = echo6(C, S, 7, 1, &[0x5a; 100]);
    for f in frag6_at(&req, 9, &[48]) {
        let (v, _, more) = t.send_frag(&f, 0.0);
        assert_eq!((v, more.len()), (Verdict::Drop(Nat64Drop::Xlate(SiitDrop::FragmentedIcmp)), 0));
    }
    assert_eq!((t.e.stats().sessions, t.e.stats().bib), (0, 0), "no session from a fragment");
    // With a session (from a whole echo request), the fragmented reply is dropped too.
    let (_, o) = t.send(&echo6(C, S, 7, 2, b"ping"), 1.0);
    let id = port(&o, 24);
    for f in frag4_at(&echo_reply4(S4, P4, id, 2, &[0xa5; 100]), 10, &[48]) {
        let (v, _, _) = t.send_frag(&f, 1.5);
        assert_eq!(v, Verdict::Drop(Nat64Drop::Xlate(SiitDrop::FragmentedIcmp)));
    }
    assert_eq!(t.e.counters().dropped(Nat64Drop::Xlate(SiitDrop::FragmentedIcmp)), 4);
    t.tick(10.0);
    assert_eq!(t.e.counters().dropped_total(), 4, "nothing kept to be counted later");
}

#[test]
fn waiting_fragments_go_out_with_their_own_first_fragment_only() {
    // Second fragments of 300 datagrams wait; their first fragments come in reverse
    // order and each takes out exactly its own. Then 300 more wait and leave one by one,
    // so that the expiry queue's leftovers pile up and are cleared. One that never meets
    // its first fragment still times out on time, counted once.
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let fr: Vec<[Vec<u8>; 2]> = (0..300u32).map(|id| frag6(&udp6_big(), 1000 + id, 32)).collect();
    let [_, lonely] = frag6(&udp6_big(), 7, 32);
    for [_, second] in &fr {
        assert_eq!(t.send_frag(second, 0.0).0, Verdict::Drop(Nat64Drop::FragmentHeld));
    }
    assert_eq!(t.send_frag(&lonely, 0.5).0, Verdict::Drop(Nat64Drop::FragmentHeld));
    for (i, [first, second]) in fr.iter().enumerate().rev() {
        let (v, o, more) = t.send_frag(first, 1.0);
        assert_eq!((v, more.len()), (Verdict::Forward(Side::V4), 1), "datagram {i}");
        // The one that came out is this datagram's second fragment (RFC 7915 §5.1: the
        // identification's low 16 bits).
        assert_eq!(&more[0][4..6], &second[46..48]);
        let _ = reassemble(&[o, more[0].clone()]);
    }
    for id in 0..300u32 {
        let [first, second] = frag6(&udp6_big(), 5000 + id, 32);
        assert_eq!(t.send_frag(&second, 1.2).0, Verdict::Drop(Nat64Drop::FragmentHeld));
        let (v, _, more) = t.send_frag(&first, 1.2);
        assert_eq!((v, more.len()), (Verdict::Forward(Side::V4), 1));
    }
    t.tick(2.4);
    assert_eq!(t.e.counters().dropped_total(), 0);
    t.tick(2.5);
    assert_eq!(t.e.counters().dropped(Nat64Drop::FragmentTimeout), 1);
    assert_eq!(t.e.counters().dropped_total(), 1);
    assert_eq!(t.e.counters().forwarded, 1200);
}

#[test]
fn waiting_fragments_are_capped() {
    let mut c = cfg(Filtering::AddressDependent);
    c.max_fragment_bytes = 200;
    let mut t = T::new(c);
    let [_, a] = frag6(&udp6_big(), 1, 32);
    let [_, b] = frag6(&udp6_big(), 2, 32);
    assert!(a.len() + b.len() > 200 && a.len() <= 200);
    let (v, _, _) = t.send_frag(&a, 0.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::FragmentHeld));
    let (v, _, _) = t.send_frag(&b, 0.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::Fragment));
    assert_eq!(t.e.counters().dropped(Nat64Drop::Fragment), 1);
    // Room again once the first one timed out.
    let (v, _, _) = t.send_frag(&b, 2.5);
    assert_eq!(v, Verdict::Drop(Nat64Drop::FragmentHeld));
}

/// RFC 6146 §3.8 hairpinning applies to ICMP errors too: C2's error about the packet C
/// hairpinned to it goes back to C (not out of the IPv4 side to the pool address), with
/// the outer source and the quoted destination the pool6 form of C2's pool address
/// (the one home for hairpinned addresses, as for EAM hairpinning, RFC 7757 §4) and the
/// quoted source C's own transport address: the quote is what C sent.
#[test]
fn hairpinned_icmp_error_goes_back_to_the_sender() {
    let mut t = T::new(cfg(Filtering::EndpointIndependent));
    let (_, o) = t.send(&udp6_ports(C2, S, 5000, 53, b"q"), 0.0);
    let pb = port(&o, 20);
    let dst = "64:ff9b:1::c633:6401"; // 198.51.100.1
    let sent = udp6_ports(C, dst, 6000, pb, b"hi");
    let (_, got) = t.send(&sent, 1.0);
    let (v, out) = t.send(&icmp6(C2, dst, 1, 4, [0; 4], &got), 2.0);
    assert_eq!(v, Verdict::Forward(Side::V6), "the error hairpins");
    assert_eq!((out[40], out[41]), (1, 4));
    assert_eq!(v6(&out, 8), dst.parse::<Ipv6Addr>().unwrap(), "outer source: C2's pool address via pool6");
    assert_eq!(v6(&out, 24), C.parse::<Ipv6Addr>().unwrap());
    let quote = &out[48..];
    assert_eq!(&quote[8..40], &sent[8..40], "quoted addresses as C sent them");
    assert_eq!(&quote[40..44], &sent[40..44], "quoted ports as C sent them");
}
